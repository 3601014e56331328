//! Every error code the API answers with, in one table: its HTTP status, its stable code and its
//! default message. Services below HTTP return these; `http::error` turns one into the
//! `{timestamp, code, message}` envelope (`ApiError::from(ErrorCode::..)`, or
//! `ApiError::coded(code, message)` where the message names the thing that is wrong).
//!
//! The codes are part of the API: clients match on them. Add a row, never reuse or rename one.

use axum::http::StatusCode;

macro_rules! error_codes {
    ($($(#[$doc:meta])* $name:ident = ($status:ident, $code:literal, $message:literal);)*) => {
        /// A stable error code with its status and default message.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$doc])* $name,)*
        }

        impl ErrorCode {
            /// Every code, in table order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name,)*];

            /// The HTTP status the code is answered with.
            pub fn status(self) -> StatusCode {
                match self {
                    $(ErrorCode::$name => StatusCode::$status,)*
                }
            }

            /// The code as clients see it, e.g. `CO005`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$name => $code,)*
                }
            }

            /// The default message.
            pub fn message(self) -> &'static str {
                match self {
                    $(ErrorCode::$name => $message,)*
                }
            }
        }
    };
}

error_codes! {
    // ---- request shape (any route) ----
    /// A request body that is not the JSON the operation expects.
    InvalidBody = (BAD_REQUEST, "INVALID_BODY", "the request body is not valid");
    /// Infrastructure (database, Redis) is unreachable or overloaded.
    ServiceUnavailable = (SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE", "storage is unavailable, retry shortly");

    // ---- engine ----
    /// The actor's mailbox is full or did not answer in time.
    EngineBusy = (SERVICE_UNAVAILABLE, "ENGINE_BUSY", "too many requests for this item right now, retry shortly");

    // ---- accounts ----

    // ---- catalog: companies, products, promotions, reviews ----

    // ---- coupons ----
    /// No such coupon campaign.
    CampaignNotFound = (NOT_FOUND, "CO001", "coupon campaign not found");

    // ---- commerce: baskets, orders, payments ----

    // ---- operations ----
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_and_statuses_are_errors() {
        let mut seen = HashSet::new();
        for code in ErrorCode::ALL {
            assert!(
                seen.insert(code.as_str()),
                "{} is listed twice",
                code.as_str()
            );
            assert!(
                code.status().is_client_error() || code.status().is_server_error(),
                "{} has a non-error status",
                code.as_str()
            );
            assert!(!code.message().is_empty());
        }
    }
}
