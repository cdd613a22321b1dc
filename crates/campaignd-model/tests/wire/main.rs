//! The wire types from outside the crate: the documented example byte for
//! byte (`golden`), properties that must hold of every input
//! (`properties`, proptest), and the fuzz targets of the parsers (`fuzz`,
//! on `campaignd-fuzz`).

use campaignd_model::{Campaign, CampaignDocument, CampaignId, Status, Timestamp};

mod fuzz;
mod golden;
mod properties;

/// The campaign a parsed document describes, the system fields it lacks
/// filled in (`updated_at` never before `created_at`).
pub(crate) fn campaign_of(document: CampaignDocument) -> Campaign {
    let created_at = document
        .created_at
        .or(document.updated_at)
        .unwrap_or_else(|| Timestamp::from_unix_millis(1_700_000_000_000).unwrap());
    Campaign {
        id: document.id.unwrap_or(CampaignId::new(7).unwrap()),
        status: document.status.unwrap_or(Status::Draft),
        settings: document.settings,
        created_at,
        updated_at: document.updated_at.unwrap_or(created_at),
    }
}
