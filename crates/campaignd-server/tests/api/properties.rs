//! Properties of the write path over real HTTP (proptest): whatever a merge
//! patch does to a stored campaign is exactly what the model's own merge
//! says it does, on either backend.

use campaignd_model::{CampaignId, CampaignPatch, ContactCenterId};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

use campaignd_testkit::TestServer;

/// A value for a writable key: valid ones mostly, some the server must
/// refuse, and `null` (which clears a nullable key and is refused on the
/// others).
fn patch_value(key: &'static str) -> BoxedStrategy<Value> {
    let value = match key {
        "name" => prop_oneof!["[A-Za-z ]{1,10}".prop_map(Value::from), Just(json!(""))].boxed(),
        "strategy" => prop_oneof![
            Just(json!("simple")),
            Just(json!("predictive_ai")),
            Just(json!("x"))
        ]
        .boxed(),
        "dial_level" => prop_oneof![
            (0.05f64..10.5).prop_map(|x| json!(x)),
            (0i64..12).prop_map(Value::from)
        ]
        .boxed(),
        "max_dial_time" | "max_wait_time" | "max_dial_attempts" => {
            (-3i64..400).prop_map(Value::from).boxed()
        }
        "amd_enabled" | "use_local_caller_id" | "asr_optimization_enabled" | "live" => {
            prop_oneof![any::<bool>().prop_map(Value::from), Just(json!(1))].boxed()
        }
        // Nested objects merge key by key: a partial one keeps the rest,
        // or fails if there is no rest to keep.
        "dial_level_override" => prop_oneof![
            (any::<bool>(), 0.1f64..10.0, 1i64..50).prop_map(|(e, v, t)| {
                json!({"enabled": e, "value": v, "active_agents_threshold": t})
            }),
            (0.1f64..11.0).prop_map(|v| json!({"value": v})),
            Just(json!({"enabled": null})),
        ]
        .boxed(),
        "amd_voicemail_message" => prop_oneof![
            any::<bool>().prop_map(|e| json!({"enabled": e})),
            "[a-z]{0,6}"
                .prop_map(|n| json!({"voice_message": {"type": "voice_message", "name": n}})),
            Just(json!({"voice_message": null})),
        ]
        .boxed(),
        "caller_id_sets" => proptest::collection::vec(
            proptest::collection::vec("[1-9][0-9]{6,14}|[0-9]{2}", 1..3)
                .prop_map(|n| json!({"phone_numbers": n})),
            0..3,
        )
        .prop_map(Value::from)
        .boxed(),
        "follow_up_mode" => prop_oneof![Just(json!("timer")), Just(json!("never"))].boxed(),
        "method" => "[a-z]{0,8}".prop_map(Value::from).boxed(),
        _ => unreachable!("{key} has no generator"),
    };
    prop_oneof![9 => value, 1 => Just(Value::Null)].boxed()
}

const WRITABLE: [&str; 15] = [
    "name",
    "strategy",
    "dial_level",
    "dial_level_override",
    "max_dial_time",
    "max_wait_time",
    "max_dial_attempts",
    "amd_enabled",
    "amd_voicemail_message",
    "caller_id_sets",
    "use_local_caller_id",
    "asr_optimization_enabled",
    "follow_up_mode",
    "live",
    "method",
];

/// A merge patch of one to four writable keys.
fn patch() -> impl Strategy<Value = Value> {
    proptest::sample::subsequence(WRITABLE.to_vec(), 1..=4)
        .prop_flat_map(|keys| {
            keys.into_iter()
                .map(|k| (Just(k), patch_value(k)))
                .collect::<Vec<_>>()
        })
        .prop_map(|fields| {
            Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
        })
}

/// The v4 object less `updated_at`, which every accepted write moves.
fn settled(mut campaign: Value) -> Value {
    campaign.as_object_mut().unwrap().remove("updated_at");
    campaign
}

#[test]
fn a_merge_patch_read_back_equals_the_models_merge() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (server, center, key, id) = runtime.block_on(async {
        let server = TestServer::start().await;
        let center: ContactCenterId = server.center("acme").await;
        let key = server.manager(center).await;
        let created = server
            .client(&key)
            .create_campaign(&json!({"name": "Patched", "dial_level_override":
                {"enabled": true, "value": 1.5, "active_agents_threshold": 3},
                "amd_voicemail_message": {"enabled": false, "voice_message": null}}))
            .await
            .unwrap();
        let id = CampaignId::new(created.campaign.id).unwrap();
        (server, center, key, id)
    });
    let path = format!("/api/v4/campaigns/{id}");
    let headers = vec![
        ("authorization".to_owned(), format!("Bearer {key}")),
        (
            "content-type".to_owned(),
            "application/merge-patch+json".to_owned(),
        ),
    ];
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(96);
    let mut runner = TestRunner::new(Config::with_cases(cases));
    // Both outcomes, counted: a generator drifting to all-valid or
    // all-invalid patches would leave one branch untested.
    let (accepted, refused) = (std::cell::Cell::new(0u32), std::cell::Cell::new(0u32));
    runner
        .run(&patch(), |patch| {
            runtime.block_on(async {
                let before = server
                    .store
                    .get_campaign(center, id)
                    .await
                    .unwrap()
                    .unwrap();
                let expected = CampaignPatch::parse(patch.clone())
                    .ok()
                    .and_then(|p| p.apply(&before).ok());
                let body = serde_json::to_vec(&patch).unwrap();
                let reply = server.send("PATCH", &path, &headers, Some(body)).await;
                let stored = server
                    .store
                    .get_campaign(center, id)
                    .await
                    .unwrap()
                    .unwrap();
                if let Some(settings) = expected {
                    accepted.set(accepted.get() + 1);
                    prop_assert_eq!(reply.status.as_u16(), 200, "{} -> {}", patch, reply.text());
                    prop_assert_eq!(&stored.settings, &settings, "{}", patch);
                    let mut merged = before.clone();
                    merged.settings = settings;
                    let answered = reply.json()["campaign"].clone();
                    let read: Value =
                        server.get(&path, Some(&key)).await.json()["campaign"].clone();
                    prop_assert_eq!(
                        &read,
                        &answered,
                        "a read after the patch differs from its answer"
                    );
                    prop_assert_eq!(
                        settled(answered),
                        settled(serde_json::to_value(&merged).unwrap())
                    );
                } else {
                    refused.set(refused.get() + 1);
                    prop_assert_eq!(reply.status.as_u16(), 422, "{} -> {}", patch, reply.text());
                    prop_assert_eq!(&stored, &before, "a refused patch changed the campaign");
                }
                Ok(())
            })
        })
        .unwrap();
    let (accepted, refused) = (accepted.get(), refused.get());
    assert!(
        accepted >= cases / 5 && refused >= cases / 5,
        "{accepted} patches accepted, {refused} refused"
    );
    drop(server);
}
