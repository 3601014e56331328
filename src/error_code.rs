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
    /// A field, path segment or query parameter that is missing or out of range.
    InvalidValue = (BAD_REQUEST, "INVALID_VALUE", "a value in the request is not valid");
    /// A list's page, size or sort out of range.
    InvalidSort = (BAD_REQUEST, "INVALID_SORT", "page, size or sort is not valid");
    /// The caller's role (or identity) may not do this.
    Forbidden = (FORBIDDEN, "FORBIDDEN", "Access is denied");
    /// A path segment that does not parse (an id that is not a number or UUID).
    InvalidPath = (BAD_REQUEST, "INVALID_PATH", "a path segment is not valid");
    /// A query string that does not parse, or a contradictory one.
    InvalidQuery = (BAD_REQUEST, "INVALID_QUERY", "the query string is not valid");
    /// No bearer token, or one that is expired, forged or not an access token.
    Unauthorized = (UNAUTHORIZED, "UNAUTHORIZED", "a valid bearer token is required");
    /// An access token issued before its account changed (password, role, deletion).
    TokenRevoked = (UNAUTHORIZED, "TOKEN_REVOKED", "this token was revoked (the account changed); log in again");
    /// No route (or asset) at this path.
    RouteNotFound = (NOT_FOUND, "NOT_FOUND", "no such endpoint");
    /// A body without `Content-Type: application/json` where JSON is expected.
    UnsupportedMediaType = (UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE", "expected a request with `Content-Type: application/json`");
    /// A request body over the limit.
    PayloadTooLarge = (PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", "request body is too large");
    /// A request body that did not arrive within the body timeout.
    RequestTimeout = (REQUEST_TIMEOUT, "REQUEST_TIMEOUT", "the request body did not arrive in time");
    /// A request target over `max_uri_bytes`.
    UriTooLong = (URI_TOO_LONG, "URI_TOO_LONG", "the request target is too long");
    /// Request headers over `max_header_bytes`.
    HeadersTooLarge = (REQUEST_HEADER_FIELDS_TOO_LARGE, "HEADERS_TOO_LARGE", "the request headers are too large");
    /// A bug or an unexpected failure; the cause is logged, never shown.
    Internal = (INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", "internal server error");

    // ---- bare statuses: errors the HTTP stack answered itself, put in the envelope ----
    /// A 400 the HTTP stack answered itself.
    BadRequest = (BAD_REQUEST, "BAD_REQUEST", "the request is not valid");
    /// A method the route does not take (with `Allow`).
    MethodNotAllowed = (METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", "this method is not allowed here");
    /// A 406 the HTTP stack answered itself.
    NotAcceptable = (NOT_ACCEPTABLE, "NOT_ACCEPTABLE", "no acceptable representation");
    /// A 409 the HTTP stack answered itself.
    Conflict = (CONFLICT, "CONFLICT", "the request conflicts with the current state");
    /// A body without a length where one is required.
    LengthRequired = (LENGTH_REQUIRED, "LENGTH_REQUIRED", "a Content-Length is required");
    /// Any other 4xx the HTTP stack answered itself.
    RequestRefused = (BAD_REQUEST, "REQUEST_REFUSED", "the request was refused");

    // ---- engine ----
    /// The actor's mailbox is full or did not answer in time.
    EngineBusy = (SERVICE_UNAVAILABLE, "ENGINE_BUSY", "too many requests for this item right now, retry shortly");
    /// The write-behind is too far behind the journal (`Retry-After: 2`).
    EngineBacklogged = (SERVICE_UNAVAILABLE, "ENGINE_BACKLOGGED", "the database is behind; retry shortly");
    /// The journal cannot record decisions (disk full, I/O error, storage down).
    JournalUnavailable = (SERVICE_UNAVAILABLE, "JOURNAL_UNAVAILABLE", "cannot record decisions right now");
    /// The node lost its lock on the database and no longer serves it.
    NodeLockLost = (SERVICE_UNAVAILABLE, "NODE_LOCK_LOST", "this node no longer serves its database; retry on another node");

    // ---- several nodes ----
    /// No node decides for the entity right now (a lease is changing hands, or its owner did not answer).
    PartitionUnavailable = (SERVICE_UNAVAILABLE, "PARTITION_UNAVAILABLE", "no node decides for this entity right now; retry shortly");
    /// A peer call without a valid signature of a node of the cluster.
    PeerSignatureInvalid = (UNAUTHORIZED, "PEER_SIGNATURE_INVALID", "this path takes only calls signed by a node of the cluster");
    /// A peer call this node has accepted before (its nonce was seen within the signature window).
    PeerCallReplayed = (UNAUTHORIZED, "PEER_CALL_REPLAYED", "this peer call was accepted before");
    /// A signed peer call whose body is not a peer call.
    PeerCallInvalid = (BAD_REQUEST, "PEER_CALL_INVALID", "not a peer call");

    // ---- accounts ----
    /// The email already has an account.
    DuplicatedEmail = (CONFLICT, "DUPLICATED_EMAIL", "this email is already registered");
    /// The nickname belongs to another account.
    DuplicatedNickname = (CONFLICT, "DUPLICATED_NICKNAME", "this nickname is taken");
    /// No such (live) user.
    UserNotFound = (NOT_FOUND, "USER_NOT_FOUND", "user not found");
    /// The verification email could not be sent.
    SendEmailError = (SERVICE_UNAVAILABLE, "SEND_EMAIL_ERROR", "the verification email could not be sent, retry shortly");
    /// The email was not verified (or no code was requested for it).
    EmailNotVerified = (BAD_REQUEST, "EMAIL_NOT_VERIFIED", "verify this email before signing up");
    /// The verification code is wrong or expired.
    WrongVerificationCode = (BAD_REQUEST, "WRONG_VERIFICATION_CODE", "the verification code is wrong or expired");
    /// A staff role asked for at signup.
    NotAllowedRole = (FORBIDDEN, "NOT_ALLOWED_ROLE", "only CUSTOMER or SELLER accounts can sign up");
    /// Login with an unknown email or a wrong password.
    WrongEmailOrPassword = (UNAUTHORIZED, "WRONG_EMAIL_OR_PASSWORD", "wrong email or password");
    /// A refresh token that is invalid, expired, revoked or already used.
    ExpiredRefreshToken = (UNAUTHORIZED, "EXPIRED_REFRESH_TOKEN", "the refresh token is invalid, expired or already used; log in again");
    /// A password change without the current password.
    CurrentPasswordRequired = (BAD_REQUEST, "CURRENT_PASSWORD_REQUIRED", "currentPassword (the password in use now) is required");
    /// A password change with a wrong current password.
    WrongCurrentPassword = (UNAUTHORIZED, "WRONG_CURRENT_PASSWORD", "the current password is wrong");
    /// The password hashing pool is at capacity (with `Retry-After`).
    PasswordHashingBusy = (SERVICE_UNAVAILABLE, "PASSWORD_HASHING_BUSY", "too many password checks in progress, retry shortly");
    /// The user keeps the most addresses allowed.
    TooManyAddresses = (CONFLICT, "TOO_MANY_ADDRESSES", "too many addresses for this user");
    /// No such address.
    AddressNotFound = (NOT_FOUND, "ADDRESS_NOT_FOUND", "address not found");
    /// Another user's address.
    NotAllowedContent = (FORBIDDEN, "NOT_ALLOWED_CONTENT", "this address belongs to another user");
    /// The address was deleted.
    DeletedAddress = (NOT_FOUND, "DELETED_ADDRESS", "this address was deleted");
    /// The user has no default address.
    NotExistsDefaultAddress = (NOT_FOUND, "NOT_EXISTS_DEFAULT_ADDRESS", "no default address is set");

    // ---- catalog: companies, products, promotions, reviews ----
    /// No such company.
    CompanyNotFound = (NOT_FOUND, "CA001", "company not found");
    /// A company field, id or filter that is missing or out of range.
    InvalidCompany = (BAD_REQUEST, "CA002", "a company field is not valid");
    /// A seller asking for, or changing, a company they do not manage.
    NotCompanyManager = (FORBIDDEN, "CA005", "only the company's manager may do this");
    /// The business registration number belongs to another company.
    DuplicateBusinessNumber = (CONFLICT, "CA006", "a company with this business registration number already exists");
    /// A company list's page, size or sort out of range.
    InvalidCompanyPaging = (BAD_REQUEST, "CA007", "page, size or sort is not valid");
    /// The company was already approved or rejected.
    CompanyAlreadyDecided = (CONFLICT, "CA009", "only a REQUESTED or PENDING company can be decided");
    /// No such product (or it was deleted).
    ProductNotFound = (NOT_FOUND, "P002", "product not found");
    /// A product, promotion or review field, id or filter that is missing or out of range.
    InvalidCatalogValue = (BAD_REQUEST, "P003", "a field is not valid");
    /// Not the seller of the product's company (or not the review's author).
    NotProductOwner = (FORBIDDEN, "P006", "only the seller of the product's company may change it");
    /// The order line already has a review.
    DuplicateReview = (CONFLICT, "P007", "this order line already has a review");
    /// A product, promotion or review list's page, size or sort out of range.
    InvalidCatalogPaging = (BAD_REQUEST, "P008", "page, size or sort is not valid");
    /// A sale's quantity above the available stock (or below what it already sold).
    SaleQuantityOverStock = (BAD_REQUEST, "P010", "quantity must be at most the available stock");
    /// A sale price that is not below the product's price.
    SalePriceNotBelowPrice = (BAD_REQUEST, "P011", "discountPrice must be below the price");
    /// No such promotion.
    PromotionNotFound = (NOT_FOUND, "P012", "promotion not found");
    /// Another promotion of the product overlaps the window.
    PromotionOverlaps = (BAD_REQUEST, "P013", "another promotion of this product overlaps this window");
    /// The promotion runs now.
    PromotionInProgress = (BAD_REQUEST, "P014", "the promotion is in progress");
    /// No such review.
    ReviewNotFound = (NOT_FOUND, "P015", "review not found");
    /// A stock total below the units reserved or sold.
    StockBelowCommitted = (BAD_REQUEST, "P021", "the stock cannot go below the units reserved or sold");
    /// A sale window that is not RFC 3339, in the past, or not `start < end`.
    InvalidSaleWindow = (BAD_REQUEST, "P023", "start and end must be RFC 3339 date-times, not in the past, start before end");
    /// A product for a company that is not APPROVED.
    CompanyNotApproved = (BAD_REQUEST, "PC016", "the company is not APPROVED");
    /// A product for a company that does not exist.
    ProductCompanyNotFound = (NOT_FOUND, "PC017", "company not found");
    /// The promotion is over.
    PromotionCompleted = (BAD_REQUEST, "PROMOTION_COMPLETED", "the promotion is over");
    /// A review of an order that does not exist or is not the caller's (the orders' code).
    ReviewOrderNotFound = (NOT_FOUND, "O019", "order not found");
    /// A review of an order that is not COMPLETE.
    ReviewOrderNotComplete = (BAD_REQUEST, "ORDER_NOT_COMPLETE", "only a COMPLETE order can be reviewed");
    /// A review of a product the order does not contain.
    ProductNotInOrder = (BAD_REQUEST, "PRODUCT_NOT_IN_ORDER", "the order does not contain this product");
    /// A row changed between its read and its conditional write.
    ConcurrentUpdate = (CONFLICT, "CONCURRENT_UPDATE", "the review changed meanwhile; retry");

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
    /// A basket, order or payment list's page, size or sort out of range.
    InvalidCommercePaging = (BAD_REQUEST, "008", "page, size or sort is not valid");
    /// A body that is not JSON (bodies read as bytes, to be hashed for idempotency).
    InvalidJson = (BAD_REQUEST, "INVALID_JSON", "malformed JSON");
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
    OrderProductNotFound = (NOT_FOUND, "OP001", "product not found");
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
    /// Over the per-user or per-address rate (with `Retry-After`).
    RateLimited = (TOO_MANY_REQUESTS, "RATE_LIMITED", "too many requests, slow down");
    /// An operator's stock change that would take more units than are available.
    StockBelowZero = (CONFLICT, "STOCK_BELOW_ZERO", "cannot remove more units than are available");
    /// An operator closing the time sale of a product that has none.
    NoSale = (CONFLICT, "NO_SALE", "this product has no time sale");

    // ---- pages ----
    /// A live stream asked for without ids, or with ids that are not UUIDs.
    LiveBadIds = (BAD_REQUEST, "LIVE_BAD_IDS", "give productIds or couponInfoIds");
    /// Every live stream slot is taken (`Retry-After: 5`).
    LiveStreamsFull = (SERVICE_UNAVAILABLE, "LIVE_STREAMS_FULL", "too many live streams are open, retry shortly");
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
