//! The documented Get campaign example, parsed and rendered, must come back
//! byte for byte (modulo whitespace): same values, same key order, `1` not `1.0`.

use campaignd_model::{Campaign, CampaignDocument, CampaignView, FieldErrors, SystemFields};
use serde_json::{Value, json};

const EXAMPLE: &str = include_str!("../fixtures/get-campaign-3.json");

/// Removes insignificant whitespace from JSON text, keeping key order.
fn minify(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for ch in text.chars() {
        if in_string {
            out.push(ch);
            if escaped {
                escaped = false;
            } else if ch == '\\' {
                escaped = true;
            } else if ch == '"' {
                in_string = false;
            }
        } else if ch == '"' {
            in_string = true;
            out.push(ch);
        } else if !ch.is_whitespace() {
            out.push(ch);
        }
    }
    out
}

fn example_campaign() -> Campaign {
    let doc: Value = serde_json::from_str(EXAMPLE).unwrap();
    let parsed = CampaignDocument::parse(&doc["campaign"], SystemFields::Accept).unwrap();
    Campaign {
        id: parsed.id.unwrap(),
        status: parsed.status.unwrap(),
        created_at: parsed.created_at.unwrap(),
        updated_at: parsed.updated_at.unwrap(),
        settings: parsed.settings,
    }
}

#[test]
fn the_documented_example_renders_exactly_as_documented() {
    let campaign = example_campaign();
    let rendered = serde_json::to_string(&json!({ "campaign": campaign })).unwrap();
    // json! goes through Value, which may reorder; render the wrapper by hand too.
    let direct = format!(
        r#"{{"campaign":{}}}"#,
        serde_json::to_string(&campaign).unwrap()
    );
    assert_eq!(direct, minify(EXAMPLE));
    assert_eq!(
        serde_json::from_str::<Value>(&rendered).unwrap(),
        serde_json::from_str::<Value>(EXAMPLE).unwrap()
    );
}

#[test]
fn list_items_drop_exactly_three_keys() {
    let campaign = example_campaign();
    let item = serde_json::to_string(&campaign.view(CampaignView::ListItem)).unwrap();
    let minified = minify(EXAMPLE);
    let expected = minified
        .strip_prefix(r#"{"campaign":"#)
        .and_then(|s| s.strip_suffix('}'))
        .unwrap()
        .replace(
            r#""dial_level_override":{"enabled":true,"value":1.5,"active_agents_threshold":3},"#,
            "",
        )
        .replace(
            r#""use_local_caller_id":false,"asr_optimization_enabled":true,"#,
            "",
        );
    assert_eq!(item, expected);
}

#[test]
fn the_export_form_adds_live_and_method_and_parses_back_to_the_same_campaign() {
    let mut campaign = example_campaign();
    campaign.settings.live = true;
    campaign.settings.method = Some("preview".parse().unwrap());
    let export = serde_json::to_string(&campaign.view(CampaignView::Export)).unwrap();
    assert!(
        export.ends_with(
            r#""updated_at":"2026-01-20T14:15:00.000Z","live":true,"method":"preview"}"#
        )
    );
    let value: Value = serde_json::from_str(&export).unwrap();
    let back = CampaignDocument::parse(&value, SystemFields::Accept).unwrap();
    assert_eq!(back.settings, campaign.settings);
    assert_eq!(back.id, Some(campaign.id));
}

#[test]
fn a_document_with_only_a_name_gets_the_documented_defaults() {
    let doc =
        CampaignDocument::parse(&json!({"name": "  Winter  "}), SystemFields::Refuse).unwrap();
    assert_eq!(doc.settings.name.as_str(), "Winter");
    assert_eq!(doc.settings.strategy.as_str(), "simple");
    assert!((doc.settings.dial_level.get() - 1.0).abs() < f64::EPSILON);
    assert_eq!(doc.settings.max_dial_time.get(), 60);
    assert_eq!(doc.settings.max_wait_time.get(), 5);
    assert_eq!(doc.settings.max_dial_attempts.get(), 3);
    assert!(doc.settings.caller_id_sets.is_empty());
    assert!(doc.settings.dial_level_override.is_none());
    assert!(!doc.settings.live);
    assert!(doc.settings.method.is_none());
    assert_eq!(doc.id, None);
}

fn errors_of(value: &Value, system: SystemFields) -> FieldErrors {
    CampaignDocument::parse(value, system).expect_err("document should be refused")
}

#[test]
fn every_problem_is_reported_at_once_keyed_by_field() {
    let errors = errors_of(
        &json!({
            "status": "running",
            "strategy": 7,
            "dial_level": 0,
            "max_dial_time": 601,
            "max_wait_time": 1.5,
            "max_dial_attempts": "3",
            "amd_enabled": null,
            "dial_levl": 2,
            "dial_level_override": {"enabled": "yes", "value": 11},
            "amd_voicemail_message": {"enabled": true, "voice_message": {"type": "sms", "name": ""}},
            "caller_id_sets": [{"phone_numbers": ["18885650001", "+1888"]}],
            "follow_up_mode": "later",
            "created_at": "yesterday",
            "live": "true",
            "method": ""
        }),
        SystemFields::Accept,
    );
    let expected: &[(&str, &str)] = &[
        ("amd_enabled", "must not be null"),
        (
            "amd_voicemail_message.voice_message.name",
            "must be between 1 and 255 characters",
        ),
        (
            "amd_voicemail_message.voice_message.type",
            "must be \"voice_message\"",
        ),
        (
            "caller_id_sets",
            "set 1, number 2: must be 7 to 15 digits, country code first, without a leading + or 0",
        ),
        (
            "created_at",
            "must be an RFC 3339 date-time such as 2026-01-15T10:30:00.000Z",
        ),
        ("dial_level", "must be greater than 0 and at most 10"),
        ("dial_level_override.active_agents_threshold", "is missing"),
        ("dial_level_override.enabled", "must be a boolean"),
        (
            "dial_level_override.value",
            "must be greater than 0 and at most 10",
        ),
        ("dial_levl", "is not a campaign field"),
        ("follow_up_mode", "must be one of: timer"),
        ("live", "must be a boolean"),
        ("max_dial_attempts", "must be an integer"),
        ("max_dial_time", "must be between 1 and 600"),
        ("max_wait_time", "must be an integer"),
        ("method", "must be between 1 and 64 characters"),
        ("name", "is missing"),
        (
            "status",
            "must be one of: draft, active, paused, stopping, completed, processing, stopped, \
             auto_paused, pausing, auto_pausing, import_error",
        ),
        ("strategy", "must be a string"),
    ];
    let got: Vec<(String, String)> = errors
        .iter()
        .flat_map(|(k, ms)| ms.iter().map(move |m| (k.to_owned(), m.clone())))
        .collect();
    let want: Vec<(String, String)> = expected
        .iter()
        .map(|(k, m)| ((*k).to_owned(), (*m).to_owned()))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn api_writes_may_not_set_system_fields() {
    let errors = errors_of(
        &json!({"name": "x", "id": 4, "status": "active", "created_at": "2026-01-15T10:30:00Z", "updated_at": "2026-01-15T10:30:00Z"}),
        SystemFields::Refuse,
    );
    for key in ["id", "status", "created_at", "updated_at"] {
        assert_eq!(
            errors.get(key),
            Some(&["is set by the system and cannot be written".to_owned()][..]),
            "{key}"
        );
    }
    assert_eq!(errors.len(), 4);
}

#[test]
fn non_objects_and_reversed_timestamps_are_refused() {
    for value in [json!([]), json!("x"), json!(null), json!(3)] {
        assert_eq!(
            errors_of(&value, SystemFields::Accept).get("campaign"),
            Some(&["must be a JSON object".to_owned()][..])
        );
    }
    let errors = errors_of(
        &json!({"name": "x", "created_at": "2026-01-15T10:30:00Z", "updated_at": "2026-01-14T10:30:00Z"}),
        SystemFields::Accept,
    );
    assert_eq!(
        errors.get("updated_at"),
        Some(&["must not be earlier than created_at".to_owned()][..])
    );
}

#[test]
fn caller_id_set_limits_are_enforced() {
    let too_many_sets: Vec<Value> = (0..51)
        .map(|_| json!({"phone_numbers": ["18885650001"]}))
        .collect();
    let errors = errors_of(
        &json!({"name": "x", "caller_id_sets": too_many_sets}),
        SystemFields::Accept,
    );
    assert_eq!(
        errors.get("caller_id_sets"),
        Some(&["must hold at most 50 sets".to_owned()][..])
    );
    let numbers: Vec<String> = (0..1001).map(|i| format!("1888{i:07}")).collect();
    let errors = errors_of(
        &json!({"name": "x", "caller_id_sets": [{"phone_numbers": numbers}]}),
        SystemFields::Accept,
    );
    assert_eq!(
        errors.get("caller_id_sets"),
        Some(&["set 1: phone_numbers must hold between 1 and 1000 numbers".to_owned()][..])
    );
    let errors = errors_of(
        &json!({"name": "x", "caller_id_sets": [{"phone_numbers": []}]}),
        SystemFields::Accept,
    );
    assert!(errors.get("caller_id_sets").is_some());
}

#[test]
fn stored_ids_stay_within_what_json_clients_read_exactly() {
    let ok = CampaignDocument::parse(
        &json!({"name": "x", "id": 9_007_199_254_740_991_i64}),
        SystemFields::Accept,
    );
    assert!(ok.is_ok());
    let errors = errors_of(
        &json!({"name": "x", "id": 9_007_199_254_740_992_i64}),
        SystemFields::Accept,
    );
    assert_eq!(
        errors.get("id"),
        Some(&["must be a positive integer no greater than 9007199254740991".to_owned()][..])
    );
}
