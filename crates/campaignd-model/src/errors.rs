//! Field-keyed validation errors: the `errors` object of 409 and 422 bodies.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Problems found in a request or record, keyed by field name, each with one
/// or more human-readable messages. Serializes as `{"field": ["message", ...]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FieldErrors(BTreeMap<String, Vec<String>>);

impl FieldErrors {
    /// An empty set of errors.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `message` against `field`.
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.entry(field.into()).or_default().push(message.into());
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of fields with at least one problem.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// `Ok(value)` when nothing was recorded, else `Err(self)`.
    pub fn into_result<T>(self, value: T) -> Result<T, Self> {
        if self.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }

    /// The messages recorded for `field`, if any.
    pub fn get(&self, field: &str) -> Option<&[String]> {
        self.0.get(field).map(Vec::as_slice)
    }

    /// Iterates over `(field, messages)` in field order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// Moves every error of `other` into `self`.
    pub fn merge(&mut self, other: FieldErrors) {
        for (field, messages) in other.0 {
            self.0.entry(field).or_default().extend(messages);
        }
    }

    /// The underlying map.
    pub fn into_map(self) -> BTreeMap<String, Vec<String>> {
        self.0
    }
}

impl std::fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for (field, messages) in &self.0 {
            for message in messages {
                if !first {
                    f.write_str("; ")?;
                }
                first = false;
                write!(f, "{field}: {message}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for FieldErrors {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_a_map_of_message_lists() {
        let mut errors = FieldErrors::new();
        errors.add("name", "is missing");
        errors.add("dial_level", "must be a number");
        errors.add("name", "is too long");
        assert_eq!(
            serde_json::to_string(&errors).unwrap(),
            r#"{"dial_level":["must be a number"],"name":["is missing","is too long"]}"#
        );
        assert_eq!(
            errors.to_string(),
            "dial_level: must be a number; name: is missing; name: is too long"
        );
    }
}
