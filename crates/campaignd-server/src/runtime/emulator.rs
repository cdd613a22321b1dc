//! Emulator mode (SPEC §12): what `serve --emulator` adds to a node — its
//! admin token, its fault rules and its request journal. Without the flag
//! none of it exists: the state holds no [`Emulator`], and the control
//! routes are not in the router.

use campaignd_model::{ContactCenterName, FieldErrors};
use campaignd_store::Store;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::runtime::faults::{Faults, NewRule};
use crate::runtime::journal::Journal;

/// Default number of requests the journal keeps.
pub const DEFAULT_JOURNAL_SIZE: usize = 1000;

/// How emulator mode is set up.
#[derive(Clone)]
pub struct EmulatorConfig {
    /// The control API's bearer token.
    pub admin_token: String,
    /// Requests the journal keeps.
    pub journal_size: usize,
    /// Fault rules in force from the start, in their JSON form.
    pub faults: Vec<Value>,
}

impl std::fmt::Debug for EmulatorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token opens the control API: never in a debug print.
        f.debug_struct("EmulatorConfig")
            .field("journal_size", &self.journal_size)
            .field("faults", &self.faults.len())
            .finish_non_exhaustive()
    }
}

/// A node's emulator state.
pub(crate) struct Emulator {
    /// SHA-256 of the admin token: compared as digests, so the time a
    /// comparison takes says nothing about the token.
    token: [u8; 32],
    pub(crate) faults: Faults,
    pub(crate) journal: Journal,
    /// The route templates a rule may name, given by the server at start
    /// (they belong to the HTTP layer, above this one).
    routes: std::sync::OnceLock<&'static [&'static str]>,
}

impl Emulator {
    /// The state `config` asks for, without its fault rules (see
    /// [`Emulator::load_faults`]).
    pub(crate) fn new(config: &EmulatorConfig) -> Self {
        Self {
            token: Sha256::digest(config.admin_token.as_bytes()).into(),
            faults: Faults::default(),
            journal: Journal::new(config.journal_size),
            routes: std::sync::OnceLock::new(),
        }
    }

    /// Learns the templates a rule may name (`routes`), then puts
    /// `config`'s fault rules in force, each checked against `store` (a
    /// rule may name a contact center) and those templates; the first
    /// invalid one is refused, by its position and fields.
    pub(crate) async fn load_faults(
        &self,
        config: &EmulatorConfig,
        store: &dyn Store,
        routes: &'static [&'static str],
    ) -> Result<(), String> {
        let _ = self.routes.set(routes);
        for (i, value) in config.faults.iter().enumerate() {
            let rule = parse_rule(value, store, routes)
                .await
                .map_err(|problem| format!("fault rule {}: {problem}", i + 1))?;
            self.faults.add(rule);
        }
        Ok(())
    }

    /// The route templates a rule may name.
    pub(crate) fn routes(&self) -> &'static [&'static str] {
        self.routes.get().copied().unwrap_or_default()
    }

    /// Whether `token` (a Bearer credential) is the admin token.
    pub(crate) fn admits(&self, token: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        digest == self.token
    }
}

/// Why a rule was refused.
pub(crate) enum RuleError {
    /// Its fields, each with what is wrong.
    Invalid(FieldErrors),
    /// The store could not be asked about its contact center.
    Store(campaignd_store::StoreError),
}

impl std::fmt::Display for RuleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Invalid(errors) => {
                let fields: Vec<String> = errors
                    .iter()
                    .map(|(field, messages)| format!("{field} {}", messages.join("; ")))
                    .collect();
                f.write_str(&fields.join(", "))
            }
            Self::Store(e) => write!(f, "{e}"),
        }
    }
}

/// Reads a rule, resolving the contact center it names.
pub(crate) async fn parse_rule(
    value: &Value,
    store: &dyn Store,
    routes: &[&'static str],
) -> Result<NewRule, RuleError> {
    let named = value
        .pointer("/match/contact_center")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<ContactCenterName>().ok());
    let center = match &named {
        Some(name) => store
            .contact_center_by_name(name)
            .await
            .map_err(RuleError::Store)?
            .map(|c| c.id),
        None => None,
    };
    NewRule::parse(value, routes, |_| center).map_err(|problems| {
        let mut errors = FieldErrors::new();
        for (field, message) in problems {
            errors.add(field, message);
        }
        RuleError::Invalid(errors)
    })
}
