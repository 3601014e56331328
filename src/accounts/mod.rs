//! Accounts: users, addresses, email verification, refresh tokens.

use crate::config::Config;
use crate::persistence::Db;

/// What the accounts endpoints share (token and code stores, mailer).
pub struct AccountsState {}

impl AccountsState {
    /// Build from the configuration (Redis when `REDIS_URL` is set, memory otherwise).
    pub async fn build(_config: &Config, _db: &Db) -> anyhow::Result<AccountsState> {
        Ok(AccountsState {})
    }
}
