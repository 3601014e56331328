//! Commerce services: the flows of baskets, orders, payments and coupons, below HTTP.
//!
//! A handler parses its request, calls one function here and maps the result; the flows
//! themselves (an order's saga with its compensations, the payment steps, the expiry sweep) live
//! here, their SQL in [`crate::persistence`], their decisions in the [`crate::engine`]. Refusals
//! are [`CommerceError`] values: a code of [`crate::error_code::ErrorCode`] or an engine outcome,
//! turned into HTTP answers by `http::outcomes` alone.
//!
//! Dependency direction: `domain <- actors <- engine <- commerce <- http`; nothing here names an
//! HTTP type.

use std::sync::Arc;

use crate::config::Config;
use crate::domain::Millis;
use crate::domain::ids::UserId;
use crate::engine::EngineHandle;
use crate::payments::PaymentProvider;
use crate::persistence::Db;
use crate::persistence::repo::SqlStore;

pub mod baskets;
pub mod coupons;
pub mod error;
pub mod idempotency;
pub mod lookups;
pub mod orders;
pub mod payments;

pub use error::{CommerceError, CommerceResult};

/// What the commerce services share (one per app, cheap to clone).
#[derive(Clone)]
pub struct Commerce {
    pub config: Arc<Config>,
    pub db: Db,
    pub store: SqlStore,
    pub engine: EngineHandle,
    pub payments: Arc<dyn PaymentProvider>,
    /// The base URL browsers reach this service at (payment redirects).
    pub public_base_url: String,
    /// Cached product and address rows for the order path.
    pub lookups: Arc<lookups::Lookups>,
}

impl Commerce {
    pub fn now_ms(&self) -> Millis {
        self.engine.now_ms()
    }

    /// Read-your-writes: wait (at most 2 s) until the database holds everything decided so far.
    pub async fn wait_for_writebehind(&self) {
        self.engine
            .journal()
            .wait_applied(std::time::Duration::from_secs(2))
            .await;
    }
}

/// Who asks: the signed-in user and what their role allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user: UserId,
    pub email: String,
    /// MASTER or MANAGER: may see other users' orders, payments and coupons.
    pub staff: bool,
    /// MASTER: may also cancel and refund other users' orders.
    pub master: bool,
}
