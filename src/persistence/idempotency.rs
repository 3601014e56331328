//! Idempotency records (`hd_idempotency`): one row per (user, key) with the request's hash and,
//! once the first request finished, its answer (status 0 while it runs).

use sqlx::Row;

use super::Db;
use crate::domain::Millis;
use crate::domain::ids::UserId;

/// A stored record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub request_hash: String,
    /// 0 while the first request is running.
    pub status_code: i64,
    pub body: String,
    pub expires_at: Millis,
}

/// Claim `key` for a running request. `false` when a record exists already.
pub async fn claim(
    db: &Db,
    user: UserId,
    key: &str,
    request_hash: &str,
    now_ms: Millis,
    expires_at: Millis,
) -> anyhow::Result<bool> {
    let inserted = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{} INTO hd_idempotency (user_id, idem_key, request_hash, status_code, body, created_at, expires_at) \
         VALUES (?, ?, ?, 0, '', ?, ?)",
        db.dialect.insert_ignore()
    )))
    .bind(user.to_string())
    .bind(key)
    .bind(request_hash)
    .bind(now_ms)
    .bind(expires_at)
    .execute(&db.pool)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// The record of `key`.
pub async fn record(db: &Db, user: UserId, key: &str) -> anyhow::Result<Option<IdempotencyRecord>> {
    let row = sqlx::query(
        "SELECT request_hash, status_code, body, expires_at FROM hd_idempotency WHERE user_id = ? AND idem_key = ?",
    )
    .bind(user.to_string())
    .bind(key)
    .fetch_optional(&db.pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(IdempotencyRecord {
        request_hash: row.try_get("request_hash")?,
        status_code: row.try_get("status_code")?,
        body: row.try_get("body")?,
        expires_at: row.try_get("expires_at")?,
    }))
}

/// Delete the record of `key` if it expired by `now_ms`.
pub async fn delete_expired(
    db: &Db,
    user: UserId,
    key: &str,
    now_ms: Millis,
) -> anyhow::Result<()> {
    sqlx::query(
        "DELETE FROM hd_idempotency WHERE user_id = ? AND idem_key = ? AND expires_at <= ?",
    )
    .bind(user.to_string())
    .bind(key)
    .bind(now_ms)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Forget `key` (its request failed for lack of infrastructure: the retry runs again).
pub async fn release(db: &Db, user: UserId, key: &str) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM hd_idempotency WHERE user_id = ? AND idem_key = ?")
        .bind(user.to_string())
        .bind(key)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Store the first request's answer.
pub async fn store_answer(
    db: &Db,
    user: UserId,
    key: &str,
    status_code: u16,
    body: &str,
) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE hd_idempotency SET status_code = ?, body = ? WHERE user_id = ? AND idem_key = ?",
    )
    .bind(i64::from(status_code))
    .bind(body)
    .bind(user.to_string())
    .bind(key)
    .execute(&db.pool)
    .await?;
    Ok(())
}
