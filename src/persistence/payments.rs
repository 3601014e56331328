//! Payment storage (`p_payment`): one payment per order, PENDING when readied, then COMPLETE
//! (with the first approval's answer and token, so a repeat gets the same answer), CANCEL or
//! REFUND.

use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

use super::Db;
use super::repo::uuid_col;
use crate::domain::Millis;
use crate::domain::ids::{OrderId, UserId};

/// A payment as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub id: Uuid,
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub status: String,
    pub amount: i64,
    pub refund_amount: i64,
    pub refunded_at: Option<Millis>,
    pub tid: String,
    pub pay_url: Option<String>,
}

/// What a payment step needs of an order's payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentState {
    pub tid: String,
    pub status: String,
    /// The secret of the redirect URLs (`None` for payments readied before there was one).
    pub nonce: Option<String>,
    /// The first approval's answer, as JSON.
    pub approval: Option<String>,
    /// The pg_token that approved the payment.
    pub approval_token: Option<String>,
}

/// A PENDING payment as handed out when it was readied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingPayment {
    pub id: Uuid,
    pub tid: String,
    pub pay_url: Option<String>,
    pub created_at: Millis,
}

/// A payment to insert (PENDING).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPayment<'a> {
    pub id: Uuid,
    pub order: OrderId,
    pub user: UserId,
    pub amount: i64,
    pub tid: &'a str,
    pub pay_url: &'a str,
    pub provider: &'a str,
    pub nonce: &'a str,
    pub by: &'a str,
    pub now_ms: Millis,
}

const PAYMENT_SELECT: &str = "SELECT id, order_id, user_id, status, amount, refund_amount, refunded_at, tid, pay_url FROM p_payment";

fn payment_from_row(r: &AnyRow) -> anyhow::Result<Payment> {
    Ok(Payment {
        id: uuid_col(r, "id")?,
        order_id: uuid_col(r, "order_id")?,
        user_id: uuid_col(r, "user_id")?,
        status: r.try_get("status")?,
        amount: r.try_get("amount")?,
        refund_amount: r.try_get("refund_amount")?,
        refunded_at: r.try_get("refunded_at")?,
        tid: r.try_get("tid")?,
        pay_url: r.try_get("pay_url")?,
    })
}

/// The order's PENDING payment.
pub async fn pending_payment(db: &Db, order: OrderId) -> anyhow::Result<Option<PendingPayment>> {
    let row = sqlx::query(
        "SELECT id, tid, pay_url, created_at FROM p_payment WHERE order_id = ? AND status = 'PENDING'",
    )
    .bind(order.to_string())
    .fetch_optional(&db.pool)
    .await?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some(PendingPayment {
        id: uuid_col(&r, "id")?,
        tid: r.try_get("tid")?,
        pay_url: r.try_get("pay_url")?,
        created_at: r.try_get("created_at")?,
    }))
}

/// Insert a PENDING payment.
pub async fn insert_payment(db: &Db, p: &NewPayment<'_>) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO p_payment (id, order_id, user_id, status, amount, refund_amount, tid, pay_url, provider, \
         redirect_nonce, created_at, created_by, updated_at, updated_by) \
         VALUES (?, ?, ?, 'PENDING', ?, 0, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(p.id.to_string())
    .bind(p.order.to_string())
    .bind(p.user.to_string())
    .bind(p.amount)
    .bind(p.tid)
    .bind(p.pay_url)
    .bind(p.provider)
    .bind(p.nonce)
    .bind(p.now_ms)
    .bind(p.by)
    .bind(p.now_ms)
    .bind(p.by)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// The state of the order's payment.
pub async fn payment_state(db: &Db, order: OrderId) -> anyhow::Result<Option<PaymentState>> {
    let row = sqlx::query(
        "SELECT tid, status, redirect_nonce, approval, approval_token FROM p_payment WHERE order_id = ?",
    )
    .bind(order.to_string())
    .fetch_optional(&db.pool)
    .await?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some(PaymentState {
        tid: r.try_get("tid")?,
        status: r.try_get("status")?,
        nonce: r.try_get("redirect_nonce")?,
        approval: r.try_get("approval")?,
        approval_token: r.try_get("approval_token")?,
    }))
}

/// Mark the order's payment `tid` COMPLETE with its approval (JSON) and the approving token.
pub async fn complete_payment(
    db: &Db,
    order: OrderId,
    tid: &str,
    approval: &str,
    approval_token: &str,
    now_ms: Millis,
) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE p_payment SET status = 'COMPLETE', approved_at = ?, updated_at = ?, approval = ?, \
         approval_token = ? WHERE order_id = ? AND tid = ?",
    )
    .bind(now_ms)
    .bind(now_ms)
    .bind(approval)
    .bind(approval_token)
    .bind(order.to_string())
    .bind(tid)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// The order of the payment `tid`.
pub async fn order_of_tid(db: &Db, tid: &str) -> anyhow::Result<Option<OrderId>> {
    let row = sqlx::query("SELECT order_id FROM p_payment WHERE tid = ?")
        .bind(tid)
        .fetch_optional(&db.pool)
        .await?;
    row.map(|r| Ok(OrderId(uuid_col(&r, "order_id")?)))
        .transpose()
}

/// Mark the order's PENDING payment CANCEL.
pub async fn cancel_pending(db: &Db, order: OrderId, now_ms: Millis) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE p_payment SET status = 'CANCEL', updated_at = ? WHERE order_id = ? AND status = 'PENDING'",
    )
    .bind(now_ms)
    .bind(order.to_string())
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// The tid and amount of the order's COMPLETE payment.
pub async fn completed_payment(db: &Db, order: OrderId) -> anyhow::Result<Option<(String, i64)>> {
    let row =
        sqlx::query("SELECT tid, amount FROM p_payment WHERE order_id = ? AND status = 'COMPLETE'")
            .bind(order.to_string())
            .fetch_optional(&db.pool)
            .await?;
    row.map(|r| Ok((r.try_get("tid")?, r.try_get("amount")?)))
        .transpose()
}

/// Mark the payment `tid` REFUND.
pub async fn mark_refunded(
    db: &Db,
    tid: &str,
    refund_amount: i64,
    now_ms: Millis,
) -> anyhow::Result<()> {
    sqlx::query("UPDATE p_payment SET status = 'REFUND', refund_amount = ?, refunded_at = ?, updated_at = ? WHERE tid = ?")
        .bind(refund_amount)
        .bind(now_ms)
        .bind(now_ms)
        .bind(tid)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// The payment of an order.
pub async fn payment_of_order(db: &Db, order: OrderId) -> anyhow::Result<Option<Payment>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{PAYMENT_SELECT} WHERE order_id = ?"
    )))
    .bind(order.to_string())
    .fetch_optional(&db.pool)
    .await?;
    row.as_ref().map(payment_from_row).transpose()
}

/// A payment by its id.
pub async fn payment(db: &Db, id: Uuid) -> anyhow::Result<Option<Payment>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{PAYMENT_SELECT} WHERE id = ?"
    )))
    .bind(id.to_string())
    .fetch_optional(&db.pool)
    .await?;
    row.as_ref().map(payment_from_row).transpose()
}

/// One page of `user`'s payments (`tail`: ORDER BY and LIMIT) with the total count.
pub async fn list_payments(
    db: &Db,
    user: UserId,
    tail: &str,
) -> anyhow::Result<(Vec<Payment>, i64)> {
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM p_payment WHERE user_id = ?")
        .bind(user.to_string())
        .fetch_one(&db.pool)
        .await?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{PAYMENT_SELECT} WHERE user_id = ?{tail}"
    )))
    .bind(user.to_string())
    .fetch_all(&db.pool)
    .await?;
    let list = rows
        .iter()
        .map(payment_from_row)
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok((list, total))
}
