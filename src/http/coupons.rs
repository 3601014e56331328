//! Coupon campaigns (`/api/v1/coupon-infos`) and first-come-first-served coupons
//! (`/api/v1/coupons`): the HTTP side of [`crate::commerce::coupons`]. Issuing is decided by the
//! campaign actor: no lock and no database read on the path.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, patch, post};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::auth::{AuthUser, Role};
use super::commerce::caller;
use super::commerce::idempotency::IdempotencyKey;
use super::envelope::{ApiJson, Envelope, NoData, Reply};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Path, Query};
use crate::commerce::coupons::{self as service, Campaign, CampaignInput};
use crate::domain::ids::{CampaignId, UserId};
use crate::error_code::ErrorCode;
use crate::persistence::coupons::UserCoupon;

pub use crate::commerce::coupons::MAX_CAMPAIGN_QUANTITY;

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

impl From<&CreateCampaign> for CampaignInput {
    fn from(b: &CreateCampaign) -> Self {
        CampaignInput {
            name: b.name.clone(),
            quantity: b.quantity,
            coupon_type: b.coupon_type.clone(),
            discount_amount: b.discount_amount,
            min_order_amount: b.min_order_amount,
            expiration_date: b.expiration_date.clone(),
            company_id: b.company_id,
            issue_start_at: b.issue_start_at,
            issue_end_at: b.issue_end_at,
        }
    }
}

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
    let id = service::create_campaign(&state.commerce, &caller(&user), &(&body).into()).await?;
    Ok(Reply::created(
        "쿠폰 정보가 생성되었습니다.",
        CampaignCreated { coupon_id: id.0 },
    ))
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

impl From<Campaign> for CampaignView {
    fn from(Campaign { row, live }: Campaign) -> Self {
        CampaignView {
            coupon_id: row.id.0,
            name: row.name,
            quantity: live.config.quantity,
            issued_count: live.issued_count,
            discount_amount: live.config.discount_amount,
            min_order_amount: live.config.min_order_amount,
            // Engine-owned fields come from the actor: the database may not have caught up.
            expiration_date: crate::persistence::repo::date_of(live.config.expires_at_ms - 1),
            status: live.status.as_str().to_string(),
            coupon_type: row.coupon_type,
            company_id: live.config.company_id.map(|c| c.0),
            issue_start_at: live.config.issue_start_ms,
            issue_end_at: live.config.issue_end_ms,
        }
    }
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
    let campaign = service::campaign(&state.commerce, &caller(&user), &id).await?;
    Ok(Reply::ok("쿠폰 정보 조회 성공", campaign.into()))
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
    service::set_status(&state.commerce, &id, &body.status).await?;
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
    key: IdempotencyKey,
    ApiJson(body): ApiJson<IssueBody>,
) -> ApiResult<Response> {
    state.ops.check_rate(user.user_id, ip.0).await?;
    let campaign = CampaignId(body.coupon_info_id);
    // A retry is the same request when it names the same campaign.
    let fingerprint = body.coupon_info_id.to_string();
    key.run(&state, user.user_id, fingerprint.as_bytes(), async {
        let coupon = service::issue(&state.commerce, campaign, user.user_id).await?;
        Ok::<_, ApiError>(Reply::created(
            "선착순 쿠폰이 발급되었습니다.",
            Issued {
                coupon_id: coupon.0,
            },
        ))
    })
    .await
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

impl From<UserCoupon> for UserCouponView {
    fn from(c: UserCoupon) -> Self {
        UserCouponView {
            coupon_id: c.coupon_id,
            coupon_info_id: c.coupon_info_id,
            user_id: c.user_id,
            name: c.name,
            discount_amount: c.discount_amount,
            min_order_amount: c.min_order_amount,
            expiration_date: c.expiration_date,
            used: c.used,
            used_date: c.used_date,
            daily_issued_date: c.daily_issued_date,
        }
    }
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
    let coupons = service::coupons_of(&state.commerce, owner, q.is_used).await?;
    let list = coupons.into_iter().map(UserCouponView::from).collect();
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
    let coupon = service::coupon(&state.commerce, &caller(&user), &id).await?;
    Ok(Reply::ok("쿠폰 조회 성공", coupon.into()))
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
    service::update_campaign(&state.commerce, &caller(&user), &id, &(&body).into()).await?;
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
    let req = page.validate(
        CAMPAIGN_SORTS,
        10,
        state.config.page_limits(),
        ErrorCode::InvalidCampaign,
    )?;
    let (campaigns, total) = service::campaigns(
        &state.commerce,
        &caller(&user),
        filter.search,
        filter.coupon_status.as_deref(),
        &req.sql_tail("coupon_info_id"),
    )
    .await?;
    let content = campaigns.into_iter().map(CampaignView::from).collect();
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
    service::delete_coupon(&state.commerce, &caller(&user), &id).await?;
    Ok(Reply::ok("쿠폰이 삭제되었습니다.", None))
}
