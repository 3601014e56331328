//! The success envelope `{message, data}` and a JSON extractor whose rejections are [`ApiError`]s.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::error::ApiError;

/// `{message, data}`: every successful response.
// In the OpenAPI document each response type gets its own instance of this schema
// (`Envelope_ProductView`, `Envelope_Page_ProductView`, ...).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Envelope<T> {
    /// A human-readable message (the seed's Korean texts).
    pub message: String,
    pub data: T,
}

/// The document's schema of a success without data, `{message, data: null}` (what a
/// `Reply<Option<()>>` sends). Only used in `#[utoipa::path]` responses.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct NoData {
    /// A human-readable message.
    pub message: String,
    /// Always `null`.
    #[schema(schema_with = null_schema)]
    pub data: Option<()>,
}

fn null_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::Null)
        .build()
}

/// A success response with its status.
#[derive(Debug)]
pub struct Reply<T> {
    status: StatusCode,
    body: Envelope<T>,
}

impl<T: Serialize> Reply<T> {
    /// 200 with data.
    pub fn ok(message: impl Into<String>, data: T) -> Self {
        Self {
            status: StatusCode::OK,
            body: Envelope {
                message: message.into(),
                data,
            },
        }
    }
    /// 201 with data.
    pub fn created(message: impl Into<String>, data: T) -> Self {
        Self {
            status: StatusCode::CREATED,
            body: Envelope {
                message: message.into(),
                data,
            },
        }
    }
    pub fn status(&self) -> StatusCode {
        self.status
    }
    pub fn data(&self) -> &T {
        &self.body.data
    }
}

impl<T: Serialize> IntoResponse for Reply<T> {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

/// `Json<T>` whose rejections (malformed JSON, wrong types, missing fields, too large, wrong
/// content type) come back in the error envelope with a stable code.
#[derive(Debug, axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);
