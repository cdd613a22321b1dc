//! `PATCH` bodies: JSON merge patches (RFC 7396) of a campaign's settings.
//!
//! A patch is checked twice. Alone, before the campaign is looked up (SPEC
//! §3 puts parameters before the lookup): its keys, and each value as far
//! as it can be judged without the campaign. Then applied to the stored
//! campaign inside the write's transaction, where the merged document is
//! parsed like a create body; only a nested object patched in part can
//! still fail there (a partial `dial_level_override` on a campaign that has
//! none).

use serde_json::{Map, Value};

use crate::campaign::{
    AgentsThreshold, AmdVoicemailMessage, Campaign, CampaignName, CampaignSettings, CampaignView,
    DialLevel, DialLevelOverride,
};
use crate::errors::FieldErrors;
use crate::input::{CampaignDocument, SystemFields};

/// Keys the system owns: present in a rendering, never in a patch result.
const SYSTEM_KEYS: [&str; 4] = ["id", "status", "created_at", "updated_at"];

/// A checked merge patch of a campaign.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignPatch(Map<String, Value>);

/// Why a patch body was refused before any lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatchError {
    /// Not a JSON object (400).
    NotAnObject,
    /// Bad keys or values, every one (422).
    Invalid(FieldErrors),
}

impl CampaignPatch {
    /// Checks a patch body: an object whose keys are campaign fields the
    /// caller may write, each with a value that is valid on its own.
    pub fn parse(value: Value) -> Result<Self, PatchError> {
        let Value::Object(patch) = value else {
            return Err(PatchError::NotAnObject);
        };
        let patch = Self(patch);
        patch
            .merged_onto(&template())
            .map_err(PatchError::Invalid)?;
        Ok(patch)
    }

    /// The settings `campaign` has once the patch is applied, checked as a
    /// whole.
    pub fn apply(&self, campaign: &Campaign) -> Result<CampaignSettings, FieldErrors> {
        self.merged_onto(campaign)
    }

    fn merged_onto(&self, campaign: &Campaign) -> Result<CampaignSettings, FieldErrors> {
        let mut document =
            serde_json::to_value(campaign.view(CampaignView::Export)).expect("campaigns serialize");
        let fields = document.as_object_mut().expect("a campaign is an object");
        for key in SYSTEM_KEYS {
            fields.remove(key);
        }
        // System keys in the patch itself are refused by the parse below,
        // which sees them merged in.
        merge(&mut document, &Value::Object(self.0.clone()));
        CampaignDocument::parse(&document, SystemFields::Refuse).map(|d| d.settings)
    }
}

/// RFC 7396: objects merge key by key, anything else replaces, and `null`
/// removes a nullable key. On any other key `null` is kept, so the parse
/// reports it (`must not be null`, or the nested parser's message) instead
/// of the key coming back as its default.
fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let target = target.as_object_mut().expect("made an object above");
    for (key, value) in patch {
        if value.is_null() {
            if NULLABLE.contains(&key.as_str()) {
                target.remove(key);
            } else {
                target.insert(key.clone(), Value::Null);
            }
        } else {
            merge(target.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

/// Top-level keys a patch may clear with `null`.
const NULLABLE: [&str; 4] = [
    "dial_level_override",
    "amd_voicemail_message",
    "follow_up_mode",
    "method",
];

/// A campaign whose nested objects are all present and valid, so a patch
/// checked against it fails only for what is wrong in the patch itself.
fn template() -> Campaign {
    let mut settings =
        CampaignSettings::with_defaults("template".parse::<CampaignName>().expect("a valid name"));
    settings.dial_level_override = Some(DialLevelOverride {
        enabled: false,
        value: DialLevel::new(1.0).expect("in range"),
        active_agents_threshold: AgentsThreshold::new(1).expect("in range"),
    });
    settings.amd_voicemail_message = Some(AmdVoicemailMessage {
        enabled: false,
        voice_message: None,
    });
    Campaign {
        id: crate::CampaignId::new(1).expect("positive"),
        status: crate::Status::Draft,
        settings,
        created_at: crate::Timestamp::from_unix_millis(0).expect("the epoch"),
        updated_at: crate::Timestamp::from_unix_millis(0).expect("the epoch"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn campaign() -> Campaign {
        let mut c = template();
        c.settings.dial_level_override = None;
        c.settings.name = "Spring".parse().unwrap();
        c
    }

    fn errors(value: Value) -> FieldErrors {
        match CampaignPatch::parse(value) {
            Err(PatchError::Invalid(e)) => e,
            other => panic!("expected field errors, got {other:?}"),
        }
    }

    #[test]
    fn only_objects_are_patches() {
        for body in [json!([]), json!("x"), json!(1), json!(null)] {
            assert_eq!(CampaignPatch::parse(body), Err(PatchError::NotAnObject));
        }
    }

    #[test]
    fn given_keys_replace_and_the_rest_stay() {
        let patch = CampaignPatch::parse(json!({"dial_level": 2.5, "method": "preview"})).unwrap();
        let after = patch.apply(&campaign()).unwrap();
        assert_eq!(after.dial_level, DialLevel::new(2.5).unwrap());
        assert_eq!(
            after.method.as_ref().map(crate::Method::as_str),
            Some("preview")
        );
        assert_eq!(after.name.as_str(), "Spring");
        assert_eq!(after.max_dial_time, campaign().settings.max_dial_time);
    }

    #[test]
    fn null_clears_a_nullable_key_and_is_refused_elsewhere() {
        let mut c = campaign();
        c.settings.method = Some("preview".parse().unwrap());
        let after = CampaignPatch::parse(json!({"method": null}))
            .unwrap()
            .apply(&c)
            .unwrap();
        assert_eq!(after.method, None);
        let e = errors(json!({"dial_level": null, "name": null}));
        assert_eq!(
            e.get("dial_level"),
            Some(&["must not be null".to_owned()][..])
        );
        assert_eq!(e.get("name"), Some(&["must not be null".to_owned()][..]));
    }

    #[test]
    fn nested_objects_merge_key_by_key() {
        let mut c = campaign();
        c.settings.dial_level_override = template().settings.dial_level_override;
        let after = CampaignPatch::parse(json!({"dial_level_override": {"value": 3}}))
            .unwrap()
            .apply(&c)
            .unwrap();
        let o = after.dial_level_override.unwrap();
        assert_eq!(o.value, DialLevel::new(3.0).unwrap());
        assert_eq!(o.active_agents_threshold.get(), 1);
        // On a campaign without an override, the same patch is incomplete.
        let e = CampaignPatch::parse(json!({"dial_level_override": {"value": 3}}))
            .unwrap()
            .apply(&campaign())
            .unwrap_err();
        assert!(e.get("dial_level_override.enabled").is_some(), "{e}");
    }

    #[test]
    fn every_bad_key_and_value_is_reported_at_once() {
        let e = errors(json!({
            "dial_levl": 2,
            "id": 4,
            "status": "active",
            "created_at": "2026-01-01T00:00:00.000Z",
            "updated_at": "2026-01-01T00:00:00.000Z",
            "max_dial_time": 0,
            "name": " ",
        }));
        for field in [
            "dial_levl",
            "id",
            "status",
            "created_at",
            "updated_at",
            "max_dial_time",
            "name",
        ] {
            assert!(e.get(field).is_some(), "{field} in {e}");
        }
        assert_eq!(e.len(), 7);
    }

    #[test]
    fn an_empty_patch_changes_nothing() {
        let after = CampaignPatch::parse(json!({}))
            .unwrap()
            .apply(&campaign())
            .unwrap();
        assert_eq!(after, campaign().settings);
    }
}
