//! The emulator's request journal (SPEC §12): the most recent API requests
//! with their JSON bodies, in memory, so a test can see what its
//! integration sent.
//!
//! It never holds a key: the `Authorization` header is not recorded, and
//! any string that carries one (in the path, the query or the body) is
//! replaced before it is stored.

use std::collections::VecDeque;
use std::sync::Mutex;

use campaignd_model::{ApiKeyId, Timestamp};
use serde_json::{Value, json};

/// What replaces a string that holds an API key.
const REDACTED: &str = "[redacted]";

/// One request as recorded.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) at: Timestamp,
    pub(crate) request_id: String,
    pub(crate) method: String,
    /// The path and query, as sent.
    pub(crate) path: String,
    pub(crate) route: Option<&'static str>,
    pub(crate) key_id: Option<ApiKeyId>,
    /// The answer's status; `None` for a connection closed unanswered.
    pub(crate) status: Option<u16>,
    /// The body, if it was JSON.
    pub(crate) body: Option<Value>,
}

impl Entry {
    fn to_json(&self) -> Value {
        json!({
            "at": self.at.to_string(),
            "request_id": self.request_id,
            "method": self.method,
            "path": self.path,
            "route": self.route,
            "key_id": self.key_id.map(ApiKeyId::get),
            "status": self.status,
            "body": self.body,
        })
    }
}

/// Which entries a listing wants.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    pub(crate) method: Option<String>,
    pub(crate) route: Option<String>,
    pub(crate) status: Option<u16>,
    pub(crate) since: Option<Since>,
}

/// Where a listing starts.
#[derive(Debug, Clone)]
pub(crate) enum Since {
    /// After the request with this id (all of them, if it is not held).
    Request(String),
    /// After this time.
    Time(Timestamp),
}

/// A bounded ring of entries, oldest first.
#[derive(Debug)]
pub(crate) struct Journal {
    capacity: usize,
    entries: Mutex<VecDeque<Entry>>,
}

impl Journal {
    /// A journal of at most `capacity` entries.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::new(VecDeque::with_capacity(capacity.min(4096))),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, VecDeque<Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records `entry`, its key-bearing strings replaced, dropping the
    /// oldest when full.
    pub(crate) fn record(&self, mut entry: Entry) {
        if self.capacity == 0 {
            return;
        }
        if holds_key(&entry.path) || holds_key(&percent_decoded(&entry.path)) {
            entry.path = REDACTED.into();
        }
        if let Some(body) = &mut entry.body {
            redact(body);
        }
        let mut entries = self.entries();
        if entries.len() == self.capacity {
            entries.pop_front();
        }
        entries.push_back(entry);
    }

    /// The entries `filter` selects, oldest first, as listed.
    pub(crate) fn list(&self, filter: &Filter) -> Vec<Value> {
        let entries = self.entries();
        // After a request: the entries after it (all of them, if it has
        // left the ring).
        let start = match &filter.since {
            Some(Since::Request(id)) => entries
                .iter()
                .rposition(|e| e.request_id == *id)
                .map_or(0, |i| i + 1),
            None | Some(Since::Time(_)) => 0,
        };
        entries
            .iter()
            .skip(start)
            .filter(|e| {
                // Entries are in the order requests finished, not arrived:
                // by time, each is judged on its own.
                let after = match &filter.since {
                    Some(Since::Time(t)) => e.at > *t,
                    _ => true,
                };
                after
                    && filter
                        .method
                        .as_deref()
                        .is_none_or(|m| m.eq_ignore_ascii_case(&e.method))
                    && filter.route.as_deref().is_none_or(|r| Some(r) == e.route)
                    && filter.status.is_none_or(|s| Some(s) == e.status)
            })
            .map(Entry::to_json)
            .collect()
    }

    /// Forgets every entry.
    pub(crate) fn clear(&self) {
        self.entries().clear();
    }
}

/// Whether `text` holds something shaped like an API key: `cmpd_` and at
/// least 20 more characters of the key alphabet. Broader than the key
/// format on purpose: a key cut or changed is still not worth keeping.
fn holds_key(text: &str) -> bool {
    text.match_indices("cmpd_").any(|(i, _)| {
        text[i + 5..]
            .bytes()
            .take_while(u8::is_ascii_alphanumeric)
            .count()
            >= 20
    })
}

/// `%XX` escapes decoded (as far as they make text), so a key written
/// escaped is found too.
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Replaces every string in `value` (keys of objects included) that holds
/// a key.
fn redact(value: &mut Value) {
    match value {
        Value::String(s) if holds_key(s) => *s = REDACTED.into(),
        Value::Array(items) => items.iter_mut().for_each(redact),
        Value::Object(map) => {
            if map.keys().any(|k| holds_key(k)) {
                let cleaned = std::mem::take(map)
                    .into_iter()
                    .map(|(k, v)| (if holds_key(&k) { REDACTED.into() } else { k }, v))
                    .collect();
                *map = cleaned;
            }
            map.values_mut().for_each(redact);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use campaignd_model::ApiKeyToken;

    use super::*;

    fn entry(id: &str, method: &str, status: u16, body: Option<Value>) -> Entry {
        Entry {
            at: Timestamp::now(),
            request_id: id.into(),
            method: method.into(),
            path: "/api/v4/campaigns".into(),
            route: Some("/api/v4/campaigns"),
            key_id: ApiKeyId::new(1),
            status: Some(status),
            body,
        }
    }

    #[test]
    fn the_ring_keeps_the_newest_and_filters_oldest_first() {
        let journal = Journal::new(3);
        for (i, (method, status)) in [("GET", 200), ("POST", 201), ("POST", 422), ("GET", 404)]
            .into_iter()
            .enumerate()
        {
            journal.record(entry(&format!("r{i}"), method, status, None));
        }
        let ids = |filter: &Filter| -> Vec<String> {
            journal
                .list(filter)
                .iter()
                .map(|e| e["request_id"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(ids(&Filter::default()), ["r1", "r2", "r3"]);
        let posts = Filter {
            method: Some("post".into()),
            ..Filter::default()
        };
        assert_eq!(ids(&posts), ["r1", "r2"]);
        let not_found = Filter {
            status: Some(404),
            ..Filter::default()
        };
        assert_eq!(ids(&not_found), ["r3"]);
        let since = Filter {
            since: Some(Since::Request("r1".into())),
            ..Filter::default()
        };
        assert_eq!(ids(&since), ["r2", "r3"]);
        journal.clear();
        assert!(journal.list(&Filter::default()).is_empty());
    }

    #[test]
    fn no_key_is_ever_stored() {
        let journal = Journal::new(10);
        let key = ApiKeyToken::generate();
        let k = key.expose();
        let body =
            json!({"name": format!("x {k} y"), "nested": [{"note": k}], k: 1, "ok": "cmpd_short"});
        let mut e = entry("r", "POST", 201, Some(body));
        e.path = format!("/api/v4/campaigns?token={k}");
        journal.record(e);
        let mut escaped = entry("r2", "GET", 200, None);
        escaped.path = format!("/api/v4/campaigns?token=cmpd%5F{}", &k[5..]);
        journal.record(escaped);
        assert_eq!(journal.list(&Filter::default())[1]["path"], REDACTED);
        let stored = journal.list(&Filter::default())[0].to_string();
        assert!(!stored.contains(&k[5..]), "{stored}");
        assert!(
            stored.contains("cmpd_short"),
            "a short string is kept: {stored}"
        );
        assert_eq!(
            journal.list(&Filter::default())[0]["body"],
            json!({"name": REDACTED, "nested": [{"note": REDACTED}], REDACTED: 1, "ok": "cmpd_short"})
        );
    }
}
