//! Instants with millisecond precision, rendered the one way the API shows them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// An instant, kept as whole milliseconds since the Unix epoch (UTC).
///
/// Renders as RFC 3339 in UTC with exactly three fractional digits and `Z`
/// (`2026-01-15T10:30:00.000Z`); parses any RFC 3339 instant, whatever its
/// offset or precision, and normalises it (sub-millisecond digits are dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// Why a timestamp was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be an RFC 3339 date-time such as 2026-01-15T10:30:00.000Z")]
pub struct ParseTimestampError;

/// Earliest renderable instant: 0000-01-01T00:00:00.000Z.
const MIN_MILLIS: i64 = -62_167_219_200_000;
/// Latest renderable instant: 9999-12-31T23:59:59.999Z.
const MAX_MILLIS: i64 = 253_402_300_799_999;

impl Timestamp {
    /// The current time, truncated to the millisecond.
    pub fn now() -> Self {
        let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        // A clock before 1970 is a broken clock; the epoch is as good as any.
        Self(since.map_or(0, |d| d.as_millis() as i64))
    }

    /// The instant `millis` milliseconds after the epoch, if it has a
    /// four-digit year.
    pub fn from_unix_millis(millis: i64) -> Option<Self> {
        (MIN_MILLIS..=MAX_MILLIS)
            .contains(&millis)
            .then_some(Self(millis))
    }

    /// Milliseconds since the epoch.
    pub fn unix_millis(self) -> i64 {
        self.0
    }

    /// The canonical form as ASCII bytes, without allocating.
    pub fn to_ascii(self) -> [u8; 24] {
        let days = self.0.div_euclid(86_400_000);
        let ms_of_day = self.0.rem_euclid(86_400_000);
        let (y, m, d) = civil_from_days(days);
        let secs = ms_of_day / 1000;
        let ms = ms_of_day % 1000;
        let (hh, mm, ss) = (secs / 3600, secs / 60 % 60, secs % 60);
        let mut buf = [0u8; 24];
        put(&mut buf[0..4], y);
        buf[4] = b'-';
        put(&mut buf[5..7], m);
        buf[7] = b'-';
        put(&mut buf[8..10], d);
        buf[10] = b'T';
        put(&mut buf[11..13], hh);
        buf[13] = b':';
        put(&mut buf[14..16], mm);
        buf[16] = b':';
        put(&mut buf[17..19], ss);
        buf[19] = b'.';
        put(&mut buf[20..23], ms);
        buf[23] = b'Z';
        buf
    }

    /// Appends the canonical form to `out`.
    pub fn write_to(self, out: &mut String) {
        out.push_str(std::str::from_utf8(&self.to_ascii()).expect("ASCII"));
    }
}

/// Writes `value` as zero-padded decimal filling `out`.
fn put(out: &mut [u8], mut value: i64) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day).
/// Howard Hinnant's `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

impl FromStr for Timestamp {
    type Err = ParseTimestampError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parsed = OffsetDateTime::parse(s, &Rfc3339).map_err(|_| ParseTimestampError)?;
        let millis = parsed.unix_timestamp_nanos().div_euclid(1_000_000);
        i64::try_from(millis)
            .ok()
            .and_then(Self::from_unix_millis)
            .ok_or(ParseTimestampError)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(std::str::from_utf8(&self.to_ascii()).expect("ASCII"))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_utc_with_exactly_three_fractional_digits() {
        let cases = [
            ("2026-01-15T10:30:00.000Z", "2026-01-15T10:30:00.000Z"),
            ("2026-01-15T10:30:00Z", "2026-01-15T10:30:00.000Z"),
            // RFC 3339 §5.6 allows a space for the T.
            ("2026-01-15 10:30:00Z", "2026-01-15T10:30:00.000Z"),
            ("2026-01-15T10:30:00.5Z", "2026-01-15T10:30:00.500Z"),
            ("2026-01-15T10:30:00.123456789Z", "2026-01-15T10:30:00.123Z"),
            ("2026-01-15T12:30:00.000+02:00", "2026-01-15T10:30:00.000Z"),
            ("2026-01-01T00:30:00-01:00", "2026-01-01T01:30:00.000Z"),
            ("2025-12-31T23:30:00.250-01:00", "2026-01-01T00:30:00.250Z"),
            ("1969-12-31T23:59:59.999Z", "1969-12-31T23:59:59.999Z"),
            ("2024-02-29T23:59:59.999Z", "2024-02-29T23:59:59.999Z"),
            ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000Z"),
            ("9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999Z"),
        ];
        for (input, expected) in cases {
            let ts: Timestamp = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(ts.to_string(), expected, "input {input}");
            assert_eq!(expected.parse::<Timestamp>().unwrap(), ts);
        }
    }

    #[test]
    fn refuses_what_is_not_an_rfc3339_instant() {
        for input in [
            "",
            "2026-01-15",
            "2026-01-15T10:30:00",
            "2026-13-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "yesterday",
        ] {
            assert!(input.parse::<Timestamp>().is_err(), "accepted {input:?}");
        }
    }

    #[test]
    fn rendering_agrees_with_the_time_crate_across_the_range() {
        let mut millis = MIN_MILLIS;
        while millis < MAX_MILLIS {
            let ts = Timestamp::from_unix_millis(millis).unwrap();
            let reference =
                OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
                    .unwrap()
                    .format(&Rfc3339)
                    .unwrap();
            let ours = ts.to_string();
            assert_eq!(
                ours.parse::<Timestamp>().unwrap(),
                ts,
                "{ours} vs {reference}"
            );
            assert_eq!(&ours[..19], &reference[..19]);
            millis += 7_777_777_777_777;
        }
    }
}
