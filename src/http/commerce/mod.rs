//! Commerce endpoints: baskets, orders, payments, with `Idempotency-Key` support.

use axum::Router;
use axum::routing::{get, post};
use serde::de::DeserializeOwned;

use super::AppState;
use super::auth::AuthUser;
use super::error::ApiError;
use crate::commerce::Caller;
use crate::error_code::ErrorCode;

pub mod baskets;
pub mod idempotency;
pub mod orders;
pub mod payments;

/// The commerce routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/baskets", post(baskets::add).get(baskets::list))
        .route(
            "/api/v1/baskets/{id}",
            get(baskets::detail)
                .patch(baskets::update)
                .delete(baskets::remove),
        )
        .route("/api/v1/orders", post(orders::create).get(orders::list))
        .route("/api/v1/orders/{id}", get(orders::detail))
        .route("/api/v1/orders/{id}/cancel", post(orders::cancel))
        .route("/api/v1/orders/{id}/refund", post(orders::refund))
        .route(
            "/api/v1/payments",
            post(payments::ready).get(payments::list),
        )
        .route("/api/v1/payments/confirm", post(payments::confirm))
        .route("/api/v1/payments/refund", post(payments::refund_by_order))
        .route("/api/v1/payments/cancel", post(payments::cancel_by_order))
        .route("/api/v1/payments/{id}", get(payments::detail))
        .route("/payment/success", get(payments::success_page))
        .route("/payment/fail", get(payments::fail_page))
        .route("/payment/cancel", get(payments::cancel_page))
}

/// The OpenAPI paths of these routes.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    baskets::add,
    baskets::detail,
    baskets::list,
    baskets::update,
    baskets::remove,
    orders::create,
    orders::list,
    orders::detail,
    orders::cancel,
    orders::refund,
    payments::ready,
    payments::confirm,
    payments::list,
    payments::detail,
    payments::refund_by_order,
    payments::cancel_by_order,
    payments::success_page,
    payments::fail_page,
    payments::cancel_page,
))]
pub struct CommerceApi;

/// Parse a JSON body taken as bytes (handlers that also hash the body for idempotency).
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            ApiError::coded(ErrorCode::InvalidJson, format!("malformed JSON: {e}"))
        } else {
            ApiError::coded(
                ErrorCode::InvalidValue,
                format!("invalid request body: {e}"),
            )
        }
    })
}

/// Read-your-writes: wait (at most 2 s) until the database holds everything decided so far.
pub async fn wait_for_writebehind(state: &AppState) {
    state.commerce.wait_for_writebehind().await;
}

/// The signed-in user as the commerce services see them.
pub fn caller(user: &AuthUser) -> Caller {
    Caller {
        user: user.user_id,
        email: user.email.clone(),
        staff: user.role.is_staff(),
        master: user.is_master(),
    }
}
