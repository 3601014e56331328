//! `Idempotency-Key`: the same key from the same user gets the first answer back (status and
//! body) for 24 hours; the same key with a different body gets 422; a retry while the first
//! request is still running gets 409.
//!
//! Records live in the `hd_idempotency` table, so they are shared by every node and survive a
//! restart.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use sqlx::Row;

use crate::domain::Millis;
use crate::domain::ids::UserId;
use crate::http::AppState;
use crate::http::error::ApiError;

/// How long a key is remembered.
pub const IDEMPOTENCY_TTL_MS: Millis = 24 * 3_600_000;
const MAX_KEY_LEN: usize = 255;

/// The `Idempotency-Key` header, validated.
pub fn key_from(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = v
        .to_str()
        .map_err(|_| {
            ApiError::bad_request("INVALID_IDEMPOTENCY_KEY", "Idempotency-Key must be ASCII")
        })?
        .trim();
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(ApiError::bad_request(
            "INVALID_IDEMPOTENCY_KEY",
            format!("Idempotency-Key must be 1 to {MAX_KEY_LEN} characters"),
        ));
    }
    Ok(Some(key.to_string()))
}

/// What a request with a key may do.
pub enum Begin {
    /// First time: run it, then [`finish`].
    Fresh,
    /// Seen before: here is the first answer.
    Replay(Response),
}

fn hash(body: &[u8]) -> String {
    format!("{:08x}{:016x}", crc32c::crc32c(body), body.len())
}

/// Claim `key` for this request, or get the first answer back.
pub async fn begin(
    state: &AppState,
    user: UserId,
    key: &str,
    body: &[u8],
) -> Result<Begin, ApiError> {
    let now = state.now_ms();
    let request_hash = hash(body);
    for _ in 0..2 {
        let inserted = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{} INTO hd_idempotency (user_id, idem_key, request_hash, status_code, body, created_at, expires_at) \
             VALUES (?, ?, ?, 0, '', ?, ?)",
            state.db.dialect.insert_ignore()
        )))
        .bind(user.to_string())
        .bind(key)
        .bind(&request_hash)
        .bind(now)
        .bind(now + IDEMPOTENCY_TTL_MS)
        .execute(&state.db.pool)
        .await?
        .rows_affected();
        if inserted == 1 {
            return Ok(Begin::Fresh);
        }
        let row = sqlx::query(
            "SELECT request_hash, status_code, body, expires_at FROM hd_idempotency WHERE user_id = ? AND idem_key = ?",
        )
        .bind(user.to_string())
        .bind(key)
        .fetch_optional(&state.db.pool)
        .await?;
        let Some(row) = row else { continue };
        let expires_at: i64 = row.try_get("expires_at")?;
        if expires_at <= now {
            sqlx::query(
                "DELETE FROM hd_idempotency WHERE user_id = ? AND idem_key = ? AND expires_at <= ?",
            )
            .bind(user.to_string())
            .bind(key)
            .bind(now)
            .execute(&state.db.pool)
            .await?;
            continue;
        }
        if row.try_get::<String, _>("request_hash")? != request_hash {
            return Err(ApiError::unprocessable(
                "IDEMPOTENCY_KEY_REUSED",
                "this Idempotency-Key was used with a different request body",
            ));
        }
        let status: i64 = row.try_get("status_code")?;
        if status == 0 {
            return Err(ApiError::conflict(
                "REQUEST_IN_PROGRESS",
                "a request with this Idempotency-Key is still being processed",
            ));
        }
        let body: String = row.try_get("body")?;
        let status = StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK);
        let mut response = (
            status,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response();
        response.headers_mut().insert(
            "idempotent-replayed",
            axum::http::HeaderValue::from_static("true"),
        );
        return Ok(Begin::Replay(response));
    }
    Err(ApiError::conflict(
        "REQUEST_IN_PROGRESS",
        "retry the request",
    ))
}

/// Store the answer for later retries. Infrastructure failures (5xx) are not stored: the key is
/// released so the retry runs again.
pub async fn finish(state: &AppState, user: UserId, key: &str, status: StatusCode, body: &str) {
    let result = if status.is_server_error() {
        sqlx::query("DELETE FROM hd_idempotency WHERE user_id = ? AND idem_key = ?")
            .bind(user.to_string())
            .bind(key)
            .execute(&state.db.pool)
            .await
    } else {
        sqlx::query("UPDATE hd_idempotency SET status_code = ?, body = ? WHERE user_id = ? AND idem_key = ?")
            .bind(status.as_u16() as i64)
            .bind(body)
            .bind(user.to_string())
            .bind(key)
            .execute(&state.db.pool)
            .await
    };
    if let Err(err) = result {
        tracing::warn!(error = %err, "could not record the idempotent answer");
    }
}

/// Run `f` under `key` (when given): replay the first answer or record this one.
pub async fn run<F, Fut>(
    state: &AppState,
    user: UserId,
    key: Option<String>,
    body: &[u8],
    f: F,
) -> Response
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    let Some(key) = key else {
        return f().await;
    };
    match begin(state, user, &key, body).await {
        Err(e) => e.into_response(),
        Ok(Begin::Replay(r)) => r,
        Ok(Begin::Fresh) => {
            let response = f().await;
            let (parts, body) = response.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            finish(
                state,
                user,
                &key,
                parts.status,
                &String::from_utf8_lossy(&bytes),
            )
            .await;
            Response::from_parts(parts, axum::body::Body::from(bytes))
        }
    }
}
