//! `Idempotency-Key`: the same key from the same user gets the first answer back (status and
//! body) for 24 hours; the same key with a different body is refused; a retry while the first
//! request is still running is refused as in progress.
//!
//! Records live in the `hd_idempotency` table, so they are shared by every node and survive a
//! restart.

use super::{Commerce, CommerceError, CommerceResult};
use crate::domain::Millis;
use crate::domain::ids::UserId;
use crate::error_code::ErrorCode;
use crate::persistence::idempotency as store;

/// How long a key is remembered.
pub const IDEMPOTENCY_TTL_MS: Millis = 24 * 3_600_000;
/// Longest accepted key.
pub const MAX_KEY_LEN: usize = 255;

/// What a request with a key may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// First time: run it, then [`finish`].
    Fresh,
    /// Seen before: the first answer's status and (JSON) body.
    Replay { status: u16, body: String },
}

fn hash(body: &[u8]) -> String {
    format!("{:08x}{:016x}", crc32c::crc32c(body), body.len())
}

/// Claim `key` for this request (whose identifying bytes are `body`), or get the first answer.
pub async fn begin(c: &Commerce, user: UserId, key: &str, body: &[u8]) -> CommerceResult<Begin> {
    let now = c.now_ms();
    let request_hash = hash(body);
    for _ in 0..2 {
        if store::claim(
            &c.db,
            user,
            key,
            &request_hash,
            now,
            now + IDEMPOTENCY_TTL_MS,
        )
        .await?
        {
            return Ok(Begin::Fresh);
        }
        let Some(record) = store::record(&c.db, user, key).await? else {
            continue;
        };
        if record.expires_at <= now {
            store::delete_expired(&c.db, user, key, now).await?;
            continue;
        }
        if record.request_hash != request_hash {
            return Err(ErrorCode::IdempotencyKeyReused.into());
        }
        if record.status_code == 0 {
            return Err(ErrorCode::RequestInProgress.into());
        }
        let status = u16::try_from(record.status_code).unwrap_or(200);
        return Ok(Begin::Replay {
            status,
            body: record.body,
        });
    }
    Err(CommerceError::coded(
        ErrorCode::RequestInProgress,
        "retry the request",
    ))
}

/// Store the answer for later retries. Infrastructure failures (5xx) are not stored: the key is
/// released so the retry runs again.
pub async fn finish(c: &Commerce, user: UserId, key: &str, status: u16, body: &str) {
    let result = if (500..600).contains(&status) {
        store::release(&c.db, user, key).await
    } else {
        store::store_answer(&c.db, user, key, status, body).await
    };
    if let Err(err) = result {
        tracing::warn!(error = %err, "could not record the idempotent answer");
    }
}
