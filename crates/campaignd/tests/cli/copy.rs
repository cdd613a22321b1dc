//! `campaignd copy` moves a whole SQLite deployment into PostgreSQL: every
//! table, checked by count and checksum, and the copy serves what the
//! original served, to the same keys.

use std::sync::Arc;

use campaignd_model::{
    CampaignDocument, CampaignId, CampaignPatch, Lead, Scope, SystemFields, UserDocument, UserId,
};
use campaignd_store::contract::TempDatabase;
use campaignd_store::prelude::*;
use campaignd_store::{
    AuditQuery, Page, SqliteStore, Store, UserRecord, WriteContext, issue_api_key,
};
use serde_json::json;

use crate::support::{self, serve};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_sqlite_deployment_moves_into_postgres_and_serves_the_same() {
    let Some(target) = TempDatabase::create().await else {
        return;
    };
    let db = support::db();
    let source: Arc<dyn Store> = Arc::new(SqliteStore::open(db.path()).unwrap());
    source.migrate().await.unwrap();
    let acme = source
        .create_contact_center(&"acme".parse().unwrap())
        .await
        .unwrap()
        .id;
    let scopes = [Scope::CampaignsRead, Scope::CampaignsManage]
        .into_iter()
        .collect();
    let (token, _) = issue_api_key(&*source, acme, Some("ci".into()), scopes)
        .await
        .unwrap();
    let (revoked, _) = issue_api_key(
        &*source,
        acme,
        None,
        [Scope::CampaignsRead].into_iter().collect(),
    )
    .await
    .unwrap();
    let campaigns = (1..=30)
        .map(|i| {
            CampaignDocument::parse(
                &json!({"name": format!("Campaign {i}"), "live": true}),
                SystemFields::Accept,
            )
            .unwrap()
        })
        .collect();
    source
        .import_campaigns(acme, campaigns, None)
        .await
        .unwrap();
    let users = (1..=3)
        .map(|i| UserRecord {
            index: i - 1,
            document: UserDocument::parse(&json!({"name": format!("Agent {i}"), "email": format!("a{i}@example.com"), "team": "blue"}))
                .unwrap(),
        })
        .collect();
    source.import_users(acme, users, None).await.unwrap();
    let ctx = WriteContext {
        key_id: None,
        request_id: Some("copy-test".into()),
    };
    let three = CampaignId::new(3).unwrap();
    source
        .assign_users(
            ctx.clone(),
            acme,
            three,
            vec![UserId::new(1).unwrap(), UserId::new(2).unwrap()],
        )
        .await
        .unwrap();
    let leads = (0..50)
        .map(|i| {
            Lead::parse(&json!({"phone_number": format!("1555010{i:04}"), "priority": 1000 - i}))
                .unwrap()
        })
        .collect();
    source
        .import_leads(ctx.clone(), acme, three, leads)
        .await
        .unwrap();
    source
        .update_campaign(
            ctx,
            acme,
            three,
            CampaignPatch::parse(json!({"max_dial_attempts": 7})).unwrap(),
            None,
        )
        .await
        .unwrap();
    let revoked_id = source.list_api_keys(acme).await.unwrap()[1].id;
    source.revoke_api_key(revoked_id).await.unwrap();

    let copy = support::campaignd(
        &db,
        &["copy", "--from", &db.url(), "--to", target.url()],
        &[],
    );
    let out = copy.ok();
    for table in [
        "settings",
        "contact_centers",
        "api_keys",
        "campaigns",
        "users",
        "campaign_users",
        "leads",
        "audit",
    ] {
        let line = out
            .lines()
            .find(|l| l.split_whitespace().next() == Some(table))
            .unwrap_or_else(|| panic!("no line for {table}: {out}"));
        assert!(line.ends_with(" ok"), "{line}");
    }
    assert!(
        out.lines()
            .any(|l| l.starts_with("campaigns") && l.split_whitespace().nth(1) == Some("30")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("leads") && l.split_whitespace().nth(1) == Some("50")),
        "{out}"
    );

    // A second copy into it is refused: it is no longer empty.
    let again = support::campaignd(
        &db,
        &["copy", "--from", &db.url(), "--to", target.url()],
        &[],
    );
    assert_eq!(again.code(), 1, "{}", again.stderr());
    assert!(
        again.stderr().contains("already holds data"),
        "{}",
        again.stderr()
    );

    // The copy serves the same bodies to the same key, and still refuses
    // the revoked one.
    let (mut original, base_original) = serve(&db.url());
    let (mut copied, base_copied) = serve(target.url());
    let http = reqwest::Client::new();
    for path in [
        "/api/v4/campaigns/3",
        "/api/v4/campaigns?limit=100",
        "/api/v4/campaigns/3/leads?limit=100",
        "/api/v4/campaigns/3/users",
    ] {
        let mut bodies = Vec::new();
        for base in [&base_original, &base_copied] {
            let reply = http
                .get(format!("{base}{path}"))
                .bearer_auth(token.expose())
                .send()
                .await
                .unwrap();
            assert_eq!(reply.status(), 200, "{path}");
            bodies.push(reply.text().await.unwrap());
        }
        assert_eq!(bodies[0], bodies[1], "{path}");
    }
    let refused = http
        .get(format!("{base_copied}/api/v4/campaigns/3"))
        .bearer_auth(revoked.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    for node in [&mut original, &mut copied] {
        node.kill().unwrap();
        node.wait().unwrap();
    }

    // The audit trail came along, and the copy takes new writes with new ids.
    let copy_store = campaignd_store::PostgresStore::connect(target.url(), 2).unwrap();
    let query = AuditQuery {
        center: acme,
        campaign: None,
        since: None,
        after: None,
        limit: 100,
    };
    assert_eq!(
        copy_store.audit_records(&query).await.unwrap(),
        source.audit_records(&query).await.unwrap()
    );
    let globex = copy_store
        .create_contact_center(&"globex".parse().unwrap())
        .await
        .unwrap();
    assert!(globex.id > acme, "{globex:?}");
    assert_eq!(
        copy_store
            .campaign_users(acme, three, Page::default())
            .await
            .unwrap()
            .unwrap()
            .total,
        2
    );
}

#[test]
fn a_source_that_does_not_exist_is_refused_not_created() {
    let db = support::db();
    let missing = db.file("missing.db");
    let run = support::campaignd(
        &db,
        &[
            "copy",
            "--from",
            &format!("sqlite://{}", missing.display()),
            "--to",
            &format!("sqlite://{}", db.file("copy.db").display()),
        ],
        &[],
    );
    assert_eq!(run.code(), 1, "{}", run.stderr());
    assert!(run.stderr().contains("does not exist"), "{}", run.stderr());
    assert!(!missing.exists());
}
