//! The OpenAPI 3 document at `/v3/api-docs`, generated from the handlers' annotations, and a
//! Swagger UI page at `/swagger-ui` whose files are compiled into the binary (Swagger UI works
//! offline; see `src/http/pages/assets/vendor/swagger-ui/README.md`).

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::get;
use utoipa::OpenApi;

use super::AppState;
use crate::error_code::ErrorCode;

#[derive(OpenApi)]
#[openapi(
    info(title = "hotdeal", description = "Hot-deal commerce API: accounts, catalog, time sales, first-come-first-served coupons, orders and payments.\n\nEvery success under `/api/` is `{message, data}`; every error is `{timestamp, code, message}` with a stable `code` (429 and 503 carry `Retry-After`). Authenticated operations take `Authorization: Bearer <access token>` from `POST /api/v1/auth/login`. Each operation's description lists the codes it can answer."),
    paths(
        super::health::healthz,
        super::health::readyz,
        super::coupons::create_campaign,
        super::coupons::get_campaign,
        super::coupons::set_status,
        super::coupons::issue,
        super::coupons::list_mine,
        super::coupons::get_coupon,
        super::coupons::update_campaign,
        super::coupons::list_campaigns,
        super::coupons::delete_coupon,
        super::admin::create,
        super::admin::list,
        super::admin::audit,
        super::admin::engine_status,
        super::cluster::cluster_view,
        super::cluster::owner,
    ),
    components(schemas(super::error::ErrorBody)),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Each module's own document, by name, before they are merged. Merging keeps the first schema
/// of a name and silently drops the others, so two parts defining one name differently is a
/// bug (see the API suite's document test).
pub fn parts() -> Vec<(&'static str, utoipa::openapi::OpenApi)> {
    vec![
        ("root", ApiDoc::openapi()),
        ("accounts", super::accounts::AccountsApi::openapi()),
        ("catalog", super::catalog::CatalogApi::openapi()),
        ("commerce", super::commerce::CommerceApi::openapi()),
        ("ops", super::ops::OpsApi::openapi()),
        ("pages", super::pages::PagesApi::openapi()),
    ]
}

/// The whole document: every module's paths merged, operation ids made unique, then the answers
/// that follow from an operation's shape added to it (see [`add_standard_errors`]).
pub fn document() -> utoipa::openapi::OpenApi {
    let mut parts = parts().into_iter();
    let (_, mut doc) = parts.next().expect("the root part");
    for (_, part) in parts {
        doc.merge(part);
    }
    unique_operation_ids(&mut doc);
    add_standard_errors(&mut doc);
    doc
}

/// Operations whose JSON body is read as bytes (hashed for idempotency) and parsed without a
/// `Content-Type` check: they never answer 415.
const UNCHECKED_CONTENT_TYPE: &[(&str, &str)] = &[("post", "/api/v1/orders")];

/// The answers every `/api/` operation of a shape can give whatever its handler does, added to
/// the ones its annotation lists (an annotation names only what its handler decides):
///
/// - a bearer token (required, or optional and sent): 401 `UNAUTHORIZED`, `TOKEN_REVOKED`;
/// - a path parameter: 400 `INVALID_PATH`; a query parameter: 400 `INVALID_QUERY` (unless the
///   annotation names its own code for "a query parameter");
/// - a JSON body: 400 `INVALID_JSON`, `INVALID_VALUE`; 408 `REQUEST_TIMEOUT`;
///   413 `PAYLOAD_TOO_LARGE`; 415 `UNSUPPORTED_MEDIA_TYPE`;
/// - any: 503 `SERVICE_UNAVAILABLE` (the database or Redis is unreachable; `Retry-After`).
///
/// Every error answer gets the envelope's schema, and the operation's description ends with the
/// list of its error answers and their codes.
fn add_standard_errors(doc: &mut utoipa::openapi::OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let operations = [
            ("get", &mut item.get),
            ("put", &mut item.put),
            ("post", &mut item.post),
            ("delete", &mut item.delete),
            ("patch", &mut item.patch),
        ];
        for (method, operation) in operations {
            if let Some(operation) = operation.as_mut() {
                if path.starts_with("/api/") {
                    standard_errors(method, path, operation);
                }
                list_errors_in_description(operation);
            }
        }
    }
}

/// Operation ids are the handlers' names, and several modules have a `list` or a `detail`:
/// a repeated id gets its tag in front (`baskets_list`), so every id is unique.
fn unique_operation_ids(doc: &mut utoipa::openapi::OpenApi) {
    let mut seen = std::collections::HashMap::<String, usize>::new();
    for item in doc.paths.paths.values() {
        for op in [&item.get, &item.put, &item.post, &item.delete, &item.patch]
            .into_iter()
            .flatten()
        {
            if let Some(id) = &op.operation_id {
                *seen.entry(id.clone()).or_default() += 1;
            }
        }
    }
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            let Some(id) = op.operation_id.clone() else {
                continue;
            };
            if seen.get(&id).copied().unwrap_or(0) > 1 {
                let tag = op
                    .tags
                    .as_ref()
                    .and_then(|t| t.first())
                    .map(|t| t.replace(' ', "_"))
                    .unwrap_or_default();
                op.operation_id = Some(format!("{tag}_{id}"));
            }
        }
    }
}

fn standard_errors(method: &str, path: &str, op: &mut utoipa::openapi::path::Operation) {
    use utoipa::openapi::path::ParameterIn;
    let security = op
        .security
        .as_ref()
        .and_then(|s| serde_json::to_value(s).ok())
        .unwrap_or_default();
    let requirements = security.as_array().cloned().unwrap_or_default();
    let bearer = requirements.iter().any(|r| r.get("bearer").is_some());
    let optional = requirements
        .iter()
        .any(|r| r.as_object().is_some_and(|o| o.is_empty()));
    let params = op.parameters.as_deref().unwrap_or_default();
    let has_path = params.iter().any(|p| p.parameter_in == ParameterIn::Path);
    let has_query = params.iter().any(|p| p.parameter_in == ParameterIn::Query);
    let json_body = op
        .request_body
        .as_ref()
        .is_some_and(|b| b.content.contains_key("application/json"));
    if has_path {
        add_error(
            op,
            ErrorCode::InvalidPath,
            "a path parameter of the wrong type or not UTF-8",
        );
    }
    // A handler that reads its query string itself names its own code for it.
    if has_query && !answer_mentions(op, 400, "query parameter") {
        add_error(
            op,
            ErrorCode::InvalidQuery,
            "a query parameter of the wrong type",
        );
    }
    if json_body {
        add_error(op, ErrorCode::InvalidJson, "malformed JSON");
        add_error(
            op,
            ErrorCode::InvalidValue,
            "a field missing or of the wrong type",
        );
        add_error(
            op,
            ErrorCode::RequestTimeout,
            "the body did not arrive in time",
        );
        add_error(
            op,
            ErrorCode::PayloadTooLarge,
            "the body is over the size limit",
        );
        if !UNCHECKED_CONTENT_TYPE.contains(&(method, path)) {
            add_error(
                op,
                ErrorCode::UnsupportedMediaType,
                "no `Content-Type: application/json`",
            );
        }
    }
    if bearer {
        let when = if optional {
            " (only when a token is sent)"
        } else {
            ""
        };
        add_error(
            op,
            ErrorCode::Unauthorized,
            &format!("missing, malformed, forged or expired access token{when}"),
        );
        add_error(
            op,
            ErrorCode::TokenRevoked,
            "the account was deleted or its password or role changed after the token was issued",
        );
    }
    add_error(
        op,
        ErrorCode::ServiceUnavailable,
        "storage unreachable, retry after `Retry-After`",
    );
}

/// Whether the `status` answer of `op` already mentions `text`.
fn answer_mentions(op: &utoipa::openapi::path::Operation, status: u16, text: &str) -> bool {
    match op.responses.responses.get(&status.to_string()) {
        Some(utoipa::openapi::RefOr::T(r)) => r.description.contains(text),
        _ => false,
    }
}

/// Add `code` to the `status` answer of `op` (creating it, with the error envelope's schema).
fn add_error(op: &mut utoipa::openapi::path::Operation, error: ErrorCode, text: &str) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response};
    let code = error.as_str();
    let key = error.status().as_u16().to_string();
    let entry = op
        .responses
        .responses
        .entry(key)
        .or_insert_with(|| RefOr::T(Response::new("")));
    let RefOr::T(response) = entry else { return };
    if response.content.is_empty() {
        response.content.insert(
            "application/json".into(),
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        );
    }
    if response.description.contains(code) {
        return;
    }
    let line = format!("`{code}`: {text}");
    response.description = if response.description.trim().is_empty() {
        line
    } else {
        format!(
            "{}; {line}",
            response.description.trim_end_matches(['.', ';'])
        )
    };
}

/// End the operation's description with its error answers (`- 404: \`CO001\`: ...`).
fn list_errors_in_description(op: &mut utoipa::openapi::path::Operation) {
    use utoipa::openapi::RefOr;
    let errors: Vec<String> = op
        .responses
        .responses
        .iter()
        .filter(|(status, _)| status.parse::<u16>().is_ok_and(|s| s >= 400))
        .filter_map(|(status, response)| match response {
            RefOr::T(r) => Some(format!("- {status}: {}", r.description)),
            RefOr::Ref(_) => None,
        })
        .collect();
    if errors.is_empty() {
        return;
    }
    let mut description = op.description.take().unwrap_or_default();
    if !description.is_empty() {
        description.push_str("\n\n");
    }
    description.push_str("Errors:\n");
    description.push_str(&errors.join("\n"));
    op.description = Some(description);
}

/// The document as served (built once).
fn document_json() -> &'static str {
    static JSON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    JSON.get_or_init(|| serde_json::to_string(&document()).expect("the document serializes"))
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v3/api-docs", get(api_docs))
        .route("/swagger-ui", get(swagger_ui))
        .route("/swagger-ui/", get(swagger_ui))
}

async fn api_docs() -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        document_json(),
    )
}

/// The Swagger UI page: its script and styles are served by this binary (`/assets/vendor/`), so it
/// works without internet.
async fn swagger_ui(headers: axum::http::HeaderMap) -> axum::response::Response {
    super::pages::assets::respond(&super::pages::assets::SWAGGER_UI, &headers)
}
