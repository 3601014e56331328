//! catalog API tests.
