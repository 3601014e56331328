//! Every engine outcome and commerce refusal to its HTTP answer, in one place: an item's
//! refusal of an order line, a campaign's refusal to issue or to use a coupon, the order state
//! machine's refusal of a transition, a payment provider's failure, and the rest of
//! [`CommerceError`]; and the engine's own errors, where infrastructure trouble is 503 with
//! `Retry-After`. Codes and default messages come from [`ErrorCode`].

use super::error::ApiError;
use crate::commerce::CommerceError;
use crate::domain::campaign::CampaignOutcome;
use crate::domain::ids::ItemId;
use crate::domain::item::ItemOutcome;
use crate::domain::order::TransitionRefused;
use crate::engine::EngineError;
use crate::error_code::ErrorCode;
use crate::payments::PaymentError;

impl From<EngineError> for ApiError {
    fn from(err: EngineError) -> Self {
        match err {
            EngineError::Busy => ErrorCode::EngineBusy.into(),
            EngineError::Backlogged => ApiError::from(ErrorCode::EngineBacklogged).retry_after(2),
            EngineError::JournalUnavailable => {
                ApiError::from(ErrorCode::JournalUnavailable).retry_after(5)
            }
            EngineError::NodeLockLost => ApiError::from(ErrorCode::NodeLockLost).retry_after(5),
            EngineError::NotOwner { owner_url } => {
                let err = ApiError::coded(
                    ErrorCode::PartitionUnavailable,
                    "no node decides for this entity right now (a lease is changing hands); retry shortly",
                );
                match owner_url {
                    Some(url) => err.forward_to(url),
                    None => err,
                }
            }
            EngineError::Storage(e) => ApiError::from(e.context("loading engine state")),
            EngineError::UnknownCampaign => ErrorCode::CampaignNotFound.into(),
            EngineError::UnknownItem => ErrorCode::ProductNotFound.into(),
        }
    }
}

/// An item's refusal of an order line.
pub fn line_refusal(item: ItemId, outcome: ItemOutcome) -> ApiError {
    match outcome {
        ItemOutcome::SoldOut { available } => ApiError::coded(
            ErrorCode::InsufficientStock,
            format!("insufficient stock for product {item} ({available} left)"),
        ),
        ItemOutcome::SaleSoldOut => ApiError::coded(
            ErrorCode::SaleSoldOut,
            format!("the time sale of product {item} is sold out"),
        ),
        ItemOutcome::LimitExceeded { limit } => ApiError::coded(
            ErrorCode::LimitExceeded,
            format!("at most {limit} per customer for product {item} during this sale"),
        ),
        ItemOutcome::NotOnSale => ApiError::coded(
            ErrorCode::ProductNotOnSale,
            format!("product {item} is not on sale"),
        ),
        ItemOutcome::InvalidQuantity => {
            ApiError::coded(ErrorCode::InvalidOrderLines, "quantity must be positive")
        }
        other => ApiError::internal(anyhow::anyhow!("unexpected reservation outcome {other:?}")),
    }
}

/// A campaign's refusal to use a coupon on an order.
pub fn coupon_use_refusal(outcome: CampaignOutcome) -> ApiError {
    match outcome {
        CampaignOutcome::NotHeld => ErrorCode::OrderCouponNotFound.into(),
        CampaignOutcome::AlreadyUsed => ErrorCode::CouponAlreadyUsed.into(),
        CampaignOutcome::Expired => ErrorCode::CouponExpired.into(),
        CampaignOutcome::BelowMinimum { min_order_amount } => ApiError::coded(
            ErrorCode::BelowCouponMinimum,
            format!("the order does not reach the coupon's minimum of {min_order_amount}"),
        ),
        other => ApiError::internal(anyhow::anyhow!("unexpected coupon outcome {other:?}")),
    }
}

/// A campaign's refusal to issue a coupon.
pub fn issue_refusal(outcome: CampaignOutcome) -> ApiError {
    match outcome {
        CampaignOutcome::NotOpen => ErrorCode::CampaignNotOpen.into(),
        CampaignOutcome::NotStarted => {
            ApiError::coded(ErrorCode::CampaignNotOpen, "issuing has not started yet")
        }
        CampaignOutcome::Ended => ApiError::coded(ErrorCode::CampaignNotOpen, "issuing has ended"),
        CampaignOutcome::SoldOut => ErrorCode::CouponsSoldOut.into(),
        CampaignOutcome::AlreadyIssued => ErrorCode::CouponAlreadyIssued.into(),
        other => ApiError::internal(anyhow::anyhow!("unexpected issue outcome {other:?}")),
    }
}

/// The order state machine's refusal of a cancel (`cancel`) or a refund.
pub fn transition_refusal(refused: TransitionRefused, cancel: bool) -> ApiError {
    match refused {
        TransitionRefused::AlreadyProcessed(s) if cancel => ApiError::coded(
            ErrorCode::OrderAlreadyProcessed,
            format!("the order is already {}", s.as_str()),
        ),
        TransitionRefused::AlreadyProcessed(s) => ApiError::coded(
            ErrorCode::OrderNotRefundable,
            format!("an order in status {} cannot be refunded", s.as_str()),
        ),
        TransitionRefused::DeadlinePassed => ApiError::coded(
            ErrorCode::OrderNotRefundable,
            "the payment deadline has passed",
        ),
        TransitionRefused::RefundWindowClosed => ApiError::coded(
            ErrorCode::OrderNotRefundable,
            "not refundable by refund policy (24 hours after completion)",
        ),
    }
}

/// A provider call that failed and ended the order (the order was cancelled).
pub fn payment_ended(e: &PaymentError) -> ApiError {
    match e {
        PaymentError::Declined(m) => ApiError::coded(
            ErrorCode::PaymentFailed,
            format!("the payment was declined: {m}"),
        ),
        PaymentError::Timeout => ApiError::coded(
            ErrorCode::PaymentFailed,
            "the payment provider timed out; the order was cancelled",
        ),
        PaymentError::Unavailable(_) => ApiError::coded(
            ErrorCode::PaymentFailed,
            "the payment provider is unavailable; the order was cancelled",
        ),
    }
}

impl From<CommerceError> for ApiError {
    fn from(err: CommerceError) -> Self {
        match err {
            CommerceError::Coded { code, message } => ApiError::coded(code, message),
            CommerceError::Line { item, outcome } => line_refusal(item, outcome),
            CommerceError::CouponUse(outcome) => coupon_use_refusal(outcome),
            CommerceError::Issue(outcome) => issue_refusal(outcome),
            CommerceError::Transition { refused, cancel } => transition_refusal(refused, cancel),
            CommerceError::PaymentEnded(e) => payment_ended(&e),
            CommerceError::ProviderUnavailable(message) => {
                ApiError::coded(ErrorCode::PaymentProviderUnavailable, message).retry_after(5)
            }
            CommerceError::Engine(e) => e.into(),
            CommerceError::Internal(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;
    use crate::domain::order::OrderStatus;

    fn answer(e: ApiError) -> (StatusCode, &'static str, String) {
        (e.status(), e.code(), e.message().to_string())
    }

    #[test]
    fn refusals_keep_their_codes_statuses_and_messages() {
        let item = ItemId(uuid::Uuid::from_u128(1));
        let (status, code, message) =
            answer(line_refusal(item, ItemOutcome::SoldOut { available: 2 }));
        assert_eq!((status, code), (StatusCode::CONFLICT, "OP004"));
        assert_eq!(
            message,
            format!("insufficient stock for product {item} (2 left)")
        );
        assert_eq!(
            answer(coupon_use_refusal(CampaignOutcome::NotHeld)),
            (
                StatusCode::NOT_FOUND,
                "OCO001",
                "coupon not found".to_string()
            )
        );
        assert_eq!(
            answer(issue_refusal(CampaignOutcome::SoldOut)),
            (
                StatusCode::CONFLICT,
                "CO005",
                "the coupons are sold out".to_string()
            )
        );
        assert_eq!(
            answer(transition_refusal(
                TransitionRefused::AlreadyProcessed(OrderStatus::Cancel),
                true
            )),
            (
                StatusCode::CONFLICT,
                "O007",
                "the order is already CANCEL".to_string()
            )
        );
    }

    #[test]
    fn one_code_may_be_answered_with_two_statuses() {
        let malformed = answer(ErrorCode::InvalidPayment.into());
        let not_payable = answer(ErrorCode::OrderNotPayable.into());
        assert_eq!(
            (malformed.0, malformed.1),
            (StatusCode::BAD_REQUEST, "PA002")
        );
        assert_eq!(
            (not_payable.0, not_payable.1),
            (StatusCode::CONFLICT, "PA002")
        );
    }

    #[test]
    fn a_provider_that_did_not_answer_is_retried_later() {
        let e: ApiError = CommerceError::ProviderUnavailable("timed out".into()).into();
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.code(), "PAYMENT_PROVIDER_UNAVAILABLE");
        let response = axum::response::IntoResponse::into_response(e);
        assert_eq!(response.headers()[axum::http::header::RETRY_AFTER], "5");
    }
}
