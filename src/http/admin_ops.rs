//! Operator actions (MASTER only): adjust an item's stock, open or close a coupon campaign, end
//! an item's time sale now, and read the audit log those actions write.
//!
//! Every change goes through the engine (the actor owning the item or campaign decides and
//! journals it; the write-behind carries it to the database), never through SQL. Each applied
//! change then writes one `hd_audit_log` row: who, what, which entity, and a JSON detail.

use axum::Router;
use axum::extract::{Query, State};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::auth::{AuthUser, Role};
use super::envelope::{ApiJson, Envelope, Reply};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::Path;
use super::page::{Page, PageQuery};
use crate::domain::campaign::CampaignStatus;
use crate::domain::clock::rfc3339;
use crate::domain::ids::{CampaignId, ItemId, UserId};
use crate::domain::item::{ItemOutcome, SaleConfig, SalePhase};
use crate::error_code::ErrorCode;
use crate::persistence::audit::{self as repo, AuditFilter};

/// Largest stock change one request may make, either way.
pub const MAX_STOCK_DELTA: i64 = 1_000_000_000;
/// Longest accepted `reason`, in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// The operator routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/items/{id}/stock", post(adjust_stock))
        .route("/api/v1/admin/items/{id}/sale/close", post(close_sale))
        .route("/api/v1/admin/campaigns/{id}/open", post(open_campaign))
        .route("/api/v1/admin/campaigns/{id}/close", post(close_campaign))
        .route("/api/v1/admin/audit-log", get(audit_log))
}

fn parse_id(raw: &str, what: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(raw.trim())
        .map_err(|_| ApiError::coded(ErrorCode::InvalidValue, format!("{what} must be a UUID")))
}

/// One audit row to write.
struct AuditRecord {
    actor: UserId,
    action: &'static str,
    entity_type: &'static str,
    entity_id: Uuid,
    detail: serde_json::Value,
}

/// Write the audit row of a change the engine already applied. The change cannot be undone, so a
/// failed write is logged at ERROR with the whole record (it still reaches the log store) and the
/// operator is answered with the change's result rather than an error inviting a retry.
async fn record(state: &AppState, rec: AuditRecord) {
    let detail = rec.detail.to_string();
    let row = repo::AuditRecord {
        actor: rec.actor.0,
        action: rec.action,
        entity_type: rec.entity_type,
        entity_id: rec.entity_id,
        detail: detail.clone(),
    };
    if let Err(err) = repo::insert_audit_record(&state.db, &row, state.now_ms()).await {
        tracing::error!(
            error = %format!("{err:#}"),
            actor_user_id = %rec.actor,
            action = rec.action,
            entity_type = rec.entity_type,
            entity_id = %rec.entity_id,
            detail = %detail,
            "audit log row not written; the action itself was applied"
        );
    }
}

fn audit(
    user: &AuthUser,
    action: &'static str,
    entity_type: &'static str,
    entity_id: Uuid,
    detail: serde_json::Value,
) -> AuditRecord {
    AuditRecord {
        actor: user.user_id,
        action,
        entity_type,
        entity_id,
        detail,
    }
}

// ------------------------------------------------------------------------------------ stock

/// `{delta, reason}`: add (restock) or remove units of an item.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StockAdjustBody {
    /// Units to add (positive) or remove (negative); not 0. Removing more than is available is
    /// refused.
    pub delta: i64,
    /// Why (kept in the audit log).
    pub reason: String,
}

/// An item's stock after a change.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ItemStock {
    pub item_id: Uuid,
    pub total: i64,
    pub available: i64,
    pub reserved: i64,
    pub sold: i64,
}

fn validate_reason(reason: &str) -> ApiResult<String> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(ApiError::coded(
            ErrorCode::InvalidValue,
            "reason is required",
        ));
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(ApiError::coded(
            ErrorCode::InvalidValue,
            format!("reason must be at most {MAX_REASON_CHARS} characters"),
        ));
    }
    Ok(reason.to_string())
}

/// Restock or remove units of an item through its actor (MASTER; audited).
///
/// Removing more than is available is refused: reserved and sold units stay.
#[utoipa::path(post, path = "/api/v1/admin/items/{id}/stock", tag = "admin", request_body = StockAdjustBody,
    params(("id" = Uuid, Path, description = "product id")),
    responses((status = 200, description = "stock adjusted", body = Envelope<ItemStock>),
        (status = 400, description = "`INVALID_VALUE`: not a product id, delta 0 or beyond 1,000,000,000 either way, reason empty or over 500 characters", body = ErrorBody),
        (status = 403, description = "`FORBIDDEN`: not MASTER", body = ErrorBody),
        (status = 404, description = "`P002`: no such product", body = ErrorBody),
        (status = 409, description = "`STOCK_BELOW_ZERO`: removing more units than are available", body = ErrorBody),
        (status = 503, description = "`ENGINE_BUSY`, `ENGINE_BACKLOGGED`, `JOURNAL_UNAVAILABLE`: the engine cannot take the change now", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn adjust_stock(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<StockAdjustBody>,
) -> ApiResult<Reply<ItemStock>> {
    user.require(&[Role::Master])?;
    let id = parse_id(&id, "item id")?;
    // unsigned_abs: `i64::MIN.abs()` overflows (and wraps to a negative number in release).
    if body.delta == 0 || body.delta.unsigned_abs() > MAX_STOCK_DELTA.unsigned_abs() {
        return Err(ApiError::coded(
            ErrorCode::InvalidValue,
            format!(
                "delta must be a non-zero number of units, at most {MAX_STOCK_DELTA} either way"
            ),
        ));
    }
    let reason = validate_reason(&body.reason)?;
    let item = ItemId(id);
    let outcome = state.engine.adjust_stock(item, body.delta).await?;
    match outcome {
        ItemOutcome::Adjusted { .. } => {}
        ItemOutcome::InvalidQuantity => {
            let view = state.engine.item_view(item).await?;
            return Err(ApiError::coded(
                ErrorCode::StockBelowZero,
                format!(
                    "cannot remove {} units: only {} are available (reserved and sold units stay)",
                    -body.delta, view.levels.available
                ),
            ));
        }
        other => {
            return Err(ApiError::internal(anyhow::anyhow!(
                "unexpected stock adjustment outcome {other:?}"
            )));
        }
    }
    let view = state.engine.item_view(item).await?;
    let levels = view.levels;
    record(
        &state,
        audit(
            &user,
            "ITEM_STOCK_ADJUSTED",
            "item",
            id,
            json!({
                "delta": body.delta, "reason": reason, "total": levels.total,
                "available": levels.available, "reserved": levels.reserved, "sold": levels.sold,
            }),
        ),
    )
    .await;
    Ok(Reply::ok(
        "stock adjusted",
        ItemStock {
            item_id: id,
            total: levels.total,
            available: levels.available,
            reserved: levels.reserved,
            sold: levels.sold,
        },
    ))
}

// ----------------------------------------------------------------------------------- campaigns

/// A campaign's status after an operator action.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CampaignState {
    pub coupon_info_id: Uuid,
    /// The status requested.
    pub requested: String,
    /// The status actually set (`OUT_OF_STOCK` when opening a campaign with nothing left).
    pub status: String,
}

async fn set_campaign(
    state: &AppState,
    user: &AuthUser,
    raw_id: &str,
    status: CampaignStatus,
    action: &'static str,
) -> ApiResult<Reply<CampaignState>> {
    user.require(&[Role::Master])?;
    let id = parse_id(raw_id, "campaign id")?;
    let set = state
        .engine
        .set_campaign_status(CampaignId(id), status)
        .await?;
    record(
        state,
        audit(
            user,
            action,
            "campaign",
            id,
            json!({"requested": status.as_str(), "status": set.as_str()}),
        ),
    )
    .await;
    Ok(Reply::ok(
        format!("campaign status {}", set.as_str()),
        CampaignState {
            coupon_info_id: id,
            requested: status.as_str().into(),
            status: set.as_str().into(),
        },
    ))
}

/// Open a coupon campaign for issuing (status `ISSUED`; MASTER; audited).
#[utoipa::path(post, path = "/api/v1/admin/campaigns/{id}/open", tag = "admin",
    params(("id" = Uuid, Path, description = "coupon campaign (coupon info) id")),
    responses((status = 200, description = "campaign opened (`OUT_OF_STOCK` when nothing is left)", body = Envelope<CampaignState>),
        (status = 400, description = "`INVALID_VALUE`: not a campaign id", body = ErrorBody),
        (status = 403, description = "`FORBIDDEN`: not MASTER", body = ErrorBody),
        (status = 404, description = "`CO001`: no such campaign", body = ErrorBody),
        (status = 503, description = "`ENGINE_BUSY`, `ENGINE_BACKLOGGED`, `JOURNAL_UNAVAILABLE`: the engine cannot take the change now", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn open_campaign(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Reply<CampaignState>> {
    set_campaign(
        &state,
        &user,
        &id,
        CampaignStatus::Issued,
        "CAMPAIGN_OPENED",
    )
    .await
}

/// Close a coupon campaign (status `OUT_OF_STOCK`; MASTER; audited): no more coupons are issued.
#[utoipa::path(post, path = "/api/v1/admin/campaigns/{id}/close", tag = "admin",
    params(("id" = Uuid, Path, description = "coupon campaign (coupon info) id")),
    responses((status = 200, description = "campaign closed", body = Envelope<CampaignState>),
        (status = 400, description = "`INVALID_VALUE`: not a campaign id", body = ErrorBody),
        (status = 403, description = "`FORBIDDEN`: not MASTER", body = ErrorBody),
        (status = 404, description = "`CO001`: no such campaign", body = ErrorBody),
        (status = 503, description = "`ENGINE_BUSY`, `ENGINE_BACKLOGGED`, `JOURNAL_UNAVAILABLE`: the engine cannot take the change now", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn close_campaign(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Reply<CampaignState>> {
    set_campaign(
        &state,
        &user,
        &id,
        CampaignStatus::OutOfStock,
        "CAMPAIGN_CLOSED",
    )
    .await
}

// ---------------------------------------------------------------------------------------- sale

/// An item's time sale after it was ended.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SaleClosed {
    pub item_id: Uuid,
    pub promotion_id: Uuid,
    /// Sale window after the change, epoch milliseconds (`[startAt, endAt)`).
    pub start_at: i64,
    pub end_at: i64,
    /// `COMPLETED`.
    pub phase: String,
    /// Whether this call ended it (false: it had already ended).
    pub changed: bool,
}

fn phase_str(phase: SalePhase) -> &'static str {
    match phase {
        SalePhase::Pending => "PENDING",
        SalePhase::InProgress => "IN_PROGRESS",
        SalePhase::Completed => "COMPLETED",
    }
}

/// End an item's time sale now (MASTER; audited); a sale not yet started ends before it starts.
#[utoipa::path(post, path = "/api/v1/admin/items/{id}/sale/close", tag = "admin",
    params(("id" = Uuid, Path, description = "product id")),
    responses((status = 200, description = "sale ended", body = Envelope<SaleClosed>),
        (status = 400, description = "`INVALID_VALUE`: not a product id", body = ErrorBody),
        (status = 403, description = "`FORBIDDEN`: not MASTER", body = ErrorBody),
        (status = 404, description = "`P002`: no such product", body = ErrorBody),
        (status = 409, description = "`NO_SALE`: the product has no time sale", body = ErrorBody),
        (status = 503, description = "`ENGINE_BUSY`, `ENGINE_BACKLOGGED`, `JOURNAL_UNAVAILABLE`: the engine cannot take the change now", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn close_sale(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Reply<SaleClosed>> {
    user.require(&[Role::Master])?;
    let id = parse_id(&id, "item id")?;
    let item = ItemId(id);
    let view = state.engine.item_view(item).await?;
    let Some(sale) = view.sale else {
        return Err(ErrorCode::NoSale.into());
    };
    let now = state.now_ms();
    let current = sale.config;
    if current.end_ms <= now {
        return Ok(Reply::ok(
            "the sale had already ended",
            SaleClosed {
                item_id: id,
                promotion_id: current.promotion_id.0,
                start_at: current.start_ms,
                end_at: current.end_ms,
                phase: phase_str(SalePhase::Completed).into(),
                changed: false,
            },
        ));
    }
    let (start_at, end_at) = (current.start_ms.min(now), now);
    let ended = SaleConfig {
        start_ms: start_at,
        end_ms: end_at,
        ..current.clone()
    };
    match state.engine.set_sale(item, Some(ended)).await? {
        ItemOutcome::SaleSet => {}
        other => {
            return Err(ApiError::internal(anyhow::anyhow!(
                "unexpected outcome {other:?} ending a sale"
            )));
        }
    }
    record(
        &state,
        audit(
            &user,
            "SALE_CLOSED",
            "item",
            id,
            json!({
                "promotionId": current.promotion_id.0,
                "previousStartAt": current.start_ms, "previousEndAt": current.end_ms,
                "endAt": now, "remaining": sale.remaining, "reserved": sale.reserved, "sold": sale.sold,
            }),
        ),
    )
    .await;
    Ok(Reply::ok(
        "sale ended",
        SaleClosed {
            item_id: id,
            promotion_id: current.promotion_id.0,
            start_at,
            end_at,
            phase: phase_str(SalePhase::Completed).into(),
            changed: true,
        },
    ))
}

// ----------------------------------------------------------------------------------- audit log

/// One operator action.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub id: Uuid,
    pub actor_user_id: Option<Uuid>,
    /// E.g. `ITEM_STOCK_ADJUSTED`, `CAMPAIGN_OPENED`, `CAMPAIGN_CLOSED`, `SALE_CLOSED`.
    pub action: String,
    /// `item` or `campaign`.
    pub entity_type: String,
    pub entity_id: Uuid,
    /// The action's details (JSON).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    /// When (RFC 3339, UTC).
    pub created_at: String,
}

/// Filters of the audit log (besides `page`, `size`, `sort=createdAt,asc|desc`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditLogQuery {
    pub page: Option<i64>,
    pub size: Option<i64>,
    pub sort: Option<String>,
    pub action: Option<String>,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
}

const AUDIT_SORTS: &[(&str, &str)] = &[("createdAt", "created_at")];

/// The operators' audit log, newest first (MASTER).
#[utoipa::path(get, path = "/api/v1/admin/audit-log", tag = "admin",
    params(
        ("page" = Option<i64>, Query, description = "0-based page"),
        ("size" = Option<i64>, Query, description = "page size (default 20)"),
        ("sort" = Option<String>, Query, description = "createdAt,desc (default) or createdAt,asc"),
        ("action" = Option<String>, Query, description = "only this action"),
        ("entityType" = Option<String>, Query, description = "only this entity type (item, campaign)"),
        ("entityId" = Option<Uuid>, Query, description = "only this entity"),
    ),
    responses((status = 200, description = "a page of audit entries", body = Envelope<Page<AuditEntry>>),
        (status = 400, description = "`INVALID_VALUE`: a query parameter of the wrong type; `INVALID_SORT`: page, size or sort out of range", body = ErrorBody),
        (status = 403, description = "`FORBIDDEN`: not MASTER", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn audit_log(
    State(state): State<AppState>,
    user: AuthUser,
    query: Result<Query<AuditLogQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Reply<Page<AuditEntry>>> {
    user.require(&[Role::Master])?;
    let Query(q) = query.map_err(|e| ApiError::coded(ErrorCode::InvalidValue, e.body_text()))?;
    let req = PageQuery {
        page: q.page,
        size: q.size,
        sort: q.sort.clone(),
    }
    .validate(
        AUDIT_SORTS,
        20,
        state.config.page_limits(),
        ErrorCode::InvalidSort,
    )?;
    let filter = AuditFilter {
        action: q
            .action
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_ascii_uppercase),
        entity_type: q
            .entity_type
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_ascii_lowercase),
        entity_id: q
            .entity_id
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .map(|e| parse_id(e, "entityId"))
            .transpose()?,
    };
    let (rows, total) = repo::list_audit_records(&state.db, &filter, &req).await?;
    let content = rows
        .into_iter()
        .map(|row| AuditEntry {
            id: row.id,
            actor_user_id: row.actor_user_id,
            action: row.action,
            entity_type: row.entity_type,
            entity_id: row.entity_id,
            detail: match row.detail {
                None => serde_json::Value::Null,
                Some(d) => serde_json::from_str(&d).unwrap_or(serde_json::Value::String(d)),
            },
            created_at: rfc3339(row.created_at),
        })
        .collect();
    Ok(Reply::ok("audit log", Page::new(content, total, &req)))
}
