//! The order path's read-through caches live with the commerce services
//! ([`crate::commerce::lookups`]); the handlers that change products and addresses drop their
//! entries through [`crate::http::AppState::lookups`].

pub use crate::commerce::lookups::*;
