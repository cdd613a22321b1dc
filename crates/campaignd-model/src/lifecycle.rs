//! The campaign lifecycle of SPEC §8: which requests a campaign's status
//! allows, and where each action takes it. One table, so the server, the
//! store and their tests cannot disagree on it.

use std::fmt;

use crate::campaign::Status;
use crate::errors::FieldErrors;

/// A lifecycle action a request can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// `POST .../start`.
    Start,
    /// `POST .../pause`.
    Pause,
    /// `POST .../stop`.
    Stop,
}

impl Action {
    /// Every action.
    pub const ALL: &'static [Action] = &[Action::Start, Action::Pause, Action::Stop];

    /// The verb, as the route and the audit trail name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Pause => "pause",
            Self::Stop => "stop",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request the campaign's status does not allow: a 409 naming the status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IllegalTransition {
    /// What was asked: `pause`, `update`, `delete`...
    pub verb: &'static str,
    /// The status that forbids it.
    pub status: Status,
}

impl IllegalTransition {
    /// The 409 body's errors: `{"status": ["cannot pause a campaign that is paused"]}`.
    pub fn errors(&self) -> FieldErrors {
        let mut errors = FieldErrors::new();
        errors.add("status", self.to_string());
        errors
    }
}

impl fmt::Display for IllegalTransition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot {} a campaign that is {}",
            self.verb,
            self.status.as_str()
        )
    }
}

impl std::error::Error for IllegalTransition {}

impl Status {
    /// The status `action` leads to from this one.
    pub fn after(self, action: Action) -> Result<Status, IllegalTransition> {
        use Status::{Active, AutoPaused, Draft, Paused, Stopped};
        let to = match (action, self) {
            (Action::Start, Draft | Paused | AutoPaused) => Active,
            (Action::Pause, Active) => Paused,
            (Action::Stop, Active | Paused | AutoPaused) => Stopped,
            _ => {
                return Err(IllegalTransition {
                    verb: action.as_str(),
                    status: self,
                });
            }
        };
        Ok(to)
    }

    /// Whether a campaign in this status may be patched: not while the
    /// system is moving it (pausing, stopping, importing leads).
    pub fn check_update(self) -> Result<(), IllegalTransition> {
        use Status::{AutoPausing, Pausing, Processing, Stopping};
        match self {
            Pausing | Stopping | AutoPausing | Processing => Err(IllegalTransition {
                verb: "update",
                status: self,
            }),
            _ => Ok(()),
        }
    }

    /// Whether a campaign in this status may be deleted: only one that is
    /// not dialing and cannot dial again without a start.
    pub fn check_delete(self) -> Result<(), IllegalTransition> {
        use Status::{Completed, Draft, ImportError, Stopped};
        match self {
            Draft | Stopped | Completed | ImportError => Ok(()),
            _ => Err(IllegalTransition {
                verb: "delete",
                status: self,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SPEC §8's table, written out: for every status, where each action
    /// leads (`None`: 409), and whether update and delete are allowed.
    const TABLE: &[(Status, [Option<Status>; 3], bool, bool)] = {
        use Status::*;
        //  status        start          pause         stop          update delete
        &[
            (Draft, [Some(Active), None, None], true, true),
            (Active, [None, Some(Paused), Some(Stopped)], true, false),
            (Paused, [Some(Active), None, Some(Stopped)], true, false),
            (Stopping, [None, None, None], false, false),
            (Completed, [None, None, None], true, true),
            (Processing, [None, None, None], false, false),
            (Stopped, [None, None, None], true, true),
            (AutoPaused, [Some(Active), None, Some(Stopped)], true, false),
            (Pausing, [None, None, None], false, false),
            (AutoPausing, [None, None, None], false, false),
            (ImportError, [None, None, None], true, true),
        ]
    };

    #[test]
    fn every_status_and_action_follows_the_table() {
        assert_eq!(TABLE.len(), Status::ALL.len());
        for status in Status::ALL {
            let (_, after, update, delete) = TABLE
                .iter()
                .find(|row| row.0 == *status)
                .expect("every status is in the table");
            for (action, expected) in Action::ALL.iter().zip(after) {
                match (status.after(*action), expected) {
                    (Ok(to), Some(want)) => assert_eq!(to, *want, "{action} from {status}"),
                    (Err(e), None) => {
                        assert_eq!(e.status, *status);
                        assert_eq!(
                            e.to_string(),
                            format!("cannot {action} a campaign that is {status}")
                        );
                    }
                    (got, want) => panic!("{action} from {status}: got {got:?}, want {want:?}"),
                }
            }
            assert_eq!(status.check_update().is_ok(), *update, "update {status}");
            assert_eq!(status.check_delete().is_ok(), *delete, "delete {status}");
        }
    }

    #[test]
    fn no_request_enters_a_status_the_system_owns() {
        use Status::*;
        let system = [
            Processing,
            ImportError,
            Completed,
            Pausing,
            Stopping,
            AutoPaused,
            AutoPausing,
        ];
        for status in Status::ALL {
            for action in Action::ALL {
                if let Ok(to) = status.after(*action) {
                    assert!(!system.contains(&to), "{action} from {status} -> {to}");
                }
            }
        }
    }

    #[test]
    fn a_conflict_names_the_field_and_the_status() {
        let e = Status::Paused.after(Action::Pause).unwrap_err();
        assert_eq!(
            serde_json::to_string(&e.errors()).unwrap(),
            r#"{"status":["cannot pause a campaign that is paused"]}"#
        );
        let e = Status::Processing.check_update().unwrap_err();
        assert_eq!(e.to_string(), "cannot update a campaign that is processing");
    }
}
