//! HTTP handlers: thin. Parse inputs into model types, one store call (or a
//! cache hit), render.

pub mod campaigns;
pub mod health;
pub mod openapi;
