//! hotdeal: a hot-deal commerce engine.
//!
//! Module map (dependency direction `domain <- actors <- engine <- http`):
//! - [`domain`]: pure rules: item and campaign ledgers, coupon math, journal events, ids, clock.
//! - [`actors`]: actix shells around the ledgers, the registry, the actor runtime, the ticker.
//! - [`engine`]: [`engine::EngineHandle`], the only engine type the HTTP layer sees.
//! - [`persistence`]: the SQL pool (SQLite or MySQL), repositories, journal, write-behind, snapshots.
//! - [`http`]: axum routers, one per resource, the error envelope, auth.
//! - [`payments`]: payment providers (fake, KakaoPay).
//! - [`client`]: the typed HTTP client of the API (`hotdeal load`, the benches, the tests).
//! - [`cli`]: the `hotdeal` subcommands.
//! - [`startup`]: building and running the service; [`telemetry`]: logging.

pub mod accounts;
pub mod actors;
pub mod cli;
pub mod client;
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
