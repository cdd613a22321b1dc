//! What every backend decides the same way: the write rules SPEC sets, and
//! how values are kept in columns. The SQLite and PostgreSQL backends both
//! call these, so they cannot drift apart.

use campaignd_model::{
    Campaign, CampaignDocument, CampaignId, FieldErrors, LeadSource, PhoneNumber, Status,
    Timestamp, UserId,
};
use serde_json::{Map, Value};

use std::collections::HashMap;

use crate::{ImportProblem, StoreError, UserRecord, WriteError};

/// The columns that hold a campaign's fields and its rendering, in the
/// order each backend gives their values: the one list inserts and
/// rewrites share.
pub(crate) const FIELD_COLUMNS: [&str; 20] = [
    "name",
    "name_folded",
    "status",
    "strategy",
    "dial_level",
    "dial_level_override",
    "max_dial_time",
    "max_wait_time",
    "max_dial_attempts",
    "amd_enabled",
    "amd_voicemail_message",
    "caller_id_sets",
    "use_local_caller_id",
    "asr_optimization_enabled",
    "follow_up_mode",
    "live",
    "method",
    "updated_at",
    "body",
    "body_version",
];

/// The `updated_at` of a write now: the clock, or a millisecond past the
/// last write if the clock has not moved on (or went back), so every write
/// is seen to change it.
pub(crate) fn updated_after(last: Timestamp) -> Timestamp {
    let now = Timestamp::now();
    if now > last {
        now
    } else {
        Timestamp::from_unix_millis(last.unix_millis() + 1).unwrap_or(last)
    }
}

/// A campaign starts only with someone to call and someone to take the
/// calls (SPEC §10); the refusal names everything missing.
pub(crate) fn check_staffed(has_users: bool, has_active_leads: bool) -> Result<(), WriteError> {
    let mut missing = FieldErrors::new();
    if !has_users {
        missing.add("users", "cannot start a campaign without assigned users");
    }
    if !has_active_leads {
        missing.add("leads", "cannot start a campaign without active leads");
    }
    missing.into_result(()).map_err(WriteError::Conflict)
}

/// Whether users may be assigned to a campaign in `status` (SPEC §9).
pub(crate) fn check_assignable(status: Status) -> Result<(), WriteError> {
    if matches!(
        status,
        Status::Stopping | Status::Stopped | Status::Completed
    ) {
        let mut errors = FieldErrors::new();
        errors.add(
            "status",
            format!(
                "cannot assign users to a campaign that is {}",
                status.as_str()
            ),
        );
        return Err(WriteError::Conflict(errors));
    }
    Ok(())
}

/// Whether a user may leave a campaign in `status` that `left` users staff,
/// it among them: an active campaign keeps its last one (SPEC §9).
pub(crate) fn check_removable(status: Status, left: i64) -> Result<(), WriteError> {
    if status == Status::Active && left == 1 {
        let mut errors = FieldErrors::new();
        errors.add("users", "cannot remove the last user of an active campaign");
        return Err(WriteError::Conflict(errors));
    }
    Ok(())
}

/// Whether a campaign in `status` with `live` takes leads (SPEC §10); the
/// refusal otherwise.
pub(crate) fn check_takes_leads(status: Status, live: bool) -> Result<(), WriteError> {
    let mut errors = FieldErrors::new();
    if matches!(status, Status::Stopped | Status::Completed) {
        errors.add(
            "status",
            format!(
                "cannot import leads into a campaign that is {}",
                status.as_str()
            ),
        );
    }
    if !live {
        errors.add("live", "leads can only be imported into a live campaign");
    }
    errors.into_result(()).map_err(WriteError::Conflict)
}

/// A lead's source as stored: JSON text.
pub(crate) fn source_json(source: &LeadSource) -> String {
    serde_json::to_string(source).expect("a source serializes")
}

/// A lead's context headers as stored: a JSON object in their order, or
/// nothing.
pub(crate) fn headers_json(headers: &[(String, String)]) -> Option<String> {
    if headers.is_empty() {
        return None;
    }
    let map: Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    Some(serde_json::to_string(&map).expect("headers serialize"))
}

/// A number as stored: its digits as an integer (15 digits fit, and none
/// starts with 0, so nothing is lost).
pub(crate) fn number_key(number: &PhoneNumber) -> i64 {
    number
        .as_str()
        .parse()
        .expect("a phone number is at most 15 digits")
}

/// An import record as the campaign it stages: a given id is kept, a
/// missing one takes `next` (which moves past every id handed out), a
/// missing status is `draft`, missing times are `now` (`updated_at` never
/// before `created_at`).
pub(crate) fn imported_campaign(
    document: CampaignDocument,
    next: &mut i64,
    now: Timestamp,
) -> Result<Campaign, StoreError> {
    let id = if let Some(id) = document.id {
        id
    } else {
        let id = CampaignId::new(*next)
            .ok_or_else(|| StoreError::Internal("campaign id overflow".into()))?;
        *next += 1;
        id
    };
    *next = (*next).max(id.get() + 1);
    let created_at = document.created_at.unwrap_or(now);
    Ok(Campaign {
        id,
        status: document.status.unwrap_or(Status::Draft),
        settings: document.settings,
        created_at,
        updated_at: document.updated_at.unwrap_or(now.max(created_at)),
    })
}

/// The ids a user import gives, each with the first record giving it; or
/// every problem with them: an id given twice, or one `exists` says the
/// center has. Checked before any id is assigned, so a record without an
/// id never takes one a later record gives.
pub(crate) fn given_user_ids(
    records: &[UserRecord],
    exists: impl Fn(UserId) -> bool,
) -> Result<HashMap<UserId, usize>, StoreError> {
    let mut given = HashMap::new();
    let mut problems = Vec::new();
    for r in records {
        let Some(id) = r.document.id else { continue };
        let message = match given.get(&id) {
            Some(first) => format!("repeats the id of record {}", first + 1),
            None if exists(id) => format!("user {id} already exists in this contact center"),
            None => {
                given.insert(id, r.index);
                continue;
            }
        };
        given.entry(id).or_insert(r.index);
        problems.push(ImportProblem {
            index: r.index,
            field: "id".into(),
            message,
        });
    }
    if problems.is_empty() {
        Ok(given)
    } else {
        Err(StoreError::ImportRejected(problems))
    }
}

/// A user record's id: the one it gives, or the next not given by any
/// record of the import. `next` moves past every id handed out.
pub(crate) fn user_id(
    record: Option<UserId>,
    next: &mut i64,
    given: &HashMap<UserId, usize>,
) -> Result<i64, StoreError> {
    let id = if let Some(id) = record {
        id.get()
    } else {
        while given.contains_key(&UserId::new(*next).expect("positive")) {
            *next += 1;
        }
        *next
    };
    if id > UserId::MAX_STORED {
        return Err(StoreError::Internal(
            "the center has used every user id".into(),
        ));
    }
    *next = (*next).max(id + 1);
    Ok(id)
}
