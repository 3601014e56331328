//! Catalog endpoints (seed sections 3 and 4): companies, products, time sales (promotions) and
//! reviews. Each handler checks the caller's role, parses the path and query, calls one
//! [`crate::catalog`] service and wraps its answer; the rules live there.

use axum::Router;
use uuid::Uuid;

use super::AppState;
use super::auth::AuthUser;
use super::error::{ApiError, ApiResult};
use super::page::PageQuery;
use crate::catalog::{Caller, CatalogError};
use crate::error_code::ErrorCode;

pub mod companies;
pub mod products;
pub mod promotions;
pub mod reviews;

impl From<CatalogError> for ApiError {
    fn from(err: CatalogError) -> Self {
        match err {
            CatalogError::Refused { code, message } => ApiError::coded(code, message),
            CatalogError::Engine(e) => e.into(),
            CatalogError::Storage(e) => e.into(),
        }
    }
}

/// The caller as the catalog services see them.
pub(crate) fn caller(user: &AuthUser) -> Caller<'_> {
    Caller {
        user_id: user.user_id.0,
        email: &user.email,
        staff: user.role.is_staff(),
    }
}

/// The catalog routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(companies::router())
        .merge(products::router())
        .merge(promotions::router())
        .merge(reviews::router())
}

/// The OpenAPI paths of these routes.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        companies::create_company,
        companies::update_company,
        companies::set_company_status,
        companies::get_company,
        companies::list_companies,
        products::create_product,
        products::update_product,
        products::set_product_status,
        products::delete_product,
        products::get_product,
        products::list_products,
        promotions::create_promotion,
        promotions::update_promotion,
        promotions::delete_promotion,
        promotions::get_promotion,
        promotions::list_promotions,
        reviews::create_review,
        reviews::update_review,
        reviews::delete_review,
        reviews::get_review,
        reviews::list_reviews,
    ),
    components(schemas(
        companies::CreateCompany,
        companies::UpdateCompany,
        companies::CompanyStatusBody,
        companies::CompanyView,
        companies::CompanyCreated,
        products::CreateProduct,
        products::UpdateProduct,
        products::ProductStatusBody,
        products::ProductView,
        products::ProductCreated,
        promotions::CreatePromotion,
        promotions::UpdatePromotion,
        promotions::PromotionView,
        promotions::PromotionCreated,
        reviews::CreateReview,
        reviews::UpdateReview,
        reviews::ReviewView,
        reviews::ReviewCreated,
    ))
)]
pub struct CatalogApi;

/// Parse a path id, answering 400 with `code` when it is not a UUID.
pub(crate) fn parse_id(raw: &str, code: ErrorCode, what: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(raw.trim()).map_err(|_| ApiError::coded(code, format!("{what} must be a UUID")))
}

/// A list query string as `(key, value)` pairs, keeping repeated keys (`productIds=a&productIds=b`).
#[derive(Debug, Default, Clone)]
pub(crate) struct ListQuery(Vec<(String, String)>);

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl ListQuery {
    /// Parse a raw query string.
    pub(crate) fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect();
        Self(pairs)
    }

    /// The last non-blank value of `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, v)| k == key && !v.trim().is_empty())
            .map(|(_, v)| v.trim())
    }

    /// Every value of `key`, comma-separated ones split, blanks dropped.
    pub(crate) fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// `page`, `size` and `sort` (numbers checked; 400 with `code` otherwise).
    pub(crate) fn page(&self, code: ErrorCode) -> ApiResult<PageQuery> {
        let num = |key: &str| -> ApiResult<Option<i64>> {
            self.get(key)
                .map(|v| {
                    v.parse::<i64>()
                        .map_err(|_| ApiError::coded(code, format!("{key} must be an integer")))
                })
                .transpose()
        };
        Ok(PageQuery {
            page: num("page")?,
            size: num("size")?,
            sort: self.get("sort").map(str::to_string),
        })
    }

    /// Every value of `key` parsed as a UUID (comma-separated or repeated), at most `max`.
    pub(crate) fn uuids(&self, key: &str, max: usize, code: ErrorCode) -> ApiResult<Vec<Uuid>> {
        let raw = self.all(key);
        if raw.len() > max {
            return Err(ApiError::coded(
                code,
                format!("{key} holds at most {max} ids"),
            ));
        }
        raw.iter()
            .map(|v| {
                Uuid::parse_str(v)
                    .map_err(|_| ApiError::coded(code, format!("{key} must hold UUIDs")))
            })
            .collect()
    }

    /// Whether `key` was given at all (even blank).
    pub(crate) fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries() {
        let q = ListQuery::parse(Some("a=1%2C2&a=3&s=x+y%21&sort=&z=%zz"));
        assert_eq!(q.all("a"), vec!["1", "2", "3"]);
        assert_eq!(q.get("s"), Some("x y!"));
        assert_eq!(q.get("sort"), None);
        assert_eq!(q.get("z"), Some("%zz"));
        assert!(q.has("sort"));
    }
}
