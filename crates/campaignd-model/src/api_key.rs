//! API key tokens: generation, shape check, and the keyed hash kept in storage.
//!
//! A token reads `cmpd_` + 27 random base62 characters (160 bits) + a 6
//! character base62 CRC-32 of everything before it. The prefix lets secret
//! scanners find leaked keys; the checksum lets the server refuse a mistyped or
//! invented key without a storage lookup. Storage keeps only
//! HMAC-SHA-256(server secret, token): random keys need no password stretching,
//! and a cheap hash keeps bogus requests cheap.

use std::fmt;
use std::str::FromStr;

use hmac::{KeyInit, Mac};
use sha2::Sha256;

const PREFIX: &str = "cmpd_";
const RANDOM_CHARS: usize = 27;
const CHECK_CHARS: usize = 6;
const TOKEN_LEN: usize = PREFIX.len() + RANDOM_CHARS + CHECK_CHARS;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Length in bytes of the server secret that keys the stored hashes.
pub const SERVER_SECRET_LEN: usize = 32;

/// A well-formed API key. `Debug` and `Display` show only its last 4
/// characters; [`ApiKeyToken::expose`] gives the whole key, for the one time it
/// is shown to its owner.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeyToken(String);

/// Why a string is not an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseKeyError {
    /// Wrong length, prefix or alphabet.
    #[error("not an API key")]
    Malformed,
    /// Right shape, wrong checksum: mistyped or invented.
    #[error("API key checksum does not match")]
    Checksum,
}

impl ApiKeyToken {
    /// Generates a new key from the operating system's random source.
    pub fn generate() -> Self {
        let mut token = String::with_capacity(TOKEN_LEN);
        token.push_str(PREFIX);
        let mut filled = 0;
        let mut pool = [0u8; 64];
        while filled < RANDOM_CHARS {
            getrandom::fill(&mut pool).expect("the operating system's random source failed");
            for &b in &pool {
                // 248 = 4 * 62: rejecting the rest keeps every character uniform.
                if b < 248 && filled < RANDOM_CHARS {
                    token.push(BASE62[usize::from(b % 62)] as char);
                    filled += 1;
                }
            }
        }
        let check = checksum(token.as_bytes());
        token.push_str(&check);
        Self(token)
    }

    /// The whole key. Show it once, to its owner; never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The last 4 characters, the part a listing may show.
    pub fn last4(&self) -> &str {
        &self.0[TOKEN_LEN - 4..]
    }
}

/// CRC-32 (IEEE), one table lookup per byte.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// CRC-32 (IEEE) of `data`, as 6 base62 digits.
fn checksum_digits(data: &[u8]) -> [u8; CHECK_CHARS] {
    let mut crc = !0u32;
    for &byte in data {
        crc = (crc >> 8) ^ CRC_TABLE[((crc ^ u32::from(byte)) & 0xff) as usize];
    }
    let mut value = u64::from(!crc);
    let mut out = [b'0'; CHECK_CHARS];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(value % 62) as usize];
        value /= 62;
    }
    out
}

/// [`checksum_digits`] as a string.
fn checksum(data: &[u8]) -> String {
    String::from_utf8(checksum_digits(data).to_vec()).expect("ASCII")
}

impl FromStr for ApiKeyToken {
    type Err = ParseKeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != TOKEN_LEN
            || !s.starts_with(PREFIX)
            || !s.as_bytes()[PREFIX.len()..]
                .iter()
                .all(u8::is_ascii_alphanumeric)
        {
            return Err(ParseKeyError::Malformed);
        }
        let (body, check) = s.split_at(TOKEN_LEN - CHECK_CHARS);
        if checksum_digits(body.as_bytes()) != check.as_bytes() {
            return Err(ParseKeyError::Checksum);
        }
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Debug for ApiKeyToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKeyToken(****{})", self.last4())
    }
}

impl fmt::Display for ApiKeyToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "****{}", self.last4())
    }
}

/// The keyed hash of an API key, the only form storage keeps.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyHash(pub [u8; 32]);

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyHash(..)")
    }
}

/// Hashes API keys under the deployment's server secret.
#[derive(Clone)]
pub struct KeyHasher {
    mac: hmac::Hmac<Sha256>,
}

impl KeyHasher {
    /// A hasher keyed with `secret`.
    pub fn new(secret: &[u8; SERVER_SECRET_LEN]) -> Self {
        Self {
            mac: <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(secret)
                .expect("HMAC accepts any key length"),
        }
    }

    /// HMAC-SHA-256 of the key under the secret.
    pub fn hash(&self, token: &ApiKeyToken) -> KeyHash {
        let mut mac = self.mac.clone();
        mac.update(token.0.as_bytes());
        KeyHash(mac.finalize().into_bytes().into())
    }

    /// A fresh random secret.
    pub fn generate_secret() -> [u8; SERVER_SECRET_LEN] {
        let mut secret = [0u8; SERVER_SECRET_LEN];
        getrandom::fill(&mut secret).expect("the operating system's random source failed");
        secret
    }
}

impl fmt::Debug for KeyHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyHasher(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_documented_shape_and_parse_back() {
        let a = ApiKeyToken::generate();
        let b = ApiKeyToken::generate();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 38);
        assert!(a.expose().starts_with("cmpd_"));
        assert_eq!(a.expose().parse::<ApiKeyToken>().unwrap(), a);
    }

    #[test]
    fn keys_with_a_wrong_checksum_or_shape_are_refused() {
        let key = ApiKeyToken::generate();
        let s = key.expose();
        // Change one random character: the checksum no longer matches.
        let mut chars: Vec<char> = s.chars().collect();
        chars[10] = if chars[10] == 'a' { 'b' } else { 'a' };
        let typo: String = chars.into_iter().collect();
        assert_eq!(typo.parse::<ApiKeyToken>(), Err(ParseKeyError::Checksum));
        for bad in [
            "",
            "cmpd_",
            &s[1..],
            &format!("{s}x"),
            &s.replace("cmpd_", "cmpx_"),
            &s.replacen('_', "-", 1),
        ] {
            assert_eq!(
                bad.parse::<ApiKeyToken>(),
                Err(ParseKeyError::Malformed),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn debug_and_display_never_show_the_key() {
        let key = ApiKeyToken::generate();
        let secret_part = &key.expose()[5..20];
        for shown in [format!("{key:?}"), format!("{key}")] {
            assert!(!shown.contains(secret_part), "{shown}");
            assert!(shown.ends_with(key.last4()) || shown.ends_with(&format!("{})", key.last4())));
        }
    }

    #[test]
    fn hashes_depend_on_the_secret() {
        let key = ApiKeyToken::generate();
        let one = KeyHasher::new(&[1; 32]);
        let two = KeyHasher::new(&[2; 32]);
        assert_eq!(one.hash(&key), one.hash(&key));
        assert_ne!(one.hash(&key), two.hash(&key));
    }

    #[test]
    fn checksum_is_crc32() {
        // CRC-32 of "123456789" is 0xCBF43926 = 3421780262.
        let mut value = 3_421_780_262_u64;
        let mut expected = Vec::new();
        for _ in 0..6 {
            expected.push(BASE62[(value % 62) as usize]);
            value /= 62;
        }
        expected.reverse();
        assert_eq!(checksum(b"123456789").as_bytes(), expected.as_slice());
    }
}
