//! The OpenAPI 3 document at `/v3/api-docs`, generated from the handlers' annotations, and a
//! Swagger UI page at `/swagger-ui` whose files are compiled into the binary (Swagger UI works
//! offline; see `src/http/pages/assets/vendor/swagger-ui/README.md`).

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::get;
use utoipa::OpenApi;

use super::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "hotdeal", description = "Hot-deal commerce API: accounts, catalog, time sales, first-come-first-served coupons, orders and payments."),
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

/// The whole document, every module's paths merged.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(super::accounts::AccountsApi::openapi());
    doc.merge(super::catalog::CatalogApi::openapi());
    doc.merge(super::commerce::CommerceApi::openapi());
    doc.merge(super::ops::OpsApi::openapi());
    doc.merge(super::pages::PagesApi::openapi());
    doc
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v3/api-docs", get(api_docs))
        .route("/swagger-ui", get(swagger_ui))
        .route("/swagger-ui/", get(swagger_ui))
}

async fn api_docs() -> impl IntoResponse {
    axum::Json(document())
}

/// The Swagger UI page: its script and styles are served by this binary (`/assets/vendor/`), so it
/// works without internet.
async fn swagger_ui(headers: axum::http::HeaderMap) -> axum::response::Response {
    super::pages::assets::respond(&super::pages::assets::SWAGGER_UI, &headers)
}
