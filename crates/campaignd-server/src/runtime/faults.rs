//! Emulator faults (SPEC §12): rules that make chosen API requests fail on
//! purpose, so an integration's error handling can be tested.
//!
//! A rule matches on method, route template, key and contact center (each
//! optional) and answers a status, adds a delay, or drops the connection.
//! `times` retires it after that many firings; `probability` fires it on a
//! share of its matches, drawn from a generator of its own seeded with
//! `seed`, so a run with the same requests fires on the same ones.
//!
//! Rules are checked after the key is authenticated and before the route
//! does anything, so a faulted write changes nothing.

use std::sync::Mutex;
use std::time::Duration;

use campaignd_model::{ApiKeyId, ContactCenterId, ContactCenterName};
use serde_json::{Map, Value, json};

/// Statuses a rule may answer.
pub(crate) const FAULT_STATUSES: [u16; 5] = [429, 500, 502, 503, 504];

/// Longest delay a rule may add.
pub(crate) const MAX_DELAY: Duration = Duration::from_mins(1);

/// What a firing rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Answer this status, in the API's envelope.
    Status(u16),
    /// Wait this long, then answer as usual.
    Delay(Duration),
    /// Close the connection without answering.
    Drop,
}

/// Which requests a rule applies to; `None` matches any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Match {
    pub(crate) method: Option<String>,
    pub(crate) route: Option<&'static str>,
    pub(crate) key_id: Option<ApiKeyId>,
    /// The center by name (as posted) and by id (as matched).
    pub(crate) contact_center: Option<(ContactCenterName, ContactCenterId)>,
}

/// A rule as posted, checked, before it has an id.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NewRule {
    pub(crate) matches: Match,
    pub(crate) action: Action,
    pub(crate) times: Option<u64>,
    pub(crate) probability: f64,
    pub(crate) seed: Option<u64>,
}

/// What a rule's JSON said that could not be taken, by field.
pub(crate) type Problems = Vec<(String, String)>;

impl NewRule {
    /// Reads a rule from its JSON form. `routes` are the templates a rule
    /// may name; `center` resolves a contact center's name (None: no such
    /// center). Every problem is reported, each by its field's path.
    pub(crate) fn parse(
        value: &Value,
        routes: &[&'static str],
        center: impl Fn(&ContactCenterName) -> Option<ContactCenterId>,
    ) -> Result<Self, Problems> {
        let mut problems = Problems::new();
        let Some(object) = value.as_object() else {
            problems.push(("fault".into(), "must be an object".into()));
            return Err(problems);
        };
        for key in object.keys() {
            if !["match", "action", "times", "probability", "seed"].contains(&key.as_str()) {
                problems.push((key.clone(), "is not a fault rule field".into()));
            }
        }
        let empty = Map::new();
        let matches = match object.get("match") {
            None | Some(Value::Null) => Some(&empty),
            Some(Value::Object(m)) => Some(m),
            Some(_) => {
                problems.push(("match".into(), "must be an object".into()));
                None
            }
        };
        let mut rule_match = Match::default();
        if let Some(m) = matches {
            for key in m.keys() {
                if !["method", "route", "key_id", "contact_center"].contains(&key.as_str()) {
                    problems.push((format!("match.{key}"), "is not a match field".into()));
                }
            }
            match m.get("method") {
                None | Some(Value::Null) => {}
                Some(Value::String(s))
                    if ["GET", "POST", "PATCH", "DELETE", "PUT", "HEAD"]
                        .contains(&s.to_ascii_uppercase().as_str()) =>
                {
                    rule_match.method = Some(s.to_ascii_uppercase());
                }
                Some(_) => problems.push((
                    "match.method".into(),
                    "must be GET, POST, PATCH, DELETE, PUT or HEAD".into(),
                )),
            }
            match m.get("route") {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) => match routes.iter().find(|r| **r == s) {
                    Some(route) => rule_match.route = Some(route),
                    None => problems.push((
                        "match.route".into(),
                        "must be a route template of the API, such as /api/v4/campaigns/{campaign_id}"
                            .into(),
                    )),
                },
                Some(_) => problems.push(("match.route".into(), "must be a string".into())),
            }
            match m.get("key_id") {
                None | Some(Value::Null) => {}
                Some(v) => match v.as_i64().and_then(ApiKeyId::new) {
                    Some(id) => rule_match.key_id = Some(id),
                    None => {
                        problems.push(("match.key_id".into(), "must be a positive integer".into()));
                    }
                },
            }
            match m.get("contact_center") {
                None | Some(Value::Null) => {}
                Some(v) => match v.as_str().map(str::parse::<ContactCenterName>) {
                    Some(Ok(name)) => match center(&name) {
                        Some(id) => rule_match.contact_center = Some((name, id)),
                        None => problems.push((
                            "match.contact_center".into(),
                            "is not a contact center".into(),
                        )),
                    },
                    _ => problems.push((
                        "match.contact_center".into(),
                        "must be a contact center's name".into(),
                    )),
                },
            }
        }
        let action = parse_action(object.get("action"), &mut problems);
        let times = optional(
            object,
            "times",
            &mut problems,
            "must be an integer of 1 or more",
            |v| v.as_u64().filter(|n| *n >= 1),
        );
        let probability = optional(
            object,
            "probability",
            &mut problems,
            "must be a number from 0 to 1",
            |v| v.as_f64().filter(|p| (0.0..=1.0).contains(p)),
        )
        .unwrap_or(1.0);
        let seed = optional(
            object,
            "seed",
            &mut problems,
            "must be a non-negative integer",
            Value::as_u64,
        );
        match action {
            Some(action) if problems.is_empty() => Ok(Self {
                matches: rule_match,
                action,
                times,
                probability,
                seed,
            }),
            _ => Err(problems),
        }
    }
}

/// An optional top-level field: absent or null is `None`; a value `read`
/// refuses is a problem named `name`.
fn optional<T>(
    object: &Map<String, Value>,
    name: &str,
    problems: &mut Problems,
    message: &str,
    read: impl Fn(&Value) -> Option<T>,
) -> Option<T> {
    let value = object.get(name).filter(|v| !v.is_null())?;
    let read = read(value);
    if read.is_none() {
        problems.push((name.to_owned(), message.to_owned()));
    }
    read
}

fn parse_action(value: Option<&Value>, problems: &mut Problems) -> Option<Action> {
    const ONE_OF: &str = r#"must be one of {"status": N}, {"delay_ms": N} or {"drop": true}"#;
    let Some(Value::Object(action)) = value else {
        problems.push(("action".into(), ONE_OF.into()));
        return None;
    };
    if action.len() != 1 {
        problems.push(("action".into(), ONE_OF.into()));
        return None;
    }
    let (kind, v) = action.iter().next().expect("one entry");
    match kind.as_str() {
        "status" => match v.as_u64().and_then(|s| u16::try_from(s).ok()) {
            Some(s) if FAULT_STATUSES.contains(&s) => Some(Action::Status(s)),
            _ => {
                problems.push((
                    "action.status".into(),
                    "must be 429, 500, 502, 503 or 504".into(),
                ));
                None
            }
        },
        "delay_ms" => match v.as_u64().map(Duration::from_millis) {
            Some(d) if d <= MAX_DELAY => Some(Action::Delay(d)),
            _ => {
                problems.push((
                    "action.delay_ms".into(),
                    "must be an integer from 0 to 60000".into(),
                ));
                None
            }
        },
        "drop" if *v == Value::Bool(true) => Some(Action::Drop),
        "drop" => {
            problems.push(("action.drop".into(), "must be true".into()));
            None
        }
        _ => {
            problems.push(("action".into(), ONE_OF.into()));
            None
        }
    }
}

/// A rule in force.
#[derive(Debug)]
struct Rule {
    id: u64,
    spec: NewRule,
    fired: u64,
    /// The state of its generator (SplitMix64).
    draw: u64,
}

impl Rule {
    fn matches(&self, request: &Request<'_>) -> bool {
        let m = &self.spec.matches;
        m.method.as_deref().is_none_or(|x| x == request.method)
            && m.route.is_none_or(|x| Some(x) == request.route)
            && m.key_id.is_none_or(|x| x == request.key_id)
            && m.contact_center
                .as_ref()
                .is_none_or(|(_, id)| *id == request.center)
    }

    fn retired(&self) -> bool {
        self.spec.times.is_some_and(|t| self.fired >= t)
    }

    /// Whether this match fires: always at probability 1, else a draw.
    fn draws(&mut self) -> bool {
        if self.spec.probability >= 1.0 {
            return true;
        }
        self.draw = self.draw.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.draw;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        // 53 random bits as a number in [0, 1).
        ((z >> 11) as f64 / (1u64 << 53) as f64) < self.spec.probability
    }

    fn to_json(&self) -> Value {
        let m = &self.spec.matches;
        let mut matches = Map::new();
        if let Some(method) = &m.method {
            matches.insert("method".into(), json!(method));
        }
        if let Some(route) = m.route {
            matches.insert("route".into(), json!(route));
        }
        if let Some(key) = m.key_id {
            matches.insert("key_id".into(), json!(key.get()));
        }
        if let Some((name, _)) = &m.contact_center {
            matches.insert("contact_center".into(), json!(name.as_str()));
        }
        let action = match self.spec.action {
            Action::Status(s) => json!({"status": s}),
            Action::Delay(d) => json!({"delay_ms": d.as_millis() as u64}),
            Action::Drop => json!({"drop": true}),
        };
        json!({
            "id": self.id,
            "match": matches,
            "action": action,
            "times": self.spec.times,
            "probability": self.spec.probability,
            "seed": self.spec.seed,
            "fired": self.fired,
        })
    }
}

/// What a request is, as rules see it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request<'a> {
    pub(crate) method: &'a str,
    pub(crate) route: Option<&'a str>,
    pub(crate) key_id: ApiKeyId,
    pub(crate) center: ContactCenterId,
}

/// The rules in force, in the order they were added.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    inner: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    rules: Vec<Rule>,
    next_id: u64,
}

impl Faults {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds a rule; returns it as listed.
    pub(crate) fn add(&self, rule: NewRule) -> Value {
        let mut state = self.state();
        state.next_id += 1;
        let id = state.next_id;
        let rule = Rule {
            id,
            draw: rule.seed.unwrap_or(id),
            spec: rule,
            fired: 0,
        };
        let listed = rule.to_json();
        state.rules.push(rule);
        listed
    }

    /// Every rule, with how often each fired.
    pub(crate) fn list(&self) -> Vec<Value> {
        self.state().rules.iter().map(Rule::to_json).collect()
    }

    /// Removes every rule.
    pub(crate) fn clear(&self) {
        self.state().rules.clear();
    }

    /// Removes rule `id`; false if there is none.
    pub(crate) fn remove(&self, id: u64) -> bool {
        let mut state = self.state();
        let before = state.rules.len();
        state.rules.retain(|r| r.id != id);
        state.rules.len() != before
    }

    /// The action of the first rule in force that matches `request` and
    /// fires, counting the firing.
    pub(crate) fn fire(&self, request: &Request<'_>) -> Option<Action> {
        let mut state = self.state();
        state
            .rules
            .iter_mut()
            .filter(|r| !r.retired() && r.matches(request))
            .find_map(|r| {
                r.draws().then(|| {
                    r.fired += 1;
                    r.spec.action
                })
            })
    }

    /// Whether any rule is in force: the request path skips the lock when
    /// none is.
    pub(crate) fn is_empty(&self) -> bool {
        self.state().rules.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTES: &[&str] = &["/api/v4/campaigns", "/api/v4/campaigns/{campaign_id}"];

    fn acme() -> ContactCenterId {
        ContactCenterId::new(1).unwrap()
    }

    #[expect(
        clippy::needless_pass_by_value,
        reason = "called with json! temporaries"
    )]
    fn parse(value: Value) -> Result<NewRule, Problems> {
        NewRule::parse(&value, ROUTES, |name| (name.as_str() == "acme").then(acme))
    }

    fn request<'a>(method: &'a str, route: &'static str, key: i64, center: i64) -> Request<'a> {
        Request {
            method,
            route: Some(route),
            key_id: ApiKeyId::new(key).unwrap(),
            center: ContactCenterId::new(center).unwrap(),
        }
    }

    #[test]
    fn the_documented_rule_parses_and_lists_as_posted() {
        let posted = json!({"match": {"method": "GET", "route": "/api/v4/campaigns/{campaign_id}",
            "key_id": 3, "contact_center": "acme"}, "action": {"status": 503}, "times": 2,
            "probability": 1.0, "seed": 7});
        let faults = Faults::default();
        let listed = faults.add(parse(posted.clone()).unwrap());
        let mut expected = posted;
        expected["id"] = json!(1);
        expected["fired"] = json!(0);
        assert_eq!(listed, expected);
    }

    #[test]
    fn every_bad_field_is_named() {
        let problems = parse(
            json!({"match": {"method": "BREW", "route": "/nope", "key_id": 0,
            "contact_center": "globex", "colour": 1}, "action": {"status": 404},
            "times": 0, "probability": 1.5, "seed": -1, "extra": true}),
        )
        .unwrap_err();
        let mut fields: Vec<&str> = problems.iter().map(|(f, _)| f.as_str()).collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            [
                "action.status",
                "extra",
                "match.colour",
                "match.contact_center",
                "match.key_id",
                "match.method",
                "match.route",
                "probability",
                "seed",
                "times",
            ]
        );
        for bad in [
            json!({}),
            json!({"action": {"status": 503, "drop": true}}),
            json!({"action": {"drop": false}}),
            json!({"action": {"delay_ms": 60_001}}),
            json!([]),
        ] {
            assert!(parse(bad.clone()).is_err(), "{bad}");
        }
        assert_eq!(
            parse(json!({"action": {"drop": true}})).unwrap().action,
            Action::Drop
        );
    }

    #[test]
    fn rules_match_on_each_field_and_retire_after_times() {
        let faults = Faults::default();
        faults.add(
            parse(json!({"match": {"key_id": 3, "route": "/api/v4/campaigns"},
            "action": {"status": 503}, "times": 2}))
            .unwrap(),
        );
        let list = "/api/v4/campaigns";
        let get = "/api/v4/campaigns/{campaign_id}";
        assert_eq!(faults.fire(&request("GET", get, 3, 1)), None, "other route");
        assert_eq!(faults.fire(&request("GET", list, 4, 1)), None, "other key");
        assert_eq!(
            faults.fire(&request("GET", list, 3, 1)),
            Some(Action::Status(503))
        );
        assert_eq!(
            faults.fire(&request("POST", list, 3, 2)),
            Some(Action::Status(503))
        );
        assert_eq!(faults.fire(&request("GET", list, 3, 1)), None, "retired");
        assert_eq!(faults.list()[0]["fired"], 2);
        // By center and method; the first firing rule wins.
        faults.add(
            parse(
                json!({"match": {"contact_center": "acme", "method": "post"},
            "action": {"delay_ms": 250}}),
            )
            .unwrap(),
        );
        faults.add(parse(json!({"action": {"drop": true}})).unwrap());
        assert_eq!(
            faults.fire(&request("POST", list, 9, 1)),
            Some(Action::Delay(Duration::from_millis(250)))
        );
        assert_eq!(
            faults.fire(&request("POST", list, 9, 2)),
            Some(Action::Drop)
        );
        assert_eq!(faults.fire(&request("GET", list, 9, 1)), Some(Action::Drop));
        assert!(faults.remove(3));
        assert!(!faults.remove(3));
        assert_eq!(faults.fire(&request("GET", list, 9, 1)), None);
        faults.clear();
        assert!(faults.is_empty());
    }

    #[test]
    fn probability_fires_on_a_share_and_a_seed_repeats_it() {
        let run = |seed: u64| {
            let faults = Faults::default();
            faults.add(
                parse(json!({"action": {"status": 500}, "probability": 0.3, "seed": seed}))
                    .unwrap(),
            );
            (0..2000)
                .map(|_| {
                    faults
                        .fire(&request("GET", "/api/v4/campaigns", 1, 1))
                        .is_some()
                })
                .collect::<Vec<_>>()
        };
        let first = run(7);
        assert_eq!(first, run(7), "the same seed fires on the same requests");
        assert_ne!(first, run(8));
        let share = first.iter().filter(|f| **f).count() as f64 / first.len() as f64;
        assert!((0.25..0.35).contains(&share), "{share}");
        let never = Faults::default();
        never.add(parse(json!({"action": {"status": 500}, "probability": 0})).unwrap());
        assert!((0..100).all(|_| {
            never
                .fire(&request("GET", "/api/v4/campaigns", 1, 1))
                .is_none()
        }));
    }
}
