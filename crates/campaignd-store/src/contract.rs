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
    ApiKeyId, ApiKeyToken, CampaignDocument, CampaignId, ContactCenterName, KeyHasher, Scope,
    Scopes, Status, Strategy, SystemFields, Timestamp,
};
use serde_json::{Value, json};

use crate::{
    CampaignFilter, Change, ContactCenter, ImportRecord, MAX_ACTIVE_KEYS, NewApiKey, Page,
    Progress, Store, StoreError,
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
            campaign_ids_are_per_contact_center,
            import_assigns_free_ids_and_keeps_given_ones,
            import_is_all_or_nothing_and_reports_every_conflict,
            import_reports_progress,
            staged_rows_stay_hidden_until_published,
            an_abandoned_import_leaves_nothing_and_frees_its_names,
            an_import_with_refused_records_is_never_published,
            list_filters_count_the_whole_filtered_set,
            the_export_walk_visits_every_campaign_once,
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
    let changes = store.changes_since(before, 100).await.unwrap();
    assert_eq!(
        changes.iter().map(|(_, c)| *c).collect::<Vec<_>>(),
        [Change::ApiKey(info.id)]
    );
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
        store.latest_change().await.unwrap(),
        1,
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
    assert_eq!(
        store.latest_change().await.unwrap(),
        logged,
        "staging logs nothing"
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
    let changes = store.changes_since(logged, 10).await.unwrap();
    assert_eq!(
        changes.iter().map(|(_, c)| *c).collect::<Vec<_>>(),
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
