//! API key rows. Only the keyed hash and the last 4 characters are stored.

use campaignd_model::{ApiKeyId, ContactCenterId, KeyHash, Scopes, Timestamp};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{col, corrupt, record_change, timestamp};
use crate::{ApiKeyInfo, Change, KeyGrant, MAX_ACTIVE_KEYS, NewApiKey, Result, StoreError};

const KEY_COLUMNS: &str =
    "id, contact_center_id, name, last4, scopes, created_at, revoked_at, last_used_at";

fn info_from_row(row: &Row) -> Result<ApiKeyInfo> {
    let scopes: &str = col(row, 4)?;
    Ok(ApiKeyInfo {
        id: ApiKeyId::new(col(row, 0)?).ok_or_else(|| corrupt("key id"))?,
        contact_center_id: ContactCenterId::new(col(row, 1)?)
            .ok_or_else(|| corrupt("center id"))?,
        name: col(row, 2)?,
        last4: col(row, 3)?,
        scopes: Scopes::from_storage(scopes).map_err(|_| corrupt("scopes"))?,
        created_at: timestamp(col(row, 5)?)?,
        revoked_at: col::<Option<i64>>(row, 6)?.map(timestamp).transpose()?,
        last_used_at: col::<Option<i64>>(row, 7)?.map(timestamp).transpose()?,
    })
}

/// Stores a key, unless its center is missing or full. The center's row
/// is locked (short of blocking foreign-key checks) so two creates cannot
/// both take its last free place.
pub(super) async fn create(tx: &impl GenericClient, key: &NewApiKey) -> Result<ApiKeyInfo> {
    let center = key.contact_center_id.get();
    if tx
        .query_opt(
            "SELECT 1 FROM contact_centers WHERE id = $1 FOR NO KEY UPDATE",
            &[&center],
        )
        .await?
        .is_none()
    {
        return Err(StoreError::NotFound("contact center"));
    }
    let active: i64 = tx
        .query_one(
            "SELECT COUNT(*) FROM api_keys WHERE contact_center_id = $1 AND revoked_at IS NULL",
            &[&center],
        )
        .await?
        .get(0);
    if active as usize >= MAX_ACTIVE_KEYS {
        return Err(StoreError::KeyLimit);
    }
    let row = tx
        .query_one(
            &format!(
                "INSERT INTO api_keys (contact_center_id, name, key_hash, last4, scopes, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING {KEY_COLUMNS}"
            ),
            &[
                &center,
                &key.name,
                &key.hash.0.as_slice(),
                &key.last4,
                &key.scopes.to_storage(),
                &Timestamp::now().unix_millis(),
            ],
        )
        .await?;
    info_from_row(&row)
}

pub(super) async fn list(
    conn: &impl GenericClient,
    center: ContactCenterId,
) -> Result<Vec<ApiKeyInfo>> {
    conn.query(
        &format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE contact_center_id = $1 ORDER BY id"),
        &[&center.get()],
    )
    .await?
    .iter()
    .map(info_from_row)
    .collect()
}

pub(super) async fn revoke(tx: &impl GenericClient, id: ApiKeyId) -> Result<(ApiKeyInfo, bool)> {
    let changed = tx
        .execute(
            "UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
            &[&id.get(), &Timestamp::now().unix_millis()],
        )
        .await?;
    if changed > 0 {
        record_change(tx, Change::ApiKey(id)).await?;
    }
    let row = tx
        .query_opt(
            &format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1"),
            &[&id.get()],
        )
        .await?
        .ok_or(StoreError::NotFound("API key"))?;
    Ok((info_from_row(&row)?, changed > 0))
}

pub(super) async fn authenticate(
    conn: &impl GenericClient,
    hash: &KeyHash,
) -> Result<Option<KeyGrant>> {
    let stmt = conn
        .prepare_cached(
            "SELECT id, contact_center_id, scopes FROM api_keys
             WHERE key_hash = $1 AND revoked_at IS NULL",
        )
        .await?;
    let Some(row) = conn.query_opt(&stmt, &[&hash.0.as_slice()]).await? else {
        return Ok(None);
    };
    let scopes: &str = col(&row, 2)?;
    Ok(Some(KeyGrant {
        key_id: ApiKeyId::new(col(&row, 0)?).ok_or_else(|| corrupt("key id"))?,
        contact_center_id: ContactCenterId::new(col(&row, 1)?)
            .ok_or_else(|| corrupt("center id"))?,
        scopes: Scopes::from_storage(scopes).map_err(|_| corrupt("scopes"))?,
    }))
}
