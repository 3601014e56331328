//! Authentication: HS256 JWTs with the claims `userId`, `email`, `role`, `iat`, `exp`, as the
//! seed's clients expect, plus `tokenType` so a refresh token never passes as an access token and
//! `iatMs` (the issue time in milliseconds) for revocation.
//!
//! The claim path trusts the token: no database read. It only asks the in-memory revocation map
//! ([`TokenRevocations`]) whether the token's user had its tokens voided after this one was issued
//! (account deleted, password or role changed): one hash lookup on every authenticated request,
//! including those whose token is answered from the verified-token cache.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use crate::accounts::revocation::TokenRevocations;
use crate::domain::Millis;
use crate::domain::ids::UserId;
use crate::error_code::ErrorCode;

/// The seed's `UserRole`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    Customer,
    Seller,
    Manager,
    Master,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "CUSTOMER",
            Role::Seller => "SELLER",
            Role::Manager => "MANAGER",
            Role::Master => "MASTER",
        }
    }

    /// Case-insensitive, with or without the `ROLE_` prefix.
    pub fn parse(s: &str) -> Option<Role> {
        let s = s.trim().to_ascii_uppercase();
        match s.strip_prefix("ROLE_").unwrap_or(&s) {
            "CUSTOMER" => Some(Role::Customer),
            "SELLER" => Some(Role::Seller),
            "MANAGER" => Some(Role::Manager),
            "MASTER" => Some(Role::Master),
            _ => None,
        }
    }

    /// MANAGER or MASTER.
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Manager | Role::Master)
    }
}

/// Access or refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    Access,
    Refresh,
}

/// The JWT claims.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Claims {
    pub user_id: UserId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    pub iat: i64,
    pub exp: i64,
    #[serde(default = "access")]
    pub token_type: TokenType,
    /// Unique id, so two refresh tokens minted in the same second differ.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// The issue time in milliseconds (`iat` is whole seconds), so a revocation voids the tokens
    /// issued before it and not those issued right after, in the same second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat_ms: Option<Millis>,
}

impl Claims {
    /// When the token was issued, in milliseconds: `iatMs`, or the start of the `iat` second
    /// for tokens without it (the earliest it can have been, so a revocation never misses it).
    pub fn issued_at_ms(&self) -> Millis {
        self.iat_ms.unwrap_or_else(|| self.iat.saturating_mul(1000))
    }
}

fn access() -> TokenType {
    TokenType::Access
}

/// Signing and verifying keys, the verified-token cache and the revocation map (cheap to clone:
/// one `Arc`).
#[derive(Clone)]
pub struct JwtKeys(Arc<KeysInner>);

struct KeysInner {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// The same secret as an HMAC key with its pads computed once, for [`JwtKeys::verify_minted`].
    hmac: ring::hmac::Key,
    /// The encoded header of every token this service mints (`{"typ":"JWT","alg":"HS256"}`).
    minted_header: Box<str>,
    /// Access tokens already verified, by their exact text (a shopper retrying a sold-out or
    /// busy claim sends the same token again and again).
    /// Hashed with foldhash (seeded per process): only tokens whose signature verified get in, so
    /// nobody without the secret chooses these keys, and SipHash over a 300-byte token cost more
    /// than the rest of the lookup.
    verified: dashmap::DashMap<Box<str>, Claims, foldhash::fast::RandomState>,
    /// The hashes of access tokens verified once, by slot: a token enters `verified` the second
    /// time it verifies. During a flash sale most tokens claim once; remembering each of them
    /// cost an allocation and a map insert per request for an entry never read again, and the
    /// map filled and started over every 100 000 shoppers. Only the admission depends on this
    /// table (a collision delays or hastens a token's caching, never decides its claims).
    seen_once: Box<[AtomicU64]>,
    seen_hasher: foldhash::fast::RandomState,
    /// Users whose tokens issued before some instant are void.
    revocations: Arc<TokenRevocations>,
}

/// Seconds of clock skew tolerated on `exp`.
const LEEWAY_S: i64 = 5;
/// Most verified access tokens remembered; beyond that the memory starts over.
const MAX_VERIFIED: usize = 100_000;
/// Slots of the seen-once table (a power of two; 512 KiB).
const SEEN_ONCE_SLOTS: usize = 1 << 16;

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKeys(..)")
    }
}

impl JwtKeys {
    /// Keys for `secret`, with an empty revocation map of their own.
    pub fn new(secret: &str) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_S as u64;
        validation.required_spec_claims = ["exp"].into_iter().map(String::from).collect();
        let encoding = EncodingKey::from_secret(secret.as_bytes());
        let probe = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({}),
            &encoding,
        )
        .expect("encoding an empty claim set");
        let minted_header = probe.split('.').next().unwrap_or_default().into();
        Self(Arc::new(KeysInner {
            encoding,
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
            hmac: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes()),
            minted_header,
            verified: dashmap::DashMap::with_hasher(foldhash::fast::RandomState::default()),
            seen_once: (0..SEEN_ONCE_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            seen_hasher: foldhash::fast::RandomState::default(),
            revocations: Arc::default(),
        }))
    }

    /// The revocation map every authenticated request is checked against.
    pub fn revocations(&self) -> &Arc<TokenRevocations> {
        &self.0.revocations
    }

    /// Whether `claims` belong to a token voided by a revocation.
    #[inline]
    pub fn is_revoked(&self, claims: &Claims) -> bool {
        self.0
            .revocations
            .is_revoked(claims.user_id, claims.issued_at_ms())
    }

    /// An access token (without the `Bearer ` prefix).
    pub fn mint_access(
        &self,
        user_id: UserId,
        email: &str,
        role: Role,
        now_ms: Millis,
        ttl_s: u64,
    ) -> anyhow::Result<String> {
        let issued_ms = self.0.revocations.issue_time(user_id, now_ms);
        let iat = issued_ms.div_euclid(1000);
        let claims = Claims {
            user_id,
            email: Some(email.to_string()),
            role: Some(role.as_str().to_string()),
            iat,
            exp: iat.saturating_add_unsigned(ttl_s),
            token_type: TokenType::Access,
            jti: None,
            iat_ms: Some(issued_ms),
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.0.encoding,
        )?)
    }

    /// A refresh token.
    pub fn mint_refresh(
        &self,
        user_id: UserId,
        now_ms: Millis,
        ttl_s: u64,
    ) -> anyhow::Result<String> {
        let issued_ms = self.0.revocations.issue_time(user_id, now_ms);
        let iat = issued_ms.div_euclid(1000);
        let claims = Claims {
            user_id,
            email: None,
            role: None,
            iat,
            exp: iat.saturating_add_unsigned(ttl_s),
            token_type: TokenType::Refresh,
            jti: Some(uuid::Uuid::new_v4().simple().to_string()),
            iat_ms: Some(issued_ms),
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.0.encoding,
        )?)
    }

    /// Verify a token's signature and expiry. An access token verified before is answered from
    /// memory while it has not expired (same text, same signature, so the same claims); anything
    /// else is decoded and checked in full. Revocation is not checked here (see
    /// [`JwtKeys::is_revoked`]), so the cache never outlives a revocation.
    /// The claims of a valid token with exactly the header this service mints, checked with one
    /// HMAC (precomputed key) and one JSON parse; `None` for anything else (another header, a bad
    /// signature, bad claims, expired, an `aud` claim), which the general decoder then judges and
    /// explains. It accepts only what the general decoder accepts.
    fn verify_minted(&self, token: &str, now_s: i64) -> Option<Claims> {
        use base64::Engine as _;
        let b64 = &base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let keys = &*self.0;
        let (signed, signature) = token.rsplit_once('.')?;
        let (header, payload) = signed.split_once('.')?;
        if header != &*keys.minted_header || payload.len() > 4096 {
            return None;
        }
        let mut mac = [0u8; 32];
        if b64.decode_slice(signature, &mut mac).ok()? != mac.len() {
            return None;
        }
        ring::hmac::verify(&keys.hmac, signed.as_bytes(), &mac).ok()?;
        let json = b64.decode(payload).ok()?;
        if memchr::memmem::find(&json, b"\"aud\"").is_some() {
            return None;
        }
        let claims: Claims = serde_json::from_slice(&json).ok()?;
        (claims.exp >= now_s - LEEWAY_S).then_some(claims)
    }

    /// Whether `token` verified before (by its hash's slot), recording it if not.
    fn seen_before(&self, token: &str) -> bool {
        use std::hash::BuildHasher as _;
        let keys = &*self.0;
        // The signature (the last part) differs between any two valid tokens and is a seventh of the
        // text to hash. Never 0, the empty slot.
        let signature = token.rsplit_once('.').map_or(token, |(_, s)| s);
        let hash = keys.seen_hasher.hash_one(signature) | 1;
        let slot = &keys.seen_once[hash as usize & (SEEN_ONCE_SLOTS - 1)];
        slot.swap(hash, Ordering::Relaxed) == hash
    }

    pub fn verify(&self, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        let keys = &*self.0;
        let now_s = chrono::Utc::now().timestamp();
        if let Some(claims) = keys.verified.get(token) {
            if claims.exp >= now_s - LEEWAY_S {
                return Ok(claims.clone());
            }
            drop(claims);
            keys.verified.remove(token);
        }
        let claims = match self.verify_minted(token, now_s) {
            Some(claims) => claims,
            None => jsonwebtoken::decode::<Claims>(token, &keys.decoding, &keys.validation)?.claims,
        };
        if claims.token_type == TokenType::Access && self.seen_before(token) {
            if keys.verified.len() >= MAX_VERIFIED {
                keys.verified.clear();
            }
            keys.verified.insert(token.into(), claims.clone());
        }
        Ok(claims)
    }
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user_id: UserId,
    pub email: String,
    pub role: Role,
}

impl AuthUser {
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::from(ErrorCode::Forbidden))
        }
    }

    pub fn is_master(&self) -> bool {
        self.role == Role::Master
    }
}

/// The bearer token of a request, accepting the seed's doubled `Bearer Bearer ...` too.
pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .trim();
    let mut token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))?;
    token = token.trim();
    if let Some(inner) = token.strip_prefix("Bearer ") {
        token = inner.trim();
    }
    (!token.is_empty()).then_some(token)
}

impl<S> FromRequestParts<S> for AuthUser
where
    JwtKeys: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let keys = JwtKeys::from_ref(state);
        let token = bearer(parts)
            .ok_or_else(|| ApiError::coded(ErrorCode::Unauthorized, "missing bearer token"))?;
        let claims = keys.verify(token).map_err(|e| {
            let msg = match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => "token expired",
                jsonwebtoken::errors::ErrorKind::InvalidSignature => "invalid token signature",
                _ => "invalid token",
            };
            ApiError::coded(ErrorCode::Unauthorized, msg)
        })?;
        if claims.token_type != TokenType::Access {
            return Err(ApiError::coded(
                ErrorCode::Unauthorized,
                "a refresh token is not an access token",
            ));
        }
        // On every request, cached token or not: the account may have been deleted, or its
        // password or role changed, since the token was issued.
        if keys.is_revoked(&claims) {
            return Err(ErrorCode::TokenRevoked.into());
        }
        let role = claims
            .role
            .as_deref()
            .and_then(Role::parse)
            .ok_or_else(|| ApiError::coded(ErrorCode::Unauthorized, "token has no role"))?;
        if let Some(slot) = parts.extensions.get::<VerifiedCaller>() {
            slot.set(claims.user_id);
        }
        Ok(AuthUser {
            user_id: claims.user_id,
            email: claims.email.unwrap_or_default(),
            role,
        })
    }
}

/// Who the request was authenticated as, for the access log: the log middleware puts an empty
/// slot in the request's extensions and [`AuthUser`] fills it once the token's signature, expiry
/// and type are verified, so the log names a user only when the endpoint accepted the token and
/// the token is verified once per request.
#[derive(Debug, Clone, Default)]
pub struct VerifiedCaller(std::sync::Arc<std::sync::OnceLock<UserId>>);

impl VerifiedCaller {
    fn set(&self, user: UserId) {
        let _ = self.0.set(user);
    }

    /// The verified user, if an extractor verified one.
    pub fn get(&self) -> Option<UserId> {
        self.0.get().copied()
    }
}

/// An optional caller (public endpoints that show more to some callers).
#[derive(Debug, Clone)]
pub struct MaybeAuthUser(pub Option<AuthUser>);

impl<S> FromRequestParts<S> for MaybeAuthUser
where
    JwtKeys: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if bearer(parts).is_none() {
            return Ok(MaybeAuthUser(None));
        }
        AuthUser::from_request_parts(parts, state)
            .await
            .map(|u| MaybeAuthUser(Some(u)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_take_the_short_check_and_nothing_else_does() {
        let keys = JwtKeys::new("secret");
        let now = chrono::Utc::now().timestamp_millis();
        let now_s = now / 1000;
        let u = UserId::new();
        let t = keys
            .mint_access(u, "a@b.co", Role::Seller, now, 600)
            .unwrap();
        let short = keys.verify_minted(&t, now_s).expect("a minted token");
        let general = jsonwebtoken::decode::<Claims>(&t, &keys.0.decoding, &keys.0.validation)
            .unwrap()
            .claims;
        assert_eq!(
            serde_json::to_value(&short).unwrap(),
            serde_json::to_value(&general).unwrap()
        );
        // Everything the general decoder refuses, the short check refuses too.
        let forged = JwtKeys::new("other")
            .mint_access(u, "a@b.co", Role::Master, now, 600)
            .unwrap();
        assert!(keys.verify_minted(&forged, now_s).is_none());
        let mut flipped = t.clone().into_bytes();
        let last = flipped.len() - 2;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        assert!(
            keys.verify_minted(std::str::from_utf8(&flipped).unwrap(), now_s)
                .is_none()
        );
        let expired = keys
            .mint_access(u, "a@b.co", Role::Customer, now - 7_200_000, 60)
            .unwrap();
        assert!(keys.verify_minted(&expired, now_s).is_none());
        assert!(keys.verify(&expired).is_err());
        // Another header (here a key id) goes to the general decoder, which accepts it.
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("k1".into());
        let with_kid = jsonwebtoken::encode(&header, &general, &keys.0.encoding).unwrap();
        assert!(keys.verify_minted(&with_kid, now_s).is_none());
        assert_eq!(keys.verify(&with_kid).unwrap().user_id, u);
        // An audience the service never sets is refused by both.
        let mut with_aud = serde_json::to_value(&general).unwrap();
        with_aud["aud"] = "elsewhere".into();
        let with_aud =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &with_aud, &keys.0.encoding)
                .unwrap();
        assert!(keys.verify_minted(&with_aud, now_s).is_none());
        assert!(keys.verify(&with_aud).is_err());
    }

    #[test]
    fn remembered_tokens_are_served_only_while_valid() {
        let keys = JwtKeys::new("secret");
        let now = chrono::Utc::now().timestamp_millis();
        let u = UserId::new();
        let t = keys
            .mint_access(u, "a@b.co", Role::Customer, now, 600)
            .unwrap();
        // Remembered the second time it verifies, served from memory after that.
        let first = keys.verify(&t).unwrap();
        assert_eq!(keys.0.verified.len(), 0);
        assert_eq!(keys.verify(&t).unwrap().user_id, u);
        assert_eq!(keys.0.verified.len(), 1);
        assert_eq!(keys.verify(&t).unwrap().user_id, u);

        // A remembered entry past its expiry is not served: the token is checked again in full.
        keys.0.verified.get_mut(t.as_str()).unwrap().exp = now / 1000 - 3600;
        assert_eq!(keys.verify(&t).unwrap().exp, first.exp);

        // Forged, expired and refresh tokens are never remembered.
        let forged = JwtKeys::new("other")
            .mint_access(u, "a@b.co", Role::Master, now, 600)
            .unwrap();
        assert!(keys.verify(&forged).is_err());
        assert!(keys.verify(&forged).is_err());
        let expired = keys
            .mint_access(u, "a@b.co", Role::Customer, now - 7_200_000, 60)
            .unwrap();
        assert!(keys.verify(&expired).is_err());
        assert!(keys.verify(&expired).is_err());
        let refresh = keys.mint_refresh(u, now, 600).unwrap();
        assert!(keys.verify(&refresh).is_ok());
        assert!(keys.verify(&refresh).is_ok());
        assert_eq!(keys.0.verified.len(), 1);
        // A token verified once is not remembered.
        let once = keys
            .mint_access(UserId::new(), "c@d.co", Role::Customer, now, 600)
            .unwrap();
        assert!(keys.verify(&once).is_ok());
        assert_eq!(keys.0.verified.len(), 1);
    }

    #[test]
    fn a_revocation_voids_older_tokens_cached_or_not_and_spares_newer_ones() {
        let keys = JwtKeys::new("secret");
        let now = chrono::Utc::now().timestamp_millis();
        let u = UserId::new();
        let old = keys
            .mint_access(u, "a@b.co", Role::Customer, now, 600)
            .unwrap();
        let other = keys
            .mint_access(UserId::new(), "c@b.co", Role::Customer, now, 600)
            .unwrap();
        // Cached first (it is remembered the second time it verifies), then revoked in the very
        // millisecond it was minted.
        keys.verify(&old).unwrap();
        let cached = keys.verify(&old).unwrap();
        assert!(keys.0.verified.contains_key(old.as_str()));
        assert_eq!(cached.issued_at_ms(), now);
        assert!(!keys.is_revoked(&cached));
        keys.revocations().revoke_at(u, now);
        assert!(keys.is_revoked(&keys.verify(&old).unwrap()));
        assert!(!keys.is_revoked(&keys.verify(&other).unwrap()));
        // A token minted after the revocation, same millisecond included, passes.
        let fresh = keys
            .mint_access(u, "a@b.co", Role::Customer, now, 600)
            .unwrap();
        assert!(!keys.is_revoked(&keys.verify(&fresh).unwrap()));
        let refresh = keys.mint_refresh(u, now, 600).unwrap();
        assert!(!keys.is_revoked(&keys.verify(&refresh).unwrap()));
        // A token without `iatMs` counts from the start of its `iat` second.
        let legacy = Claims {
            iat_ms: None,
            iat: now.div_euclid(1000),
            ..cached
        };
        assert!(keys.is_revoked(&legacy));
    }

    #[test]
    fn tokens_round_trip_and_refresh_tokens_are_marked() {
        let keys = JwtKeys::new("secret");
        let now = chrono::Utc::now().timestamp_millis();
        let u = UserId::new();
        let t = keys
            .mint_access(u, "a@b.co", Role::Seller, now, 600)
            .unwrap();
        let c = keys.verify(&t).unwrap();
        assert_eq!(
            (c.user_id, c.role.as_deref(), c.token_type),
            (u, Some("SELLER"), TokenType::Access)
        );
        let r = keys.mint_refresh(u, now, 600).unwrap();
        assert_eq!(keys.verify(&r).unwrap().token_type, TokenType::Refresh);
        assert!(JwtKeys::new("other").verify(&t).is_err());
        let expired = keys
            .mint_access(u, "a@b.co", Role::Seller, now - 3_600_000, 600)
            .unwrap();
        assert!(keys.verify(&expired).is_err());
        assert_eq!(Role::parse("role_master"), Some(Role::Master));
    }
}
