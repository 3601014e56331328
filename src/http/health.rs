//! Liveness and readiness.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use super::AppState;

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "alive")))]
pub async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, axum::Json(json!({"status": "ok"})))
}

/// Readiness: the engine has recovered, the database answers, and the database matches the
/// snapshot and journal the engine recovered from (`problems` says how it does not).
#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200, description = "ready"), (status = 503, description = "not ready: `engineRecovered`, `database` or `problems` say why")))]
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let recovered = state.is_ready();
    let database = state.db.ping().await;
    let problems = state.recovery_problems();
    let status = if recovered && database && problems.is_empty() {
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
