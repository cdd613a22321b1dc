//! Properties of the wire types that must hold for every input, not only
//! the examples the unit tests name (proptest; a failure prints the
//! smallest input that breaks it).

use campaignd_model::{
    ApiKeyToken, CampaignDocument, CampaignId, CampaignPatch, CampaignView, SystemFields, Timestamp,
};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::campaign_of;

/// What SPEC §5 says a campaign id in a path is: digits only, no sign, no
/// leading zero, positive, at most 2^63 - 1.
fn canonical(s: &str) -> Option<i64> {
    let digits = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits || s.starts_with('0') {
        return None;
    }
    s.parse::<i64>().ok().filter(|n| *n > 0)
}

proptest! {
    /// Ids parse exactly when they are canonical, to the number written.
    #[test]
    fn ids_parse_exactly_the_canonical_positive_integers(s in "[-+ 0-9a]{0,21}") {
        let parsed = s.parse::<CampaignId>().ok().map(CampaignId::get);
        prop_assert_eq!(parsed, canonical(&s));
    }

    /// Any positive i64 written out parses back to itself; with a leading
    /// zero, a sign or a space it does not.
    #[test]
    fn every_positive_id_round_trips_and_no_disguise_of_it_parses(n in 1..=i64::MAX) {
        let written = n.to_string();
        prop_assert_eq!(written.parse::<CampaignId>().map(CampaignId::get).ok(), Some(n));
        for disguised in [format!("0{written}"), format!("+{written}"), format!(" {written}"),
                          format!("{written} "), format!("-{written}")] {
            prop_assert!(disguised.parse::<CampaignId>().is_err(), "{}", disguised);
        }
    }

    /// Changing any one character of a valid key (to another character of
    /// its alphabet) makes it fail to parse, so a mistyped key is refused
    /// before any store lookup.
    #[test]
    fn every_one_character_change_of_a_key_fails(position in 5usize..38, replacement in "[0-9A-Za-z]") {
        let key = ApiKeyToken::generate();
        let text = key.expose();
        prop_assume!(position < text.len());
        let mut changed = text.to_owned().into_bytes();
        let replacement = replacement.as_bytes()[0];
        prop_assume!(changed[position] != replacement);
        changed[position] = replacement;
        let changed = String::from_utf8(changed).unwrap();
        prop_assert!(changed.parse::<ApiKeyToken>().is_err(), "{} parsed", changed);
        prop_assert!(text.parse::<ApiKeyToken>().is_ok());
    }

    /// A merge patch that parses is one whose keys are campaign fields;
    /// parsing never panics on any JSON object of scalars.
    #[test]
    fn merge_patches_parse_or_refuse_without_panicking(
        fields in proptest::collection::btree_map(
            "(name|strategy|dial_level|max_dial_time|status|id|dial_levl|live|method)",
            prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                (-5i64..700).prop_map(Value::from),
                (0.0f64..12.0).prop_map(|x| json!(x)),
                "[a-z ]{0,12}".prop_map(Value::from),
            ],
            0..6,
        )
    ) {
        let object: serde_json::Map<String, Value> = fields.clone().into_iter().collect();
        let parsed = CampaignPatch::parse(Value::Object(object));
        let writable_only = fields.keys().all(|k| !["status", "id", "dial_levl"].contains(&k.as_str()));
        if parsed.is_ok() {
            prop_assert!(writable_only, "a patch naming a read-only or unknown key parsed: {:?}", fields);
        }
    }
}

/// A value for `key`: mostly ones the parser accepts, some it refuses, so
/// documents that parse cover every field's range and nested shape.
fn field_value(key: &'static str) -> BoxedStrategy<Value> {
    let text = prop_oneof![
        "[A-Za-z0-9 ]{1,12}",
        "\\PC{1,8}",
        Just(String::new()),
        Just(" padded ".to_owned()),
        Just("x".repeat(256)),
    ];
    let phone = "[1-9][0-9]{6,14}|\\+?[0-9]{3,5}";
    match key {
        "id" => prop_oneof![1i64..1_000_000, Just(0), Just(-3)]
            .prop_map(Value::from)
            .boxed(),
        "name" | "method" => prop_oneof![
            9 => text.prop_map(Value::from),
            1 => Just(Value::Null),
            1 => any::<i64>().prop_map(Value::from),
        ]
        .boxed(),
        "status" => prop_oneof![
            Just("draft"),
            Just("active"),
            Just("paused"),
            Just("stopped"),
            Just("auto_paused"),
            Just("archived")
        ]
        .prop_map(Value::from)
        .boxed(),
        "strategy" => prop_oneof![Just("simple"), Just("predictive_ai"), Just("Simple")]
            .prop_map(Value::from)
            .boxed(),
        "dial_level" => prop_oneof![
            (-1.0f64..11.0).prop_map(|x| json!(x)),
            (0i64..12).prop_map(Value::from),
            Just(json!("1.5")),
        ]
        .boxed(),
        "dial_level_override" => prop_oneof![
            Just(Value::Null),
            (any::<bool>(), 0.01f64..10.5, -1i64..200).prop_map(|(enabled, value, threshold)| {
                json!({"enabled": enabled, "value": value, "active_agents_threshold": threshold})
            }),
            Just(json!({"enabled": true})),
        ]
        .boxed(),
        "max_dial_time" | "max_wait_time" | "max_dial_attempts" => {
            prop_oneof![(-5i64..700).prop_map(Value::from), Just(json!(2.5))].boxed()
        }
        "amd_enabled" | "use_local_caller_id" | "asr_optimization_enabled" | "live" => prop_oneof![
            9 => any::<bool>().prop_map(Value::from),
            1 => Just(json!("true")),
        ]
        .boxed(),
        "amd_voicemail_message" => prop_oneof![
            Just(Value::Null),
            (any::<bool>(), proptest::option::of(text)).prop_map(|(enabled, name)| {
                let message = name.map(|n| json!({"type": "voice_message", "name": n}));
                json!({"enabled": enabled, "voice_message": message})
            }),
            Just(json!({"enabled": true, "voice_message": {"type": "sms", "name": "x"}})),
        ]
        .boxed(),
        "caller_id_sets" => proptest::collection::vec(
            proptest::collection::vec(phone, 0..4).prop_map(|n| json!({"phone_numbers": n})),
            0..4,
        )
        .prop_map(Value::from)
        .boxed(),
        "follow_up_mode" => {
            prop_oneof![Just(Value::Null), Just(json!("timer")), Just(json!("x"))].boxed()
        }
        "created_at" | "updated_at" => prop_oneof![
            (0i64..4_102_444_800_000)
                .prop_map(|ms| { json!(Timestamp::from_unix_millis(ms).unwrap().to_string()) }),
            Just(json!("yesterday")),
        ]
        .boxed(),
        _ => unreachable!("{key} has no generator"),
    }
}

const DOCUMENT_KEYS: [&str; 19] = [
    "id",
    "name",
    "status",
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
    "created_at",
    "updated_at",
    "live",
    "method",
];

/// A campaign document: each known key present or not, with a value from
/// [`field_value`]; the name present nine times in ten.
fn document() -> impl Strategy<Value = Value> {
    let fields: Vec<_> = DOCUMENT_KEYS
        .iter()
        .map(|&key| {
            let weight = if key == "name" { 9 } else { 1 };
            proptest::option::weighted(f64::from(weight) / 10.0, field_value(key))
                .prop_map(move |v| v.map(|v| (key, v)))
        })
        .collect();
    fields.prop_map(|fields| {
        Value::Object(
            fields
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever validates renders (as the admin export) to JSON that
    /// validates again, to the same campaign; and the v4 rendering of that
    /// campaign is the same bytes both times.
    #[test]
    fn what_validates_renders_to_json_that_validates_to_the_same_campaign(doc in document()) {
        let Ok(parsed) = CampaignDocument::parse(&doc, SystemFields::Accept) else {
            return Ok(());
        };
        let campaign = campaign_of(parsed);
        let rendered = serde_json::to_value(campaign.view(CampaignView::Export)).unwrap();
        let again = CampaignDocument::parse(&rendered, SystemFields::Accept)
            .unwrap_or_else(|e| panic!("{rendered} no longer validates: {e:?}"));
        let back = campaign_of(again);
        prop_assert_eq!(&back, &campaign);
        prop_assert_eq!(back.get_body(), campaign.get_body());
    }

    /// The v4 body parses back to the campaign it renders, but for the two
    /// fields the v4 rendering leaves out (`live`, `method`).
    #[test]
    fn the_v4_body_parses_back_to_its_campaign(doc in document()) {
        let Ok(parsed) = CampaignDocument::parse(&doc, SystemFields::Accept) else {
            return Ok(());
        };
        let campaign = campaign_of(parsed);
        let body: Value = serde_json::from_slice(&campaign.get_body()).unwrap();
        let back = campaign_of(CampaignDocument::parse(&body["campaign"], SystemFields::Accept).unwrap());
        let mut expected = campaign.clone();
        expected.settings.live = false;
        expected.settings.method = None;
        prop_assert_eq!(back, expected);
    }

    /// An API write body validates exactly when the same document, less
    /// its system fields, validates as an import, to the same settings.
    #[test]
    fn api_writes_refuse_exactly_the_system_fields(doc in document()) {
        let refused = CampaignDocument::parse(&doc, SystemFields::Refuse);
        let system = ["id", "status", "created_at", "updated_at"];
        if system.iter().any(|k| doc.get(k).is_some()) {
            prop_assert!(refused.is_err());
        } else {
            let accepted = CampaignDocument::parse(&doc, SystemFields::Accept);
            prop_assert_eq!(refused.map(|d| d.settings).ok(), accepted.map(|d| d.settings).ok());
        }
    }
}
