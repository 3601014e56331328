//! hotdeal: a hot-deal commerce engine.
//!
//! Module map (dependency direction `domain <- actors <- engine <- services <- http`;
//! `persistence` is used from below `http` only):
//! - [`domain`]: pure rules: item and campaign ledgers, coupon math, journal events, ids, clock.
//! - [`actors`]: actix shells around the ledgers, the registry, the actor runtime, the ticker.
//! - [`engine`]: [`engine::EngineHandle`], the only engine type the layers above see.
//! - services, the flows below HTTP: [`catalog`] (companies, products, time sales and their
//!   rotator, reviews), [`accounts`] (email verification, signup, login, tokens, users,
//!   addresses, password hashing, token revocation) and [`commerce`] (baskets,
//!   orders, payments, coupons, idempotency records).
//! - [`error_code`]: every error code the API answers with (status, code, default message).
//! - [`persistence`]: the SQL pool (SQLite or MySQL), repositories, paging, journal,
//!   write-behind, snapshots, the node lock, and whether an error is storage being unavailable.
//! - [`cluster`]: cluster mode: partitions, the lease keeper, the fenced database journal, peer
//!   calls between nodes (their SQL is in `persistence::cluster`).
//! - [`kv`]: the key-value store (Redis, or memory) for short-lived secrets shared by nodes.
//! - [`ops`]: metrics and rate limits.
//! - [`http`]: axum routers, one per resource, the error envelope, auth.
//! - [`payments`]: payment providers (fake, KakaoPay).
//! - [`client`]: the typed HTTP client of the API (`hotdeal load`, the benches, the tests).
//! - [`config`]: the one typed configuration (CLI flags and environment).
//! - [`cli`]: the `hotdeal` subcommands.
//! - [`startup`]: building and running the service; [`telemetry`]: logging.

pub mod accounts;
pub mod actors;
pub mod catalog;
pub mod cli;
pub mod client;
pub mod cluster;
pub mod commerce;
pub mod config;
pub mod domain;
pub mod engine;
pub mod error_code;
pub mod http;
pub mod kv;
pub mod ops;
pub mod payments;
pub mod persistence;
pub mod startup;
pub mod telemetry;
