//! Operator endpoints (MASTER only): snapshots, the engine/database audit, engine status.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::auth::{AuthUser, Role};
use super::envelope::{Envelope, Reply};
use super::error::{ApiResult, ErrorBody};
use crate::persistence::audit::{stored_campaign, stored_levels};
use crate::persistence::snapshot::{SnapshotFile, list_snapshots};

/// The document's schema of a [`SnapshotFile`] (which lives below the HTTP layer).
#[derive(ToSchema)]
#[schema(as = SnapshotFile)]
#[allow(dead_code)]
pub struct SnapshotFileDoc {
    /// Where the file is, on the server.
    pub path: String,
    /// The last journal sequence number it covers.
    pub seq: u64,
    /// When it was taken, epoch milliseconds.
    pub created_at_ms: i64,
    pub size_bytes: u64,
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/snapshots", get(list).post(create))
        .route("/api/v1/admin/audit", get(audit))
        .route("/api/v1/admin/engine", get(engine_status))
}

/// Write a snapshot of all actor state now (MASTER).
///
/// Old snapshots beyond `HOTDEAL_SNAPSHOT_KEEP` are removed.
#[utoipa::path(post, path = "/api/v1/admin/snapshots", tag = "admin",
    security(("bearer" = [])),
    responses((status = 201, description = "snapshot written", body = Envelope<SnapshotFileDoc>),
        (status = 403, description = "`FORBIDDEN`: not MASTER", body = ErrorBody),
        (status = 503, description = "`ENGINE_BUSY`: an actor did not answer in time", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<Reply<SnapshotFile>> {
    user.require(&[Role::Master])?;
    let file = state
        .engine
        .snapshot_to(&state.config.snapshot_dir, state.config.snapshot_keep)
        .await?;
    Ok(Reply::created("snapshot written", file))
}

/// The snapshots on disk, newest first (MASTER).
#[utoipa::path(get, path = "/api/v1/admin/snapshots", tag = "admin",
    security(("bearer" = [])),
    responses((status = 200, description = "snapshots, newest first", body = Envelope<Vec<SnapshotFileDoc>>),
        (status = 403, description = "`FORBIDDEN`: not MASTER", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<Reply<Vec<SnapshotFile>>> {
    user.require(&[Role::Master])?;
    Ok(Reply::ok(
        "snapshots",
        list_snapshots(&state.config.snapshot_dir)?,
    ))
}

/// One difference between the engine and the database.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditDifference {
    pub entity: String,
    pub id: String,
    pub field: String,
    pub engine: i64,
    pub database: i64,
}

/// The audit result.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditReport {
    /// Whether the write-behind had caught up when the comparison was made.
    pub caught_up: bool,
    pub backlog_events: u64,
    pub campaigns_checked: usize,
    pub items_checked: usize,
    pub differences: Vec<AuditDifference>,
}

/// Compare the engine's state with the database's (MASTER).
///
/// Waits up to 10 seconds for the write-behind to catch up, then lists every campaign and item
/// counter that differs.
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin",
    security(("bearer" = [])),
    responses((status = 200, description = "engine vs database differences", body = Envelope<AuditReport>),
        (status = 403, description = "`FORBIDDEN`: not MASTER", body = ErrorBody),
        (status = 503, description = "`ENGINE_BUSY`: an actor did not answer in time", body = ErrorBody)))]
pub async fn audit(State(state): State<AppState>, user: AuthUser) -> ApiResult<Reply<AuditReport>> {
    user.require(&[Role::Master])?;
    let journal = state.engine.journal().clone();
    let target = journal.appended();
    journal
        .wait_applied(std::time::Duration::from_secs(10))
        .await;
    let (campaigns, items) = state.engine.collect_state().await?;
    let mut differences = Vec::new();
    let mut diff = |entity: &str, id: String, field: &str, engine: i64, database: i64| {
        if engine != database {
            differences.push(AuditDifference {
                entity: entity.into(),
                id,
                field: field.into(),
                engine,
                database,
            });
        }
    };
    for (id, ledger, _) in &campaigns {
        let (issued, quantity, rows) = match stored_campaign(&state.db, id.0).await? {
            Some(c) => (c.issued_count, c.quantity, c.coupon_rows),
            None => (-1, -1, -1),
        };
        diff(
            "campaign",
            id.to_string(),
            "issuedCount",
            ledger.issued_count(),
            issued,
        );
        diff(
            "campaign",
            id.to_string(),
            "couponRows",
            ledger.issued_count(),
            rows,
        );
        diff(
            "campaign",
            id.to_string(),
            "quantity",
            ledger.config.quantity,
            quantity,
        );
    }
    for (id, ledger, _) in &items {
        let row = stored_levels(&state.db, id.0).await?;
        let l = ledger.levels();
        diff("item", id.to_string(), "total", l.total, row.quantity);
        diff(
            "item",
            id.to_string(),
            "available",
            l.available,
            row.available,
        );
        diff("item", id.to_string(), "reserved", l.reserved, row.reserved);
        diff("item", id.to_string(), "sold", l.sold, row.sold);
    }
    Ok(Reply::ok(
        "audit",
        AuditReport {
            caught_up: journal.applied() >= target,
            backlog_events: journal.backlog(),
            campaigns_checked: campaigns.len(),
            items_checked: items.len(),
            differences,
        },
    ))
}

/// Engine status for operators.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EngineStatus {
    pub durability: String,
    pub campaign_actors: usize,
    pub item_actors: usize,
    pub journal_appended_seq: u64,
    pub journal_durable_seq: u64,
    pub database_applied_seq: u64,
    pub writebehind_backlog_events: u64,
    pub journal_fsyncs: u64,
    pub journal_records: u64,
}

/// The engine's numbers: actors, journal sequence numbers, write-behind backlog (MASTER).
#[utoipa::path(get, path = "/api/v1/admin/engine", tag = "admin",
    security(("bearer" = [])),
    responses((status = 200, description = "engine status", body = Envelope<EngineStatus>),
        (status = 403, description = "`FORBIDDEN`: not MASTER", body = ErrorBody)))]
pub async fn engine_status(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<Reply<EngineStatus>> {
    user.require(&[Role::Master])?;
    let j = state.engine.journal();
    let (campaign_actors, item_actors) = state.engine.actor_counts();
    let stats = j.stats();
    use std::sync::atomic::Ordering::Relaxed;
    Ok(Reply::ok(
        "engine",
        EngineStatus {
            durability: j.mode().as_str().into(),
            campaign_actors,
            item_actors,
            journal_appended_seq: j.appended(),
            journal_durable_seq: j.durable(),
            database_applied_seq: j.applied(),
            writebehind_backlog_events: j.backlog(),
            journal_fsyncs: stats.fsyncs.load(Relaxed),
            journal_records: stats.records.load(Relaxed),
        },
    ))
}
