//! ops API tests.
