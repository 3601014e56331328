//! The accounts flows below HTTP: email verification, signup, login, token refresh with
//! rotation, logout, users and addresses. `crate::http::accounts` checks the shape of a request,
//! calls one function here and maps the result; the SQL is in [`super::repo`].
//!
//! Guessing is bounded twice: login, the current password of a password change and email-code
//! confirmation take a token per account and per client IP before any work, and every password
//! hash or verification runs on the bounded pool of [`super::password`]. Deleting an account or
//! changing its password revokes its access and refresh tokens at once ([`super::revocation`]).

use std::net::IpAddr;
use std::time::Duration;

use uuid::Uuid;

use super::error::{AccountsError, AccountsResult};
use super::password::HashingBusy;
use super::repo::{self, AddressFields, AddressRow, UserRow};
use super::{AccountsState, Guess, VERIFICATION_CODE_TTL, code_key, refresh_key, rules};
use crate::domain::Millis;
use crate::domain::clock::SharedClock;
use crate::domain::ids::UserId;
use crate::error_code::ErrorCode;
use crate::persistence::Db;
use crate::persistence::page::PageRequest;

/// Most live addresses one user may keep.
pub const MAX_ADDRESSES_PER_USER: i64 = 100;

/// What the accounts services work with.
#[derive(Clone, Copy)]
pub struct Accounts<'a> {
    pub state: &'a AccountsState,
    pub db: &'a Db,
    pub clock: &'a SharedClock,
}

impl Accounts<'_> {
    fn now_ms(&self) -> Millis {
        self.clock.now_ms()
    }
}

/// Who asks: the signed-in user as the accounts services see them.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub user_id: UserId,
    pub email: &'a str,
    pub master: bool,
}

/// Mints and checks an account's tokens (the JWT keys live above this layer).
pub trait TokenIssuer: Sync {
    /// A fresh `(access, refresh)` pair for `user`.
    fn mint(&self, user: &UserRow, now_ms: Millis) -> anyhow::Result<(String, String)>;
    /// The user of a valid, unrevoked refresh token.
    fn refresh_owner(&self, token: &str) -> Option<UserId>;
    /// How long a refresh token lives.
    fn refresh_ttl(&self) -> Duration;
}

/// A token pair just issued.
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    pub access: String,
    pub refresh: String,
}

fn invalid(message: impl Into<std::borrow::Cow<'static, str>>) -> AccountsError {
    AccountsError::coded(ErrorCode::InvalidValue, message)
}

/// A failure of the password pool: 503 `PASSWORD_HASHING_BUSY` with `Retry-After` when it is at
/// capacity, storage trouble otherwise.
fn hashing_error(err: anyhow::Error) -> AccountsError {
    match err.downcast_ref::<HashingBusy>() {
        Some(busy) => {
            AccountsError::from(ErrorCode::PasswordHashingBusy).retry_after(busy.retry_after_s)
        }
        None => err.into(),
    }
}

/// One guess at `account`'s password or email code from `ip`: 429 `RATE_LIMITED` with
/// `Retry-After` once the account's or the address's budget is spent.
async fn check_guess(
    acc: Accounts<'_>,
    guess: Guess,
    account: &str,
    ip: Option<IpAddr>,
) -> AccountsResult<()> {
    acc.state
        .check_guess_rate(guess, account, ip)
        .await
        .map_err(|refusal| {
            AccountsError::from(ErrorCode::RateLimited).retry_after(refusal.retry_after_s())
        })
}

/// The password rule of signup and password change.
pub fn check_password_rule(password: &str) -> AccountsResult<()> {
    if rules::is_valid_password(password) {
        Ok(())
    } else {
        Err(invalid(
            "password must be 8 to 15 characters of letters, digits and !@#$%^&*()_+-=",
        ))
    }
}

/// The nickname rule.
pub fn check_nickname_rule(nickname: &str) -> AccountsResult<()> {
    if rules::is_valid_nickname(nickname) {
        Ok(())
    } else {
        Err(invalid(
            "nickname must be 4 to 10 lowercase letters or digits",
        ))
    }
}

/// The caller is the user `id` or a MASTER.
fn self_or_master(caller: Caller<'_>, id: Uuid) -> AccountsResult<()> {
    if caller.user_id.0 == id || caller.master {
        Ok(())
    } else {
        Err(AccountsError::coded(
            ErrorCode::Forbidden,
            "only the user themself or a MASTER may do this",
        ))
    }
}

fn live_user(user: Option<UserRow>) -> AccountsResult<UserRow> {
    user.filter(|u| !u.deleted)
        .ok_or_else(|| ErrorCode::UserNotFound.into())
}

/// Mint a token pair for `user` and make its refresh token the only one that refreshes.
async fn issue_tokens(
    acc: Accounts<'_>,
    tokens: &dyn TokenIssuer,
    user: &UserRow,
) -> AccountsResult<IssuedTokens> {
    let (access, refresh) = tokens.mint(user, acc.now_ms())?;
    acc.state
        .kv
        .set_ex(
            &refresh_key(UserId(user.user_id)),
            &refresh,
            tokens.refresh_ttl().max(Duration::from_secs(1)),
        )
        .await?;
    Ok(IssuedTokens { access, refresh })
}

// ------------------------------------------------------------------------------------- auth

/// Whether `email` (a valid address) is still free for signup.
pub async fn check_email(acc: Accounts<'_>, email: &str) -> AccountsResult<()> {
    if repo::email_registered(acc.db, email).await? {
        return Err(ErrorCode::DuplicatedEmail.into());
    }
    Ok(())
}

/// Send a verification code to `email` (6 characters, valid 30 minutes; a new request
/// replaces it).
pub async fn send_verification(acc: Accounts<'_>, email: &str) -> AccountsResult<()> {
    if repo::email_registered(acc.db, email).await? {
        return Err(ErrorCode::DuplicatedEmail.into());
    }
    repo::record_email(acc.db, email).await?;
    let code = rules::new_verification_code();
    acc.state
        .kv
        .set_ex(&code_key(email), &code, VERIFICATION_CODE_TTL)
        .await?;
    if let Err(err) = acc.state.mailer.send_verification_code(email, &code).await {
        tracing::warn!(error = %format!("{err:#}"), "sending a verification email failed");
        return Err(AccountsError::from(ErrorCode::SendEmailError).retry_after(5));
    }
    Ok(())
}

/// Confirm `email` with the `code` it received (a guess, rate limited).
pub async fn confirm_verification(
    acc: Accounts<'_>,
    email: &str,
    code: &str,
    ip: Option<IpAddr>,
) -> AccountsResult<()> {
    check_guess(acc, Guess::EmailCode, email, ip).await?;
    if repo::email_verified(acc.db, email).await?.is_none() {
        return Err(AccountsError::coded(
            ErrorCode::EmailNotVerified,
            "no verification code was requested for this email",
        ));
    }
    let key = code_key(email);
    match acc.state.kv.get(&key).await? {
        Some(stored) if rules::constant_time_eq(&stored, code) => {}
        _ => return Err(ErrorCode::WrongVerificationCode.into()),
    }
    repo::mark_email_verified(acc.db, email).await?;
    acc.state.kv.del(&key).await?;
    Ok(())
}

/// An account to create; its fields follow the signup rules already.
#[derive(Debug, Clone, Copy)]
pub struct NewAccount<'a> {
    pub email: &'a str,
    pub password: &'a str,
    pub nickname: &'a str,
    /// CUSTOMER or SELLER.
    pub role: &'a str,
}

/// Create an account for a verified email; answers the new user's id.
pub async fn signup(acc: Accounts<'_>, new: NewAccount<'_>) -> AccountsResult<Uuid> {
    if repo::email_verified(acc.db, new.email).await? != Some(true) {
        return Err(ErrorCode::EmailNotVerified.into());
    }
    if repo::email_registered(acc.db, new.email).await? {
        return Err(ErrorCode::DuplicatedEmail.into());
    }
    if repo::nickname_taken(acc.db, new.nickname, None).await? {
        return Err(ErrorCode::DuplicatedNickname.into());
    }
    let hash = acc
        .state
        .passwords
        .hash(new.password)
        .await
        .map_err(hashing_error)?;
    let user_id = UserId::new().0;
    let inserted = repo::insert_user(
        acc.db,
        &repo::NewUser {
            user_id,
            email: new.email,
            password_hash: &hash,
            nickname: new.nickname,
            role: new.role,
        },
        acc.now_ms(),
    )
    .await;
    if let Err(err) = inserted {
        // Two signups raced past the checks: the unique keys decide.
        return Err(match repo::unique_violation(&err) {
            Some("nickname") => ErrorCode::DuplicatedNickname.into(),
            Some(_) => ErrorCode::DuplicatedEmail.into(),
            None => err.into(),
        });
    }
    tracing::info!(%user_id, role = new.role, "user signed up");
    Ok(user_id)
}

/// Log in with an email and a password (a guess, rate limited): a new token pair.
pub async fn login(
    acc: Accounts<'_>,
    tokens: &dyn TokenIssuer,
    email: &str,
    password: &str,
    ip: Option<IpAddr>,
) -> AccountsResult<IssuedTokens> {
    let wrong = || AccountsError::from(ErrorCode::WrongEmailOrPassword);
    let email = email.trim();
    // Oversized input is refused before hashing; malformed email just fails to match.
    if email.is_empty() || email.len() > rules::EMAIL_MAX_CHARS || password.len() > 128 {
        return Err(wrong());
    }
    check_guess(acc, Guess::Password, email, ip).await?;
    let passwords = &acc.state.passwords;
    let Some(user) = repo::find_user_by_email(acc.db, email).await? else {
        // As slow as a wrong password, and through the same bound: no way to tell which
        // emails have accounts.
        passwords
            .verify_dummy(password)
            .await
            .map_err(hashing_error)?;
        return Err(wrong());
    };
    if !passwords
        .verify(password, &user.password_hash)
        .await
        .map_err(hashing_error)?
    {
        return Err(wrong());
    }
    if user.deleted {
        return Err(ErrorCode::UserNotFound.into());
    }
    issue_tokens(acc, tokens, &user).await
}

/// Exchange the current refresh token for a new pair. The presented token is used up:
/// presenting it again (or an older one) fails, and also revokes the current one (reuse means
/// it leaked).
pub async fn refresh(
    acc: Accounts<'_>,
    tokens: &dyn TokenIssuer,
    token: &str,
) -> AccountsResult<IssuedTokens> {
    let expired = || AccountsError::from(ErrorCode::ExpiredRefreshToken);
    let token = token.trim();
    let token = token.strip_prefix("Bearer ").unwrap_or(token).trim();
    if token.is_empty() || token.len() > 4096 {
        return Err(expired());
    }
    let owner = tokens.refresh_owner(token).ok_or_else(expired)?;
    match acc.state.kv.get_del(&refresh_key(owner)).await? {
        Some(current) if rules::constant_time_eq(&current, token) => {}
        Some(_) => {
            tracing::warn!(user_id = %owner, "an old refresh token was presented; the user's refresh token is revoked");
            return Err(expired());
        }
        None => return Err(expired()),
    }
    let user = live_user(repo::find_user(acc.db, owner.0).await?)?;
    issue_tokens(acc, tokens, &user).await
}

/// Log out: the refresh token stops working (the access token lives out its short lifetime).
pub async fn logout(acc: Accounts<'_>, user: UserId) -> AccountsResult<()> {
    acc.state.kv.del(&refresh_key(user)).await?;
    Ok(())
}

// ------------------------------------------------------------------------------------ users

/// A live user (self or MASTER).
pub async fn get_user(acc: Accounts<'_>, caller: Caller<'_>, id: Uuid) -> AccountsResult<UserRow> {
    self_or_master(caller, id)?;
    live_user(repo::find_user(acc.db, id).await?)
}

/// Change a nickname (self or MASTER); it must be free.
pub async fn update_nickname(
    acc: Accounts<'_>,
    caller: Caller<'_>,
    id: Uuid,
    nickname: &str,
) -> AccountsResult<()> {
    self_or_master(caller, id)?;
    check_nickname_rule(nickname)?;
    if repo::nickname_taken(acc.db, nickname, Some(id)).await? {
        return Err(ErrorCode::DuplicatedNickname.into());
    }
    let by = caller.user_id.to_string();
    match repo::update_nickname(acc.db, id, nickname, &by, acc.now_ms()).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(ErrorCode::UserNotFound.into()),
        Err(err) if repo::unique_violation(&err).is_some() => {
            Err(ErrorCode::DuplicatedNickname.into())
        }
        Err(err) => Err(err.into()),
    }
}

/// Change one's own password, proving the current one (a guess, sharing the login's budget).
/// Every token of the account issued before the change stops working at once.
pub async fn change_password(
    acc: Accounts<'_>,
    caller: Caller<'_>,
    id: Uuid,
    current: Option<&str>,
    password: &str,
    ip: Option<IpAddr>,
) -> AccountsResult<()> {
    if caller.user_id.0 != id {
        return Err(AccountsError::coded(
            ErrorCode::Forbidden,
            "only the user themself may change their password",
        ));
    }
    let current = current
        .filter(|p| !p.is_empty())
        .ok_or(AccountsError::from(ErrorCode::CurrentPasswordRequired))?;
    check_password_rule(password)?;
    let found = live_user(repo::find_user(acc.db, id).await?)?;
    check_guess(acc, Guess::Password, &found.email, ip).await?;
    let passwords = &acc.state.passwords;
    let matches = current.len() <= 128
        && passwords
            .verify(current, &found.password_hash)
            .await
            .map_err(hashing_error)?;
    if !matches {
        return Err(ErrorCode::WrongCurrentPassword.into());
    }
    let hash = passwords.hash(password).await.map_err(hashing_error)?;
    let by = caller.user_id.to_string();
    // Revoke before the change (if Redis cannot take it, nothing changed and a retry works) and
    // after it (a login that raced the change minted its token after the first revocation).
    acc.state
        .revoke_tokens(caller.user_id, acc.now_ms())
        .await?;
    if !repo::update_password(acc.db, id, &hash, &by, acc.now_ms()).await? {
        return Err(ErrorCode::UserNotFound.into());
    }
    acc.state
        .revoke_tokens(caller.user_id, acc.now_ms())
        .await?;
    Ok(())
}

/// Delete an account (self or MASTER; soft delete). Its tokens stop working at once.
pub async fn delete_user(acc: Accounts<'_>, caller: Caller<'_>, id: Uuid) -> AccountsResult<()> {
    self_or_master(caller, id)?;
    let by = caller.user_id.to_string();
    // Revoke before (a Redis failure leaves the account as it was, so a retry works) and after
    // (a login that raced the deletion minted its token after the first revocation).
    acc.state.revoke_tokens(UserId(id), acc.now_ms()).await?;
    if !repo::soft_delete_user(acc.db, id, &by, acc.now_ms()).await? {
        return Err(ErrorCode::UserNotFound.into());
    }
    acc.state.revoke_tokens(UserId(id), acc.now_ms()).await?;
    tracing::info!(user_id = %id, by = %by, "user deleted");
    Ok(())
}

// -------------------------------------------------------------------------------- addresses

/// Check and trim one address field.
pub fn address_field(name: &str, value: &str) -> AccountsResult<String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(invalid(format!("{name} must not be blank")));
    }
    if v.chars().count() > rules::ADDRESS_FIELD_MAX_CHARS {
        return Err(invalid(format!(
            "{name} must be at most {} characters",
            rules::ADDRESS_FIELD_MAX_CHARS
        )));
    }
    Ok(v.to_string())
}

/// The live address `id` of the caller: 404 ADDRESS_NOT_FOUND, 403 NOT_ALLOWED_CONTENT,
/// 404 DELETED_ADDRESS.
async fn own_address(
    acc: Accounts<'_>,
    caller: Caller<'_>,
    id: Uuid,
) -> AccountsResult<AddressRow> {
    let address = repo::find_address(acc.db, id)
        .await?
        .ok_or(AccountsError::from(ErrorCode::AddressNotFound))?;
    if address.user_id != caller.user_id.0 {
        return Err(ErrorCode::NotAllowedContent.into());
    }
    if address.deleted {
        return Err(ErrorCode::DeletedAddress.into());
    }
    Ok(address)
}

/// Add an address to the caller's book; answers its id.
pub async fn create_address(
    acc: Accounts<'_>,
    caller: Caller<'_>,
    fields: &AddressFields,
) -> AccountsResult<Uuid> {
    if repo::count_live_addresses(acc.db, caller.user_id.0).await? >= MAX_ADDRESSES_PER_USER {
        return Err(AccountsError::coded(
            ErrorCode::TooManyAddresses,
            format!("at most {MAX_ADDRESSES_PER_USER} addresses per user"),
        ));
    }
    let address_id = Uuid::now_v7();
    repo::insert_address(
        acc.db,
        address_id,
        caller.user_id.0,
        fields,
        caller.email,
        acc.now_ms(),
    )
    .await?;
    Ok(address_id)
}

/// One of the caller's addresses.
pub async fn get_address(
    acc: Accounts<'_>,
    caller: Caller<'_>,
    id: Uuid,
) -> AccountsResult<AddressRow> {
    own_address(acc, caller, id).await
}

/// A page of the caller's live addresses and how many there are.
pub async fn list_addresses(
    acc: Accounts<'_>,
    caller: Caller<'_>,
    page: &PageRequest,
) -> AccountsResult<(Vec<AddressRow>, i64)> {
    Ok(repo::list_addresses(acc.db, caller.user_id.0, page).await?)
}

/// Overwrite one of the caller's addresses (all six fields).
pub async fn update_address(
    acc: Accounts<'_>,
    caller: Caller<'_>,
    id: Uuid,
    fields: &AddressFields,
) -> AccountsResult<()> {
    own_address(acc, caller, id).await?;
    if !repo::update_address(acc.db, id, fields, caller.email, acc.now_ms()).await? {
        return Err(ErrorCode::DeletedAddress.into());
    }
    Ok(())
}

/// Delete one of the caller's addresses (soft delete; a default one leaves no default). The
/// caller forgets its cached copy of the address afterwards, whatever the answer.
pub async fn delete_address(acc: Accounts<'_>, caller: Caller<'_>, id: Uuid) -> AccountsResult<()> {
    own_address(acc, caller, id).await?;
    let by = caller.user_id.to_string();
    if !repo::soft_delete_address(acc.db, id, caller.user_id.0, &by, acc.now_ms()).await? {
        return Err(ErrorCode::DeletedAddress.into());
    }
    Ok(())
}

/// The caller's default address.
pub async fn get_default_address(
    acc: Accounts<'_>,
    caller: Caller<'_>,
) -> AccountsResult<AddressRow> {
    repo::default_address(acc.db, caller.user_id.0)
        .await?
        .ok_or_else(|| ErrorCode::NotExistsDefaultAddress.into())
}

/// Make one of the caller's addresses the default.
pub async fn set_default_address(
    acc: Accounts<'_>,
    caller: Caller<'_>,
    id: Uuid,
) -> AccountsResult<()> {
    own_address(acc, caller, id).await?;
    let by = caller.user_id.to_string();
    if !repo::set_default_address(acc.db, caller.user_id.0, id, &by, acc.now_ms()).await? {
        // The address was deleted meanwhile, or the caller has no (live) account.
        return Err(match repo::find_user(acc.db, caller.user_id.0).await? {
            Some(u) if !u.deleted => ErrorCode::DeletedAddress.into(),
            _ => ErrorCode::UserNotFound.into(),
        });
    }
    Ok(())
}
