//! What a campaign write takes besides its arguments, and what it answers.

use campaignd_model::{ApiKeyId, Campaign, EntityTag, FieldErrors, IllegalTransition};

use crate::StoreError;

/// Who is writing, for the audit trail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteContext {
    /// The acting API key; `None` for the admin CLI.
    pub key_id: Option<ApiKeyId>,
    /// The request's id, if the write came through the API.
    pub request_id: Option<String>,
}

/// Why a campaign write did not happen. Each outcome is one status code,
/// mapped in one place by the server.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    /// No such campaign in the contact center (404).
    #[error("campaign not found")]
    NotFound,
    /// `If-Match` named a tag that is not the current one (412).
    #[error("the campaign changed since the given entity tag")]
    PreconditionFailed,
    /// The campaign's state does not allow the write (409): its status,
    /// or (for removing a user) what it would be left with.
    #[error("{0}")]
    Conflict(FieldErrors),
    /// The result would be invalid, or its name is taken (422).
    #[error("{0}")]
    Invalid(FieldErrors),
    /// Storage failed; nothing was written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<IllegalTransition> for WriteError {
    fn from(illegal: IllegalTransition) -> Self {
        Self::Conflict(illegal.errors())
    }
}

impl WriteError {
    /// The 422 of a name used by another campaign of the center.
    pub fn name_taken() -> Self {
        let mut errors = FieldErrors::new();
        errors.add("name", "has already been taken");
        Self::Invalid(errors)
    }
}

/// A campaign as a write left it (for a delete: as it was).
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    /// The campaign.
    pub campaign: Campaign,
    /// Its Get campaign body, `{"campaign": ...}`.
    pub body: Vec<u8>,
    /// The body's entity tag.
    pub etag: EntityTag,
}

impl Written {
    /// The written campaign, rendered and tagged.
    pub fn new(campaign: Campaign) -> Self {
        let body = campaign.get_body();
        let etag = EntityTag::of(&body);
        Self {
            campaign,
            body,
            etag,
        }
    }

    /// Where in [`Written::body`] the bare campaign object lies: the body
    /// without its `{"campaign": ...}` wrapper, as the lifecycle actions
    /// answer.
    pub fn bare_range(&self) -> std::ops::Range<usize> {
        const OPEN: &[u8] = br#"{"campaign":"#;
        debug_assert!(self.body.starts_with(OPEN) && self.body.ends_with(b"}"));
        OPEN.len()..self.body.len() - 1
    }

    /// The bare campaign object (see [`Written::bare_range`]).
    pub fn bare(&self) -> &[u8] {
        &self.body[self.bare_range()]
    }
}
