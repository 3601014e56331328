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
    /// No such coupon (of the caller's).
    CouponNotFound = (NOT_FOUND, "CO002", "coupon not found");
    /// The campaign already has the status asked for.
    CampaignStatusUnchanged = (BAD_REQUEST, "CO003", "the campaign already has this status");
    /// The campaign is not open for issuing (or not PENDING any more for a change).
    CampaignNotOpen = (CONFLICT, "CO004", "the campaign is not open for issuing");
    /// Every coupon of the campaign is issued.
    CouponsSoldOut = (CONFLICT, "CO005", "the coupons are sold out");
    /// The user holds a coupon of the campaign already.
    CouponAlreadyIssued = (CONFLICT, "CO006", "a coupon was already issued to this user");
    /// A campaign field (or id, or page parameter) out of range.
    InvalidCampaign = (BAD_REQUEST, "CO014", "invalid coupon campaign");
    /// The campaign's company is not APPROVED.
    CampaignCompanyNotApproved = (BAD_REQUEST, "CO015", "the company is not APPROVED");
    /// The campaign's company does not exist.
    CampaignCompanyNotFound = (NOT_FOUND, "CO018", "company not found");

    // ---- commerce: baskets, orders, payments ----
    /// A body that is not JSON (bodies read as bytes, to be hashed for idempotency).
    InvalidJson = (BAD_REQUEST, "INVALID_JSON", "malformed JSON");
    /// A JSON body of the wrong shape.
    InvalidValue = (BAD_REQUEST, "INVALID_VALUE", "invalid request body");
    /// An `Idempotency-Key` that is not 1 to 255 ASCII characters.
    InvalidIdempotencyKey = (BAD_REQUEST, "INVALID_IDEMPOTENCY_KEY", "Idempotency-Key must be 1 to 255 ASCII characters");
    /// The key was used before with another request body.
    IdempotencyKeyReused = (UNPROCESSABLE_ENTITY, "IDEMPOTENCY_KEY_REUSED", "this Idempotency-Key was used with a different request body");
    /// The first request with this key is still running.
    RequestInProgress = (CONFLICT, "REQUEST_IN_PROGRESS", "a request with this Idempotency-Key is still being processed");
    /// No such basket line of the caller's.
    BasketNotFound = (NOT_FOUND, "OB001", "basket not found");
    /// A basket id, list or quantity out of range.
    InvalidBasket = (BAD_REQUEST, "OB002", "invalid basket");
    /// No such product (to order or put in a basket).
    ProductNotFound = (NOT_FOUND, "OP001", "product not found");
    /// The product is not on sale.
    ProductNotOnSale = (CONFLICT, "OP003", "the product is not on sale");
    /// Not enough stock.
    InsufficientStock = (CONFLICT, "OP004", "insufficient stock");
    /// Order lines or quantities out of range.
    InvalidOrderLines = (BAD_REQUEST, "OP005", "invalid order lines");
    /// The time sale is sold out.
    SaleSoldOut = (CONFLICT, "P022", "the time sale is sold out");
    /// Over the time sale's per-customer limit.
    LimitExceeded = (CONFLICT, "LIMIT_EXCEEDED", "over the per-customer limit of this sale");
    /// No such address of the caller's.
    AddressNotFound = (NOT_FOUND, "ADDRESS_NOT_FOUND", "address not found");
    /// No such coupon of the caller's (to use on an order).
    OrderCouponNotFound = (NOT_FOUND, "OCO001", "coupon not found");
    /// The coupon was used already.
    CouponAlreadyUsed = (CONFLICT, "OC002", "the coupon was already used");
    /// The order does not reach the coupon's minimum.
    BelowCouponMinimum = (CONFLICT, "OC003", "the order does not reach the coupon's minimum");
    /// The coupon does not apply to the order's products.
    CouponNotApplicable = (CONFLICT, "OC004", "the coupon does not apply to these products");
    /// The coupon has expired.
    CouponExpired = (CONFLICT, "OC005", "the coupon has expired");
    /// No such order of the caller's.
    OrderNotFound = (NOT_FOUND, "O001", "order not found");
    /// Not an order id, or an unknown order status.
    InvalidOrder = (BAD_REQUEST, "O002", "invalid order id");
    /// Only the buyer (or a MASTER) may change the order.
    NotTheBuyer = (FORBIDDEN, "O005", "only the buyer may change an order");
    /// The order is no longer waiting for its payment.
    OrderAlreadyProcessed = (CONFLICT, "O007", "the order is already processed");
    /// The order cannot be refunded (or its payment deadline passed).
    OrderNotRefundable = (CONFLICT, "O008", "the order cannot be changed");
    /// No such payment (of the caller's), or no proof of it.
    PaymentNotFound = (NOT_FOUND, "PA001", "payment not found");
    /// Not a payment id, or pgToken or tid blank.
    InvalidPayment = (BAD_REQUEST, "PA002", "invalid payment request");
    /// The order is not waiting for a payment.
    OrderNotPayable = (CONFLICT, "PA002", "the order cannot be paid");
    /// The payment is not pending.
    PaymentNotCancellable = (CONFLICT, "PA003", "the payment cannot be cancelled");
    /// No completed payment, or the provider refused the refund.
    PaymentNotRefundable = (CONFLICT, "PA004", "the payment cannot be refunded");
    /// The payment was declined, is not pending, or the order ended.
    PaymentFailed = (CONFLICT, "PA005", "the payment failed");
    /// Only the buyer pays for an order.
    NotThePayer = (FORBIDDEN, "PA006", "only the buyer may pay for an order");
    /// The payment provider did not answer; nothing was changed.
    PaymentProviderUnavailable = (SERVICE_UNAVAILABLE, "PAYMENT_PROVIDER_UNAVAILABLE", "the payment provider is unavailable, retry shortly");

    // ---- operations ----
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_and_statuses_are_errors() {
        // A code string may be answered with two statuses (PA002: 400 for a malformed request,
        // 409 for an order that cannot be paid); each (code, status) pair is listed once.
        let mut seen = HashSet::new();
        for code in ErrorCode::ALL {
            assert!(
                seen.insert((code.as_str(), code.status())),
                "{} {} is listed twice",
                code.as_str(),
                code.status()
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
