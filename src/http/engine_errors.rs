//! Engine errors to HTTP: infrastructure trouble is 503 with `Retry-After`.

use super::error::ApiError;
use crate::engine::EngineError;
use crate::error_code::ErrorCode;

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
