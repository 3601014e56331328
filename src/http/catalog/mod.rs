//! Catalog endpoints (seed sections 3 and 4): companies, products, time sales (promotions) and
//! reviews.
//!
//! The item actor owns a product's stock, price, on-sale flag and current time sale; these
//! handlers change those only through the engine and keep the descriptive fields in SQL.
//! Fixed seed quirks: a company always starts REQUESTED and is decided once by staff; every edit
//! checks ownership; validations are enforced; promotions switch at their exact instants (the
//! engine reads the clock) and `start < end` is required; soft-deleted reviews are hidden;
//! review counters move in the same transaction as the review.
//!
//! Times in JSON are RFC 3339 strings in UTC (`2025-01-10T10:00:00.000Z`). Inputs may carry any
//! offset; a time without an offset (the seed's local datetimes) is read as UTC.

use std::sync::LazyLock;

use axum::Router;
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::page::PageQuery;
use crate::domain::Millis;

pub mod companies;
pub mod products;
pub mod promotions;
pub mod reviews;

pub use promotions::reconcile_sale;

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
pub(crate) fn parse_id(raw: &str, code: &'static str, what: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(raw.trim())
        .map_err(|_| ApiError::bad_request(code, format!("{what} must be a UUID")))
}

/// Longest accepted image URL.
pub(crate) const MAX_URL_CHARS: usize = 2_048;

/// Whether `s` looks like an absolute http(s) URL with a host (the images are stored by URL).
pub(crate) fn is_url(s: &str) -> bool {
    if s.len() > MAX_URL_CHARS || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    match rest {
        Some(rest) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            !host.is_empty() && !host.starts_with(':') && !host.starts_with('@')
        }
        None => false,
    }
}

/// Check a list of image URLs: at most `max` entries, each an http(s) URL.
pub(crate) fn check_urls(
    urls: &[String],
    max: usize,
    field: &str,
    code: &'static str,
) -> ApiResult<()> {
    if urls.len() > max {
        return Err(ApiError::bad_request(
            code,
            format!("{field} holds at most {max} URLs"),
        ));
    }
    if let Some(bad) = urls.iter().find(|u| !is_url(u)) {
        return Err(ApiError::bad_request(
            code,
            format!(
                "{field}: `{}` is not an http(s) URL",
                bad.chars().take(80).collect::<String>()
            ),
        ));
    }
    Ok(())
}

/// A trimmed text of 1 to `max` characters.
pub(crate) fn check_text(
    value: &str,
    max: usize,
    field: &str,
    code: &'static str,
) -> ApiResult<String> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > max {
        return Err(ApiError::bad_request(
            code,
            format!("{field} must be 1 to {max} characters"),
        ));
    }
    Ok(v.to_string())
}

/// RFC 3339 in UTC with milliseconds.
pub(crate) fn rfc3339(ms: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// An RFC 3339 instant, or a date-time without offset read as UTC.
pub(crate) fn parse_instant(s: &str) -> Option<Millis> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
    ]
    .iter()
    .find_map(|f| chrono::NaiveDateTime::parse_from_str(s, f).ok())
    .map(|t| t.and_utc().timestamp_millis())
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
    pub(crate) fn page(&self, code: &'static str) -> ApiResult<PageQuery> {
        let num = |key: &str| -> ApiResult<Option<i64>> {
            self.get(key)
                .map(|v| {
                    v.parse::<i64>().map_err(|_| {
                        ApiError::bad_request(code, format!("{key} must be an integer"))
                    })
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
    pub(crate) fn uuids(&self, key: &str, max: usize, code: &'static str) -> ApiResult<Vec<Uuid>> {
        let raw = self.all(key);
        if raw.len() > max {
            return Err(ApiError::bad_request(
                code,
                format!("{key} holds at most {max} ids"),
            ));
        }
        raw.iter()
            .map(|v| {
                Uuid::parse_str(v)
                    .map_err(|_| ApiError::bad_request(code, format!("{key} must hold UUIDs")))
            })
            .collect()
    }

    /// Whether `key` was given at all (even blank).
    pub(crate) fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }
}

/// Striped locks serializing the catalog's engine-and-database changes per product (promotion
/// create/update/delete, sale reconciliation, stock and price edits), so that two requests for
/// the same product cannot both pass a check that only one of them may pass.
static PRODUCT_LOCKS: LazyLock<Vec<tokio::sync::Mutex<()>>> =
    LazyLock::new(|| (0..64).map(|_| tokio::sync::Mutex::new(())).collect());

/// The lock of `product`'s stripe.
pub(crate) fn product_lock(product: Uuid) -> &'static tokio::sync::Mutex<()> {
    let stripe = (product.as_u128() % PRODUCT_LOCKS.len() as u128) as usize;
    &PRODUCT_LOCKS[stripe]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_times_and_queries() {
        assert!(is_url("https://cdn.example.com/a.png"));
        assert!(is_url("http://x/y"));
        assert!(!is_url("ftp://x/y"));
        assert!(!is_url("https:///nohost"));
        assert!(!is_url("https://a b"));
        assert_eq!(parse_instant("1970-01-01T00:00:01Z"), Some(1_000));
        assert_eq!(parse_instant("1970-01-01T09:00:01+09:00"), Some(1_000));
        assert_eq!(parse_instant("1970-01-01T00:00:01"), Some(1_000));
        assert_eq!(parse_instant("tomorrow"), None);
        assert_eq!(rfc3339(1_000), "1970-01-01T00:00:01.000Z");
        let q = ListQuery::parse(Some("a=1%2C2&a=3&s=x+y%21&sort=&z=%zz"));
        assert_eq!(q.all("a"), vec!["1", "2", "3"]);
        assert_eq!(q.get("s"), Some("x y!"));
        assert_eq!(q.get("sort"), None);
        assert_eq!(q.get("z"), Some("%zz"));
        assert!(q.has("sort"));
    }
}
