//! payments API tests.
