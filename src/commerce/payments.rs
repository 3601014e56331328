//! The payment steps: ready moves an order CREATE -> PENDING, approval confirms its reserved
//! stock and completes it, failure, cancellation or a provider timeout cancels it and releases
//! the stock.
//!
//! The redirect pages can be opened by anyone who knows an order id (it travels in URLs), so
//! their steps change nothing without proof of the payment: the random per-payment nonce put
//! into the URLs handed to the provider (compared in constant time), or the session of the
//! order's owner. A pg_token the provider refuses never cancels an order, and confirming an
//! approved payment again with its pg_token answers the same success.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::orders::{buyer_or_master, cancel_locked, visible_order};
use super::{Caller, Commerce, CommerceError, CommerceResult};
use crate::accounts::rules::constant_time_eq;
use crate::domain::clock::rfc3339;
use crate::domain::event::ReleaseReason;
use crate::domain::ids::{ItemId, OrderId, UserId};
use crate::domain::item::ItemOutcome;
use crate::domain::order::{OrderStatus, TransitionRefused};
use crate::engine::OrderEntry;
use crate::error_code::ErrorCode;
use crate::payments::{
    ApproveRequest, CancelRequest, PaymentError, ReadyRequest, append_query_param,
};
use crate::persistence::payments::{self as payment_store, NewPayment, Payment, PaymentState};

/// The query parameter of the redirect URLs that carries the payment's redirect nonce.
const NONCE_PARAM: &str = "nonce";

/// A fresh per-payment secret for the redirect URLs: 128 random bits from the thread's CSPRNG,
/// as 32 lowercase hex characters (URL-safe as it is).
fn new_redirect_nonce() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// A readied payment: where to send the shopper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadyPayment {
    pub payment_id: Uuid,
    pub tid: String,
    pub redirect_pc_url: String,
    pub redirect_mobile_url: String,
    /// RFC 3339.
    pub created_at: String,
}

/// An approval, as the seed's confirm endpoint answered it; stored as this JSON with the
/// payment so that a repeat gets the same answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub aid: String,
    pub tid: String,
    #[serde(rename = "orderId")]
    pub order_id: Uuid,
    pub status: String,
    pub payment_method_type: String,
    pub approved_at: String,
    pub amount: ApprovalAmount,
}

/// `{total}` (the fields the seed used).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalAmount {
    pub total: i64,
}

/// Prepare the payment of one's order (CREATE -> PENDING). An order already PENDING hands back
/// the same payment; a provider that refuses or does not answer ends the order.
pub async fn ready(c: &Commerce, caller: &Caller, order: OrderId) -> CommerceResult<ReadyPayment> {
    let entry = visible_order(c, caller, order).await?;
    let mut guard = entry.lock().await;
    if guard.order.user != caller.user {
        return Err(CommerceError::coded(
            ErrorCode::NotThePayer,
            "only the buyer may pay for an order",
        ));
    }
    if guard.order.status == OrderStatus::Pending
        && let Some(p) = payment_store::pending_payment(&c.db, guard.order.id).await?
    {
        // Already prepared: hand back the same payment.
        return Ok(ReadyPayment {
            payment_id: p.id,
            tid: p.tid,
            redirect_pc_url: p.pay_url.clone().unwrap_or_default(),
            redirect_mobile_url: p.pay_url.unwrap_or_default(),
            created_at: rfc3339(p.created_at),
        });
    }
    if guard
        .order
        .check_transition(OrderStatus::Pending, c.now_ms())
        .is_err()
    {
        return Err(CommerceError::coded(
            ErrorCode::OrderNotPayable,
            format!(
                "an order in status {} cannot be paid",
                guard.order.status.as_str()
            ),
        ));
    }
    let base = c.public_base_url.trim_end_matches('/').to_string();
    let order_id = guard.order.id;
    // Every result page the provider sends the browser to carries the payment's nonce: opening
    // one without it (knowing only the order id) changes nothing.
    let nonce = new_redirect_nonce();
    let redirect = |path: &str| {
        let url = append_query_param(&format!("{base}{path}"), "orderId", &order_id.to_string());
        append_query_param(&url, NONCE_PARAM, &nonce)
    };
    let request = ReadyRequest {
        order_id: order_id.0,
        user_id: caller.user.0,
        item_name: guard.order.name.clone(),
        quantity: guard.order.units(),
        total_amount: guard.order.pay_amount,
        approval_url: redirect("/payment/success"),
        cancel_url: redirect("/payment/cancel"),
        fail_url: redirect("/payment/fail"),
    };
    let ready = match c.payments.ready(request).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(order = %order_id, error = %e, "payment ready failed; cancelling the order");
            cancel_locked(c, &mut guard, ReleaseReason::PaymentFailed).await?;
            return Err(CommerceError::PaymentEnded(e));
        }
    };
    let payment_id = Uuid::now_v7();
    payment_store::insert_payment(
        &c.db,
        &NewPayment {
            id: payment_id,
            order: order_id,
            user: caller.user,
            amount: guard.order.pay_amount,
            tid: &ready.tid,
            pay_url: &ready.redirect_pc_url,
            provider: c.payments.name(),
            nonce: &nonce,
            by: &caller.email,
            now_ms: c.now_ms(),
        },
    )
    .await?;
    c.engine
        .set_order_status(&mut guard, OrderStatus::Pending)
        .await?;
    Ok(ReadyPayment {
        payment_id,
        tid: ready.tid,
        redirect_pc_url: ready.redirect_pc_url,
        redirect_mobile_url: ready.redirect_mobile_url,
        created_at: ready.created_at,
    })
}

/// What the caller of a payment step proved about the payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proof {
    /// The payment's redirect nonce, or the session of the order's owner: a failed approval may
    /// end the order, and a result page may cancel it.
    Payment,
    /// Nothing but a pg_token, for a payment readied before redirect nonces existed: the provider
    /// checks the token, and nothing is changed here when it refuses or does not answer.
    TokenOnly,
}

/// The proof a request holds for `payment` of an order owned by `owner`, if any. `token_only`:
/// whether a payment without a nonce may still be approved on a pg_token alone.
fn proof_of(
    payment: &PaymentState,
    owner: UserId,
    nonce: Option<&str>,
    caller: Option<&Caller>,
    token_only: bool,
) -> Option<Proof> {
    let owner_session = caller.is_some_and(|c| c.user == owner);
    let nonce_matches = match (payment.nonce.as_deref(), nonce) {
        (Some(stored), Some(given)) => constant_time_eq(stored, given),
        _ => false,
    };
    if owner_session || nonce_matches {
        Some(Proof::Payment)
    } else if token_only && payment.nonce.is_none() {
        Some(Proof::TokenOnly)
    } else {
        None
    }
}

/// The same answer again for a payment already approved with `pg_token`.
fn replay_approval(payment: &PaymentState, pg_token: &str) -> CommerceResult<Approval> {
    match (
        payment.approval.as_deref(),
        payment.approval_token.as_deref(),
    ) {
        (Some(body), Some(token)) if constant_time_eq(token, pg_token) => {
            serde_json::from_str(body).map_err(|e| {
                CommerceError::Internal(anyhow::anyhow!("stored approval is not readable: {e}"))
            })
        }
        _ => Err(CommerceError::coded(
            ErrorCode::PaymentFailed,
            "the payment is already approved",
        )),
    }
}

/// Approve the payment of a PENDING order (the caller holds the order's lock): exactly once,
/// whatever races it; the same answer again to a repeat with the approving pg_token.
///
/// A refused approval (a wrong pg_token among others) changes nothing: the order keeps waiting
/// for its payment until its deadline. A provider that did not answer ends the order only for
/// a caller with [`Proof::Payment`].
async fn approve(
    c: &Commerce,
    guard: &mut OrderEntry,
    payment: &PaymentState,
    pg_token: &str,
    proof: Proof,
) -> CommerceResult<Approval> {
    let order_id = guard.order.id;
    match payment.status.as_str() {
        "COMPLETE" => return replay_approval(payment, pg_token),
        "PENDING" => {}
        other => {
            return Err(CommerceError::coded(
                ErrorCode::PaymentFailed,
                format!("a payment in status {other} cannot be approved"),
            ));
        }
    }
    if guard.order.status != OrderStatus::Pending {
        return Err(CommerceError::coded(
            ErrorCode::PaymentFailed,
            format!(
                "an order in status {} cannot be approved",
                guard.order.status.as_str()
            ),
        ));
    }
    if let Err(TransitionRefused::DeadlinePassed) = guard
        .order
        .check_transition(OrderStatus::Complete, c.now_ms())
    {
        cancel_locked(c, guard, ReleaseReason::Expired).await?;
        return Err(CommerceError::coded(
            ErrorCode::PaymentFailed,
            "the payment deadline passed; the order was cancelled",
        ));
    }
    let approval = match c
        .payments
        .approve(ApproveRequest {
            tid: payment.tid.clone(),
            order_id: order_id.0,
            user_id: guard.order.user.0,
            pg_token: pg_token.to_string(),
        })
        .await
    {
        Ok(a) => a,
        Err(PaymentError::Declined(m)) => {
            tracing::info!(order = %order_id, reason = %m, "payment approval declined; the order keeps waiting");
            return Err(CommerceError::coded(
                ErrorCode::PaymentFailed,
                format!("the payment was declined: {m}; the order still waits for its payment"),
            ));
        }
        Err(e) if proof == Proof::Payment => {
            tracing::warn!(order = %order_id, error = %e, "payment approval failed; cancelling the order");
            cancel_locked(c, guard, ReleaseReason::PaymentFailed).await?;
            return Err(CommerceError::PaymentEnded(e));
        }
        Err(e) => {
            tracing::warn!(order = %order_id, error = %e, "payment approval failed; nothing changed");
            return Err(CommerceError::ProviderUnavailable(format!(
                "{e}; nothing was changed, retry shortly"
            )));
        }
    };
    let items: Vec<ItemId> = guard.order.lines.iter().map(|l| l.item).collect();
    let confirmed = c.engine.confirm_order(order_id, &items).await?;
    if confirmed
        .iter()
        .any(|(_, o)| !matches!(o, ItemOutcome::Confirmed { .. }))
    {
        // The stock was no longer held (it cannot normally happen before the deadline): give
        // the money back and cancel.
        tracing::error!(order = %order_id, ?confirmed, "approved payment without reserved stock; refunding");
        let _ = c
            .payments
            .cancel(CancelRequest {
                tid: payment.tid.clone(),
                cancel_amount: approval.amount_total,
            })
            .await;
        cancel_locked(c, guard, ReleaseReason::Cancelled).await?;
        return Err(CommerceError::coded(
            ErrorCode::PaymentFailed,
            "the reserved stock was released; the payment was refunded",
        ));
    }
    c.engine
        .set_order_status(guard, OrderStatus::Complete)
        .await?;
    let view = Approval {
        aid: approval.aid,
        tid: approval.tid,
        order_id: order_id.0,
        status: "COMPLETE".into(),
        payment_method_type: approval.payment_method_type,
        approved_at: approval.approved_at,
        amount: ApprovalAmount {
            total: approval.amount_total,
        },
    };
    let stored = serde_json::to_string(&view).map_err(anyhow::Error::from)?;
    payment_store::complete_payment(&c.db, order_id, &payment.tid, &stored, pg_token, c.now_ms())
        .await?;
    metrics::counter!("hotdeal_orders_total", "outcome" => "paid").increment(1);
    Ok(view)
}

fn payment_not_found() -> CommerceError {
    ErrorCode::PaymentNotFound.into()
}

/// Approve a payment with the provider's `pg_token` (the caller's own order).
pub async fn confirm(
    c: &Commerce,
    caller: &Caller,
    tid: &str,
    pg_token: &str,
) -> CommerceResult<Approval> {
    if pg_token.trim().is_empty() || tid.trim().is_empty() {
        return Err(CommerceError::coded(
            ErrorCode::InvalidPayment,
            "pgToken and tid are required",
        ));
    }
    let order = payment_store::order_of_tid(&c.db, tid)
        .await?
        .ok_or_else(payment_not_found)?;
    let entry = c.engine.order(order).await?.ok_or_else(payment_not_found)?;
    let mut guard = entry.lock().await;
    if guard.order.user != caller.user {
        return Err(payment_not_found());
    }
    let payment = payment_store::payment_state(&c.db, order)
        .await?
        .filter(|p| p.tid == tid)
        .ok_or_else(payment_not_found)?;
    approve(c, &mut guard, &payment, pg_token, Proof::Payment).await
}

/// Approve from the provider's success redirect: needs the payment's nonce or the owner's
/// session (or, for a payment readied without a nonce, the pg_token alone).
pub async fn approve_from_redirect(
    c: &Commerce,
    order: OrderId,
    pg_token: &str,
    nonce: Option<&str>,
    caller: Option<&Caller>,
) -> CommerceResult<Approval> {
    let entry = c.engine.order(order).await?.ok_or_else(payment_not_found)?;
    let mut guard = entry.lock().await;
    let payment = payment_store::payment_state(&c.db, order)
        .await?
        .ok_or_else(payment_not_found)?;
    let proof =
        proof_of(&payment, guard.order.user, nonce, caller, true).ok_or_else(payment_not_found)?;
    approve(c, &mut guard, &payment, pg_token, proof).await
}

/// What a cancel or fail redirect did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectEnd {
    /// The order was waiting for its payment and is cancelled now.
    Cancelled,
    /// The order had already left the waiting states (paid, cancelled, expired): unchanged.
    AlreadyEnded(OrderStatus),
}

/// End the order from the provider's cancel or fail redirect: needs the payment's nonce or the
/// owner's session.
pub async fn end_from_redirect(
    c: &Commerce,
    order: OrderId,
    nonce: Option<&str>,
    caller: Option<&Caller>,
) -> CommerceResult<RedirectEnd> {
    let entry = c.engine.order(order).await?.ok_or_else(payment_not_found)?;
    let mut guard = entry.lock().await;
    let payment = payment_store::payment_state(&c.db, order)
        .await?
        .ok_or_else(payment_not_found)?;
    proof_of(&payment, guard.order.user, nonce, caller, false).ok_or_else(payment_not_found)?;
    if !guard.order.status.is_active() {
        return Ok(RedirectEnd::AlreadyEnded(guard.order.status));
    }
    cancel_locked(c, &mut guard, ReleaseReason::PaymentFailed).await?;
    Ok(RedirectEnd::Cancelled)
}

/// Refund a paid order by its id: the order's refund, answered with the payment afterwards.
pub async fn refund_by_order(
    c: &Commerce,
    caller: &Caller,
    order: OrderId,
) -> CommerceResult<Payment> {
    buyer_or_master(c, caller, order, "refund").await?;
    let payment = payment_store::payment_state(&c.db, order)
        .await?
        .ok_or_else(payment_not_found)?;
    if payment.status != "COMPLETE" {
        return Err(CommerceError::coded(
            ErrorCode::PaymentNotRefundable,
            format!("a payment in status {} cannot be refunded", payment.status),
        ));
    }
    super::orders::refund(c, caller, order).await?;
    payment_store::payment_of_order(&c.db, order)
        .await?
        .ok_or_else(payment_not_found)
}

/// Cancel the PENDING payment of an order, and so the order.
pub async fn cancel_by_order(c: &Commerce, caller: &Caller, order: OrderId) -> CommerceResult<()> {
    buyer_or_master(c, caller, order, "cancel").await?;
    let payment = payment_store::payment_state(&c.db, order)
        .await?
        .ok_or_else(payment_not_found)?;
    match payment.status.as_str() {
        "PENDING" => {}
        "COMPLETE" => {
            return Err(CommerceError::coded(
                ErrorCode::PaymentNotCancellable,
                "the payment is completed: refund it with POST /api/v1/payments/refund?orderId=",
            ));
        }
        other => {
            return Err(CommerceError::coded(
                ErrorCode::PaymentNotCancellable,
                format!("a payment in status {other} cannot be cancelled"),
            ));
        }
    }
    super::orders::cancel(c, caller, order).await
}

/// One page of the caller's payments (`tail`: ORDER BY and LIMIT) with the total count.
pub async fn list(
    c: &Commerce,
    caller: &Caller,
    tail: &str,
) -> CommerceResult<(Vec<Payment>, i64)> {
    Ok(payment_store::list_payments(&c.db, caller.user, tail).await?)
}

/// One payment (its payer, or staff).
pub async fn detail(c: &Commerce, caller: &Caller, id: Uuid) -> CommerceResult<Payment> {
    let payment = payment_store::payment(&c.db, id)
        .await?
        .ok_or_else(payment_not_found)?;
    if UserId(payment.user_id) != caller.user && !caller.staff {
        return Err(payment_not_found());
    }
    Ok(payment)
}
