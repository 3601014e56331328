//! `Idempotency-Key` for handlers: the [`IdempotencyKey`] extractor reads the header, and
//! [`IdempotencyKey::run`] wraps the handler's work. The same key from the same user gets the
//! first answer back (status and body, with `Idempotent-Replayed: true`) for 24 hours; the same
//! key with a different request gets 422; a retry while the first request is still running gets
//! 409. Infrastructure failures (5xx) are not stored, so their retry runs again. The records
//! are kept by [`crate::commerce::idempotency`].

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::commerce::idempotency::{self, Begin, MAX_KEY_LEN};
use crate::domain::ids::UserId;
use crate::error_code::ErrorCode;
use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult};

pub use crate::commerce::idempotency::IDEMPOTENCY_TTL_MS;

/// The `Idempotency-Key` header as sent: checked by [`IdempotencyKey::run`], after whatever the
/// handler checks first (the rate limit), so the extractor itself never refuses.
#[derive(Debug, Clone)]
pub struct IdempotencyKey(Option<Result<String, ()>>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let key = parts
            .headers
            .get("idempotency-key")
            .map(|v| v.to_str().map(|s| s.trim().to_string()).map_err(|_| ()));
        Ok(IdempotencyKey(key))
    }
}

impl IdempotencyKey {
    /// The key, validated: 1 to 255 ASCII characters, or none.
    pub fn key(&self) -> ApiResult<Option<&str>> {
        match &self.0 {
            None => Ok(None),
            Some(Err(())) => Err(ApiError::coded(
                ErrorCode::InvalidIdempotencyKey,
                "Idempotency-Key must be ASCII",
            )),
            Some(Ok(k)) if k.is_empty() || k.len() > MAX_KEY_LEN => Err(ApiError::coded(
                ErrorCode::InvalidIdempotencyKey,
                format!("Idempotency-Key must be 1 to {MAX_KEY_LEN} characters"),
            )),
            Some(Ok(k)) => Ok(Some(k)),
        }
    }

    /// Run `work` under this key (when one was sent) for `user`: the first answer is recorded,
    /// a retry gets it back. `request` identifies the request (its body, or the fields that
    /// matter): a retry with other bytes is refused.
    pub async fn run<R, F>(
        &self,
        state: &AppState,
        user: UserId,
        request: &[u8],
        work: F,
    ) -> ApiResult<Response>
    where
        R: IntoResponse,
        F: std::future::Future<Output = ApiResult<R>>,
    {
        let Some(key) = self.key()? else {
            return Ok(work.await.into_response());
        };
        match idempotency::begin(&state.commerce, user, key, request).await? {
            Begin::Replay { status, body } => Ok(replay(status, body)),
            Begin::Fresh => {
                let response = work.await.into_response();
                let (parts, body) = response.into_parts();
                let bytes = axum::body::to_bytes(body, usize::MAX)
                    .await
                    .unwrap_or_default();
                idempotency::finish(
                    &state.commerce,
                    user,
                    key,
                    parts.status.as_u16(),
                    &String::from_utf8_lossy(&bytes),
                )
                .await;
                Ok(Response::from_parts(parts, axum::body::Body::from(bytes)))
            }
        }
    }
}

/// The first answer again.
fn replay(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut response = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}
