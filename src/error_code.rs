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

    // ---- engine ----
    /// The actor's mailbox is full or did not answer in time.
    EngineBusy = (SERVICE_UNAVAILABLE, "ENGINE_BUSY", "too many requests for this item right now, retry shortly");

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

    // ---- commerce: baskets, orders, payments ----

    // ---- operations ----
    /// Over the per-user or per-address rate (with `Retry-After`).
    RateLimited = (TOO_MANY_REQUESTS, "RATE_LIMITED", "too many requests, slow down");
    /// An operator's stock change that would take more units than are available.
    StockBelowZero = (CONFLICT, "STOCK_BELOW_ZERO", "cannot remove more units than are available");
    /// An operator closing the time sale of a product that has none.
    NoSale = (CONFLICT, "NO_SALE", "this product has no time sale");
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
