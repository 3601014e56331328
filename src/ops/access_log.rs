//! Who made a request, for the access log: the `userId` of a bearer token, only once the token's
//! signature and expiry have been verified (an unverified claim is never logged as a user).
//!
//! The access-log middleware wraps the whole router after its state is bound, so it cannot reach
//! the app's keys through the state; each app registers its keys here when it is built instead
//! (weakly: a dropped app's keys disappear). A process serves one app, so there is one entry;
//! tests run several apps in one process and a token is checked against each live app's keys.

use std::sync::{Arc, Mutex, Weak};

use crate::domain::ids::UserId;
use crate::http::auth::{JwtKeys, TokenType};

static LIVE_KEYS: Mutex<Vec<Weak<JwtKeys>>> = Mutex::new(Vec::new());

/// Make `keys` usable by the access log while the caller keeps the `Arc`.
pub fn register(keys: &Arc<JwtKeys>) {
    let mut live = LIVE_KEYS.lock().unwrap_or_else(|p| p.into_inner());
    live.retain(|k| k.strong_count() > 0);
    live.push(Arc::downgrade(keys));
}

/// The user id of a valid access token, or `None` (missing, forged, expired, refresh token).
pub fn verified_user(token: &str) -> Option<UserId> {
    let keys: Vec<Arc<JwtKeys>> = {
        let live = LIVE_KEYS.lock().unwrap_or_else(|p| p.into_inner());
        live.iter().filter_map(Weak::upgrade).collect()
    };
    keys.iter().find_map(|k| {
        k.verify(token)
            .ok()
            .filter(|c| c.token_type == TokenType::Access)
            .map(|c| c.user_id)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_verified_access_tokens_name_a_user() {
        let keys = Arc::new(JwtKeys::new("access-log-test-secret"));
        register(&keys);
        let user = UserId::new();
        let now = chrono::Utc::now().timestamp_millis();
        let token = keys
            .mint_access(user, "a@b.co", crate::http::auth::Role::Customer, now, 600)
            .unwrap();
        assert_eq!(verified_user(&token), Some(user));
        let forged = JwtKeys::new("someone-else")
            .mint_access(user, "a@b.co", crate::http::auth::Role::Master, now, 600)
            .unwrap();
        assert_eq!(verified_user(&forged), None);
        let refresh = keys.mint_refresh(user, now, 600).unwrap();
        assert_eq!(verified_user(&refresh), None);
        drop(keys);
        assert_eq!(verified_user(&token), None, "a dropped app's keys are gone");
    }
}
