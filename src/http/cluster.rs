//! Cluster mode over HTTP: forwarding to the owner, `X-Hotdeal-Node`, and the operator's view
//! (`GET /api/v1/admin/cluster`, `GET /api/v1/admin/cluster/owner`).
//!
//! Forwarding: in cluster mode every request is run here first, with its body kept (requests are
//! small and bounded by the body limit). When the engine answered that the entity belongs to
//! another node (a 503 carrying [`ForwardTo`]), the same request goes to that node's advertise
//! URL over a pooled keep-alive connection, with `X-Hotdeal-Forwarded: <this node>`, and its answer
//! is returned as is. A request that arrives forwarded is never forwarded again (one hop): if
//! ownership moved meanwhile it gets the 503 with `Retry-After`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::{AuthUser, Role};
use super::envelope::{Envelope, Reply};
use super::error::{ApiError, ApiResult, ErrorBody, ForwardTo};
use super::extract::Query;
use crate::cluster::peer::Refusal;
use crate::cluster::{Cluster, Route};
use crate::error_code::ErrorCode;

/// The header naming the node that answered.
pub const NODE_HEADER: &str = "x-hotdeal-node";
pub use crate::cluster::FORWARDED_HEADER;

/// What the forwarding middleware needs.
pub struct Forwarder {
    client: reqwest::Client,
    node: HeaderValue,
    body_limit: usize,
}

impl Forwarder {
    pub fn new(cluster: Arc<Cluster>, body_limit: usize) -> anyhow::Result<Arc<Forwarder>> {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .pool_idle_timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(1))
            .timeout(Duration::from_secs(10))
            .tcp_nodelay(true)
            .build()?;
        let node = HeaderValue::from_str(cluster.node_id())?;
        Ok(Arc::new(Forwarder {
            client,
            node,
            body_limit,
        }))
    }
}

/// The middleware: run here, forward to the owner when the engine says so, name this node.
pub async fn forward(State(f): State<Arc<Forwarder>>, req: Request, next: Next) -> Response {
    let mut response = if req.headers().contains_key(FORWARDED_HEADER) {
        next.run(req).await
    } else {
        run_or_forward(&f, req, next).await
    };
    response
        .headers_mut()
        .entry(HeaderName::from_static(NODE_HEADER))
        .or_insert_with(|| f.node.clone());
    response
}

async fn run_or_forward(f: &Forwarder, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, f.body_limit).await {
        Ok(b) => b,
        Err(_) => {
            return ApiError::from(ErrorCode::PayloadTooLarge).into_response();
        }
    };
    let method = parts.method.clone();
    let uri = parts.uri.clone();
    let headers = parts.headers.clone();
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes.clone())))
        .await;
    let Some(ForwardTo(url)) = response.extensions().get::<ForwardTo>().cloned() else {
        return response;
    };
    let target = format!(
        "{url}{}",
        uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
    );
    let mut out = f.client.request(method, &target).body(bytes);
    for (name, value) in &headers {
        if !is_hop_by_hop(name) {
            out = out.header(name, value);
        }
    }
    out = out.header(FORWARDED_HEADER, f.node.clone());
    metrics::counter!("hotdeal_cluster_forwarded_total").increment(1);
    match out.send().await {
        Ok(answer) => {
            let mut builder = Response::builder().status(answer.status());
            for (name, value) in answer.headers() {
                if !is_hop_by_hop(name) && name != header::CONTENT_LENGTH {
                    builder = builder.header(name, value);
                }
            }
            match answer.bytes().await {
                Ok(body) => builder
                    .body(Body::from(body))
                    .unwrap_or_else(|_| response.into_response()),
                Err(_) => owner_unreachable(),
            }
        }
        Err(err) => {
            tracing::warn!(error = %err, owner = %url, "forwarding to the owner failed");
            owner_unreachable()
        }
    }
}

fn owner_unreachable() -> Response {
    metrics::counter!("hotdeal_cluster_forward_failures_total").increment(1);
    ApiError::coded(
        ErrorCode::PartitionUnavailable,
        "the node that decides this entity did not answer; retry shortly",
    )
    .into_response()
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "te"
            | "trailer"
            | "upgrade"
            | "host"
    )
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/cluster", get(cluster_view))
        .route("/api/v1/admin/cluster/owner", get(owner))
        .route(
            crate::cluster::peer::PEER_PATH,
            axum::routing::post(peer_call),
        )
}

/// `POST /internal/v1/peer`: a step of an order another node runs, decided here for an entity
/// this node owns (`crate::cluster::peer`). Not part of the public API: only a caller holding
/// the cluster's key can sign one, and outside cluster mode the path answers 404.
async fn peer_call(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let Some(cluster) = state.engine.cluster() else {
        return ApiError::from(ErrorCode::RouteNotFound).into_response();
    };
    let auth = headers
        .get(crate::cluster::peer::PEER_AUTH_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let accepted = cluster
        .peers()
        .accept(auth, &body, chrono::Utc::now().timestamp_millis());
    if let Err(refusal) = accepted {
        metrics::counter!("hotdeal_cluster_peer_refused_total").increment(1);
        let code = match refusal {
            Refusal::BadSignature => ErrorCode::PeerSignatureInvalid,
            Refusal::Replayed => {
                tracing::warn!("refused a peer call that was accepted before (a replay)");
                ErrorCode::PeerCallReplayed
            }
            Refusal::Busy => ErrorCode::EngineBusy,
        };
        return ApiError::from(code).into_response();
    }
    let call: crate::cluster::peer::PeerCall = match serde_json::from_slice(&body) {
        Ok(call) => call,
        Err(e) => {
            return ApiError::coded(ErrorCode::PeerCallInvalid, format!("not a peer call: {e}"))
                .into_response();
        }
    };
    axum::Json(state.engine.serve_peer(call).await).into_response()
}

/// A node of the cluster.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterNode {
    pub node_id: String,
    pub url: String,
    /// Whether its heartbeat is recent (two lease TTLs).
    pub alive: bool,
    /// How many partition leases it holds.
    pub partitions: usize,
}

/// A partition and its lease.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterPartition {
    pub partition: u32,
    /// The node holding its lease; `null` while it has none.
    pub owner: Option<String>,
    /// The lease's epoch (the fencing token).
    pub epoch: i64,
}

/// The cluster as this node last read it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterView {
    /// The node answering.
    pub node_id: String,
    pub nodes: Vec<ClusterNode>,
    pub partitions: Vec<ClusterPartition>,
}

/// The cluster's nodes and partition leases (MASTER).
///
/// Outside cluster mode: this node alone, deciding everything, with no partitions.
#[utoipa::path(get, path = "/api/v1/admin/cluster", tag = "admin",
    security(("bearer" = [])),
    responses((status = 200, description = "nodes and partitions", body = Envelope<ClusterView>),
        (status = 401, description = "`UNAUTHORIZED`: no valid token", body = ErrorBody),
        (status = 403, description = "`FORBIDDEN`: not MASTER", body = ErrorBody)))]
pub async fn cluster_view(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<Reply<ClusterView>> {
    user.require(&[Role::Master])?;
    let Some(cluster) = state.engine.cluster() else {
        let node_id = single_node_id(&state);
        return Ok(Reply::ok(
            "cluster",
            ClusterView {
                nodes: vec![ClusterNode {
                    node_id: node_id.clone(),
                    url: state.public_base_url.clone(),
                    alive: true,
                    partitions: 0,
                }],
                node_id,
                partitions: Vec::new(),
            },
        ));
    };
    let view = ClusterView {
        node_id: cluster.node_id().to_string(),
        nodes: cluster
            .nodes()
            .into_iter()
            .map(|n| ClusterNode {
                node_id: n.node_id,
                url: n.url,
                alive: n.alive,
                partitions: n.partitions,
            })
            .collect(),
        partitions: cluster
            .leases()
            .into_iter()
            .map(|l| ClusterPartition {
                partition: l.partition,
                owner: (!l.owner.is_empty()).then_some(l.owner),
                epoch: l.epoch,
            })
            .collect(),
    };
    Ok(Reply::ok("cluster", view))
}

fn single_node_id(state: &AppState) -> String {
    state
        .config
        .node_id
        .clone()
        .or_else(|| {
            std::fs::read_to_string(state.config.data_dir.join("node_id"))
                .ok()
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_default()
}

/// Which entity to locate: exactly one of the two.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct OwnerQuery {
    /// A coupon campaign's id.
    pub coupon_info_id: Option<uuid::Uuid>,
    /// A product's id.
    pub product_id: Option<uuid::Uuid>,
}

/// Who decides for one entity.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OwnerView {
    pub partition: u32,
    /// `null` while the partition has no owner.
    pub owner: Option<String>,
    pub owner_url: Option<String>,
    pub epoch: i64,
}

/// Which node decides for a campaign or product (MASTER).
///
/// Answers the entity's partition, its owner and the lease's epoch.
#[utoipa::path(get, path = "/api/v1/admin/cluster/owner", tag = "admin",
    security(("bearer" = [])),
    params(OwnerQuery),
    responses((status = 200, description = "the entity's partition and owner", body = Envelope<OwnerView>),
        (status = 400, description = "`INVALID_QUERY`: give exactly one of `couponInfoId`, `productId`", body = ErrorBody),
        (status = 401, description = "`UNAUTHORIZED`: no valid token", body = ErrorBody),
        (status = 403, description = "`FORBIDDEN`: not MASTER", body = ErrorBody)))]
pub async fn owner(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<OwnerQuery>,
) -> ApiResult<Reply<OwnerView>> {
    user.require(&[Role::Master])?;
    let id = match (q.coupon_info_id, q.product_id) {
        (Some(id), None) | (None, Some(id)) => id.as_u128(),
        _ => {
            return Err(ApiError::coded(
                ErrorCode::InvalidQuery,
                "give exactly one of couponInfoId and productId",
            ));
        }
    };
    let Some(cluster) = state.engine.cluster() else {
        return Ok(Reply::ok(
            "owner",
            OwnerView {
                partition: 0,
                owner: Some(single_node_id(&state)),
                owner_url: Some(state.public_base_url.clone()),
                epoch: 0,
            },
        ));
    };
    let p = cluster.partition_of(id);
    let lease = cluster.leases().into_iter().find(|l| l.partition == p);
    let epoch = lease.as_ref().map(|l| l.epoch).unwrap_or(0);
    let (owner, owner_url) = match cluster.route(p) {
        Route::Local => (
            Some(cluster.node_id().to_string()),
            Some(cluster.advertise_url().to_string()),
        ),
        Route::Elsewhere { owner, url } => (Some(owner), Some(url)),
        Route::Unowned => (None, None),
    };
    let epoch = if owner.as_deref() == Some(cluster.node_id()) {
        cluster.epoch_of(p)
    } else {
        epoch
    };
    Ok(Reply::ok(
        "owner",
        OwnerView {
            partition: p,
            owner,
            owner_url,
            epoch,
        },
    ))
}
