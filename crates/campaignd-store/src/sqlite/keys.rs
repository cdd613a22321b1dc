//! API key rows. Only the keyed hash and the last 4 characters are stored.

use campaignd_model::{ApiKeyId, ContactCenterId, KeyHash, Scopes, Timestamp};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{corrupt, record_change};
use crate::{ApiKeyInfo, Change, KeyGrant, MAX_ACTIVE_KEYS, NewApiKey, Result, StoreError};

const KEY_COLUMNS: &str =
    "id, contact_center_id, name, last4, scopes, created_at, revoked_at, last_used_at";

fn info_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ApiKeyInfo> {
    let scopes: String = row.get(4)?;
    let ts = |i: usize| -> rusqlite::Result<Option<Timestamp>> {
        row.get::<_, Option<i64>>(i)?
            .map(|ms| Timestamp::from_unix_millis(ms).ok_or_else(|| corrupt(i, "timestamp")))
            .transpose()
    };
    Ok(ApiKeyInfo {
        id: ApiKeyId::new(row.get(0)?).ok_or_else(|| corrupt(0, "key id"))?,
        contact_center_id: ContactCenterId::new(row.get(1)?)
            .ok_or_else(|| corrupt(1, "center id"))?,
        name: row.get(2)?,
        last4: row.get(3)?,
        scopes: Scopes::from_storage(&scopes).map_err(|_| corrupt(4, "scopes"))?,
        created_at: ts(5)?.ok_or_else(|| corrupt(5, "timestamp"))?,
        revoked_at: ts(6)?,
        last_used_at: ts(7)?,
    })
}

fn by_id(conn: &Connection, id: i64) -> rusqlite::Result<Option<ApiKeyInfo>> {
    conn.query_row(
        &format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?1"),
        [id],
        info_from_row,
    )
    .optional()
}

pub(super) fn create(tx: &Transaction<'_>, key: &NewApiKey) -> Result<ApiKeyInfo> {
    let center = key.contact_center_id.get();
    let exists: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM contact_centers WHERE id = ?1)",
        [center],
        |r| r.get(0),
    )?;
    if !exists {
        return Err(StoreError::NotFound("contact center"));
    }
    let active: i64 = tx.query_row(
        "SELECT COUNT(*) FROM api_keys WHERE contact_center_id = ?1 AND revoked_at IS NULL",
        [center],
        |r| r.get(0),
    )?;
    if active as usize >= MAX_ACTIVE_KEYS {
        return Err(StoreError::KeyLimit);
    }
    tx.execute(
        "INSERT INTO api_keys (contact_center_id, name, key_hash, last4, scopes, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            center,
            key.name,
            key.hash.0.as_slice(),
            key.last4,
            key.scopes.to_storage(),
            Timestamp::now().unix_millis()
        ],
    )?;
    by_id(tx, tx.last_insert_rowid())?.ok_or(StoreError::NotFound("API key"))
}

pub(super) fn list(
    conn: &Connection,
    center: ContactCenterId,
) -> rusqlite::Result<Vec<ApiKeyInfo>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {KEY_COLUMNS} FROM api_keys WHERE contact_center_id = ?1 ORDER BY id"
    ))?;
    stmt.query_map([center.get()], info_from_row)?.collect()
}

pub(super) fn revoke(tx: &Transaction<'_>, id: ApiKeyId) -> Result<(ApiKeyInfo, bool)> {
    let changed = tx.execute(
        "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        params![id.get(), Timestamp::now().unix_millis()],
    )?;
    if changed > 0 {
        record_change(tx, Change::ApiKey(id))?;
    }
    let info = by_id(tx, id.get())?.ok_or(StoreError::NotFound("API key"))?;
    Ok((info, changed > 0))
}

pub(super) fn authenticate(
    conn: &Connection,
    hash: &KeyHash,
) -> rusqlite::Result<Option<KeyGrant>> {
    conn.prepare_cached(
        "SELECT id, contact_center_id, scopes FROM api_keys WHERE key_hash = ?1 AND revoked_at IS NULL",
    )?
    .query_row([hash.0.as_slice()], |row| {
        let scopes: String = row.get(2)?;
        Ok(KeyGrant {
            key_id: ApiKeyId::new(row.get(0)?).ok_or_else(|| corrupt(0, "key id"))?,
            contact_center_id: ContactCenterId::new(row.get(1)?).ok_or_else(|| corrupt(1, "center id"))?,
            scopes: Scopes::from_storage(&scopes).map_err(|_| corrupt(2, "scopes"))?,
        })
    })
    .optional()
}
