//! Orders (`/api/v1/orders`): lines reserved in the item actors all or nothing, the time-sale
//! price and per-user limit applied by the actor, a coupon's discount really subtracted, the order
//! journaled and answered without waiting for the database.

use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{idempotency, parse_json, wait_for_writebehind};
use crate::domain::campaign::CampaignOutcome;
use crate::domain::coupon::{PricedLine, eligible_amount, pay_amount};
use crate::domain::event::ReleaseReason;
use crate::domain::ids::{CampaignId, CompanyId, CouponId, ItemId, OrderId, UserId};
use crate::domain::item::ItemOutcome;
use crate::domain::order::{
    Order, OrderCoupon, OrderLine, OrderStatus, TransitionRefused, checked_total,
};
use crate::engine::{EngineError, LineRequest, OrderEntry, OrderReservation};
use crate::http::AppState;
use crate::http::auth::{AuthUser, Role};
use crate::http::envelope::{Envelope, NoData, Reply};
use crate::http::error::ErrorBody;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{Bytes, Path, Query};
use crate::http::lookups::ProductInfo;
use crate::http::page::{Page, PageQuery};
use crate::persistence::repo::{date_end_ms, uuid_col};

/// Most lines in one order.
pub const MAX_ORDER_LINES: usize = 50;
/// Most units of one line.
pub const MAX_LINE_QUANTITY: i64 = 10_000;
/// Item reservations outlive the order's deadline by this much: the order sweeper releases them
/// first, the item's own expiry is only a safety net.
const ITEM_DEADLINE_GRACE_MS: i64 = 30_000;

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

pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Map an item refusal to the API (one place).
pub fn line_refusal(item: ItemId, outcome: ItemOutcome) -> ApiError {
    match outcome {
        ItemOutcome::SoldOut { available } => ApiError::conflict(
            "OP004",
            format!("insufficient stock for product {item} ({available} left)"),
        ),
        ItemOutcome::SaleSoldOut => ApiError::conflict(
            "P022",
            format!("the time sale of product {item} is sold out"),
        ),
        ItemOutcome::LimitExceeded { limit } => ApiError::conflict(
            "LIMIT_EXCEEDED",
            format!("at most {limit} per customer for product {item} during this sale"),
        ),
        ItemOutcome::NotOnSale => {
            ApiError::conflict("OP003", format!("product {item} is not on sale"))
        }
        ItemOutcome::InvalidQuantity => ApiError::bad_request("OP005", "quantity must be positive"),
        other => ApiError::internal(anyhow::anyhow!("unexpected reservation outcome {other:?}")),
    }
}

fn coupon_refusal(outcome: CampaignOutcome) -> ApiError {
    match outcome {
        CampaignOutcome::NotHeld => ApiError::not_found("OCO001", "coupon not found"),
        CampaignOutcome::AlreadyUsed => ApiError::conflict("OC002", "the coupon was already used"),
        CampaignOutcome::Expired => ApiError::conflict("OC005", "the coupon has expired"),
        CampaignOutcome::BelowMinimum { min_order_amount } => ApiError::conflict(
            "OC003",
            format!("the order does not reach the coupon's minimum of {min_order_amount}"),
        ),
        other => ApiError::internal(anyhow::anyhow!("unexpected coupon outcome {other:?}")),
    }
}

async fn product_infos(
    state: &AppState,
    ids: &[ItemId],
) -> ApiResult<std::collections::HashMap<ItemId, ProductInfo>> {
    let mut out = std::collections::HashMap::new();
    let mut missing = Vec::new();
    for id in ids {
        match state.lookups.product(*id) {
            Some(info) => {
                out.insert(*id, info);
            }
            None => missing.push(*id),
        }
    }
    if missing.is_empty() {
        return Ok(out);
    }
    let read_at = state.lookups.products_epoch();
    let placeholders = vec!["?"; missing.len()].join(",");
    let sql = format!(
        "SELECT id, name, company_id FROM p_product WHERE deleted_at IS NULL AND id IN ({placeholders})"
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for id in &missing {
        q = q.bind(id.to_string());
    }
    for row in q.fetch_all(&state.db.pool).await? {
        let id = ItemId(uuid_col(&row, "id")?);
        let info = ProductInfo {
            name: row.try_get("name")?,
            company_id: CompanyId(uuid_col(&row, "company_id")?),
        };
        state.lookups.remember_product(read_at, id, info.clone());
        out.insert(id, info);
    }
    Ok(out)
}

/// The requested lines, from baskets or buy-now items; returns the basket ids used.
async fn requested_lines(
    state: &AppState,
    user: UserId,
    body: &CreateOrder,
) -> ApiResult<(Vec<LineRequest>, Vec<Uuid>)> {
    match (&body.items, &body.basket_list) {
        (Some(items), None) => {
            if items.is_empty() || items.len() > MAX_ORDER_LINES {
                return Err(ApiError::bad_request(
                    "OP005",
                    format!("an order has 1 to {MAX_ORDER_LINES} lines"),
                ));
            }
            let mut lines = Vec::with_capacity(items.len());
            for l in items {
                if l.quantity < 1 || l.quantity > MAX_LINE_QUANTITY {
                    return Err(ApiError::bad_request(
                        "OP005",
                        format!("quantity must be 1 to {MAX_LINE_QUANTITY}"),
                    ));
                }
                lines.push(LineRequest {
                    item: ItemId(l.product_id),
                    qty: l.quantity,
                });
            }
            Ok((lines, vec![]))
        }
        (None, Some(baskets)) => {
            if baskets.is_empty() || baskets.len() > MAX_ORDER_LINES {
                return Err(ApiError::bad_request(
                    "OB002",
                    format!("basketList must hold 1 to {MAX_ORDER_LINES} baskets"),
                ));
            }
            let placeholders = vec!["?"; baskets.len()].join(",");
            let sql = format!(
                "SELECT id, product_id, quantity FROM p_basket WHERE user_id = ? AND deleted_at IS NULL AND id IN ({placeholders})"
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(user.to_string());
            for b in baskets {
                q = q.bind(b.to_string());
            }
            let rows = q.fetch_all(&state.db.pool).await?;
            if rows.len() != baskets.len() {
                return Err(ApiError::not_found("OB001", "basket not found"));
            }
            let mut lines = Vec::with_capacity(rows.len());
            let mut used = Vec::with_capacity(rows.len());
            for r in &rows {
                let qty: i64 = r.try_get("quantity")?;
                if !(1..=MAX_LINE_QUANTITY).contains(&qty) {
                    return Err(ApiError::bad_request(
                        "OB002",
                        format!("a basket's quantity must be 1 to {MAX_LINE_QUANTITY}"),
                    ));
                }
                lines.push(LineRequest {
                    item: ItemId(uuid_col(r, "product_id")?),
                    qty,
                });
                used.push(uuid_col(r, "id")?);
            }
            Ok((lines, used))
        }
        _ => Err(ApiError::bad_request(
            "OP005",
            "give either basketList or items",
        )),
    }
}

async fn check_address(state: &AppState, user: UserId, address: Uuid) -> ApiResult<()> {
    let owner = match state.lookups.address_owner(address) {
        Some(owner) => Some(owner),
        None => {
            let read_at = state.lookups.addresses_epoch();
            let row = sqlx::query(
                "SELECT user_id FROM p_address WHERE address_id = ? AND deleted_at IS NULL",
            )
            .bind(address.to_string())
            .fetch_optional(&state.db.pool)
            .await?;
            match row {
                Some(r) => {
                    let owner = UserId(uuid_col(&r, "user_id")?);
                    state.lookups.remember_address(read_at, address, owner);
                    Some(owner)
                }
                None => None,
            }
        }
    };
    match owner {
        Some(owner) if owner == user => Ok(()),
        _ => Err(ApiError::not_found(
            "ADDRESS_NOT_FOUND",
            "address not found",
        )),
    }
}

/// The campaign of a coupon the user owns (waiting briefly for a just-issued coupon to reach
/// the database).
async fn coupon_campaign(
    state: &AppState,
    user: UserId,
    coupon: Uuid,
) -> ApiResult<(CampaignId, i64)> {
    let lookup = || async {
        sqlx::query(
            "SELECT c.user_id, c.coupon_info_id, i.expiration_date FROM p_coupon c \
             JOIN p_coupon_info i ON i.coupon_info_id = c.coupon_info_id \
             WHERE c.coupon_id = ? AND c.deleted_at IS NULL AND i.deleted_at IS NULL",
        )
        .bind(coupon.to_string())
        .fetch_optional(&state.db.pool)
        .await
    };
    let mut row = lookup().await?;
    if row.is_none() {
        wait_for_writebehind(state).await;
        row = lookup().await?;
    }
    match row {
        Some(r) if uuid_col(&r, "user_id")? == user.0 => {
            let expiration: String = r.try_get("expiration_date")?;
            Ok((
                CampaignId(uuid_col(&r, "coupon_info_id")?),
                date_end_ms(&expiration).unwrap_or(i64::MAX),
            ))
        }
        _ => Err(ApiError::not_found("OCO001", "coupon not found")),
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
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(e) = state.ops.check_rate(user.user_id, ip.0).await {
        return e.into_response();
    }
    let key = match idempotency::key_from(&headers) {
        Ok(k) => k,
        Err(e) => return e.into_response(),
    };
    let st = state.clone();
    let u = user.clone();
    let b = body.clone();
    idempotency::run(&state, user.user_id, key, &body, move || async move {
        match place(&st, &u, &b).await {
            Ok(reply) => reply.into_response(),
            Err(e) => e.into_response(),
        }
    })
    .await
}

async fn place(state: &AppState, user: &AuthUser, body: &[u8]) -> ApiResult<Reply<OrderCreated>> {
    let body: CreateOrder = parse_json(body)?;
    let (lines, baskets) = requested_lines(state, user.user_id, &body).await?;
    check_address(state, user.user_id, body.address_id).await?;
    let coupon = match body.coupon_id {
        Some(c) => Some((c, coupon_campaign(state, user.user_id, c).await?)),
        None => None,
    };
    let now = state.now_ms();
    let deadline = now + state.config.reservation_ttl_ms as i64;
    let order_id = OrderId::new();
    let reserved = match state
        .engine
        .reserve_order(
            order_id,
            user.user_id,
            &lines,
            deadline + ITEM_DEADLINE_GRACE_MS,
        )
        .await
    {
        Ok(OrderReservation::Reserved { lines }) => lines,
        Ok(OrderReservation::Refused { item, outcome }) => return Err(line_refusal(item, outcome)),
        Err(EngineError::UnknownItem) => {
            return Err(ApiError::not_found("OP001", "product not found"));
        }
        Err(e) => return Err(e.into()),
    };
    let items: Vec<ItemId> = reserved.iter().map(|l| l.item).collect();
    let release = |reason| {
        let engine = state.engine.clone();
        let items = items.clone();
        async move {
            if let Err(e) = engine.release_order(order_id, &items, reason).await {
                tracing::error!(error = %e, order = %order_id, "could not release a failed order's stock; it expires by deadline");
            }
        }
    };
    let infos = match product_infos(state, &items).await {
        Ok(i) => i,
        Err(e) => {
            release(ReleaseReason::Cancelled).await;
            return Err(e);
        }
    };
    let order_lines: Vec<OrderLine> = reserved
        .iter()
        .map(|l| {
            let info = infos.get(&l.item);
            OrderLine {
                item: l.item,
                name: info.map(|i| i.name.clone()).unwrap_or_default(),
                company_id: info.map(|i| i.company_id).unwrap_or_default(),
                qty: l.qty,
                unit_price: l.unit_price,
                promotion: l.promotion,
            }
        })
        .collect();
    let Some(total_amount) = checked_total(&order_lines) else {
        release(ReleaseReason::Cancelled).await;
        return Err(ApiError::bad_request(
            "OP005",
            "the order total is too large",
        ));
    };
    let mut discount_amount = 0;
    let mut order_coupon = None;
    if let Some((coupon_id, (campaign, expires_at_ms))) = coupon {
        let (view, _) = match state.engine.campaign_view(campaign, None).await {
            Ok(v) => v,
            Err(e) => {
                release(ReleaseReason::Cancelled).await;
                return Err(e.into());
            }
        };
        let priced: Vec<PricedLine> = order_lines
            .iter()
            .map(|l| PricedLine {
                company_id: l.company_id,
                // fits: the total above was computed with checked arithmetic
                amount: l.unit_price.saturating_mul(l.qty),
            })
            .collect();
        let eligible = eligible_amount(&priced, view.config.company_id);
        if view.config.company_id.is_some() && eligible == 0 {
            release(ReleaseReason::Cancelled).await;
            return Err(ApiError::conflict(
                "OC004",
                "the coupon does not apply to these products",
            ));
        }
        match state
            .engine
            .use_coupon(campaign, user.user_id, order_id, eligible)
            .await
        {
            Ok(CampaignOutcome::Used { discount_amount: d }) => {
                discount_amount = d;
                order_coupon = Some(OrderCoupon {
                    campaign,
                    coupon: CouponId(coupon_id),
                    expires_at_ms,
                });
            }
            Ok(outcome) => {
                release(ReleaseReason::Cancelled).await;
                return Err(coupon_refusal(outcome));
            }
            Err(e) => {
                release(ReleaseReason::Cancelled).await;
                return Err(e.into());
            }
        }
    }
    let order = Order {
        id: order_id,
        user: user.user_id,
        address_id: body.address_id,
        name: Order::name_for(&order_lines),
        lines: order_lines,
        total_amount,
        discount_amount,
        pay_amount: pay_amount(total_amount, discount_amount),
        coupon: order_coupon,
        status: OrderStatus::Create,
        created_at_ms: now,
        deadline_ms: deadline,
        completed_at_ms: None,
    };
    let created = OrderCreated {
        order_id: order_id.0,
        status: OrderStatus::Create.as_str().into(),
        total_amount: order.total_amount,
        discount_amount: order.discount_amount,
        pay_amount: order.pay_amount,
        expires_at: rfc3339(deadline),
    };
    if let Err(e) = state.engine.place_order(order).await {
        // Not durable: undo what was held so the retry starts clean.
        release(ReleaseReason::Cancelled).await;
        if let Some(c) = order_coupon {
            let _ = state.engine.recover_coupon(c.campaign, user.user_id).await;
        }
        return Err(e.into());
    }
    if !baskets.is_empty() {
        remove_baskets(state, user, &baskets).await;
    }
    metrics::counter!("hotdeal_orders_total", "outcome" => "placed").increment(1);
    Ok(Reply::created("주문이 생성되었습니다.", created))
}

async fn remove_baskets(state: &AppState, user: &AuthUser, baskets: &[Uuid]) {
    let placeholders = vec!["?"; baskets.len()].join(",");
    let sql = format!(
        "UPDATE p_basket SET deleted_at = ?, deleted_by = ? WHERE user_id = ? AND id IN ({placeholders})"
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(state.now_ms())
        .bind(user.email.clone())
        .bind(user.user_id.to_string());
    for b in baskets {
        q = q.bind(b.to_string());
    }
    if let Err(e) = q.execute(&state.db.pool).await {
        tracing::warn!(error = %e, "could not clear the ordered baskets");
    }
}

/// Cancel a locked active order: release its stock, recover its coupon, end its payment.
pub async fn cancel_locked(
    state: &AppState,
    entry: &mut OrderEntry,
    reason: ReleaseReason,
) -> ApiResult<()> {
    let items: Vec<ItemId> = entry.order.lines.iter().map(|l| l.item).collect();
    state
        .engine
        .release_order(entry.order.id, &items, reason)
        .await?;
    if let Some(c) = entry.order.coupon {
        state
            .engine
            .recover_coupon(c.campaign, entry.order.user)
            .await?;
    }
    state
        .engine
        .set_order_status(entry, OrderStatus::Cancel)
        .await?;
    super::payments::end_pending_payment(state, entry.order.id).await;
    let outcome = match reason {
        ReleaseReason::Expired => "expired",
        ReleaseReason::Cancelled | ReleaseReason::PaymentFailed => "cancelled",
    };
    metrics::counter!("hotdeal_orders_total", "outcome" => outcome).increment(1);
    Ok(())
}

fn transition_refusal(refused: TransitionRefused, cancel: bool) -> ApiError {
    match refused {
        TransitionRefused::AlreadyProcessed(s) if cancel => {
            ApiError::conflict("O007", format!("the order is already {}", s.as_str()))
        }
        TransitionRefused::AlreadyProcessed(s) => ApiError::conflict(
            "O008",
            format!("an order in status {} cannot be refunded", s.as_str()),
        ),
        TransitionRefused::DeadlinePassed => {
            ApiError::conflict("O008", "the payment deadline has passed")
        }
        TransitionRefused::RefundWindowClosed => ApiError::conflict(
            "O008",
            "not refundable by refund policy (24 hours after completion)",
        ),
    }
}

/// The order, if the caller may see it (owner, or MASTER/MANAGER).
pub async fn visible_order(
    state: &AppState,
    user: &AuthUser,
    id: &str,
) -> ApiResult<crate::engine::OrderRef> {
    let id: OrderId = id
        .parse()
        .map_err(|_| ApiError::bad_request("O002", "invalid order id"))?;
    let entry = state
        .engine
        .order(id)
        .await?
        .ok_or_else(|| ApiError::not_found("O001", "order not found"))?;
    let owner = entry.lock().await.order.user;
    if owner != user.user_id && !user.role.is_staff() {
        return Err(ApiError::not_found("O001", "order not found"));
    }
    Ok(entry)
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
    cancel_order(&state, &user, &id).await?;
    Ok(Reply::ok("주문이 취소되었습니다.", None))
}

/// Cancel the order `id` for `user` (its buyer or a MASTER): the checks and the change of
/// `POST /orders/{id}/cancel`.
pub async fn cancel_order(state: &AppState, user: &AuthUser, id: &str) -> ApiResult<()> {
    let entry = visible_order(state, user, id).await?;
    let mut guard = entry.lock().await;
    if guard.order.user != user.user_id && !user.is_master() {
        return Err(ApiError::forbidden(
            "O005",
            "only the buyer may cancel an order",
        ));
    }
    guard
        .order
        .check_transition(OrderStatus::Cancel, state.now_ms())
        .map_err(|r| transition_refusal(r, true))?;
    cancel_locked(state, &mut guard, ReleaseReason::Cancelled).await
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
    refund_order(&state, &user, &id).await?;
    Ok(Reply::ok("주문이 환불되었습니다.", None))
}

/// Refund the order `id` for `user` (its buyer or a MASTER): the checks and the changes of
/// `POST /orders/{id}/refund`.
pub async fn refund_order(state: &AppState, user: &AuthUser, id: &str) -> ApiResult<()> {
    let entry = visible_order(state, user, id).await?;
    let mut guard = entry.lock().await;
    if guard.order.user != user.user_id && !user.is_master() {
        return Err(ApiError::forbidden(
            "O005",
            "only the buyer may refund an order",
        ));
    }
    let now = state.now_ms();
    guard
        .order
        .check_transition(OrderStatus::Refund, now)
        .map_err(|r| transition_refusal(r, false))?;
    super::payments::refund_payment(state, &guard.order).await?;
    for line in &guard.order.lines {
        let outcome = state
            .engine
            .restock(
                line.item,
                guard.order.id,
                guard.order.user,
                line.qty,
                line.promotion,
            )
            .await?;
        if outcome != ItemOutcome::Restocked {
            tracing::error!(order = %guard.order.id, item = %line.item, ?outcome, "refund restock refused");
        }
    }
    if let Some(c) = guard.order.coupon
        && now < c.expires_at_ms
    {
        state
            .engine
            .recover_coupon(c.campaign, guard.order.user)
            .await?;
    }
    state
        .engine
        .set_order_status(&mut guard, OrderStatus::Refund)
        .await?;
    metrics::counter!("hotdeal_orders_total", "outcome" => "refunded").increment(1);
    Ok(())
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
    let entry = visible_order(&state, &user, &id).await?;
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
                .ok_or_else(|| ApiError::bad_request("O002", "unknown order status"))?,
        ),
        None => None,
    };
    let req = page.validate(
        &[("createdAt", "created_at"), ("totalAmount", "total_amount")],
        10,
        state.config.page_limits(),
        "008",
    )?;
    // Read-your-writes: orders just placed are in the database once the write-behind caught up.
    wait_for_writebehind(&state).await;
    let mut filter = String::from(" FROM p_order WHERE user_id = ? AND deleted_at IS NULL");
    if status.is_some() {
        filter.push_str(" AND status = ?");
    }
    let count_sql = format!("SELECT COUNT(*) {filter}");
    let mut count =
        sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(count_sql)).bind(owner.to_string());
    if let Some(s) = status {
        count = count.bind(s.as_str());
    }
    let total = count.fetch_one(&state.db.pool).await?;
    let ids_sql = format!("SELECT id {filter}{}", req.sql_tail("id"));
    let mut ids = sqlx::query(sqlx::AssertSqlSafe(ids_sql)).bind(owner.to_string());
    if let Some(s) = status {
        ids = ids.bind(s.as_str());
    }
    let rows = ids.fetch_all(&state.db.pool).await?;
    let mut content = Vec::with_capacity(rows.len());
    for r in &rows {
        let id = OrderId(uuid_col(r, "id")?);
        if let Some(entry) = state.engine.order(id).await? {
            content.push(order_view(&entry.lock().await.order));
        }
    }
    Ok(Reply::ok(
        "주문 목록 조회 성공",
        Page::new(content, total, &req),
    ))
}

/// Cancel orders whose payment deadline passed (and orders whose reservation the items' own
/// safety-net expiry released). Runs until the process ends.
pub fn spawn_sweeper(state: AppState, every: Duration) -> crate::actors::ticker::CancelOnDrop {
    let mut expired = state.engine.take_expired_receiver();
    crate::actors::ticker::CancelOnDrop(tokio::spawn(async move {
        let mut tick = tokio::time::interval(every.max(Duration::from_millis(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let now = state.now_ms();
                    for entry in state.engine.orders_due(now) {
                        let mut guard = entry.lock().await;
                        if guard.order.status.is_active() && guard.order.deadline_ms <= now {
                            let id = guard.order.id;
                            match cancel_locked(&state, &mut guard, ReleaseReason::Expired).await {
                                Ok(()) => {
                                    tracing::info!(order = %id, "order cancelled: payment deadline passed");
                                }
                                Err(e) => tracing::warn!(order = %id, error = %e, "could not expire an order; retrying next tick"),
                            }
                        }
                    }
                }
                Some(e) = async { match expired.as_mut() { Some(rx) => rx.recv().await, None => std::future::pending().await } } => {
                    if let Ok(Some(entry)) = state.engine.order(e.order).await {
                        let mut guard = entry.lock().await;
                        if guard.order.status.is_active() {
                            let _ = cancel_locked(&state, &mut guard, ReleaseReason::Expired).await;
                        }
                    }
                }
            }
        }
    }))
}
