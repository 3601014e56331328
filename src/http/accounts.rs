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
use crate::accounts::error::AccountsError;
use crate::accounts::repo::{AddressFields, AddressRow, UserRow};
use crate::accounts::rules;
use crate::accounts::service::{self, Accounts, Caller, IssuedTokens, NewAccount, TokenIssuer};
use crate::domain::Millis;
use crate::domain::ids::UserId;
use crate::error_code::ErrorCode;

/// Most live addresses one user may keep.
pub use crate::accounts::service::MAX_ADDRESSES_PER_USER;
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

impl From<AccountsError> for ApiError {
    fn from(err: AccountsError) -> Self {
        match err {
            AccountsError::Refused {
                code,
                message,
                retry_after_s,
            } => {
                let api = ApiError::coded(code, message);
                match retry_after_s {
                    Some(s) => api.retry_after(s),
                    None => api,
                }
            }
            AccountsError::Storage(e) => e.into(),
        }
    }
}

fn accounts(state: &AppState) -> Accounts<'_> {
    Accounts {
        state: &state.accounts,
        db: &state.db,
        clock: &state.clock,
    }
}

fn caller(user: &AuthUser) -> Caller<'_> {
    Caller {
        user_id: user.user_id,
        email: &user.email,
        master: user.is_master(),
    }
}

/// The JWT keys minting and checking an account's tokens.
struct Jwt<'a>(&'a AppState);

impl TokenIssuer for Jwt<'_> {
    fn mint(&self, user: &UserRow, now_ms: Millis) -> anyhow::Result<(String, String)> {
        let (keys, config) = (&self.0.keys, &self.0.config);
        let role = role_of(user)?;
        let id = UserId(user.user_id);
        let access = keys.mint_access(id, &user.email, role, now_ms, config.access_token_ttl_s)?;
        let refresh = keys.mint_refresh(id, now_ms, config.refresh_token_ttl_s)?;
        Ok((access, refresh))
    }

    fn refresh_owner(&self, token: &str) -> Option<UserId> {
        let keys = &self.0.keys;
        let claims = keys.verify(token).ok()?;
        (claims.token_type == TokenType::Refresh && !keys.is_revoked(&claims))
            .then_some(claims.user_id)
    }

    fn refresh_ttl(&self) -> Duration {
        Duration::from_secs(self.0.config.refresh_token_ttl_s)
    }
}

fn token_pair(issued: IssuedTokens) -> TokenPair {
    TokenPair {
        access_token: format!("Bearer {}", issued.access),
        refresh_token: issued.refresh,
    }
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::coded(ErrorCode::InvalidValue, message)
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

fn parse_user_id(id: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(id.trim()).map_err(|_| invalid("userId must be a UUID"))
}

fn parse_address_id(id: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(id.trim()).map_err(|_| invalid("addressId must be a UUID"))
}

fn role_of(user: &UserRow) -> anyhow::Result<Role> {
    Role::parse(&user.role)
        .ok_or_else(|| anyhow::anyhow!("user {} has an unknown role in the database", user.user_id))
}

fn address_fields(body: AddressBody) -> ApiResult<AddressFields> {
    let field = service::address_field;
    Ok(AddressFields {
        zip_num: field("zipNum", &body.zip_num)?,
        city: field("city", &body.city)?,
        district: field("district", &body.district)?,
        street_name: field("streetName", &body.street_name)?,
        street_num: field("streetNum", &body.street_num)?,
        detail_addr: field("detailAddr", &body.detail_addr)?,
    })
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
    service::check_email(accounts(&state), email).await?;
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
    service::send_verification(accounts(&state), email).await?;
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
    service::confirm_verification(accounts(&state), email, code, ip.0).await?;
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
    service::check_password_rule(&body.password)?;
    service::check_nickname_rule(&body.nickname)?;
    let role = Role::parse(&body.role).ok_or_else(|| invalid("role must be CUSTOMER or SELLER"))?;
    if role.is_staff() {
        return Err(ErrorCode::NotAllowedRole.into());
    }
    let new = NewAccount {
        email,
        password: &body.password,
        nickname: &body.nickname,
        role: role.as_str(),
    };
    let user_id = service::signup(accounts(&state), new).await?;
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
    let issued = service::login(
        accounts(&state),
        &Jwt(&state),
        &body.email,
        &body.password,
        ip.0,
    )
    .await?;
    Ok(Reply::ok("로그인 성공", token_pair(issued)))
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
    let issued = service::refresh(accounts(&state), &Jwt(&state), &body.refresh_token).await?;
    Ok(Reply::ok("토큰 재발급 성공", token_pair(issued)))
}

/// Log out: the refresh token stops working (the access token lives out its short lifetime).
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, description = "logged out", body = NoData), (status = 401, body = ErrorBody)))]
pub async fn logout(State(state): State<AppState>, user: AuthUser) -> ApiResult<Reply<Option<()>>> {
    service::logout(accounts(&state), user.user_id).await?;
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
    let found = service::get_user(accounts(&state), caller(&user), id).await?;
    let role = role_of(&found).map_err(ApiError::internal)?;
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
    service::update_nickname(accounts(&state), caller(&user), id, &body.nickname).await?;
    Ok(Reply::ok(
        "회원 정보 수정 성공",
        UserIdResult { user_id: id },
    ))
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
    service::change_password(
        accounts(&state),
        caller(&user),
        id,
        body.current_password.as_deref(),
        &body.password,
        ip.0,
    )
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
    service::delete_user(accounts(&state), caller(&user), id).await?;
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
    let read_at = state.lookups.addresses_epoch();
    let address_id = service::create_address(accounts(&state), caller(&user), &fields).await?;
    // A shopper who adds an address usually orders with it next: the order path then finds its
    // owner in memory instead of reading the row back.
    state
        .lookups
        .remember_address(read_at, address_id, user.user_id);
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
    let address = service::get_address(accounts(&state), caller(&user), id).await?;
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
        ErrorCode::InvalidSort,
    )?;
    let (rows, total) = service::list_addresses(accounts(&state), caller(&user), &page).await?;
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
    service::update_address(accounts(&state), caller(&user), id, &fields).await?;
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
    let deleted = service::delete_address(accounts(&state), caller(&user), id).await;
    // The order path's cached address may be stale now.
    state.lookups.forget_address(id);
    deleted?;
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
    let address = service::get_default_address(accounts(&state), caller(&user)).await?;
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
    service::set_default_address(accounts(&state), caller(&user), id).await?;
    Ok(Reply::ok(
        "기본 배송지 설정 성공",
        AddressIdResult { address_id: id },
    ))
}
