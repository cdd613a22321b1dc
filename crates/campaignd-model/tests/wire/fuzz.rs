//! Fuzz targets of the wire parsers (`campaignd-fuzz`): ids, keys, and the
//! JSON bodies of campaign writes, merge patches and lead imports. Each
//! check states what must hold of any input, not only that nothing panics.

use campaignd_fuzz::fuzz;
use campaignd_model::{
    ApiKeyToken, CampaignDocument, CampaignId, CampaignPatch, CampaignView, LeadEntry,
    SystemFields, parse_batch,
};
use serde_json::Value;

use crate::campaign_of;

/// A path's id parses only from its canonical text.
#[test]
fn fuzz_campaign_id() {
    fuzz("campaign_id", |input| {
        let Ok(text) = std::str::from_utf8(input) else {
            return;
        };
        if let Ok(id) = text.parse::<CampaignId>() {
            assert_eq!(id.to_string(), text, "parsed from a non-canonical form");
            assert!(id.get() > 0);
        }
    });
}

/// A key parses only as itself, and never shows its secret when printed.
#[test]
fn fuzz_api_key() {
    fuzz("api_key", |input| {
        let Ok(text) = std::str::from_utf8(input) else {
            return;
        };
        if let Ok(key) = text.parse::<ApiKeyToken>() {
            assert_eq!(key.expose(), text);
            // The characters before the last four, which are shown.
            let secret = &text[text.len() - 16..text.len() - 4];
            for shown in [format!("{key}"), format!("{key:?}")] {
                assert!(!shown.contains(secret), "{shown} shows the key");
            }
        }
    });
}

/// A create body or import record that validates renders to one that
/// validates to the same campaign; an API write never takes system fields.
#[test]
fn fuzz_campaign_json() {
    fuzz("campaign_json", |input| {
        let Ok(value) = serde_json::from_slice::<Value>(input) else {
            return;
        };
        if let Ok(write) = CampaignDocument::parse(&value, SystemFields::Refuse) {
            assert_eq!((write.id, write.status), (None, None));
        }
        let Ok(document) = CampaignDocument::parse(&value, SystemFields::Accept) else {
            return;
        };
        let campaign = campaign_of(document);
        let rendered = serde_json::to_vec(&campaign.view(CampaignView::Export)).unwrap();
        let reread: Value = serde_json::from_slice(&rendered).unwrap();
        let again = CampaignDocument::parse(&reread, SystemFields::Accept)
            .unwrap_or_else(|e| panic!("its rendering no longer validates: {e:?}"));
        assert_eq!(campaign_of(again), campaign);
    });
}

/// A merge patch that parses applies to any campaign without panicking,
/// and a patch of no keys changes nothing.
#[test]
fn fuzz_merge_patch() {
    let base = campaign_of(
        CampaignDocument::parse(&serde_json::json!({"name": "Base"}), SystemFields::Accept)
            .unwrap(),
    );
    fuzz("merge_patch", |input| {
        let Ok(value) = serde_json::from_slice::<Value>(input) else {
            return;
        };
        let empty = value.as_object().is_some_and(serde_json::Map::is_empty);
        if let Ok(patch) = CampaignPatch::parse(value) {
            let applied = patch.apply(&base);
            if empty {
                assert_eq!(applied.unwrap(), base.settings);
            }
        }
    });
}

/// A lead batch keeps one entry per element, and each accepted lead's
/// number is 7-15 digits with no leading zero.
#[test]
fn fuzz_lead_batch() {
    fuzz("lead_batch", |input| {
        let Ok(value) = serde_json::from_slice::<Value>(input) else {
            return;
        };
        let Ok(entries) = parse_batch(&value) else {
            return;
        };
        assert_eq!(entries.len(), value.as_array().unwrap().len());
        for entry in entries {
            if let LeadEntry::Valid(lead) = entry {
                let number = lead.phone_number.as_str();
                assert!((7..=15).contains(&number.len()), "{number}");
                assert!(number.bytes().all(|b| b.is_ascii_digit()) && !number.starts_with('0'));
            }
        }
    });
}
