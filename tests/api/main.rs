//! The integration test binary: every API and storage test runs through here.
//!
//! Tests needing MariaDB or Redis are `#[ignore]`d; CI runs them with `--include-ignored` and
//! `TEST_MYSQL_URL` / `TEST_REDIS_URL` set. `TEST_LOG=1` shows the service's logs.

mod helpers;

mod accounts;
mod catalog;
mod consistency;
mod coupons;
mod demo;
mod engine;
mod health;
mod journeys;
mod load;
mod node_lock;
mod openapi;
mod ops;
mod orders;
mod outage;
mod pages;
mod payments;
mod protocol;
mod security;
mod storage;
