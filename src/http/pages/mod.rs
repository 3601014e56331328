//! The browser pages, served by the binary itself: the storefront at `/`, the seller pages at
//! `/seller`, the operator console at `/console`, and the files they and Swagger UI load under
//! `/assets/` (all compiled in, see [`assets`]). The pages are plain HTML, CSS and JavaScript
//! modules that use only the public JSON API; two small endpoints exist for them:
//! `GET /api/v1/time` (the server's clock, for countdowns to the exact start of a sale) and
//! `GET /api/v1/live` (live stock as server-sent events, see [`live`]).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::envelope::Reply;
use super::error::ApiError;

pub mod assets;
pub mod live;

/// The page routes, the assets and the two endpoints of the pages.
pub fn router() -> Router<AppState> {
    let hub = Arc::new(live::LiveHub::default());
    Router::new()
        .route("/", get(storefront))
        .route("/index.html", get(storefront))
        .route("/seller", get(seller))
        .route("/seller/", get(seller))
        .route("/console", get(console))
        .route("/console/", get(console))
        .route("/assets/{*path}", get(asset))
        .route("/api/v1/time", get(server_time))
        .route("/api/v1/live", get(live::stream).layer(Extension(hub)))
}

/// The OpenAPI paths of the pages' endpoints.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(server_time, live::stream),
    components(schemas(
        ServerTime,
        live::LiveUpdate,
        live::ItemLive,
        live::SaleLive,
        live::CampaignLive
    )),
    tags((name = "pages", description = "Endpoints the storefront, seller pages and console use besides the API"))
)]
pub struct PagesApi;

async fn storefront(headers: HeaderMap) -> Response {
    assets::respond(&assets::STOREFRONT, &headers)
}

async fn seller(headers: HeaderMap) -> Response {
    assets::respond(&assets::SELLER, &headers)
}

async fn console(headers: HeaderMap) -> Response {
    assets::respond(&assets::CONSOLE, &headers)
}

async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    match assets::find(&path) {
        Some(a) => assets::respond(a, &headers),
        None => ApiError::coded(crate::error_code::ErrorCode::RouteNotFound, "no such asset")
            .into_response(),
    }
}

/// The server's clock.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServerTime {
    /// Epoch milliseconds: the clock sales open and close by.
    pub now_ms: i64,
}

/// The server's clock (public): pages count down to a sale's start by it, not by the browser's.
#[utoipa::path(get, path = "/api/v1/time", tag = "pages",
    responses((status = 200, description = "the server's clock", body = crate::http::envelope::Envelope<ServerTime>)))]
pub async fn server_time(State(state): State<AppState>) -> Response {
    let mut res = Reply::ok(
        "server time",
        ServerTime {
            now_ms: state.now_ms(),
        },
    )
    .into_response();
    res.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    res
}
