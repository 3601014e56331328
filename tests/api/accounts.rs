//! accounts API tests.
