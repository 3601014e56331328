//! The order lifecycle: placing an order (its lines reserved in the item actors all or nothing,
//! the time-sale price and per-user limit applied by the actor, a coupon's discount really
//! subtracted, everything journaled and made durable with one wait), cancelling, refunding, and
//! the sweep that cancels orders whose payment deadline passed.

use std::collections::HashMap;
use std::time::Duration;

use uuid::Uuid;

use super::{Caller, Commerce, CommerceError, CommerceResult};
use crate::domain::Millis;
use crate::domain::campaign::CampaignOutcome;
use crate::domain::coupon::{PricedLine, eligible_amount, pay_amount};
use crate::domain::event::ReleaseReason;
use crate::domain::ids::{CampaignId, CompanyId, CouponId, ItemId, OrderId, UserId};
use crate::domain::item::ItemOutcome;
use crate::domain::order::{Order, OrderCoupon, OrderLine, OrderStatus, checked_total};
use crate::engine::{
    EngineError, LineRequest, OrderEntry, OrderRef, OrderReservation, ReservedLine,
};
use crate::error_code::ErrorCode;
use crate::payments::{CancelRequest, PaymentError};
use crate::persistence::journal::Seq;
use crate::persistence::repo::date_end_ms;
use crate::persistence::{baskets as basket_store, coupons as coupon_store};
use crate::persistence::{orders as order_store, payments as payment_store};

use super::lookups::ProductInfo;

/// Most lines in one order.
pub const MAX_ORDER_LINES: usize = 50;
/// Most units of one line.
pub const MAX_LINE_QUANTITY: i64 = 10_000;
/// Item reservations outlive the order's deadline by this much: the order sweeper releases them
/// first, the item's own expiry is only a safety net.
const ITEM_DEADLINE_GRACE_MS: i64 = 30_000;

/// Where an order's lines come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineSource {
    /// Buy now: products and quantities as given.
    Items(Vec<LineRequest>),
    /// Lines of the caller's basket (removed from it once the order is placed).
    Baskets(Vec<Uuid>),
}

/// An order to place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceOrder {
    pub lines: LineSource,
    pub address_id: Uuid,
    pub coupon_id: Option<Uuid>,
}

/// A placed order, its stock reserved until `expires_at_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedOrder {
    pub order_id: OrderId,
    pub status: OrderStatus,
    pub total_amount: i64,
    pub discount_amount: i64,
    pub pay_amount: i64,
    pub expires_at_ms: Millis,
}

/// The requested lines, with the basket lines they came from.
async fn requested_lines(
    c: &Commerce,
    user: UserId,
    source: &LineSource,
) -> CommerceResult<(Vec<LineRequest>, Vec<Uuid>)> {
    match source {
        LineSource::Items(items) => {
            if items.is_empty() || items.len() > MAX_ORDER_LINES {
                return Err(CommerceError::coded(
                    ErrorCode::InvalidOrderLines,
                    format!("an order has 1 to {MAX_ORDER_LINES} lines"),
                ));
            }
            if items.iter().any(|l| l.qty < 1 || l.qty > MAX_LINE_QUANTITY) {
                return Err(CommerceError::coded(
                    ErrorCode::InvalidOrderLines,
                    format!("quantity must be 1 to {MAX_LINE_QUANTITY}"),
                ));
            }
            Ok((items.clone(), vec![]))
        }
        LineSource::Baskets(baskets) => {
            if baskets.is_empty() || baskets.len() > MAX_ORDER_LINES {
                return Err(CommerceError::coded(
                    ErrorCode::InvalidBasket,
                    format!("basketList must hold 1 to {MAX_ORDER_LINES} baskets"),
                ));
            }
            let rows = basket_store::lines(&c.db, user, baskets).await?;
            if rows.len() != baskets.len() {
                return Err(ErrorCode::BasketNotFound.into());
            }
            let mut lines = Vec::with_capacity(rows.len());
            let mut used = Vec::with_capacity(rows.len());
            for r in &rows {
                if !(1..=MAX_LINE_QUANTITY).contains(&r.quantity) {
                    return Err(CommerceError::coded(
                        ErrorCode::InvalidBasket,
                        format!("a basket's quantity must be 1 to {MAX_LINE_QUANTITY}"),
                    ));
                }
                lines.push(LineRequest {
                    item: ItemId(r.product_id),
                    qty: r.quantity,
                });
                used.push(r.id);
            }
            Ok((lines, used))
        }
    }
}

/// 404 unless `user` owns the live address (cached: a repeat order reads nothing).
async fn check_address(c: &Commerce, user: UserId, address: Uuid) -> CommerceResult<()> {
    let owner = match c.lookups.address_owner(address) {
        Some(owner) => Some(owner),
        None => {
            let read_at = c.lookups.addresses_epoch();
            let owner = order_store::address_owner(&c.db, address).await?;
            if let Some(owner) = owner {
                c.lookups.remember_address(read_at, address, owner);
            }
            owner
        }
    };
    match owner {
        Some(owner) if owner == user => Ok(()),
        _ => Err(ErrorCode::AddressNotFound.into()),
    }
}

/// Name and company of the ordered products (cached: a repeat order reads nothing).
async fn product_infos(
    c: &Commerce,
    ids: &[ItemId],
) -> CommerceResult<HashMap<ItemId, ProductInfo>> {
    let mut out = HashMap::with_capacity(ids.len());
    let mut missing = Vec::new();
    for id in ids {
        match c.lookups.product(*id) {
            Some(info) => {
                out.insert(*id, info);
            }
            None => missing.push(*id),
        }
    }
    if missing.is_empty() {
        return Ok(out);
    }
    let read_at = c.lookups.products_epoch();
    for (id, info) in order_store::product_infos(&c.db, &missing).await? {
        c.lookups.remember_product(read_at, id, info.clone());
        out.insert(id, info);
    }
    Ok(out)
}

/// The campaign of a coupon the user owns and the coupon's end (waiting briefly for a
/// just-issued coupon to reach the database).
async fn coupon_campaign(
    c: &Commerce,
    user: UserId,
    coupon: Uuid,
) -> CommerceResult<(CampaignId, Millis)> {
    let mut held = coupon_store::held_coupon(&c.db, coupon).await?;
    if held.is_none() {
        c.wait_for_writebehind().await;
        held = coupon_store::held_coupon(&c.db, coupon).await?;
    }
    match held {
        Some(h) if h.user == user => Ok((
            h.campaign,
            date_end_ms(&h.expiration_date).unwrap_or(i64::MAX),
        )),
        _ => Err(ErrorCode::OrderCouponNotFound.into()),
    }
}

/// Place an order: reserve its lines, use its coupon, record it, and answer once all of it is
/// durable. Whatever fails after the reservation releases the stock (and gives the coupon
/// back), so a retry starts clean.
pub async fn place(c: &Commerce, caller: &Caller, req: &PlaceOrder) -> CommerceResult<PlacedOrder> {
    let user = caller.user;
    let (lines, baskets) = requested_lines(c, user, &req.lines).await?;
    check_address(c, user, req.address_id).await?;
    let coupon = match req.coupon_id {
        Some(id) => Some((id, coupon_campaign(c, user, id).await?)),
        None => None,
    };
    let now = c.now_ms();
    let deadline = now + c.config.reservation_ttl_ms as i64;
    // In cluster mode the order lives in the partition of its first line in reservation order
    // (the lowest item id), so a forwarded request lands where both are decided.
    let order_id = match lines.iter().map(|l| l.item).min() {
        Some(first) => c.engine.new_order_id(first),
        None => OrderId::new(),
    };
    // Its steps all start here: a node that does not own that partition hands the request on.
    c.engine.check_order_home(order_id)?;
    // Every decision of the order is journaled without waiting; one wait for the last of them
    // (the journal's durable watermark is global) makes them all durable before the answer.
    let (reserved, mut last_seq) = match c
        .engine
        .reserve_order_unacked(order_id, user, &lines, deadline + ITEM_DEADLINE_GRACE_MS)
        .await
    {
        Ok((OrderReservation::Reserved { lines }, seq)) => (lines, seq),
        Ok((OrderReservation::Refused { item, outcome }, _)) => {
            return Err(CommerceError::Line { item, outcome });
        }
        Err(EngineError::UnknownItem) => return Err(ErrorCode::OrderProductNotFound.into()),
        Err(e) => return Err(e.into()),
    };
    let items: Vec<ItemId> = reserved.iter().map(|l| l.item).collect();
    let release = || {
        let items = &items;
        async move {
            if let Err(e) = c
                .engine
                .release_order(order_id, items, ReleaseReason::Cancelled)
                .await
            {
                tracing::error!(error = %e, order = %order_id, "could not release a failed order's stock; it expires by deadline");
            }
        }
    };
    let priced = match price_order(c, user, order_id, &reserved, &items, coupon).await {
        Ok(priced) => priced,
        Err(e) => {
            release().await;
            return Err(e);
        }
    };
    last_seq = last_seq.max(priced.coupon_seq);
    let PricedOrder {
        lines: order_lines,
        total_amount,
        discount_amount,
        coupon: order_coupon,
        ..
    } = priced;
    let order = Order {
        id: order_id,
        user,
        address_id: req.address_id,
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
    let placed = PlacedOrder {
        order_id,
        status: OrderStatus::Create,
        total_amount: order.total_amount,
        discount_amount: order.discount_amount,
        pay_amount: order.pay_amount,
        expires_at_ms: deadline,
    };
    let (_, seq) = c.engine.place_order_unacked(order);
    last_seq = last_seq.max(Some(seq));
    if let Err(e) = c.engine.wait_durable(last_seq).await {
        // Not durable: undo what was held so the retry starts clean.
        release().await;
        if let Some(oc) = order_coupon {
            let _ = c.engine.recover_coupon(oc.campaign, user, order_id).await;
        }
        return Err(e.into());
    }
    if !baskets.is_empty()
        && let Err(e) =
            basket_store::delete_baskets(&c.db, user, &baskets, &caller.email, c.now_ms()).await
    {
        tracing::warn!(error = %e, "could not clear the ordered baskets");
    }
    metrics::counter!("hotdeal_orders_total", "outcome" => "placed").increment(1);
    Ok(placed)
}

/// A reserved order's lines with their names, companies and prices, and its coupon applied.
struct PricedOrder {
    lines: Vec<OrderLine>,
    total_amount: i64,
    discount_amount: i64,
    coupon: Option<OrderCoupon>,
    /// The journal sequence of the coupon's use (not waited for).
    coupon_seq: Option<Seq>,
}

/// Price `reserved` and use the order's coupon on it. On an error nothing of the coupon is held
/// (a use whose answer was lost is given back); the caller releases the stock.
async fn price_order(
    c: &Commerce,
    user: UserId,
    order_id: OrderId,
    reserved: &[ReservedLine],
    items: &[ItemId],
    coupon: Option<(Uuid, (CampaignId, Millis))>,
) -> CommerceResult<PricedOrder> {
    let infos = product_infos(c, items).await?;
    let lines: Vec<OrderLine> = reserved
        .iter()
        .map(|l| {
            let info = infos.get(&l.item);
            OrderLine {
                item: l.item,
                name: info.map(|i| i.name.clone()).unwrap_or_default(),
                // A product whose row is gone has no company: a company's coupon does not
                // apply to it (never a made-up id).
                company_id: info.map_or(CompanyId(Uuid::nil()), |i| i.company_id),
                qty: l.qty,
                unit_price: l.unit_price,
                promotion: l.promotion,
            }
        })
        .collect();
    let Some(total_amount) = checked_total(&lines) else {
        return Err(CommerceError::coded(
            ErrorCode::InvalidOrderLines,
            "the order total is too large",
        ));
    };
    let mut priced = PricedOrder {
        lines,
        total_amount,
        discount_amount: 0,
        coupon: None,
        coupon_seq: None,
    };
    if let Some((coupon_id, (campaign, expires_at_ms))) = coupon {
        let (discount, seq) = use_coupon(c, user, order_id, &priced.lines, campaign).await?;
        priced.discount_amount = discount;
        priced.coupon_seq = seq;
        priced.coupon = Some(OrderCoupon {
            campaign,
            coupon: CouponId(coupon_id),
            expires_at_ms,
        });
    }
    Ok(priced)
}

/// Use `user`'s coupon of `campaign` on the order's `lines`: the discount and the journal
/// sequence of the use.
async fn use_coupon(
    c: &Commerce,
    user: UserId,
    order_id: OrderId,
    lines: &[OrderLine],
    campaign: CampaignId,
) -> CommerceResult<(i64, Option<Seq>)> {
    let company = c.engine.campaign_company(campaign).await?;
    let priced: Vec<PricedLine> = lines
        .iter()
        .map(|l| PricedLine {
            company_id: l.company_id,
            // fits: the total was computed with checked arithmetic
            amount: l.unit_price.saturating_mul(l.qty),
        })
        .collect();
    let eligible = eligible_amount(&priced, company);
    if company.is_some() && eligible == 0 {
        return Err(ErrorCode::CouponNotApplicable.into());
    }
    match c
        .engine
        .use_coupon_unacked(campaign, user, order_id, eligible)
        .await
    {
        Ok((CampaignOutcome::Used { discount_amount }, seq)) => Ok((discount_amount, seq)),
        Ok((outcome, _)) => Err(CommerceError::CouponUse(outcome)),
        Err(e) => {
            // The use may have landed with its answer lost (a peer that did not answer in
            // time): give it back. Keyed by this order, it frees nothing another order holds.
            if let Err(again) = c.engine.recover_coupon(campaign, user, order_id).await {
                tracing::warn!(order = %order_id, %campaign, error = %again, "could not give back a coupon whose use was not confirmed");
            }
            Err(e.into())
        }
    }
}

/// Cancel a locked active order: release its stock, recover its coupon, end its payment.
pub async fn cancel_locked(
    c: &Commerce,
    entry: &mut OrderEntry,
    reason: ReleaseReason,
) -> CommerceResult<()> {
    let items: Vec<ItemId> = entry.order.lines.iter().map(|l| l.item).collect();
    c.engine
        .release_order(entry.order.id, &items, reason)
        .await?;
    if let Some(coupon) = entry.order.coupon {
        c.engine
            .recover_coupon(coupon.campaign, entry.order.user, entry.order.id)
            .await?;
    }
    c.engine
        .set_order_status(entry, OrderStatus::Cancel)
        .await?;
    let order = entry.order.id;
    if let Err(e) = payment_store::cancel_pending(&c.db, order, c.now_ms()).await {
        tracing::warn!(%order, error = %e, "could not mark the payment cancelled");
    }
    let outcome = match reason {
        ReleaseReason::Expired => "expired",
        ReleaseReason::Cancelled | ReleaseReason::PaymentFailed => "cancelled",
    };
    metrics::counter!("hotdeal_orders_total", "outcome" => outcome).increment(1);
    Ok(())
}

/// The order, if the caller may see it (its buyer, or staff).
pub async fn visible_order(c: &Commerce, caller: &Caller, id: OrderId) -> CommerceResult<OrderRef> {
    let entry = c
        .engine
        .order(id)
        .await?
        .ok_or(CommerceError::from(ErrorCode::OrderNotFound))?;
    let owner = entry.lock().await.order.user;
    if owner != caller.user && !caller.staff {
        return Err(ErrorCode::OrderNotFound.into());
    }
    Ok(entry)
}

/// 404 unless the caller may see the order, 403 unless it is its buyer or a MASTER (`what`:
/// the verb for the message).
pub async fn buyer_or_master(
    c: &Commerce,
    caller: &Caller,
    id: OrderId,
    what: &str,
) -> CommerceResult<OrderRef> {
    let entry = visible_order(c, caller, id).await?;
    let buyer = entry.lock().await.order.user;
    if buyer != caller.user && !caller.master {
        return Err(CommerceError::coded(
            ErrorCode::NotTheBuyer,
            format!("only the buyer may {what} an order"),
        ));
    }
    Ok(entry)
}

/// Cancel an order that waits for its payment (its buyer or a MASTER): stock released, coupon
/// recovered, pending payment ended.
pub async fn cancel(c: &Commerce, caller: &Caller, id: OrderId) -> CommerceResult<()> {
    let entry = visible_order(c, caller, id).await?;
    let mut guard = entry.lock().await;
    if guard.order.user != caller.user && !caller.master {
        return Err(CommerceError::coded(
            ErrorCode::NotTheBuyer,
            "only the buyer may cancel an order",
        ));
    }
    guard
        .order
        .check_transition(OrderStatus::Cancel, c.now_ms())
        .map_err(|refused| CommerceError::Transition {
            refused,
            cancel: true,
        })?;
    cancel_locked(c, &mut guard, ReleaseReason::Cancelled).await
}

/// Give the money of a completed order back through the provider.
async fn refund_payment(c: &Commerce, order: &Order) -> CommerceResult<()> {
    let Some((tid, amount)) = payment_store::completed_payment(&c.db, order.id).await? else {
        if order.pay_amount == 0 {
            return Ok(());
        }
        return Err(CommerceError::coded(
            ErrorCode::PaymentNotRefundable,
            "no completed payment to refund",
        ));
    };
    let cancelled = c
        .payments
        .cancel(CancelRequest {
            tid: tid.clone(),
            cancel_amount: amount,
        })
        .await
        .map_err(|e| match e {
            PaymentError::Declined(m) => CommerceError::coded(
                ErrorCode::PaymentNotRefundable,
                format!("the refund was refused: {m}"),
            ),
            other => CommerceError::ProviderUnavailable(other.to_string()),
        })?;
    payment_store::mark_refunded(&c.db, &tid, cancelled.canceled_amount, c.now_ms()).await?;
    Ok(())
}

/// Refund a paid order (its buyer or a MASTER) within 24 hours of its payment: the payment is
/// cancelled at the provider, the stock restocked and the coupon recovered (while it is valid).
pub async fn refund(c: &Commerce, caller: &Caller, id: OrderId) -> CommerceResult<()> {
    let entry = visible_order(c, caller, id).await?;
    let mut guard = entry.lock().await;
    if guard.order.user != caller.user && !caller.master {
        return Err(CommerceError::coded(
            ErrorCode::NotTheBuyer,
            "only the buyer may refund an order",
        ));
    }
    let now = c.now_ms();
    guard
        .order
        .check_transition(OrderStatus::Refund, now)
        .map_err(|refused| CommerceError::Transition {
            refused,
            cancel: false,
        })?;
    refund_payment(c, &guard.order).await?;
    for line in &guard.order.lines {
        let outcome = c
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
    if let Some(coupon) = guard.order.coupon
        && now < coupon.expires_at_ms
    {
        c.engine
            .recover_coupon(coupon.campaign, guard.order.user, guard.order.id)
            .await?;
    }
    c.engine
        .set_order_status(&mut guard, OrderStatus::Refund)
        .await?;
    metrics::counter!("hotdeal_orders_total", "outcome" => "refunded").increment(1);
    Ok(())
}

/// One page of `owner`'s orders (optionally of one status; `tail`: ORDER BY and LIMIT) with the
/// total count, after the write-behind caught up (read-your-writes).
pub async fn list(
    c: &Commerce,
    owner: UserId,
    status: Option<OrderStatus>,
    tail: &str,
) -> CommerceResult<(Vec<Order>, i64)> {
    // Read-your-writes: orders just placed are in the database once the write-behind caught up.
    c.wait_for_writebehind().await;
    let (ids, total) = order_store::order_ids(&c.db, owner, status, tail).await?;
    let mut orders = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(entry) = c.engine.order(id).await? {
            orders.push(entry.lock().await.order.clone());
        }
    }
    Ok((orders, total))
}

/// Cancel orders whose payment deadline passed (and orders whose reservation the items' own
/// safety-net expiry released). Runs until the returned guard is dropped.
pub fn spawn_sweeper(c: Commerce, every: Duration) -> crate::actors::ticker::CancelOnDrop {
    let mut expired = c.engine.take_expired_receiver();
    crate::actors::ticker::CancelOnDrop(tokio::spawn(async move {
        let mut tick = tokio::time::interval(every.max(Duration::from_millis(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let now = c.now_ms();
                    for entry in c.engine.orders_due(now) {
                        let mut guard = entry.lock().await;
                        if guard.order.status.is_active() && guard.order.deadline_ms <= now {
                            let id = guard.order.id;
                            match cancel_locked(&c, &mut guard, ReleaseReason::Expired).await {
                                Ok(()) => {
                                    tracing::info!(order = %id, "order cancelled: payment deadline passed");
                                }
                                Err(e) => tracing::warn!(order = %id, error = %e, "could not expire an order; retrying next tick"),
                            }
                        }
                    }
                    let evicted = c.engine.evict_settled_orders();
                    if evicted > 0 {
                        tracing::debug!(evicted, "settled orders dropped from memory");
                    }
                    metrics::gauge!("hotdeal_orders_in_memory").set(c.engine.orders_in_memory() as f64);
                }
                Some(e) = async { match expired.as_mut() { Some(rx) => rx.recv().await, None => std::future::pending().await } } => {
                    if let Ok(Some(entry)) = c.engine.order(e.order).await {
                        let mut guard = entry.lock().await;
                        if guard.order.status.is_active() {
                            let _ = cancel_locked(&c, &mut guard, ReleaseReason::Expired).await;
                        }
                    }
                }
            }
        }
    }))
}
