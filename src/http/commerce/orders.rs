//! Orders (`/api/v1/orders`): the HTTP side of placing, viewing, cancelling and refunding
//! orders. The flows are [`crate::commerce::orders`]; refusals are answered by
//! [`crate::http::outcomes`].

use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::idempotency::IdempotencyKey;
use super::{caller, parse_json};
use crate::commerce::orders::{self as service, LineSource, PlaceOrder, PlacedOrder};
use crate::domain::clock::rfc3339;
use crate::domain::ids::{ItemId, OrderId, UserId};
use crate::domain::order::{Order, OrderStatus};
use crate::engine::LineRequest;
use crate::error_code::ErrorCode;
use crate::http::AppState;
use crate::http::auth::{AuthUser, Role};
use crate::http::envelope::{Envelope, NoData, Reply};
use crate::http::error::ErrorBody;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{Bytes, Path, Query};
use crate::http::page::{Page, PageQuery};

pub use crate::commerce::orders::{MAX_LINE_QUANTITY, MAX_ORDER_LINES};

/// One buy-now line.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BuyNowLine {
    pub product_id: Uuid,
    pub quantity: i64,
}

/// `{basketList, addressId, couponId?}` (the seed) or `{items, addressId, couponId?}` (buy now).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateOrder {
    pub basket_list: Option<Vec<Uuid>>,
    pub items: Option<Vec<BuyNowLine>>,
    pub address_id: Uuid,
    pub coupon_id: Option<Uuid>,
}

/// The created order.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderCreated {
    pub order_id: Uuid,
    pub status: String,
    pub total_amount: i64,
    pub discount_amount: i64,
    pub pay_amount: i64,
    /// Payment must be approved before this instant (RFC 3339, UTC).
    pub expires_at: String,
}

impl From<PlacedOrder> for OrderCreated {
    fn from(p: PlacedOrder) -> Self {
        OrderCreated {
            order_id: p.order_id.0,
            status: p.status.as_str().into(),
            total_amount: p.total_amount,
            discount_amount: p.discount_amount,
            pay_amount: p.pay_amount,
            expires_at: rfc3339(p.expires_at_ms),
        }
    }
}

/// Place an order: its stock is reserved until `expiresAt`.
///
/// Lines come from one's baskets (`basketList`, the seed's way) or directly (`items`, buy now).
/// All lines are reserved or none; the time-sale price and the per-user sale limit apply, and a
/// coupon's discount is really subtracted (`payAmount`). Pay with `POST /api/v1/payments`
/// before the deadline, or the order is cancelled and its stock released. With an
/// `Idempotency-Key`, a retry gets the first answer (24 hours). Rate limited per user and per
/// client address when `HOTDEAL_RATE_LIMIT_USER_PER_S` / `HOTDEAL_RATE_LIMIT_IP_PER_S` are set.
#[utoipa::path(post, path = "/api/v1/orders", tag = "orders", request_body = CreateOrder,
    params(("Idempotency-Key" = Option<String>, Header, description = "retries with the same key get the first answer")),
    security(("bearer" = [])),
    responses((status = 201, description = "order placed, stock reserved until expiresAt", body = Envelope<OrderCreated>),
        (status = 400, description = "`OP005`: not exactly one of basketList and items, 1 to 50 lines, quantities 1 to 10,000, or a total too large; `OB002`: a basket's quantity out of range; `INVALID_IDEMPOTENCY_KEY`: not 1 to 255 ASCII characters", body = ErrorBody),
        (status = 404, description = "`OP001`: no such product; `OB001`: no such basket of the caller's; `ADDRESS_NOT_FOUND`: no such address of the caller's; `OCO001`: no such coupon of the caller's", body = ErrorBody),
        (status = 409, description = "`OP004`: not enough stock; `P022`: the time sale is sold out; `LIMIT_EXCEEDED`: over the sale's per-customer limit; `OP003`: not on sale; `OC002`: coupon already used; `OC005`: coupon expired; `OC003`: below the coupon's minimum order; `OC004`: the coupon does not apply to these products; `REQUEST_IN_PROGRESS`: the first request with this Idempotency-Key is still running", body = ErrorBody),
        (status = 422, description = "`IDEMPOTENCY_KEY_REUSED`: the key was used with another body", body = ErrorBody),
        (status = 429, description = "`RATE_LIMITED`: over the per-user or per-address rate (see Retry-After)", body = ErrorBody),
        (status = 503, description = "`ENGINE_BUSY`, `ENGINE_BACKLOGGED`, `JOURNAL_UNAVAILABLE`: the engine cannot take the order now; retry after Retry-After", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    ip: crate::http::ops::ClientIp,
    key: IdempotencyKey,
    body: Bytes,
) -> ApiResult<Response> {
    state.ops.check_rate(user.user_id, ip.0).await?;
    key.run(&state, user.user_id, &body, place(&state, &user, &body))
        .await
}

async fn place(state: &AppState, user: &AuthUser, body: &[u8]) -> ApiResult<Reply<OrderCreated>> {
    let body: CreateOrder = parse_json(body)?;
    let lines = match (body.items, body.basket_list) {
        (Some(items), None) => LineSource::Items(
            items
                .iter()
                .map(|l| LineRequest {
                    item: ItemId(l.product_id),
                    qty: l.quantity,
                })
                .collect(),
        ),
        (None, Some(baskets)) => LineSource::Baskets(baskets),
        _ => {
            return Err(ApiError::coded(
                ErrorCode::InvalidOrderLines,
                "give either basketList or items",
            ));
        }
    };
    let request = PlaceOrder {
        lines,
        address_id: body.address_id,
        coupon_id: body.coupon_id,
    };
    let placed = service::place(&state.commerce, &caller(user), &request).await?;
    Ok(Reply::created("주문이 생성되었습니다.", placed.into()))
}

/// An order id as given in a path.
fn parse_order_id(id: &str) -> ApiResult<OrderId> {
    id.parse()
        .map_err(|_| ApiError::coded(ErrorCode::InvalidOrder, "invalid order id"))
}

/// Cancel an order that waits for its payment.
///
/// The buyer (or a MASTER) cancels a CREATE or PENDING order before its payment deadline: its
/// stock is released, its coupon recovered and its pending payment ended.
#[utoipa::path(post, path = "/api/v1/orders/{id}/cancel", tag = "orders",
    params(("id" = Uuid, Path, description = "order id")), security(("bearer" = [])),
    responses((status = 200, description = "cancelled: stock released, coupon recovered", body = NoData),
        (status = 400, description = "`O002`: not an order id", body = ErrorBody),
        (status = 403, description = "`O005`: staff other than MASTER may see but not cancel another's order", body = ErrorBody),
        (status = 404, description = "`O001`: no such order of the caller's", body = ErrorBody),
        (status = 409, description = "`O007`: already paid, cancelled or refunded; `O008`: the payment deadline passed", body = ErrorBody),
        (status = 503, description = "`ENGINE_BUSY`, `ENGINE_BACKLOGGED`, `JOURNAL_UNAVAILABLE`: the engine cannot take the change now", body = ErrorBody)))]
pub async fn cancel(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Reply<Option<()>>> {
    service::cancel(&state.commerce, &caller(&user), parse_order_id(&id)?).await?;
    Ok(Reply::ok("주문이 취소되었습니다.", None))
}

/// Refund a paid order.
///
/// The buyer (or a MASTER) refunds a COMPLETE order within 24 hours of its payment: the payment
/// is cancelled at the provider, the stock restocked and the coupon recovered (while it is
/// still valid).
#[utoipa::path(post, path = "/api/v1/orders/{id}/refund", tag = "orders",
    params(("id" = Uuid, Path, description = "order id")), security(("bearer" = [])),
    responses((status = 200, description = "refunded: payment cancelled, stock restocked, coupon recovered", body = NoData),
        (status = 400, description = "`O002`: not an order id", body = ErrorBody),
        (status = 403, description = "`O005`: staff other than MASTER may see but not refund another's order", body = ErrorBody),
        (status = 404, description = "`O001`: no such order of the caller's", body = ErrorBody),
        (status = 409, description = "`O008`: not paid, already refunded, or past the 24-hour refund window; `PA004`: no completed payment, or the provider refused the refund", body = ErrorBody),
        (status = 503, description = "`PAYMENT_PROVIDER_UNAVAILABLE`: the provider did not answer (nothing changed); `ENGINE_BUSY`, `ENGINE_BACKLOGGED`, `JOURNAL_UNAVAILABLE`: the engine cannot take the change now", body = ErrorBody)))]
pub async fn refund(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Reply<Option<()>>> {
    service::refund(&state.commerce, &caller(&user), parse_order_id(&id)?).await?;
    Ok(Reply::ok("주문이 환불되었습니다.", None))
}

/// One order line in views.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderLineView {
    pub product_id: Uuid,
    pub product_name: String,
    /// The ordered quantity (the seed showed the current stock here).
    pub product_quantity: i64,
    pub product_price: i64,
}

/// An order.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    pub order_id: Uuid,
    pub created_at: String,
    pub order_name: String,
    pub user_id: Uuid,
    pub address_id: Uuid,
    pub total_amount: i64,
    pub discount_amount: i64,
    pub pay_amount: i64,
    pub coupon_id: Option<Uuid>,
    pub order_status: String,
    /// The payment deadline (RFC 3339, UTC) while the order waits for its payment (CREATE,
    /// PENDING); `null` once it is paid, cancelled or refunded.
    pub expires_at: Option<String>,
    pub product_list: Vec<OrderLineView>,
}

pub fn order_view(o: &Order) -> OrderView {
    OrderView {
        order_id: o.id.0,
        created_at: rfc3339(o.created_at_ms),
        order_name: o.name.clone(),
        user_id: o.user.0,
        address_id: o.address_id,
        total_amount: o.total_amount,
        discount_amount: o.discount_amount,
        pay_amount: o.pay_amount,
        coupon_id: o.coupon.map(|c| c.coupon.0),
        order_status: o.status.as_str().into(),
        expires_at: o.status.is_active().then(|| rfc3339(o.deadline_ms)),
        product_list: o
            .lines
            .iter()
            .map(|l| OrderLineView {
                product_id: l.item.0,
                product_name: l.name.clone(),
                product_quantity: l.qty,
                product_price: l.unit_price,
            })
            .collect(),
    }
}

/// One order (its buyer, or MASTER/MANAGER).
///
/// `expiresAt` is the payment deadline while the order waits for its payment, `null` after.
#[utoipa::path(get, path = "/api/v1/orders/{id}", tag = "orders",
    params(("id" = Uuid, Path, description = "order id")), security(("bearer" = [])),
    responses((status = 200, description = "the order", body = Envelope<OrderView>),
        (status = 400, description = "`O002`: not an order id", body = ErrorBody),
        (status = 404, description = "`O001`: no such order of the caller's", body = ErrorBody)))]
pub async fn detail(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Reply<OrderView>> {
    let entry =
        service::visible_order(&state.commerce, &caller(&user), parse_order_id(&id)?).await?;
    let view = order_view(&entry.lock().await.order);
    Ok(Reply::ok("주문 조회 성공", view))
}

/// `?userId&status` (userId: staff only); `page`, `size` and `sort` are a [`PageQuery`] of their
/// own (a `#[serde(flatten)]` of it would hand every number to serde as a string and refuse it).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    pub user_id: Option<Uuid>,
    pub status: Option<String>,
}

/// One's orders, newest first, a page at a time.
///
/// `sort` by `createdAt` (default) or `totalAmount`; `status` filters (CREATE, PENDING, COMPLETE,
/// CANCEL, REFUND); `userId` lists another user's orders (MASTER, MANAGER).
#[utoipa::path(get, path = "/api/v1/orders", tag = "orders",
    params(("page" = Option<i64>, Query, description = "0-based page"), ("size" = Option<i64>, Query, description = "page size (default 10)"),
        ("sort" = Option<String>, Query, description = "createdAt|totalAmount, asc|desc"),
        ("status" = Option<String>, Query, description = "CREATE, PENDING, COMPLETE, CANCEL or REFUND"),
        ("userId" = Option<Uuid>, Query, description = "another user's orders (MASTER, MANAGER)")),
    security(("bearer" = [])),
    responses((status = 200, description = "a page of orders", body = Envelope<Page<OrderView>>),
        (status = 400, description = "`O002`: unknown status; `008`: page, size or sort out of range", body = ErrorBody),
        (status = 403, description = "`FORBIDDEN`: userId of another user without MASTER or MANAGER", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    Query(page): Query<PageQuery>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Reply<Page<OrderView>>> {
    let owner = match q.user_id {
        Some(u) if UserId(u) != user.user_id => {
            user.require(&[Role::Master, Role::Manager])?;
            UserId(u)
        }
        _ => user.user_id,
    };
    let status = match q.status.as_deref() {
        Some(s) => Some(
            OrderStatus::parse(s)
                .ok_or_else(|| ApiError::coded(ErrorCode::InvalidOrder, "unknown order status"))?,
        ),
        None => None,
    };
    let req = page.validate(
        &[("createdAt", "created_at"), ("totalAmount", "total_amount")],
        10,
        state.config.page_limits(),
        ErrorCode::InvalidCommercePaging,
    )?;
    let (orders, total) =
        service::list(&state.commerce, owner, status, &req.sql_tail("id")).await?;
    let content = orders.iter().map(order_view).collect();
    Ok(Reply::ok(
        "주문 목록 조회 성공",
        Page::new(content, total, &req),
    ))
}
