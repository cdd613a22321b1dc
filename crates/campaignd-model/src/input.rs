//! Parsing campaign documents (create bodies, import records) with every
//! problem reported at once, keyed by field.
//!
//! serde's derive stops at the first error; an integrator fixing a rejected
//! request wants the whole list, so documents are walked by hand from a
//! `serde_json::Value`. Nested fields are keyed with dots
//! (`dial_level_override.value`); problems inside arrays are keyed by the
//! array and say which element (`caller_id_sets`: "set 2, number 3: ...").

use serde_json::{Map, Value};

use crate::campaign::{
    AgentsThreshold, AmdVoicemailMessage, CallerIdSet, CampaignName, CampaignSettings, DialLevel,
    DialLevelOverride, FollowUpMode, MaxDialAttempts, MaxDialTime, MaxWaitTime, Method,
    PhoneNumber, Status, Strategy, VoiceMessage, VoiceMessageName,
};
use crate::errors::FieldErrors;
use crate::ids::CampaignId;
use crate::timestamp::Timestamp;

/// Whether a document may carry the fields the system owns (`id`, `status`,
/// `created_at`, `updated_at`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SystemFields {
    /// Admin import: kept when given.
    Accept,
    /// API writes: each one present is a 422 naming it.
    Refuse,
}

/// A parsed campaign document: the settings (defaults filled in for missing
/// keys) and whichever system fields were given.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignDocument {
    /// The id, if given.
    pub id: Option<CampaignId>,
    /// The status, if given.
    pub status: Option<Status>,
    /// Creation time, if given.
    pub created_at: Option<Timestamp>,
    /// Last write time, if given.
    pub updated_at: Option<Timestamp>,
    /// Everything else, with SPEC §8's defaults for missing keys.
    pub settings: CampaignSettings,
}

/// Every key a campaign document may hold.
const KNOWN_KEYS: &[&str] = &[
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

const SYSTEM_KEYS: &[&str] = &["id", "status", "created_at", "updated_at"];

impl CampaignDocument {
    /// Parses `value`, which must be a JSON object, reporting every problem.
    pub fn parse(value: &Value, system: SystemFields) -> Result<Self, FieldErrors> {
        let Some(obj) = value.as_object() else {
            let mut errors = FieldErrors::new();
            errors.add("campaign", "must be a JSON object");
            return Err(errors);
        };
        let mut p = Parser {
            obj,
            errors: FieldErrors::new(),
        };

        for key in obj.keys() {
            if !KNOWN_KEYS.contains(&key.as_str()) {
                p.errors.add(key.clone(), "is not a campaign field");
            } else if system == SystemFields::Refuse && SYSTEM_KEYS.contains(&key.as_str()) {
                p.errors
                    .add(key.clone(), "is set by the system and cannot be written");
            }
        }

        let id = p.field("id", |v| {
            v.as_i64()
                .and_then(CampaignId::new)
                .filter(|id| id.get() <= CampaignId::MAX_STORED)
                .ok_or_else(|| {
                    format!(
                        "must be a positive integer no greater than {}",
                        CampaignId::MAX_STORED
                    )
                })
        });
        let status = p.field("status", |v| str_of(v)?.parse::<Status>());
        let created_at = p.field("created_at", timestamp);
        let updated_at = p.field("updated_at", timestamp);
        let name = p.field("name", |v| str_of(v)?.parse::<CampaignName>());
        if !obj.contains_key("name") {
            p.errors.add("name", "is missing");
        }
        let strategy = p.field("strategy", |v| str_of(v)?.parse::<Strategy>());
        let dial_level = p.field("dial_level", dial_level);
        let dial_level_override = p.nullable("dial_level_override", parse_override);
        let max_dial_time = p.field("max_dial_time", |v| {
            bounded(v, MaxDialTime::new, MaxDialTime::expected)
        });
        let max_wait_time = p.field("max_wait_time", |v| {
            bounded(v, MaxWaitTime::new, MaxWaitTime::expected)
        });
        let max_dial_attempts = p.field("max_dial_attempts", |v| {
            bounded(v, MaxDialAttempts::new, MaxDialAttempts::expected)
        });
        let amd_enabled = p.field("amd_enabled", boolean);
        let amd_voicemail_message = p.nullable("amd_voicemail_message", parse_voicemail);
        let caller_id_sets = p.field("caller_id_sets", parse_caller_id_sets);
        let use_local_caller_id = p.field("use_local_caller_id", boolean);
        let asr_optimization_enabled = p.field("asr_optimization_enabled", boolean);
        let follow_up_mode =
            p.nullable_scalar("follow_up_mode", |v| str_of(v)?.parse::<FollowUpMode>());
        let live = p.field("live", boolean);
        let method = p.nullable_scalar("method", |v| str_of(v)?.parse::<Method>());

        if let (Some(created), Some(updated)) = (&created_at, &updated_at)
            && updated < created
        {
            p.errors
                .add("updated_at", "must not be earlier than created_at");
        }

        let (Some(name), true) = (name, p.errors.is_empty()) else {
            return Err(p.errors);
        };
        let mut settings = CampaignSettings::with_defaults(name);
        macro_rules! set {
            ($($field:ident),+) => {$(
                if let Some(v) = $field { settings.$field = v; }
            )+};
        }
        set!(
            strategy,
            dial_level,
            dial_level_override,
            max_dial_time,
            max_wait_time,
            max_dial_attempts,
            amd_enabled,
            amd_voicemail_message,
            caller_id_sets,
            use_local_caller_id,
            asr_optimization_enabled,
            follow_up_mode,
            live,
            method
        );
        Ok(Self {
            id,
            status,
            created_at,
            updated_at,
            settings,
        })
    }
}

/// Walks one object, collecting problems.
struct Parser<'a> {
    obj: &'a Map<String, Value>,
    errors: FieldErrors,
}

impl Parser<'_> {
    /// A non-nullable field: `None` if absent or invalid (the problem is
    /// recorded).
    fn field<T, E: Into<String>>(
        &mut self,
        key: &str,
        parse: impl FnOnce(&Value) -> Result<T, E>,
    ) -> Option<T> {
        let value = self.obj.get(key)?;
        if value.is_null() {
            self.errors.add(key, "must not be null");
            return None;
        }
        parse(value).map_err(|e| self.errors.add(key, e)).ok()
    }

    /// A nullable field whose parser reports nested problems itself:
    /// `None` if absent or invalid, `Some(None)` if null.
    #[expect(
        clippy::option_option,
        reason = "absent and null mean different things"
    )]
    fn nullable<T>(
        &mut self,
        key: &str,
        parse: impl FnOnce(&Value, &str, &mut FieldErrors) -> Option<T>,
    ) -> Option<Option<T>> {
        let value = self.obj.get(key)?;
        if value.is_null() {
            return Some(None);
        }
        parse(value, key, &mut self.errors).map(Some)
    }

    #[expect(
        clippy::option_option,
        reason = "absent and null mean different things"
    )]
    /// A nullable scalar field: as [`Parser::nullable`], for a plain parser.
    fn nullable_scalar<T, E: Into<String>>(
        &mut self,
        key: &str,
        parse: impl FnOnce(&Value) -> Result<T, E>,
    ) -> Option<Option<T>> {
        self.nullable(key, |value, key, errors| {
            parse(value).map_err(|e| errors.add(key, e)).ok()
        })
    }
}

fn str_of(v: &Value) -> Result<&str, String> {
    v.as_str().ok_or_else(|| "must be a string".to_owned())
}

fn boolean(v: &Value) -> Result<bool, &'static str> {
    v.as_bool().ok_or("must be a boolean")
}

fn timestamp(v: &Value) -> Result<Timestamp, String> {
    str_of(v)?.parse::<Timestamp>().map_err(|e| e.to_string())
}

fn dial_level(v: &Value) -> Result<DialLevel, &'static str> {
    let n = v.as_f64().ok_or("must be a number")?;
    DialLevel::new(n).ok_or(DialLevel::EXPECTED)
}

fn bounded<T>(v: &Value, new: fn(i64) -> Option<T>, expected: fn() -> String) -> Result<T, String> {
    if !v.is_i64() && !v.is_u64() {
        return Err("must be an integer".to_owned());
    }
    v.as_i64().and_then(new).ok_or_else(expected)
}

/// Parses a nested object's fields with `parse`, keying problems
/// `parent.child`, and refusing keys not in `known`.
fn nested<T>(
    value: &Value,
    parent: &str,
    known: &[&str],
    errors: &mut FieldErrors,
    parse: impl FnOnce(&Map<String, Value>, &mut dyn FnMut(&str, String)) -> Option<T>,
) -> Option<T> {
    let Some(obj) = value.as_object() else {
        errors.add(parent, "must be an object or null");
        return None;
    };
    let mut local = FieldErrors::new();
    for key in obj.keys() {
        if !known.contains(&key.as_str()) {
            local.add(format!("{parent}.{key}"), "is not a known field");
        }
    }
    let result = parse(obj, &mut |child, message| {
        local.add(format!("{parent}.{child}"), message);
    });
    let ok = local.is_empty();
    errors.merge(local);
    result.filter(|_| ok)
}

/// Gets a required key of a nested object, reporting it missing or invalid.
fn required<T, E: Into<String>>(
    obj: &Map<String, Value>,
    key: &str,
    report: &mut dyn FnMut(&str, String),
    parse: impl FnOnce(&Value) -> Result<T, E>,
) -> Option<T> {
    match obj.get(key) {
        None => {
            report(key, "is missing".to_owned());
            None
        }
        Some(v) => parse(v).map_err(|e| report(key, e.into())).ok(),
    }
}

fn parse_override(value: &Value, key: &str, errors: &mut FieldErrors) -> Option<DialLevelOverride> {
    nested(
        value,
        key,
        &["enabled", "value", "active_agents_threshold"],
        errors,
        |obj, report| {
            let enabled = required(obj, "enabled", report, boolean);
            let value = required(obj, "value", report, dial_level);
            let threshold = required(obj, "active_agents_threshold", report, |v| {
                bounded(v, AgentsThreshold::new, AgentsThreshold::expected)
            });
            Some(DialLevelOverride {
                enabled: enabled?,
                value: value?,
                active_agents_threshold: threshold?,
            })
        },
    )
}

fn parse_voicemail(
    value: &Value,
    key: &str,
    errors: &mut FieldErrors,
) -> Option<AmdVoicemailMessage> {
    nested(
        value,
        key,
        &["enabled", "voice_message"],
        errors,
        |obj, report| {
            let enabled = required(obj, "enabled", report, boolean);
            let voice_message = match obj.get("voice_message") {
                None | Some(Value::Null) => Some(None),
                Some(v) => parse_voice_message(v, report).map(Some),
            };
            Some(AmdVoicemailMessage {
                enabled: enabled?,
                voice_message: voice_message?,
            })
        },
    )
}

fn parse_voice_message(
    value: &Value,
    report: &mut dyn FnMut(&str, String),
) -> Option<VoiceMessage> {
    let Some(obj) = value.as_object() else {
        report("voice_message", "must be an object or null".to_owned());
        return None;
    };
    let mut ok = true;
    for key in obj.keys() {
        if key != "type" && key != "name" {
            report(
                &format!("voice_message.{key}"),
                "is not a known field".to_owned(),
            );
            ok = false;
        }
    }
    match obj.get("type") {
        Some(Value::String(t)) if t == "voice_message" => {}
        None => {
            report("voice_message.type", "is missing".to_owned());
            ok = false;
        }
        Some(_) => {
            report("voice_message.type", "must be \"voice_message\"".to_owned());
            ok = false;
        }
    }
    let name = match obj.get("name") {
        None => {
            report("voice_message.name", "is missing".to_owned());
            None
        }
        Some(v) => str_of(v)
            .and_then(str::parse::<VoiceMessageName>)
            .map_err(|e| report("voice_message.name", e))
            .ok(),
    };
    name.filter(|_| ok).map(|name| VoiceMessage { name })
}

fn parse_caller_id_sets(v: &Value) -> Result<Vec<CallerIdSet>, String> {
    let sets = v.as_array().ok_or("must be an array")?;
    if sets.len() > CallerIdSet::MAX_SETS {
        return Err(format!("must hold at most {} sets", CallerIdSet::MAX_SETS));
    }
    let mut out = Vec::with_capacity(sets.len());
    for (i, set) in sets.iter().enumerate() {
        let n = i + 1;
        let obj = set
            .as_object()
            .ok_or_else(|| format!("set {n}: must be an object with phone_numbers"))?;
        if let Some(key) = obj.keys().find(|k| *k != "phone_numbers") {
            return Err(format!("set {n}: {key} is not a known field"));
        }
        let numbers = obj
            .get("phone_numbers")
            .ok_or_else(|| format!("set {n}: phone_numbers is missing"))?
            .as_array()
            .ok_or_else(|| format!("set {n}: phone_numbers must be an array"))?;
        if numbers.is_empty() || numbers.len() > CallerIdSet::MAX_NUMBERS {
            return Err(format!(
                "set {n}: phone_numbers must hold between 1 and {} numbers",
                CallerIdSet::MAX_NUMBERS
            ));
        }
        let mut phone_numbers = Vec::with_capacity(numbers.len());
        for (j, number) in numbers.iter().enumerate() {
            let parsed = number
                .as_str()
                .ok_or_else(|| "must be a string".to_owned())
                .and_then(str::parse::<PhoneNumber>)
                .map_err(|e| format!("set {n}, number {}: {e}", j + 1))?;
            phone_numbers.push(parsed);
        }
        out.push(CallerIdSet { phone_numbers });
    }
    Ok(out)
}
