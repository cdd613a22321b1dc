//! Leads (SPEC §10): the numbers a campaign calls, as an import batch gives
//! them and as a campaign keeps them.
//!
//! A lead's phone number is personal data. Nothing here puts one in an
//! error message: a rejected lead is reported by the number the caller
//! sent, in the import's answer, and nowhere else.

use serde::Serialize;
use serde::ser::SerializeMap;
use serde_json::{Map, Value};

use crate::campaign::PhoneNumber;
use crate::errors::FieldErrors;
use crate::ids::checked_text;
use crate::timestamp::Timestamp;

/// Most leads one import takes (Voiso's limit).
pub const MAX_LEADS_PER_IMPORT: usize = 1000;
/// Most context headers one lead carries.
pub const MAX_CONTEXT_HEADERS: usize = 20;
/// Longest lead name, in characters.
const MAX_NAME: usize = 255;
/// Longest `source.system` or `source.url`, in characters.
const MAX_SOURCE_TEXT: usize = 2048;
/// Longest context header name, in bytes (all ASCII).
const MAX_HEADER_NAME: usize = 64;
/// Longest context header value, in characters.
const MAX_HEADER_VALUE: usize = 1024;

/// When a lead is called relative to the campaign's others: 1–1000, lower
/// first; 500 unless the import says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LeadPriority(u16);

impl LeadPriority {
    /// The priority of a lead that names none.
    pub const DEFAULT: Self = Self(500);
    /// Highest priority (called first).
    pub const MIN: u16 = 1;
    /// Lowest priority.
    pub const MAX: u16 = 1000;

    /// The priority `n`, if it is in range.
    pub fn new(n: i64) -> Option<Self> {
        u16::try_from(n)
            .ok()
            .filter(|n| (Self::MIN..=Self::MAX).contains(n))
            .map(Self)
    }

    /// The number.
    pub fn get(self) -> u16 {
        self.0
    }
}

impl Default for LeadPriority {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Where a lead came from, as the importing system describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeadSource {
    /// The system that supplied the lead.
    pub system: Option<String>,
    /// A link to the lead in that system.
    pub url: Option<String>,
}

/// A valid lead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lead {
    /// The number to call.
    pub phone_number: PhoneNumber,
    /// Who the number belongs to.
    pub name: Option<String>,
    /// Where the lead came from.
    pub source: Option<LeadSource>,
    /// When it is called relative to the campaign's other leads.
    pub priority: LeadPriority,
    /// Whether the dialer calls it.
    pub active: bool,
    /// SIP headers sent on the lead's calls, in the order given; names
    /// start with `X-` and are unique regardless of case.
    pub context_headers: Vec<(String, String)>,
}

/// One element of an import batch: a lead, or what the caller sent as its
/// number when the lead is not valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeadEntry {
    /// A lead to import (or find a duplicate).
    Valid(Lead),
    /// A rejected lead, by its `phone_number` as sent: the string itself,
    /// a number's digits, or `None` when there was no usable value.
    Rejected(Option<String>),
}

/// Why a body is not an import batch at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchError {
    /// The body is not a JSON array (400).
    NotAnArray,
    /// The array is empty or over [`MAX_LEADS_PER_IMPORT`] (422).
    Size(FieldErrors),
}

/// Parses an import body: a JSON array of 1 to 1000 leads, each valid or
/// rejected on its own.
pub fn parse_batch(body: &Value) -> Result<Vec<LeadEntry>, BatchError> {
    let Value::Array(items) = body else {
        return Err(BatchError::NotAnArray);
    };
    if !(1..=MAX_LEADS_PER_IMPORT).contains(&items.len()) {
        let mut errors = FieldErrors::new();
        errors.add(
            "leads",
            format!("must hold between 1 and {MAX_LEADS_PER_IMPORT} leads"),
        );
        return Err(BatchError::Size(errors));
    }
    Ok(items
        .iter()
        .map(|item| match Lead::parse(item) {
            Ok(lead) => LeadEntry::Valid(lead),
            Err(_) => LeadEntry::Rejected(number_as_sent(item)),
        })
        .collect())
}

/// The `phone_number` of a rejected lead, as the caller would recognise it.
fn number_as_sent(item: &Value) -> Option<String> {
    match item.get("phone_number")? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl Lead {
    /// Parses one lead, reporting every problem at once. The messages never
    /// repeat the values they are about.
    pub fn parse(value: &Value) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let Some(obj) = value.as_object() else {
            errors.add("lead", "must be a JSON object");
            return Err(errors);
        };
        for key in obj.keys() {
            if !matches!(
                key.as_str(),
                "phone_number" | "name" | "source" | "priority" | "active" | "context_headers"
            ) {
                errors.add(key.clone(), "is not a known field");
            }
        }
        let phone_number = match obj.get("phone_number") {
            None | Some(Value::Null) => {
                errors.add("phone_number", "is missing");
                None
            }
            Some(Value::String(s)) => match s.parse::<PhoneNumber>() {
                Ok(n) => Some(n),
                Err(message) => {
                    errors.add("phone_number", message);
                    None
                }
            },
            Some(_) => {
                errors.add("phone_number", "must be a string of digits");
                None
            }
        };
        let name = match obj.get("name") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => match checked_text(s, MAX_NAME) {
                Ok(s) => Some(s),
                Err(e) => {
                    errors.add("name", e.to_string());
                    None
                }
            },
            Some(_) => {
                errors.add("name", "must be a string");
                None
            }
        };
        let source = parse_source(obj.get("source"), &mut errors);
        let priority = match obj.get("priority") {
            None | Some(Value::Null) => LeadPriority::DEFAULT,
            Some(v) => v.as_i64().and_then(LeadPriority::new).unwrap_or_else(|| {
                errors.add(
                    "priority",
                    format!(
                        "must be an integer between {} and {}",
                        LeadPriority::MIN,
                        LeadPriority::MAX
                    ),
                );
                LeadPriority::DEFAULT
            }),
        };
        let active = match obj.get("active") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                errors.add("active", "must be true or false");
                true
            }
        };
        let context_headers = parse_headers(obj.get("context_headers"), &mut errors);
        match phone_number {
            Some(phone_number) if errors.is_empty() => Ok(Self {
                phone_number,
                name,
                source,
                priority,
                active,
                context_headers,
            }),
            _ => Err(errors),
        }
    }
}

fn parse_source(value: Option<&Value>, errors: &mut FieldErrors) -> Option<LeadSource> {
    let obj = match value {
        None | Some(Value::Null) => return None,
        Some(Value::Object(obj)) => obj,
        Some(_) => {
            errors.add("source", "must be an object with system and url");
            return None;
        }
    };
    let mut source = LeadSource::default();
    for (key, v) in obj {
        let slot = match key.as_str() {
            "system" => &mut source.system,
            "url" => &mut source.url,
            _ => {
                errors.add(format!("source.{key}"), "is not a known field");
                continue;
            }
        };
        match v {
            Value::Null => {}
            Value::String(s) => match checked_text(s, MAX_SOURCE_TEXT) {
                Ok(s) => *slot = Some(s),
                Err(e) => errors.add(format!("source.{key}"), e.to_string()),
            },
            _ => errors.add(format!("source.{key}"), "must be a string"),
        }
    }
    Some(source)
}

/// Whether `name` is a SIP header name (an RFC 3261 token) starting with
/// `X-`, as the dialer sends them.
fn is_context_header_name(name: &str) -> bool {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b);
    name.len() > 2
        && name.len() <= MAX_HEADER_NAME
        && name.as_bytes()[..2].eq_ignore_ascii_case(b"X-")
        && name.bytes().all(token)
}

fn parse_headers(value: Option<&Value>, errors: &mut FieldErrors) -> Vec<(String, String)> {
    let obj: &Map<String, Value> = match value {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Object(obj)) => obj,
        Some(_) => {
            errors.add(
                "context_headers",
                "must be an object of header names to values",
            );
            return Vec::new();
        }
    };
    if obj.len() > MAX_CONTEXT_HEADERS {
        errors.add(
            "context_headers",
            format!("must hold at most {MAX_CONTEXT_HEADERS} headers"),
        );
    }
    let mut headers: Vec<(String, String)> = Vec::with_capacity(obj.len());
    for (name, v) in obj {
        if !is_context_header_name(name) {
            errors.add(
                "context_headers",
                format!(
                    "names must be SIP header names of at most {MAX_HEADER_NAME} characters starting with X-"
                ),
            );
            continue;
        }
        if headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
            errors.add("context_headers", "names must be unique regardless of case");
            continue;
        }
        match v {
            Value::String(s)
                if s.chars().count() <= MAX_HEADER_VALUE
                    && !s.chars().any(|c| c.is_control() && c != '\t') =>
            {
                headers.push((name.clone(), s.clone()));
            }
            _ => errors.add(
                "context_headers",
                format!(
                    "values must be strings of at most {MAX_HEADER_VALUE} characters without line breaks"
                ),
            ),
        }
    }
    headers
}

impl Serialize for LeadSource {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("system", &self.system)?;
        map.serialize_entry("url", &self.url)?;
        map.end()
    }
}

/// The context headers as a JSON object, in their order.
struct Headers<'a>(&'a [(String, String)]);

impl Serialize for Headers<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

impl Lead {
    fn serialize_fields<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        map.serialize_entry("phone_number", self.phone_number.as_str())?;
        map.serialize_entry("name", &self.name)?;
        map.serialize_entry("source", &self.source)?;
        map.serialize_entry("priority", &self.priority.0)?;
        map.serialize_entry("active", &self.active)?;
        map.serialize_entry("context_headers", &Headers(&self.context_headers))
    }
}

impl Serialize for Lead {
    /// Every field, absent ones as `null` (`context_headers` as `{}`), in
    /// the order SPEC §10 lists them; [`Lead::parse`] reads it back.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(6))?;
        self.serialize_fields(&mut map)?;
        map.end()
    }
}

/// A lead as a campaign holds it: the lead and when it was imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadRecord {
    /// The lead.
    pub lead: Lead,
    /// When it was imported.
    pub created_at: Timestamp,
}

impl Serialize for LeadRecord {
    /// The lead's fields, then `created_at`.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(7))?;
        self.lead.serialize_fields(&mut map)?;
        map.serialize_entry("created_at", &self.created_at)?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn lead(value: &Value) -> Lead {
        Lead::parse(value).unwrap()
    }

    #[test]
    fn a_bare_number_takes_the_defaults_and_renders_every_field() {
        let l = lead(&json!({"phone_number": "15551234567"}));
        assert_eq!(l.priority, LeadPriority::DEFAULT);
        assert!(l.active);
        assert_eq!(
            serde_json::to_string(&l).unwrap(),
            r#"{"phone_number":"15551234567","name":null,"source":null,"priority":500,"active":true,"context_headers":{}}"#
        );
        assert_eq!(lead(&serde_json::to_value(&l).unwrap()), l, "round trip");
    }

    #[test]
    fn every_field_is_kept_in_order() {
        let value = json!({
            "phone_number": "442071838750", "name": " Ann ", "priority": 1, "active": false,
            "source": {"system": "crm", "url": "https://crm.example/1"},
            "context_headers": {"X-Zeta": "1", "x-alpha": "two words"}
        });
        let l = lead(&value);
        assert_eq!(l.name.as_deref(), Some("Ann"));
        let record = LeadRecord {
            lead: l.clone(),
            created_at: Timestamp::from_unix_millis(0).unwrap(),
        };
        assert_eq!(
            serde_json::to_string(&record).unwrap(),
            r#"{"phone_number":"442071838750","name":"Ann","source":{"system":"crm","url":"https://crm.example/1"},"priority":1,"active":false,"context_headers":{"X-Zeta":"1","x-alpha":"two words"},"created_at":"1970-01-01T00:00:00.000Z"}"#
        );
        assert_eq!(lead(&serde_json::to_value(&l).unwrap()), l, "round trip");
    }

    #[test]
    fn bad_fields_are_each_reported_without_their_values() {
        let e = Lead::parse(&json!({
            "phone_number": "+15551234567", "priority": 1001, "active": "yes",
            "source": {"system": 1, "extra": "x"}, "colour": "red",
            "context_headers": {"Via": "1"}
        }))
        .unwrap_err();
        for field in [
            "phone_number",
            "priority",
            "active",
            "source.system",
            "source.extra",
            "colour",
            "context_headers",
        ] {
            assert!(e.get(field).is_some(), "{field}: {e}");
        }
        assert!(!e.to_string().contains("5551234567"), "{e}");
    }

    #[test]
    fn phone_numbers_follow_the_rule() {
        for ok in ["1234567", "123456789012345", "15551234567"] {
            assert!(Lead::parse(&json!({"phone_number": ok})).is_ok(), "{ok}");
        }
        for bad in [
            json!("123456"),
            json!("1234567890123456"),
            json!("01234567"),
            json!("1555 123 4567"),
            json!("+15551234567"),
            json!(15_551_234_567_i64),
            json!(null),
            json!(""),
        ] {
            assert!(Lead::parse(&json!({"phone_number": bad})).is_err(), "{bad}");
        }
        assert!(Lead::parse(&json!({"name": "no number"})).is_err());
    }

    #[test]
    fn context_headers_are_sip_names_starting_with_x_and_at_most_twenty() {
        let ok =
            |h: Value| Lead::parse(&json!({"phone_number": "15551234567", "context_headers": h}));
        assert!(ok(json!({"X-Campaign-Ref": "a", "X-A.b_c~": "b"})).is_ok());
        for bad in [
            json!({"X-": "a"}),
            json!({"Y-Thing": "a"}),
            json!({"X-Two Words": "a"}),
            json!({"X-A": "a\r\nInjected: 1"}),
            json!({"X-A": 1}),
            json!({"X-A": "a", "x-a": "b"}),
            json!(["X-A"]),
        ] {
            assert!(ok(bad.clone()).is_err(), "{bad}");
        }
        let many: Map<String, Value> = (0..=MAX_CONTEXT_HEADERS)
            .map(|i| (format!("X-H{i}"), json!("v")))
            .collect();
        assert!(ok(Value::Object(many.clone())).is_err());
        let mut twenty = many;
        twenty.shift_remove("X-H0");
        assert!(ok(Value::Object(twenty)).is_ok());
    }

    #[test]
    fn a_batch_is_an_array_of_one_to_a_thousand_and_rejections_keep_the_number_sent() {
        assert_eq!(parse_batch(&json!({})), Err(BatchError::NotAnArray));
        assert!(matches!(parse_batch(&json!([])), Err(BatchError::Size(_))));
        let big = Value::Array(vec![json!({"phone_number": "15551234567"}); 1001]);
        assert!(matches!(parse_batch(&big), Err(BatchError::Size(_))));
        let entries = parse_batch(&json!([
            {"phone_number": "15551234567"},
            {"phone_number": "123"},
            {"phone_number": 15_551_234_568_i64},
            {"name": "nobody"},
            "not an object",
        ]))
        .unwrap();
        assert!(matches!(&entries[0], LeadEntry::Valid(_)));
        assert_eq!(
            entries[1..],
            [
                LeadEntry::Rejected(Some("123".into())),
                LeadEntry::Rejected(Some("15551234568".into())),
                LeadEntry::Rejected(None),
                LeadEntry::Rejected(None),
            ]
        );
    }
}
