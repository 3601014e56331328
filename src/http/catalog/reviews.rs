//! Reviews (`/api/v1/reviews`): only a buyer whose order with the product is COMPLETE (paid)
//! may review it, once per order line. Ratings are 1 to 5 in steps of 0.5. The product's
//! `rating_sum` and `review_cnt` change in the same transaction as the review. Deleted reviews
//! are not shown (the seed showed them).

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::products::find_product;
use super::{ListQuery, check_text, check_urls, parse_id, rfc3339};
use crate::http::AppState;
use crate::http::auth::AuthUser;
use crate::http::envelope::{ApiJson, Envelope, Reply};
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::Path;
use crate::http::page::Page;
use crate::persistence::catalog::{self as repo, Purchase, Review, ReviewPatch};

/// The review routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/reviews", get(list_reviews).post(create_review))
        .route(
            "/api/v1/reviews/{id}",
            get(get_review).put(update_review).delete(delete_review),
        )
}

const MAX_REVIEW_CHARS: usize = 2_000;
const MAX_REVIEW_IMGS: usize = 10;

/// A review to write.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateReview {
    /// A COMPLETE order of the caller that contains the product.
    pub order_id: Uuid,
    pub product_id: Uuid,
    /// 1 to 5 in steps of 0.5.
    pub rating: f64,
    /// 1 to 2,000 characters.
    pub review: String,
    /// http(s) URLs, at most 10.
    #[serde(default)]
    pub review_imgs: Vec<String>,
    /// Ignored: the author is the caller.
    pub user_id: Option<Uuid>,
}

/// `{reviewId}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReviewCreated {
    pub review_id: Uuid,
}

/// A review as shown.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReviewView {
    pub review_id: Uuid,
    pub product_id: Uuid,
    pub user_id: Uuid,
    pub nickname: String,
    pub rating: f64,
    pub review: String,
    pub review_imgs: Vec<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub updated_at: String,
}

impl From<Review> for ReviewView {
    fn from(r: Review) -> Self {
        Self {
            review_id: r.id,
            product_id: r.product_id,
            user_id: r.user_id,
            nickname: r.nickname,
            rating: r.rating,
            review: r.review,
            review_imgs: r.review_imgs,
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

fn check_rating(r: f64) -> ApiResult<f64> {
    if !(1.0..=5.0).contains(&r) || (r * 2.0).fract() != 0.0 {
        return Err(ApiError::bad_request(
            "P003",
            "rating must be 1 to 5 in steps of 0.5",
        ));
    }
    Ok(r)
}

fn check_imgs(imgs: &[String]) -> ApiResult<Vec<String>> {
    check_urls(imgs, MAX_REVIEW_IMGS, "reviewImgs", "P003")?;
    Ok(imgs.iter().map(|u| u.trim().to_string()).collect())
}

async fn find_review(state: &AppState, id: Uuid) -> ApiResult<Review> {
    repo::review(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("P015", "review not found"))
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
    let rating = check_rating(body.rating)?;
    let text = check_text(&body.review, MAX_REVIEW_CHARS, "review", "P003")?;
    let imgs = check_imgs(&body.review_imgs)?;
    find_product(&state, body.product_id).await?;
    // Read-your-writes: the order just paid reaches the database through the write-behind.
    crate::http::commerce::wait_for_writebehind(&state).await;
    let line =
        match repo::purchase(&state.db, body.order_id, user.user_id.0, body.product_id).await? {
            Purchase::NoOrder => return Err(ApiError::not_found("O019", "order not found")),
            Purchase::NotComplete => {
                return Err(ApiError::bad_request(
                    "ORDER_NOT_COMPLETE",
                    "only a COMPLETE order can be reviewed",
                ));
            }
            Purchase::NotInOrder => {
                return Err(ApiError::bad_request(
                    "PRODUCT_NOT_IN_ORDER",
                    "the order does not contain this product",
                ));
            }
            Purchase::Line(line) => line,
        };
    let nickname = match repo::nickname(&state.db, user.user_id.0).await? {
        Some(n) => n,
        None => format!("user-{}", &user.user_id.0.simple().to_string()[..8]),
    };
    let now = state.now_ms();
    let review = Review {
        id: Uuid::now_v7(),
        order_id: body.order_id,
        order_product_id: Some(line),
        product_id: body.product_id,
        user_id: user.user_id.0,
        nickname,
        rating,
        review: text,
        review_imgs: imgs,
        created_at: now,
        updated_at: now,
    };
    if !repo::insert_review(&state.db, &review, &user.email).await? {
        return Err(ApiError::conflict(
            "P007",
            "this order line already has a review",
        ));
    }
    Ok(Reply::created(
        "리뷰가 등록되었습니다.",
        ReviewCreated {
            review_id: review.id,
        },
    ))
}

/// New content; absent fields are kept.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateReview {
    pub rating: Option<f64>,
    pub review: Option<String>,
    /// Replaces the images when given.
    pub review_imgs: Option<Vec<String>>,
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
    let id = parse_id(&id, "P003", "review id")?;
    let patch = ReviewPatch {
        rating: body.rating.map(check_rating).transpose()?,
        review: body
            .review
            .as_deref()
            .map(|t| check_text(t, MAX_REVIEW_CHARS, "review", "P003"))
            .transpose()?,
        review_imgs: body.review_imgs.as_deref().map(check_imgs).transpose()?,
    };
    let current = find_review(&state, id).await?;
    if current.user_id != user.user_id.0 {
        return Err(ApiError::forbidden(
            "P006",
            "only the author may edit a review",
        ));
    }
    if !repo::update_review(&state.db, &current, &patch, &user.email, state.now_ms()).await? {
        find_review(&state, id).await?;
        return Err(ApiError::conflict(
            "CONCURRENT_UPDATE",
            "the review changed meanwhile; retry",
        ));
    }
    let fresh = find_review(&state, id).await?;
    Ok(Reply::ok("리뷰가 수정되었습니다.", fresh.into()))
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
    let id = parse_id(&id, "P003", "review id")?;
    let current = find_review(&state, id).await?;
    if current.user_id != user.user_id.0 && !user.role.is_staff() {
        return Err(ApiError::forbidden(
            "P006",
            "only the author or staff may delete a review",
        ));
    }
    if !repo::delete_review(&state.db, &current, &user.email, state.now_ms()).await? {
        find_review(&state, id).await?;
        return Err(ApiError::conflict(
            "CONCURRENT_UPDATE",
            "the review changed meanwhile; retry",
        ));
    }
    Ok(Reply::ok(
        "리뷰가 삭제되었습니다.",
        ReviewCreated { review_id: id },
    ))
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
    let id = parse_id(&id, "P003", "review id")?;
    Ok(Reply::ok(
        "리뷰 조회 성공",
        find_review(&state, id).await?.into(),
    ))
}

/// Sortable properties of the review list.
const REVIEW_SORTS: &[(&str, &str)] = &[
    ("createdAt", "created_at"),
    ("updatedAt", "updated_at"),
    ("rating", "rating"),
];

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
    let req = q
        .page("P008")?
        .validate(REVIEW_SORTS, 10, state.config.page_limits(), "P008")?;
    let product = q
        .get("productId")
        .map(|p| parse_id(p, "P003", "productId"))
        .transpose()?;
    let (list, total) = repo::list_reviews(&state.db, product, &req.sql_tail("id")).await?;
    let content = list.into_iter().map(ReviewView::from).collect();
    Ok(Reply::ok(
        "리뷰 목록 조회 성공",
        Page::new(content, total, &req),
    ))
}
