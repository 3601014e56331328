//! What a catalog service answers when it does not do what was asked: a refusal with a code from
//! [`ErrorCode`] (and the message naming what is wrong), the engine's trouble, or storage trouble.
//! `http` turns each into its `ApiError`.

use std::borrow::Cow;

use crate::engine::EngineError;
use crate::error_code::ErrorCode;

/// A catalog service error.
#[derive(Debug)]
pub enum CatalogError {
    /// The request is refused: a code from the table and the message for this case.
    Refused {
        code: ErrorCode,
        message: Cow<'static, str>,
    },
    /// The engine could not answer (busy, journal down, unknown item, ...).
    Engine(EngineError),
    /// The database failed.
    Storage(anyhow::Error),
}

/// `Result` of the catalog services.
pub type CatalogResult<T> = Result<T, CatalogError>;

impl CatalogError {
    /// A refusal with a message of its own.
    pub fn coded(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        CatalogError::Refused {
            code,
            message: message.into(),
        }
    }

    /// Whether the thing asked about does not exist (a 404 refusal or an unknown item).
    pub fn is_not_found(&self) -> bool {
        match self {
            CatalogError::Refused { code, .. } => {
                code.status() == axum::http::StatusCode::NOT_FOUND
            }
            CatalogError::Engine(e) => {
                matches!(e, EngineError::UnknownItem | EngineError::UnknownCampaign)
            }
            CatalogError::Storage(_) => false,
        }
    }
}

impl From<ErrorCode> for CatalogError {
    fn from(code: ErrorCode) -> Self {
        CatalogError::coded(code, code.message())
    }
}

impl From<EngineError> for CatalogError {
    fn from(err: EngineError) -> Self {
        CatalogError::Engine(err)
    }
}

impl From<anyhow::Error> for CatalogError {
    fn from(err: anyhow::Error) -> Self {
        CatalogError::Storage(err)
    }
}

impl std::fmt::Display for CatalogError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CatalogError::Refused { code, message } => write!(f, "{}: {message}", code.as_str()),
            CatalogError::Engine(e) => write!(f, "engine: {e}"),
            CatalogError::Storage(e) => write!(f, "storage: {e:#}"),
        }
    }
}

impl std::error::Error for CatalogError {}
