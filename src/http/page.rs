//! One pagination style for the whole API: the query is checked by
//! [`crate::persistence::page`] (its types are re-exported here), and answered with a Spring-like
//! page body. Beyond the bounds the resource's own invalid-paging code is answered (400).

use serde::Serialize;

use super::error::ApiError;
pub use crate::persistence::page::{PageLimits, PageQuery, PageRequest};

impl PageQuery {
    /// Validate against `allowed` (`(json property, SQL column)` pairs; the first is the default
    /// sort) and `limits`. Errors carry `invalid_code` (the resource's INVALID_SORT code).
    pub fn validate(
        &self,
        allowed: &[(&str, &'static str)],
        default_size: i64,
        limits: PageLimits,
        invalid_code: crate::error_code::ErrorCode,
    ) -> Result<PageRequest, ApiError> {
        self.check(allowed, default_size, limits)
            .map_err(|message| ApiError::coded(invalid_code, message))
    }
}

/// A Spring-like page.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub content: Vec<T>,
    pub total_elements: i64,
    pub total_pages: i64,
    /// The 0-based page number.
    pub number: i64,
    pub size: i64,
    pub number_of_elements: i64,
    pub first: bool,
    pub last: bool,
    pub empty: bool,
}

impl<T> Page<T> {
    pub fn new(content: Vec<T>, total_elements: i64, request: &PageRequest) -> Self {
        let total_pages = if total_elements <= 0 || request.size <= 0 {
            0
        } else {
            // (total + size - 1) / size without the overflow near i64::MAX
            total_elements / request.size + i64::from(total_elements % request.size != 0)
        };
        let n = content.len() as i64;
        Page {
            first: request.page == 0,
            last: request.page.saturating_add(1) >= total_pages,
            empty: content.is_empty(),
            number_of_elements: n,
            content,
            total_elements,
            total_pages,
            number: request.page,
            size: request.size,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error_code::ErrorCode;

    const ALLOWED: &[(&str, &str)] = &[("createdAt", "created_at"), ("price", "price")];
    const LIMITS: PageLimits = PageLimits {
        max_size: 100,
        max_page: 1_000,
    };

    #[test]
    fn validates_sort_size_and_page() {
        let q = PageQuery {
            page: Some(2),
            size: Some(10),
            sort: Some("price,desc".into()),
        };
        let r = q
            .validate(ALLOWED, 10, LIMITS, ErrorCode::InvalidCatalogPaging)
            .unwrap();
        assert_eq!(
            (r.order_column, r.descending, r.offset()),
            ("price", true, 20)
        );
        let bad = PageQuery {
            sort: Some("password".into()),
            ..Default::default()
        };
        assert_eq!(
            bad.validate(ALLOWED, 10, LIMITS, ErrorCode::InvalidCatalogPaging)
                .unwrap_err()
                .code(),
            "P008"
        );
        let big = PageQuery {
            size: Some(101),
            ..Default::default()
        };
        assert!(
            big.validate(ALLOWED, 10, LIMITS, ErrorCode::InvalidCatalogPaging)
                .is_err()
        );
        let p = Page::new(
            vec![1, 2],
            12,
            &PageQuery::default()
                .validate(ALLOWED, 10, LIMITS, ErrorCode::InvalidSort)
                .unwrap(),
        );
        assert_eq!((p.total_pages, p.first, p.last), (2, true, false));
    }

    #[test]
    fn page_is_bounded_and_nothing_overflows() {
        let at = |page: i64, size: i64| PageQuery {
            page: Some(page),
            size: Some(size),
            sort: None,
        };
        for page in [i64::MAX, i64::MAX / 10, 1_001, -1, i64::MIN] {
            let err = at(page, 10)
                .validate(ALLOWED, 10, LIMITS, ErrorCode::InvalidCatalogPaging)
                .unwrap_err();
            assert_eq!(
                (err.status().as_u16(), err.code()),
                (400, "P008"),
                "page {page}"
            );
        }
        for size in [i64::MAX, i64::MIN, 0] {
            assert!(
                at(0, size)
                    .validate(ALLOWED, 10, LIMITS, ErrorCode::InvalidCatalogPaging)
                    .is_err()
            );
        }
        let last = at(1_000, 100)
            .validate(ALLOWED, 10, LIMITS, ErrorCode::InvalidCatalogPaging)
            .unwrap();
        assert_eq!(last.offset(), 100_000);
        // A request built by hand with huge numbers still neither panics nor wraps.
        let huge = PageRequest {
            page: i64::MAX,
            size: i64::MAX,
            order_column: "created_at",
            descending: true,
        };
        assert_eq!(huge.offset(), i64::MAX);
        let p = Page::new(Vec::<i32>::new(), i64::MAX, &huge);
        assert_eq!((p.total_pages, p.last), (1, true));
        let p = Page::new(vec![1], i64::MAX, &last);
        assert!(!p.last);
    }
}
