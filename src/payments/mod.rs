//! Payment providers: the built-in fake provider (default) and KakaoPay.
//!
//! The order and payment HTTP code talks to one [`PaymentProvider`] (chosen at start by
//! [`build`] from `config.payment_provider`) in KakaoPay's three steps:
//! 1. [`PaymentProvider::ready`] registers the payment and gives the URL the shopper's browser
//!    opens; the provider later sends the browser to `approval_url?pg_token=...`.
//! 2. [`PaymentProvider::approve`] confirms it with that `pg_token` (money moves here).
//! 3. [`PaymentProvider::cancel`] refunds an approved payment.
//!
//! Failures are [`PaymentError`] values: `Declined` is the provider's business "no" (a 4xx, a wrong
//! token, an unknown transaction), `Timeout` and `Unavailable` are infrastructure (the HTTP layer
//! answers 503 for those, and may retry). Amounts are whole won (`i64`), timestamps strings as the
//! provider gives them (RFC 3339 for the fake provider).

pub mod fake;
pub mod kakaopay;

use std::sync::Arc;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::{Config, PaymentProviderKind};

pub use fake::FakeProvider;
pub use kakaopay::KakaoPayProvider;

/// A payment gateway (KakaoPay or the built-in fake one): ready, approve, cancel.
#[async_trait::async_trait]
pub trait PaymentProvider: Send + Sync + 'static {
    /// The provider's name: `"fake"` or `"kakaopay"`.
    fn name(&self) -> &'static str;
    /// Register a payment; returns its transaction id and the URLs the browser opens.
    async fn ready(&self, req: ReadyRequest) -> Result<ReadyResponse, PaymentError>;
    /// Approve a readied payment with the `pg_token` the provider handed the browser.
    async fn approve(&self, req: ApproveRequest) -> Result<ApproveResponse, PaymentError>;
    /// Cancel (refund) an approved payment, for `cancel_amount`.
    async fn cancel(&self, req: CancelRequest) -> Result<CancelResponse, PaymentError>;
}

/// What a payment is for, and where the provider sends the browser afterwards.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReadyRequest {
    /// The order being paid (KakaoPay `partner_order_id`).
    pub order_id: Uuid,
    /// The paying user (KakaoPay `partner_user_id`).
    pub user_id: Uuid,
    /// What the shopper sees as the purchase name.
    pub item_name: String,
    /// Total number of units in the order.
    pub quantity: i64,
    /// Amount to charge, in won.
    pub total_amount: i64,
    /// Where the browser goes on success (with `pg_token` appended).
    pub approval_url: String,
    /// Where the browser goes when the shopper cancels.
    pub cancel_url: String,
    /// Where the browser goes when the payment fails.
    pub fail_url: String,
}

/// A registered payment: its transaction id and the URLs to open.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReadyResponse {
    /// The provider's transaction id.
    pub tid: String,
    /// Payment page for a desktop browser (KakaoPay `next_redirect_pc_url`).
    pub redirect_pc_url: String,
    /// Payment page for a mobile browser (KakaoPay `next_redirect_mobile_url`).
    pub redirect_mobile_url: String,
    /// When the provider registered the payment.
    pub created_at: String,
}

/// Approval of a readied payment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApproveRequest {
    /// The transaction id from [`ReadyResponse::tid`].
    pub tid: String,
    /// The order, as given to `ready`.
    pub order_id: Uuid,
    /// The user, as given to `ready`.
    pub user_id: Uuid,
    /// The token the provider appended to `approval_url`.
    pub pg_token: String,
}

/// An approved payment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApproveResponse {
    /// The approval id.
    pub aid: String,
    /// The transaction id.
    pub tid: String,
    /// The amount charged, in won.
    pub amount_total: i64,
    /// How the shopper paid (`MONEY` or `CARD`).
    pub payment_method_type: String,
    /// When the provider approved the payment.
    pub approved_at: String,
    /// The provider's whole response, for the record.
    pub raw: serde_json::Value,
}

/// A cancellation (refund) of an approved payment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CancelRequest {
    /// The transaction id.
    pub tid: String,
    /// Amount to refund, in won.
    pub cancel_amount: i64,
}

/// A done cancellation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CancelResponse {
    /// The transaction id.
    pub tid: String,
    /// Amount refunded by this request, in won.
    pub canceled_amount: i64,
    /// When the provider canceled the payment.
    pub canceled_at: String,
    /// The provider's whole response, for the record.
    pub raw: serde_json::Value,
}

/// Why a provider call failed.
#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// The provider said no (bad token, unknown transaction, amount refused...): not worth a retry.
    #[error("payment declined: {0}")]
    Declined(String),
    /// The provider did not answer within `payment_timeout_ms`: the outcome is unknown.
    #[error("payment provider timed out")]
    Timeout,
    /// The provider could not be reached or failed (5xx, bad response).
    #[error("payment provider unavailable: {0}")]
    Unavailable(String),
}

/// The provider chosen by `config.payment_provider`; refuses KakaoPay without a secret key.
pub fn build(config: &Config) -> anyhow::Result<Arc<dyn PaymentProvider>> {
    match config.payment_provider {
        PaymentProviderKind::Fake => Ok(Arc::new(FakeProvider::new())),
        PaymentProviderKind::Kakaopay => Ok(Arc::new(
            KakaoPayProvider::new(config).context("configuring the KakaoPay payment provider")?,
        )),
    }
}

/// `url` with the query parameter `key=value` appended (`?` or `&` as needed, before any
/// `#fragment`). `value` must be URL-safe as it is (the tokens here are hex).
pub fn append_query_param(url: &str, key: &str, value: &str) -> String {
    let (base, fragment) = match url.find('#') {
        Some(at) => url.split_at(at),
        None => (url, ""),
    };
    let separator = if !base.contains('?') {
        "?"
    } else if base.ends_with('?') || base.ends_with('&') {
        ""
    } else {
        "&"
    };
    format!("{base}{separator}{key}={value}{fragment}")
}

#[cfg(test)]
mod tests {
    use super::append_query_param;

    #[test]
    fn query_params_are_appended_with_the_right_separator() {
        let cases = [
            ("http://h/p", "http://h/p?t=1"),
            ("http://h/p?a=b", "http://h/p?a=b&t=1"),
            ("http://h/p?", "http://h/p?t=1"),
            ("http://h/p?a=b&", "http://h/p?a=b&t=1"),
            ("http://h/p#top", "http://h/p?t=1#top"),
            ("http://h/p?a=b#top", "http://h/p?a=b&t=1#top"),
        ];
        for (url, want) in cases {
            assert_eq!(append_query_param(url, "t", "1"), want, "{url}");
        }
    }
}
