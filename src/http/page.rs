//! One pagination style for the whole API: `?page=<0-based>&size=<n, at most max_page_size>&
//! sort=<prop>,<asc|desc>`, answered with a Spring-like page body.

use serde::{Deserialize, Serialize};

use super::error::ApiError;

/// The query parameters.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PageQuery {
    pub page: Option<i64>,
    pub size: Option<i64>,
    pub sort: Option<String>,
}

/// A validated page request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub page: i64,
    pub size: i64,
    /// The SQL column to order by (from the allowed list) and the direction.
    pub order_column: &'static str,
    pub descending: bool,
}

impl PageRequest {
    pub fn offset(&self) -> i64 {
        self.page * self.size
    }

    /// `ORDER BY <col> <dir>, <tiebreak> <dir> LIMIT <size> OFFSET <offset>` (values are
    /// validated numbers and whitelisted names, so this is safe to format into SQL).
    pub fn sql_tail(&self, tiebreak: &str) -> String {
        let dir = if self.descending { "DESC" } else { "ASC" };
        format!(
            " ORDER BY {} {dir}, {tiebreak} {dir} LIMIT {} OFFSET {}",
            self.order_column,
            self.size,
            self.offset()
        )
    }
}

impl PageQuery {
    /// Validate against `allowed` (`(json property, SQL column)` pairs; the first is the default
    /// sort) and the size limit. Errors carry `invalid_code` (the resource's INVALID_SORT code).
    pub fn validate(
        &self,
        allowed: &[(&str, &'static str)],
        default_size: i64,
        max_size: i64,
        invalid_code: &'static str,
    ) -> Result<PageRequest, ApiError> {
        let page = self.page.unwrap_or(0);
        if page < 0 {
            return Err(ApiError::bad_request(
                invalid_code,
                "page must be 0 or more",
            ));
        }
        let size = self.size.unwrap_or(default_size);
        if size < 1 || size > max_size {
            return Err(ApiError::bad_request(
                invalid_code,
                format!("size must be 1 to {max_size}"),
            ));
        }
        let (mut column, mut descending) = (allowed[0].1, true);
        if let Some(sort) = self.sort.as_deref().filter(|s| !s.trim().is_empty()) {
            let mut parts = sort.split(',');
            let prop = parts.next().unwrap_or("").trim();
            column = allowed
                .iter()
                .find(|(p, _)| p.eq_ignore_ascii_case(prop))
                .map(|(_, c)| *c)
                .ok_or_else(|| {
                    ApiError::bad_request(invalid_code, format!("cannot sort by `{prop}`"))
                })?;
            descending = match parts.next().map(|d| d.trim().to_ascii_lowercase()) {
                None => false,
                Some(d) if d == "asc" => false,
                Some(d) if d == "desc" => true,
                Some(d) => {
                    return Err(ApiError::bad_request(
                        invalid_code,
                        format!("sort direction must be asc or desc, not `{d}`"),
                    ));
                }
            };
        }
        Ok(PageRequest {
            page,
            size,
            order_column: column,
            descending,
        })
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
        let total_pages = if total_elements == 0 {
            0
        } else {
            (total_elements + request.size - 1) / request.size
        };
        let n = content.len() as i64;
        Page {
            first: request.page == 0,
            last: request.page + 1 >= total_pages,
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

    const ALLOWED: &[(&str, &str)] = &[("createdAt", "created_at"), ("price", "price")];

    #[test]
    fn validates_sort_size_and_page() {
        let q = PageQuery {
            page: Some(2),
            size: Some(10),
            sort: Some("price,desc".into()),
        };
        let r = q.validate(ALLOWED, 10, 100, "P008").unwrap();
        assert_eq!(
            (r.order_column, r.descending, r.offset()),
            ("price", true, 20)
        );
        let bad = PageQuery {
            sort: Some("password".into()),
            ..Default::default()
        };
        assert_eq!(
            bad.validate(ALLOWED, 10, 100, "P008").unwrap_err().code(),
            "P008"
        );
        let big = PageQuery {
            size: Some(101),
            ..Default::default()
        };
        assert!(big.validate(ALLOWED, 10, 100, "P008").is_err());
        let p = Page::new(
            vec![1, 2],
            12,
            &PageQuery::default()
                .validate(ALLOWED, 10, 100, "X")
                .unwrap(),
        );
        assert_eq!((p.total_pages, p.first, p.last), (2, true, false));
    }
}
