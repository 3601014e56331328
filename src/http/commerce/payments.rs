//! Payments (`/api/v1/payments`, and the browser redirect pages `/payment/success|fail|cancel`):
//! ready moves an order CREATE -> PENDING, approval confirms its reserved stock and completes it,
//! failure, cancellation or a provider timeout cancels it and releases the stock.

use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::ToSchema;
use uuid::Uuid;

use super::orders::{cancel_locked, visible_order};
use crate::domain::event::ReleaseReason;
use crate::domain::ids::{ItemId, OrderId, UserId};
use crate::domain::item::ItemOutcome;
use crate::domain::order::{Order, OrderStatus, TransitionRefused};
use crate::http::AppState;
use crate::http::auth::AuthUser;
use crate::http::envelope::{ApiJson, Reply};
use crate::http::error::{ApiError, ApiResult};
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

#[utoipa::path(post, path = "/api/v1/payments", tag = "payments", request_body = ReadyBody,
    responses((status = 201, description = "payment ready; redirect the shopper"), (status = 409, body = crate::http::error::ErrorBody)))]
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
    let with_order =
        |path: &str| append_query_param(&format!("{base}{path}"), "orderId", &order_id.to_string());
    let request = ReadyRequest {
        order_id: order_id.0,
        user_id: user.user_id.0,
        item_name: guard.order.name.clone(),
        quantity: guard.order.units(),
        total_amount: guard.order.pay_amount,
        approval_url: with_order("/payment/success"),
        cancel_url: with_order("/payment/cancel"),
        fail_url: with_order("/payment/fail"),
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
         created_at, created_by, updated_at, updated_by) VALUES (?, ?, ?, 'PENDING', ?, 0, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(payment_id.to_string())
    .bind(order_id.to_string())
    .bind(user.user_id.to_string())
    .bind(guard.order.pay_amount)
    .bind(&ready.tid)
    .bind(&ready.redirect_pc_url)
    .bind(state.payments.name())
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
#[derive(Debug, Serialize, ToSchema)]
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
#[derive(Debug, Serialize, ToSchema)]
pub struct AmountView {
    pub total: i64,
}

/// Approve the payment of a PENDING order: exactly once, whatever races it.
async fn approve(
    state: &AppState,
    order_id: OrderId,
    tid: &str,
    pg_token: &str,
    caller: Option<UserId>,
) -> ApiResult<ApprovalView> {
    let entry = state
        .engine
        .order(order_id)
        .await?
        .ok_or_else(|| ApiError::not_found("PA001", "payment not found"))?;
    let mut guard = entry.lock().await;
    if let Some(c) = caller
        && c != guard.order.user
    {
        return Err(ApiError::not_found("PA001", "payment not found"));
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
        cancel_locked(state, &mut guard, ReleaseReason::Expired).await?;
        return Err(ApiError::conflict(
            "PA005",
            "the payment deadline passed; the order was cancelled",
        ));
    }
    let approval = match state
        .payments
        .approve(ApproveRequest {
            tid: tid.to_string(),
            order_id: order_id.0,
            user_id: guard.order.user.0,
            pg_token: pg_token.to_string(),
        })
        .await
    {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(order = %order_id, error = %e, "payment approval failed; cancelling the order");
            cancel_locked(state, &mut guard, ReleaseReason::PaymentFailed).await?;
            return Err(provider_failure(&e));
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
                tid: tid.to_string(),
                cancel_amount: approval.amount_total,
            })
            .await;
        cancel_locked(state, &mut guard, ReleaseReason::Cancelled).await?;
        return Err(ApiError::conflict(
            "PA005",
            "the reserved stock was released; the payment was refunded",
        ));
    }
    state
        .engine
        .set_order_status(&mut guard, OrderStatus::Complete)
        .await?;
    sqlx::query("UPDATE p_payment SET status = 'COMPLETE', approved_at = ?, updated_at = ? WHERE order_id = ? AND tid = ?")
        .bind(state.now_ms())
        .bind(state.now_ms())
        .bind(order_id.to_string())
        .bind(tid)
        .execute(&state.db.pool)
        .await?;
    metrics::counter!("hotdeal_orders_total", "outcome" => "completed").increment(1);
    Ok(ApprovalView {
        aid: approval.aid,
        tid: approval.tid,
        order_id: order_id.0,
        status: "COMPLETE".into(),
        payment_method_type: approval.payment_method_type,
        approved_at: approval.approved_at,
        amount: AmountView {
            total: approval.amount_total,
        },
    })
}

async fn payment_by_tid(state: &AppState, tid: &str) -> ApiResult<OrderId> {
    let row = sqlx::query("SELECT order_id FROM p_payment WHERE tid = ?")
        .bind(tid)
        .fetch_optional(&state.db.pool)
        .await?
        .ok_or_else(|| ApiError::not_found("PA001", "payment not found"))?;
    Ok(OrderId(uuid_col(&row, "order_id")?))
}

async fn pending_tid(state: &AppState, order: OrderId) -> ApiResult<String> {
    let row = sqlx::query("SELECT tid FROM p_payment WHERE order_id = ? AND status = 'PENDING'")
        .bind(order.to_string())
        .fetch_optional(&state.db.pool)
        .await?
        .ok_or_else(|| ApiError::not_found("PA001", "no pending payment for this order"))?;
    Ok(row.try_get("tid")?)
}

/// `{pgToken, tid}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmBody {
    pub pg_token: String,
    pub tid: String,
}

#[utoipa::path(post, path = "/api/v1/payments/confirm", tag = "payments", request_body = ConfirmBody,
    responses((status = 200, description = "approved; the order is COMPLETE"), (status = 409, body = crate::http::error::ErrorBody)))]
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
    let view = approve(&state, order, &body.tid, &body.pg_token, Some(user.user_id)).await?;
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

/// KakaoPay (or the fake provider) sends the browser here with `pg_token`: approve on the server.
pub async fn success_page(
    State(state): State<AppState>,
    Query(q): Query<RedirectQuery>,
) -> Response {
    let (Some(order), Some(token)) = (q.order_id, q.pg_token) else {
        return (
            axum::http::StatusCode::BAD_REQUEST,
            page("Payment failed", "The payment link is incomplete."),
        )
            .into_response();
    };
    let order = OrderId(order);
    let result = match pending_tid(&state, order).await {
        Ok(tid) => approve(&state, order, &tid, &token, None).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(v) => page(
            "Payment complete",
            &format!(
                "Your order {} is paid ({} won).",
                v.order_id, v.amount.total
            ),
        )
        .into_response(),
        Err(e) => (e.status(), page("Payment failed", e.message())).into_response(),
    }
}

async fn end_by_redirect(state: &AppState, order: Option<Uuid>, title: &str) -> Response {
    let Some(order) = order else {
        return (
            axum::http::StatusCode::BAD_REQUEST,
            page(title, "The payment link is incomplete."),
        )
            .into_response();
    };
    if let Ok(Some(entry)) = state.engine.order(OrderId(order)).await {
        let mut guard = entry.lock().await;
        if guard.order.status.is_active()
            && let Err(e) = cancel_locked(state, &mut guard, ReleaseReason::PaymentFailed).await
        {
            return (e.status(), page(title, e.message())).into_response();
        }
    }
    page(
        title,
        "The payment was not made; the order was cancelled and its items released.",
    )
    .into_response()
}

/// The shopper cancelled at the provider.
pub async fn cancel_page(
    State(state): State<AppState>,
    Query(q): Query<RedirectQuery>,
) -> Response {
    end_by_redirect(&state, q.order_id, "Payment cancelled").await
}

/// The provider reported a failure.
pub async fn fail_page(State(state): State<AppState>, Query(q): Query<RedirectQuery>) -> Response {
    end_by_redirect(&state, q.order_id, "Payment failed").await
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

#[utoipa::path(get, path = "/api/v1/payments", tag = "payments",
    params(("page" = Option<i64>, Query), ("size" = Option<i64>, Query), ("sort" = Option<String>, Query)),
    responses((status = 200, description = "the caller's payments")))]
pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<PageQuery>,
) -> ApiResult<Reply<Page<PaymentView>>> {
    let req = q.validate(
        &[("createdAt", "created_at"), ("amount", "amount")],
        10,
        state.config.max_page_size as i64,
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

#[utoipa::path(get, path = "/api/v1/payments/{id}", tag = "payments",
    responses((status = 200, description = "the payment (owner)"), (status = 404, body = crate::http::error::ErrorBody)))]
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
