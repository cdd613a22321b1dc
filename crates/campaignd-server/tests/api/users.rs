//! Users over real HTTP: SPEC §9, every row, and tenant isolation.

use campaignd_model::Scope;
use serde_json::json;

use campaignd_testkit::{Reply, TestServer};

fn auth(key: &str) -> Vec<(String, String)> {
    let mut headers = vec![("authorization".into(), format!("Bearer {key}"))];
    headers.push(("content-type".into(), "application/json".into()));
    headers
}

fn assert_error(reply: &Reply, status: u16, body: &str) {
    assert_eq!(reply.status.as_u16(), status, "{}", reply.text());
    assert_eq!(reply.text(), body);
}

/// A center with campaign 3 (active) and users 1-3; and another center
/// with user 9. Answers the server, the key (every scope) and the centers.
async fn staffed() -> (TestServer, String, String) {
    let server = TestServer::start().await;
    let acme = server.center("acme").await;
    let other = server.center("other").await;
    server.import_example(acme).await;
    server
        .import_users(
            acme,
            &[
                json!({"id": 1, "name": "Ann", "email": "ann@x.example", "timezone": "UTC"}),
                json!({"id": 2, "name": "Bo", "email": "bo@x.example"}),
                json!({"id": 3, "name": "Cy", "email": "cy@x.example"}),
            ],
        )
        .await;
    server
        .import_users(
            other,
            &[json!({"id": 9, "name": "Zed", "email": "z@x.example"})],
        )
        .await;
    let key = server
        .key(
            acme,
            &[
                Scope::CampaignsRead,
                Scope::CampaignsManage,
                Scope::UsersRead,
            ],
        )
        .await
        .0;
    let other_key = server
        .key(
            other,
            &[
                Scope::CampaignsRead,
                Scope::CampaignsManage,
                Scope::UsersRead,
            ],
        )
        .await
        .0;
    (server, key, other_key)
}

#[tokio::test]
async fn users_list_by_id_paged_as_imported() {
    let (server, key, _) = staffed().await;
    let all = server.send("GET", "/api/v4/users", &auth(&key), None).await;
    assert_eq!(all.status, 200, "{}", all.text());
    assert_eq!(
        all.text(),
        r#"{"users":[{"id":1,"name":"Ann","email":"ann@x.example","timezone":"UTC"},{"id":2,"name":"Bo","email":"bo@x.example"},{"id":3,"name":"Cy","email":"cy@x.example"}],"metadata":{"total":3}}"#
    );
    let page = server
        .send("GET", "/api/v4/users?limit=1&offset=1", &auth(&key), None)
        .await;
    assert_eq!(page.json()["users"][0]["id"], 2);
    assert_eq!(page.json()["metadata"]["total"], 3);
    let bad = server
        .send("GET", "/api/v4/users?limit=0", &auth(&key), None)
        .await;
    assert_eq!(bad.status, 422);
    // users.read is its own scope.
    let center = server.center("third").await;
    let reader = server.reader(center).await;
    let refused = server
        .send("GET", "/api/v4/users", &auth(&reader), None)
        .await;
    assert_error(&refused, 403, r#"{"error":"Forbidden"}"#);
}

#[tokio::test]
async fn users_are_assigned_listed_and_removed_per_spec() {
    let (server, key, _) = staffed().await;
    let post = |body: &'static str| {
        let server = &server;
        let key = key.clone();
        async move {
            server
                .send(
                    "POST",
                    "/api/v4/campaigns/3/users",
                    &auth(&key),
                    Some(body.as_bytes().to_vec()),
                )
                .await
        }
    };
    let added = post(r#"{"user_ids": [2, 1]}"#).await;
    assert_eq!(added.status, 200, "{}", added.text());
    assert_eq!(
        added.text(),
        r#"{"added_users":[{"id":1,"name":"Ann","email":"ann@x.example"},{"id":2,"name":"Bo","email":"bo@x.example"}]}"#
    );
    let again = post(r#"{"user_ids": [1, 3]}"#).await;
    assert_eq!(
        again.json()["added_users"],
        json!([{"id": 3, "name": "Cy", "email": "cy@x.example"}])
    );
    let unknown = post(r#"{"user_ids": [1, 9, 40]}"#).await;
    assert_eq!(
        unknown.json(),
        json!({"errors": {"user_ids": ["9 does not exist", "40 does not exist"]}})
    );
    for (body, field) in [
        ("{}", "user_ids"),
        (r#"{"user_ids": []}"#, "user_ids"),
        (r#"{"user_ids": "1"}"#, "user_ids"),
        (r#"{"user_ids": [0]}"#, "user_ids"),
        (r#"{"user_ids": [1], "x": 1}"#, "x"),
    ] {
        let reply = post(body).await;
        assert_eq!(reply.status, 422, "{body}: {}", reply.text());
        assert!(
            reply.json()["errors"].get(field).is_some(),
            "{body}: {}",
            reply.text()
        );
    }
    let many: Vec<i64> = (1..=101).collect();
    let too_many = server
        .send(
            "POST",
            "/api/v4/campaigns/3/users",
            &auth(&key),
            Some(json!({ "user_ids": many }).to_string().into_bytes()),
        )
        .await;
    assert_eq!(too_many.status, 422);
    assert_error(&post("[1]").await, 400, r#"{"error":"Bad Request"}"#);

    let listed = server
        .send(
            "GET",
            "/api/v4/campaigns/3/users?limit=2",
            &auth(&key),
            None,
        )
        .await;
    assert_eq!(listed.status, 200);
    let ids: Vec<i64> = listed.json()["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [1, 2]);
    assert_eq!(listed.json()["metadata"]["total"], 3);
    assert_eq!(
        listed.json()["users"][0]["timezone"],
        "UTC",
        "full user objects"
    );

    let removed = server
        .send("DELETE", "/api/v4/campaigns/3/users/2", &auth(&key), None)
        .await;
    assert_eq!(
        removed.text(),
        r#"{"user":{"id":2,"name":"Bo","email":"bo@x.example"}}"#
    );
    for path in [
        "/api/v4/campaigns/3/users/2",
        "/api/v4/campaigns/3/users/77",
        "/api/v4/campaigns/3/users/x",
        "/api/v4/campaigns/99/users/1",
    ] {
        let gone = server.send("DELETE", path, &auth(&key), None).await;
        assert_error(&gone, 404, r#"{"error":"Not found"}"#);
    }
    server
        .send("DELETE", "/api/v4/campaigns/3/users/1", &auth(&key), None)
        .await;
    let last = server
        .send("DELETE", "/api/v4/campaigns/3/users/3", &auth(&key), None)
        .await;
    assert_eq!(
        last.status, 409,
        "the last user of an active campaign stays"
    );
    assert!(last.json()["errors"]["users"].is_array());

    let stopped = server
        .send("POST", "/api/v4/campaigns/3/stop", &auth(&key), None)
        .await;
    assert_eq!(stopped.status, 200);
    let refused = post(r#"{"user_ids": [1]}"#).await;
    assert_eq!(
        refused.json(),
        json!({"errors": {"status": ["cannot assign users to a campaign that is stopped"]}})
    );
}

#[tokio::test]
async fn another_centers_users_and_campaigns_do_not_exist() {
    let (server, key, other_key) = staffed().await;
    let foreign = server
        .send(
            "POST",
            "/api/v4/campaigns/3/users",
            &auth(&key),
            Some(br#"{"user_ids": [9]}"#.to_vec()),
        )
        .await;
    assert_eq!(
        foreign.json(),
        json!({"errors": {"user_ids": ["9 does not exist"]}})
    );
    for (method, path) in [
        ("GET", "/api/v4/campaigns/3/users"),
        ("DELETE", "/api/v4/campaigns/3/users/1"),
    ] {
        let reply = server.send(method, path, &auth(&other_key), None).await;
        assert_error(&reply, 404, r#"{"error":"Not found"}"#);
    }
    let theirs = server
        .send(
            "POST",
            "/api/v4/campaigns/3/users",
            &auth(&other_key),
            Some(br#"{"user_ids": [9]}"#.to_vec()),
        )
        .await;
    assert_error(&theirs, 404, r#"{"error":"Not found"}"#);
    let listed = server
        .send("GET", "/api/v4/users", &auth(&other_key), None)
        .await;
    assert_eq!(listed.json()["metadata"]["total"], 1);
}

#[tokio::test]
async fn a_read_only_key_cannot_staff_a_campaign() {
    let (server, _, _) = staffed().await;
    let center = server
        .store
        .contact_center_by_name(&"acme".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    let reader = server.reader(center.id).await;
    let post = server
        .send(
            "POST",
            "/api/v4/campaigns/3/users",
            &auth(&reader),
            Some(br#"{"user_ids": [1]}"#.to_vec()),
        )
        .await;
    assert_error(&post, 403, r#"{"error":"Forbidden"}"#);
    let delete = server
        .send(
            "DELETE",
            "/api/v4/campaigns/3/users/1",
            &auth(&reader),
            None,
        )
        .await;
    assert_error(&delete, 403, r#"{"error":"Forbidden"}"#);
    let list = server
        .send("GET", "/api/v4/campaigns/3/users", &auth(&reader), None)
        .await;
    assert_eq!(list.status, 200);
}
