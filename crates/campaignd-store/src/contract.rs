//! The behaviour every [`Store`] backend must show, written once.
//!
//! Each check takes a fresh, migrated, empty store. A backend's test file runs
//! them all with [`contract_tests!`](crate::contract_tests), giving a factory
//! that returns `None` (with a printed reason) when its database is not
//! available, so the suite still passes on a machine without it.

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use campaignd_model::{
    Action, ApiKeyId, ApiKeyToken, CampaignDocument, CampaignId, CampaignPatch, CampaignSettings,
    ContactCenterId, ContactCenterName, EntityTag, Expected, KeyHasher, Lead, PhoneNumber, Scope,
    Scopes, Status, Strategy, SystemFields, Timestamp, UserDocument, UserId,
};
use serde_json::{Value, json};

use crate::{
    AuditAction, AuditQuery, CampaignFilter, Change, ChangeCursor, ContactCenter, ImportRecord,
    MAX_ACTIVE_KEYS, NewApiKey, Page, Progress, Store, StoreError, UserRecord, WriteContext,
    WriteError, Written,
};

/// A store under test and whatever must live as long as it (a temp dir).
pub struct Fixture {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Dropped after the test.
    pub guard: Box<dyn Any + Send>,
}

/// Generates one `#[tokio::test]` per contract check, each calling `$factory`
/// (an async fn returning `Option<Fixture>`) for a fresh store.
#[macro_export]
macro_rules! contract_tests {
    ($factory:path) => {
        $crate::contract_tests!(@each $factory;
            migrations_are_idempotent,
            the_server_secret_is_created_once,
            contact_center_names_are_unique,
            a_center_holds_at_most_fifty_active_keys,
            keys_authenticate_until_revoked_and_revocation_is_logged,
            key_use_is_recorded,
            campaigns_round_trip_every_field,
            the_stored_body_is_the_campaigns_rendering,
            concurrent_body_reads_each_get_their_own,
            campaign_ids_are_per_contact_center,
            import_assigns_free_ids_and_keeps_given_ones,
            import_is_all_or_nothing_and_reports_every_conflict,
            import_reports_progress,
            staged_rows_stay_hidden_until_published,
            an_abandoned_import_leaves_nothing_and_frees_its_names,
            an_import_with_refused_records_is_never_published,
            list_filters_count_the_whole_filtered_set,
            the_export_walk_visits_every_campaign_once,
            campaign_writes_follow_the_lifecycle,
            patches_merge_and_always_move_updated_at,
            if_match_is_checked_inside_the_write,
            every_write_is_audited_and_a_failed_one_is_not,
            users_import_all_or_nothing_and_list_by_id,
            users_are_assigned_and_removed_as_specified,
            assignments_go_with_their_campaign_and_their_user,
            leads_import_once_and_list_by_priority,
            leads_go_only_into_live_campaigns_of_the_center,
            a_campaign_starts_only_with_users_and_active_leads,
            leads_go_with_their_campaign,
            concurrent_imports_create_each_number_once,
            a_reset_puts_every_table_back_as_kept,
            a_snapshot_loads_back_what_was_saved_and_a_cut_one_is_refused,
        );
    };
    (@each $factory:path; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let Some(fixture) = $factory().await else { return };
                $crate::contract::$name(&*fixture.store).await;
                drop(fixture);
            }
        )+
    };
}

#[expect(
    clippy::needless_pass_by_value,
    reason = "called with json! temporaries"
)]
fn doc(value: Value) -> CampaignDocument {
    CampaignDocument::parse(&value, SystemFields::Accept).expect("test document is valid")
}

/// A batch of import records, positioned from 0 in the order given.
fn batch(values: impl IntoIterator<Item = Value>) -> Vec<ImportRecord> {
    values
        .into_iter()
        .enumerate()
        .map(|(index, value)| ImportRecord {
            index,
            document: doc(value),
        })
        .collect()
}

async fn center(store: &dyn Store, name: &str) -> ContactCenter {
    store
        .create_contact_center(&name.parse().unwrap())
        .await
        .expect("create center")
}

fn new_key(center: &ContactCenter, scopes: &[Scope]) -> (ApiKeyToken, NewApiKey) {
    let token = ApiKeyToken::generate();
    let hasher = KeyHasher::new(&[7; 32]);
    let key = NewApiKey {
        contact_center_id: center.id,
        name: Some("test".into()),
        hash: hasher.hash(&token),
        last4: token.last4().to_owned(),
        scopes: scopes.iter().copied().collect(),
    };
    (token, key)
}

/// Running migrations again applies nothing and keeps the version.
pub async fn migrations_are_idempotent(store: &dyn Store) {
    let again = store.migrate().await.unwrap();
    assert!(again.applied.is_empty(), "{again:?}");
    assert!(again.current >= 1);
    store.ping().await.unwrap();
}

/// The key-hashing secret is generated once and then stays the same.
pub async fn the_server_secret_is_created_once(store: &dyn Store) {
    let first = store.server_secret().await.unwrap();
    let second = store.server_secret().await.unwrap();
    assert_eq!(first, second);
    assert_ne!(first, [0; 32]);
}

/// Contact center names are unique and can be looked up.
pub async fn contact_center_names_are_unique(store: &dyn Store) {
    let acme = center(store, "acme").await;
    assert_eq!(acme.name.as_str(), "acme");
    assert_eq!((acme.campaigns, acme.active_keys), (0, 0));
    let err = store
        .create_contact_center(&"acme".parse().unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::CenterExists(ref n) if n == "acme"),
        "{err:?}"
    );
    center(store, "globex").await;
    let names: Vec<String> = store
        .list_contact_centers()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name.to_string())
        .collect();
    assert_eq!(names, ["acme", "globex"]);
    let found = store
        .contact_center_by_name(&"acme".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(found.map(|c| c.id), Some(acme.id));
    let missing: ContactCenterName = "initech".parse().unwrap();
    assert!(
        store
            .contact_center_by_name(&missing)
            .await
            .unwrap()
            .is_none()
    );
}

/// The 51st active key is refused; revoking one makes room; other centers
/// are unaffected.
pub async fn a_center_holds_at_most_fifty_active_keys(store: &dyn Store) {
    let acme = center(store, "acme").await;
    let other = center(store, "globex").await;
    let mut ids = Vec::new();
    for _ in 0..MAX_ACTIVE_KEYS {
        ids.push(
            store
                .create_api_key(new_key(&acme, &[Scope::CampaignsRead]).1)
                .await
                .unwrap()
                .id,
        );
    }
    let err = store
        .create_api_key(new_key(&acme, &[Scope::CampaignsRead]).1)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::KeyLimit), "{err:?}");
    store
        .create_api_key(new_key(&other, &[Scope::CampaignsRead]).1)
        .await
        .unwrap();
    store.revoke_api_key(ids[0]).await.unwrap();
    store
        .create_api_key(new_key(&acme, &[Scope::CampaignsRead]).1)
        .await
        .unwrap();
    let err = store
        .create_api_key(new_key(&acme, &[Scope::CampaignsRead]).1)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::KeyLimit), "{err:?}");
    let listed = store.list_api_keys(acme.id).await.unwrap();
    assert_eq!(listed.len(), MAX_ACTIVE_KEYS + 1);
    assert_eq!(
        listed.iter().filter(|k| k.revoked_at.is_none()).count(),
        MAX_ACTIVE_KEYS
    );
}

/// An active key authenticates with its scopes; once revoked it does not,
/// and the revocation is in the change log.
pub async fn keys_authenticate_until_revoked_and_revocation_is_logged(store: &dyn Store) {
    let acme = center(store, "acme").await;
    let (_, key) = new_key(&acme, &[Scope::CampaignsManage]);
    let hash = key.hash;
    let info = store.create_api_key(key).await.unwrap();
    assert_eq!(
        info.scopes,
        [Scope::CampaignsManage].into_iter().collect::<Scopes>()
    );
    assert_eq!(info.revoked_at, None);
    let grant = store
        .authenticate(&hash)
        .await
        .unwrap()
        .expect("active key authenticates");
    assert_eq!((grant.key_id, grant.contact_center_id), (info.id, acme.id));
    assert!(grant.scopes.contains(Scope::CampaignsManage));
    assert!(!grant.scopes.contains(Scope::CampaignsRead));

    let before = store.latest_change().await.unwrap();
    let (revoked, changed) = store.revoke_api_key(info.id).await.unwrap();
    assert!(changed);
    assert!(revoked.revoked_at.is_some());
    assert!(store.authenticate(&hash).await.unwrap().is_none());
    let (_, again) = store.revoke_api_key(info.id).await.unwrap();
    assert!(!again);
    let changes = store.changes_since(&before, 100).await.unwrap();
    assert_eq!(changes.changes, [Change::ApiKey(info.id)]);
    let missing = store
        .revoke_api_key(ApiKeyId::new(999_999).unwrap())
        .await
        .unwrap_err();
    assert!(matches!(missing, StoreError::NotFound(_)), "{missing:?}");
}

/// Recorded use shows in listings and never moves backwards.
pub async fn key_use_is_recorded(store: &dyn Store) {
    let acme = center(store, "acme").await;
    let info = store
        .create_api_key(new_key(&acme, &[Scope::CampaignsRead]).1)
        .await
        .unwrap();
    assert_eq!(info.last_used_at, None);
    let later = Timestamp::from_unix_millis(1_800_000_000_000).unwrap();
    let earlier = Timestamp::from_unix_millis(1_700_000_000_000).unwrap();
    store.record_key_use(&[(info.id, later)]).await.unwrap();
    store.record_key_use(&[(info.id, earlier)]).await.unwrap();
    let listed = store.list_api_keys(acme.id).await.unwrap();
    assert_eq!(listed[0].last_used_at, Some(later));
}

/// A campaign with every field set comes back equal.
pub async fn campaigns_round_trip_every_field(store: &dyn Store) {
    let acme = center(store, "acme").await;
    let full = doc(json!({
        "id": 3, "name": "Summer Outreach Campaign", "status": "active", "strategy": "predictive_ai",
        "dial_level": 1.5,
        "dial_level_override": {"enabled": true, "value": 2.25, "active_agents_threshold": 3},
        "max_dial_time": 600, "max_wait_time": 0, "max_dial_attempts": 100, "amd_enabled": true,
        "amd_voicemail_message": {"enabled": false, "voice_message": {"type": "voice_message", "name": "Instructions"}},
        "caller_id_sets": [{"phone_numbers": ["18885650001", "18885650002"]}, {"phone_numbers": ["442071234567"]}],
        "use_local_caller_id": true, "asr_optimization_enabled": true, "follow_up_mode": "timer",
        "created_at": "2026-01-15T10:30:00.000Z", "updated_at": "2026-01-20T14:15:00.123Z",
        "live": true, "method": "preview"
    }));
    let bare = doc(
        json!({"id": 4, "name": "Bare", "amd_voicemail_message": {"enabled": true, "voice_message": null}}),
    );
    store
        .import_campaigns(acme.id, vec![full.clone(), bare.clone()], None)
        .await
        .unwrap();
    let got = store
        .get_campaign(acme.id, CampaignId::new(3).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.id.get(), 3);
    assert_eq!(got.status, Status::Active);
    assert_eq!(got.settings, full.settings);
    assert_eq!(Some(got.created_at), full.created_at);
    assert_eq!(Some(got.updated_at), full.updated_at);
    let got = store
        .get_campaign(acme.id, CampaignId::new(4).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.settings, bare.settings);
    assert_eq!(got.status, Status::Draft);
}

/// The Get campaign body a backend serves is exactly the campaign's
/// rendering, and missing or other-tenant campaigns have none.
pub async fn the_stored_body_is_the_campaigns_rendering(store: &dyn Store) {
    let acme = center(store, "acme").await;
    let other = center(store, "globex").await;
    store
        .import_campaigns(
            acme.id,
            vec![doc(
                json!({"id": 3, "name": "Été", "dial_level": 2.5, "method": "power"}),
            )],
            None,
        )
        .await
        .unwrap();
    let id = CampaignId::new(3).unwrap();
    let campaign = store.get_campaign(acme.id, id).await.unwrap().unwrap();
    let body = store.get_campaign_body(acme.id, id).await.unwrap().unwrap();
    assert_eq!(body, campaign.get_body());
    assert!(
        store
            .get_campaign_body(other.id, id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .get_campaign_body(acme.id, CampaignId::new(4).unwrap())
            .await
            .unwrap()
            .is_none()
    );
}

/// Many body reads at once (a loaded node's cache misses, which a backend
/// may batch) each get their own campaign's body, or none for a campaign
/// that is absent or another center's, however they are interleaved and
/// repeated.
pub async fn concurrent_body_reads_each_get_their_own(store: &dyn Store) {
    let acme = center(store, "acme").await;
    let globex = center(store, "globex").await;
    let records = |prefix: &str, n: i64| {
        (1..=n)
            .map(|id| json!({"id": id * 2, "name": format!("{prefix} {id}"), "dial_level": id}))
            .collect::<Vec<_>>()
    };
    for (c, prefix, n) in [(&acme, "A", 10), (&globex, "G", 5)] {
        let docs = records(prefix, n).into_iter().map(doc).collect();
        store.import_campaigns(c.id, docs, None).await.unwrap();
    }
    // Even ids 2..=20 exist in acme and 2..=10 in globex; odd ones nowhere.
    let keys: Vec<(ContactCenterId, CampaignId)> = (0..300)
        .map(|i: i64| {
            let c = if i % 3 == 0 { globex.id } else { acme.id };
            (c, CampaignId::new(i % 23 + 1).unwrap())
        })
        .collect();
    let mut expected = Vec::new();
    for &(c, id) in &keys {
        let campaign = store.get_campaign(c, id).await.unwrap();
        expected.push(campaign.map(|c| c.get_body()));
    }
    assert!(expected.iter().any(Option::is_some) && expected.iter().any(Option::is_none));
    let reads = keys.iter().map(|&(c, id)| store.get_campaign_body(c, id));
    let got: Vec<_> = futures_util::future::join_all(reads).await;
    for ((got, want), key) in got.into_iter().zip(expected).zip(&keys) {
        assert_eq!(got.unwrap(), want, "body of {key:?}");
    }
}

/// Two centers may both have campaign 1; neither sees the other's.
pub async fn campaign_ids_are_per_contact_center(store: &dyn Store) {
    let acme = center(store, "acme").await;
    let globex = center(store, "globex").await;
    store
        .import_campaigns(acme.id, vec![doc(json!({"name": "Acme one"}))], None)
        .await
        .unwrap();
    store
        .import_campaigns(globex.id, vec![doc(json!({"name": "Globex one"}))], None)
        .await
        .unwrap();
    let one = CampaignId::new(1).unwrap();
    let a = store.get_campaign(acme.id, one).await.unwrap().unwrap();
    let g = store.get_campaign(globex.id, one).await.unwrap().unwrap();
    assert_eq!(a.settings.name.as_str(), "Acme one");
    assert_eq!(g.settings.name.as_str(), "Globex one");
    assert!(
        store
            .get_campaign(acme.id, CampaignId::new(2).unwrap())
            .await
            .unwrap()
            .is_none()
    );
    // The same name may be used in two centers.
    store
        .import_campaigns(globex.id, vec![doc(json!({"name": "Acme one"}))], None)
        .await
        .unwrap();
}

/// Missing ids take the next free ones in the order staged; given ids,
/// statuses and timestamps are kept (a row whose id was assigned moves
/// aside for a later record that gives the same id); missing timestamps
/// are "now".
pub async fn import_assigns_free_ids_and_keeps_given_ones(store: &dyn Store) {
    let acme = center(store, "acme").await;
    let before = Timestamp::now();
    let summary = store
        .import_campaigns(
            acme.id,
            vec![
                doc(json!({"name": "a"})),
                doc(json!({"id": 10, "name": "b", "status": "completed", "created_at": "2025-03-01T00:00:00Z"})),
                doc(json!({"name": "c"})),
            ],
            None,
        )
        .await
        .unwrap();
    assert_eq!(summary.imported, 3);
    assert_eq!(
        summary.id_range,
        Some((CampaignId::new(1).unwrap(), CampaignId::new(11).unwrap()))
    );
    let all = store.campaigns_after(acme.id, None, 100).await.unwrap();
    let names: Vec<(i64, &str)> = all
        .iter()
        .map(|c| (c.id.get(), c.settings.name.as_str()))
        .collect();
    assert_eq!(names, [(1, "a"), (10, "b"), (11, "c")]);
    let b = &all[1];
    assert_eq!(b.status, Status::Completed);
    assert_eq!(b.created_at.to_string(), "2025-03-01T00:00:00.000Z");
    assert!(b.updated_at >= before);
    assert_eq!(all[0].status, Status::Draft);
    assert!(all[0].created_at >= before && all[0].created_at <= Timestamp::now());

    // Ids keep counting up across imports; a given id that this import
    // already assigned takes it over, and the assigned row moves on.
    store
        .import_campaigns(
            acme.id,
            vec![
                doc(json!({"name": "d"})),
                doc(json!({"name": "e"})),
                doc(json!({"id": 12, "name": "f"})),
            ],
            None,
        )
        .await
        .unwrap();
    let last = store
        .campaigns_after(acme.id, CampaignId::new(11), 10)
        .await
        .unwrap();
    let names: Vec<(i64, &str)> = last
        .iter()
        .map(|c| (c.id.get(), c.settings.name.as_str()))
        .collect();
    assert_eq!(names, [(12, "f"), (13, "e"), (14, "d")]);
    // The moved row's stored body names its new id.
    let body = store
        .get_campaign_body(acme.id, CampaignId::new(14).unwrap())
        .await
        .unwrap()
        .unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["campaign"]["id"], 14);
    assert_eq!(body["campaign"]["name"], "d");
}

/// One bad record refuses the whole import, and every conflict is reported
/// with its record's position.
pub async fn import_is_all_or_nothing_and_reports_every_conflict(store: &dyn Store) {
    let acme = center(store, "acme").await;
    store
        .import_campaigns(
            acme.id,
            vec![doc(json!({"id": 1, "name": "Existing"}))],
            None,
        )
        .await
        .unwrap();
    let err = store
        .import_campaigns(
            acme.id,
            vec![
                doc(json!({"name": "fresh"})),
                doc(json!({"id": 1, "name": "other"})),
                doc(json!({"name": "Existing"})),
                doc(json!({"id": 7, "name": "seven"})),
                doc(json!({"id": 7, "name": "fresh"})),
            ],
            None,
        )
        .await
        .unwrap_err();
    let StoreError::ImportRejected(problems) = err else {
        panic!("{err:?}")
    };
    let got: Vec<(usize, &str)> = problems
        .iter()
        .map(|p| (p.index, p.field.as_str()))
        .collect();
    assert_eq!(got, [(1, "id"), (2, "name"), (4, "id"), (4, "name")]);
    let page = store
        .list_campaigns(
            acme.id,
            &CampaignFilter::default(),
            Page {
                limit: 100,
                offset: 0,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.total, 1, "nothing of the refused import was written");
    assert_eq!(
        store
            .changes_since(&ChangeCursor::origin(), 100)
            .await
            .unwrap()
            .changes,
        [Change::Campaigns(acme.id)],
        "only the first import is logged"
    );
}

/// Long imports report progress, ending at the record count.
pub async fn import_reports_progress(store: &dyn Store) {
    let acme = center(store, "acme").await;
    let seen = Arc::new(AtomicU64::new(0));
    let sink = Arc::clone(&seen);
    let progress: Progress = Arc::new(move |n| {
        sink.fetch_max(n, Ordering::Relaxed);
    });
    let records = (0..2500)
        .map(|i| doc(json!({"name": format!("c{i}")})))
        .collect();
    store
        .import_campaigns(acme.id, records, Some(progress))
        .await
        .unwrap();
    assert_eq!(seen.load(Ordering::Relaxed), 2500);
}

/// A staged import's rows are invisible to every read (by id, body, list,
/// export walk, center counts) until one publish shows them all; another
/// import meanwhile cannot take their ids or names.
pub async fn staged_rows_stay_hidden_until_published(store: &dyn Store) {
    let acme = center(store, "acme").await;
    store
        .import_campaigns(
            acme.id,
            vec![doc(json!({"id": 1, "name": "visible"}))],
            None,
        )
        .await
        .unwrap();
    let logged = store.latest_change().await.unwrap();
    let import = store.begin_import(acme.id).await.unwrap();
    let refused = store
        .stage_import(
            import,
            batch([
                json!({"id": 2, "name": "staged two"}),
                json!({"name": "staged three"}),
            ]),
        )
        .await
        .unwrap();
    assert!(refused.is_empty(), "{refused:?}");
    let two = CampaignId::new(2).unwrap();
    let three = CampaignId::new(3).unwrap();
    let visible = || async {
        let page = store
            .list_campaigns(acme.id, &CampaignFilter::default(), Page::default())
            .await
            .unwrap();
        let walk = store.campaigns_after(acme.id, None, 100).await.unwrap();
        let centers = store.list_contact_centers().await.unwrap();
        assert_eq!(page.campaigns.len() as u64, page.total);
        assert_eq!(walk.len() as u64, page.total);
        assert_eq!(centers[0].campaigns, page.total);
        page.total
    };
    assert!(store.get_campaign(acme.id, two).await.unwrap().is_none());
    assert!(
        store
            .get_campaign_body(acme.id, three)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(visible().await, 1);
    let staged = store.changes_since(&logged, 100).await.unwrap();
    assert!(
        staged.changes.is_empty(),
        "staging logs nothing: {staged:?}"
    );

    // A second import meets the first one's ids and names.
    let other = store.begin_import(acme.id).await.unwrap();
    let clash = store
        .stage_import(other, batch([json!({"id": 2, "name": "staged three"})]))
        .await
        .unwrap();
    let fields: Vec<&str> = clash.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(fields, ["id", "name"], "{clash:?}");
    assert!(clash[0].message.contains("another import"), "{clash:?}");
    store.abandon_import(other, None).await.unwrap();

    let summary = store.publish_import(import, None).await.unwrap();
    assert_eq!(summary.imported, 2);
    assert_eq!(summary.id_range, Some((two, three)));
    assert_eq!(visible().await, 3);
    assert!(store.get_campaign(acme.id, two).await.unwrap().is_some());
    let body = store
        .get_campaign_body(acme.id, three)
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8(body).unwrap().contains("staged three"));
    let changes = store.changes_since(&logged, 10).await.unwrap();
    assert_eq!(
        changes.changes,
        [Change::Campaigns(acme.id)],
        "one change, at publish"
    );
    // A published import is finished: it takes no more records.
    assert!(store.stage_import(import, Vec::new()).await.is_err());
}

/// An abandoned import leaves no row behind, and its ids and names are
/// free again (ids are not reused: they keep counting up).
pub async fn an_abandoned_import_leaves_nothing_and_frees_its_names(store: &dyn Store) {
    let acme = center(store, "acme").await;
    let import = store.begin_import(acme.id).await.unwrap();
    let records = batch((0..2500).map(|i| json!({"name": format!("c{i}")})));
    assert!(
        store
            .stage_import(import, records)
            .await
            .unwrap()
            .is_empty()
    );
    store.abandon_import(import, None).await.unwrap();
    assert_eq!(store.list_contact_centers().await.unwrap()[0].campaigns, 0);
    assert!(
        store
            .campaigns_after(acme.id, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let summary = store
        .import_campaigns(acme.id, vec![doc(json!({"name": "c7"}))], None)
        .await
        .unwrap();
    assert_eq!(summary.imported, 1);
    let (lo, _) = summary.id_range.unwrap();
    assert!(
        lo.get() > 2500,
        "ids of an abandoned import are not reused: {lo}"
    );
    assert_eq!(store.list_contact_centers().await.unwrap()[0].campaigns, 1);
}

/// The store itself keeps imports all or nothing: one that refused a record
/// cannot be published, whatever its caller does.
pub async fn an_import_with_refused_records_is_never_published(store: &dyn Store) {
    let acme = center(store, "acme").await;
    let import = store.begin_import(acme.id).await.unwrap();
    let refused = store
        .stage_import(
            import,
            batch([json!({"name": "same"}), json!({"name": "same"})]),
        )
        .await
        .unwrap();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].index, 1);
    assert_eq!(refused[0].message, "repeats the name of record 1");
    assert!(store.publish_import(import, None).await.is_err());
    store.abandon_import(import, None).await.unwrap();
    assert_eq!(store.list_contact_centers().await.unwrap()[0].campaigns, 0);
}

/// Every filter narrows the set; `total` counts the whole filtered set, not
/// the page; pages come in id order.
pub async fn list_filters_count_the_whole_filtered_set(store: &dyn Store) {
    let acme = center(store, "acme").await;
    let other = center(store, "globex").await;
    let records: Vec<CampaignDocument> = (1..=30)
        .map(|i| {
            doc(json!({
                "name": if i % 10 == 0 { format!("Été Promo {i}") } else { format!("Campaign {i}") },
                "status": Status::ALL[i % Status::ALL.len()].as_str(),
                "strategy": if i % 3 == 0 { "predictive_ai" } else { "simple" },
                "live": i % 2 == 0,
                "method": if i % 5 == 0 { json!("preview") } else { json!(null) },
            }))
        })
        .collect();
    store
        .import_campaigns(acme.id, records, None)
        .await
        .unwrap();
    store
        .import_campaigns(
            other.id,
            vec![doc(json!({"name": "été promo elsewhere"}))],
            None,
        )
        .await
        .unwrap();

    let all = Page {
        limit: 100,
        offset: 0,
    };
    let total = |filter: CampaignFilter| async move {
        store
            .list_campaigns(acme.id, &filter, all)
            .await
            .unwrap()
            .total
    };
    assert_eq!(total(CampaignFilter::default()).await, 30);
    assert_eq!(
        total(CampaignFilter {
            name: Some("ÉTÉ".into()),
            ..Default::default()
        })
        .await,
        3
    );
    assert_eq!(
        total(CampaignFilter {
            name: Some("paign 1".into()),
            ..Default::default()
        })
        .await,
        10
    );
    assert_eq!(
        total(CampaignFilter {
            name: Some("%".into()),
            ..Default::default()
        })
        .await,
        0
    );
    assert_eq!(
        total(CampaignFilter {
            status: Some(Status::ALL[1]),
            ..Default::default()
        })
        .await,
        3
    );
    assert_eq!(
        total(CampaignFilter {
            strategy: Some(Strategy::PredictiveAi),
            ..Default::default()
        })
        .await,
        10
    );
    assert_eq!(
        total(CampaignFilter {
            live: Some(true),
            ..Default::default()
        })
        .await,
        15
    );
    assert_eq!(
        total(CampaignFilter {
            method: Some("preview".parse().unwrap()),
            ..Default::default()
        })
        .await,
        6
    );
    assert_eq!(
        total(CampaignFilter {
            live: Some(true),
            strategy: Some(Strategy::PredictiveAi),
            ..Default::default()
        })
        .await,
        5
    );

    let page = store
        .list_campaigns(
            acme.id,
            &CampaignFilter {
                live: Some(false),
                ..Default::default()
            },
            Page {
                limit: 4,
                offset: 2,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.total, 15);
    assert_eq!(
        page.campaigns
            .iter()
            .map(|c| c.id.get())
            .collect::<Vec<_>>(),
        [5, 7, 9, 11]
    );
    let beyond = store
        .list_campaigns(
            acme.id,
            &CampaignFilter::default(),
            Page {
                limit: 10,
                offset: 1000,
            },
        )
        .await
        .unwrap();
    assert_eq!((beyond.campaigns.len(), beyond.total), (0, 30));
}

/// Walking with `campaigns_after` visits every campaign once, in id order.
pub async fn the_export_walk_visits_every_campaign_once(store: &dyn Store) {
    let acme = center(store, "acme").await;
    let records = (0..25)
        .map(|i| doc(json!({"name": format!("c{i}")})))
        .collect();
    store
        .import_campaigns(acme.id, records, None)
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let batch = store.campaigns_after(acme.id, after, 7).await.unwrap();
        let Some(last) = batch.last() else { break };
        after = Some(last.id);
        seen.extend(batch.iter().map(|c| c.id.get()));
    }
    assert_eq!(seen, (1..=25).collect::<Vec<_>>());
}

fn ctx(request: &str) -> WriteContext {
    WriteContext {
        key_id: ApiKeyId::new(7),
        request_id: Some(request.to_owned()),
    }
}

/// A live campaign's settings: one that takes leads.
fn settings(name: &str) -> CampaignSettings {
    CampaignSettings {
        live: true,
        ..CampaignSettings::with_defaults(name.parse().expect("a valid name"))
    }
}

fn lead(value: &Value) -> Lead {
    Lead::parse(value).expect("test lead is valid")
}

fn leads<'a>(numbers: impl IntoIterator<Item = &'a str>) -> Vec<Lead> {
    numbers
        .into_iter()
        .map(|n| lead(&json!({ "phone_number": n })))
        .collect()
}

fn numbers(list: &[PhoneNumber]) -> Vec<&str> {
    list.iter().map(PhoneNumber::as_str).collect()
}

/// Gives a campaign what `start` needs: an assigned user (imported for it,
/// id 10000 + the campaign's) and an active lead.
async fn staff(store: &dyn Store, center: ContactCenterId, campaign: CampaignId) {
    let id = 10_000 + campaign.get();
    store
        .import_users(
            center,
            users([json!({"id": id, "name": "Agent", "email": "agent@x"})]),
            None,
        )
        .await
        .unwrap();
    store
        .assign_users(ctx("staff"), center, campaign, vec![uid(id)])
        .await
        .unwrap();
    store
        .import_leads(ctx("staff"), center, campaign, leads(["15550000001"]))
        .await
        .unwrap();
}

fn patch(value: Value) -> CampaignPatch {
    CampaignPatch::parse(value).expect("a valid patch")
}

fn status_of(result: &Result<Written, WriteError>) -> Result<Status, String> {
    match result {
        Ok(w) => Ok(w.campaign.status),
        Err(e) => Err(format!("{e:?}")),
    }
}

/// Creates start as drafts with the next id, names are unique (staged
/// rows of an unfinished import included), and every action follows the
/// lifecycle table, a refused one naming the status.
pub async fn campaign_writes_follow_the_lifecycle(store: &dyn Store) {
    let acme = center(store, "acme").await;
    let first = store
        .create_campaign(ctx("r1"), acme.id, settings("Spring"))
        .await
        .unwrap();
    assert_eq!(first.campaign.status, Status::Draft);
    assert_eq!(first.campaign.id.get(), 1);
    assert_eq!(first.campaign.created_at, first.campaign.updated_at);
    let taken = store
        .create_campaign(ctx("r2"), acme.id, settings("Spring"))
        .await;
    assert!(
        matches!(&taken, Err(WriteError::Invalid(e)) if e.get("name") == Some(&["has already been taken".to_owned()][..])),
        "{taken:?}"
    );
    let import = store.begin_import(acme.id).await.unwrap();
    store
        .stage_import(import, batch([json!({"name": "Staged"})]))
        .await
        .unwrap();
    let staged = store
        .create_campaign(ctx("r3"), acme.id, settings("Staged"))
        .await;
    assert!(matches!(staged, Err(WriteError::Invalid(_))), "{staged:?}");
    store.abandon_import(import, None).await.unwrap();

    let id = first.campaign.id;
    let act = |action| store.act_on_campaign(ctx("act"), acme.id, id, action, None);
    assert_eq!(
        status_of(&act(Action::Pause).await),
        Err(format!(
            "{:?}",
            WriteError::from(Status::Draft.after(Action::Pause).unwrap_err())
        ))
    );
    let unstaffed = act(Action::Start).await.unwrap_err();
    assert_eq!(
        unstaffed.to_string(),
        "leads: cannot start a campaign without active leads; \
         users: cannot start a campaign without assigned users"
    );
    staff(store, acme.id, id).await;
    assert_eq!(status_of(&act(Action::Start).await), Ok(Status::Active));
    let refused = store
        .delete_campaign(ctx("del"), acme.id, id, None)
        .await
        .unwrap_err();
    assert_eq!(
        refused.to_string(),
        "status: cannot delete a campaign that is active"
    );
    assert_eq!(status_of(&act(Action::Pause).await), Ok(Status::Paused));
    let again = act(Action::Pause).await.unwrap_err();
    assert_eq!(
        again.to_string(),
        "status: cannot pause a campaign that is paused"
    );
    assert_eq!(status_of(&act(Action::Start).await), Ok(Status::Active));
    assert_eq!(status_of(&act(Action::Stop).await), Ok(Status::Stopped));
    let read = store.get_campaign(acme.id, id).await.unwrap().unwrap();
    assert_eq!(read.status, Status::Stopped);
    let deleted = store
        .delete_campaign(ctx("del"), acme.id, id, None)
        .await
        .unwrap();
    assert_eq!(
        deleted.campaign, read,
        "a delete answers the campaign as it was"
    );
    assert!(store.get_campaign(acme.id, id).await.unwrap().is_none());
    let gone = store
        .act_on_campaign(ctx("x"), acme.id, id, Action::Start, None)
        .await;
    assert!(matches!(gone, Err(WriteError::NotFound)), "{gone:?}");
    // The deleted campaign's id and name: the name is free, the id is not.
    let next = store
        .create_campaign(ctx("r4"), acme.id, settings("Spring"))
        .await
        .unwrap();
    assert!(
        next.campaign.id > id,
        "ids are never reused: {:?}",
        next.campaign.id
    );
}

/// A patch merges into the stored campaign, bumps `updated_at` (strictly,
/// even within one millisecond), keeps names unique, and is refused while
/// the system is moving the campaign.
pub async fn patches_merge_and_always_move_updated_at(store: &dyn Store) {
    let acme = center(store, "acme").await;
    let a = store
        .create_campaign(ctx("r"), acme.id, settings("A"))
        .await
        .unwrap();
    store
        .create_campaign(ctx("r"), acme.id, settings("B"))
        .await
        .unwrap();
    let id = a.campaign.id;
    let mut last = a.campaign.updated_at;
    for level in [2, 3, 4] {
        let w = store
            .update_campaign(
                ctx("p"),
                acme.id,
                id,
                patch(json!({"dial_level": level})),
                None,
            )
            .await
            .unwrap();
        assert!(
            w.campaign.updated_at > last,
            "updated_at moves on every write"
        );
        last = w.campaign.updated_at;
        assert_eq!(w.campaign.settings.name.as_str(), "A");
        assert_eq!(
            w.body,
            store.get_campaign_body(acme.id, id).await.unwrap().unwrap()
        );
    }
    let renamed = store
        .update_campaign(ctx("p"), acme.id, id, patch(json!({"name": "B"})), None)
        .await;
    assert!(
        matches!(renamed, Err(WriteError::Invalid(_))),
        "{renamed:?}"
    );
    let same = store
        .update_campaign(ctx("p"), acme.id, id, patch(json!({"name": "A"})), None)
        .await;
    assert!(
        same.is_ok(),
        "keeping its own name is not a clash: {same:?}"
    );
    let partial = store
        .update_campaign(
            ctx("p"),
            acme.id,
            id,
            patch(json!({"dial_level_override": {"value": 2}})),
            None,
        )
        .await;
    assert!(
        matches!(&partial, Err(WriteError::Invalid(e)) if e.get("dial_level_override.enabled").is_some()),
        "{partial:?}"
    );
    let import = store.begin_import(acme.id).await.unwrap();
    store
        .stage_import(
            import,
            batch([json!({"name": "Busy", "status": "processing"})]),
        )
        .await
        .unwrap();
    let summary = store.publish_import(import, None).await.unwrap();
    let (busy, _) = summary.id_range.unwrap();
    let refused = store
        .update_campaign(
            ctx("p"),
            acme.id,
            busy,
            patch(json!({"dial_level": 2})),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(
        refused.to_string(),
        "status: cannot update a campaign that is processing"
    );
}

/// `If-Match` is checked against the stored body's tag inside the write:
/// a stale tag changes nothing, the current one and `*` go through, and of
/// writers racing with one tag exactly one wins.
pub async fn if_match_is_checked_inside_the_write(store: &dyn Store) {
    let acme = center(store, "acme").await;
    let w = store
        .create_campaign(ctx("r"), acme.id, settings("A"))
        .await
        .unwrap();
    let id = w.campaign.id;
    let body = store.get_campaign_body(acme.id, id).await.unwrap().unwrap();
    assert_eq!(w.etag, EntityTag::of(&body), "the tag is the served body's");
    let stale = Expected::OneOf(vec!["\"0000000000000000\"".into()]);
    let refused = store
        .update_campaign(
            ctx("p"),
            acme.id,
            id,
            patch(json!({"dial_level": 2})),
            Some(stale.clone()),
        )
        .await;
    assert!(
        matches!(refused, Err(WriteError::PreconditionFailed)),
        "{refused:?}"
    );
    let refused = store
        .act_on_campaign(ctx("p"), acme.id, id, Action::Start, Some(stale.clone()))
        .await;
    assert!(
        matches!(refused, Err(WriteError::PreconditionFailed)),
        "{refused:?}"
    );
    let refused = store
        .delete_campaign(ctx("p"), acme.id, id, Some(stale))
        .await;
    assert!(
        matches!(refused, Err(WriteError::PreconditionFailed)),
        "{refused:?}"
    );
    assert_eq!(
        store.get_campaign_body(acme.id, id).await.unwrap().unwrap(),
        body
    );

    let current = Expected::OneOf(vec![w.etag.to_string()]);
    let race = |level: i64| {
        store.update_campaign(
            ctx("race"),
            acme.id,
            id,
            patch(json!({"dial_level": level})),
            Some(current.clone()),
        )
    };
    let results = tokio::join!(race(2), race(3), race(4), race(5));
    let results = [results.0, results.1, results.2, results.3];
    let won: Vec<_> = results.iter().filter(|r| r.is_ok()).collect();
    assert_eq!(won.len(), 1, "exactly one racer wins: {results:?}");
    assert!(
        results
            .iter()
            .all(|r| r.is_ok() || matches!(r, Err(WriteError::PreconditionFailed))),
        "{results:?}"
    );
    let winner = won[0].as_ref().unwrap();
    assert_eq!(
        store.get_campaign_body(acme.id, id).await.unwrap().unwrap(),
        winner.body
    );
    staff(store, acme.id, id).await;
    let any = store
        .act_on_campaign(ctx("p"), acme.id, id, Action::Start, Some(Expected::Any))
        .await;
    assert_eq!(status_of(&any), Ok(Status::Active));
    let missing = store
        .act_on_campaign(
            ctx("p"),
            acme.id,
            CampaignId::new(99).unwrap(),
            Action::Start,
            Some(Expected::Any),
        )
        .await;
    assert!(matches!(missing, Err(WriteError::NotFound)), "{missing:?}");
}

/// Every successful write leaves one audit record and one change, in
/// order, naming the key and the request; a refused one leaves neither,
/// even when it shares a commit with writes that succeed.
pub async fn every_write_is_audited_and_a_failed_one_is_not(store: &dyn Store) {
    let acme = center(store, "acme").await;
    let other = center(store, "other").await;
    let changes_before = store.latest_change().await.unwrap();
    // Four creates at once, two with one name: they share commits, and the
    // one that loses the name rolls back alone.
    let create = |name: &'static str, request: &'static str| {
        store.create_campaign(ctx(request), acme.id, settings(name))
    };
    let (a, b, c, d) = tokio::join!(
        create("A", "c1"),
        create("B", "c2"),
        create("A", "c3"),
        create("C", "c4")
    );
    let created = [&a, &b, &c, &d].iter().filter(|r| r.is_ok()).count();
    assert_eq!(created, 3, "{a:?} {b:?} {c:?} {d:?}");
    let id = b.unwrap().campaign.id;
    staff(store, acme.id, id).await;
    store
        .act_on_campaign(ctx("s"), acme.id, id, Action::Start, None)
        .await
        .unwrap();
    store
        .act_on_campaign(ctx("s2"), acme.id, id, Action::Start, None)
        .await
        .unwrap_err();
    store
        .update_campaign(
            ctx("u"),
            acme.id,
            id,
            patch(json!({"max_dial_time": 30})),
            None,
        )
        .await
        .unwrap();
    store
        .create_campaign(WriteContext::default(), other.id, settings("A"))
        .await
        .unwrap();

    let query = |campaign| AuditQuery {
        center: acme.id,
        campaign,
        since: None,
        after: None,
        limit: 100,
    };
    let all = store.audit_records(&query(None)).await.unwrap();
    let actions: Vec<_> = all.iter().map(|r| r.action).collect();
    assert_eq!(actions.len(), 7, "{all:#?}");
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == AuditAction::Create)
            .count(),
        3
    );
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq), "oldest first");
    let mine = store.audit_records(&query(Some(id))).await.unwrap();
    let summary: Vec<_> = mine
        .iter()
        .map(|r| {
            (
                r.action,
                r.status_before,
                r.status_after,
                r.request_id.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (AuditAction::Create, None, Some(Status::Draft), Some("c2")),
            (
                AuditAction::AssignUsers,
                Some(Status::Draft),
                Some(Status::Draft),
                Some("staff")
            ),
            (
                AuditAction::ImportLeads,
                Some(Status::Draft),
                Some(Status::Draft),
                Some("staff")
            ),
            (
                AuditAction::Start,
                Some(Status::Draft),
                Some(Status::Active),
                Some("s")
            ),
            (
                AuditAction::Update,
                Some(Status::Active),
                Some(Status::Active),
                Some("u")
            ),
        ]
    );
    assert!(
        mine.iter()
            .all(|r| r.key_id == ApiKeyId::new(7) && r.contact_center_id == acme.id)
    );
    let since = store
        .audit_records(&AuditQuery {
            since: Some(mine[4].at),
            ..query(Some(id))
        })
        .await
        .unwrap();
    assert!(since.iter().all(|r| r.at >= mine[4].at) && !since.is_empty());
    let page = store
        .audit_records(&AuditQuery {
            after: Some(all[1].seq),
            limit: 2,
            ..query(None)
        })
        .await
        .unwrap();
    assert_eq!(page, all[2..4]);

    // Assignments and lead imports change no campaign body: no change row.
    let changes = store
        .changes_since(&changes_before, 100)
        .await
        .unwrap()
        .changes;
    let campaign_changes = changes
        .iter()
        .filter(|c| matches!(c, Change::Campaign(center, _) if *center == acme.id))
        .count();
    assert_eq!(
        campaign_changes, 5,
        "one change per successful write: {changes:?}"
    );
}

fn users(values: impl IntoIterator<Item = Value>) -> Vec<UserRecord> {
    values
        .into_iter()
        .enumerate()
        .map(|(index, value)| UserRecord {
            index,
            document: UserDocument::parse(&value).expect("test user is valid"),
        })
        .collect()
}

fn uid(id: i64) -> UserId {
    UserId::new(id).unwrap()
}

/// Users import all or nothing, keep given ids and their other keys, take
/// free ids otherwise, and list by id per center.
pub async fn users_import_all_or_nothing_and_list_by_id(store: &dyn Store) {
    let acme = center(store, "acme").await;
    let other = center(store, "other").await;
    let n = store
        .import_users(
            acme.id,
            users([
                json!({"name": "No id", "email": "a@x"}),
                json!({"id": 1, "name": "One", "email": "one@x", "timezone": "UTC"}),
                json!({"id": 5, "name": "Five", "email": "five@x"}),
            ]),
            None,
        )
        .await
        .unwrap();
    assert_eq!(n, 3);
    let page = store.list_users(acme.id, Page::default()).await.unwrap();
    let ids: Vec<i64> = page.users.iter().map(|u| u.id.get()).collect();
    assert_eq!(ids, [1, 2, 5], "the record without an id took a free one");
    assert_eq!(page.total, 3);
    assert_eq!(page.users[0].attributes["timezone"], "UTC");
    let second = store
        .list_users(
            acme.id,
            Page {
                limit: 1,
                offset: 1,
            },
        )
        .await
        .unwrap();
    assert_eq!((second.users[0].id.get(), second.total), (2, 3));
    let refused = store
        .import_users(
            acme.id,
            users([
                json!({"id": 7, "name": "Seven", "email": "s@x"}),
                json!({"id": 5, "name": "Again", "email": "f@x"}),
                json!({"id": 7, "name": "Twice", "email": "t@x"}),
            ]),
            None,
        )
        .await
        .unwrap_err();
    let StoreError::ImportRejected(problems) = refused else {
        panic!("{refused:?}")
    };
    assert_eq!(problems.iter().map(|p| p.index).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(
        store
            .list_users(acme.id, Page::default())
            .await
            .unwrap()
            .total,
        3
    );
    assert_eq!(
        store
            .list_users(other.id, Page::default())
            .await
            .unwrap()
            .total,
        0
    );
}

/// Assignments follow SPEC §9: new ones answered once, unknown ids refuse
/// the request, terminal campaigns refuse it, the last user of an active
/// campaign stays, and every change is audited.
pub async fn users_are_assigned_and_removed_as_specified(store: &dyn Store) {
    let acme = center(store, "acme").await;
    let other = center(store, "other").await;
    let people = [
        json!({"id": 1, "name": "A", "email": "a@x"}),
        json!({"id": 2, "name": "B", "email": "b@x"}),
    ];
    store
        .import_users(acme.id, users(people.clone()), None)
        .await
        .unwrap();
    store
        .import_users(
            other.id,
            users([json!({"id": 9, "name": "Z", "email": "z@x"})]),
            None,
        )
        .await
        .unwrap();
    let campaign = store
        .create_campaign(ctx("c"), acme.id, settings("C"))
        .await
        .unwrap()
        .campaign
        .id;
    let added = store
        .assign_users(ctx("a1"), acme.id, campaign, vec![uid(2), uid(1), uid(2)])
        .await
        .unwrap();
    assert_eq!(added.iter().map(|u| u.id.get()).collect::<Vec<_>>(), [1, 2]);
    let again = store
        .assign_users(ctx("a2"), acme.id, campaign, vec![uid(1)])
        .await
        .unwrap();
    assert!(again.is_empty(), "already assigned: not repeated");
    let foreign = store
        .assign_users(ctx("a3"), acme.id, campaign, vec![uid(1), uid(9), uid(77)])
        .await;
    match foreign {
        Err(WriteError::Invalid(e)) => assert_eq!(
            e.get("user_ids").unwrap(),
            ["9 does not exist", "77 does not exist"]
        ),
        other => panic!("{other:?}"),
    }
    let missing = store
        .assign_users(
            ctx("a4"),
            acme.id,
            CampaignId::new(99).unwrap(),
            vec![uid(1)],
        )
        .await;
    assert!(matches!(missing, Err(WriteError::NotFound)), "{missing:?}");
    let listed = store
        .campaign_users(acme.id, campaign, Page::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((listed.total, listed.users.len()), (2, 2));
    assert!(
        store
            .campaign_users(other.id, campaign, Page::default())
            .await
            .unwrap()
            .is_none(),
        "another center's campaign does not exist"
    );

    store
        .import_leads(ctx("l"), acme.id, campaign, leads(["15550000001"]))
        .await
        .unwrap();
    store
        .act_on_campaign(ctx("s"), acme.id, campaign, Action::Start, None)
        .await
        .unwrap();
    let removed = store
        .remove_user(ctx("r1"), acme.id, campaign, uid(1))
        .await
        .unwrap();
    assert_eq!(removed.name, "A");
    let last = store
        .remove_user(ctx("r2"), acme.id, campaign, uid(2))
        .await;
    assert!(
        matches!(&last, Err(WriteError::Conflict(e)) if e.get("users").is_some()),
        "{last:?}"
    );
    let not_assigned = store
        .remove_user(ctx("r3"), acme.id, campaign, uid(1))
        .await;
    assert!(
        matches!(not_assigned, Err(WriteError::NotFound)),
        "{not_assigned:?}"
    );
    store
        .act_on_campaign(ctx("p"), acme.id, campaign, Action::Stop, None)
        .await
        .unwrap();
    let stopped = store
        .assign_users(ctx("a5"), acme.id, campaign, vec![uid(1)])
        .await;
    assert!(
        matches!(stopped, Err(WriteError::Conflict(_))),
        "{stopped:?}"
    );
    let trail = store
        .audit_records(&AuditQuery {
            center: acme.id,
            campaign: Some(campaign),
            since: None,
            after: None,
            limit: 100,
        })
        .await
        .unwrap();
    let actions: Vec<_> = trail.iter().map(|r| r.action).collect();
    assert_eq!(
        actions,
        [
            AuditAction::Create,
            AuditAction::AssignUsers,
            AuditAction::AssignUsers,
            AuditAction::ImportLeads,
            AuditAction::Start,
            AuditAction::RemoveUser,
            AuditAction::Stop,
        ]
    );
}

/// An assignment goes with its campaign and with its user.
pub async fn assignments_go_with_their_campaign_and_their_user(store: &dyn Store) {
    let acme = center(store, "acme").await;
    store
        .import_users(
            acme.id,
            users([
                json!({"id": 1, "name": "A", "email": "a@x"}),
                json!({"id": 2, "name": "B", "email": "b@x"}),
            ]),
            None,
        )
        .await
        .unwrap();
    let mut campaigns = Vec::new();
    for name in ["C1", "C2"] {
        let id = store
            .create_campaign(ctx("c"), acme.id, settings(name))
            .await
            .unwrap()
            .campaign
            .id;
        store
            .assign_users(ctx("a"), acme.id, id, vec![uid(1), uid(2)])
            .await
            .unwrap();
        campaigns.push(id);
    }
    assert!(store.delete_user(acme.id, uid(1)).await.unwrap());
    assert!(!store.delete_user(acme.id, uid(1)).await.unwrap());
    for id in &campaigns {
        let page = store
            .campaign_users(acme.id, *id, Page::default())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            page.users.iter().map(|u| u.id.get()).collect::<Vec<_>>(),
            [2]
        );
    }
    store
        .delete_campaign(ctx("d"), acme.id, campaigns[0], None)
        .await
        .unwrap();
    assert!(
        store
            .campaign_users(acme.id, campaigns[0], Page::default())
            .await
            .unwrap()
            .is_none()
    );
    // A new campaign never inherits a deleted one's users.
    let fresh = store
        .create_campaign(ctx("c"), acme.id, settings("C1"))
        .await
        .unwrap()
        .campaign
        .id;
    assert_eq!(
        store
            .campaign_users(acme.id, fresh, Page::default())
            .await
            .unwrap()
            .unwrap()
            .total,
        0
    );
}

/// An import creates each new number once, in the order given, reports
/// the rest as duplicates (of the campaign or of the import), keeps every
/// field, and the campaign lists its leads by priority, then import order.
pub async fn leads_import_once_and_list_by_priority(store: &dyn Store) {
    let acme = center(store, "acme").await;
    let id = store
        .create_campaign(ctx("c"), acme.id, settings("C"))
        .await
        .unwrap()
        .campaign
        .id;
    let first = store
        .import_leads(
            ctx("l1"),
            acme.id,
            id,
            vec![
                lead(&json!({"phone_number": "15550000003", "priority": 900})),
                lead(&json!({
                    "phone_number": "15550000001", "name": "Ann", "priority": 10, "active": false,
                    "source": {"system": "crm", "url": "https://crm.example/1"},
                    "context_headers": {"X-Ref": "a1", "X-Alt": "b"}
                })),
                lead(&json!({"phone_number": "15550000003"})),
                lead(&json!({"phone_number": "15550000002"})),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        numbers(&first.created),
        ["15550000003", "15550000001", "15550000002"]
    );
    assert_eq!(numbers(&first.duplicates), ["15550000003"]);
    let second = store
        .import_leads(
            ctx("l2"),
            acme.id,
            id,
            leads(["15550000002", "15550000004", "15550000001"]),
        )
        .await
        .unwrap();
    assert_eq!(numbers(&second.created), ["15550000004"]);
    assert_eq!(numbers(&second.duplicates), ["15550000002", "15550000001"]);

    let page = store
        .campaign_leads(acme.id, id, Page::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(page.total, 4);
    let order: Vec<_> = page
        .leads
        .iter()
        .map(|r| r.lead.phone_number.as_str())
        .collect();
    assert_eq!(
        order,
        ["15550000001", "15550000002", "15550000004", "15550000003"],
        "priority 10, then the two at 500 in import order, then 900"
    );
    let ann = &page.leads[0];
    assert_eq!(
        serde_json::to_value(&ann.lead).unwrap(),
        json!({
            "phone_number": "15550000001", "name": "Ann",
            "source": {"system": "crm", "url": "https://crm.example/1"},
            "priority": 10, "active": false,
            "context_headers": {"X-Ref": "a1", "X-Alt": "b"}
        }),
        "every field, headers in the order given"
    );
    let paged = store
        .campaign_leads(
            acme.id,
            id,
            Page {
                limit: 2,
                offset: 2,
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!((paged.total, paged.leads.len()), (4, 2));
    assert_eq!(paged.leads[0].lead.phone_number.as_str(), "15550000004");
}

/// Only a live campaign that is not stopping, stopped or completed takes
/// leads; a missing campaign, or another center's, is not found.
pub async fn leads_go_only_into_live_campaigns_of_the_center(store: &dyn Store) {
    let acme = center(store, "acme").await;
    let other = center(store, "other").await;
    let id = store
        .create_campaign(ctx("c"), acme.id, settings("C"))
        .await
        .unwrap()
        .campaign
        .id;
    let import =
        |center, campaign| store.import_leads(ctx("l"), center, campaign, leads(["15550000001"]));
    let foreign = import(other.id, id).await;
    assert!(matches!(foreign, Err(WriteError::NotFound)), "{foreign:?}");
    assert!(
        store
            .campaign_leads(other.id, id, Page::default())
            .await
            .unwrap()
            .is_none()
    );
    let missing = import(acme.id, CampaignId::new(99).unwrap()).await;
    assert!(matches!(missing, Err(WriteError::NotFound)), "{missing:?}");

    store
        .update_campaign(ctx("u"), acme.id, id, patch(json!({"live": false})), None)
        .await
        .unwrap();
    let dead = import(acme.id, id).await.unwrap_err();
    assert_eq!(
        dead.to_string(),
        "live: leads can only be imported into a live campaign"
    );
    store
        .update_campaign(ctx("u"), acme.id, id, patch(json!({"live": true})), None)
        .await
        .unwrap();
    assert_eq!(import(acme.id, id).await.unwrap().created.len(), 1);
    staff(store, acme.id, id).await;
    store
        .act_on_campaign(ctx("s"), acme.id, id, Action::Start, None)
        .await
        .unwrap();
    store
        .act_on_campaign(ctx("s"), acme.id, id, Action::Stop, None)
        .await
        .unwrap();
    let stopped = import(acme.id, id).await.unwrap_err();
    assert_eq!(
        stopped.to_string(),
        "status: cannot import leads into a campaign that is stopped"
    );
    let page = store
        .campaign_leads(acme.id, id, Page::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(page.total, 1, "refused imports left nothing");
}

/// `start` needs an assigned user and an active lead; an inactive lead
/// is not enough.
pub async fn a_campaign_starts_only_with_users_and_active_leads(store: &dyn Store) {
    let acme = center(store, "acme").await;
    let id = store
        .create_campaign(ctx("c"), acme.id, settings("C"))
        .await
        .unwrap()
        .campaign
        .id;
    let start = || store.act_on_campaign(ctx("s"), acme.id, id, Action::Start, None);
    store
        .import_leads(
            ctx("l"),
            acme.id,
            id,
            vec![lead(
                &json!({"phone_number": "15550000009", "active": false}),
            )],
        )
        .await
        .unwrap();
    store
        .import_users(
            acme.id,
            users([json!({"id": 1, "name": "A", "email": "a@x"})]),
            None,
        )
        .await
        .unwrap();
    store
        .assign_users(ctx("a"), acme.id, id, vec![uid(1)])
        .await
        .unwrap();
    match start().await {
        Err(WriteError::Conflict(e)) => {
            assert_eq!(
                e.get("leads").unwrap(),
                ["cannot start a campaign without active leads"]
            );
            assert!(e.get("users").is_none(), "{e}");
        }
        other => panic!("{other:?}"),
    }
    store
        .import_leads(ctx("l"), acme.id, id, leads(["15550000010"]))
        .await
        .unwrap();
    assert_eq!(status_of(&start().await), Ok(Status::Active));
    store
        .act_on_campaign(ctx("p"), acme.id, id, Action::Pause, None)
        .await
        .unwrap();
    store.delete_user(acme.id, uid(1)).await.unwrap();
    match start().await {
        Err(WriteError::Conflict(e)) => assert_eq!(
            e.get("users").unwrap(),
            ["cannot start a campaign without assigned users"]
        ),
        other => panic!("resuming needs users too: {other:?}"),
    }
}

/// Leads go with their campaign, and a number may be in many campaigns.
pub async fn leads_go_with_their_campaign(store: &dyn Store) {
    let acme = center(store, "acme").await;
    let mut ids = Vec::new();
    for name in ["C1", "C2"] {
        let id = store
            .create_campaign(ctx("c"), acme.id, settings(name))
            .await
            .unwrap()
            .campaign
            .id;
        let imported = store
            .import_leads(ctx("l"), acme.id, id, leads(["15550000001", "15550000002"]))
            .await
            .unwrap();
        assert_eq!(imported.created.len(), 2, "{name}: a number per campaign");
        ids.push(id);
    }
    store
        .delete_campaign(ctx("d"), acme.id, ids[0], None)
        .await
        .unwrap();
    assert!(
        store
            .campaign_leads(acme.id, ids[0], Page::default())
            .await
            .unwrap()
            .is_none()
    );
    let kept = store
        .campaign_leads(acme.id, ids[1], Page::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.total, 2);
    let fresh = store
        .create_campaign(ctx("c"), acme.id, settings("C1"))
        .await
        .unwrap()
        .campaign
        .id;
    assert_eq!(
        store
            .campaign_leads(acme.id, fresh, Page::default())
            .await
            .unwrap()
            .unwrap()
            .total,
        0,
        "a new campaign never inherits a deleted one's leads"
    );
}

/// Imports that reach the store at once still create each number exactly
/// once between them.
pub async fn concurrent_imports_create_each_number_once(store: &dyn Store) {
    let acme = center(store, "acme").await;
    let id = store
        .create_campaign(ctx("c"), acme.id, settings("C"))
        .await
        .unwrap()
        .campaign
        .id;
    let batch = |from: u32| -> Vec<Lead> {
        (from..from + 200)
            .map(|n| lead(&json!({ "phone_number": format!("1555{n:07}") })))
            .collect()
    };
    let import = |from| store.import_leads(ctx("race"), acme.id, id, batch(from));
    let (a, b, c) = tokio::join!(import(0), import(100), import(150));
    let results = [a.unwrap(), b.unwrap(), c.unwrap()];
    let created: usize = results.iter().map(|r| r.created.len()).sum();
    let duplicates: usize = results.iter().map(|r| r.duplicates.len()).sum();
    assert_eq!(created, 350, "numbers 0..350, each once");
    assert_eq!(duplicates, 600 - 350);
    let page = store
        .campaign_leads(acme.id, id, Page::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(page.total, 350);
}

/// A fresh PostgreSQL database for one test, on the server named by
/// `CAMPAIGND_TEST_POSTGRES_URL`, dropped (with any connection left to it)
/// when this is.
pub struct TempDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl TempDatabase {
    /// Creates the database; `None`, with the reason printed, when
    /// `CAMPAIGND_TEST_POSTGRES_URL` is not set. Panics if it is set and the
    /// server cannot be reached: CI sets it so those tests run.
    pub async fn create() -> Option<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let Ok(admin_url) = std::env::var("CAMPAIGND_TEST_POSTGRES_URL") else {
            eprintln!("skipped: CAMPAIGND_TEST_POSTGRES_URL is not set");
            return None;
        };
        let name = format!(
            "campaignd_test_{}_{}_{}",
            std::process::id(),
            Timestamp::now().unix_millis(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let (client, connection) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("cannot reach CAMPAIGND_TEST_POSTGRES_URL: {e}"));
        let task = tokio::spawn(connection);
        drop_orphans(&client).await;
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create the test database");
        drop(client);
        let _ = task.await;
        let url = with_database(&admin_url, &name);
        Some(Self {
            admin_url,
            name,
            url,
        })
    }

    /// The database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Keeps the database until this process ends (a later test run drops
    /// it): for a test that goes on using a store after its server, which
    /// owned this, has stopped.
    pub fn keep_until_exit(self) {
        static KEPT: std::sync::Mutex<Vec<TempDatabase>> = std::sync::Mutex::new(Vec::new());
        KEPT.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(self);
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Its own thread and runtime: a test's runtime may be ending.
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime")
                .block_on(async {
                    let (client, connection) =
                        tokio_postgres::connect(&admin_url, tokio_postgres::NoTls).await?;
                    tokio::spawn(connection);
                    client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await
                })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

/// Drops the test databases of processes that have ended: a database a
/// test process kept to its end, or one whose test was killed.
async fn drop_orphans(client: &tokio_postgres::Client) {
    let Ok(rows) = client
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE 'campaignd\\_test\\_%'",
            &[],
        )
        .await
    else {
        return;
    };
    for row in rows {
        let name: String = row.get(0);
        let pid = name.split('_').nth(2).unwrap_or_default();
        if !pid.is_empty() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = client
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
        }
    }
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..host_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// Every table's rows, as a copy reads them, digested.
async fn digests(store: &dyn Store) -> Vec<(&'static str, u64, String)> {
    let mut out = Vec::new();
    for table in crate::transfer::Table::ALL {
        let mut digest = crate::transfer::TableDigest::default();
        let mut after = None;
        loop {
            let rows = store.read_rows(table, after.clone(), 500).await.unwrap();
            let Some(last) = rows.last() else { break };
            after = Some(last.clone());
            for r in &rows {
                digest.add(r);
            }
        }
        out.push((table.name(), digest.rows, digest.hex()));
    }
    out
}

/// An emulator reset puts every table back as it was kept, whatever was
/// written since (campaigns, keys, users, leads, centers, audit), tells the
/// change log, and can be done again; ids taken after the keep are free
/// again for campaigns (each center's counter goes back).
pub async fn a_reset_puts_every_table_back_as_kept(store: &dyn Store) {
    let acme = center(store, "acme").await;
    let kept = store
        .create_campaign(ctx("c1"), acme.id, settings("Kept"))
        .await
        .unwrap()
        .campaign;
    store
        .import_users(
            acme.id,
            users([json!({"name": "Ann", "email": "ann@x.example"})]),
            None,
        )
        .await
        .unwrap();
    store
        .assign_users(ctx("a"), acme.id, kept.id, vec![uid(1)])
        .await
        .unwrap();
    store
        .import_leads(
            ctx("l"),
            acme.id,
            kept.id,
            vec![lead(&json!({"phone_number": "15550000001"}))],
        )
        .await
        .unwrap();
    let (_, key) = new_key(&acme, &[Scope::CampaignsRead]);
    let key_hash = key.hash;
    let key_info = store.create_api_key(key).await.unwrap();
    let before = digests(store).await;
    store.keep_start_state().await.unwrap();
    let cursor = store.latest_change().await.unwrap();

    // Everything changes.
    let added = store
        .create_campaign(ctx("c2"), acme.id, settings("Added"))
        .await
        .unwrap()
        .campaign;
    store
        .update_campaign(
            ctx("u"),
            acme.id,
            kept.id,
            CampaignPatch::parse(json!({"name": "Renamed"})).unwrap(),
            None,
        )
        .await
        .unwrap();
    store
        .import_leads(
            ctx("l2"),
            acme.id,
            kept.id,
            vec![lead(&json!({"phone_number": "15550000002"}))],
        )
        .await
        .unwrap();
    store.revoke_api_key(key_info.id).await.unwrap();
    let (_, later) = new_key(&acme, &[Scope::CampaignsRead]);
    let later_hash = later.hash;
    store.create_api_key(later).await.unwrap();
    center(store, "globex").await;
    assert_ne!(digests(store).await, before);

    store.reset_to_start().await.unwrap();
    assert_eq!(digests(store).await, before);
    assert!(
        store.authenticate(&key_hash).await.unwrap().is_some(),
        "a kept key is valid again"
    );
    assert!(
        store.authenticate(&later_hash).await.unwrap().is_none(),
        "a later key is gone"
    );
    let batch = store.changes_since(&cursor, 100).await.unwrap();
    assert_eq!(batch.changes.last(), Some(&Change::Reset));
    // Writes go on from the kept state: the center's next id is the one
    // the added campaign took.
    let again = store
        .create_campaign(ctx("c3"), acme.id, settings("Added"))
        .await
        .unwrap()
        .campaign;
    assert_eq!(again.id, added.id);
    store.reset_to_start().await.unwrap();
    assert_eq!(digests(store).await, before);
}

/// A snapshot saved and then loaded over whatever came after puts every
/// table back as saved (ids, hashes and the secret included); a file cut
/// short, or holding a cell of the wrong kind, is refused with its line.
pub async fn a_snapshot_loads_back_what_was_saved_and_a_cut_one_is_refused(store: &dyn Store) {
    let acme = center(store, "acme").await;
    let campaign = store
        .create_campaign(ctx("c"), acme.id, settings("Saved"))
        .await
        .unwrap()
        .campaign;
    store
        .import_leads(
            ctx("l"),
            acme.id,
            campaign.id,
            vec![lead(&json!({"phone_number": "15550000001"}))],
        )
        .await
        .unwrap();
    let (_, key) = new_key(&acme, &[Scope::CampaignsRead]);
    let key_hash = key.hash;
    store.create_api_key(key).await.unwrap();
    store.server_secret().await.unwrap();
    let saved = digests(store).await;
    let mut file = Vec::new();
    let counts = crate::snapshot::save(store, &mut file, |_, _, _| {})
        .await
        .unwrap();
    assert_eq!(counts["campaigns"], 1);
    assert_eq!(counts["leads"], 1);
    let text = String::from_utf8(file.clone()).unwrap();
    assert!(text.starts_with(r#"{"campaignd_snapshot":1,"#), "{text}");

    store
        .create_campaign(ctx("c2"), acme.id, settings("Later"))
        .await
        .unwrap();
    center(store, "globex").await;
    crate::snapshot::load(store, || Ok(file.as_slice()), |_, _, _| {})
        .await
        .unwrap();
    assert_eq!(digests(store).await, saved);
    assert!(store.authenticate(&key_hash).await.unwrap().is_some());
    // New rows after a load take fresh ids.
    let next = store
        .create_campaign(ctx("c3"), acme.id, settings("Next"))
        .await
        .unwrap()
        .campaign;
    assert_eq!(next.id.get(), campaign.id.get() + 1);

    let lines: Vec<&str> = text.lines().collect();
    let cut = lines[..lines.len() - 1].join("\n");
    let error = crate::snapshot::load(store, || Ok(cut.as_bytes()), |_, _, _| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("cut short"), "{error}");
    let mut wrong: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    let at = wrong
        .iter()
        .position(|l| l.contains(r#""table":"campaigns""#))
        .unwrap();
    wrong[at] = wrong[at].replacen(r#""row":[1,"#, r#""row":["one","#, 1);
    let wrong = wrong.join("\n");
    let error = crate::snapshot::load(store, || Ok(wrong.as_bytes()), |_, _, _| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains(&format!("line {}", at + 1)), "{error}");
    let error = crate::snapshot::load(store, || Ok(&b"{}"[..]), |_, _, _| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("not a campaignd snapshot"), "{error}");
}
