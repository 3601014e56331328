//! Coupon campaigns (`/api/v1/coupon-infos`) and first-come-first-served coupons
//! (`/api/v1/coupons`). Issuing is decided by the campaign actor: no lock and no database read on
//! the path.

use axum::Router;
use axum::extract::State;
use axum::routing::{get, patch, post};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::auth::{AuthUser, Role};
use super::commerce::wait_for_writebehind;
use super::envelope::{ApiJson, Envelope, NoData, Reply};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Path, Query};
use crate::domain::campaign::{CampaignConfig, CampaignOutcome, CampaignStatus};
use crate::domain::ids::{CampaignId, CompanyId, UserId};
use crate::persistence::repo::{NewCampaign, date_end_ms, uuid_col};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/coupon-infos",
            post(create_campaign).get(list_campaigns),
        )
        .route(
            "/api/v1/coupon-infos/{id}",
            get(get_campaign).put(update_campaign),
        )
        .route("/api/v1/coupon-infos/{id}/status", patch(set_status))
        .route("/api/v1/coupons/issue", post(issue))
        .route("/api/v1/coupons", get(list_mine))
        .route(
            "/api/v1/coupons/{id}",
            get(get_coupon).delete(delete_coupon),
        )
}

/// A campaign to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateCampaign {
    pub name: String,
    pub quantity: i64,
    pub coupon_type: String,
    pub discount_amount: i64,
    pub min_order_amount: i64,
    /// `YYYY-MM-DD`; usable through the end of that day (UTC).
    pub expiration_date: String,
    pub company_id: Option<Uuid>,
    /// Optional issuing window, epoch milliseconds.
    pub issue_start_at: Option<i64>,
    pub issue_end_at: Option<i64>,
}

/// `{couponId}` (the campaign id, named as the seed names it).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CampaignCreated {
    pub coupon_id: Uuid,
}

const MAX_CAMPAIGN_QUANTITY: i64 = 100_000_000;

/// Create a coupon campaign (MASTER, MANAGER); it starts PENDING.
///
/// Nobody can claim it until it is opened with `PATCH /api/v1/coupon-infos/{id}/status`
/// (`ISSUED`). `companyId` limits the discount to that APPROVED company's products.
#[utoipa::path(post, path = "/api/v1/coupon-infos", tag = "coupons", request_body = CreateCampaign,
    security(("bearer" = [])),
    responses((status = 201, description = "created", body = Envelope<CampaignCreated>),
        (status = 400, description = "`CO014`: a field out of range (name 1 to 255 characters, quantity 1 to 100,000,000, amounts, couponType, expirationDate YYYY-MM-DD not in the past, issueStartAt before issueEndAt); `CO015`: the company is not APPROVED", body = ErrorBody),
        (status = 403, description = "`FORBIDDEN`: not MASTER or MANAGER", body = ErrorBody),
        (status = 404, description = "`CO018`: no such company", body = ErrorBody)))]
pub async fn create_campaign(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<CreateCampaign>,
) -> ApiResult<Reply<CampaignCreated>> {
    user.require(&[Role::Master, Role::Manager])?;
    let Validated {
        name,
        coupon_type,
        expires_at_ms: _,
    } = validate_campaign(&state, &body).await?;
    let id = CampaignId::new();
    state
        .store
        .insert_campaign(
            &NewCampaign {
                id,
                name,
                quantity: body.quantity,
                discount_amount: body.discount_amount,
                min_order_amount: body.min_order_amount,
                expiration_date: body.expiration_date.trim().to_string(),
                coupon_type,
                company_id: body.company_id.map(CompanyId),
                issue_start_ms: body.issue_start_at,
                issue_end_ms: body.issue_end_at,
                created_by: Some(user.email.clone()),
            },
            state.now_ms(),
        )
        .await?;
    Ok(Reply::created(
        "쿠폰 정보가 생성되었습니다.",
        CampaignCreated { coupon_id: id.0 },
    ))
}

/// A campaign body that passed validation.
struct Validated {
    name: String,
    coupon_type: String,
    expires_at_ms: i64,
}

/// The checks shared by create and update (codes as the seed's: CO014, CO015, CO018).
async fn validate_campaign(state: &AppState, body: &CreateCampaign) -> ApiResult<Validated> {
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 255 {
        return Err(ApiError::bad_request(
            "CO014",
            "name must be 1 to 255 characters",
        ));
    }
    if !(1..=MAX_CAMPAIGN_QUANTITY).contains(&body.quantity) {
        return Err(ApiError::bad_request(
            "CO014",
            format!("quantity must be 1 to {MAX_CAMPAIGN_QUANTITY}"),
        ));
    }
    if body.discount_amount < 1 || body.discount_amount > 2_100_000_000 {
        return Err(ApiError::bad_request(
            "CO014",
            "discountAmount must be positive",
        ));
    }
    if body.min_order_amount < 0 || body.min_order_amount > 2_100_000_000 {
        return Err(ApiError::bad_request(
            "CO014",
            "minOrderAmount must not be negative",
        ));
    }
    let coupon_type = body.coupon_type.trim().to_ascii_uppercase();
    if coupon_type != "FIRST_COME_FIRST_SERVE" && coupon_type != "DAILY_COUPON" {
        return Err(ApiError::bad_request(
            "CO014",
            "couponType must be FIRST_COME_FIRST_SERVE or DAILY_COUPON",
        ));
    }
    let expires_at_ms = date_end_ms(&body.expiration_date)
        .map_err(|_| ApiError::bad_request("CO014", "expirationDate must be YYYY-MM-DD"))?;
    if expires_at_ms <= state.now_ms() {
        return Err(ApiError::bad_request(
            "CO014",
            "expirationDate is in the past",
        ));
    }
    if let (Some(s), Some(e)) = (body.issue_start_at, body.issue_end_at)
        && s >= e
    {
        return Err(ApiError::bad_request(
            "CO014",
            "issueStartAt must be before issueEndAt",
        ));
    }
    if let Some(company) = body.company_id {
        let row = sqlx::query("SELECT status FROM p_companies WHERE id = ? AND deleted_at IS NULL")
            .bind(company.to_string())
            .fetch_optional(&state.db.pool)
            .await?;
        match row {
            None => return Err(ApiError::not_found("CO018", "company not found")),
            Some(r) if r.try_get::<String, _>("status")? != "APPROVED" => {
                return Err(ApiError::bad_request(
                    "CO015",
                    "the company is not APPROVED",
                ));
            }
            Some(_) => {}
        }
    }
    Ok(Validated {
        name: name.to_string(),
        coupon_type,
        expires_at_ms,
    })
}

/// A campaign, with live counters from the engine.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CampaignView {
    pub coupon_id: Uuid,
    pub name: String,
    pub quantity: i64,
    pub issued_count: i64,
    pub discount_amount: i64,
    pub min_order_amount: i64,
    pub expiration_date: String,
    /// PENDING, ISSUED or OUT_OF_STOCK.
    pub status: String,
    pub coupon_type: String,
    pub company_id: Option<Uuid>,
    pub issue_start_at: Option<i64>,
    pub issue_end_at: Option<i64>,
}

fn parse_campaign_id(id: &str) -> ApiResult<CampaignId> {
    id.parse()
        .map_err(|_| ApiError::bad_request("CO014", "invalid coupon campaign id"))
}

/// One coupon campaign with its live issued count.
///
/// A PENDING (unpublished) campaign is shown only to MASTER and MANAGER.
#[utoipa::path(get, path = "/api/v1/coupon-infos/{id}", tag = "coupons",
    params(("id" = Uuid, Path, description = "campaign (coupon info) id")), security(("bearer" = [])),
    responses((status = 200, description = "the campaign", body = Envelope<CampaignView>),
        (status = 400, description = "`CO014`: not a campaign id", body = ErrorBody),
        (status = 404, description = "`CO001`: no such campaign, or one not published yet (PENDING) asked by a customer or seller", body = ErrorBody),
        (status = 503, description = "`ENGINE_BUSY`: the campaign's actor is at capacity", body = ErrorBody)))]
pub async fn get_campaign(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Reply<CampaignView>> {
    let id = parse_campaign_id(&id)?;
    let row = sqlx::query(
        "SELECT name, coupon_type, expiration_date, company_id FROM p_coupon_info \
         WHERE coupon_info_id = ? AND deleted_at IS NULL",
    )
    .bind(id.to_string())
    .fetch_optional(&state.db.pool)
    .await?
    .ok_or_else(|| ApiError::not_found("CO001", "coupon campaign not found"))?;
    let (live, _) = state.engine.campaign_view(id, None).await?;
    if live.status == CampaignStatus::Pending && !user.role.is_staff() {
        // Not published yet: only staff may know it exists.
        return Err(ApiError::not_found("CO001", "coupon campaign not found"));
    }
    Ok(Reply::ok(
        "쿠폰 정보 조회 성공",
        CampaignView {
            coupon_id: id.0,
            name: row.try_get("name")?,
            quantity: live.config.quantity,
            issued_count: live.issued_count,
            discount_amount: live.config.discount_amount,
            min_order_amount: live.config.min_order_amount,
            // Engine-owned fields come from the actor: the database may not have caught up.
            expiration_date: crate::persistence::repo::date_of(live.config.expires_at_ms - 1),
            status: live.status.as_str().to_string(),
            coupon_type: row.try_get("coupon_type")?,
            company_id: live.config.company_id.map(|c| c.0),
            issue_start_at: live.config.issue_start_ms,
            issue_end_at: live.config.issue_end_ms,
        },
    ))
}

/// `{status}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct StatusBody {
    pub status: String,
}

/// Open, close or reset a campaign (MASTER, MANAGER).
///
/// `ISSUED` opens it for claims, `OUT_OF_STOCK` closes it, `PENDING` takes it back.
#[utoipa::path(patch, path = "/api/v1/coupon-infos/{id}/status", tag = "coupons", request_body = StatusBody,
    params(("id" = Uuid, Path, description = "campaign (coupon info) id")), security(("bearer" = [])),
    responses((status = 200, description = "status set", body = NoData),
        (status = 400, description = "`CO014`: not a campaign id, or status not PENDING, ISSUED or OUT_OF_STOCK; `CO003`: the campaign already has this status", body = ErrorBody),
        (status = 403, description = "`FORBIDDEN`: not MASTER or MANAGER", body = ErrorBody),
        (status = 404, description = "`CO001`: no such campaign", body = ErrorBody),
        (status = 503, description = "`ENGINE_BUSY`, `ENGINE_BACKLOGGED`, `JOURNAL_UNAVAILABLE`: the engine cannot take the change now", body = ErrorBody)))]
pub async fn set_status(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<StatusBody>,
) -> ApiResult<Reply<Option<()>>> {
    user.require(&[Role::Master, Role::Manager])?;
    let id = parse_campaign_id(&id)?;
    let status = CampaignStatus::parse(&body.status).ok_or_else(|| {
        ApiError::bad_request("CO014", "status must be PENDING, ISSUED or OUT_OF_STOCK")
    })?;
    let (current, _) = state.engine.campaign_view(id, None).await?;
    if current.status == status {
        return Err(ApiError::bad_request(
            "CO003",
            "the campaign already has this status",
        ));
    }
    state.engine.set_campaign_status(id, status).await?;
    Ok(Reply::ok("쿠폰 상태가 변경되었습니다.", None))
}

/// `{couponInfoId}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssueBody {
    pub coupon_info_id: Uuid,
}

/// `{couponId}` of the issued coupon.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Issued {
    pub coupon_id: Uuid,
}

/// Map an issue outcome to the API (one place).
pub fn issue_refusal(outcome: CampaignOutcome) -> ApiError {
    match outcome {
        CampaignOutcome::NotOpen => {
            ApiError::conflict("CO004", "the campaign is not open for issuing")
        }
        CampaignOutcome::NotStarted => ApiError::conflict("CO004", "issuing has not started yet"),
        CampaignOutcome::Ended => ApiError::conflict("CO004", "issuing has ended"),
        CampaignOutcome::SoldOut => ApiError::conflict("CO005", "the coupons are sold out"),
        CampaignOutcome::AlreadyIssued => {
            ApiError::conflict("CO006", "a coupon was already issued to this user")
        }
        other => ApiError::internal(anyhow::anyhow!("unexpected issue outcome {other:?}")),
    }
}

/// Claim a coupon of an open campaign, first come first served (one per user).
///
/// Decided in memory by the campaign's actor and journaled before the answer. With an
/// `Idempotency-Key`, a retry gets the first answer. Rate limited per user and per client
/// address when `HOTDEAL_RATE_LIMIT_USER_PER_S` / `HOTDEAL_RATE_LIMIT_IP_PER_S` are set.
#[utoipa::path(post, path = "/api/v1/coupons/issue", tag = "coupons", request_body = IssueBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "retries with the same key get the first answer")),
    security(("bearer" = [])),
    responses((status = 201, description = "issued", body = Envelope<Issued>),
        (status = 400, description = "`INVALID_IDEMPOTENCY_KEY`: not 1 to 255 ASCII characters", body = ErrorBody),
        (status = 404, description = "`CO001`: no such campaign", body = ErrorBody),
        (status = 409, description = "`CO004`: not open (PENDING or closed), not started or ended; `CO005`: sold out; `CO006`: already issued to this user; `REQUEST_IN_PROGRESS`: the first request with this Idempotency-Key is still running", body = ErrorBody),
        (status = 422, description = "`IDEMPOTENCY_KEY_REUSED`: the key was used for another campaign", body = ErrorBody),
        (status = 429, description = "`RATE_LIMITED`: over the per-user or per-address rate (see Retry-After)", body = ErrorBody),
        (status = 503, description = "`ENGINE_BUSY`, `ENGINE_BACKLOGGED`, `JOURNAL_UNAVAILABLE`: the engine cannot take the claim now; retry after Retry-After", body = ErrorBody)))]
pub async fn issue(
    State(state): State<AppState>,
    user: AuthUser,
    ip: super::ops::ClientIp,
    headers: axum::http::HeaderMap,
    ApiJson(body): ApiJson<IssueBody>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if let Err(e) = state.ops.check_rate(user.user_id, ip.0).await {
        return e.into_response();
    }
    let key = match super::commerce::idempotency::key_from(&headers) {
        Ok(k) => k,
        Err(e) => return e.into_response(),
    };
    let campaign = CampaignId(body.coupon_info_id);
    let fingerprint = body.coupon_info_id.to_string();
    let st = state.clone();
    let user_id = user.user_id;
    super::commerce::idempotency::run(
        &state,
        user_id,
        key,
        fingerprint.as_bytes(),
        move || async move {
            match issue_one(&st, campaign, user_id).await {
                Ok(reply) => reply.into_response(),
                Err(e) => e.into_response(),
            }
        },
    )
    .await
}

async fn issue_one(
    state: &AppState,
    campaign: CampaignId,
    user: UserId,
) -> ApiResult<Reply<Issued>> {
    let result = state.engine.issue_coupon(campaign, user).await?;
    metrics::counter!("hotdeal_claims_total", "outcome" => outcome_label(result.outcome))
        .increment(1);
    match (result.outcome, result.coupon_id) {
        (CampaignOutcome::Issued { .. }, Some(coupon)) => Ok(Reply::created(
            "선착순 쿠폰이 발급되었습니다.",
            Issued {
                coupon_id: coupon.0,
            },
        )),
        (outcome, _) => Err(issue_refusal(outcome)),
    }
}

fn outcome_label(o: CampaignOutcome) -> &'static str {
    match o {
        CampaignOutcome::Issued { .. } => "issued",
        CampaignOutcome::SoldOut => "sold_out",
        CampaignOutcome::AlreadyIssued => "already_issued",
        CampaignOutcome::NotOpen | CampaignOutcome::NotStarted | CampaignOutcome::Ended => {
            "not_open"
        }
        _ => "other",
    }
}

/// `?isUsed=&userId=`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    pub is_used: Option<bool>,
    pub user_id: Option<Uuid>,
}

/// A user's coupon.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserCouponView {
    pub coupon_id: Uuid,
    pub coupon_info_id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub discount_amount: i64,
    pub min_order_amount: i64,
    pub expiration_date: String,
    /// Named `used` as in the seed.
    pub used: bool,
    pub used_date: Option<String>,
    pub daily_issued_date: Option<String>,
}

const COUPON_SELECT: &str = "SELECT c.coupon_id, c.coupon_info_id, c.user_id, c.is_used, c.used_date, \
     c.daily_issued_date, i.name, i.discount_amount, i.min_order_amount, i.expiration_date \
     FROM p_coupon c JOIN p_coupon_info i ON i.coupon_info_id = c.coupon_info_id \
     WHERE c.deleted_at IS NULL";

fn coupon_view(row: &sqlx::any::AnyRow) -> anyhow::Result<UserCouponView> {
    Ok(UserCouponView {
        coupon_id: uuid_col(row, "coupon_id")?,
        coupon_info_id: uuid_col(row, "coupon_info_id")?,
        user_id: uuid_col(row, "user_id")?,
        name: row.try_get("name")?,
        discount_amount: row.try_get("discount_amount")?,
        min_order_amount: row.try_get("min_order_amount")?,
        expiration_date: row.try_get("expiration_date")?,
        used: row.try_get::<i64, _>("is_used")? != 0,
        used_date: row.try_get("used_date")?,
        daily_issued_date: row.try_get("daily_issued_date")?,
    })
}

/// One's coupons, newest first (at most 1,000).
///
/// `isUsed` filters; `userId` lists another user's coupons (MASTER, MANAGER).
#[utoipa::path(get, path = "/api/v1/coupons", tag = "coupons",
    params(("isUsed" = Option<bool>, Query, description = "only used (true) or unused (false) coupons"),
        ("userId" = Option<Uuid>, Query, description = "another user's coupons (MASTER, MANAGER)")),
    security(("bearer" = [])),
    responses((status = 200, description = "the coupons", body = Envelope<Vec<UserCouponView>>),
        (status = 403, description = "`FORBIDDEN`: userId of another user without MASTER or MANAGER", body = ErrorBody)))]
pub async fn list_mine(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<ListQuery>,
) -> ApiResult<Reply<Vec<UserCouponView>>> {
    let owner = match q.user_id {
        Some(u) if UserId(u) != user.user_id => {
            user.require(&[Role::Master, Role::Manager])?;
            UserId(u)
        }
        _ => user.user_id,
    };
    wait_for_writebehind(&state).await;
    let mut sql = format!("{COUPON_SELECT} AND c.user_id = ?");
    if let Some(used) = q.is_used {
        sql.push_str(if used {
            " AND c.is_used = 1"
        } else {
            " AND c.is_used = 0"
        });
    }
    sql.push_str(" ORDER BY c.created_at DESC LIMIT 1000");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(owner.to_string())
        .fetch_all(&state.db.pool)
        .await?;
    let list = rows
        .iter()
        .map(coupon_view)
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Reply::ok("쿠폰 목록 조회 성공", list))
}

/// One of one's coupons (staff: anyone's).
#[utoipa::path(get, path = "/api/v1/coupons/{id}", tag = "coupons",
    params(("id" = Uuid, Path, description = "coupon id")), security(("bearer" = [])),
    responses((status = 200, description = "the coupon", body = Envelope<UserCouponView>),
        (status = 400, description = "`CO014`: not a coupon id", body = ErrorBody),
        (status = 404, description = "`CO002`: no such coupon of the caller's", body = ErrorBody)))]
pub async fn get_coupon(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Reply<UserCouponView>> {
    let id: Uuid = id
        .parse()
        .map_err(|_| ApiError::bad_request("CO014", "invalid coupon id"))?;
    wait_for_writebehind(&state).await;
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{COUPON_SELECT} AND c.coupon_id = ?"
    )))
    .bind(id.to_string())
    .fetch_optional(&state.db.pool)
    .await?
    .ok_or_else(|| ApiError::not_found("CO002", "coupon not found"))?;
    let view = coupon_view(&row)?;
    if UserId(view.user_id) != user.user_id && !user.role.is_staff() {
        // Not the owner: answer as if it did not exist.
        return Err(ApiError::not_found("CO002", "coupon not found"));
    }
    Ok(Reply::ok("쿠폰 조회 성공", view))
}

/// Change a PENDING campaign (MASTER, MANAGER); the body is the whole campaign.
#[utoipa::path(put, path = "/api/v1/coupon-infos/{id}", tag = "coupons", request_body = CreateCampaign,
    params(("id" = Uuid, Path, description = "campaign (coupon info) id")), security(("bearer" = [])),
    responses((status = 200, description = "updated", body = NoData),
        (status = 400, description = "`CO014`: not a campaign id, or a field out of range (as on create); `CO015`: the company is not APPROVED", body = ErrorBody),
        (status = 403, description = "`FORBIDDEN`: not MASTER or MANAGER", body = ErrorBody),
        (status = 404, description = "`CO001`: no such campaign; `CO018`: no such company", body = ErrorBody),
        (status = 409, description = "`CO004`: the campaign is not PENDING any more", body = ErrorBody),
        (status = 503, description = "`ENGINE_BUSY`, `ENGINE_BACKLOGGED`, `JOURNAL_UNAVAILABLE`: the engine cannot take the change now", body = ErrorBody)))]
pub async fn update_campaign(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CreateCampaign>,
) -> ApiResult<Reply<Option<()>>> {
    user.require(&[Role::Master, Role::Manager])?;
    let id = parse_campaign_id(&id)?;
    let exists = sqlx::query(
        "SELECT coupon_info_id FROM p_coupon_info WHERE coupon_info_id = ? AND deleted_at IS NULL",
    )
    .bind(id.to_string())
    .fetch_optional(&state.db.pool)
    .await?;
    if exists.is_none() {
        return Err(ApiError::not_found("CO001", "coupon campaign not found"));
    }
    let v = validate_campaign(&state, &body).await?;
    // Engine-owned fields go through the campaign actor (its write-behind persists them); the
    // actor checks PENDING and applies the change in one step, so an opening cannot slip in
    // between.
    let configured = state
        .engine
        .configure_pending_campaign(
            id,
            CampaignConfig {
                quantity: body.quantity,
                discount_amount: body.discount_amount,
                min_order_amount: body.min_order_amount,
                expires_at_ms: v.expires_at_ms,
                company_id: body.company_id.map(CompanyId),
                issue_start_ms: body.issue_start_at,
                issue_end_ms: body.issue_end_at,
            },
        )
        .await?;
    if configured.is_err() {
        return Err(ApiError::conflict(
            "CO004",
            "a campaign can only be changed while PENDING",
        ));
    }
    sqlx::query(
        "UPDATE p_coupon_info SET name = ?, coupon_type = ?, updated_at = ?, updated_by = ? \
         WHERE coupon_info_id = ?",
    )
    .bind(v.name)
    .bind(v.coupon_type)
    .bind(state.now_ms())
    .bind(user.email.clone())
    .bind(id.to_string())
    .execute(&state.db.pool)
    .await?;
    Ok(Reply::ok("쿠폰 정보가 수정되었습니다.", None))
}

/// `?search=&couponStatus=` (with `page`, `size`, `sort`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CampaignFilter {
    pub search: Option<String>,
    pub coupon_status: Option<String>,
}

const CAMPAIGN_SORTS: &[(&str, &str)] = &[
    ("createdAt", "created_at"),
    ("updatedAt", "updated_at"),
    ("discountAmount", "discount_amount"),
];

/// Coupon campaigns, a page at a time.
///
/// Customers and sellers see only open (ISSUED) campaigns; staff see all. `sort` by
/// `createdAt` (default, newest first), `updatedAt` or `discountAmount`.
#[utoipa::path(get, path = "/api/v1/coupon-infos", tag = "coupons",
    params(("page" = Option<i64>, Query, description = "0-based page"), ("size" = Option<i64>, Query, description = "page size (default 10)"),
        ("sort" = Option<String>, Query, description = "createdAt|updatedAt|discountAmount, asc|desc"),
        ("search" = Option<String>, Query, description = "name contains"),
        ("couponStatus" = Option<String>, Query, description = "PENDING, ISSUED or OUT_OF_STOCK")),
    security(("bearer" = [])),
    responses((status = 200, description = "a page of campaigns", body = Envelope<super::page::Page<CampaignView>>),
        (status = 400, description = "`CO014`: page, size, sort or couponStatus out of range", body = ErrorBody),
        (status = 503, description = "`ENGINE_BUSY`: a campaign's actor is at capacity", body = ErrorBody)))]
pub async fn list_campaigns(
    State(state): State<AppState>,
    user: AuthUser,
    Query(page): Query<super::page::PageQuery>,
    Query(filter): Query<CampaignFilter>,
) -> ApiResult<Reply<super::page::Page<CampaignView>>> {
    let req = page.validate(CAMPAIGN_SORTS, 10, state.config.page_limits(), "CO014")?;
    let wanted = match filter
        .coupon_status
        .as_deref()
        .filter(|s| !s.trim().is_empty())
    {
        None => None,
        Some(s) => Some(CampaignStatus::parse(s).ok_or_else(|| {
            ApiError::bad_request(
                "CO014",
                "couponStatus must be PENDING, ISSUED or OUT_OF_STOCK",
            )
        })?),
    };
    let mut conditions = String::from(" WHERE deleted_at IS NULL");
    let mut binds: Vec<String> = Vec::new();
    if let Some(search) = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        conditions.push_str(" AND LOWER(name) LIKE ?");
        let escaped: String = search
            .to_lowercase()
            .chars()
            .filter(|c| *c != '%' && *c != '_')
            .collect();
        binds.push(format!("%{escaped}%"));
    }
    if let Some(status) = wanted {
        conditions.push_str(" AND status = ?");
        binds.push(status.as_str().to_string());
    }
    if matches!(user.role, Role::Customer | Role::Seller) {
        conditions.push_str(" AND status = ?");
        binds.push(CampaignStatus::Issued.as_str().to_string());
    }
    // The status column is kept by the write-behind: let it catch up first.
    wait_for_writebehind(&state).await;
    let count_sql = format!("SELECT COUNT(*) AS n FROM p_coupon_info{conditions}");
    let mut count = sqlx::query(sqlx::AssertSqlSafe(count_sql));
    for b in &binds {
        count = count.bind(b.clone());
    }
    let total: i64 = count.fetch_one(&state.db.pool).await?.try_get("n")?;
    let list_sql = format!(
        "SELECT coupon_info_id, name, coupon_type, expiration_date, company_id \
         FROM p_coupon_info{conditions}{}",
        req.sql_tail("coupon_info_id")
    );
    let mut list = sqlx::query(sqlx::AssertSqlSafe(list_sql));
    for b in &binds {
        list = list.bind(b.clone());
    }
    let rows = list.fetch_all(&state.db.pool).await?;
    let mut content = Vec::with_capacity(rows.len());
    for row in &rows {
        let id = CampaignId(uuid_col(row, "coupon_info_id")?);
        let (live, _) = state.engine.campaign_view(id, None).await?;
        if live.status == CampaignStatus::Pending && !user.role.is_staff() {
            // The status column lagged a change back to PENDING: still not shown to shoppers.
            continue;
        }
        content.push(CampaignView {
            coupon_id: id.0,
            name: row.try_get("name")?,
            quantity: live.config.quantity,
            issued_count: live.issued_count,
            discount_amount: live.config.discount_amount,
            min_order_amount: live.config.min_order_amount,
            expiration_date: crate::persistence::repo::date_of(live.config.expires_at_ms - 1),
            status: live.status.as_str().to_string(),
            coupon_type: row.try_get("coupon_type")?,
            company_id: live.config.company_id.map(|c| c.0),
            issue_start_at: live.config.issue_start_ms,
            issue_end_at: live.config.issue_end_ms,
        });
    }
    Ok(Reply::ok(
        "쿠폰 정보 목록 조회 성공",
        super::page::Page::new(content, total, &req),
    ))
}

/// Delete a user's coupon (MASTER, MANAGER; soft delete, still counted as issued).
#[utoipa::path(delete, path = "/api/v1/coupons/{id}", tag = "coupons",
    params(("id" = Uuid, Path, description = "coupon id")), security(("bearer" = [])),
    responses((status = 200, description = "deleted", body = NoData),
        (status = 400, description = "`CO014`: not a coupon id", body = ErrorBody),
        (status = 403, description = "`FORBIDDEN`: not MASTER or MANAGER", body = ErrorBody),
        (status = 404, description = "`CO002`: no such coupon", body = ErrorBody)))]
pub async fn delete_coupon(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Reply<Option<()>>> {
    user.require(&[Role::Master, Role::Manager])?;
    let id: Uuid = id
        .parse()
        .map_err(|_| ApiError::bad_request("CO014", "invalid coupon id"))?;
    // The coupon row is written behind: make sure it is there.
    wait_for_writebehind(&state).await;
    let now = state.now_ms();
    let done = sqlx::query(
        "UPDATE p_coupon SET deleted_at = ?, deleted_by = ?, updated_at = ?, updated_by = ? \
         WHERE coupon_id = ? AND deleted_at IS NULL",
    )
    .bind(now)
    .bind(user.email.clone())
    .bind(now)
    .bind(user.email.clone())
    .bind(id.to_string())
    .execute(&state.db.pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::not_found("CO002", "coupon not found"));
    }
    Ok(Reply::ok("쿠폰이 삭제되었습니다.", None))
}
