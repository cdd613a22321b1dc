//! Identifiers and names as newtypes, each parsed through its one rule.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why an identifier or name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseIdError {
    /// Not a canonical positive integer (digits only, no sign, no leading zero).
    #[error("must be a positive integer")]
    NotCanonical,
    /// Beyond 2^63 - 1.
    #[error("is too large")]
    TooLarge,
    /// Empty or too long after trimming.
    #[error("must be between 1 and {max} characters")]
    Length {
        /// The longest accepted length, in characters.
        max: usize,
    },
    /// Contains a control character.
    #[error("must not contain control characters")]
    Control,
}

/// Parses a canonical positive integer: ASCII digits only, no sign, no
/// leading zero, no surrounding space, at most 2^63 - 1.
///
/// Every byte is inspected whatever the outcome, so refusing a malformed id
/// costs the same as accepting a well-formed one of the same length.
fn parse_canonical_positive(s: &str) -> Result<i64, ParseIdError> {
    let bytes = s.as_bytes();
    let mut ok = !bytes.is_empty() && bytes[0] != b'0';
    let mut value: u64 = 0;
    let mut overflow = false;
    for &b in bytes {
        let digit = b.wrapping_sub(b'0');
        ok &= digit <= 9;
        let (mul, o1) = value.overflowing_mul(10);
        let (sum, o2) = mul.overflowing_add(u64::from(digit.min(9)));
        overflow |= o1 | o2;
        value = sum;
    }
    if !ok {
        return Err(ParseIdError::NotCanonical);
    }
    if overflow || value > i64::MAX as u64 {
        return Err(ParseIdError::TooLarge);
    }
    Ok(value as i64)
}

macro_rules! positive_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "i64", into = "i64")]
        pub struct $name(i64);

        impl $name {
            /// Wraps `value` if it is positive.
            pub fn new(value: i64) -> Option<Self> {
                (value > 0).then_some(Self(value))
            }

            /// The numeric value.
            pub fn get(self) -> i64 {
                self.0
            }
        }

        impl TryFrom<i64> for $name {
            type Error = ParseIdError;
            fn try_from(value: i64) -> Result<Self, Self::Error> {
                Self::new(value).ok_or(ParseIdError::NotCanonical)
            }
        }

        impl From<$name> for i64 {
            fn from(id: $name) -> i64 {
                id.0
            }
        }

        impl FromStr for $name {
            type Err = ParseIdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_canonical_positive(s).map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

positive_id!(
    /// A campaign's id, numbered per contact center.
    CampaignId
);

impl CampaignId {
    /// The largest id a stored campaign may have: 2^53 - 1, the largest
    /// integer every JSON client reads exactly. Larger ids still parse (a
    /// request may name one) but never exist.
    pub const MAX_STORED: i64 = (1 << 53) - 1;
}
positive_id!(
    /// A contact center's id.
    ContactCenterId
);
positive_id!(
    /// An API key's id (not the key itself), unique across the deployment.
    ApiKeyId
);
positive_id!(
    /// A user's id, numbered per contact center.
    UserId
);

impl UserId {
    /// The largest id a stored user may have, as for campaigns.
    pub const MAX_STORED: i64 = CampaignId::MAX_STORED;
}

/// Trims `s` and checks it is 1..=`max` characters without control characters.
pub(crate) fn checked_text(s: &str, max: usize) -> Result<String, ParseIdError> {
    let trimmed = s.trim();
    let chars = trimmed.chars().count();
    if chars == 0 || chars > max {
        return Err(ParseIdError::Length { max });
    }
    if trimmed.chars().any(char::is_control) {
        return Err(ParseIdError::Control);
    }
    Ok(trimmed.to_owned())
}

/// A contact center's name: 1–100 characters after trimming, no control
/// characters, unique in the deployment. Admin commands address centers by it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ContactCenterName(String);

impl ContactCenterName {
    /// The longest accepted name, in characters.
    pub const MAX_CHARS: usize = 100;

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ContactCenterName {
    type Err = ParseIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        checked_text(s, Self::MAX_CHARS).map(Self)
    }
}

impl TryFrom<String> for ContactCenterName {
    type Error = ParseIdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<ContactCenterName> for String {
    fn from(n: ContactCenterName) -> String {
        n.0
    }
}

impl fmt::Display for ContactCenterName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn campaign_ids_must_be_canonical_positive_integers() {
        let too_big = "9".repeat(20);
        let huge = "1".repeat(2000);
        let cases: &[(&str, Result<i64, ParseIdError>)] = &[
            ("3", Ok(3)),
            ("10", Ok(10)),
            ("9223372036854775807", Ok(i64::MAX)),
            ("9223372036854775808", Err(ParseIdError::TooLarge)),
            (&too_big, Err(ParseIdError::TooLarge)),
            (&huge, Err(ParseIdError::TooLarge)),
            ("", Err(ParseIdError::NotCanonical)),
            ("0", Err(ParseIdError::NotCanonical)),
            ("03", Err(ParseIdError::NotCanonical)),
            ("-1", Err(ParseIdError::NotCanonical)),
            ("+3", Err(ParseIdError::NotCanonical)),
            ("3.0", Err(ParseIdError::NotCanonical)),
            ("1e3", Err(ParseIdError::NotCanonical)),
            ("abc", Err(ParseIdError::NotCanonical)),
            (" 3", Err(ParseIdError::NotCanonical)),
            ("3 ", Err(ParseIdError::NotCanonical)),
            ("٣", Err(ParseIdError::NotCanonical)),
        ];
        for (input, expected) in cases {
            assert_eq!(
                input.parse::<CampaignId>().map(CampaignId::get),
                *expected,
                "input {input:?}"
            );
        }
    }

    #[test]
    fn ids_refuse_zero_and_negative_values() {
        assert!(CampaignId::new(0).is_none());
        assert!(CampaignId::new(-5).is_none());
        assert_eq!(CampaignId::new(7).map(CampaignId::get), Some(7));
        assert!(serde_json::from_str::<CampaignId>("0").is_err());
    }

    #[test]
    fn center_names_are_trimmed_and_bounded() {
        assert_eq!(
            "  acme ".parse::<ContactCenterName>().unwrap().as_str(),
            "acme"
        );
        assert!("   ".parse::<ContactCenterName>().is_err());
        assert!("a\nb".parse::<ContactCenterName>().is_err());
        assert!("x".repeat(101).parse::<ContactCenterName>().is_err());
        assert!("é".repeat(100).parse::<ContactCenterName>().is_ok());
    }
}
