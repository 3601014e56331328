//! Extractors whose rejections are [`ApiError`]s, so a bad path, query string or body comes back
//! in the `{timestamp, code, message}` envelope with a stable code instead of axum's plain text.
//!
//! They keep axum's names (`Path`, `Query`, `Bytes`) so a handler switches by its `use` line only,
//! and utoipa still recognises `Path<..>` / `Query<..>` arguments.

use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};

use super::error::ApiError;
use crate::error_code::ErrorCode;

/// `axum::extract::Path` answering `400 INVALID_PATH` (e.g. `%FF` in a parameter, a wrong type).
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// `axum::extract::Query` answering `400 INVALID_QUERY` (a wrong type, a malformed string).
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// The raw body (`axum::body::Bytes`), answering `413 PAYLOAD_TOO_LARGE` beyond the body limit
/// and `408 REQUEST_TIMEOUT` when the client stalls past the body timeout.
#[derive(Debug, Clone)]
pub struct Bytes(pub axum::body::Bytes);

impl std::ops::Deref for Bytes {
    type Target = axum::body::Bytes;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<S: Send + Sync> FromRequest<S> for Bytes {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        axum::body::Bytes::from_request(req, state)
            .await
            .map(Bytes)
            .map_err(ApiError::from)
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        if rejection.status().is_server_error() {
            // A route and its extractor disagree: a bug, not the client's fault.
            return ApiError::internal(anyhow::anyhow!(
                "path extractor misconfigured: {}",
                rejection.body_text()
            ));
        }
        ApiError::coded(ErrorCode::InvalidPath, rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::coded(ErrorCode::InvalidQuery, rejection.body_text())
    }
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        ApiError::from_body_failure(&rejection, rejection.status(), rejection.body_text())
    }
}
