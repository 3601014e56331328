//! Operations: metrics, rate limits.

use crate::config::Config;

/// What the operations layer shares (metrics recorder handle, rate limiter).
pub struct OpsState {}

impl OpsState {
    pub async fn build(_config: &Config) -> anyhow::Result<OpsState> {
        Ok(OpsState {})
    }
}
