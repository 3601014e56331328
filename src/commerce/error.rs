//! [`CommerceError`]: why a commerce flow did not do what was asked. Business refusals carry a
//! code of the [`ErrorCode`] table or the engine's outcome as it is; `http::outcomes` turns every
//! one of them into its HTTP answer.

use std::borrow::Cow;

use crate::domain::campaign::CampaignOutcome;
use crate::domain::ids::ItemId;
use crate::domain::item::ItemOutcome;
use crate::domain::order::TransitionRefused;
use crate::engine::EngineError;
use crate::error_code::ErrorCode;
use crate::payments::PaymentError;

/// A refused or failed commerce request.
#[derive(Debug, thiserror::Error)]
pub enum CommerceError {
    /// A refusal of the table, with a message naming what is wrong.
    #[error("{code:?}: {message}")]
    Coded {
        code: ErrorCode,
        message: Cow<'static, str>,
    },
    /// An item refused an order line.
    #[error("item {item} refused the line: {outcome:?}")]
    Line { item: ItemId, outcome: ItemOutcome },
    /// The campaign refused to use a coupon on an order.
    #[error("coupon refused: {0:?}")]
    CouponUse(CampaignOutcome),
    /// The campaign refused to issue a coupon.
    #[error("issue refused: {0:?}")]
    Issue(CampaignOutcome),
    /// The order's state machine refused a cancel (`cancel`) or a refund.
    #[error("transition refused: {refused:?}")]
    Transition {
        refused: TransitionRefused,
        cancel: bool,
    },
    /// A provider call failed and the order was cancelled.
    #[error("the payment failed: {0}")]
    PaymentEnded(PaymentError),
    /// The provider did not answer; nothing was changed.
    #[error("{0}")]
    ProviderUnavailable(String),
    /// The engine cannot decide now (busy, journal down, ...).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// Storage trouble or a bug.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl CommerceError {
    /// A code of the table with a message of its own.
    pub fn coded(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        CommerceError::Coded {
            code,
            message: message.into(),
        }
    }
}

impl From<ErrorCode> for CommerceError {
    fn from(code: ErrorCode) -> Self {
        CommerceError::coded(code, code.message())
    }
}

/// `Result` of the commerce services.
pub type CommerceResult<T> = Result<T, CommerceError>;
