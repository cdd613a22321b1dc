//! One file per resource. Handlers are thin: the guard first (its scope in
//! the signature), inputs parsed by the extractors into model types, one
//! state or store call, the answer.

pub(crate) mod campaigns;
pub(crate) mod control;
pub(crate) mod health;
pub(crate) mod leads;
pub(crate) mod manage;
pub(crate) mod metrics;
pub(crate) mod page;
pub(crate) mod users;
