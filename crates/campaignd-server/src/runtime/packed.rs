//! Campaign bodies in the render cache's compact form: LZ4 against a
//! dictionary of typical bodies.
//!
//! Every Get campaign body has the same keys in the same order, and most
//! of its values are a few common ones, so nearly all of it matches the
//! dictionary and only the campaign's own values are left: a body of about
//! 600 bytes packs to about 130, its tag included. A cache that keeps
//! bodies this way holds about three and a half times as many; unpacking
//! one costs a fraction of a microsecond, against several for a storage
//! read.

use std::sync::Arc;

use campaignd_model::{Campaign, CampaignSettings, EntityTag, Status, Timestamp};

/// Length of an entity tag, quotes included.
const TAG_LEN: usize = size_of::<EntityTag>();

/// The dictionary bodies are packed against: Get campaign bodies of
/// typical campaigns, rendered by this build, so it follows the
/// rendering's keys and their order.
pub(crate) struct Dictionary(Box<[u8]>);

impl Dictionary {
    /// The dictionary of this build's rendering.
    pub(crate) fn new() -> Self {
        let at: Timestamp = field(r#""2026-01-01T00:00:00.000Z""#);
        let samples = [
            Campaign {
                id: field("100"),
                status: Status::Active,
                settings: CampaignSettings {
                    dial_level_override: Some(field(
                        r#"{"enabled":false,"value":1.5,"active_agents_threshold":3}"#,
                    )),
                    amd_enabled: true,
                    amd_voicemail_message: Some(field(
                        r#"{"enabled":false,"voice_message":{"type":"voice_message","name":"Voicemail"}}"#,
                    )),
                    caller_id_sets: vec![field(r#"{"phone_numbers":["10000000000"]}"#)],
                    asr_optimization_enabled: true,
                    follow_up_mode: Some(field(r#""timer""#)),
                    ..CampaignSettings::with_defaults(field(r#""Campaign 100""#))
                },
                created_at: at,
                updated_at: at,
            },
            Campaign {
                id: field("1"),
                status: Status::Paused,
                settings: CampaignSettings {
                    strategy: field(r#""predictive_ai""#),
                    use_local_caller_id: true,
                    ..CampaignSettings::with_defaults(field(r#""Campaign""#))
                },
                created_at: at,
                updated_at: at,
            },
        ];
        Self(samples.iter().flat_map(Campaign::get_body).collect())
    }
}

/// A field of a sample campaign, from its JSON.
fn field<T: serde::de::DeserializeOwned>(json: &str) -> T {
    serde_json::from_str(json).expect("a valid sample field")
}

impl std::fmt::Debug for Dictionary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Dictionary({} bytes)", self.0.len())
    }
}

/// A body and its entity tag, packed: one allocation holding the tag, then
/// the body as an LZ4 block.
#[derive(Clone)]
pub(crate) struct Packed {
    /// Shared, so a hit takes it out of the cache's lock and unpacks
    /// outside.
    bytes: Arc<[u8]>,
    /// The body's length, unpacked.
    len: u32,
}

impl Packed {
    /// Packs `body` and its entity tag `tag`; `None` if either is not the
    /// shape a cached campaign body has (a tag of 18 bytes, a body under
    /// 4 GiB).
    pub(crate) fn pack(body: &[u8], tag: &[u8], dict: &Dictionary) -> Option<Self> {
        let len = u32::try_from(body.len()).ok()?;
        if tag.len() != TAG_LEN {
            return None;
        }
        let mut bytes = vec![0; TAG_LEN + lz4_flex::block::get_maximum_output_size(body.len())];
        bytes[..TAG_LEN].copy_from_slice(tag);
        let packed =
            lz4_flex::block::compress_into_with_dict(body, &mut bytes[TAG_LEN..], &dict.0).ok()?;
        bytes.truncate(TAG_LEN + packed);
        Some(Self {
            bytes: bytes.into(),
            len,
        })
    }

    /// The body and its tag, unpacked. `None` only if the bytes are not
    /// what [`Packed::pack`] made against `dict`, which a cache treats as
    /// a miss.
    pub(crate) fn unpack(&self, dict: &Dictionary) -> Option<(Vec<u8>, &[u8])> {
        let mut body = vec![0; self.len as usize];
        let written =
            lz4_flex::block::decompress_into_with_dict(&self.bytes[TAG_LEN..], &mut body, &dict.0)
                .ok()?;
        (written == body.len()).then_some((body, &self.bytes[..TAG_LEN]))
    }

    /// Bytes held: the allocation (with its two counts) and this handle.
    pub(crate) fn size(&self) -> usize {
        self.bytes.len() + 16 + size_of::<Self>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(i: usize) -> Vec<u8> {
        format!(
            r#"{{"campaign":{{"id":{i},"name":"Spring list {i}","status":"stopped","strategy":"predictive_ai","dial_level":2.5,"dial_level_override":null,"max_dial_time":45,"max_wait_time":7,"max_dial_attempts":5,"amd_enabled":false,"amd_voicemail_message":null,"caller_id_sets":[{{"phone_numbers":["4420790{i:05}"]}}],"use_local_caller_id":false,"asr_optimization_enabled":false,"follow_up_mode":null,"created_at":"2026-03-0{}T08:00:00.000Z","updated_at":"2026-03-09T08:00:00.000Z"}}}}"#,
            i % 9 + 1
        )
        .into_bytes()
    }

    #[test]
    fn bodies_come_back_byte_for_byte() {
        let dict = Dictionary::new();
        let tag = *b"\"0123456789abcdef\"";
        for i in [0, 1, 77, 99_999] {
            let packed = Packed::pack(&body(i), &tag, &dict).unwrap();
            let (unpacked, unpacked_tag) = packed.unpack(&dict).unwrap();
            assert_eq!(unpacked, body(i));
            assert_eq!(unpacked_tag, tag);
        }
        // Bytes the dictionary knows nothing of, and nothing at all.
        for odd in [&b""[..], &[0xff; 3000], "é\u{0}€".as_bytes()] {
            let packed = Packed::pack(odd, &tag, &dict).unwrap();
            let (unpacked, _) = packed.unpack(&dict).unwrap();
            assert_eq!(unpacked, odd);
        }
    }

    #[test]
    fn a_typical_body_packs_to_under_half() {
        let dict = Dictionary::new();
        let plain = body(4321);
        let packed = Packed::pack(&plain, b"\"0123456789abcdef\"", &dict).unwrap();
        assert!(
            packed.size() * 2 < plain.len(),
            "{} bytes packed to {}",
            plain.len(),
            packed.size()
        );
    }

    #[test]
    fn only_entity_tags_are_packed_with_a_body() {
        let dict = Dictionary::new();
        assert!(Packed::pack(b"{}", b"\"short\"", &dict).is_none());
    }
}
