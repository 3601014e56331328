//! Time sales (`/api/v1/promotions`); the rules are in [`crate::catalog::sales`].

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use uuid::Uuid;

use super::{ListQuery, caller, parse_id};
use crate::catalog::products::MAX_FILTER_IDS;
use crate::catalog::sales::{self as service, PROMOTION_SORTS};
pub use crate::catalog::sales::{
    CreatePromotion, PromotionCreated, PromotionView, UpdatePromotion,
};
use crate::error_code::ErrorCode;
use crate::http::AppState;
use crate::http::auth::{AuthUser, Role};
use crate::http::envelope::{ApiJson, Envelope, Reply};
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::Path;
use crate::http::page::Page;

/// The promotion routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/promotions",
            get(list_promotions).post(create_promotion),
        )
        .route(
            "/api/v1/promotions/{id}",
            get(get_promotion)
                .put(update_promotion)
                .delete(delete_promotion),
        )
}

/// Create a time sale (the seller of the product's company, or staff).
///
/// It starts PENDING and is installed in the product's item actor when it is the product's next sale.
#[utoipa::path(post, path = "/api/v1/promotions", tag = "promotions", request_body = CreatePromotion,
    security(("bearer" = [])),
    responses((status = 201, description = "created", body = Envelope<PromotionCreated>),
        (status = 400, description = "P003 invalid value, P010 quantity over stock, P011 price not below the product's, P013 overlap, P023 bad window", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, description = "`FORBIDDEN`: a CUSTOMER; `P006`: not the product's seller", body = ErrorBody),
        (status = 404, description = "P002 product not found", body = ErrorBody)))]
pub async fn create_promotion(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<CreatePromotion>,
) -> ApiResult<Reply<PromotionCreated>> {
    user.require(&[Role::Seller, Role::Manager, Role::Master])?;
    let created = service::create_promotion(&state.catalog, caller(&user), &body).await?;
    Ok(Reply::created("타임세일이 등록되었습니다.", created))
}

/// Update a PENDING promotion (the seller of the product's company, or staff).
#[utoipa::path(put, path = "/api/v1/promotions/{id}", tag = "promotions", request_body = UpdatePromotion,
    params(("id" = Uuid, Path, description = "promotion id")), security(("bearer" = [])),
    responses((status = 200, description = "updated", body = Envelope<PromotionView>),
        (status = 400, description = "P014 in progress, PROMOTION_COMPLETED, and the create checks", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, description = "`FORBIDDEN`: a CUSTOMER; `P006`: not the product's seller", body = ErrorBody),
        (status = 404, description = "P012 promotion not found", body = ErrorBody)))]
pub async fn update_promotion(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdatePromotion>,
) -> ApiResult<Reply<PromotionView>> {
    user.require(&[Role::Seller, Role::Manager, Role::Master])?;
    let id = parse_id(&id, ErrorCode::InvalidCatalogValue, "promotion id")?;
    let view = service::update_promotion(&state.catalog, caller(&user), id, &body).await?;
    Ok(Reply::ok("타임세일이 수정되었습니다.", view))
}

/// Delete a promotion that is not in progress (the seller of the product's company, or staff).
#[utoipa::path(delete, path = "/api/v1/promotions/{id}", tag = "promotions",
    params(("id" = Uuid, Path, description = "promotion id")), security(("bearer" = [])),
    responses((status = 200, description = "deleted", body = Envelope<PromotionCreated>),
        (status = 400, description = "P014 in progress", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, description = "`FORBIDDEN`: a CUSTOMER; `P006`: not the product's seller", body = ErrorBody),
        (status = 404, description = "P012 promotion not found", body = ErrorBody)))]
pub async fn delete_promotion(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Reply<PromotionCreated>> {
    user.require(&[Role::Seller, Role::Manager, Role::Master])?;
    let id = parse_id(&id, ErrorCode::InvalidCatalogValue, "promotion id")?;
    let deleted = service::delete_promotion(&state.catalog, caller(&user), id).await?;
    Ok(Reply::ok("타임세일이 삭제되었습니다.", deleted))
}

/// One promotion with its live status and remaining units (public).
#[utoipa::path(get, path = "/api/v1/promotions/{id}", tag = "promotions",
    params(("id" = Uuid, Path, description = "promotion id")),
    responses((status = 200, description = "the promotion", body = Envelope<PromotionView>),
        (status = 400, description = "`P003`: not a promotion id", body = ErrorBody), (status = 404, description = "`P012`: no such promotion", body = ErrorBody)))]
pub async fn get_promotion(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Reply<PromotionView>> {
    let id = parse_id(&id, ErrorCode::InvalidCatalogValue, "promotion id")?;
    let view = service::get_promotion(&state.catalog, id).await?;
    Ok(Reply::ok("타임세일 조회 성공", view))
}

/// Time sales, a page at a time (public).
///
/// `page`, `size`, `sort` (createdAt, updatedAt, start, end; newest first
/// by default), `productIds` (comma-separated or repeated), `status` (PENDING, IN_PROGRESS,
/// COMPLETED at this instant).
#[utoipa::path(get, path = "/api/v1/promotions", tag = "promotions",
    params(("page" = Option<i64>, Query, description = "0-based page"),
        ("size" = Option<i64>, Query, description = "page size"),
        ("sort" = Option<String>, Query, description = "createdAt|updatedAt|start|end,asc|desc"),
        ("productIds" = Option<String>, Query, description = "product ids, comma-separated or repeated"),
        ("status" = Option<String>, Query, description = "PENDING|IN_PROGRESS|COMPLETED")),
    responses((status = 200, description = "a page of promotions", body = Envelope<Page<PromotionView>>),
        (status = 400, description = "`P003`: a query parameter of the wrong type; `P008`: page, size or sort out of range", body = ErrorBody)))]
pub async fn list_promotions(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Reply<Page<PromotionView>>> {
    let q = ListQuery::parse(raw.as_deref());
    let req = q.page(ErrorCode::InvalidCatalogPaging)?.validate(
        PROMOTION_SORTS,
        10,
        state.config.page_limits(),
        ErrorCode::InvalidCatalogPaging,
    )?;
    let phase = service::check_phase(q.get("status"))?;
    let product_ids: Option<Vec<Uuid>> = q
        .has("productIds")
        .then(|| q.uuids("productIds", MAX_FILTER_IDS, ErrorCode::InvalidCatalogValue))
        .transpose()?;
    let (content, total) =
        service::list_promotions(&state.catalog, product_ids, phase, &req).await?;
    Ok(Reply::ok(
        "타임세일 목록 조회 성공",
        Page::new(content, total, &req),
    ))
}
