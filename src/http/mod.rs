//! The HTTP API (axum): one router per resource, one shared [`AppState`], one [`error::ApiError`].
//!
//! This layer never names an actix type: it talks to the engine through
//! [`crate::engine::EngineHandle`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use axum::routing::get;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::domain::clock::SharedClock;
use crate::engine::EngineHandle;
use crate::persistence::Db;
use crate::persistence::repo::SqlStore;

pub mod accounts;
pub mod admin;
pub mod admin_ops;
pub mod auth;
pub mod catalog;
pub mod cluster;
pub mod commerce;
pub mod coupons;
pub mod envelope;
pub mod error;
pub mod extract;
pub mod health;
pub mod lookups;
pub mod openapi;
pub mod ops;
pub mod outcomes;
pub mod page;
pub mod pages;
pub mod server;

pub use envelope::{ApiJson, Reply};
pub use error::{ApiError, ApiResult};

/// The request id header, set when the client did not send one and echoed back.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Everything handlers share: one `Arc`, so the clones axum makes per request (state
/// extractors, the router's services) cost one reference count, not one per field.
#[derive(Clone)]
pub struct AppState(Arc<SharedState>);

impl std::ops::Deref for AppState {
    type Target = SharedState;
    fn deref(&self) -> &SharedState {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct SharedState {
    pub config: Arc<Config>,
    pub db: Db,
    pub store: SqlStore,
    pub clock: SharedClock,
    pub engine: EngineHandle,
    /// The catalog services (the same database, engine and clock).
    pub catalog: crate::catalog::Catalog,
    pub keys: auth::JwtKeys,
    pub accounts: Arc<crate::accounts::AccountsState>,
    pub ops: Arc<crate::ops::OpsState>,
    pub payments: Arc<dyn crate::payments::PaymentProvider>,
    /// The base URL browsers reach this service at (payment redirects).
    pub public_base_url: String,
    /// Cached product and address rows for the order path.
    pub lookups: Arc<lookups::Lookups>,
    /// The commerce services (baskets, orders, payments, coupons).
    pub commerce: crate::commerce::Commerce,
    ready: Arc<AtomicBool>,
    /// Why the database does not match the snapshot or journal recovery started from (set once
    /// at start; `/readyz` answers 503 with them while there are any).
    recovery_problems: Arc<std::sync::OnceLock<Vec<String>>>,
}

impl axum::extract::FromRef<AppState> for auth::JwtKeys {
    fn from_ref(state: &AppState) -> Self {
        state.keys.clone()
    }
}

impl AppState {
    /// Assemble the state (called once, by [`crate::startup::Application::build`]).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: Arc<Config>,
        db: Db,
        clock: SharedClock,
        engine: EngineHandle,
        keys: auth::JwtKeys,
        accounts: crate::accounts::AccountsState,
        ops: crate::ops::OpsState,
        payments: Arc<dyn crate::payments::PaymentProvider>,
        public_base_url: String,
    ) -> Self {
        let store = SqlStore::new(db.clone());
        let lookups: Arc<lookups::Lookups> = Arc::default();
        let commerce = crate::commerce::Commerce {
            config: config.clone(),
            db: db.clone(),
            store: store.clone(),
            engine: engine.clone(),
            payments: payments.clone(),
            public_base_url: public_base_url.clone(),
            lookups: lookups.clone(),
        };
        Self(Arc::new(SharedState {
            config,
            store,
            catalog: crate::catalog::Catalog::new(db.clone(), engine.clone(), clock.clone()),
            db,
            clock,
            engine,
            keys,
            accounts: Arc::new(accounts),
            ops: Arc::new(ops),
            payments,
            public_base_url,
            lookups,
            commerce,
            ready: Arc::new(AtomicBool::new(false)),
            recovery_problems: Arc::default(),
        }))
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Whether recovery finished and the service may take traffic.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    /// Record what recovery found the database does not match (first call only).
    pub fn set_recovery_problems(&self, problems: Vec<String>) {
        let _ = self.recovery_problems.set(problems);
    }

    /// What recovery found the database does not match (empty when it matches).
    pub fn recovery_problems(&self) -> &[String] {
        self.recovery_problems.get().map_or(&[], Vec::as_slice)
    }
}

/// Answer for unknown paths, in the error envelope.
async fn not_found() -> ApiError {
    ApiError::from(crate::error_code::ErrorCode::RouteNotFound)
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    router_with(state, Router::new())
}

/// The whole API plus `extra` routes behind the same middleware (the HTTP benchmark mounts its
/// Redis and row-lock baselines this way, so every variant pays the same per-request cost).
pub fn router_with(state: AppState, extra: Router<AppState>) -> Router {
    let request_id = HeaderName::from_static(REQUEST_ID_HEADER);
    let body_limit = state.config.request_body_limit_bytes;
    let state_config = state.config.clone();
    let router = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .merge(accounts::router())
        .merge(catalog::router())
        .merge(coupons::router())
        .merge(commerce::router())
        .merge(admin::router())
        .merge(cluster::router())
        .merge(ops::router())
        .merge(openapi::router())
        .merge(pages::router())
        .merge(extra)
        .fallback(not_found)
        .with_state(state.clone());
    // Cluster mode: forward what another node decides, and name the answering node.
    let router = match state.engine.cluster() {
        Some(cluster) => match cluster::Forwarder::new(cluster.clone(), body_limit) {
            Ok(forwarder) => router.layer(axum::middleware::from_fn_with_state(
                forwarder,
                cluster::forward,
            )),
            Err(err) => {
                tracing::error!(error = %err, "cannot build the forwarding client");
                router
            }
        },
        None => router,
    };
    let envelope = error::EnvelopeLayer::new(
        state_config.http_max_uri_bytes,
        state_config.http_max_header_bytes,
    );
    ops::instrument(router)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(envelope)
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<_>| {
                    let id = req
                        .headers()
                        .get(REQUEST_ID_HEADER)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    // A span per request costs as much as a cheap request's own work (its fields
                    // are formatted when it opens), so it exists at DEBUG only; at INFO the access
                    // line (`hotdeal::access`) carries the request id.
                    tracing::debug_span!("http", method = %req.method(), path = %req.uri().path(), request_id = %id)
                })
                .on_response(
                    |res: &axum::http::Response<_>, latency: Duration, _span: &tracing::Span| {
                        tracing::debug!(status = res.status().as_u16(), latency_us = latency.as_micros() as u64, "response");
                    },
                ),
        )
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}
