//! orders API tests.
