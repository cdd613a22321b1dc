//! API key scopes: what a key may do.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One permission an API key can hold. Each endpoint names exactly one;
/// `campaigns.manage` does not imply `campaigns.read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// `campaigns.read`: every GET under `/campaigns`.
    CampaignsRead,
    /// `campaigns.manage`: every write and lifecycle action.
    CampaignsManage,
    /// `users.read`: `GET /api/v4/users`.
    UsersRead,
}

/// Why a scope name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope {0:?} (known scopes: campaigns.read, campaigns.manage, users.read)")]
pub struct ParseScopeError(pub String);

impl Scope {
    /// Every scope, in display order.
    pub const ALL: [Scope; 3] = [
        Scope::CampaignsRead,
        Scope::CampaignsManage,
        Scope::UsersRead,
    ];

    /// The wire name, e.g. `campaigns.read`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::CampaignsRead => "campaigns.read",
            Scope::CampaignsManage => "campaigns.manage",
            Scope::UsersRead => "users.read",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Scope::CampaignsRead => 1,
            Scope::CampaignsManage => 2,
            Scope::UsersRead => 4,
        }
    }
}

impl FromStr for Scope {
    type Err = ParseScopeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| ParseScopeError(s.to_owned()))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A set of scopes, cheap to copy and test.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Scopes(u8);

impl Scopes {
    /// The empty set.
    pub const NONE: Scopes = Scopes(0);

    /// True if `scope` is in the set.
    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    /// Adds `scope`.
    pub fn insert(&mut self, scope: Scope) {
        self.0 |= scope.bit();
    }

    /// True if the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The scopes in the set, in display order.
    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }

    /// Space-separated wire names, the form kept in storage.
    pub fn to_storage(self) -> String {
        self.iter().map(Scope::as_str).collect::<Vec<_>>().join(" ")
    }

    /// Parses the storage form written by [`Scopes::to_storage`].
    pub fn from_storage(s: &str) -> Result<Self, ParseScopeError> {
        s.split_whitespace().map(str::parse).collect()
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        let mut set = Scopes::NONE;
        for scope in iter {
            set.insert(scope);
        }
        set
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl Serialize for Scopes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_scopes_parse() {
        assert_eq!("campaigns.read".parse(), Ok(Scope::CampaignsRead));
        assert_eq!("campaigns.manage".parse(), Ok(Scope::CampaignsManage));
        assert_eq!("users.read".parse(), Ok(Scope::UsersRead));
        for bad in [
            "",
            "campaigns",
            "Campaigns.read",
            "campaigns.read ",
            "users.write",
            "*",
        ] {
            assert!(bad.parse::<Scope>().is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn scope_sets_round_trip_through_storage() {
        let both: Scopes = Scope::ALL.into_iter().collect();
        assert_eq!(
            both.to_storage(),
            "campaigns.read campaigns.manage users.read"
        );
        assert_eq!(Scopes::from_storage(&both.to_storage()), Ok(both));
        let manage: Scopes = [Scope::CampaignsManage].into_iter().collect();
        assert!(!manage.contains(Scope::CampaignsRead));
        assert_eq!(
            serde_json::to_string(&manage).unwrap(),
            r#"["campaigns.manage"]"#
        );
    }
}
