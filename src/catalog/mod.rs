//! Catalog services (seed sections 3 and 4): companies, products, time sales (promotions) and
//! reviews, below HTTP. `crate::http::catalog` parses a request, calls one function here and maps
//! the result; the SQL is in [`crate::persistence::catalog`].
//!
//! The item actor owns a product's stock, price, on-sale flag and current time sale; these
//! services change those only through the engine and keep the descriptive fields in SQL.
//! Fixed seed quirks: a company always starts REQUESTED and is decided once by staff; every edit
//! checks ownership; validations are enforced; promotions switch at their exact instants (the
//! engine reads the clock) and `start < end` is required; soft-deleted reviews are hidden;
//! review counters move in the same transaction as the review.
//!
//! Times in JSON are RFC 3339 strings in UTC (`2025-01-10T10:00:00.000Z`). Inputs may carry any
//! offset; a time without an offset (the seed's local datetimes) is read as UTC.

use std::sync::LazyLock;

use uuid::Uuid;

use crate::domain::Millis;
use crate::domain::clock::SharedClock;
use crate::engine::EngineHandle;
use crate::error_code::ErrorCode;
use crate::persistence::Db;
use crate::persistence::repo::SqlStore;

pub mod companies;
pub mod error;
pub mod products;
pub mod reviews;
pub mod rotator;
pub mod sales;

pub use error::{CatalogError, CatalogResult};
pub use sales::reconcile_sale;

/// What the catalog services work with: the database, the engine and the clock.
#[derive(Clone)]
pub struct Catalog {
    pub db: Db,
    pub store: SqlStore,
    pub engine: EngineHandle,
    pub clock: SharedClock,
}

impl Catalog {
    pub fn new(db: Db, engine: EngineHandle, clock: SharedClock) -> Self {
        Self {
            store: SqlStore::new(db.clone()),
            db,
            engine,
            clock,
        }
    }

    pub fn now_ms(&self) -> Millis {
        self.clock.now_ms()
    }
}

/// Who asks: the signed-in user as the catalog sees them.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub user_id: Uuid,
    /// Recorded as the author of a change (`created_by`, `updated_by`, ...).
    pub email: &'a str,
    /// MASTER or MANAGER: may act on any company, product or review.
    pub staff: bool,
}

/// Longest accepted image URL.
pub const MAX_URL_CHARS: usize = 2_048;

/// Whether `s` looks like an absolute http(s) URL with a host (the images are stored by URL).
pub fn is_url(s: &str) -> bool {
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
pub fn check_urls(urls: &[String], max: usize, field: &str, code: ErrorCode) -> CatalogResult<()> {
    if urls.len() > max {
        return Err(CatalogError::coded(
            code,
            format!("{field} holds at most {max} URLs"),
        ));
    }
    if let Some(bad) = urls.iter().find(|u| !is_url(u)) {
        return Err(CatalogError::coded(
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
pub fn check_text(value: &str, max: usize, field: &str, code: ErrorCode) -> CatalogResult<String> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > max {
        return Err(CatalogError::coded(
            code,
            format!("{field} must be 1 to {max} characters"),
        ));
    }
    Ok(v.to_string())
}

/// RFC 3339 in UTC with milliseconds.
pub use crate::domain::clock::rfc3339;

/// An RFC 3339 instant, or a date-time without offset read as UTC.
pub fn parse_instant(s: &str) -> Option<Millis> {
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

/// Striped locks serializing the catalog's engine-and-database changes per product (promotion
/// create/update/delete, sale reconciliation, stock and price edits), so that two requests for
/// the same product cannot both pass a check that only one of them may pass.
static PRODUCT_LOCKS: LazyLock<Vec<tokio::sync::Mutex<()>>> =
    LazyLock::new(|| (0..64).map(|_| tokio::sync::Mutex::new(())).collect());

/// The lock of `product`'s stripe.
pub fn product_lock(product: Uuid) -> &'static tokio::sync::Mutex<()> {
    let stripe = (product.as_u128() % PRODUCT_LOCKS.len() as u128) as usize;
    &PRODUCT_LOCKS[stripe]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_times() {
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
    }
}
