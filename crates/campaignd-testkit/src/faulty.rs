//! A store that misbehaves on request: calls, by name, can be made to stall
//! forever, wait first, or fail, and every call is counted. It wraps a real
//! store, so whatever is not faulted behaves exactly as the real one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use campaignd_model::{
    Action, ApiKeyId, Campaign, CampaignId, CampaignPatch, CampaignSettings, ContactCenterId,
    ContactCenterName, Expected, KeyHash, Lead, SERVER_SECRET_LEN, Timestamp, User, UserId,
};
use campaignd_store::transfer::{Row, Table};
use campaignd_store::{
    ApiKeyInfo, AuditQuery, AuditRecord, AuditStore, CampaignFilter, CampaignPage, CampaignStore,
    CampaignWrites, CenterStore, ChangeBatch, ChangeCursor, ChangeFeed, ContactCenter, Footprint,
    ImportId, ImportProblem, ImportRecord, ImportStore, ImportSummary, KeyGrant, KeyStore,
    LeadPage, LeadStore, LeadsImported, MigrationReport, NewApiKey, Page, Progress, ResetStore,
    Result, Store, StoreError, TransferStore, Upkeep, UserPage, UserRecord, UserStore,
    WriteContext, WriteError, Written,
};

/// What a faulted call does before (or instead of) reaching the real store.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Never answers, as on a stalled database.
    Stall,
    /// Waits this long, then goes ahead.
    Delay(Duration),
    /// Answers `StoreError::Unavailable`, as on a database that is down.
    Unavailable,
    /// Answers `StoreError::Unavailable` this many times, then heals.
    UnavailableTimes(usize),
}

/// See the module docs. Call names are the storage traits' method names
/// (`"get_campaign_body"`, `"ping"`, ...); `"*"` faults every call.
pub struct FaultyStore {
    inner: Arc<dyn Store>,
    faults: Mutex<HashMap<&'static str, Fault>>,
    calls: Mutex<HashMap<&'static str, usize>>,
}

impl std::fmt::Debug for FaultyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultyStore")
            .field("faults", &self.faults)
            .finish_non_exhaustive()
    }
}

impl FaultyStore {
    /// A store that behaves as `inner` until told otherwise.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            faults: Mutex::default(),
            calls: Mutex::default(),
        }
    }

    /// Makes `call` (or every call, for `"*"`) do `fault` from now on.
    pub fn set(&self, call: &'static str, fault: Fault) {
        self.faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(call, fault);
    }

    /// Removes every fault.
    pub fn heal(&self) {
        self.faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// How many times `call` was made.
    pub fn calls(&self, call: &str) -> usize {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(call)
            .copied()
            .unwrap_or(0)
    }

    /// Counts `call` and plays its fault, if it has one.
    async fn enter(&self, call: &'static str) -> Result<()> {
        *self
            .calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(call)
            .or_default() += 1;
        let fault = {
            let mut faults = self.faults.lock().unwrap_or_else(PoisonError::into_inner);
            let name = if faults.contains_key(call) { call } else { "*" };
            let fault = faults.get(name).cloned();
            match fault {
                Some(Fault::UnavailableTimes(left)) => {
                    if left <= 1 {
                        faults.remove(name);
                    } else {
                        faults.insert(name, Fault::UnavailableTimes(left - 1));
                    }
                    Some(Fault::Unavailable)
                }
                other => other,
            }
        };
        match fault {
            None => Ok(()),
            Some(Fault::Stall) => std::future::pending().await,
            Some(Fault::Delay(wait)) => {
                tokio::time::sleep(wait).await;
                Ok(())
            }
            Some(Fault::Unavailable | Fault::UnavailableTimes(_)) => Err(StoreError::Unavailable(
                format!("{call}: made unavailable by the test"),
            )),
        }
    }
}

/// Implements every method of the storage traits as: count and play the
/// fault, then call the real store. One line per method; a method added to
/// a trait is a compile error here until it is listed.
macro_rules! delegate {
    ($( impl $trait:ident { $( fn $name:ident(&self $(, $arg:ident: $ty:ty)* ) -> $ret:ty; )* } )*) => {$(
        #[async_trait]
        impl $trait for FaultyStore {
            $(
                async fn $name(&self $(, $arg: $ty)*) -> $ret {
                    self.enter(stringify!($name)).await?;
                    self.inner.$name($($arg),*).await
                }
            )*
        }
    )*};
}

delegate! {
    impl Upkeep {
        fn migrate(&self) -> Result<MigrationReport>;
        fn ping(&self) -> Result<()>;
        fn footprint(&self) -> Result<Footprint>;
        fn maintain(&self) -> Result<()>;
    }
    impl CenterStore {
        fn create_contact_center(&self, name: &ContactCenterName) -> Result<ContactCenter>;
        fn contact_center_by_name(&self, name: &ContactCenterName) -> Result<Option<ContactCenter>>;
        fn list_contact_centers(&self) -> Result<Vec<ContactCenter>>;
    }
    impl KeyStore {
        fn server_secret(&self) -> Result<[u8; SERVER_SECRET_LEN]>;
        fn create_api_key(&self, key: NewApiKey) -> Result<ApiKeyInfo>;
        fn list_api_keys(&self, center: ContactCenterId) -> Result<Vec<ApiKeyInfo>>;
        fn revoke_api_key(&self, id: ApiKeyId) -> Result<(ApiKeyInfo, bool)>;
        fn authenticate(&self, hash: &KeyHash) -> Result<Option<KeyGrant>>;
        fn record_key_use(&self, uses: &[(ApiKeyId, Timestamp)]) -> Result<()>;
    }
    impl CampaignStore {
        fn get_campaign(&self, center: ContactCenterId, id: CampaignId) -> Result<Option<Campaign>>;
        fn get_campaign_body(&self, center: ContactCenterId, id: CampaignId) -> Result<Option<Vec<u8>>>;
        fn list_campaigns(&self, center: ContactCenterId, filter: &CampaignFilter, page: Page) -> Result<CampaignPage>;
        fn campaigns_after(&self, center: ContactCenterId, after: Option<CampaignId>, limit: u32) -> Result<Vec<Campaign>>;
    }
    impl CampaignWrites {
        fn create_campaign(&self, ctx: WriteContext, center: ContactCenterId, settings: CampaignSettings) -> Result<Written, WriteError>;
        fn update_campaign(&self, ctx: WriteContext, center: ContactCenterId, id: CampaignId, patch: CampaignPatch, expected: Option<Expected>) -> Result<Written, WriteError>;
        fn delete_campaign(&self, ctx: WriteContext, center: ContactCenterId, id: CampaignId, expected: Option<Expected>) -> Result<Written, WriteError>;
        fn act_on_campaign(&self, ctx: WriteContext, center: ContactCenterId, id: CampaignId, action: Action, expected: Option<Expected>) -> Result<Written, WriteError>;
    }
    impl ImportStore {
        fn begin_import(&self, center: ContactCenterId) -> Result<ImportId>;
        fn stage_import(&self, import: ImportId, records: Vec<ImportRecord>) -> Result<Vec<ImportProblem>>;
        fn publish_import(&self, import: ImportId, progress: Option<Progress>) -> Result<ImportSummary>;
        fn abandon_import(&self, import: ImportId, progress: Option<Progress>) -> Result<()>;
    }
    impl UserStore {
        fn import_users(&self, center: ContactCenterId, records: Vec<UserRecord>, progress: Option<Progress>) -> Result<u64>;
        fn list_users(&self, center: ContactCenterId, page: Page) -> Result<UserPage>;
        fn campaign_users(&self, center: ContactCenterId, campaign: CampaignId, page: Page) -> Result<Option<UserPage>>;
        fn assign_users(&self, ctx: WriteContext, center: ContactCenterId, campaign: CampaignId, users: Vec<UserId>) -> Result<Vec<User>, WriteError>;
        fn remove_user(&self, ctx: WriteContext, center: ContactCenterId, campaign: CampaignId, user: UserId) -> Result<User, WriteError>;
        fn delete_user(&self, center: ContactCenterId, user: UserId) -> Result<bool>;
    }
    impl LeadStore {
        fn import_leads(&self, ctx: WriteContext, center: ContactCenterId, campaign: CampaignId, leads: Vec<Lead>) -> Result<LeadsImported, WriteError>;
        fn campaign_leads(&self, center: ContactCenterId, campaign: CampaignId, page: Page) -> Result<Option<LeadPage>>;
        fn claim_lead_import(&self, center: ContactCenterId, campaign: CampaignId, holder: i64, ttl: std::time::Duration) -> Result<bool>;
        fn release_lead_import(&self, center: ContactCenterId, campaign: CampaignId, holder: i64) -> Result<()>;
    }
    impl AuditStore {
        fn audit_records(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>>;
    }
    impl ChangeFeed {
        fn latest_change(&self) -> Result<ChangeCursor>;
        fn changes_since(&self, cursor: &ChangeCursor, limit: u32) -> Result<ChangeBatch>;
    }
    impl ResetStore {
        fn keep_start_state(&self) -> Result<()>;
        fn reset_to_start(&self) -> Result<()>;
        fn clear_all(&self) -> Result<()>;
    }
    impl TransferStore {
        fn count_rows(&self, table: Table) -> Result<u64>;
        fn read_rows(&self, table: Table, after: Option<Row>, limit: u32) -> Result<Vec<Row>>;
        fn write_rows(&self, table: Table, rows: Vec<Row>) -> Result<()>;
        fn finish_copy(&self) -> Result<()>;
    }
}
