//! Catalog endpoints.

use axum::Router;

use super::AppState;

/// The catalog routes.
pub fn router() -> Router<AppState> {
    Router::new()
}

/// The OpenAPI paths of these routes.
#[derive(utoipa::OpenApi)]
#[openapi()]
pub struct CatalogApi;
