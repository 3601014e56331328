//! Reviews (`/api/v1/reviews`); the rules are in [`crate::catalog::reviews`].

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::routing::get;

use super::{ListQuery, caller, parse_id};
use crate::catalog::reviews::{self as service, REVIEW_SORTS};
pub use crate::catalog::reviews::{CreateReview, ReviewCreated, ReviewView, UpdateReview};
use crate::error_code::ErrorCode;
use crate::http::AppState;
use crate::http::auth::AuthUser;
use crate::http::envelope::{ApiJson, Envelope, Reply};
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::Path;
use crate::http::page::Page;

/// The review routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/reviews", get(list_reviews).post(create_review))
        .route(
            "/api/v1/reviews/{id}",
            get(get_review).put(update_review).delete(delete_review),
        )
}

/// Review a product bought in a COMPLETE order (any signed-in buyer; once per order line).
#[utoipa::path(post, path = "/api/v1/reviews", tag = "reviews", request_body = CreateReview,
    security(("bearer" = [])),
    responses((status = 201, description = "created", body = Envelope<ReviewCreated>),
        (status = 400, description = "P003 invalid value, ORDER_NOT_COMPLETE, PRODUCT_NOT_IN_ORDER", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "P002 product, O019 order not found", body = ErrorBody),
        (status = 409, description = "P007 this order line already has a review", body = ErrorBody)))]
pub async fn create_review(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<CreateReview>,
) -> ApiResult<Reply<ReviewCreated>> {
    let created = service::create_review(&state.catalog, caller(&user), &body).await?;
    Ok(Reply::created("리뷰가 등록되었습니다.", created))
}

/// Edit a review (its author only).
#[utoipa::path(put, path = "/api/v1/reviews/{id}", tag = "reviews", request_body = UpdateReview,
    params(("id" = Uuid, Path, description = "review id")), security(("bearer" = [])),
    responses((status = 200, description = "updated", body = Envelope<ReviewView>),
        (status = 400, description = "`P003`: not a review id, or a field out of range", body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "P006 not the author", body = ErrorBody),
        (status = 404, description = "`P015`: no such review", body = ErrorBody), (status = 409, description = "`CONCURRENT_UPDATE`: changed meanwhile; retry", body = ErrorBody)))]
pub async fn update_review(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateReview>,
) -> ApiResult<Reply<ReviewView>> {
    let id = parse_id(&id, ErrorCode::InvalidCatalogValue, "review id")?;
    let view = service::update_review(&state.catalog, caller(&user), id, &body).await?;
    Ok(Reply::ok("리뷰가 수정되었습니다.", view))
}

/// Delete a review (its author, or staff).
#[utoipa::path(delete, path = "/api/v1/reviews/{id}", tag = "reviews",
    params(("id" = Uuid, Path, description = "review id")), security(("bearer" = [])),
    responses((status = 200, description = "deleted", body = Envelope<ReviewCreated>),
        (status = 400, description = "`P003`: not a review id", body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "P006 not the author", body = ErrorBody),
        (status = 404, description = "`P015`: no such review", body = ErrorBody), (status = 409, description = "`CONCURRENT_UPDATE`: changed meanwhile; retry", body = ErrorBody)))]
pub async fn delete_review(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Reply<ReviewCreated>> {
    let id = parse_id(&id, ErrorCode::InvalidCatalogValue, "review id")?;
    let deleted = service::delete_review(&state.catalog, caller(&user), id).await?;
    Ok(Reply::ok("리뷰가 삭제되었습니다.", deleted))
}

/// One review (public).
#[utoipa::path(get, path = "/api/v1/reviews/{id}", tag = "reviews",
    params(("id" = Uuid, Path, description = "review id")),
    responses((status = 200, description = "the review", body = Envelope<ReviewView>),
        (status = 400, description = "`P003`: not a review id", body = ErrorBody), (status = 404, description = "`P015`: no such review", body = ErrorBody)))]
pub async fn get_review(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Reply<ReviewView>> {
    let id = parse_id(&id, ErrorCode::InvalidCatalogValue, "review id")?;
    let view = service::get_review(&state.catalog, id).await?;
    Ok(Reply::ok("리뷰 조회 성공", view))
}

/// Reviews, a page at a time (public; deleted ones left out).
///
/// `page`, `size`, `sort` (createdAt, updatedAt,
/// rating; newest first by default), `productId`.
#[utoipa::path(get, path = "/api/v1/reviews", tag = "reviews",
    params(("page" = Option<i64>, Query, description = "0-based page"),
        ("size" = Option<i64>, Query, description = "page size"),
        ("sort" = Option<String>, Query, description = "createdAt|updatedAt|rating,asc|desc"),
        ("productId" = Option<Uuid>, Query, description = "one product's reviews")),
    responses((status = 200, description = "a page of reviews", body = Envelope<Page<ReviewView>>),
        (status = 400, description = "`P003`: a query parameter of the wrong type; `P008`: page, size or sort out of range", body = ErrorBody)))]
pub async fn list_reviews(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Reply<Page<ReviewView>>> {
    let q = ListQuery::parse(raw.as_deref());
    let req = q.page(ErrorCode::InvalidCatalogPaging)?.validate(
        REVIEW_SORTS,
        10,
        state.config.page_limits(),
        ErrorCode::InvalidCatalogPaging,
    )?;
    let product = q
        .get("productId")
        .map(|p| parse_id(p, ErrorCode::InvalidCatalogValue, "productId"))
        .transpose()?;
    let (content, total) = service::list_reviews(&state.catalog, product, &req).await?;
    Ok(Reply::ok(
        "리뷰 목록 조회 성공",
        Page::new(content, total, &req),
    ))
}
