//! The KakaoPay online payment API adapter (`POST {base}/ready`, `/approve`, `/cancel`).
//!
//! Requests are JSON with snake_case fields as KakaoPay documents them (and as the seed sent them,
//! except that `cancel_url` and `fail_url` each go to their own page here). The configured secret
//! key is sent verbatim as the `Authorization` header (e.g. `SECRET_KEY xxxx`), like the seed.
//!
//! Every call is bounded by `payment_timeout_ms` (connect and whole request) and its response body
//! by [`KAKAOPAY_MAX_RESPONSE_BYTES`]. Outcome mapping:
//! - 2xx with the expected fields: `Ok`;
//! - a timeout (or a 408): [`PaymentError::Timeout`];
//! - another 4xx: [`PaymentError::Declined`] with KakaoPay's `error_message`
//!   (and `extras.method_result_message` when present), except 429 (rate limited), which is
//!   [`PaymentError::Unavailable`] because a later retry can succeed;
//! - 5xx, 3xx, connection errors, malformed 2xx bodies: [`PaymentError::Unavailable`].

use std::time::Duration;

use anyhow::{Context as _, bail};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    ApproveRequest, ApproveResponse, CancelRequest, CancelResponse, PaymentError, PaymentProvider,
    ReadyRequest, ReadyResponse,
};
use crate::config::Config;

/// Bound on a KakaoPay response body read into memory; larger answers are treated as unavailable.
pub const KAKAOPAY_MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// Bound on the provider text quoted in an error message.
const MAX_ERROR_TEXT_CHARS: usize = 300;

/// The KakaoPay adapter: an HTTP client plus the merchant's key and code.
pub struct KakaoPayProvider {
    client: reqwest::Client,
    base_url: String,
    authorization: HeaderValue,
    cid: String,
}

impl std::fmt::Debug for KakaoPayProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret key.
        f.debug_struct("KakaoPayProvider")
            .field("base_url", &self.base_url)
            .field("cid", &self.cid)
            .field("authorization", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// The `amount`-like objects of KakaoPay answers; only `total` is used.
#[derive(Debug, Deserialize)]
struct AmountBody {
    total: i64,
}

#[derive(Debug, Deserialize)]
struct ReadyBody {
    tid: String,
    next_redirect_pc_url: String,
    #[serde(default)]
    next_redirect_mobile_url: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ApproveBody {
    aid: String,
    tid: String,
    #[serde(default)]
    payment_method_type: Option<String>,
    #[serde(default)]
    approved_at: Option<String>,
    amount: AmountBody,
}

#[derive(Debug, Deserialize)]
struct CancelBody {
    tid: String,
    /// Refunded by this request.
    #[serde(default)]
    approved_cancel_amount: Option<AmountBody>,
    /// Refunded so far, all requests together.
    #[serde(default)]
    canceled_amount: Option<AmountBody>,
    #[serde(default)]
    canceled_at: Option<String>,
}

impl KakaoPayProvider {
    /// An adapter from `kakaopay_base_url`, `kakaopay_secret_key` (required), `kakaopay_cid`
    /// and `payment_timeout_ms`.
    pub fn new(config: &Config) -> anyhow::Result<KakaoPayProvider> {
        let secret = config
            .kakaopay_secret_key
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .context("KAKAOPAY_SECRET_KEY is required with the kakaopay payment provider")?;
        let mut authorization = HeaderValue::from_str(secret)
            .context("KAKAOPAY_SECRET_KEY is not a valid HTTP header value")?;
        authorization.set_sensitive(true);
        if config.kakaopay_cid.trim().is_empty() {
            bail!("KAKAOPAY_CID must not be empty");
        }
        if config.payment_timeout_ms == 0 {
            bail!("payment_timeout_ms must be greater than 0");
        }
        let base_url = config.kakaopay_base_url.trim().trim_end_matches('/');
        let parsed = reqwest::Url::parse(base_url)
            .with_context(|| format!("KAKAOPAY_BASE_URL {base_url:?} is not a URL"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            bail!("KAKAOPAY_BASE_URL must be http or https, got {base_url:?}");
        }
        let timeout = Duration::from_millis(config.payment_timeout_ms);
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("hotdeal/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("building the KakaoPay HTTP client")?;
        Ok(KakaoPayProvider {
            client,
            base_url: base_url.to_owned(),
            authorization,
            cid: config.kakaopay_cid.trim().to_owned(),
        })
    }

    /// POST `body` to `{base}/{op}`; the parsed 2xx JSON body, or the mapped error.
    async fn call(&self, op: &'static str, body: &Value) -> Result<Value, PaymentError> {
        let url = format!("{}/{op}", self.base_url);
        let result = self.exchange(&url, body).await;
        match &result {
            Ok(_) => tracing::debug!(op, "kakaopay call succeeded"),
            Err(PaymentError::Declined(reason)) => {
                tracing::info!(op, %reason, "kakaopay declined")
            }
            Err(e) => tracing::warn!(op, error = %e, "kakaopay call failed"),
        }
        result
    }

    async fn exchange(&self, url: &str, body: &Value) -> Result<Value, PaymentError> {
        let response = self
            .client
            .post(url)
            .header(AUTHORIZATION, self.authorization.clone())
            .json(body)
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        let bytes = read_limited(response).await?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| {
                PaymentError::Unavailable(format!(
                    "KakaoPay answered {status} with invalid JSON: {e}"
                ))
            });
        }
        let message = error_message(&bytes).unwrap_or_else(|| format!("HTTP {status}"));
        Err(match status {
            StatusCode::REQUEST_TIMEOUT => PaymentError::Timeout,
            StatusCode::TOO_MANY_REQUESTS => {
                PaymentError::Unavailable(format!("rate limited (HTTP {status}): {message}"))
            }
            s if s.is_client_error() => PaymentError::Declined(message),
            _ => PaymentError::Unavailable(format!("HTTP {status}: {message}")),
        })
    }
}

/// A reqwest failure before or while receiving the answer.
fn transport_error(e: reqwest::Error) -> PaymentError {
    if e.is_timeout() {
        return PaymentError::Timeout;
    }
    // The top message is generic ("error sending request"); the chain names the cause
    // (connection refused, reset...). `without_url` keeps the message short.
    let e = e.without_url();
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    PaymentError::Unavailable(message.chars().take(MAX_ERROR_TEXT_CHARS).collect())
}

/// The body of `response`, at most [`KAKAOPAY_MAX_RESPONSE_BYTES`].
async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, PaymentError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        if bytes.len() + chunk.len() > KAKAOPAY_MAX_RESPONSE_BYTES {
            return Err(PaymentError::Unavailable(format!(
                "KakaoPay response larger than {KAKAOPAY_MAX_RESPONSE_BYTES} bytes"
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// KakaoPay's explanation in an error body: `error_message` (plus
/// `extras.method_result_message`), else `msg`/`message`, else the text itself.
fn error_message(body: &[u8]) -> Option<String> {
    let text = |s: &str| -> Option<String> {
        let s = s.trim();
        (!s.is_empty()).then(|| s.chars().take(MAX_ERROR_TEXT_CHARS).collect())
    };
    match serde_json::from_slice::<Value>(body) {
        Ok(json) => {
            let field = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).and_then(text);
            let main = field(&json, "error_message")
                .or_else(|| field(&json, "msg"))
                .or_else(|| field(&json, "message"));
            let detail = json
                .get("extras")
                .and_then(|extras| field(extras, "method_result_message"));
            match (main, detail) {
                (Some(main), Some(detail)) => Some(format!("{main}: {detail}")),
                (main, detail) => main.or(detail),
            }
        }
        Err(_) => text(&String::from_utf8_lossy(body)),
    }
}

/// A 2xx body without the fields we need.
fn malformed(op: &str, e: serde_json::Error) -> PaymentError {
    PaymentError::Unavailable(format!("KakaoPay {op} answer is missing fields: {e}"))
}

#[async_trait::async_trait]
impl PaymentProvider for KakaoPayProvider {
    fn name(&self) -> &'static str {
        "kakaopay"
    }

    async fn ready(&self, req: ReadyRequest) -> Result<ReadyResponse, PaymentError> {
        let body = json!({
            "cid": self.cid,
            "partner_order_id": req.order_id.to_string(),
            "partner_user_id": req.user_id.to_string(),
            "item_name": req.item_name,
            "quantity": req.quantity,
            "total_amount": req.total_amount,
            "tax_free_amount": 0,
            "approval_url": req.approval_url,
            "cancel_url": req.cancel_url,
            "fail_url": req.fail_url,
        });
        let raw = self.call("ready", &body).await?;
        let parsed: ReadyBody = serde_json::from_value(raw).map_err(|e| malformed("ready", e))?;
        Ok(ReadyResponse {
            redirect_mobile_url: parsed
                .next_redirect_mobile_url
                .unwrap_or_else(|| parsed.next_redirect_pc_url.clone()),
            tid: parsed.tid,
            redirect_pc_url: parsed.next_redirect_pc_url,
            created_at: parsed.created_at.unwrap_or_default(),
        })
    }

    async fn approve(&self, req: ApproveRequest) -> Result<ApproveResponse, PaymentError> {
        let body = json!({
            "cid": self.cid,
            "tid": req.tid,
            "partner_order_id": req.order_id.to_string(),
            "partner_user_id": req.user_id.to_string(),
            "pg_token": req.pg_token,
        });
        let raw = self.call("approve", &body).await?;
        let parsed: ApproveBody =
            serde_json::from_value(raw.clone()).map_err(|e| malformed("approve", e))?;
        Ok(ApproveResponse {
            aid: parsed.aid,
            tid: parsed.tid,
            amount_total: parsed.amount.total,
            payment_method_type: parsed.payment_method_type.unwrap_or_default(),
            approved_at: parsed.approved_at.unwrap_or_default(),
            raw,
        })
    }

    async fn cancel(&self, req: CancelRequest) -> Result<CancelResponse, PaymentError> {
        let body = json!({
            "cid": self.cid,
            "tid": req.tid,
            "cancel_amount": req.cancel_amount,
            "cancel_tax_free_amount": 0,
            "cancel_vat_amount": 0,
            "cancel_available_amount": req.cancel_amount,
        });
        let raw = self.call("cancel", &body).await?;
        let parsed: CancelBody =
            serde_json::from_value(raw.clone()).map_err(|e| malformed("cancel", e))?;
        let canceled_amount = parsed
            .approved_cancel_amount
            .or(parsed.canceled_amount)
            .map(|amount| amount.total)
            .ok_or_else(|| {
                PaymentError::Unavailable(
                    "KakaoPay cancel answer has neither approved_cancel_amount nor canceled_amount"
                        .into(),
                )
            })?;
        Ok(CancelResponse {
            tid: parsed.tid,
            canceled_amount,
            canceled_at: parsed.canceled_at.unwrap_or_default(),
            raw,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::error_message;

    #[test]
    fn error_messages_come_from_kakaopay_fields() {
        let kakao = br#"{"error_code":-780,"error_message":"approval failure!","extras":{"method_result_code":"USER_LOCKED","method_result_message":"locked"}}"#;
        assert_eq!(
            error_message(kakao).as_deref(),
            Some("approval failure!: locked")
        );
        assert_eq!(error_message(br#"{"msg":"bad"}"#).as_deref(), Some("bad"));
        assert_eq!(error_message(b"plain text").as_deref(), Some("plain text"));
        assert_eq!(error_message(b"  "), None);
        assert_eq!(error_message(br#"{"other":1}"#), None);
    }
}
