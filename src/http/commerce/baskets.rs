//! Baskets (`/api/v1/baskets`): the seed's endpoints; adding a product already in the basket
//! merges the lines.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::ids::ItemId;
use crate::engine::EngineError;
use crate::http::AppState;
use crate::http::auth::AuthUser;
use crate::http::envelope::{ApiJson, Envelope, Reply};
use crate::http::error::ErrorBody;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{Path, Query};
use crate::http::page::{Page, PageQuery};
use crate::persistence::repo::uuid_col;

const MAX_BASKET_QUANTITY: i64 = 10_000;

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

fn check_quantity(q: i64) -> ApiResult<()> {
    if (1..=MAX_BASKET_QUANTITY).contains(&q) {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "OB002",
            format!("quantity must be 1 to {MAX_BASKET_QUANTITY}"),
        ))
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
    check_quantity(body.quantity)?;
    match state.engine.item_view(ItemId(body.product_id)).await {
        Ok(_) => {}
        Err(EngineError::UnknownItem) => {
            return Err(ApiError::not_found("OP001", "product not found"));
        }
        Err(e) => return Err(e.into()),
    }
    let now = state.now_ms();
    let existing = sqlx::query("SELECT id, quantity FROM p_basket WHERE user_id = ? AND product_id = ? AND deleted_at IS NULL")
        .bind(user.user_id.to_string())
        .bind(body.product_id.to_string())
        .fetch_optional(&state.db.pool)
        .await?;
    if let Some(r) = existing {
        let id = uuid_col(&r, "id")?;
        let q: i64 = r.try_get("quantity")?;
        let merged = q.saturating_add(body.quantity).min(MAX_BASKET_QUANTITY);
        sqlx::query(
            "UPDATE p_basket SET quantity = ?, updated_at = ?, updated_by = ? WHERE id = ?",
        )
        .bind(merged)
        .bind(now)
        .bind(&user.email)
        .bind(id.to_string())
        .execute(&state.db.pool)
        .await?;
        return Ok(Reply::created(
            "장바구니에 담았습니다.",
            BasketId { basket_id: id },
        ));
    }
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO p_basket (id, product_id, user_id, quantity, created_at, created_by, updated_at, updated_by) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(id.to_string())
    .bind(body.product_id.to_string())
    .bind(user.user_id.to_string())
    .bind(body.quantity)
    .bind(now)
    .bind(&user.email)
    .bind(now)
    .bind(&user.email)
    .execute(&state.db.pool)
    .await?;
    Ok(Reply::created(
        "장바구니에 담았습니다.",
        BasketId { basket_id: id },
    ))
}

const BASKET_SELECT: &str = "SELECT b.id, b.quantity, b.product_id, p.name, p.status, p.thumb_img \
     FROM p_basket b JOIN p_product p ON p.id = b.product_id";

async fn basket_view(state: &AppState, r: &sqlx::any::AnyRow) -> ApiResult<BasketView> {
    let product_id = uuid_col(r, "product_id")?;
    let live = state.engine.item_view(ItemId(product_id)).await;
    let (available, price, discount) = match live {
        Ok(v) => {
            let discount = v
                .sale
                .as_ref()
                .filter(|s| s.phase == crate::domain::item::SalePhase::InProgress)
                .map(|s| s.config.sale_price);
            (v.levels.available, v.config.price, discount)
        }
        Err(EngineError::UnknownItem) => (0, 0, None),
        Err(e) => return Err(e.into()),
    };
    Ok(BasketView {
        basket_id: uuid_col(r, "id")?,
        quantity: r.try_get("quantity")?,
        product: BasketProduct {
            product_id,
            product_name: r.try_get("name")?,
            product_quantity: available,
            product_price: price,
            product_status: r.try_get("status")?,
            product_discount_price: discount,
            product_thumb_img: r.try_get("thumb_img")?,
        },
    })
}

async fn own_basket(state: &AppState, user: &AuthUser, id: &str) -> ApiResult<sqlx::any::AnyRow> {
    let id: Uuid = id
        .parse()
        .map_err(|_| ApiError::bad_request("OB002", "invalid basket id"))?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "{BASKET_SELECT} WHERE b.id = ? AND b.user_id = ? AND b.deleted_at IS NULL"
    )))
    .bind(id.to_string())
    .bind(user.user_id.to_string())
    .fetch_optional(&state.db.pool)
    .await?
    .ok_or_else(|| ApiError::not_found("OB001", "basket not found"))
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
    let row = own_basket(&state, &user, &id).await?;
    Ok(Reply::ok(
        "장바구니 조회 성공",
        basket_view(&state, &row).await?,
    ))
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
        "008",
    )?;
    let total: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM p_basket WHERE user_id = ? AND deleted_at IS NULL",
    )
    .bind(user.user_id.to_string())
    .fetch_one(&state.db.pool)
    .await?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{BASKET_SELECT} WHERE b.user_id = ? AND b.deleted_at IS NULL{}",
        req.sql_tail("b.id")
    )))
    .bind(user.user_id.to_string())
    .fetch_all(&state.db.pool)
    .await?;
    let mut content = Vec::with_capacity(rows.len());
    for r in &rows {
        content.push(basket_view(&state, r).await?);
    }
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
    check_quantity(body.quantity)?;
    let row = own_basket(&state, &user, &id).await?;
    let basket = uuid_col(&row, "id")?;
    sqlx::query("UPDATE p_basket SET quantity = ?, updated_at = ?, updated_by = ? WHERE id = ?")
        .bind(body.quantity)
        .bind(state.now_ms())
        .bind(&user.email)
        .bind(basket.to_string())
        .execute(&state.db.pool)
        .await?;
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
    let row = own_basket(&state, &user, &id).await?;
    let basket = uuid_col(&row, "id")?;
    sqlx::query("UPDATE p_basket SET deleted_at = ?, deleted_by = ? WHERE id = ?")
        .bind(state.now_ms())
        .bind(&user.email)
        .bind(basket.to_string())
        .execute(&state.db.pool)
        .await?;
    Ok(Reply::ok(
        "장바구니에서 삭제되었습니다.",
        BasketId { basket_id: basket },
    ))
}
