//! The campaign object of SPEC §4 and its three JSON renderings.

use std::fmt;
use std::str::FromStr;

use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};

use crate::ids::{CampaignId, checked_text};
use crate::timestamp::Timestamp;

macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident, $what:literal { $($(#[$vdoc:meta])* $variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value, in documentation order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire form.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire),+
                }
            }

            /// The message given when a value is not one of [`Self::ALL`].
            pub fn expected() -> String {
                let names: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                format!("must be one of: {}", names.join(", "))
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($wire => Ok($name::$variant),)+
                    _ => Err(Self::expected()),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                s.parse().map_err(|_| serde::de::Error::custom(concat!("unknown ", $what)))
            }
        }
    };
}

wire_enum!(
    /// Where a campaign is in its lifecycle.
    Status, "status" {
        /// Being set up; never dialed.
        Draft => "draft",
        /// Dialing.
        Active => "active",
        /// Paused by a request.
        Paused => "paused",
        /// Stopping: calls in progress are finishing.
        Stopping => "stopping",
        /// Every lead has been worked.
        Completed => "completed",
        /// Leads are being imported.
        Processing => "processing",
        /// Stopped by a request.
        Stopped => "stopped",
        /// Paused by the system (for example, no agents).
        AutoPaused => "auto_paused",
        /// Pausing: calls in progress are finishing.
        Pausing => "pausing",
        /// Pausing on the system's initiative.
        AutoPausing => "auto_pausing",
        /// A lead import failed.
        ImportError => "import_error",
    }
);

wire_enum!(
    /// How the dialer paces calls.
    Strategy, "strategy" {
        /// A fixed number of calls per available agent (the dial level).
        Simple => "simple",
        /// Pacing predicted from answer rates and agent availability.
        PredictiveAi => "predictive_ai",
    }
);

wire_enum!(
    /// How follow-ups are scheduled.
    FollowUpMode, "follow-up mode" {
        /// On a timer (the only value documented).
        Timer => "timer",
    }
);

macro_rules! bounded_int {
    ($(#[$doc:meta])* $name:ident, $ty:ty, $min:expr, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "i64", into = "i64")]
        pub struct $name($ty);

        impl $name {
            /// The smallest accepted value.
            pub const MIN: $ty = $min;
            /// The largest accepted value.
            pub const MAX: $ty = $max;

            /// Wraps `value` if it is within bounds.
            pub fn new(value: i64) -> Option<Self> {
                (i64::from(Self::MIN)..=i64::from(Self::MAX))
                    .contains(&value)
                    .then(|| Self(value as $ty))
            }

            /// The value.
            pub fn get(self) -> $ty {
                self.0
            }

            /// The message given when a value is out of bounds.
            pub fn expected() -> String {
                format!("must be between {} and {}", Self::MIN, Self::MAX)
            }
        }

        impl TryFrom<i64> for $name {
            type Error = String;
            fn try_from(value: i64) -> Result<Self, Self::Error> {
                Self::new(value).ok_or_else(Self::expected)
            }
        }

        impl From<$name> for i64 {
            fn from(v: $name) -> i64 {
                i64::from(v.0)
            }
        }
    };
}

bounded_int!(
    /// Seconds the dialer spends dialing one contact: 1–600.
    MaxDialTime, u16, 1, 600
);
bounded_int!(
    /// Seconds an answered contact may wait for an agent: 0–600.
    MaxWaitTime, u16, 0, 600
);
bounded_int!(
    /// Attempts per lead: 1–100.
    MaxDialAttempts, u8, 1, 100
);
bounded_int!(
    /// Active agents needed before a dial-level override applies: 1–1,000,000.
    AgentsThreshold, u32, 1, 1_000_000
);

/// Calls dialed in parallel per agent: a number with 0 < x ≤ 10.
///
/// Renders a whole value as an integer (`1`, never `1.0`) and a fraction in its
/// shortest exact form (`1.5`).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct DialLevel(f64);

impl DialLevel {
    /// The largest accepted value (the smallest is anything above 0).
    pub const MAX: f64 = 10.0;

    /// The message given when a value is out of bounds.
    pub const EXPECTED: &'static str = "must be greater than 0 and at most 10";

    /// Wraps `value` if 0 < value ≤ 10.
    pub fn new(value: f64) -> Option<Self> {
        (value.is_finite() && value > 0.0 && value <= Self::MAX).then_some(Self(value))
    }

    /// The value.
    pub fn get(self) -> f64 {
        self.0
    }
}

impl Serialize for DialLevel {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0.fract() == 0.0 {
            serializer.serialize_u64(self.0 as u64)
        } else {
            serializer.serialize_f64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for DialLevel {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(deserializer)?;
        Self::new(v).ok_or_else(|| serde::de::Error::custom(Self::EXPECTED))
    }
}

macro_rules! checked_string {
    ($(#[$doc:meta])* $name:ident, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The longest accepted value, in characters.
            pub const MAX_CHARS: usize = $max;

            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                checked_text(s, $max).map(Self).map_err(|e| e.to_string())
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

checked_string!(
    /// A campaign's name: 1–255 characters after trimming, no control
    /// characters; unique within its contact center.
    CampaignName, 255
);
checked_string!(
    /// The dialing method: 1–64 characters after trimming. Matched exactly by
    /// the list filter.
    Method, 64
);
checked_string!(
    /// The name of a recorded voice message: 1–255 characters after trimming.
    VoiceMessageName, 255
);

/// A phone number: 7–15 digits, country code first, no `+`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// The message given for a malformed number.
    pub const EXPECTED: &'static str =
        "must be 7 to 15 digits, country code first, without a leading + or 0";

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for PhoneNumber {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = (7..=15).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_digit())
            && !s.starts_with('0');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(Self::EXPECTED.to_owned())
        }
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<PhoneNumber> for String {
    fn from(v: PhoneNumber) -> String {
        v.0
    }
}

/// A multiplier on the dial level that applies once enough agents are active.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DialLevelOverride {
    /// Whether the override is in force.
    pub enabled: bool,
    /// The dial level used while the override applies.
    pub value: DialLevel,
    /// Active agents needed before it applies.
    pub active_agents_threshold: AgentsThreshold,
}

/// A recorded message left when answering machine detection hears voicemail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoiceMessage {
    /// The recording's name.
    pub name: VoiceMessageName,
}

impl Serialize for VoiceMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("VoiceMessage", 2)?;
        s.serialize_field("type", "voice_message")?;
        s.serialize_field("name", &self.name)?;
        s.end()
    }
}

impl<'de> Deserialize<'de> for VoiceMessage {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            #[serde(rename = "type")]
            kind: String,
            name: VoiceMessageName,
        }
        let raw = Raw::deserialize(deserializer)?;
        if raw.kind != "voice_message" {
            return Err(serde::de::Error::custom("type must be voice_message"));
        }
        Ok(Self { name: raw.name })
    }
}

/// Answering machine detection's voicemail behaviour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmdVoicemailMessage {
    /// Whether a message is left.
    pub enabled: bool,
    /// The message left, if one is chosen.
    pub voice_message: Option<VoiceMessage>,
}

/// A set of caller ids the dialer presents: 1–1000 phone numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallerIdSet {
    /// The numbers of the set.
    pub phone_numbers: Vec<PhoneNumber>,
}

impl CallerIdSet {
    /// Most numbers in one set.
    pub const MAX_NUMBERS: usize = 1000;
    /// Most sets on one campaign.
    pub const MAX_SETS: usize = 50;
}

/// Everything about a campaign that a request or an import may set.
#[expect(
    clippy::struct_excessive_bools,
    reason = "the wire object has these booleans"
)]
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignSettings {
    /// The name, unique within the contact center.
    pub name: CampaignName,
    /// Pacing strategy.
    pub strategy: Strategy,
    /// Parallel calls per agent.
    pub dial_level: DialLevel,
    /// Optional dial level used once enough agents are active.
    pub dial_level_override: Option<DialLevelOverride>,
    /// Seconds spent dialing one contact.
    pub max_dial_time: MaxDialTime,
    /// Seconds an answered contact may wait for an agent.
    pub max_wait_time: MaxWaitTime,
    /// Attempts per lead.
    pub max_dial_attempts: MaxDialAttempts,
    /// Answering machine detection.
    pub amd_enabled: bool,
    /// What to do on voicemail.
    pub amd_voicemail_message: Option<AmdVoicemailMessage>,
    /// Caller id sets presented on outgoing calls.
    pub caller_id_sets: Vec<CallerIdSet>,
    /// Present a caller id local to the callee.
    pub use_local_caller_id: bool,
    /// Speech-recognition tuning.
    pub asr_optimization_enabled: bool,
    /// How follow-ups are scheduled.
    pub follow_up_mode: Option<FollowUpMode>,
    /// Takes leads pushed through the API. Not part of the v4 rendering.
    pub live: bool,
    /// The dialing method. Not part of the v4 rendering.
    pub method: Option<Method>,
}

impl CampaignSettings {
    /// The settings of a campaign created with only a name (SPEC §8).
    pub fn with_defaults(name: CampaignName) -> Self {
        Self {
            name,
            strategy: Strategy::Simple,
            dial_level: DialLevel(1.0),
            dial_level_override: None,
            max_dial_time: MaxDialTime(60),
            max_wait_time: MaxWaitTime(5),
            max_dial_attempts: MaxDialAttempts(3),
            amd_enabled: false,
            amd_voicemail_message: None,
            caller_id_sets: Vec::new(),
            use_local_caller_id: false,
            asr_optimization_enabled: false,
            follow_up_mode: None,
            live: false,
            method: None,
        }
    }
}

/// A dialer campaign.
#[derive(Debug, Clone, PartialEq)]
pub struct Campaign {
    /// Id within its contact center.
    pub id: CampaignId,
    /// Lifecycle state.
    pub status: Status,
    /// Everything a request may set.
    pub settings: CampaignSettings,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was last written.
    pub updated_at: Timestamp,
}

/// Which JSON rendering of a campaign to produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CampaignView {
    /// The v4 campaign object (Get campaign, writes and actions).
    Full,
    /// A v4 list item: the full object less `dial_level_override`,
    /// `use_local_caller_id` and `asr_optimization_enabled`.
    ListItem,
    /// The admin export: the full object plus `live` and `method`.
    Export,
}

/// A campaign paired with the rendering to use; see [`Campaign::view`].
#[derive(Debug, Clone, Copy)]
pub struct Rendered<'a>(&'a Campaign, CampaignView);

impl Campaign {
    /// Names the output of [`Campaign::get_body`]; bump it whenever that
    /// output changes, so stored renderings from before are not served.
    pub const BODY_VERSION: i64 = 1;

    /// The campaign in one of its renderings, ready for `serde_json`.
    pub fn view(&self, view: CampaignView) -> Rendered<'_> {
        Rendered(self, view)
    }

    /// The Get campaign response body: `{"campaign": <full object>}`.
    pub fn get_body(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(1024);
        body.extend_from_slice(br#"{"campaign":"#);
        serde_json::to_writer(&mut body, self).expect("a campaign always serializes");
        body.push(b'}');
        body
    }
}

impl Serialize for Campaign {
    /// The v4 campaign object.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Rendered(self, CampaignView::Full).serialize(serializer)
    }
}

impl Serialize for Rendered<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Rendered(c, view) = *self;
        let full = view != CampaignView::ListItem;
        let export = view == CampaignView::Export;
        let st = &c.settings;
        let mut s = serializer.serialize_struct("Campaign", 19)?;
        s.serialize_field("id", &c.id)?;
        s.serialize_field("name", &st.name)?;
        s.serialize_field("status", &c.status)?;
        s.serialize_field("strategy", &st.strategy)?;
        s.serialize_field("dial_level", &st.dial_level)?;
        if full {
            s.serialize_field("dial_level_override", &st.dial_level_override)?;
        }
        s.serialize_field("max_dial_time", &st.max_dial_time)?;
        s.serialize_field("max_wait_time", &st.max_wait_time)?;
        s.serialize_field("max_dial_attempts", &st.max_dial_attempts)?;
        s.serialize_field("amd_enabled", &st.amd_enabled)?;
        s.serialize_field("amd_voicemail_message", &st.amd_voicemail_message)?;
        s.serialize_field("caller_id_sets", &st.caller_id_sets)?;
        if full {
            s.serialize_field("use_local_caller_id", &st.use_local_caller_id)?;
            s.serialize_field("asr_optimization_enabled", &st.asr_optimization_enabled)?;
        }
        s.serialize_field("follow_up_mode", &st.follow_up_mode)?;
        s.serialize_field("created_at", &c.created_at)?;
        s.serialize_field("updated_at", &c.updated_at)?;
        if export {
            s.serialize_field("live", &st.live)?;
            s.serialize_field("method", &st.method)?;
        }
        s.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dial_levels_render_whole_values_as_integers() {
        for (value, json) in [
            (1.0, "1"),
            (10.0, "10"),
            (1.5, "1.5"),
            (0.1, "0.1"),
            (2.25, "2.25"),
        ] {
            let level = DialLevel::new(value).unwrap();
            assert_eq!(serde_json::to_string(&level).unwrap(), json);
            let back: DialLevel = serde_json::from_str(json).unwrap();
            assert_eq!(back, level);
        }
        let from_float: DialLevel = serde_json::from_str("1.0").unwrap();
        assert_eq!(serde_json::to_string(&from_float).unwrap(), "1");
    }

    #[test]
    fn dial_levels_outside_zero_to_ten_are_refused() {
        for value in [0.0, -1.0, 10.000_001, f64::NAN, f64::INFINITY] {
            assert!(DialLevel::new(value).is_none(), "{value}");
        }
        assert!(DialLevel::new(10.0).is_some());
        assert!(DialLevel::new(0.001).is_some());
    }

    #[test]
    fn bounded_integers_enforce_their_ranges() {
        assert!(MaxDialTime::new(0).is_none());
        assert!(MaxDialTime::new(601).is_none());
        assert_eq!(MaxDialTime::new(600).map(MaxDialTime::get), Some(600));
        assert_eq!(MaxWaitTime::new(0).map(MaxWaitTime::get), Some(0));
        assert!(MaxDialAttempts::new(101).is_none());
        assert_eq!(MaxDialTime::expected(), "must be between 1 and 600");
    }

    #[test]
    fn phone_numbers_are_seven_to_fifteen_digits() {
        for ok in ["1888565", "188856500011234", "18885650001"] {
            assert!(ok.parse::<PhoneNumber>().is_ok(), "{ok}");
        }
        for bad in [
            "188856",
            "1888565000112345",
            "+18885650001",
            "08885650001",
            "1888-565-0001",
            "",
        ] {
            assert!(bad.parse::<PhoneNumber>().is_err(), "{bad}");
        }
    }

    #[test]
    fn statuses_parse_only_their_wire_names() {
        assert_eq!(Status::ALL.len(), 11);
        for status in Status::ALL {
            assert_eq!(status.as_str().parse::<Status>(), Ok(*status));
        }
        assert!("Active".parse::<Status>().is_err());
        assert!("predictive".parse::<Strategy>().is_err());
    }
}
