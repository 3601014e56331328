//! Operations: the Prometheus recorder and scrape-time gauges ([`metrics`]) and rate limits on
//! coupon issuing and order creation ([`ratelimit`]).

pub mod metrics;
pub mod ratelimit;

use std::net::IpAddr;

use metrics_exporter_prometheus::PrometheusHandle;

use crate::config::Config;
use crate::domain::ids::UserId;
use crate::engine::EngineHandle;
use ratelimit::RateLimiter;

/// A request over its rate limit: answered `429 RATE_LIMITED` with `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimited {
    /// Whole seconds until a token is back, at least 1.
    pub retry_after_s: u64,
}

/// What the operations layer shares: the metrics recorder handle and the rate limiter.
pub struct OpsState {
    metrics: Option<PrometheusHandle>,
    limiter: RateLimiter,
}

impl std::fmt::Debug for OpsState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpsState")
            .field("metrics", &self.metrics.is_some())
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}

impl OpsState {
    /// Install (once per process) the metrics recorder and build the rate limiter (Redis when
    /// `redis_url` is set).
    pub async fn build(config: &Config) -> anyhow::Result<OpsState> {
        let metrics = metrics::install();
        let redis_url = config
            .redis_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty());
        let limiter = match redis_url {
            Some(url) => {
                RateLimiter::redis(
                    url,
                    config.rate_limit_user_per_s,
                    config.rate_limit_ip_per_s,
                )
                .await?
            }
            None => {
                RateLimiter::in_memory(config.rate_limit_user_per_s, config.rate_limit_ip_per_s)
            }
        };
        if limiter.is_enabled() {
            tracing::info!(
                backend = limiter.backend_name(),
                user_per_s = config.rate_limit_user_per_s,
                ip_per_s = config.rate_limit_ip_per_s,
                "rate limits on coupon issue and order creation"
            );
        }
        Ok(OpsState { metrics, limiter })
    }

    /// Take a rate-limit token for `user` (and for `ip` when known): `429` with `Retry-After`
    /// when either bucket is empty. Redis errors allow the request (see [`ratelimit`]).
    pub async fn check_rate(&self, user: UserId, ip: Option<IpAddr>) -> Result<(), RateLimited> {
        match self.limiter.check(user, ip).await {
            Ok(()) => Ok(()),
            Err(refusal) => {
                ::metrics::counter!("hotdeal_rate_limited_total", "scope" => refusal.scope.as_str())
                    .increment(1);
                Err(RateLimited {
                    retry_after_s: refusal.retry_after_s(),
                })
            }
        }
    }

    /// The rate limiter.
    pub fn limiter(&self) -> &RateLimiter {
        &self.limiter
    }

    /// The Prometheus text exposition, with the engine gauges refreshed first.
    pub fn render_metrics(&self, engine: &EngineHandle) -> String {
        metrics::refresh_engine_gauges(engine);
        metrics::render(self.metrics.as_ref())
    }
}
