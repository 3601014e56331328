//! Accounts endpoints (seed section 2): email verification, signup, login, token refresh with
//! rotation, logout, users and addresses.
//!
//! Error codes are the seed's names with the right status: 400 bad input, 401 bad credentials or
//! tokens, 403 not yours, 404 missing, 409 duplicates, 429 too many guesses (`RATE_LIMITED`), 503
//! password hashing at capacity (`PASSWORD_HASHING_BUSY`). Passwords and tokens are never logged.
//!
//! Guessing is bounded twice: login, the current password of a password change and email-code
//! confirmation take a token per account and per client IP from per-minute buckets before any
//! work (`HOTDEAL_LOGIN_RATE_LIMIT_*`), and every password hash or verification runs on the
//! bounded pool of `crate::accounts::password`. Deleting an account or changing its password
//! revokes its access and refresh tokens at once (`crate::accounts::revocation`).

use std::time::Duration;

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::{get, patch, post};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::auth::{AuthUser, Role, TokenType};
use super::envelope::{ApiJson, Envelope, NoData, Reply};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::Path;
use super::ops::ClientIp;
use super::page::{Page, PageQuery};
use crate::accounts::password::HashingBusy;
use crate::accounts::repo::{self, AddressFields, AddressRow, UserRow};
use crate::accounts::{Guess, VERIFICATION_CODE_TTL, code_key, refresh_key, rules};
use crate::domain::ids::UserId;

/// Most live addresses one user may keep.
pub const MAX_ADDRESSES_PER_USER: i64 = 100;
/// Default page size of the address list.
pub const ADDRESS_PAGE_SIZE: i64 = 10;
/// Sortable address properties (the first is the default, newest first).
const ADDRESS_SORTS: &[(&str, &str)] =
    &[("createdAt", "a.created_at"), ("updatedAt", "a.updated_at")];

/// The accounts routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/check-email", post(check_email))
        .route("/api/v1/auth/email-verification", post(send_verification))
        .route(
            "/api/v1/auth/email-verification/confirm",
            post(confirm_verification),
        )
        .route("/api/v1/auth/signup", post(signup))
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/refresh", post(refresh))
        .route("/api/v1/auth/logout", post(logout))
        .route(
            "/api/v1/users/{user_id}",
            get(get_user).patch(update_user).delete(delete_user),
        )
        .route("/api/v1/users/{user_id}/password", patch(change_password))
        .route("/api/v1/address", post(create_address).get(list_addresses))
        .route(
            "/api/v1/address/{address_id}",
            get(get_address)
                .patch(update_address)
                .delete(delete_address),
        )
        .route("/api/v1/address-default", get(get_default_address))
        .route(
            "/api/v1/address-default/{address_id}",
            patch(set_default_address),
        )
}

/// The OpenAPI paths of these routes.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        check_email,
        send_verification,
        confirm_verification,
        signup,
        login,
        refresh,
        logout,
        get_user,
        update_user,
        delete_user,
        change_password,
        create_address,
        list_addresses,
        get_address,
        update_address,
        delete_address,
        get_default_address,
        set_default_address,
    ),
    components(schemas(
        EmailBody,
        ConfirmBody,
        SignupBody,
        SignupResult,
        LoginBody,
        TokenPair,
        RefreshBody,
        UserView,
        UserIdResult,
        NicknameBody,
        PasswordBody,
        AddressBody,
        AddressIdResult,
        AddressView,
        ErrorBody
    )),
    tags((name = "accounts", description = "Email verification, signup, login, tokens, users and addresses"))
)]
pub struct AccountsApi;

// ------------------------------------------------------------------------------------- DTOs

/// `{email}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct EmailBody {
    pub email: String,
}

/// `{email, verificationToken}`: the code received by email.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = EmailConfirmBody)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmBody {
    pub email: String,
    pub verification_token: String,
}

/// A signup. `role` is CUSTOMER or SELLER (case-insensitive).
#[derive(Deserialize, ToSchema)]
pub struct SignupBody {
    /// A verified email address.
    pub email: String,
    /// 8 to 15 characters of `a-z A-Z 0-9 !@#$%^&*()_+-=`.
    pub password: String,
    /// 4 to 10 characters of `a-z 0-9`.
    pub nickname: String,
    pub role: String,
}

/// `{userId}` of the new account.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignupResult {
    pub user_id: Uuid,
}

/// `{email, password}`.
#[derive(Deserialize, ToSchema)]
pub struct LoginBody {
    pub email: String,
    pub password: String,
}

/// A token pair. The access token carries the `Bearer ` prefix, as the seed's clients expect.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
}

/// `{refreshToken}`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefreshBody {
    pub refresh_token: String,
}

/// A user as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub user_id: Uuid,
    pub email: String,
    pub nickname: String,
    pub role: Role,
}

/// `{userId}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserIdResult {
    pub user_id: Uuid,
}

/// `{nickname}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NicknameBody {
    pub nickname: String,
}

/// `{password, currentPassword}`: the new password (the signup rule applies) and the current one,
/// which proves the caller knows it (a stolen access token alone cannot change the password).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasswordBody {
    /// The new password: 8 to 15 characters of `a-z A-Z 0-9 !@#$%^&*()_+-=`.
    pub password: String,
    /// The account's current password. Required: without it the answer is 400
    /// `CURRENT_PASSWORD_REQUIRED`, and a wrong one is 401 `WRONG_CURRENT_PASSWORD`.
    #[serde(default)]
    #[schema(required = true, nullable = false)]
    pub current_password: Option<String>,
}

/// An address: six required fields of at most 255 characters.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AddressBody {
    pub zip_num: String,
    pub city: String,
    pub district: String,
    pub street_name: String,
    pub street_num: String,
    pub detail_addr: String,
}

/// `{addressId}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AddressIdResult {
    pub address_id: Uuid,
}

/// An address as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AddressView {
    pub address_id: Uuid,
    pub zip_num: String,
    pub city: String,
    pub district: String,
    pub street_name: String,
    pub street_num: String,
    pub detail_addr: String,
}

impl From<AddressRow> for AddressView {
    fn from(a: AddressRow) -> Self {
        let f = a.fields;
        AddressView {
            address_id: a.address_id,
            zip_num: f.zip_num,
            city: f.city,
            district: f.district,
            street_name: f.street_name,
            street_num: f.street_num,
            detail_addr: f.detail_addr,
        }
    }
}

// ---------------------------------------------------------------------------------- helpers

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("INVALID_VALUE", message)
}

fn user_not_found() -> ApiError {
    ApiError::not_found("USER_NOT_FOUND", "user not found")
}

/// A failure of the password pool: 503 `PASSWORD_HASHING_BUSY` with `Retry-After` when it is at
/// capacity, the usual mapping otherwise.
fn hashing_error(err: anyhow::Error) -> ApiError {
    match err.downcast_ref::<HashingBusy>() {
        Some(busy) => ApiError::unavailable(
            "PASSWORD_HASHING_BUSY",
            "too many password checks in progress, retry shortly",
            busy.retry_after_s,
        ),
        None => err.into(),
    }
}

/// One guess at `account`'s password or email code from `ip`: 429 `RATE_LIMITED` with
/// `Retry-After` once the account's or the address's budget is spent.
async fn check_guess(state: &AppState, guess: Guess, account: &str, ip: ClientIp) -> ApiResult<()> {
    state
        .accounts
        .check_guess_rate(guess, account, ip.0)
        .await
        .map_err(|refusal| ApiError::too_many_requests(refusal.retry_after_s()))
}

fn expired_refresh() -> ApiError {
    ApiError::unauthorized(
        "EXPIRED_REFRESH_TOKEN",
        "the refresh token is invalid, expired or already used; log in again",
    )
}

/// A trimmed email that follows the seed's rule.
fn valid_email(email: &str) -> ApiResult<&str> {
    let email = email.trim();
    if rules::is_valid_email(email) {
        Ok(email)
    } else {
        Err(invalid("email must be a valid email address"))
    }
}

fn check_password_rule(password: &str) -> ApiResult<()> {
    if rules::is_valid_password(password) {
        Ok(())
    } else {
        Err(invalid(
            "password must be 8 to 15 characters of letters, digits and !@#$%^&*()_+-=",
        ))
    }
}

fn check_nickname_rule(nickname: &str) -> ApiResult<()> {
    if rules::is_valid_nickname(nickname) {
        Ok(())
    } else {
        Err(invalid(
            "nickname must be 4 to 10 lowercase letters or digits",
        ))
    }
}

fn parse_user_id(id: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(id.trim()).map_err(|_| invalid("userId must be a UUID"))
}

fn parse_address_id(id: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(id.trim()).map_err(|_| invalid("addressId must be a UUID"))
}

/// The caller is the user `id` or a MASTER.
fn self_or_master(user: &AuthUser, id: Uuid) -> ApiResult<()> {
    if user.user_id.0 == id || user.is_master() {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "FORBIDDEN",
            "only the user themself or a MASTER may do this",
        ))
    }
}

fn role_of(user: &UserRow) -> ApiResult<Role> {
    Role::parse(&user.role).ok_or_else(|| {
        ApiError::internal(anyhow::anyhow!(
            "user {} has an unknown role in the database",
            user.user_id
        ))
    })
}

/// Mint a token pair for `user` and make its refresh token the only one that refreshes.
async fn issue_tokens(state: &AppState, user: &UserRow) -> ApiResult<TokenPair> {
    let role = role_of(user)?;
    let now = state.now_ms();
    let id = UserId(user.user_id);
    let access =
        state
            .keys
            .mint_access(id, &user.email, role, now, state.config.access_token_ttl_s)?;
    let refresh = state
        .keys
        .mint_refresh(id, now, state.config.refresh_token_ttl_s)?;
    state
        .accounts
        .kv
        .set_ex(
            &refresh_key(id),
            &refresh,
            Duration::from_secs(state.config.refresh_token_ttl_s.max(1)),
        )
        .await?;
    Ok(TokenPair {
        access_token: format!("Bearer {access}"),
        refresh_token: refresh,
    })
}

fn address_fields(body: AddressBody) -> ApiResult<AddressFields> {
    let field = |name: &str, value: String| -> ApiResult<String> {
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
    };
    Ok(AddressFields {
        zip_num: field("zipNum", body.zip_num)?,
        city: field("city", body.city)?,
        district: field("district", body.district)?,
        street_name: field("streetName", body.street_name)?,
        street_num: field("streetNum", body.street_num)?,
        detail_addr: field("detailAddr", body.detail_addr)?,
    })
}

/// The live address `id` of the caller: 404 ADDRESS_NOT_FOUND, 403 NOT_ALLOWED_CONTENT,
/// 404 DELETED_ADDRESS.
async fn own_address(state: &AppState, user: &AuthUser, id: Uuid) -> ApiResult<AddressRow> {
    let address = repo::find_address(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("ADDRESS_NOT_FOUND", "address not found"))?;
    if address.user_id != user.user_id.0 {
        return Err(ApiError::forbidden(
            "NOT_ALLOWED_CONTENT",
            "this address belongs to another user",
        ));
    }
    if address.deleted {
        return Err(ApiError::not_found(
            "DELETED_ADDRESS",
            "this address was deleted",
        ));
    }
    Ok(address)
}

// ------------------------------------------------------------------------------------- auth

/// Whether an email is still free for signup.
#[utoipa::path(post, path = "/api/v1/auth/check-email", tag = "accounts", request_body = EmailBody,
    responses((status = 200, description = "the email is free", body = NoData),
        (status = 400, description = "`INVALID_VALUE`: not an email address", body = ErrorBody), (status = 409, description = "DUPLICATED_EMAIL", body = ErrorBody)))]
pub async fn check_email(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<EmailBody>,
) -> ApiResult<Reply<Option<()>>> {
    let email = valid_email(&body.email)?;
    if repo::email_registered(&state.db, email).await? {
        return Err(ApiError::conflict(
            "DUPLICATED_EMAIL",
            "this email is already registered",
        ));
    }
    Ok(Reply::ok("사용 가능한 이메일입니다.", None))
}

/// Send a verification code (6 characters, valid 30 minutes; a new request replaces it).
#[utoipa::path(post, path = "/api/v1/auth/email-verification", tag = "accounts", request_body = EmailBody,
    responses((status = 200, description = "code sent", body = NoData),
        (status = 400, description = "`INVALID_VALUE`: not an email address", body = ErrorBody), (status = 409, description = "DUPLICATED_EMAIL", body = ErrorBody),
        (status = 503, description = "mail or storage unavailable", body = ErrorBody)))]
pub async fn send_verification(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<EmailBody>,
) -> ApiResult<Reply<Option<()>>> {
    let email = valid_email(&body.email)?;
    if repo::email_registered(&state.db, email).await? {
        return Err(ApiError::conflict(
            "DUPLICATED_EMAIL",
            "this email is already registered",
        ));
    }
    repo::record_email(&state.db, email).await?;
    let code = rules::new_verification_code();
    state
        .accounts
        .kv
        .set_ex(&code_key(email), &code, VERIFICATION_CODE_TTL)
        .await?;
    if let Err(err) = state
        .accounts
        .mailer
        .send_verification_code(email, &code)
        .await
    {
        tracing::warn!(error = %format!("{err:#}"), "sending a verification email failed");
        return Err(ApiError::unavailable(
            "SEND_EMAIL_ERROR",
            "the verification email could not be sent, retry shortly",
            5,
        ));
    }
    Ok(Reply::ok("인증번호가 발송되었습니다.", None))
}

/// Confirm an email with the code it received.
#[utoipa::path(post, path = "/api/v1/auth/email-verification/confirm", tag = "accounts", request_body = ConfirmBody,
    responses((status = 200, description = "email verified", body = NoData),
        (status = 400, description = "INVALID_VALUE, EMAIL_NOT_VERIFIED (no code requested), WRONG_VERIFICATION_CODE (wrong or expired)", body = ErrorBody),
        (status = 429, description = "RATE_LIMITED: too many confirmations for this email or from this address (see Retry-After)", body = ErrorBody)))]
pub async fn confirm_verification(
    State(state): State<AppState>,
    ip: ClientIp,
    ApiJson(body): ApiJson<ConfirmBody>,
) -> ApiResult<Reply<Option<()>>> {
    let email = valid_email(&body.email)?;
    let code = body.verification_token.trim();
    if code.is_empty() || code.len() > 64 {
        return Err(invalid("verificationToken must be the code received"));
    }
    check_guess(&state, Guess::EmailCode, email, ip).await?;
    if repo::email_verified(&state.db, email).await?.is_none() {
        return Err(ApiError::bad_request(
            "EMAIL_NOT_VERIFIED",
            "no verification code was requested for this email",
        ));
    }
    let key = code_key(email);
    let stored = state.accounts.kv.get(&key).await?;
    match stored {
        Some(stored) if rules::constant_time_eq(&stored, code) => {}
        _ => {
            return Err(ApiError::bad_request(
                "WRONG_VERIFICATION_CODE",
                "the verification code is wrong or expired",
            ));
        }
    }
    repo::mark_email_verified(&state.db, email).await?;
    state.accounts.kv.del(&key).await?;
    Ok(Reply::ok("이메일 인증이 완료되었습니다.", None))
}

/// Create an account (CUSTOMER or SELLER) for a verified email.
#[utoipa::path(post, path = "/api/v1/auth/signup", tag = "accounts", request_body = SignupBody,
    responses((status = 201, description = "created", body = Envelope<SignupResult>),
        (status = 400, description = "INVALID_VALUE, EMAIL_NOT_VERIFIED", body = ErrorBody),
        (status = 403, description = "NOT_ALLOWED_ROLE", body = ErrorBody),
        (status = 409, description = "DUPLICATED_EMAIL, DUPLICATED_NICKNAME", body = ErrorBody),
        (status = 503, description = "PASSWORD_HASHING_BUSY (see Retry-After)", body = ErrorBody)))]
pub async fn signup(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<SignupBody>,
) -> ApiResult<Reply<SignupResult>> {
    let email = valid_email(&body.email)?;
    check_password_rule(&body.password)?;
    check_nickname_rule(&body.nickname)?;
    let role = Role::parse(&body.role).ok_or_else(|| invalid("role must be CUSTOMER or SELLER"))?;
    if role.is_staff() {
        return Err(ApiError::forbidden(
            "NOT_ALLOWED_ROLE",
            "only CUSTOMER or SELLER accounts can sign up",
        ));
    }
    if repo::email_verified(&state.db, email).await? != Some(true) {
        return Err(ApiError::bad_request(
            "EMAIL_NOT_VERIFIED",
            "verify this email before signing up",
        ));
    }
    if repo::email_registered(&state.db, email).await? {
        return Err(ApiError::conflict(
            "DUPLICATED_EMAIL",
            "this email is already registered",
        ));
    }
    if repo::nickname_taken(&state.db, &body.nickname, None).await? {
        return Err(ApiError::conflict(
            "DUPLICATED_NICKNAME",
            "this nickname is taken",
        ));
    }
    let hash = state
        .accounts
        .passwords
        .hash(&body.password)
        .await
        .map_err(hashing_error)?;
    let user_id = UserId::new().0;
    let inserted = repo::insert_user(
        &state.db,
        &repo::NewUser {
            user_id,
            email,
            password_hash: &hash,
            nickname: &body.nickname,
            role: role.as_str(),
        },
        state.now_ms(),
    )
    .await;
    if let Err(err) = inserted {
        // Two signups raced past the checks: the unique keys decide.
        return Err(match repo::unique_violation(&err) {
            Some("nickname") => ApiError::conflict("DUPLICATED_NICKNAME", "this nickname is taken"),
            Some(_) => ApiError::conflict("DUPLICATED_EMAIL", "this email is already registered"),
            None => err.into(),
        });
    }
    tracing::info!(%user_id, role = role.as_str(), "user signed up");
    Ok(Reply::created("회원가입 성공", SignupResult { user_id }))
}

/// Log in: a token pair (the access token with its `Bearer ` prefix).
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "accounts", request_body = LoginBody,
    responses((status = 200, description = "logged in", body = Envelope<TokenPair>),
        (status = 400, description = "`INVALID_VALUE`: email or password missing", body = ErrorBody),
        (status = 401, description = "WRONG_EMAIL_OR_PASSWORD", body = ErrorBody),
        (status = 404, description = "USER_NOT_FOUND (account deleted)", body = ErrorBody),
        (status = 429, description = "RATE_LIMITED: too many attempts for this account or from this address (see Retry-After)", body = ErrorBody),
        (status = 503, description = "PASSWORD_HASHING_BUSY (see Retry-After)", body = ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    ip: ClientIp,
    ApiJson(body): ApiJson<LoginBody>,
) -> ApiResult<Reply<TokenPair>> {
    let wrong = || ApiError::unauthorized("WRONG_EMAIL_OR_PASSWORD", "wrong email or password");
    let email = body.email.trim();
    // Oversized input is refused before hashing; malformed email just fails to match.
    if email.is_empty() || email.len() > rules::EMAIL_MAX_CHARS || body.password.len() > 128 {
        return Err(wrong());
    }
    check_guess(&state, Guess::Password, email, ip).await?;
    let passwords = &state.accounts.passwords;
    let Some(user) = repo::find_user_by_email(&state.db, email).await? else {
        // As slow as a wrong password, and through the same bound: no way to tell which
        // emails have accounts.
        passwords
            .verify_dummy(&body.password)
            .await
            .map_err(hashing_error)?;
        return Err(wrong());
    };
    if !passwords
        .verify(&body.password, &user.password_hash)
        .await
        .map_err(hashing_error)?
    {
        return Err(wrong());
    }
    if user.deleted {
        return Err(user_not_found());
    }
    let pair = issue_tokens(&state, &user).await?;
    Ok(Reply::ok("로그인 성공", pair))
}

/// Exchange the current refresh token for a new pair.
///
/// The presented token is used up: presenting it again (or an older one) fails, and also revokes
/// the current one (reuse means it leaked).
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "accounts", request_body = RefreshBody,
    responses((status = 200, description = "new pair", body = Envelope<TokenPair>),
        (status = 401, description = "EXPIRED_REFRESH_TOKEN", body = ErrorBody),
        (status = 404, description = "USER_NOT_FOUND", body = ErrorBody)))]
pub async fn refresh(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RefreshBody>,
) -> ApiResult<Reply<TokenPair>> {
    let token = body.refresh_token.trim();
    let token = token.strip_prefix("Bearer ").unwrap_or(token).trim();
    if token.is_empty() || token.len() > 4096 {
        return Err(expired_refresh());
    }
    let claims = state.keys.verify(token).map_err(|_| expired_refresh())?;
    if claims.token_type != TokenType::Refresh || state.keys.is_revoked(&claims) {
        return Err(expired_refresh());
    }
    let key = refresh_key(claims.user_id);
    match state.accounts.kv.get_del(&key).await? {
        Some(current) if rules::constant_time_eq(&current, token) => {}
        Some(_) => {
            tracing::warn!(user_id = %claims.user_id, "an old refresh token was presented; the user's refresh token is revoked");
            return Err(expired_refresh());
        }
        None => return Err(expired_refresh()),
    }
    let user = repo::find_user(&state.db, claims.user_id.0)
        .await?
        .filter(|u| !u.deleted)
        .ok_or_else(user_not_found)?;
    let pair = issue_tokens(&state, &user).await?;
    Ok(Reply::ok("토큰 재발급 성공", pair))
}

/// Log out: the refresh token stops working (the access token lives out its short lifetime).
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, description = "logged out", body = NoData), (status = 401, body = ErrorBody)))]
pub async fn logout(State(state): State<AppState>, user: AuthUser) -> ApiResult<Reply<Option<()>>> {
    state.accounts.kv.del(&refresh_key(user.user_id)).await?;
    Ok(Reply::ok("로그아웃 되었습니다.", None))
}

// ------------------------------------------------------------------------------------ users

/// A user (self or MASTER).
#[utoipa::path(get, path = "/api/v1/users/{user_id}", tag = "accounts", security(("bearer" = [])),
    params(("user_id" = Uuid, Path)),
    responses((status = 200, description = "the user", body = Envelope<UserView>), (status = 400, description = "`INVALID_VALUE`: userId is not a UUID", body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "`FORBIDDEN`: another user's account, without MASTER", body = ErrorBody), (status = 404, description = "USER_NOT_FOUND", body = ErrorBody)))]
pub async fn get_user(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Reply<UserView>> {
    let id = parse_user_id(&id)?;
    self_or_master(&user, id)?;
    let found = repo::find_user(&state.db, id)
        .await?
        .filter(|u| !u.deleted)
        .ok_or_else(user_not_found)?;
    let role = role_of(&found)?;
    Ok(Reply::ok(
        "회원 정보 조회 성공",
        UserView {
            user_id: found.user_id,
            email: found.email,
            nickname: found.nickname,
            role,
        },
    ))
}

/// Change a nickname (self or MASTER); it must be free.
#[utoipa::path(patch, path = "/api/v1/users/{user_id}", tag = "accounts", security(("bearer" = [])),
    params(("user_id" = Uuid, Path)), request_body = NicknameBody,
    responses((status = 200, description = "nickname changed", body = Envelope<UserIdResult>), (status = 400, description = "`INVALID_VALUE`: userId is not a UUID, or the nickname is out of range", body = ErrorBody), (status = 403, description = "`FORBIDDEN`: another user's account, without MASTER", body = ErrorBody),
        (status = 404, description = "`USER_NOT_FOUND`: no such user", body = ErrorBody), (status = 409, description = "DUPLICATED_NICKNAME", body = ErrorBody)))]
pub async fn update_user(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NicknameBody>,
) -> ApiResult<Reply<UserIdResult>> {
    let id = parse_user_id(&id)?;
    self_or_master(&user, id)?;
    check_nickname_rule(&body.nickname)?;
    if repo::nickname_taken(&state.db, &body.nickname, Some(id)).await? {
        return Err(ApiError::conflict(
            "DUPLICATED_NICKNAME",
            "this nickname is taken",
        ));
    }
    let by = user.user_id.to_string();
    match repo::update_nickname(&state.db, id, &body.nickname, &by, state.now_ms()).await {
        Ok(true) => Ok(Reply::ok(
            "회원 정보 수정 성공",
            UserIdResult { user_id: id },
        )),
        Ok(false) => Err(user_not_found()),
        Err(err) if repo::unique_violation(&err).is_some() => Err(ApiError::conflict(
            "DUPLICATED_NICKNAME",
            "this nickname is taken",
        )),
        Err(err) => Err(err.into()),
    }
}

/// Change one's own password, proving the current one.
///
/// The signup rule applies to the new one. Every access and refresh token of the account issued before the change stops working at once,
/// the caller's included: log in again with the new password.
///
/// Only the account's owner changes its password: a MASTER cannot set another user's (403; there
/// is no admin reset flow), and the MASTER account's own password is also reset by
/// `HOTDEAL_ADMIN_PASSWORD` at start. The current-password check shares the login's per-account
/// budget (`HOTDEAL_LOGIN_RATE_LIMIT_*`), so a stolen token cannot be used to guess it quickly.
#[utoipa::path(patch, path = "/api/v1/users/{user_id}/password", tag = "accounts", security(("bearer" = [])),
    params(("user_id" = Uuid, Path)), request_body = PasswordBody,
    responses((status = 200, description = "password changed; log in again", body = Envelope<UserIdResult>),
        (status = 400, description = "CURRENT_PASSWORD_REQUIRED, INVALID_VALUE", body = ErrorBody),
        (status = 401, description = "WRONG_CURRENT_PASSWORD, UNAUTHORIZED, TOKEN_REVOKED", body = ErrorBody),
        (status = 403, description = "FORBIDDEN (not one's own account)", body = ErrorBody),
        (status = 404, description = "USER_NOT_FOUND", body = ErrorBody),
        (status = 429, description = "RATE_LIMITED (see Retry-After)", body = ErrorBody),
        (status = 503, description = "PASSWORD_HASHING_BUSY (see Retry-After)", body = ErrorBody)))]
pub async fn change_password(
    State(state): State<AppState>,
    user: AuthUser,
    ip: ClientIp,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PasswordBody>,
) -> ApiResult<Reply<UserIdResult>> {
    let id = parse_user_id(&id)?;
    if user.user_id.0 != id {
        return Err(ApiError::forbidden(
            "FORBIDDEN",
            "only the user themself may change their password",
        ));
    }
    let current = body
        .current_password
        .as_deref()
        .filter(|p| !p.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request(
                "CURRENT_PASSWORD_REQUIRED",
                "currentPassword (the password in use now) is required",
            )
        })?;
    check_password_rule(&body.password)?;
    let found = repo::find_user(&state.db, id)
        .await?
        .filter(|u| !u.deleted)
        .ok_or_else(user_not_found)?;
    check_guess(&state, Guess::Password, &found.email, ip).await?;
    let passwords = &state.accounts.passwords;
    let matches = current.len() <= 128
        && passwords
            .verify(current, &found.password_hash)
            .await
            .map_err(hashing_error)?;
    if !matches {
        return Err(ApiError::unauthorized(
            "WRONG_CURRENT_PASSWORD",
            "the current password is wrong",
        ));
    }
    let hash = passwords
        .hash(&body.password)
        .await
        .map_err(hashing_error)?;
    let by = user.user_id.to_string();
    // Revoke before the change (if Redis cannot take it, nothing changed and a retry works) and
    // after it (a login that raced the change minted its token after the first revocation).
    state
        .accounts
        .revoke_tokens(user.user_id, state.now_ms())
        .await?;
    if !repo::update_password(&state.db, id, &hash, &by, state.now_ms()).await? {
        return Err(user_not_found());
    }
    state
        .accounts
        .revoke_tokens(user.user_id, state.now_ms())
        .await?;
    Ok(Reply::ok(
        "비밀번호 변경 성공",
        UserIdResult { user_id: id },
    ))
}

/// Delete an account (self or MASTER; soft delete).
///
/// Its access and refresh tokens stop working at once.
#[utoipa::path(delete, path = "/api/v1/users/{user_id}", tag = "accounts", security(("bearer" = [])),
    params(("user_id" = Uuid, Path)),
    responses((status = 200, description = "deleted; its tokens stop working", body = Envelope<UserIdResult>), (status = 400, description = "`INVALID_VALUE`: userId is not a UUID", body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "`FORBIDDEN`: another user's account, without MASTER", body = ErrorBody), (status = 404, description = "`USER_NOT_FOUND`: no such user", body = ErrorBody)))]
pub async fn delete_user(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Reply<UserIdResult>> {
    let id = parse_user_id(&id)?;
    self_or_master(&user, id)?;
    let by = user.user_id.to_string();
    // Revoke before (a Redis failure leaves the account as it was, so a retry works) and after
    // (a login that raced the deletion minted its token after the first revocation).
    state
        .accounts
        .revoke_tokens(UserId(id), state.now_ms())
        .await?;
    if !repo::soft_delete_user(&state.db, id, &by, state.now_ms()).await? {
        return Err(user_not_found());
    }
    state
        .accounts
        .revoke_tokens(UserId(id), state.now_ms())
        .await?;
    tracing::info!(user_id = %id, by = %by, "user deleted");
    Ok(Reply::ok("회원 탈퇴 성공", UserIdResult { user_id: id }))
}

// -------------------------------------------------------------------------------- addresses

/// Add an address to one's own book.
#[utoipa::path(post, path = "/api/v1/address", tag = "accounts", security(("bearer" = [])), request_body = AddressBody,
    responses((status = 201, description = "added", body = Envelope<AddressIdResult>), (status = 400, description = "`INVALID_VALUE`: a field missing or out of range", body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 409, description = "TOO_MANY_ADDRESSES", body = ErrorBody)))]
pub async fn create_address(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<AddressBody>,
) -> ApiResult<Reply<AddressIdResult>> {
    let fields = address_fields(body)?;
    if repo::count_live_addresses(&state.db, user.user_id.0).await? >= MAX_ADDRESSES_PER_USER {
        return Err(ApiError::conflict(
            "TOO_MANY_ADDRESSES",
            format!("at most {MAX_ADDRESSES_PER_USER} addresses per user"),
        ));
    }
    let address_id = Uuid::now_v7();
    repo::insert_address(
        &state.db,
        address_id,
        user.user_id.0,
        &fields,
        &user.email,
        state.now_ms(),
    )
    .await?;
    Ok(Reply::created(
        "배송지 등록 성공",
        AddressIdResult { address_id },
    ))
}

/// One of one's own addresses.
#[utoipa::path(get, path = "/api/v1/address/{address_id}", tag = "accounts", security(("bearer" = [])),
    params(("address_id" = Uuid, Path)),
    responses((status = 200, description = "the address", body = Envelope<AddressView>), (status = 400, description = "`INVALID_VALUE`: addressId is not a UUID", body = ErrorBody),
        (status = 403, description = "NOT_ALLOWED_CONTENT", body = ErrorBody),
        (status = 404, description = "ADDRESS_NOT_FOUND, DELETED_ADDRESS", body = ErrorBody)))]
pub async fn get_address(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Reply<AddressView>> {
    let id = parse_address_id(&id)?;
    let address = own_address(&state, &user, id).await?;
    Ok(Reply::ok("배송지 조회 성공", address.into()))
}

/// One's own live addresses, a page at a time.
///
/// `sort` by `createdAt` or `updatedAt`; newest first by default.
#[utoipa::path(get, path = "/api/v1/address", tag = "accounts", security(("bearer" = [])),
    params(("page" = Option<i64>, Query, description = "0-based"), ("size" = Option<i64>, Query),
        ("sort" = Option<String>, Query, description = "createdAt|updatedAt, asc|desc")),
    responses((status = 200, description = "a page of AddressView", body = Envelope<Page<AddressView>>), (status = 400, description = "`INVALID_VALUE`: a query parameter of the wrong type, or page, size or sort out of range", body = ErrorBody)))]
pub async fn list_addresses(
    State(state): State<AppState>,
    user: AuthUser,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> ApiResult<Reply<Page<AddressView>>> {
    let Query(query) = query.map_err(|e| invalid(e.body_text()))?;
    let page = query.validate(
        ADDRESS_SORTS,
        ADDRESS_PAGE_SIZE,
        state.config.page_limits(),
        "INVALID_SORT",
    )?;
    let (rows, total) = repo::list_addresses(&state.db, user.user_id.0, &page).await?;
    let content = rows.into_iter().map(AddressView::from).collect();
    Ok(Reply::ok(
        "배송지 목록 조회 성공",
        Page::new(content, total, &page),
    ))
}

/// Overwrite one of one's own addresses (all six fields).
#[utoipa::path(patch, path = "/api/v1/address/{address_id}", tag = "accounts", security(("bearer" = [])),
    params(("address_id" = Uuid, Path)), request_body = AddressBody,
    responses((status = 200, description = "updated", body = Envelope<AddressIdResult>), (status = 400, description = "`INVALID_VALUE`: addressId is not a UUID, or a field missing or out of range", body = ErrorBody),
        (status = 403, description = "`NOT_ALLOWED_CONTENT`: another user's address", body = ErrorBody), (status = 404, description = "`ADDRESS_NOT_FOUND`, `DELETED_ADDRESS`: no such live address", body = ErrorBody)))]
pub async fn update_address(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AddressBody>,
) -> ApiResult<Reply<AddressIdResult>> {
    let id = parse_address_id(&id)?;
    let fields = address_fields(body)?;
    own_address(&state, &user, id).await?;
    if !repo::update_address(&state.db, id, &fields, &user.email, state.now_ms()).await? {
        return Err(ApiError::not_found(
            "DELETED_ADDRESS",
            "this address was deleted",
        ));
    }
    Ok(Reply::ok(
        "배송지 수정 성공",
        AddressIdResult { address_id: id },
    ))
}

/// Delete one of one's own addresses (soft delete).
///
/// If it was the default, there is no default any more.
#[utoipa::path(delete, path = "/api/v1/address/{address_id}", tag = "accounts", security(("bearer" = [])),
    params(("address_id" = Uuid, Path)),
    responses((status = 200, description = "deleted", body = Envelope<AddressIdResult>), (status = 400, description = "`INVALID_VALUE`: addressId is not a UUID", body = ErrorBody),
        (status = 403, description = "`NOT_ALLOWED_CONTENT`: another user's address", body = ErrorBody), (status = 404, description = "`ADDRESS_NOT_FOUND`, `DELETED_ADDRESS`: no such live address", body = ErrorBody)))]
pub async fn delete_address(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Reply<AddressIdResult>> {
    let id = parse_address_id(&id)?;
    own_address(&state, &user, id).await?;
    let by = user.user_id.to_string();
    let deleted =
        repo::soft_delete_address(&state.db, id, user.user_id.0, &by, state.now_ms()).await?;
    state.lookups.forget_address(id);
    if !deleted {
        return Err(ApiError::not_found(
            "DELETED_ADDRESS",
            "this address was deleted",
        ));
    }
    Ok(Reply::ok(
        "배송지 삭제 성공",
        AddressIdResult { address_id: id },
    ))
}

/// One's default address.
#[utoipa::path(get, path = "/api/v1/address-default", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, description = "the default address", body = Envelope<AddressView>),
        (status = 404, description = "NOT_EXISTS_DEFAULT_ADDRESS", body = ErrorBody)))]
pub async fn get_default_address(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<Reply<AddressView>> {
    let address = repo::default_address(&state.db, user.user_id.0)
        .await?
        .ok_or_else(|| {
            ApiError::not_found("NOT_EXISTS_DEFAULT_ADDRESS", "no default address is set")
        })?;
    Ok(Reply::ok("기본 배송지 조회 성공", address.into()))
}

/// Make one of one's own addresses the default.
#[utoipa::path(patch, path = "/api/v1/address-default/{address_id}", tag = "accounts", security(("bearer" = [])),
    params(("address_id" = Uuid, Path)),
    responses((status = 200, description = "made the default", body = Envelope<AddressIdResult>), (status = 400, description = "`INVALID_VALUE`: addressId is not a UUID", body = ErrorBody),
        (status = 403, description = "`NOT_ALLOWED_CONTENT`: another user's address", body = ErrorBody), (status = 404, description = "ADDRESS_NOT_FOUND, DELETED_ADDRESS, USER_NOT_FOUND", body = ErrorBody)))]
pub async fn set_default_address(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Reply<AddressIdResult>> {
    let id = parse_address_id(&id)?;
    own_address(&state, &user, id).await?;
    let by = user.user_id.to_string();
    if !repo::set_default_address(&state.db, user.user_id.0, id, &by, state.now_ms()).await? {
        // The address was deleted meanwhile, or the caller has no (live) account.
        return Err(match repo::find_user(&state.db, user.user_id.0).await? {
            Some(u) if !u.deleted => {
                ApiError::not_found("DELETED_ADDRESS", "this address was deleted")
            }
            _ => user_not_found(),
        });
    }
    Ok(Reply::ok(
        "기본 배송지 설정 성공",
        AddressIdResult { address_id: id },
    ))
}
