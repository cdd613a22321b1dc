//! Admin commands: they work on the database directly, not through the API.

pub(crate) mod audit;
pub(crate) mod campaigns;
pub(crate) mod centers;
pub(crate) mod keys;
pub(crate) mod users;

use anyhow::Context as _;
use campaignd_model::ContactCenterName;
use campaignd_store::{ContactCenter, Store};

/// Looks up a contact center by name, failing with a helpful message.
pub(crate) async fn center(
    store: &dyn Store,
    name: &ContactCenterName,
) -> anyhow::Result<ContactCenter> {
    store
        .contact_center_by_name(name)
        .await
        .context("cannot read contact centers")?
        .with_context(|| {
            format!(
                "no contact center named {:?} (see `campaignd center list`)",
                name.as_str()
            )
        })
}
