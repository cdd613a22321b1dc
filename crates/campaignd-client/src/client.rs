//! The client: configuration, one method per endpoint, retries.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use reqwest::header::{
    ACCEPT, AUTHORIZATION, CONTENT_TYPE, ETAG, HeaderValue, IF_MATCH, RETRY_AFTER,
};
use reqwest::{Method, StatusCode};

use crate::error::Error;
use crate::types::{
    AddedUsersEnvelope, Campaign, CampaignEnvelope, CampaignFilter, CampaignPage, Lead,
    LeadListEnvelope, LeadPage, LeadsImport, LeadsImportEnvelope, ListEnvelope,
    RemovedUserEnvelope, Tagged, User, UserListEnvelope, UserPage,
};

/// One request to send.
struct Call<'a> {
    method: Method,
    path: &'a str,
    query: &'a [(&'a str, String)],
    /// A JSON body.
    body: Option<Bytes>,
    /// An `If-Match` tag.
    if_match: Option<&'a str>,
    idempotent: bool,
}

/// Page size the [`Client::campaigns`] walk asks for (the API's maximum).
const WALK_PAGE: u32 = 100;

/// An API key. Never shown by `Debug` or `Display` beyond its last 4
/// characters.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    fn last4(&self) -> &str {
        let start = self.0.char_indices().rev().nth(3).map_or(0, |(i, _)| i);
        &self.0[start..]
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey(****{})", self.last4())
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "****{}", self.last4())
    }
}

/// How failed calls are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 disables retrying).
    pub max_retries: u32,
    /// Backoff before the first retry of a 503 or a connection failure;
    /// doubled each time, with jitter.
    pub initial_backoff: Duration,
    /// Longest backoff between two attempts.
    pub max_backoff: Duration,
    /// Longest `Retry-After` honoured; a longer one fails the call at once
    /// with [`Error::RateLimited`].
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            max_retry_after: Duration::from_mins(1),
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// Jittered exponential backoff before retry number `attempt` (0-based):
    /// uniformly between half and all of `initial * 2^attempt`, capped.
    fn backoff(&self, attempt: u32) -> Duration {
        let full = self
            .initial_backoff
            .saturating_mul(1 << attempt.min(16))
            .min(self.max_backoff);
        let mut byte = [0u8; 1];
        let _ = getrandom::fill(&mut byte);
        full / 2 + full / 2 * u32::from(byte[0]) / 255
    }
}

/// Builds a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    base_url: Option<String>,
    cluster_id: Option<String>,
    api_key: Option<ApiKey>,
    timeout: Duration,
    connect_timeout: Duration,
    user_agent: String,
    retry: RetryPolicy,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            base_url: None,
            cluster_id: None,
            api_key: None,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            user_agent: concat!("campaignd-client/", env!("CARGO_PKG_VERSION")).to_owned(),
            retry: RetryPolicy::default(),
        }
    }
}

impl ClientBuilder {
    /// The API's base URL, e.g. `http://127.0.0.1:8080/api/v4`. A URL with
    /// no path gets `/api/v4` appended.
    #[must_use]
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// A Voiso cluster id: the base URL becomes
    /// `https://{cluster_id}.voiso.com/api/v4`.
    #[must_use]
    pub fn cluster_id(mut self, cluster_id: impl Into<String>) -> Self {
        self.cluster_id = Some(cluster_id.into());
        self
    }

    /// The contact center API key sent as `Authorization: Bearer`.
    #[must_use]
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(ApiKey::new(key));
        self
    }

    /// Whole-call timeout per attempt (default 30 s).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Connection timeout (default 10 s).
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The `User-Agent` header.
    #[must_use]
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// How failed calls are retried.
    #[must_use]
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The client.
    pub fn build(self) -> Result<Client, Error> {
        let base = match (self.base_url, self.cluster_id) {
            (Some(_), Some(_)) => {
                return Err(Error::Config(
                    "give a base URL or a cluster id, not both".into(),
                ));
            }
            (Some(url), None) => normalise_base(&url)?,
            (None, Some(cluster)) => {
                let ok = !cluster.is_empty()
                    && cluster
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-');
                if !ok {
                    return Err(Error::Config(format!(
                        "{cluster:?} is not a cluster id (letters, digits, '-')"
                    )));
                }
                format!("https://{cluster}.voiso.com/api/v4")
            }
            (None, None) => {
                return Err(Error::Config(
                    "a base URL or a cluster id is required".into(),
                ));
            }
        };
        let key = self
            .api_key
            .ok_or_else(|| Error::Config("an API key is required".into()))?;
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", key.0)).map_err(|_| {
            Error::Config("the API key holds characters a header cannot carry".into())
        })?;
        auth.set_sensitive(true);
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .user_agent(self.user_agent)
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Client {
            http,
            base,
            key,
            auth,
            retry: self.retry,
        })
    }
}

fn normalise_base(url: &str) -> Result<String, Error> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| Error::Config(format!("{url:?} is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Error::Config(format!("{url:?} is not an http(s) URL")));
    }
    let trimmed = url.trim_end_matches('/');
    Ok(if parsed.path() == "/" || parsed.path().is_empty() {
        format!("{trimmed}/api/v4")
    } else {
        trimmed.to_owned()
    })
}

/// A client for one contact center (its API key). Cheap to clone.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    key: ApiKey,
    auth: HeaderValue,
    retry: RetryPolicy,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("key", &self.key)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Starts configuring a client.
    ///
    /// ```
    /// use std::time::Duration;
    /// use campaignd_client::{Client, RetryPolicy};
    ///
    /// let client = Client::builder()
    ///     .cluster_id("cc-ams03")
    ///     .api_key("cmpd_...")
    ///     .timeout(Duration::from_secs(10))
    ///     .user_agent("my-integration/1.0")
    ///     .retry(RetryPolicy { max_retries: 5, ..RetryPolicy::default() })
    ///     .build()?;
    /// assert_eq!(client.base_url(), "https://cc-ams03.voiso.com/api/v4");
    /// assert!(!format!("{client:?}").contains("cmpd_..."));
    /// # Ok::<(), campaignd_client::Error>(())
    /// ```
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The base URL calls go to.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Get campaign: `GET /campaigns/{campaign_id}` (scope `campaigns.read`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), campaignd_client::Error> {
    /// # let base = campaignd_client::doc_support::serve_example().await;
    /// # let client = campaignd_client::Client::builder().base_url(base).api_key("k").build()?;
    /// let campaign = client.get_campaign(3).await?;
    /// assert_eq!(campaign.dial_level, 1.0);
    /// match client.get_campaign(4).await {
    ///     Err(campaignd_client::Error::NotFound) => {}
    ///     other => panic!("{other:?}"),
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn get_campaign(&self, campaign_id: i64) -> Result<Campaign, Error> {
        let body = self.get_campaign_json(campaign_id).await?;
        let envelope: CampaignEnvelope = serde_json::from_slice(&body).map_err(Error::Decode)?;
        Ok(envelope.campaign)
    }

    /// Get campaign, returning the server's JSON body unchanged.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), campaignd_client::Error> {
    /// # let base = campaignd_client::doc_support::serve_example().await;
    /// # let client = campaignd_client::Client::builder().base_url(base).api_key("k").build()?;
    /// let body = client.get_campaign_json(3).await?;
    /// assert!(body.starts_with(br#"{"campaign":{"id":3,"#));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn get_campaign_json(&self, campaign_id: i64) -> Result<Bytes, Error> {
        self.call(Method::GET, &format!("/campaigns/{campaign_id}"), &[], true)
            .await
    }

    /// Get list of campaigns: one page (scope `campaigns.read`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), campaignd_client::Error> {
    /// # let base = campaignd_client::doc_support::serve_example().await;
    /// # let client = campaignd_client::Client::builder().base_url(base).api_key("k").build()?;
    /// use campaignd_client::{CampaignFilter, Strategy};
    /// let page = client.list_campaigns(&CampaignFilter::new().strategy(Strategy::Simple).limit(10)).await?;
    /// assert_eq!(page.total, 1);
    /// assert_eq!(page.campaigns[0].id, 3);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn list_campaigns(&self, filter: &CampaignFilter) -> Result<CampaignPage, Error> {
        let body = self.list_campaigns_json(filter).await?;
        let envelope: ListEnvelope = serde_json::from_slice(&body).map_err(Error::Decode)?;
        Ok(CampaignPage {
            campaigns: envelope.campaigns,
            total: envelope.metadata.total,
        })
    }

    /// Get list of campaigns, returning the server's JSON body unchanged.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), campaignd_client::Error> {
    /// # let base = campaignd_client::doc_support::serve_example().await;
    /// # let client = campaignd_client::Client::builder().base_url(base).api_key("k").build()?;
    /// let body = client.list_campaigns_json(&campaignd_client::CampaignFilter::new()).await?;
    /// assert!(body.ends_with(br#""metadata":{"total":1}}"#));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn list_campaigns_json(&self, filter: &CampaignFilter) -> Result<Bytes, Error> {
        self.call(Method::GET, "/campaigns", &filter.pairs(None, None), true)
            .await
    }

    /// Every campaign matching `filter` (its `limit` is ignored), walking the
    /// pages 100 at a time and stopping at the total the server reports.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), campaignd_client::Error> {
    /// # let base = campaignd_client::doc_support::serve_example().await;
    /// # let client = campaignd_client::Client::builder().base_url(base).api_key("k").build()?;
    /// use futures_util::TryStreamExt;
    /// let all: Vec<_> = client.campaigns(&campaignd_client::CampaignFilter::new()).try_collect().await?;
    /// assert_eq!(all.len(), 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn campaigns(
        &self,
        filter: &CampaignFilter,
    ) -> impl Stream<Item = Result<Campaign, Error>> + '_ {
        let filter = filter.clone();
        walk(filter.offset.unwrap_or(0), move |offset| {
            let pairs = filter.pairs(Some(WALK_PAGE), Some(offset));
            async move {
                let body = self.call(Method::GET, "/campaigns", &pairs, true).await?;
                let page: ListEnvelope = serde_json::from_slice(&body).map_err(Error::Decode)?;
                Ok((page.campaigns, page.metadata.total))
            }
        })
    }

    /// Create campaign: `POST /campaigns` (scope `campaigns.manage`). `body`
    /// is a campaign document: `name` is required, other keys default as
    /// the API documents. Answers the new `draft` campaign and its entity
    /// tag. Never retried once it may have reached the server.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), campaignd_client::Error> {
    /// # let client = campaignd_client::Client::builder().base_url("http://127.0.0.1:8080").api_key("k").build()?;
    /// let created = client
    ///     .create_campaign(&serde_json::json!({"name": "Autumn", "dial_level": 2}))
    ///     .await?;
    /// assert_eq!(created.campaign.status, campaignd_client::Status::Draft);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn create_campaign(&self, body: &impl serde::Serialize) -> Result<Tagged, Error> {
        let call = Call {
            method: Method::POST,
            path: "/campaigns",
            query: &[],
            body: Some(json_body(body)?),
            if_match: None,
            idempotent: false,
        };
        self.write(call, false).await
    }

    /// Update campaign: `PATCH /campaigns/{campaign_id}` with a JSON merge
    /// patch (`null` clears a nullable key). With `if_match` (an entity tag
    /// from an earlier answer), the server changes nothing unless the
    /// campaign is still as that tag says: [`Error::PreconditionFailed`].
    pub async fn update_campaign(
        &self,
        campaign_id: i64,
        patch: &impl serde::Serialize,
        if_match: Option<&str>,
    ) -> Result<Tagged, Error> {
        let path = format!("/campaigns/{campaign_id}");
        let call = Call {
            method: Method::PATCH,
            path: &path,
            query: &[],
            body: Some(json_body(patch)?),
            if_match,
            idempotent: false,
        };
        self.write(call, false).await
    }

    /// Delete campaign: `DELETE /campaigns/{campaign_id}`; only a campaign
    /// that is `draft`, `stopped`, `completed` or `import_error`. Answers
    /// the campaign as it was.
    pub async fn delete_campaign(
        &self,
        campaign_id: i64,
        if_match: Option<&str>,
    ) -> Result<Tagged, Error> {
        let path = format!("/campaigns/{campaign_id}");
        let call = Call {
            method: Method::DELETE,
            path: &path,
            query: &[],
            body: None,
            if_match,
            idempotent: false,
        };
        self.write(call, false).await
    }

    /// Start campaign: `POST /campaigns/{campaign_id}/start`, from `draft`,
    /// `paused` or `auto_paused`; [`Error::Conflict`] otherwise.
    pub async fn start_campaign(
        &self,
        campaign_id: i64,
        if_match: Option<&str>,
    ) -> Result<Tagged, Error> {
        self.act(campaign_id, "start", if_match).await
    }

    /// Pause campaign: `POST /campaigns/{campaign_id}/pause`, from `active`.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), campaignd_client::Error> {
    /// # let client = campaignd_client::Client::builder().base_url("http://127.0.0.1:8080").api_key("k").build()?;
    /// let paused = client.pause_campaign(3, None).await?;
    /// assert_eq!(paused.campaign.status, campaignd_client::Status::Paused);
    /// match client.pause_campaign(3, None).await {
    ///     Err(campaignd_client::Error::Conflict { errors }) => {
    ///         assert_eq!(errors["status"], ["cannot pause a campaign that is paused"]);
    ///     }
    ///     other => panic!("{other:?}"),
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn pause_campaign(
        &self,
        campaign_id: i64,
        if_match: Option<&str>,
    ) -> Result<Tagged, Error> {
        self.act(campaign_id, "pause", if_match).await
    }

    /// Stop campaign: `POST /campaigns/{campaign_id}/stop`, from `active`,
    /// `paused` or `auto_paused`.
    pub async fn stop_campaign(
        &self,
        campaign_id: i64,
        if_match: Option<&str>,
    ) -> Result<Tagged, Error> {
        self.act(campaign_id, "stop", if_match).await
    }

    async fn act(
        &self,
        campaign_id: i64,
        action: &str,
        if_match: Option<&str>,
    ) -> Result<Tagged, Error> {
        let path = format!("/campaigns/{campaign_id}/{action}");
        let call = Call {
            method: Method::POST,
            path: &path,
            query: &[],
            body: None,
            if_match,
            idempotent: false,
        };
        self.write(call, true).await
    }

    /// Get list of users: one page of the contact center's users, by id
    /// (scope `users.read`). `limit` is 1–100 (the server's default 100).
    pub async fn list_users(
        &self,
        limit: Option<u32>,
        offset: Option<u64>,
    ) -> Result<UserPage, Error> {
        self.user_page("/users", limit, offset).await
    }

    /// Every user of the contact center, walking the pages 100 at a time.
    pub fn users(&self) -> impl Stream<Item = Result<User, Error>> + '_ {
        self.user_walk("/users".to_owned())
    }

    /// The users assigned to a campaign, one page, by id (scope
    /// `campaigns.read`); [`Error::NotFound`] for no such campaign.
    pub async fn campaign_users(
        &self,
        campaign_id: i64,
        limit: Option<u32>,
        offset: Option<u64>,
    ) -> Result<UserPage, Error> {
        self.user_page(&format!("/campaigns/{campaign_id}/users"), limit, offset)
            .await
    }

    /// Every user assigned to a campaign, walking the pages.
    pub fn all_campaign_users(
        &self,
        campaign_id: i64,
    ) -> impl Stream<Item = Result<User, Error>> + '_ {
        self.user_walk(format!("/campaigns/{campaign_id}/users"))
    }

    /// Add users to a campaign (scope `campaigns.manage`): 1–100 ids of the
    /// contact center's users. Answers the users newly assigned (`id`,
    /// `name`, `email`); one already assigned is not repeated. An id that is
    /// not a user of the center is [`Error::Validation`] and nothing is
    /// assigned.
    pub async fn assign_users(
        &self,
        campaign_id: i64,
        user_ids: &[i64],
    ) -> Result<Vec<User>, Error> {
        let path = format!("/campaigns/{campaign_id}/users");
        let call = Call {
            method: Method::POST,
            path: &path,
            query: &[],
            body: Some(json_body(&serde_json::json!({ "user_ids": user_ids }))?),
            if_match: None,
            idempotent: false,
        };
        let (body, _) = self.send(call).await?;
        let added: AddedUsersEnvelope = serde_json::from_slice(&body).map_err(Error::Decode)?;
        Ok(added.added_users)
    }

    /// Remove a user from a campaign (scope `campaigns.manage`); answers the
    /// user. [`Error::NotFound`] if the campaign or the user does not exist
    /// or the user is not assigned; [`Error::Conflict`] for the last user of
    /// an active campaign.
    pub async fn unassign_user(&self, campaign_id: i64, user_id: i64) -> Result<User, Error> {
        let path = format!("/campaigns/{campaign_id}/users/{user_id}");
        let call = Call {
            method: Method::DELETE,
            path: &path,
            query: &[],
            body: None,
            if_match: None,
            idempotent: false,
        };
        let (body, _) = self.send(call).await?;
        let removed: RemovedUserEnvelope = serde_json::from_slice(&body).map_err(Error::Decode)?;
        Ok(removed.user)
    }

    /// Add leads to a campaign (scope `campaigns.manage`): 1–1000 leads,
    /// each a [`NewLead`](crate::NewLead) or any value that serializes to the
    /// lead object.
    /// Answers what became of each, by the phone numbers sent: created,
    /// rejected (an invalid number or field) or a duplicate. Only a live
    /// campaign that is not stopped or completed takes leads; that, and an
    /// import into the campaign still running, are [`Error::Conflict`]
    /// (see [`Error::is_import_in_progress`]). Never retried once it may
    /// have reached the server.
    pub async fn import_leads<T: serde::Serialize>(
        &self,
        campaign_id: i64,
        leads: &[T],
    ) -> Result<LeadsImport, Error> {
        let path = format!("/campaigns/{campaign_id}/leads");
        let call = Call {
            method: Method::POST,
            path: &path,
            query: &[],
            body: Some(json_body(&leads)?),
            if_match: None,
            idempotent: false,
        };
        let (body, _) = self.send(call).await?;
        let envelope: LeadsImportEnvelope = serde_json::from_slice(&body).map_err(Error::Decode)?;
        Ok(envelope.leads_import)
    }

    /// One page of a campaign's leads, by priority then import order
    /// (scope `campaigns.read`); [`Error::NotFound`] for no such campaign.
    pub async fn list_leads(
        &self,
        campaign_id: i64,
        limit: Option<u32>,
        offset: Option<u64>,
    ) -> Result<LeadPage, Error> {
        let query = page_query(limit, offset);
        let path = format!("/campaigns/{campaign_id}/leads");
        let body = self.call(Method::GET, &path, &query, true).await?;
        let page: LeadListEnvelope = serde_json::from_slice(&body).map_err(Error::Decode)?;
        Ok(LeadPage {
            leads: page.leads,
            total: page.metadata.total,
        })
    }

    /// Every lead of a campaign, walking the pages 100 at a time.
    pub fn leads(&self, campaign_id: i64) -> impl Stream<Item = Result<Lead, Error>> + '_ {
        walk(0, move |offset| async move {
            let page = self
                .list_leads(campaign_id, Some(WALK_PAGE), Some(offset))
                .await?;
            Ok((page.leads, page.total))
        })
    }

    async fn user_page(
        &self,
        path: &str,
        limit: Option<u32>,
        offset: Option<u64>,
    ) -> Result<UserPage, Error> {
        let query = page_query(limit, offset);
        let body = self.call(Method::GET, path, &query, true).await?;
        let page: UserListEnvelope = serde_json::from_slice(&body).map_err(Error::Decode)?;
        Ok(UserPage {
            users: page.users,
            total: page.metadata.total,
        })
    }

    fn user_walk(&self, path: String) -> impl Stream<Item = Result<User, Error>> + '_ {
        walk(0, move |offset| {
            let path = path.clone();
            async move {
                let page = self.user_page(&path, Some(WALK_PAGE), Some(offset)).await?;
                Ok((page.users, page.total))
            }
        })
    }

    /// Sends one call with the retry policy. `idempotent` calls are retried
    /// on 502/503/504 and on any transport failure; others only when the
    /// request cannot have reached the server (connection refused) or on 429.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        idempotent: bool,
    ) -> Result<Bytes, Error> {
        self.send(Call {
            method,
            path,
            query,
            body: None,
            if_match: None,
            idempotent,
        })
        .await
        .map(|(body, _)| body)
    }

    /// A write: sends `call` and answers the campaign it returns (inside
    /// `{"campaign": ...}` unless `bare`) with its entity tag.
    async fn write(&self, call: Call<'_>, bare: bool) -> Result<Tagged, Error> {
        let (body, etag) = self.send(call).await?;
        let campaign = if bare {
            serde_json::from_slice(&body).map_err(Error::Decode)?
        } else {
            serde_json::from_slice::<CampaignEnvelope>(&body)
                .map_err(Error::Decode)?
                .campaign
        };
        Ok(Tagged {
            campaign,
            etag: etag.unwrap_or_default(),
        })
    }

    /// Sends `call` with the retry policy; answers the body and the `ETag`.
    async fn send(&self, call: Call<'_>) -> Result<(Bytes, Option<String>), Error> {
        let url = format!("{}{}", self.base, call.path);
        let mut attempt = 0;
        loop {
            let mut request = self
                .http
                .request(call.method.clone(), &url)
                .query(call.query)
                .header(AUTHORIZATION, self.auth.clone())
                .header(ACCEPT, HeaderValue::from_static("application/json"));
            if let Some(body) = &call.body {
                request = request
                    .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                    .body(body.clone());
            }
            if let Some(tag) = call.if_match {
                request = request.header(IF_MATCH, tag);
            }
            let idempotent = call.idempotent;
            let error = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let etag = response
                        .headers()
                        .get(ETAG)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    let retry_after = response
                        .headers()
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let body = response.bytes().await.map_err(Error::Transport)?;
                    if status.is_success() {
                        return Ok((body, etag));
                    }
                    let error = Error::from_response(status.as_u16(), retry_after, &body);
                    let wait = match status {
                        StatusCode::TOO_MANY_REQUESTS => {
                            let wait = retry_after.unwrap_or_else(|| self.retry.backoff(attempt));
                            (wait <= self.retry.max_retry_after).then_some(wait)
                        }
                        StatusCode::BAD_GATEWAY
                        | StatusCode::SERVICE_UNAVAILABLE
                        | StatusCode::GATEWAY_TIMEOUT
                            if idempotent =>
                        {
                            Some(self.retry.backoff(attempt))
                        }
                        _ => None,
                    };
                    match wait {
                        Some(wait) if attempt < self.retry.max_retries => {
                            tracing::debug!(%status, attempt, ?wait, "retrying");
                            tokio::time::sleep(wait).await;
                            attempt += 1;
                            continue;
                        }
                        _ => error,
                    }
                }
                Err(e) => {
                    let retryable = idempotent || e.is_connect();
                    if retryable && attempt < self.retry.max_retries {
                        let wait = self.retry.backoff(attempt);
                        tracing::debug!(error = %e, attempt, ?wait, "retrying after a transport error");
                        tokio::time::sleep(wait).await;
                        attempt += 1;
                        continue;
                    }
                    Error::Transport(e)
                }
            };
            return Err(error);
        }
    }
}

/// `limit` and `offset`, as a paged listing takes them.
fn page_query(limit: Option<u32>, offset: Option<u64>) -> Vec<(&'static str, String)> {
    let mut query = Vec::new();
    if let Some(limit) = limit {
        query.push(("limit", limit.to_string()));
    }
    if let Some(offset) = offset {
        query.push(("offset", offset.to_string()));
    }
    query
}

/// Walks a paged listing from `offset`: `fetch(offset)` answers a page
/// and the listing's total. The walk ends at the total, or at an empty
/// page (the listing shrank under it).
fn walk<'a, T, F, Fut>(offset: u64, fetch: F) -> impl Stream<Item = Result<T, Error>> + 'a
where
    T: 'a,
    F: Fn(u64) -> Fut + 'a,
    Fut: Future<Output = Result<(Vec<T>, u64), Error>> + 'a,
{
    struct Walk<T, F> {
        fetch: F,
        offset: u64,
        total: Option<u64>,
        buffered: VecDeque<T>,
        exhausted: bool,
    }
    let start = Walk {
        fetch,
        offset,
        total: None,
        buffered: VecDeque::new(),
        exhausted: false,
    };
    futures_util::stream::try_unfold(start, |mut walk| async move {
        loop {
            if let Some(item) = walk.buffered.pop_front() {
                return Ok(Some((item, walk)));
            }
            if walk.exhausted || walk.total.is_some_and(|total| walk.offset >= total) {
                return Ok(None);
            }
            let (items, total) = (walk.fetch)(walk.offset).await?;
            walk.total = Some(total);
            walk.exhausted = items.is_empty();
            walk.offset += items.len() as u64;
            walk.buffered.extend(items);
        }
    })
}

/// `value` as a request body.
fn json_body(value: &impl serde::Serialize) -> Result<Bytes, Error> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(|e| Error::Config(format!("the request body does not serialize: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_come_from_a_url_or_a_cluster_id() {
        let c = Client::builder()
            .base_url("http://127.0.0.1:8080")
            .api_key("k")
            .build()
            .unwrap();
        assert_eq!(c.base_url(), "http://127.0.0.1:8080/api/v4");
        let c = Client::builder()
            .base_url("http://h:1/api/v4/")
            .api_key("k")
            .build()
            .unwrap();
        assert_eq!(c.base_url(), "http://h:1/api/v4");
        let c = Client::builder()
            .cluster_id("cc-ams03")
            .api_key("k")
            .build()
            .unwrap();
        assert_eq!(c.base_url(), "https://cc-ams03.voiso.com/api/v4");
        for bad in [
            Client::builder().api_key("k").build(),
            Client::builder().base_url("ftp://x").api_key("k").build(),
            Client::builder().cluster_id("a.b/c").api_key("k").build(),
            Client::builder().base_url("http://x").build(),
            Client::builder()
                .base_url("http://x")
                .cluster_id("y")
                .api_key("k")
                .build(),
        ] {
            assert!(matches!(bad, Err(Error::Config(_))), "{bad:?}");
        }
    }

    #[test]
    fn the_key_never_shows_in_debug() {
        let key = "cmpd_SecretSecretSecretSecretSecretABCD";
        let client = Client::builder()
            .base_url("http://x")
            .api_key(key)
            .build()
            .unwrap();
        let shown = format!("{client:?} {:?}", ApiKey::new(key));
        assert!(!shown.contains("SecretSecret"), "{shown}");
        assert!(shown.contains("****ABCD"), "{shown}");
    }

    #[test]
    fn backoff_is_jittered_within_bounds() {
        let policy = RetryPolicy::default();
        for attempt in 0..10 {
            let full = policy
                .initial_backoff
                .saturating_mul(1 << attempt)
                .min(policy.max_backoff);
            let d = policy.backoff(attempt);
            assert!(d >= full / 2 && d <= full, "{attempt}: {d:?}");
        }
    }
}
