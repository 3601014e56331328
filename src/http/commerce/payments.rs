//! Payments (`/api/v1/payments`, and the browser redirect pages `/payment/success|fail|cancel`):
//! the HTTP side of the payment steps in [`crate::commerce::payments`]. Ready moves an order
//! CREATE -> PENDING, approval confirms its reserved stock and completes it, failure,
//! cancellation or a provider timeout cancels it and releases the stock.
//!
//! The redirect pages change nothing without proof of the payment (its secret nonce from the
//! URL, or the session of the order's owner); they answer with HTML pages.

use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::caller;
use crate::commerce::payments::{self as service, Approval, ReadyPayment, RedirectEnd};
use crate::domain::clock::rfc3339;
use crate::domain::ids::OrderId;
use crate::error_code::ErrorCode;
use crate::http::AppState;
use crate::http::auth::{AuthUser, MaybeAuthUser};
use crate::http::envelope::{ApiJson, Envelope, Reply};
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{Path, Query};
use crate::http::page::{Page, PageQuery};
use crate::persistence::payments::Payment;

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

impl From<ReadyPayment> for ReadyView {
    fn from(r: ReadyPayment) -> Self {
        ReadyView {
            payment_id: r.payment_id,
            tid: r.tid,
            next_redirect_pc_url: r.redirect_pc_url,
            next_redirect_mobile_url: r.redirect_mobile_url,
            created_at: r.created_at,
        }
    }
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
    let ready = service::ready(&state.commerce, &caller(&user), OrderId(body.order_id)).await?;
    Ok(Reply::created("결제가 준비되었습니다.", ready.into()))
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

impl From<Approval> for ApprovalView {
    fn from(a: Approval) -> Self {
        ApprovalView {
            aid: a.aid,
            tid: a.tid,
            order_id: a.order_id,
            status: a.status,
            payment_method_type: a.payment_method_type,
            approved_at: a.approved_at,
            amount: AmountView {
                total: a.amount.total,
            },
        }
    }
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
    let approval =
        service::confirm(&state.commerce, &caller(&user), &body.tid, &body.pg_token).await?;
    Ok(Reply::ok("결제가 승인되었습니다.", approval.into()))
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
    caller_user: MaybeAuthUser,
    Query(q): Query<RedirectQuery>,
) -> Response {
    let title = "Payment failed";
    let (Some(order), Some(token)) = (q.order_id, q.pg_token.as_deref()) else {
        return incomplete_link(title);
    };
    let who = caller_user.0.as_ref().map(caller);
    let result = service::approve_from_redirect(
        &state.commerce,
        OrderId(order),
        token,
        q.nonce.as_deref(),
        who.as_ref(),
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
        Err(e) => error_page(title, e.into()),
    }
}

/// The cancel and fail redirects: the shopper gave up or the payment failed, so the order is
/// cancelled (an HTML page titled `title`).
async fn end_by_redirect(
    state: &AppState,
    q: &RedirectQuery,
    caller_user: &MaybeAuthUser,
    title: &str,
) -> Response {
    let Some(order) = q.order_id else {
        return incomplete_link(title);
    };
    let who = caller_user.0.as_ref().map(caller);
    match service::end_from_redirect(
        &state.commerce,
        OrderId(order),
        q.nonce.as_deref(),
        who.as_ref(),
    )
    .await
    {
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
        Err(e) => error_page(title, e.into()),
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
    caller_user: MaybeAuthUser,
    Query(q): Query<RedirectQuery>,
) -> Response {
    end_by_redirect(&state, &q, &caller_user, "Payment cancelled").await
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
    caller_user: MaybeAuthUser,
    Query(q): Query<RedirectQuery>,
) -> Response {
    end_by_redirect(&state, &q, &caller_user, "Payment failed").await
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
    let payment =
        service::refund_by_order(&state.commerce, &caller(&user), OrderId(q.order_id)).await?;
    Ok(Reply::ok("결제가 환불되었습니다.", payment.into()))
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
    service::cancel_by_order(&state.commerce, &caller(&user), order).await?;
    Ok(Reply::ok(
        "결제가 취소되었습니다.",
        CancelledPayment { order_id: order.0 },
    ))
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

impl From<Payment> for PaymentView {
    fn from(p: Payment) -> Self {
        PaymentView {
            payment_id: p.id,
            order_id: p.order_id,
            user_id: p.user_id,
            payment_status: p.status,
            payed_amount: p.amount,
            refund_amount: p.refund_amount,
            refunded_at: p.refunded_at.map(rfc3339),
            tid: p.tid,
            pay_url: p.pay_url,
        }
    }
}

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
        ErrorCode::InvalidCommercePaging,
    )?;
    let (payments, total) =
        service::list(&state.commerce, &caller(&user), &req.sql_tail("id")).await?;
    let content = payments.into_iter().map(PaymentView::from).collect();
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
        .map_err(|_| ApiError::coded(ErrorCode::InvalidPayment, "invalid payment id"))?;
    let payment = service::detail(&state.commerce, &caller(&user), id).await?;
    Ok(Reply::ok("결제 조회 성공", payment.into()))
}
