//! The built-in fake payment provider (the default): no network, payments live in memory.
//!
//! It behaves like KakaoPay where the order flow can tell: `ready` hands out a `T` + 20 hex
//! transaction id and a "payment page" URL that is the shop's own `approval_url` with a
//! `pg_token` appended (KakaoPay sends the browser there after the shopper pays), `approve`
//! checks the token, order and user, and `cancel` refunds at most the approved amount.
//! State per tid: `READY -> APPROVED -> CANCELED`; anything else is `Declined`.
//! At most [`FAKE_MAX_PAYMENTS`] payments are remembered (the oldest are forgotten first).
//! [`FakeProvider::fail_next_approve`] lets tests make the next approval fail.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use chrono::{SecondsFormat, Utc};
use uuid::Uuid;

use super::{
    ApproveRequest, ApproveResponse, CancelRequest, CancelResponse, PaymentError, PaymentProvider,
    ReadyRequest, ReadyResponse, append_query_param,
};

/// Bound on the payments a [`FakeProvider`] remembers; past it the oldest are forgotten.
pub const FAKE_MAX_PAYMENTS: usize = 100_000;

/// Where a fake payment is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FakeState {
    Ready,
    Approved,
    Canceled,
}

/// What the fake provider remembers about one tid.
#[derive(Debug, Clone)]
struct FakePayment {
    order_id: Uuid,
    user_id: Uuid,
    pg_token: String,
    amount: i64,
    state: FakeState,
}

#[derive(Debug, Default)]
struct FakeBook {
    payments: HashMap<String, FakePayment>,
    /// tids in the order they were readied, for forgetting the oldest.
    order: VecDeque<String>,
    /// Reason for the next approval to fail, set by [`FakeProvider::fail_next_approve`].
    fail_next_approve: Option<String>,
}

/// An in-memory payment provider with KakaoPay's ready/approve/cancel rules (see the module doc).
#[derive(Debug, Default)]
pub struct FakeProvider {
    book: Mutex<FakeBook>,
}

/// `len` random lowercase hex characters.
fn random_hex(len: usize) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(len + 1);
    while out.len() < len {
        let _ = write!(out, "{:02x}", rand::random::<u8>());
    }
    out.truncate(len);
    out
}

/// Now, as RFC 3339 UTC with milliseconds.
fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl FakeProvider {
    /// An empty provider.
    pub fn new() -> FakeProvider {
        FakeProvider::default()
    }

    /// Make the next `approve` call (whatever its tid) fail with `Declined(reason)`; the payment it
    /// names is left as it was.
    pub fn fail_next_approve(&self, reason: impl Into<String>) {
        self.lock().fail_next_approve = Some(reason.into());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FakeBook> {
        // The book holds plain data and every update is a single step, so a poisoned lock still
        // guards consistent state.
        self.book
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait::async_trait]
impl PaymentProvider for FakeProvider {
    fn name(&self) -> &'static str {
        "fake"
    }

    async fn ready(&self, req: ReadyRequest) -> Result<ReadyResponse, PaymentError> {
        if req.quantity < 1 {
            return Err(PaymentError::Declined(format!(
                "quantity must be at least 1, got {}",
                req.quantity
            )));
        }
        if req.total_amount < 0 {
            return Err(PaymentError::Declined(format!(
                "total_amount must not be negative, got {}",
                req.total_amount
            )));
        }
        let tid = format!("T{}", random_hex(20));
        let pg_token = random_hex(20);
        let redirect = append_query_param(&req.approval_url, "pg_token", &pg_token);
        let mut book = self.lock();
        while book.payments.len() >= FAKE_MAX_PAYMENTS {
            match book.order.pop_front() {
                Some(oldest) => {
                    book.payments.remove(&oldest);
                }
                None => break,
            }
        }
        book.payments.insert(
            tid.clone(),
            FakePayment {
                order_id: req.order_id,
                user_id: req.user_id,
                pg_token,
                amount: req.total_amount,
                state: FakeState::Ready,
            },
        );
        book.order.push_back(tid.clone());
        Ok(ReadyResponse {
            tid,
            redirect_pc_url: redirect.clone(),
            redirect_mobile_url: redirect,
            created_at: now_rfc3339(),
        })
    }

    async fn approve(&self, req: ApproveRequest) -> Result<ApproveResponse, PaymentError> {
        let mut book = self.lock();
        if let Some(reason) = book.fail_next_approve.take() {
            return Err(PaymentError::Declined(reason));
        }
        let Some(payment) = book.payments.get_mut(&req.tid) else {
            return Err(PaymentError::Declined(format!("unknown tid {}", req.tid)));
        };
        if payment.state != FakeState::Ready {
            return Err(PaymentError::Declined(format!(
                "payment {} is not ready for approval ({:?})",
                req.tid, payment.state
            )));
        }
        if payment.pg_token != req.pg_token {
            return Err(PaymentError::Declined("invalid pg_token".into()));
        }
        if payment.order_id != req.order_id || payment.user_id != req.user_id {
            return Err(PaymentError::Declined(
                "order or user does not match the ready request".into(),
            ));
        }
        payment.state = FakeState::Approved;
        let amount = payment.amount;
        let aid = format!("A{}", random_hex(20));
        let approved_at = now_rfc3339();
        let raw = serde_json::json!({
            "aid": aid,
            "tid": req.tid,
            "cid": "FAKE",
            "partner_order_id": req.order_id.to_string(),
            "partner_user_id": req.user_id.to_string(),
            "payment_method_type": "MONEY",
            "amount": { "total": amount, "tax_free": 0, "vat": 0, "point": 0, "discount": 0 },
            "approved_at": approved_at,
        });
        Ok(ApproveResponse {
            aid,
            tid: req.tid,
            amount_total: amount,
            payment_method_type: "MONEY".into(),
            approved_at,
            raw,
        })
    }

    async fn cancel(&self, req: CancelRequest) -> Result<CancelResponse, PaymentError> {
        let mut book = self.lock();
        let Some(payment) = book.payments.get_mut(&req.tid) else {
            return Err(PaymentError::Declined(format!("unknown tid {}", req.tid)));
        };
        if payment.state != FakeState::Approved {
            return Err(PaymentError::Declined(format!(
                "payment {} cannot be canceled ({:?})",
                req.tid, payment.state
            )));
        }
        // A free (0 won) payment is canceled for 0; any other needs 1..=approved.
        let amount_ok = (1..=payment.amount).contains(&req.cancel_amount)
            || (req.cancel_amount == 0 && payment.amount == 0);
        if !amount_ok {
            return Err(PaymentError::Declined(format!(
                "cancel_amount {} must be between 1 and the approved {}",
                req.cancel_amount, payment.amount
            )));
        }
        payment.state = FakeState::Canceled;
        let canceled_at = now_rfc3339();
        let raw = serde_json::json!({
            "tid": req.tid,
            "cid": "FAKE",
            "status": "CANCEL_PAYMENT",
            "approved_cancel_amount": { "total": req.cancel_amount, "tax_free": 0, "vat": 0, "point": 0, "discount": 0 },
            "canceled_at": canceled_at,
        });
        Ok(CancelResponse {
            tid: req.tid,
            canceled_amount: req.cancel_amount,
            canceled_at,
            raw,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::random_hex;

    #[test]
    fn random_hex_has_the_asked_length() {
        for len in [0, 1, 19, 20, 21] {
            let s = random_hex(len);
            assert_eq!(s.len(), len);
            assert!(s.chars().all(|c| c.is_ascii_hexdigit()));
        }
    }
}
