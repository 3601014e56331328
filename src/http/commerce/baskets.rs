//! Baskets (`/api/v1/baskets`): the seed's endpoints over [`crate::commerce::baskets`]; adding a
//! product already in the basket merges the lines.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::caller;
use crate::commerce::baskets::{self as service, BasketLine};
use crate::error_code::ErrorCode;
use crate::http::AppState;
use crate::http::auth::AuthUser;
use crate::http::envelope::{ApiJson, Envelope, Reply};
use crate::http::error::ApiResult;
use crate::http::error::ErrorBody;
use crate::http::extract::{Path, Query};
use crate::http::page::{Page, PageQuery};

/// `{productId, quantity}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AddBody {
    pub product_id: Uuid,
    pub quantity: i64,
}

/// `{quantity}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct QuantityBody {
    pub quantity: i64,
}

/// `{basketId}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BasketId {
    pub basket_id: Uuid,
}

/// A basket line with its product.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BasketView {
    pub basket_id: Uuid,
    pub quantity: i64,
    pub product: BasketProduct,
}

/// The product of a basket line, with live stock and price.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BasketProduct {
    pub product_id: Uuid,
    pub product_name: String,
    pub product_quantity: i64,
    pub product_price: i64,
    pub product_status: String,
    pub product_discount_price: Option<i64>,
    pub product_thumb_img: Option<String>,
}

impl From<BasketLine> for BasketView {
    fn from(l: BasketLine) -> Self {
        BasketView {
            basket_id: l.row.id,
            quantity: l.row.quantity,
            product: BasketProduct {
                product_id: l.row.product_id,
                product_name: l.row.product_name,
                product_quantity: l.available,
                product_price: l.price,
                product_status: l.row.product_status,
                product_discount_price: l.discount_price,
                product_thumb_img: l.row.product_thumb_img,
            },
        }
    }
}

/// Put a product in one's basket.
///
/// Adding a product already in the basket merges the lines (the quantity is capped at 10,000).
/// Any signed-in user; the basket is the caller's own.
#[utoipa::path(post, path = "/api/v1/baskets", tag = "baskets", request_body = AddBody,
    security(("bearer" = [])),
    responses((status = 201, description = "added (merged with an existing line)", body = Envelope<BasketId>),
        (status = 400, description = "`OB002`: quantity not 1 to 10,000", body = ErrorBody),
        (status = 404, description = "`OP001`: no such product", body = ErrorBody),
        (status = 503, description = "`ENGINE_BUSY`: the product's actor is at capacity", body = ErrorBody)))]
pub async fn add(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<AddBody>,
) -> ApiResult<Reply<BasketId>> {
    let id = service::add(
        &state.commerce,
        &caller(&user),
        body.product_id,
        body.quantity,
    )
    .await?;
    Ok(Reply::created(
        "장바구니에 담았습니다.",
        BasketId { basket_id: id },
    ))
}

/// One line of one's basket, with the product's live stock and price.
#[utoipa::path(get, path = "/api/v1/baskets/{id}", tag = "baskets",
    params(("id" = Uuid, Path, description = "basket id")), security(("bearer" = [])),
    responses((status = 200, description = "the basket line", body = Envelope<BasketView>),
        (status = 400, description = "`OB002`: not a basket id", body = ErrorBody),
        (status = 404, description = "`OB001`: no such basket line of the caller's", body = ErrorBody),
        (status = 503, description = "`ENGINE_BUSY`: the product's actor is at capacity", body = ErrorBody)))]
pub async fn detail(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Reply<BasketView>> {
    let line = service::detail(&state.commerce, &caller(&user), &id).await?;
    Ok(Reply::ok("장바구니 조회 성공", line.into()))
}

/// One's basket, a page at a time.
///
/// `sort` by `createdAt` (default, newest first) or `quantity`.
#[utoipa::path(get, path = "/api/v1/baskets", tag = "baskets",
    params(("page" = Option<i64>, Query, description = "0-based page"), ("size" = Option<i64>, Query, description = "page size (default 10)"),
        ("sort" = Option<String>, Query, description = "createdAt|quantity, asc|desc")),
    security(("bearer" = [])),
    responses((status = 200, description = "a page of the caller's basket lines", body = Envelope<Page<BasketView>>),
        (status = 400, description = "`008`: page, size or sort out of range", body = ErrorBody),
        (status = 503, description = "`ENGINE_BUSY`: a product's actor is at capacity", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<PageQuery>,
) -> ApiResult<Reply<Page<BasketView>>> {
    let req = q.validate(
        &[("createdAt", "b.created_at"), ("quantity", "b.quantity")],
        10,
        state.config.page_limits(),
        ErrorCode::InvalidCommercePaging,
    )?;
    let (lines, total) =
        service::list(&state.commerce, &caller(&user), &req.sql_tail("b.id")).await?;
    let content = lines.into_iter().map(BasketView::from).collect();
    Ok(Reply::ok(
        "장바구니 목록 조회 성공",
        Page::new(content, total, &req),
    ))
}

/// Change the quantity of a line of one's basket.
#[utoipa::path(patch, path = "/api/v1/baskets/{id}", tag = "baskets", request_body = QuantityBody,
    params(("id" = Uuid, Path, description = "basket id")), security(("bearer" = [])),
    responses((status = 200, description = "quantity changed", body = Envelope<BasketId>),
        (status = 400, description = "`OB002`: not a basket id, or quantity not 1 to 10,000", body = ErrorBody),
        (status = 404, description = "`OB001`: no such basket line of the caller's", body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<QuantityBody>,
) -> ApiResult<Reply<BasketId>> {
    let basket = service::update(&state.commerce, &caller(&user), &id, body.quantity).await?;
    Ok(Reply::ok(
        "장바구니가 수정되었습니다.",
        BasketId { basket_id: basket },
    ))
}

/// Remove a line from one's basket.
#[utoipa::path(delete, path = "/api/v1/baskets/{id}", tag = "baskets",
    params(("id" = Uuid, Path, description = "basket id")), security(("bearer" = [])),
    responses((status = 200, description = "removed", body = Envelope<BasketId>),
        (status = 400, description = "`OB002`: not a basket id", body = ErrorBody),
        (status = 404, description = "`OB001`: no such basket line of the caller's", body = ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Reply<BasketId>> {
    let basket = service::remove(&state.commerce, &caller(&user), &id).await?;
    Ok(Reply::ok(
        "장바구니에서 삭제되었습니다.",
        BasketId { basket_id: basket },
    ))
}
