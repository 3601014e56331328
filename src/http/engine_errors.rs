//! Engine errors to HTTP: infrastructure trouble is 503 with `Retry-After`.

use super::error::ApiError;
use crate::engine::EngineError;

impl From<EngineError> for ApiError {
    fn from(err: EngineError) -> Self {
        match err {
            EngineError::Busy => ApiError::unavailable(
                "ENGINE_BUSY",
                "too many requests for this item right now, retry shortly",
                1,
            ),
            EngineError::Backlogged => ApiError::unavailable(
                "ENGINE_BACKLOGGED",
                "the database is behind; retry shortly",
                2,
            ),
            EngineError::JournalUnavailable => ApiError::unavailable(
                "JOURNAL_UNAVAILABLE",
                "cannot record decisions right now",
                5,
            ),
            EngineError::NodeLockLost => ApiError::unavailable(
                "NODE_LOCK_LOST",
                "this node no longer serves its database; retry on another node",
                5,
            ),
            EngineError::Storage(e) => ApiError::from(e.context("loading engine state")),
            EngineError::UnknownCampaign => {
                ApiError::not_found("CO001", "coupon campaign not found")
            }
            EngineError::UnknownItem => ApiError::not_found("P002", "product not found"),
        }
    }
}
