//! Properties of the wire types that must hold for every input, not only
//! the examples the unit tests name (proptest; a failure prints the
//! smallest input that breaks it).

use campaignd_model::{ApiKeyToken, CampaignId, CampaignPatch};
use proptest::prelude::*;
use serde_json::{Value, json};

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
