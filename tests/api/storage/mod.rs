//! Storage contract suites, one per storage interface, each run on every backend: SQL ones on
//! SQLite always and on MySQL when `TEST_MYSQL_URL` is set (`contract_test!`), the key-value one
//! in memory always and on Redis when `TEST_REDIS_URL` is set.

mod accounts;
mod catalog;
mod engine_store;
mod kv;
