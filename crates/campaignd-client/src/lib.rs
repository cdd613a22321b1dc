//! A typed async client for the Dialer Campaigns API, as served by
//! campaignd and by Voiso's hosted REST API v4.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), campaignd_client::Error> {
//! # let base_url = campaignd_client::doc_support::serve_example().await;
//! use campaignd_client::{Client, CampaignFilter, Status};
//!
//! let client = Client::builder()
//!     .base_url(&base_url) // or .cluster_id("cc-ams03") for https://cc-ams03.voiso.com/api/v4
//!     .api_key("cmpd_...")
//!     .build()?;
//!
//! let campaign = client.get_campaign(3).await?;
//! assert_eq!(campaign.name, "Summer Outreach Campaign");
//!
//! let page = client.list_campaigns(&CampaignFilter::new().status(Status::Active)).await?;
//! println!("{} active campaigns", page.total);
//! # Ok(())
//! # }
//! ```
//!
//! Errors decode both of the API's envelopes into [`Error`]. Rate-limited
//! calls (429) are retried after the server's `Retry-After`; reads that meet
//! a 503 or a connection failure are retried with jittered backoff; both are
//! bounded by [`RetryPolicy`]. A write is never retried once it may have
//! reached the server.

mod client;
#[doc(hidden)]
pub mod doc_support;
mod error;
mod types;

pub use client::{ApiKey, Client, ClientBuilder, RetryPolicy};
pub use error::Error;
pub use types::{
    AmdVoicemailMessage, CallerIdSet, Campaign, CampaignFilter, CampaignPage, DialLevelOverride,
    Lead, LeadPage, LeadSource, LeadsImport, NewLead, Status, Strategy, Tagged, User, UserPage,
    VoiceMessage,
};
