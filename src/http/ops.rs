//! Ops endpoints and layers: `GET /metrics` (Prometheus text), the per-request metrics and access
//! log middleware that [`instrument`] puts around the whole API, and [`ClientIp`] for the rate
//! limiter.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;

/// The ops routes (`/metrics`) and the MASTER-only operator actions of [`super::admin_ops`].
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/metrics", get(metrics_text))
        .merge(super::admin_ops::router())
}

/// Wrap the whole API with the operations layers: HTTP metrics by route template and status,
/// and one INFO access-log line per request. Called once by [`super::router`] after the routes
/// are assembled (so the matched route is known to the middleware).
pub fn instrument(router: Router) -> Router {
    router.layer(middleware::from_fn(observe))
}

/// The Prometheus content type of the text exposition format.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text exposition format", content_type = "text/plain")))]
pub async fn metrics_text(State(state): State<AppState>) -> Response {
    let body = state.ops.render_metrics(&state.engine);
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROMETHEUS_CONTENT_TYPE),
        )],
        body,
    )
        .into_response()
}

/// The route label for requests that matched no route (keeps label cardinality bounded).
pub const UNMATCHED_ROUTE: &str = "unmatched";

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// Count and time the request by route template, then log one line. Nothing from the body,
/// headers or query string is logged: the user id appears only when the bearer token verifies.
async fn observe(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(req.method());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| UNMATCHED_ROUTE.to_owned());
    let request_id = req
        .headers()
        .get(super::REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let (parts, body) = req.into_parts();
    let token = super::auth::bearer(&parts).map(str::to_owned);
    let response = next.run(Request::from_parts(parts, body)).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    metrics::counter!(
        "hotdeal_http_requests_total",
        "method" => method,
        "route" => route.clone(),
        "status" => status.to_string()
    )
    .increment(1);
    metrics::histogram!(
        "hotdeal_http_request_duration_seconds",
        "method" => method,
        "route" => route.clone()
    )
    .record(elapsed.as_secs_f64());
    let user_id = token
        .as_deref()
        .and_then(crate::ops::access_log::verified_user)
        .map(|u| u.to_string());
    tracing::info!(
        target: "hotdeal::access",
        request_id = %request_id,
        method,
        route = %route,
        status,
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        user_id = user_id.as_deref(),
        "request"
    );
    response
}

/// The client's IP address as the server saw it (the TCP peer), or `None` when the server was
/// started without connect info. Behind a reverse proxy this is the proxy: see
/// `docs/operations.md` before enabling the per-IP limit there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

/// The OpenAPI paths of these routes.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        metrics_text,
        super::admin_ops::adjust_stock,
        super::admin_ops::open_campaign,
        super::admin_ops::close_campaign,
        super::admin_ops::close_sale,
        super::admin_ops::audit_log,
    ),
    components(schemas(
        super::admin_ops::StockAdjustBody,
        super::admin_ops::ItemStock,
        super::admin_ops::CampaignState,
        super::admin_ops::SaleClosed,
        super::admin_ops::AuditEntry,
    ))
)]
pub struct OpsApi;
