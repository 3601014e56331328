//! Payments (`/api/v1/payments`, and the browser redirect pages `/payment/success|fail|cancel`):
//! ready moves an order CREATE -> PENDING, approval confirms its reserved stock and completes it,
//! failure, cancellation or a provider timeout cancels it and releases the stock.
//!
//! The redirect pages can be opened by anyone who knows an order id (it travels in URLs), so they
//! change nothing without proof of the payment: the random per-payment nonce we put into the URLs
//! handed to the provider (compared in constant time), or the session of the order's owner. A
//! pg_token the provider refuses never cancels an order, and confirming an approved payment again
//! with its pg_token answers the same success.

use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::ToSchema;
use uuid::Uuid;

use super::orders::{cancel_locked, visible_order};
use crate::accounts::rules::constant_time_eq;
use crate::domain::event::ReleaseReason;
use crate::domain::ids::{ItemId, OrderId, UserId};
use crate::domain::item::ItemOutcome;
use crate::domain::order::{Order, OrderStatus, TransitionRefused};
use crate::engine::OrderEntry;
use crate::http::AppState;
use crate::http::auth::{AuthUser, MaybeAuthUser};
use crate::http::envelope::{ApiJson, Envelope, Reply};
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{Path, Query};
use crate::http::page::{Page, PageQuery};
use crate::payments::{
    ApproveRequest, CancelRequest, PaymentError, ReadyRequest, append_query_param,
};
use crate::persistence::repo::uuid_col;

/// `{orderId}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReadyBody {
    pub order_id: Uuid,
}

/// Where to send the shopper to pay.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReadyView {
    pub payment_id: Uuid,
    pub tid: String,
    pub next_redirect_pc_url: String,
    pub next_redirect_mobile_url: String,
    pub created_at: String,
}

/// The query parameter of the redirect URLs that carries the payment's redirect nonce.
const NONCE_PARAM: &str = "nonce";

/// A fresh per-payment secret for the redirect URLs: 128 random bits from the thread's CSPRNG,
/// as 32 lowercase hex characters (URL-safe as it is).
fn new_redirect_nonce() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// The answer to a provider call that failed and ended the order (a `ready`, or an approval with
/// [`Proof::Payment`] the provider did not answer): the order was cancelled.
fn provider_failure(e: &PaymentError) -> ApiError {
    match e {
        PaymentError::Declined(m) => {
            ApiError::conflict("PA005", format!("the payment was declined: {m}"))
        }
        PaymentError::Timeout => ApiError::conflict(
            "PA005",
            "the payment provider timed out; the order was cancelled",
        ),
        PaymentError::Unavailable(_) => ApiError::conflict(
            "PA005",
            "the payment provider is unavailable; the order was cancelled",
        ),
    }
}

fn base_url(state: &AppState) -> String {
    state.public_base_url.trim_end_matches('/').to_string()
}

/// Prepare the payment of one's order (CREATE -> PENDING) and get the provider's page.
///
/// Send the shopper to `nextRedirectPcUrl` (or the mobile one). The provider sends the browser
/// back to `/payment/success`, `/payment/fail` or `/payment/cancel` with the payment's secret
/// nonce. Preparing an order that is already PENDING hands back the same payment. A provider
/// that refuses or does not answer ends the order (its stock is released).
#[utoipa::path(post, path = "/api/v1/payments", tag = "payments", request_body = ReadyBody,
    security(("bearer" = [])),
    responses((status = 201, description = "payment ready; redirect the shopper", body = Envelope<ReadyView>),
        (status = 403, description = "`PA006`: only the buyer pays for an order", body = ErrorBody),
        (status = 404, description = "`O001`: no such order of the caller's", body = ErrorBody),
        (status = 409, description = "`PA002`: the order is not waiting for a payment (paid, cancelled, refunded or past its deadline); `PA005`: the provider declined, timed out or is unavailable, and the order was cancelled", body = ErrorBody),
        (status = 503, description = "`ENGINE_BUSY`, `ENGINE_BACKLOGGED`, `JOURNAL_UNAVAILABLE`: the engine cannot take the change now", body = ErrorBody)))]
pub async fn ready(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<ReadyBody>,
) -> ApiResult<Reply<ReadyView>> {
    let entry = visible_order(&state, &user, &body.order_id.to_string()).await?;
    let mut guard = entry.lock().await;
    if guard.order.user != user.user_id {
        return Err(ApiError::forbidden(
            "PA006",
            "only the buyer may pay for an order",
        ));
    }
    if guard.order.status == OrderStatus::Pending {
        // Already prepared: hand back the same payment.
        let row = sqlx::query("SELECT id, tid, pay_url, created_at FROM p_payment WHERE order_id = ? AND status = 'PENDING'")
            .bind(guard.order.id.to_string())
            .fetch_optional(&state.db.pool)
            .await?;
        if let Some(r) = row {
            let url: Option<String> = r.try_get("pay_url")?;
            return Ok(Reply::created(
                "결제가 준비되었습니다.",
                ReadyView {
                    payment_id: uuid_col(&r, "id")?,
                    tid: r.try_get("tid")?,
                    next_redirect_pc_url: url.clone().unwrap_or_default(),
                    next_redirect_mobile_url: url.unwrap_or_default(),
                    created_at: super::orders::rfc3339(r.try_get("created_at")?),
                },
            ));
        }
    }
    guard
        .order
        .check_transition(OrderStatus::Pending, state.now_ms())
        .map_err(|_| {
            ApiError::conflict(
                "PA002",
                format!(
                    "an order in status {} cannot be paid",
                    guard.order.status.as_str()
                ),
            )
        })?;
    let base = base_url(&state);
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
        user_id: user.user_id.0,
        item_name: guard.order.name.clone(),
        quantity: guard.order.units(),
        total_amount: guard.order.pay_amount,
        approval_url: redirect("/payment/success"),
        cancel_url: redirect("/payment/cancel"),
        fail_url: redirect("/payment/fail"),
    };
    let ready = match state.payments.ready(request).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(order = %order_id, error = %e, "payment ready failed; cancelling the order");
            cancel_locked(&state, &mut guard, ReleaseReason::PaymentFailed).await?;
            return Err(provider_failure(&e));
        }
    };
    let payment_id = Uuid::now_v7();
    let now = state.now_ms();
    sqlx::query(
        "INSERT INTO p_payment (id, order_id, user_id, status, amount, refund_amount, tid, pay_url, provider, \
         redirect_nonce, created_at, created_by, updated_at, updated_by) \
         VALUES (?, ?, ?, 'PENDING', ?, 0, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(payment_id.to_string())
    .bind(order_id.to_string())
    .bind(user.user_id.to_string())
    .bind(guard.order.pay_amount)
    .bind(&ready.tid)
    .bind(&ready.redirect_pc_url)
    .bind(state.payments.name())
    .bind(&nonce)
    .bind(now)
    .bind(&user.email)
    .bind(now)
    .bind(&user.email)
    .execute(&state.db.pool)
    .await?;
    state
        .engine
        .set_order_status(&mut guard, OrderStatus::Pending)
        .await?;
    Ok(Reply::created(
        "결제가 준비되었습니다.",
        ReadyView {
            payment_id,
            tid: ready.tid,
            next_redirect_pc_url: ready.redirect_pc_url,
            next_redirect_mobile_url: ready.redirect_mobile_url,
            created_at: ready.created_at,
        },
    ))
}

/// The approval, as the seed's confirm endpoint answered it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApprovalView {
    pub aid: String,
    pub tid: String,
    #[serde(rename = "orderId")]
    pub order_id: Uuid,
    pub status: String,
    pub payment_method_type: String,
    pub approved_at: String,
    pub amount: AmountView,
}

/// `{total}` (the fields the seed used).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AmountView {
    pub total: i64,
}

/// What `p_payment` holds about an order's payment (one per order).
struct PaymentRow {
    tid: String,
    status: String,
    /// The secret of the redirect URLs (`None` for payments readied before there was one).
    nonce: Option<String>,
    /// The first approval's [`ApprovalView`], as JSON.
    approval: Option<String>,
    /// The pg_token that approved the payment.
    approval_token: Option<String>,
}

async fn payment_of_order(state: &AppState, order: OrderId) -> ApiResult<Option<PaymentRow>> {
    let row = sqlx::query(
        "SELECT tid, status, redirect_nonce, approval, approval_token FROM p_payment WHERE order_id = ?",
    )
    .bind(order.to_string())
    .fetch_optional(&state.db.pool)
    .await?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some(PaymentRow {
        tid: r.try_get("tid")?,
        status: r.try_get("status")?,
        nonce: r.try_get("redirect_nonce")?,
        approval: r.try_get("approval")?,
        approval_token: r.try_get("approval_token")?,
    }))
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
    payment: &PaymentRow,
    owner: UserId,
    nonce: Option<&str>,
    caller: Option<&AuthUser>,
    token_only: bool,
) -> Option<Proof> {
    let owner_session = caller.is_some_and(|c| c.user_id == owner);
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
fn replay_approval(payment: &PaymentRow, pg_token: &str) -> ApiResult<ApprovalView> {
    match (
        payment.approval.as_deref(),
        payment.approval_token.as_deref(),
    ) {
        (Some(body), Some(token)) if constant_time_eq(token, pg_token) => {
            serde_json::from_str(body).map_err(|e| {
                ApiError::internal(anyhow::anyhow!("stored approval is not readable: {e}"))
            })
        }
        _ => Err(ApiError::conflict(
            "PA005",
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
    state: &AppState,
    guard: &mut OrderEntry,
    payment: &PaymentRow,
    pg_token: &str,
    proof: Proof,
) -> ApiResult<ApprovalView> {
    let order_id = guard.order.id;
    match payment.status.as_str() {
        "COMPLETE" => return replay_approval(payment, pg_token),
        "PENDING" => {}
        other => {
            return Err(ApiError::conflict(
                "PA005",
                format!("a payment in status {other} cannot be approved"),
            ));
        }
    }
    if guard.order.status != OrderStatus::Pending {
        return Err(ApiError::conflict(
            "PA005",
            format!(
                "an order in status {} cannot be approved",
                guard.order.status.as_str()
            ),
        ));
    }
    if let Err(TransitionRefused::DeadlinePassed) = guard
        .order
        .check_transition(OrderStatus::Complete, state.now_ms())
    {
        cancel_locked(state, guard, ReleaseReason::Expired).await?;
        return Err(ApiError::conflict(
            "PA005",
            "the payment deadline passed; the order was cancelled",
        ));
    }
    let approval = match state
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
            return Err(ApiError::conflict(
                "PA005",
                format!("the payment was declined: {m}; the order still waits for its payment"),
            ));
        }
        Err(e) if proof == Proof::Payment => {
            tracing::warn!(order = %order_id, error = %e, "payment approval failed; cancelling the order");
            cancel_locked(state, guard, ReleaseReason::PaymentFailed).await?;
            return Err(provider_failure(&e));
        }
        Err(e) => {
            tracing::warn!(order = %order_id, error = %e, "payment approval failed; nothing changed");
            return Err(ApiError::unavailable(
                "PAYMENT_PROVIDER_UNAVAILABLE",
                format!("{e}; nothing was changed, retry shortly"),
                5,
            ));
        }
    };
    let items: Vec<ItemId> = guard.order.lines.iter().map(|l| l.item).collect();
    let confirmed = state.engine.confirm_order(order_id, &items).await?;
    if confirmed
        .iter()
        .any(|(_, o)| !matches!(o, ItemOutcome::Confirmed { .. }))
    {
        // The stock was no longer held (it cannot normally happen before the deadline): give
        // the money back and cancel.
        tracing::error!(order = %order_id, ?confirmed, "approved payment without reserved stock; refunding");
        let _ = state
            .payments
            .cancel(CancelRequest {
                tid: payment.tid.clone(),
                cancel_amount: approval.amount_total,
            })
            .await;
        cancel_locked(state, guard, ReleaseReason::Cancelled).await?;
        return Err(ApiError::conflict(
            "PA005",
            "the reserved stock was released; the payment was refunded",
        ));
    }
    state
        .engine
        .set_order_status(guard, OrderStatus::Complete)
        .await?;
    let view = ApprovalView {
        aid: approval.aid,
        tid: approval.tid,
        order_id: order_id.0,
        status: "COMPLETE".into(),
        payment_method_type: approval.payment_method_type,
        approved_at: approval.approved_at,
        amount: AmountView {
            total: approval.amount_total,
        },
    };
    let stored = serde_json::to_string(&view).map_err(anyhow::Error::from)?;
    sqlx::query(
        "UPDATE p_payment SET status = 'COMPLETE', approved_at = ?, updated_at = ?, approval = ?, \
         approval_token = ? WHERE order_id = ? AND tid = ?",
    )
    .bind(state.now_ms())
    .bind(state.now_ms())
    .bind(stored)
    .bind(pg_token)
    .bind(order_id.to_string())
    .bind(&payment.tid)
    .execute(&state.db.pool)
    .await?;
    metrics::counter!("hotdeal_orders_total", "outcome" => "paid").increment(1);
    Ok(view)
}

async fn payment_by_tid(state: &AppState, tid: &str) -> ApiResult<OrderId> {
    let row = sqlx::query("SELECT order_id FROM p_payment WHERE tid = ?")
        .bind(tid)
        .fetch_optional(&state.db.pool)
        .await?
        .ok_or_else(|| ApiError::not_found("PA001", "payment not found"))?;
    Ok(OrderId(uuid_col(&row, "order_id")?))
}

fn payment_not_found() -> ApiError {
    ApiError::not_found("PA001", "payment not found")
}

/// `{pgToken, tid}`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = PaymentConfirmBody)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmBody {
    pub pg_token: String,
    pub tid: String,
}

/// Approve a payment with the provider's `pg_token` (the seed's confirm call).
///
/// The order becomes COMPLETE and its reserved stock sold. Idempotent: confirming an approved
/// payment again with the token that approved it answers the same success (the redirect page
/// `/payment/success` may have approved it already). A declined token changes nothing: the
/// order keeps waiting for its payment until its deadline.
#[utoipa::path(post, path = "/api/v1/payments/confirm", tag = "payments", request_body = ConfirmBody,
    security(("bearer" = [])),
    responses((status = 200, description = "approved (or approved before with this pgToken: the same answer); the order is COMPLETE", body = Envelope<ApprovalView>),
        (status = 400, description = "`PA002`: pgToken or tid blank", body = ErrorBody),
        (status = 404, description = "`PA001`: no such payment of the caller's", body = ErrorBody),
        (status = 409, description = "`PA005`: declined (nothing changed), approved before with another token, not pending, or past the deadline (the order was cancelled)", body = ErrorBody),
        (status = 503, description = "`ENGINE_BUSY`, `ENGINE_BACKLOGGED`, `JOURNAL_UNAVAILABLE`: the engine cannot take the change now", body = ErrorBody)))]
pub async fn confirm(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<ConfirmBody>,
) -> ApiResult<Reply<ApprovalView>> {
    if body.pg_token.trim().is_empty() || body.tid.trim().is_empty() {
        return Err(ApiError::bad_request(
            "PA002",
            "pgToken and tid are required",
        ));
    }
    let order = payment_by_tid(&state, &body.tid).await?;
    let entry = state
        .engine
        .order(order)
        .await?
        .ok_or_else(payment_not_found)?;
    let mut guard = entry.lock().await;
    if guard.order.user != user.user_id {
        return Err(payment_not_found());
    }
    let payment = payment_of_order(&state, order)
        .await?
        .filter(|p| p.tid == body.tid)
        .ok_or_else(payment_not_found)?;
    let view = approve(&state, &mut guard, &payment, &body.pg_token, Proof::Payment).await?;
    Ok(Reply::ok("결제가 승인되었습니다.", view))
}

/// Query of the redirect pages.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RedirectQuery {
    pub order_id: Option<Uuid>,
    /// KakaoPay's own parameter name.
    #[serde(rename = "pg_token")]
    pub pg_token: Option<String>,
    /// The payment's redirect nonce, as put into the URLs handed to the provider.
    pub nonce: Option<String>,
}

fn page(title: &str, message: &str) -> Html<String> {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body style=\"font-family:sans-serif;max-width:32rem;margin:4rem auto\"><h1>{t}</h1><p>{m}</p></body></html>",
        t = esc(title),
        m = esc(message)
    ))
}

/// `e` as an HTML page with its status (and its `Retry-After`, if any).
fn error_page(title: &str, e: ApiError) -> Response {
    let (status, message) = (e.status(), e.message().to_string());
    // The JSON answer logs the cause once and knows the Retry-After.
    let json = e.into_response();
    let mut response = (status, page(title, &message)).into_response();
    if let Some(retry) = json.headers().get(axum::http::header::RETRY_AFTER) {
        response
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, retry.clone());
    }
    response
}

fn incomplete_link(title: &str) -> Response {
    (
        axum::http::StatusCode::BAD_REQUEST,
        page(title, "The payment link is incomplete."),
    )
        .into_response()
}

/// The provider's success redirect: approves the payment on the server (an HTML page).
///
/// The provider sends the browser here with `pg_token` and the `orderId` and `nonce` this
/// service put into the URL. Without the payment's nonce (or the session of the order's owner)
/// nothing happens; a token the provider refuses changes nothing; opening the page again after
/// the approval shows the same success. A client may still call `POST /api/v1/payments/confirm`
/// afterwards: it answers the same approval.
#[utoipa::path(get, path = "/payment/success", tag = "payment pages",
    params(("orderId" = Option<Uuid>, Query, description = "the order"),
        ("pg_token" = Option<String>, Query, description = "the provider's approval token"),
        ("nonce" = Option<String>, Query, description = "the payment's secret, from the redirect URL")),
    security((), ("bearer" = [])),
    responses((status = 200, description = "paid", content_type = "text/html", body = String),
        (status = 400, description = "the link is incomplete (an HTML page); `INVALID_QUERY`: orderId is not a UUID", content((String = "text/html"), (ErrorBody = "application/json"))),
        (status = 401, description = "`UNAUTHORIZED`, `TOKEN_REVOKED`: a bearer token was sent and is not valid", body = ErrorBody),
        (status = 404, description = "`PA001`: no such payment, or no proof of it (an HTML page)", content_type = "text/html", body = String),
        (status = 409, description = "`PA005`: declined (nothing changed), already approved with another token, not pending, or past the deadline (an HTML page)", content_type = "text/html", body = String),
        (status = 503, description = "`SERVICE_UNAVAILABLE`, `PAYMENT_PROVIDER_UNAVAILABLE`, `ENGINE_BUSY`: retry after Retry-After (an HTML page)", content_type = "text/html", body = String)))]
pub async fn success_page(
    State(state): State<AppState>,
    caller: MaybeAuthUser,
    Query(q): Query<RedirectQuery>,
) -> Response {
    let title = "Payment failed";
    let (Some(order), Some(token)) = (q.order_id, q.pg_token.as_deref()) else {
        return incomplete_link(title);
    };
    let result = approve_from_redirect(
        &state,
        OrderId(order),
        token,
        q.nonce.as_deref(),
        caller.0.as_ref(),
    )
    .await;
    match result {
        Ok(v) => page(
            "Payment complete",
            &format!(
                "Your order {} is paid ({} won).",
                v.order_id, v.amount.total
            ),
        )
        .into_response(),
        Err(e) => error_page(title, e),
    }
}

async fn approve_from_redirect(
    state: &AppState,
    order: OrderId,
    pg_token: &str,
    nonce: Option<&str>,
    caller: Option<&AuthUser>,
) -> ApiResult<ApprovalView> {
    let entry = state
        .engine
        .order(order)
        .await?
        .ok_or_else(payment_not_found)?;
    let mut guard = entry.lock().await;
    let payment = payment_of_order(state, order)
        .await?
        .ok_or_else(payment_not_found)?;
    let proof =
        proof_of(&payment, guard.order.user, nonce, caller, true).ok_or_else(payment_not_found)?;
    approve(state, &mut guard, &payment, pg_token, proof).await
}

/// What a cancel or fail page did.
enum RedirectEnd {
    /// The order was waiting for its payment and is cancelled now.
    Cancelled,
    /// The order had already left the waiting states (paid, cancelled, expired): unchanged.
    AlreadyEnded(OrderStatus),
}

async fn end_from_redirect(
    state: &AppState,
    order: OrderId,
    nonce: Option<&str>,
    caller: Option<&AuthUser>,
) -> ApiResult<RedirectEnd> {
    let entry = state
        .engine
        .order(order)
        .await?
        .ok_or_else(payment_not_found)?;
    let mut guard = entry.lock().await;
    let payment = payment_of_order(state, order)
        .await?
        .ok_or_else(payment_not_found)?;
    proof_of(&payment, guard.order.user, nonce, caller, false).ok_or_else(payment_not_found)?;
    if !guard.order.status.is_active() {
        return Ok(RedirectEnd::AlreadyEnded(guard.order.status));
    }
    cancel_locked(state, &mut guard, ReleaseReason::PaymentFailed).await?;
    Ok(RedirectEnd::Cancelled)
}

async fn end_by_redirect(
    state: &AppState,
    q: &RedirectQuery,
    caller: Option<&AuthUser>,
    title: &str,
) -> Response {
    let Some(order) = q.order_id else {
        return incomplete_link(title);
    };
    match end_from_redirect(state, OrderId(order), q.nonce.as_deref(), caller).await {
        Ok(RedirectEnd::Cancelled) => page(
            title,
            "The payment was not made; the order was cancelled and its items released.",
        )
        .into_response(),
        Ok(RedirectEnd::AlreadyEnded(status)) => (
            axum::http::StatusCode::CONFLICT,
            page(
                title,
                &format!(
                    "The order is already {}; nothing was changed.",
                    status.as_str()
                ),
            ),
        )
            .into_response(),
        Err(e) => error_page(title, e),
    }
}

/// The provider's cancel redirect: the shopper gave up, the order is cancelled (an HTML page).
///
/// Needs the payment's nonce from the redirect URL (or the session of the order's owner);
/// without it nothing changes. An order that is no longer waiting for its payment is left as it is.
#[utoipa::path(get, path = "/payment/cancel", tag = "payment pages",
    params(("orderId" = Option<Uuid>, Query, description = "the order"),
        ("nonce" = Option<String>, Query, description = "the payment's secret, from the redirect URL")),
    security((), ("bearer" = [])),
    responses((status = 200, description = "the order was cancelled and its items released", content_type = "text/html", body = String),
        (status = 400, description = "the link is incomplete (an HTML page); `INVALID_QUERY`: orderId is not a UUID", content((String = "text/html"), (ErrorBody = "application/json"))),
        (status = 401, description = "`UNAUTHORIZED`, `TOKEN_REVOKED`: a bearer token was sent and is not valid", body = ErrorBody),
        (status = 404, description = "`PA001`: no such payment, or no proof of it (an HTML page)", content_type = "text/html", body = String),
        (status = 409, description = "the order is already paid, cancelled or refunded: nothing changed (an HTML page)", content_type = "text/html", body = String),
        (status = 503, description = "`SERVICE_UNAVAILABLE`, `ENGINE_BUSY`: retry after Retry-After (an HTML page)", content_type = "text/html", body = String)))]
pub async fn cancel_page(
    State(state): State<AppState>,
    caller: MaybeAuthUser,
    Query(q): Query<RedirectQuery>,
) -> Response {
    end_by_redirect(&state, &q, caller.0.as_ref(), "Payment cancelled").await
}

/// The provider's failure redirect: the payment failed, the order is cancelled (an HTML page).
///
/// Needs the payment's nonce from the redirect URL (or the session of the order's owner);
/// without it nothing changes. An order that is no longer waiting for its payment is left as it is.
#[utoipa::path(get, path = "/payment/fail", tag = "payment pages",
    params(("orderId" = Option<Uuid>, Query, description = "the order"),
        ("nonce" = Option<String>, Query, description = "the payment's secret, from the redirect URL")),
    security((), ("bearer" = [])),
    responses((status = 200, description = "the order was cancelled and its items released", content_type = "text/html", body = String),
        (status = 400, description = "the link is incomplete (an HTML page); `INVALID_QUERY`: orderId is not a UUID", content((String = "text/html"), (ErrorBody = "application/json"))),
        (status = 401, description = "`UNAUTHORIZED`, `TOKEN_REVOKED`: a bearer token was sent and is not valid", body = ErrorBody),
        (status = 404, description = "`PA001`: no such payment, or no proof of it (an HTML page)", content_type = "text/html", body = String),
        (status = 409, description = "the order is already paid, cancelled or refunded: nothing changed (an HTML page)", content_type = "text/html", body = String),
        (status = 503, description = "`SERVICE_UNAVAILABLE`, `ENGINE_BUSY`: retry after Retry-After (an HTML page)", content_type = "text/html", body = String)))]
pub async fn fail_page(
    State(state): State<AppState>,
    caller: MaybeAuthUser,
    Query(q): Query<RedirectQuery>,
) -> Response {
    end_by_redirect(&state, &q, caller.0.as_ref(), "Payment failed").await
}

/// `?orderId=` of the seed's payment refund and cancel paths.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderIdQuery {
    pub order_id: Uuid,
}

/// `{orderId}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CancelledPayment {
    pub order_id: Uuid,
}

/// 404 unless `user` may see `order`, 403 unless it is its buyer or a MASTER (the checks of
/// the order's own cancel and refund, made before the payment is looked at).
async fn buyer_or_master(
    state: &AppState,
    user: &AuthUser,
    order: OrderId,
    what: &str,
) -> ApiResult<()> {
    let entry = visible_order(state, user, &order.to_string()).await?;
    let buyer = entry.lock().await.order.user;
    if buyer != user.user_id && !user.is_master() {
        return Err(ApiError::forbidden(
            "O005",
            format!("only the buyer may {what} an order"),
        ));
    }
    Ok(())
}

/// Refund a paid order by its id (the seed's refund path).
///
/// The same as `POST /api/v1/orders/{id}/refund` (the payment is cancelled at the provider, the
/// stock restocked, the coupon recovered), answered with the payment as it is afterwards.
#[utoipa::path(post, path = "/api/v1/payments/refund", tag = "payments",
    params(("orderId" = Uuid, Query, description = "the order to refund")),
    security(("bearer" = [])),
    responses((status = 200, description = "refunded; the payment's status is REFUND", body = Envelope<PaymentView>),
        (status = 403, description = "`O005`: staff other than MASTER may see but not refund another's order", body = ErrorBody),
        (status = 404, description = "`O001`: no such order of the caller's; `PA001`: the order has no payment", body = ErrorBody),
        (status = 409, description = "`PA004`: the payment is not completed, or the provider refused the refund; `O008`: already refunded or past the 24-hour refund window", body = ErrorBody),
        (status = 503, description = "`PAYMENT_PROVIDER_UNAVAILABLE`: the provider did not answer (nothing changed); `ENGINE_BUSY`, `ENGINE_BACKLOGGED`, `JOURNAL_UNAVAILABLE`: the engine cannot take the change now", body = ErrorBody)))]
pub async fn refund_by_order(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<OrderIdQuery>,
) -> ApiResult<Reply<PaymentView>> {
    let order = OrderId(q.order_id);
    buyer_or_master(&state, &user, order, "refund").await?;
    let payment = payment_of_order(&state, order)
        .await?
        .ok_or_else(payment_not_found)?;
    if payment.status != "COMPLETE" {
        return Err(ApiError::conflict(
            "PA004",
            format!("a payment in status {} cannot be refunded", payment.status),
        ));
    }
    super::orders::refund_order(&state, &user, &order.to_string()).await?;
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{PAYMENT_SELECT} WHERE order_id = ?"
    )))
    .bind(order.to_string())
    .fetch_optional(&state.db.pool)
    .await?
    .ok_or_else(payment_not_found)?;
    Ok(Reply::ok("결제가 환불되었습니다.", payment_view(&row)?))
}

/// Cancel the pending payment of an order, and so the order (the seed's cancel path).
///
/// Only a payment still waiting for its approval (PENDING) is cancelled; the order is cancelled
/// with it (stock released, coupon recovered), as `POST /api/v1/orders/{id}/cancel` does. A paid
/// order is refunded with `POST /api/v1/payments/refund?orderId=` instead.
#[utoipa::path(post, path = "/api/v1/payments/cancel", tag = "payments",
    params(("orderId" = Uuid, Query, description = "the order whose payment to cancel")),
    security(("bearer" = [])),
    responses((status = 200, description = "the payment and its order are cancelled", body = Envelope<CancelledPayment>),
        (status = 403, description = "`O005`: staff other than MASTER may see but not cancel another's order", body = ErrorBody),
        (status = 404, description = "`O001`: no such order of the caller's; `PA001`: the order has no payment", body = ErrorBody),
        (status = 409, description = "`PA003`: the payment is not pending (paid: refund it with POST /api/v1/payments/refund?orderId=; or already cancelled); `O008`: the payment deadline passed", body = ErrorBody),
        (status = 503, description = "`ENGINE_BUSY`, `ENGINE_BACKLOGGED`, `JOURNAL_UNAVAILABLE`: the engine cannot take the change now", body = ErrorBody)))]
pub async fn cancel_by_order(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<OrderIdQuery>,
) -> ApiResult<Reply<CancelledPayment>> {
    let order = OrderId(q.order_id);
    buyer_or_master(&state, &user, order, "cancel").await?;
    let payment = payment_of_order(&state, order)
        .await?
        .ok_or_else(payment_not_found)?;
    match payment.status.as_str() {
        "PENDING" => {}
        "COMPLETE" => {
            return Err(ApiError::conflict(
                "PA003",
                "the payment is completed: refund it with POST /api/v1/payments/refund?orderId=",
            ));
        }
        other => {
            return Err(ApiError::conflict(
                "PA003",
                format!("a payment in status {other} cannot be cancelled"),
            ));
        }
    }
    super::orders::cancel_order(&state, &user, &order.to_string()).await?;
    Ok(Reply::ok(
        "결제가 취소되었습니다.",
        CancelledPayment { order_id: order.0 },
    ))
}

/// Mark an order's pending payment cancelled (the order was cancelled or expired).
pub async fn end_pending_payment(state: &AppState, order: OrderId) {
    let r = sqlx::query("UPDATE p_payment SET status = 'CANCEL', updated_at = ? WHERE order_id = ? AND status = 'PENDING'")
        .bind(state.now_ms())
        .bind(order.to_string())
        .execute(&state.db.pool)
        .await;
    if let Err(e) = r {
        tracing::warn!(%order, error = %e, "could not mark the payment cancelled");
    }
}

/// Give the money of a completed order back through the provider.
pub async fn refund_payment(state: &AppState, order: &Order) -> ApiResult<()> {
    let row =
        sqlx::query("SELECT tid, amount FROM p_payment WHERE order_id = ? AND status = 'COMPLETE'")
            .bind(order.id.to_string())
            .fetch_optional(&state.db.pool)
            .await?;
    let Some(row) = row else {
        if order.pay_amount == 0 {
            return Ok(());
        }
        return Err(ApiError::conflict(
            "PA004",
            "no completed payment to refund",
        ));
    };
    let tid: String = row.try_get("tid")?;
    let amount: i64 = row.try_get("amount")?;
    let cancelled = state
        .payments
        .cancel(CancelRequest {
            tid: tid.clone(),
            cancel_amount: amount,
        })
        .await
        .map_err(|e| match e {
            PaymentError::Declined(m) => {
                ApiError::conflict("PA004", format!("the refund was refused: {m}"))
            }
            other => ApiError::unavailable("PAYMENT_PROVIDER_UNAVAILABLE", other.to_string(), 5),
        })?;
    sqlx::query("UPDATE p_payment SET status = 'REFUND', refund_amount = ?, refunded_at = ?, updated_at = ? WHERE tid = ?")
        .bind(cancelled.canceled_amount)
        .bind(state.now_ms())
        .bind(state.now_ms())
        .bind(&tid)
        .execute(&state.db.pool)
        .await?;
    Ok(())
}

/// A payment.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentView {
    pub payment_id: Uuid,
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub payment_status: String,
    pub payed_amount: i64,
    pub refund_amount: i64,
    pub refunded_at: Option<String>,
    pub tid: String,
    pub pay_url: Option<String>,
}

fn payment_view(r: &sqlx::any::AnyRow) -> anyhow::Result<PaymentView> {
    Ok(PaymentView {
        payment_id: uuid_col(r, "id")?,
        order_id: uuid_col(r, "order_id")?,
        user_id: uuid_col(r, "user_id")?,
        payment_status: r.try_get("status")?,
        payed_amount: r.try_get("amount")?,
        refund_amount: r.try_get("refund_amount")?,
        refunded_at: r
            .try_get::<Option<i64>, _>("refunded_at")?
            .map(super::orders::rfc3339),
        tid: r.try_get("tid")?,
        pay_url: r.try_get("pay_url")?,
    })
}

const PAYMENT_SELECT: &str = "SELECT id, order_id, user_id, status, amount, refund_amount, refunded_at, tid, pay_url FROM p_payment";

/// One's payments, a page at a time.
///
/// `sort` by `createdAt` (default, newest first) or `amount`.
#[utoipa::path(get, path = "/api/v1/payments", tag = "payments",
    params(("page" = Option<i64>, Query, description = "0-based page"), ("size" = Option<i64>, Query, description = "page size (default 10)"),
        ("sort" = Option<String>, Query, description = "createdAt|amount, asc|desc")),
    security(("bearer" = [])),
    responses((status = 200, description = "a page of the caller's payments", body = Envelope<Page<PaymentView>>),
        (status = 400, description = "`008`: page, size or sort out of range", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<PageQuery>,
) -> ApiResult<Reply<Page<PaymentView>>> {
    let req = q.validate(
        &[("createdAt", "created_at"), ("amount", "amount")],
        10,
        state.config.page_limits(),
        "008",
    )?;
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM p_payment WHERE user_id = ?")
        .bind(user.user_id.to_string())
        .fetch_one(&state.db.pool)
        .await?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{PAYMENT_SELECT} WHERE user_id = ?{}",
        req.sql_tail("id")
    )))
    .bind(user.user_id.to_string())
    .fetch_all(&state.db.pool)
    .await?;
    let content = rows
        .iter()
        .map(payment_view)
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Reply::ok(
        "결제 목록 조회 성공",
        Page::new(content, total, &req),
    ))
}

/// One payment (its payer, or MASTER/MANAGER).
#[utoipa::path(get, path = "/api/v1/payments/{id}", tag = "payments",
    params(("id" = Uuid, Path, description = "payment id")), security(("bearer" = [])),
    responses((status = 200, description = "the payment", body = Envelope<PaymentView>),
        (status = 400, description = "`PA002`: not a payment id", body = ErrorBody),
        (status = 404, description = "`PA001`: no such payment of the caller's", body = ErrorBody)))]
pub async fn detail(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Reply<PaymentView>> {
    let id: Uuid = id
        .parse()
        .map_err(|_| ApiError::bad_request("PA002", "invalid payment id"))?;
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{PAYMENT_SELECT} WHERE id = ?"
    )))
    .bind(id.to_string())
    .fetch_optional(&state.db.pool)
    .await?
    .ok_or_else(|| ApiError::not_found("PA001", "payment not found"))?;
    let view = payment_view(&row)?;
    if UserId(view.user_id) != user.user_id && !user.role.is_staff() {
        return Err(ApiError::not_found("PA001", "payment not found"));
    }
    Ok(Reply::ok("결제 조회 성공", view))
}
