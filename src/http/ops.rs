//! Ops endpoints.

use axum::Router;

use super::AppState;

/// The ops routes.
pub fn router() -> Router<AppState> {
    Router::new()
}

/// Wrap the whole API with the operations layers (metrics, ...). Called once by
/// [`super::router`] after the routes are assembled.
pub fn instrument(router: Router) -> Router {
    router
}

/// The OpenAPI paths of these routes.
#[derive(utoipa::OpenApi)]
#[openapi()]
pub struct OpsApi;
