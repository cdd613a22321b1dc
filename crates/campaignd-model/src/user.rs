//! Users (agents) of a contact center, as SPEC §9 keeps them: an integer id
//! per contact center, a `name` and an `email`, and the rest of the v4
//! user object kept as imported.

use serde::Serialize;
use serde::ser::SerializeMap;
use serde_json::{Map, Value};

use crate::errors::FieldErrors;
use crate::ids::{UserId, checked_text};

/// Longest user name, in characters.
const MAX_NAME: usize = 255;
/// Longest email address (RFC 5321's path limit).
const MAX_EMAIL: usize = 254;

/// A user of a contact center.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// Id within the contact center.
    pub id: UserId,
    /// Display name.
    pub name: String,
    /// Email address.
    pub email: String,
    /// Every other key of the imported object, in its order.
    pub attributes: Map<String, Value>,
}

/// A user as an import record gives it: the id is optional (the next free
/// one is taken).
#[derive(Debug, Clone, PartialEq)]
pub struct UserDocument {
    /// The id, if given.
    pub id: Option<UserId>,
    /// Display name.
    pub name: String,
    /// Email address.
    pub email: String,
    /// Every other key, kept as given.
    pub attributes: Map<String, Value>,
}

impl UserDocument {
    /// Parses an import record, reporting every problem at once.
    pub fn parse(value: &Value) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let Some(obj) = value.as_object() else {
            errors.add("user", "must be a JSON object");
            return Err(errors);
        };
        let id = match obj.get("id") {
            None | Some(Value::Null) => None,
            Some(v) => {
                let id = v
                    .as_i64()
                    .and_then(UserId::new)
                    .filter(|id| id.get() <= UserId::MAX_STORED);
                if id.is_none() {
                    errors.add(
                        "id",
                        format!(
                            "must be a positive integer no greater than {}",
                            UserId::MAX_STORED
                        ),
                    );
                }
                id
            }
        };
        let mut text = |key: &str, max: usize, check: fn(&str) -> bool, what: &str| {
            match obj.get(key).map(Value::as_str) {
                None => errors.add(key, "is missing"),
                Some(None) => errors.add(key, "must be a string"),
                Some(Some(s)) => match checked_text(s, max) {
                    Ok(s) if check(&s) => return Some(s),
                    Ok(_) => errors.add(key, what),
                    Err(e) => errors.add(key, e.to_string()),
                },
            }
            None
        };
        let name = text("name", MAX_NAME, |_| true, "");
        let email = text(
            "email",
            MAX_EMAIL,
            looks_like_email,
            "must be an email address",
        );
        let attributes = obj
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "id" | "name" | "email"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        match (name, email) {
            (Some(name), Some(email)) if errors.is_empty() => Ok(Self {
                id,
                name,
                email,
                attributes,
            }),
            _ => Err(errors),
        }
    }
}

/// An address of the form `local@domain`, no spaces: enough to catch a
/// field given the wrong value, without pretending to validate mail.
fn looks_like_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && !s.contains(char::is_whitespace)
}

impl User {
    /// The short form assignments answer: `{"id", "name", "email"}`.
    pub fn summary(&self) -> UserSummary<'_> {
        UserSummary(self)
    }
}

impl Serialize for User {
    /// The v4 user object: `id`, `name`, `email`, then every other key as
    /// imported.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(3 + self.attributes.len()))?;
        map.serialize_entry("id", &self.id)?;
        map.serialize_entry("name", &self.name)?;
        map.serialize_entry("email", &self.email)?;
        for (k, v) in &self.attributes {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// See [`User::summary`].
#[derive(Debug, Clone, Copy)]
pub struct UserSummary<'a>(&'a User);

impl Serialize for UserSummary<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(3))?;
        map.serialize_entry("id", &self.0.id)?;
        map.serialize_entry("name", &self.0.name)?;
        map.serialize_entry("email", &self.0.email)?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_user_keeps_every_key_in_order_after_id_name_and_email() {
        let doc = UserDocument::parse(&json!({
            "timezone": "UTC", "email": "ann@example.com", "id": 42, "name": " Ann ",
            "teams": [{"id": 1}], "status": "offline"
        }))
        .unwrap();
        let user = User {
            id: doc.id.unwrap(),
            name: doc.name,
            email: doc.email,
            attributes: doc.attributes,
        };
        assert_eq!(
            serde_json::to_string(&user).unwrap(),
            r#"{"id":42,"name":"Ann","email":"ann@example.com","timezone":"UTC","teams":[{"id":1}],"status":"offline"}"#
        );
        assert_eq!(
            serde_json::to_string(&user.summary()).unwrap(),
            r#"{"id":42,"name":"Ann","email":"ann@example.com"}"#
        );
    }

    #[test]
    fn every_problem_of_a_record_is_reported() {
        let e = UserDocument::parse(&json!({"id": 0, "name": "", "email": "nope"})).unwrap_err();
        for field in ["id", "name", "email"] {
            assert!(e.get(field).is_some(), "{field}: {e}");
        }
        let e = UserDocument::parse(&json!({})).unwrap_err();
        assert_eq!(e.get("name"), Some(&["is missing".to_owned()][..]));
        assert_eq!(e.get("email"), Some(&["is missing".to_owned()][..]));
        assert!(UserDocument::parse(&json!([1])).is_err());
        let no_id = UserDocument::parse(&json!({"name": "B", "email": "b@x"})).unwrap();
        assert_eq!(no_id.id, None);
    }
}
