//! Liveness and readiness.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use super::AppState;

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "alive: `{\"status\": \"ok\"}`", body = Object)))]
pub async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, axum::Json(json!({"status": "ok"})))
}

/// Readiness: whether this node may take traffic.
///
/// Ready when the engine has recovered, the database answers, this node's lock on it is
/// confirmed, and the database matches the snapshot and journal the engine recovered from
/// (`problems` says how it does not). Not ready: 503 with `Retry-After`, and the body says which part is missing.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "ready", body = Object),
        (status = 503, description = "not ready: `{status, engineRecovered, database, nodeLock, problems}` (see Retry-After)", body = Object)))]
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let recovered = state.is_ready();
    let database = state.db.ping().await;
    let node_lock = state.engine.holds_node_lock();
    let problems = state.recovery_problems();
    let status = if recovered && database && node_lock && problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut response = (
        status,
        axum::Json(json!({
            "status": if status == StatusCode::OK { "ready" } else { "not ready" },
            "engineRecovered": recovered,
            "database": database,
            "nodeLock": node_lock,
            "problems": problems,
        })),
    )
        .into_response();
    if status != StatusCode::OK {
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("1"),
        );
    }
    response
}
