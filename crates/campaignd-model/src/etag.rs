//! Strong entity tags (SPEC §7) and the `If-Match` condition a write is
//! checked against.
//!
//! A campaign's tag is a hash of its stored rendering. Every write changes
//! the rendering (`updated_at` moves forward on each), so the tag is the
//! row's version: the store recomputes it inside a write's own transaction
//! and compares it there, and two writers racing with one tag cannot both
//! pass.

use std::fmt;

/// A strong entity tag, quotes included: `"` and 16 hex digits and `"`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EntityTag([u8; 18]);

impl EntityTag {
    /// The tag of a response body. A fixed-key hash: the same bytes get the
    /// same tag on every node and after restarts, so a client's tag stays
    /// valid behind a load balancer.
    pub fn of(body: &[u8]) -> Self {
        let mut tag = [b'"'; 18];
        let mut hash = fx_hash(body);
        for digit in tag[1..17].iter_mut().rev() {
            *digit = b"0123456789abcdef"[(hash & 0xf) as usize];
            hash >>= 4;
        }
        Self(tag)
    }

    /// The tag as sent in `ETag`, quotes included.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("quotes and hex digits")
    }

    /// The tag's bytes, quotes included.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for EntityTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for EntityTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A word-at-a-time multiplicative hash (FxHash's mixing), folded with the
/// length. Not cryptographic: a tag only has to change when the bytes do,
/// and a collision among one campaign's versions is vanishingly unlikely.
fn fx_hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h: u64 = bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        h = (h.rotate_left(5) ^ word).wrapping_mul(K);
    }
    for &b in chunks.remainder() {
        h = (h.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
    }
    h ^ (h >> 29)
}

/// What an `If-Match` header asks of the current tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// `*`: any current version (the resource must exist).
    Any,
    /// One of these tags, quotes included, compared strongly (a weak
    /// `W/"..."` tag never matches).
    OneOf(Vec<String>),
}

impl Expected {
    /// Whether a resource whose tag is `tag` meets the condition.
    pub fn allows(&self, tag: &EntityTag) -> bool {
        match self {
            Self::Any => true,
            Self::OneOf(tags) => tags.iter().any(|t| t.as_bytes() == tag.as_bytes()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_follow_the_bytes() {
        let a = EntityTag::of(b"{\"a\":1}");
        assert_ne!(a, EntityTag::of(b"{\"a\":2}"));
        assert_eq!(a, EntityTag::of(b"{\"a\":1}"));
        assert_eq!(a.as_str(), format!("\"{:016x}\"", fx_hash(b"{\"a\":1}")));
    }

    #[test]
    fn conditions_compare_strongly() {
        let tag = EntityTag::of(b"x");
        assert!(Expected::Any.allows(&tag));
        assert!(Expected::OneOf(vec!["\"nope\"".into(), tag.to_string()]).allows(&tag));
        assert!(!Expected::OneOf(vec![format!("W/{tag}")]).allows(&tag));
        assert!(!Expected::OneOf(vec![]).allows(&tag));
    }
}
