//! One error type for the whole API: a status, a stable code and a message the client may see.
//!
//! Body: `{timestamp, code, message}`. Infrastructure trouble (database, Redis, a busy engine) is
//! 503 with `Retry-After`; an internal cause is logged once with its full chain and never shown.

use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error_code::ErrorCode;

/// An API error: a code from [`ErrorCode`]'s table (which fixes its status) and a message.
#[derive(Debug)]
pub struct ApiError {
    code: ErrorCode,
    message: String,
    retry_after_s: Option<u64>,
    source: Option<anyhow::Error>,
    /// Cluster mode: the node that decides this request (see [`ForwardTo`]).
    forward_to: Option<String>,
}

/// A response extension: the request should be answered by the node at this URL, the owner of
/// the entity it touched (cluster mode; `http::cluster` forwards it there).
#[derive(Debug, Clone)]
pub struct ForwardTo(pub String);

/// The error body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// When the error happened (RFC 3339, UTC).
    pub timestamp: String,
    /// A stable machine-readable code, e.g. `CO005`.
    pub code: String,
    /// A human-readable message.
    pub message: String,
}

impl From<ErrorCode> for ApiError {
    fn from(code: ErrorCode) -> Self {
        ApiError::coded(code, code.message())
    }
}

impl ApiError {
    /// A code from the table with a message of its own (naming what is wrong). Infrastructure
    /// codes (503) carry `Retry-After: 1`.
    pub fn coded(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after_s: (code.status() == StatusCode::SERVICE_UNAVAILABLE).then_some(1),
            forward_to: None,
            source: None,
        }
    }

    /// The same error with another `Retry-After` (seconds, at least 1).
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after_s = Some(seconds.max(1));
        self
    }

    /// The same error with the cause behind it (logged when answered, never shown).
    pub fn caused_by(mut self, source: anyhow::Error) -> Self {
        self.source = Some(source);
        self
    }

    /// Cluster mode: the request belongs to the node at `url` (forwarded there when it was not
    /// forwarded already).
    pub fn forward_to(mut self, url: String) -> Self {
        self.forward_to = Some(url);
        self
    }

    /// Over a rate limit: 429 with `Retry-After`.
    pub fn too_many_requests(retry_after_s: u64) -> Self {
        ApiError::from(ErrorCode::RateLimited).retry_after(retry_after_s)
    }

    /// A bug or an unexpected failure: 500, cause logged, not shown.
    pub fn internal(source: anyhow::Error) -> Self {
        ApiError::from(ErrorCode::Internal).caused_by(source)
    }

    /// A request body that could not be read: too large (413), too slow (408, when the server's
    /// body timeout is in `cause`'s chain) or broken off (400).
    pub(crate) fn from_body_failure(
        cause: &(dyn std::error::Error + 'static),
        status: StatusCode,
        text: String,
    ) -> Self {
        let mut next = Some(cause);
        while let Some(err) = next {
            if err.is::<super::server::BodyTimeout>() {
                return ErrorCode::RequestTimeout.into();
            }
            next = err.source();
        }
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            return ErrorCode::PayloadTooLarge.into();
        }
        ApiError::coded(ErrorCode::InvalidBody, text)
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }
    pub fn code(&self) -> &'static str {
        self.code.as_str()
    }
    /// The table row this error answers with.
    pub fn error_code(&self) -> ErrorCode {
        self.code
    }
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status().as_u16(),
            self.code(),
            self.message
        )
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> Self {
        if let Some(api) = err.downcast_ref::<ApiError>() {
            let mut e = ApiError::coded(api.code, api.message.clone());
            e.retry_after_s = api.retry_after_s;
            return e;
        }
        if crate::persistence::is_unavailable(&err) {
            return ApiError::from(ErrorCode::ServiceUnavailable).caused_by(err);
        }
        ApiError::internal(err)
    }
}

impl std::error::Error for ApiError {}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => ErrorCode::UnsupportedMediaType.into(),
            JsonRejection::BytesRejection(b) => {
                ApiError::from_body_failure(&b, b.status(), b.body_text())
            }
            JsonRejection::JsonSyntaxError(e) => ApiError::coded(
                ErrorCode::InvalidJson,
                format!("malformed JSON: {}", e.body_text()),
            ),
            JsonRejection::JsonDataError(e) => ApiError::coded(
                ErrorCode::InvalidValue,
                format!("invalid request body: {}", e.body_text()),
            ),
            other => ApiError::coded(ErrorCode::InvalidValue, other.body_text()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let Some(source) = &self.source {
            if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
                tracing::error!(error = ?source, code = self.code(), "request failed");
            } else {
                tracing::warn!(error = %format!("{source:#}"), code = self.code(), "request refused");
            }
        }
        let body = ErrorBody {
            timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            code: self.code().to_string(),
            message: self.message,
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(url) = self.forward_to {
            response.extensions_mut().insert(ForwardTo(url));
        }
        if let Some(s) = self.retry_after_s {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        response
    }
}

/// `Result` for handlers.
pub type ApiResult<T> = Result<T, ApiError>;

/// The stable code of a bare status that reached the client without an [`ApiError`].
fn code_for_status(status: StatusCode) -> ErrorCode {
    match status {
        StatusCode::BAD_REQUEST => ErrorCode::BadRequest,
        StatusCode::UNAUTHORIZED => ErrorCode::Unauthorized,
        StatusCode::FORBIDDEN => ErrorCode::Forbidden,
        StatusCode::NOT_FOUND => ErrorCode::RouteNotFound,
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        StatusCode::NOT_ACCEPTABLE => ErrorCode::NotAcceptable,
        StatusCode::REQUEST_TIMEOUT => ErrorCode::RequestTimeout,
        StatusCode::CONFLICT => ErrorCode::Conflict,
        StatusCode::LENGTH_REQUIRED => ErrorCode::LengthRequired,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        StatusCode::URI_TOO_LONG => ErrorCode::UriTooLong,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
        StatusCode::UNPROCESSABLE_ENTITY => ErrorCode::InvalidValue,
        StatusCode::TOO_MANY_REQUESTS => ErrorCode::RateLimited,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => ErrorCode::HeadersTooLarge,
        StatusCode::SERVICE_UNAVAILABLE => ErrorCode::ServiceUnavailable,
        s if s.is_server_error() => ErrorCode::Internal,
        _ => ErrorCode::RequestRefused,
    }
}

/// Wraps the whole API so that no error leaves it outside the envelope:
///
/// - a request whose target is longer than `max_uri_bytes` gets `414 URI_TOO_LONG`, one whose
///   header names and values add up to more than `max_header_bytes` gets `431 HEADERS_TOO_LARGE`
///   (hyper's own, larger limits stay behind these as the last line, answering with no body);
/// - an error response that some extractor or axum itself made (plain text or no body at all:
///   405 with its `Allow` header, 413 from a body limit, ...) is rewritten into the envelope with
///   the code of its status, keeping its headers.
///
/// On the success path it costs a few comparisons and no allocation.
#[derive(Debug, Clone, Copy)]
pub struct EnvelopeLayer {
    max_uri_bytes: usize,
    max_header_bytes: usize,
}

impl EnvelopeLayer {
    pub fn new(max_uri_bytes: usize, max_header_bytes: usize) -> Self {
        Self {
            max_uri_bytes,
            max_header_bytes,
        }
    }
}

impl<S> tower::Layer<S> for EnvelopeLayer {
    type Service = EnvelopeService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        EnvelopeService {
            inner,
            limits: *self,
        }
    }
}

/// The service of [`EnvelopeLayer`].
#[derive(Debug, Clone)]
pub struct EnvelopeService<S> {
    inner: S,
    limits: EnvelopeLayer,
}

/// The length of a request target as the client sent it (origin or absolute form).
fn uri_bytes(uri: &axum::http::Uri) -> usize {
    uri.scheme_str().map_or(0, |s| s.len() + 3)
        + uri.authority().map_or(0, |a| a.as_str().len())
        + uri.path_and_query().map_or(0, |p| p.as_str().len())
}

/// Header bytes as on the wire: `name: value\r\n` per field.
fn header_bytes(headers: &axum::http::HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum()
}

impl<S, B> tower::Service<axum::http::Request<B>> for EnvelopeService<S>
where
    S: tower::Service<axum::http::Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = EnvelopeFuture<S::Future>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: axum::http::Request<B>) -> Self::Future {
        if uri_bytes(req.uri()) > self.limits.max_uri_bytes {
            let refusal = ApiError::coded(
                ErrorCode::UriTooLong,
                format!(
                    "the request target is longer than {} bytes",
                    self.limits.max_uri_bytes
                ),
            );
            return EnvelopeFuture::Ready {
                response: Some(refusal.into_response()),
            };
        }
        if header_bytes(req.headers()) > self.limits.max_header_bytes {
            let refusal = ApiError::coded(
                ErrorCode::HeadersTooLarge,
                format!(
                    "the request headers are larger than {} bytes",
                    self.limits.max_header_bytes
                ),
            );
            return EnvelopeFuture::Ready {
                response: Some(refusal.into_response()),
            };
        }
        let head = req.method() == axum::http::Method::HEAD;
        EnvelopeFuture::Inner {
            inner: self.inner.call(req),
            head,
        }
    }
}

/// Whether a response is an error that did not come from an [`ApiError`] (JSON) or a page (HTML).
fn needs_envelope(response: &Response) -> bool {
    if response.status().as_u16() < 400 {
        return false;
    }
    match response.headers().get(header::CONTENT_TYPE) {
        None => true,
        Some(v) => v.as_bytes().starts_with(b"text/plain"),
    }
}

/// Re-shape a bare error response into the envelope, keeping its status and headers.
async fn envelope(response: Response) -> Response {
    const MAX_MESSAGE_BYTES: usize = 1024;
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_MESSAGE_BYTES)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let status = parts.status;
    let code = code_for_status(status);
    let message = match status {
        StatusCode::METHOD_NOT_ALLOWED | StatusCode::PAYLOAD_TOO_LARGE => code.message().to_owned(),
        _ if !text.is_empty() => text,
        _ => status.canonical_reason().unwrap_or("error").to_owned(),
    };
    // The body and headers are the envelope's; the status stays the one answered.
    let shaped = ApiError::coded(code, message).into_response();
    let (shaped_parts, body) = shaped.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    for (name, value) in &shaped_parts.headers {
        // Headers the stack answered with (`Allow`, its own `Retry-After`) are kept.
        if name == header::CONTENT_TYPE || !parts.headers.contains_key(name) {
            parts.headers.insert(name, value.clone());
        }
    }
    Response::from_parts(parts, body)
}

pin_project_lite::pin_project! {
    /// The future of [`EnvelopeService`]: the inner future, a refusal, or (on the error path only,
    /// boxed) the rewrite of a bare error.
    #[project = EnvelopeProj]
    pub enum EnvelopeFuture<F> {
        Inner { #[pin] inner: F, head: bool },
        Rewrite { rewrite: futures::future::BoxFuture<'static, Response> },
        Ready { response: Option<Response> },
    }
}

impl<F, E> std::future::Future for EnvelopeFuture<F>
where
    F: std::future::Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        use std::task::{Poll, ready};
        loop {
            match self.as_mut().project() {
                EnvelopeProj::Inner { inner, head } => {
                    let response = ready!(inner.poll(cx))?;
                    if *head || !needs_envelope(&response) {
                        return Poll::Ready(Ok(response));
                    }
                    let rewrite = Box::pin(envelope(response));
                    self.set(EnvelopeFuture::Rewrite { rewrite });
                }
                EnvelopeProj::Rewrite { rewrite } => {
                    return Poll::Ready(Ok(ready!(rewrite.as_mut().poll(cx))));
                }
                EnvelopeProj::Ready { response } => {
                    return Poll::Ready(Ok(response
                        .take()
                        .expect("EnvelopeFuture polled after completion")));
                }
            }
        }
    }
}
