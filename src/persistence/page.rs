//! Paging of list queries: `?page=<0-based, at most max_page_number>&size=<n, at most
//! max_page_size>&sort=<prop>,<asc|desc>`, checked into a [`PageRequest`] that repositories turn
//! into SQL (`ORDER BY .. LIMIT .. OFFSET ..`).
//!
//! Both bounds come from the configuration ([`PageLimits`]). Nothing computed from `page` and
//! `size` can overflow: they are bounded before use and the arithmetic saturates.

use serde::Deserialize;

use crate::config::Config;

/// The bounds a page request is checked against (from `max_page_size` and `max_page_number`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimits {
    /// Largest `size`.
    pub max_size: i64,
    /// Largest (0-based) `page`.
    pub max_page: i64,
}

impl Config {
    /// The paging bounds of every list endpoint.
    pub fn page_limits(&self) -> PageLimits {
        PageLimits {
            max_size: i64::from(self.max_page_size),
            max_page: i64::from(self.max_page_number),
        }
    }
}

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
    /// Rows skipped before this page (saturating: `page` and `size` are bounded anyway).
    pub fn offset(&self) -> i64 {
        self.page.saturating_mul(self.size)
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
    /// Check against `allowed` (`(json property, SQL column)` pairs; the first is the default
    /// sort) and `limits`. The error is the message saying what is out of range.
    pub fn check(
        &self,
        allowed: &[(&str, &'static str)],
        default_size: i64,
        limits: PageLimits,
    ) -> Result<PageRequest, String> {
        let PageLimits { max_size, max_page } = limits;
        let page = self.page.unwrap_or(0);
        if !(0..=max_page).contains(&page) {
            return Err(format!("page must be 0 to {max_page}"));
        }
        let size = self.size.unwrap_or(default_size);
        if size < 1 || size > max_size {
            return Err(format!("size must be 1 to {max_size}"));
        }
        let (mut column, mut descending) = (allowed[0].1, true);
        if let Some(sort) = self.sort.as_deref().filter(|s| !s.trim().is_empty()) {
            let mut parts = sort.split(',');
            let prop = parts.next().unwrap_or("").trim();
            column = allowed
                .iter()
                .find(|(p, _)| p.eq_ignore_ascii_case(prop))
                .map(|(_, c)| *c)
                .ok_or_else(|| format!("cannot sort by `{prop}`"))?;
            descending = match parts.next().map(|d| d.trim().to_ascii_lowercase()) {
                None => false,
                Some(d) if d == "asc" => false,
                Some(d) if d == "desc" => true,
                Some(d) => {
                    return Err(format!("sort direction must be asc or desc, not `{d}`"));
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
