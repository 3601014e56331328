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

impl From<crate::ops::RateLimited> for super::error::ApiError {
    fn from(limited: crate::ops::RateLimited) -> Self {
        super::error::ApiError::from(crate::error_code::ErrorCode::RateLimited)
            .retry_after(limited.retry_after_s)
    }
}

impl IntoResponse for crate::ops::RateLimited {
    fn into_response(self) -> Response {
        super::error::ApiError::from(self).into_response()
    }
}

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

/// Prometheus metrics, in the text exposition format.
///
/// Every series is listed in `docs/operations.md`.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format", content_type = "text/plain", body = String)))]
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

/// The metric handles of one `(method, route)`: resolved from the recorder once, then shared
/// by every request on that route (the recorder's registry lookup, label vector and key hash
/// cost more than the request's own counting).
struct RouteMetrics {
    method: &'static str,
    route: Box<str>,
    duration: metrics::Histogram,
    /// Requests by status; few statuses per route, so a short list.
    by_status: std::sync::RwLock<Vec<(u16, metrics::Counter)>>,
}

impl RouteMetrics {
    fn new(method: &'static str, route: &str) -> RouteMetrics {
        RouteMetrics {
            method,
            route: route.into(),
            duration: metrics::histogram!(
                "hotdeal_http_request_duration_seconds",
                "method" => method,
                "route" => route.to_owned()
            ),
            by_status: std::sync::RwLock::new(Vec::new()),
        }
    }

    fn count(&self, status: u16) {
        if let Ok(list) = self.by_status.read()
            && let Some((_, c)) = list.iter().find(|(s, _)| *s == status)
        {
            c.increment(1);
            return;
        }
        let counter = metrics::counter!(
            "hotdeal_http_requests_total",
            "method" => self.method,
            "route" => self.route.to_string(),
            "status" => status.to_string()
        );
        counter.increment(1);
        if let Ok(mut list) = self.by_status.write()
            && !list.iter().any(|(s, _)| *s == status)
        {
            list.push((status, counter));
        }
    }
}

/// Methods with a label of their own, in the order of [`method_index`].
const METHOD_LABELS: [&str; 8] = [
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "OTHER",
];

fn method_index(label: &str) -> usize {
    METHOD_LABELS
        .iter()
        .position(|m| *m == label)
        .unwrap_or(METHOD_LABELS.len() - 1)
}

/// Route templates are a fixed set (plus [`UNMATCHED_ROUTE`]), so these maps stay small.
fn route_metrics(method: &'static str, route: &str) -> std::sync::Arc<RouteMetrics> {
    static MAPS: std::sync::OnceLock<
        [dashmap::DashMap<Box<str>, std::sync::Arc<RouteMetrics>>; METHOD_LABELS.len()],
    > = std::sync::OnceLock::new();
    let maps = MAPS.get_or_init(Default::default);
    let map = &maps[method_index(method)];
    if let Some(m) = map.get(route) {
        return m.clone();
    }
    map.entry(route.into())
        .or_insert_with(|| std::sync::Arc::new(RouteMetrics::new(method, route)))
        .clone()
}

/// Count and time the request by route template, then log one line. Nothing from the body,
/// headers or query string is logged: the user id appears only when the bearer token verifies.
async fn observe(mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(req.method());
    let stats = match req.extensions().get::<MatchedPath>() {
        Some(m) => route_metrics(method, m.as_str()),
        None => route_metrics(method, UNMATCHED_ROUTE),
    };
    let log = tracing::enabled!(target: "hotdeal::access", tracing::Level::INFO);
    let request_id = if log {
        req.headers().get(super::REQUEST_ID_HEADER).cloned()
    } else {
        None
    };
    let caller = super::auth::VerifiedCaller::default();
    req.extensions_mut().insert(caller.clone());
    let response = next.run(req).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    stats.count(status);
    stats.duration.record(elapsed.as_secs_f64());
    if log {
        let user_id = caller.get().map(|u| u.to_string());
        let request_id = request_id
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        tracing::info!(
            target: "hotdeal::access",
            request_id = %request_id,
            method,
            route = %stats.route,
            status,
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            user_id = user_id.as_deref(),
            "request"
        );
    }
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

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use axum::body::Body;
    use tower::ServiceExt;

    use super::*;
    use crate::domain::ids::UserId;
    use crate::http::auth::{AuthUser, JwtKeys, Role};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    async fn access_line(app: &Router, token: &str) -> (u16, String) {
        let captured = Captured::default();
        let writer = captured.clone();
        // Callsite interest is cached process-wide: with a second live dispatcher, a callsite
        // first reached on another test's thread (no subscriber) is still asked here each time.
        let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let res = app
            .clone()
            .oneshot(
                Request::builder()
                    .uri("/me")
                    .header("authorization", format!("Bearer {token}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        (res.status().as_u16(), log)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_access_log_names_only_the_user_the_endpoint_verified() {
        let keys = JwtKeys::new("access-log-test-secret");
        let app = instrument(
            Router::new()
                .route(
                    "/me",
                    get(|u: AuthUser| async move { u.user_id.to_string() }),
                )
                .with_state(keys.clone()),
        );
        let user = UserId::new();
        let now = chrono::Utc::now().timestamp_millis();
        let token = keys
            .mint_access(user, "a@b.co", Role::Customer, now, 600)
            .unwrap();
        let (status, log) = access_line(&app, &token).await;
        assert_eq!(status, 200);
        assert!(log.contains("route=/me"), "{log}");
        assert!(log.contains(&format!("user_id=\"{user}\"")), "{log}");

        let forged = JwtKeys::new("someone-else")
            .mint_access(user, "a@b.co", Role::Master, now, 600)
            .unwrap();
        let (status, log) = access_line(&app, &forged).await;
        assert_eq!(status, 401);
        assert!(log.contains("status=401"), "{log}");
        assert!(
            !log.contains("user_id="),
            "a forged token names no one: {log}"
        );

        let refresh = keys.mint_refresh(user, now, 600).unwrap();
        let (status, log) = access_line(&app, &refresh).await;
        assert_eq!(status, 401);
        assert!(!log.contains("user_id="), "{log}");
    }
}
