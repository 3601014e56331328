//! What an accounts service answers when it does not do what was asked: a refusal with a code
//! from [`ErrorCode`] (the message naming what is wrong, and a `Retry-After` for the 503s that
//! need a longer one), or infrastructure trouble. `http` turns each into its `ApiError`.

use std::borrow::Cow;

use crate::error_code::ErrorCode;

/// An accounts service error.
#[derive(Debug)]
pub enum AccountsError {
    /// The request is refused: a code from the table, the message for this case and, when it is
    /// not the default, how long to wait before retrying (seconds).
    Refused {
        code: ErrorCode,
        message: Cow<'static, str>,
        retry_after_s: Option<u64>,
    },
    /// The database, the key-value store or the mailer failed.
    Storage(anyhow::Error),
}

/// `Result` of the accounts services.
pub type AccountsResult<T> = Result<T, AccountsError>;

impl AccountsError {
    /// A refusal with a message of its own.
    pub fn coded(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        AccountsError::Refused {
            code,
            message: message.into(),
            retry_after_s: None,
        }
    }

    /// The same refusal with a `Retry-After` of `seconds`.
    pub fn retry_after(self, seconds: u64) -> Self {
        match self {
            AccountsError::Refused { code, message, .. } => AccountsError::Refused {
                code,
                message,
                retry_after_s: Some(seconds),
            },
            other => other,
        }
    }
}

impl From<ErrorCode> for AccountsError {
    fn from(code: ErrorCode) -> Self {
        AccountsError::coded(code, code.message())
    }
}

impl From<anyhow::Error> for AccountsError {
    fn from(err: anyhow::Error) -> Self {
        AccountsError::Storage(err)
    }
}

impl std::fmt::Display for AccountsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AccountsError::Refused { code, message, .. } => {
                write!(f, "{}: {message}", code.as_str())
            }
            AccountsError::Storage(e) => write!(f, "storage: {e:#}"),
        }
    }
}

impl std::error::Error for AccountsError {}
