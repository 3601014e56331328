//! Engine errors to HTTP: infrastructure trouble is 503 with `Retry-After`.

use super::error::ApiError;
use crate::engine::EngineError;
use crate::error_code::ErrorCode;

impl From<EngineError> for ApiError {
    fn from(err: EngineError) -> Self {
        match err {
            EngineError::Busy => ErrorCode::EngineBusy.into(),
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
            EngineError::NotOwner { owner_url } => {
                let err = ApiError::unavailable(
                    "PARTITION_UNAVAILABLE",
                    "no node decides for this entity right now (a lease is changing hands); retry shortly",
                    1,
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
