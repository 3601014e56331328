//! Companies (`/api/v1/companies`): a seller registers a company (always REQUESTED), staff
//! approve or reject it once, its manager (or staff) edits it. Sellers see their own companies;
//! staff see all of them.

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::routing::{get, patch};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{ListQuery, check_text, parse_id, rfc3339};
use crate::http::AppState;
use crate::http::auth::{AuthUser, Role};
use crate::http::envelope::{ApiJson, Envelope, Reply};
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::Path;
use crate::http::page::Page;
use crate::persistence::catalog::{self as repo, Company, CompanyPatch};

/// The company routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/companies",
            get(list_companies).post(create_company),
        )
        .route(
            "/api/v1/companies/{id}",
            get(get_company).patch(update_company),
        )
        .route("/api/v1/companies/{id}/status", patch(set_company_status))
}

/// Company statuses (the seed's `CompanyStatusEnum`).
pub const COMPANY_STATUSES: [&str; 4] = ["REQUESTED", "PENDING", "APPROVED", "REJECTED"];

const MIN_BRN: i64 = 1_000_000_000;
const MAX_BRN: i64 = 9_999_999_999;
/// E.164 numbers have at most 15 digits.
const MAX_PHONE: i64 = 999_999_999_999_999;
const MAX_NAME_CHARS: usize = 100;
const MAX_EMAIL_CHARS: usize = 255;

/// A company to register.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateCompany {
    /// Exactly 10 digits (a JSON number), unique.
    pub business_registration_number: i64,
    /// Up to 15 digits (a JSON number).
    pub company_phone_number: i64,
    /// Ignored for sellers (the manager is the caller); staff may register for a seller.
    pub manager_id: Option<Uuid>,
    pub brand_name: String,
    pub company_email: String,
    /// Ignored: a company always starts REQUESTED.
    pub status: Option<String>,
}

/// `{companyId}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompanyCreated {
    pub company_id: Uuid,
}

/// A company as shown (with its id, which the seed left out).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompanyView {
    pub company_id: Uuid,
    pub business_registration_number: i64,
    pub company_phone_number: i64,
    pub manager_id: Uuid,
    pub brand_name: String,
    pub company_email: String,
    /// REQUESTED, PENDING, APPROVED or REJECTED.
    pub status: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub updated_at: String,
}

impl From<Company> for CompanyView {
    fn from(c: Company) -> Self {
        Self {
            company_id: c.id,
            business_registration_number: c.business_registration_number,
            company_phone_number: c.company_phone_number,
            manager_id: c.manager_id,
            brand_name: c.brand_name,
            company_email: c.company_email,
            status: c.status,
            created_at: rfc3339(c.created_at),
            updated_at: rfc3339(c.updated_at),
        }
    }
}

fn check_phone(n: i64) -> ApiResult<i64> {
    if !(1..=MAX_PHONE).contains(&n) {
        return Err(ApiError::bad_request(
            "CA002",
            "companyPhoneNumber must be a positive number of at most 15 digits",
        ));
    }
    Ok(n)
}

fn check_email(s: &str) -> ApiResult<String> {
    let e = check_text(s, MAX_EMAIL_CHARS, "companyEmail", "CA002")?;
    let valid = e.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
    }) && !e.chars().any(char::is_whitespace);
    if !valid {
        return Err(ApiError::bad_request(
            "CA002",
            "companyEmail is not an email address",
        ));
    }
    Ok(e)
}

fn can_see(user: &AuthUser, c: &Company) -> bool {
    user.role.is_staff() || c.manager_id == user.user_id.0
}

async fn find(state: &AppState, id: Uuid) -> ApiResult<Company> {
    repo::company(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("CA001", "company not found"))
}

/// Register a company (SELLER; staff may register one for a seller).
#[utoipa::path(post, path = "/api/v1/companies", tag = "companies", request_body = CreateCompany,
    security(("bearer" = [])),
    responses((status = 201, description = "registered, status REQUESTED", body = Envelope<CompanyCreated>),
        (status = 400, description = "`CA002`: a field missing or out of range (business registration number, phone number, names)", body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, description = "`FORBIDDEN`: a CUSTOMER", body = ErrorBody),
        (status = 409, description = "CA006: business registration number taken", body = ErrorBody)))]
pub async fn create_company(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<CreateCompany>,
) -> ApiResult<Reply<CompanyCreated>> {
    user.require(&[Role::Seller, Role::Manager, Role::Master])?;
    if !(MIN_BRN..=MAX_BRN).contains(&body.business_registration_number) {
        return Err(ApiError::bad_request(
            "CA002",
            "businessRegistrationNumber must have exactly 10 digits",
        ));
    }
    let phone = check_phone(body.company_phone_number)?;
    let brand_name = check_text(&body.brand_name, MAX_NAME_CHARS, "brandName", "CA002")?;
    let company_email = check_email(&body.company_email)?;
    let manager_id = match (user.role.is_staff(), body.manager_id) {
        (true, Some(m)) => m,
        _ => user.user_id.0,
    };
    let now = state.now_ms();
    let company = Company {
        id: crate::domain::ids::CompanyId::new().0,
        business_registration_number: body.business_registration_number,
        company_phone_number: phone,
        manager_id,
        company_email,
        brand_name,
        status: "REQUESTED".to_string(),
        created_at: now,
        updated_at: now,
    };
    if !repo::insert_company(&state.db, &company, &user.email).await? {
        return Err(ApiError::conflict(
            "CA006",
            "a company with this business registration number already exists",
        ));
    }
    Ok(Reply::created(
        "업체 등록 요청이 완료되었습니다.",
        CompanyCreated {
            company_id: company.id,
        },
    ))
}

/// Fields a manager may change; absent ones are kept.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateCompany {
    pub company_phone_number: Option<i64>,
    /// Staff only: hand the company to another seller.
    pub manager_id: Option<Uuid>,
    pub brand_name: Option<String>,
    pub company_email: Option<String>,
}

/// Edit a company (its manager, or staff).
#[utoipa::path(patch, path = "/api/v1/companies/{id}", tag = "companies", request_body = UpdateCompany,
    params(("id" = Uuid, Path, description = "company id")), security(("bearer" = [])),
    responses((status = 200, description = "updated", body = Envelope<CompanyView>),
        (status = 400, description = "`CA002`: not a company id, or a field out of range", body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "FORBIDDEN (role) or CA005 (not its manager)", body = ErrorBody),
        (status = 404, description = "`CA001`: no such company", body = ErrorBody)))]
pub async fn update_company(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateCompany>,
) -> ApiResult<Reply<CompanyView>> {
    user.require(&[Role::Seller, Role::Manager, Role::Master])?;
    let id = parse_id(&id, "CA002", "company id")?;
    let company = find(&state, id).await?;
    if !can_see(&user, &company) {
        return Err(ApiError::forbidden(
            "CA005",
            "only the company's manager may edit it",
        ));
    }
    if body.manager_id.is_some_and(|m| m != company.manager_id) && !user.role.is_staff() {
        return Err(ApiError::forbidden(
            "CA005",
            "only staff may hand a company to another manager",
        ));
    }
    let patch = CompanyPatch {
        company_phone_number: body.company_phone_number.map(check_phone).transpose()?,
        manager_id: body.manager_id,
        company_email: body.company_email.as_deref().map(check_email).transpose()?,
        brand_name: body
            .brand_name
            .as_deref()
            .map(|b| check_text(b, MAX_NAME_CHARS, "brandName", "CA002"))
            .transpose()?,
    };
    if !repo::update_company(&state.db, id, &patch, &user.email, state.now_ms()).await? {
        return Err(ApiError::not_found("CA001", "company not found"));
    }
    let company = find(&state, id).await?;
    Ok(Reply::ok("업체 정보가 수정되었습니다.", company.into()))
}

/// `{status}`: APPROVED or REJECTED.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CompanyStatusBody {
    pub status: String,
}

/// Approve or reject a REQUESTED or PENDING company (MASTER, MANAGER).
#[utoipa::path(patch, path = "/api/v1/companies/{id}/status", tag = "companies", request_body = CompanyStatusBody,
    params(("id" = Uuid, Path, description = "company id")), security(("bearer" = [])),
    responses((status = 200, description = "decided", body = Envelope<CompanyView>),
        (status = 400, description = "CA002: not APPROVED or REJECTED", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, description = "`FORBIDDEN`: not MASTER or MANAGER", body = ErrorBody), (status = 404, description = "`CA001`: no such company", body = ErrorBody),
        (status = 409, description = "CA009: already decided", body = ErrorBody)))]
pub async fn set_company_status(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CompanyStatusBody>,
) -> ApiResult<Reply<CompanyView>> {
    user.require(&[Role::Master, Role::Manager])?;
    let id = parse_id(&id, "CA002", "company id")?;
    let to = body.status.trim().to_ascii_uppercase();
    if to != "APPROVED" && to != "REJECTED" {
        return Err(ApiError::bad_request(
            "CA002",
            "status must be APPROVED or REJECTED",
        ));
    }
    let company = find(&state, id).await?;
    let from = ["REQUESTED", "PENDING"];
    let moved =
        repo::set_company_status(&state.db, id, &from, &to, &user.email, state.now_ms()).await?;
    if !moved {
        return Err(ApiError::conflict(
            "CA009",
            format!(
                "the company is {}; only a REQUESTED or PENDING company can be decided",
                company.status
            ),
        ));
    }
    let company = find(&state, id).await?;
    Ok(Reply::ok("업체 상태가 변경되었습니다.", company.into()))
}

/// One company (its manager, or staff).
#[utoipa::path(get, path = "/api/v1/companies/{id}", tag = "companies",
    params(("id" = Uuid, Path, description = "company id")), security(("bearer" = [])),
    responses((status = 200, description = "the company", body = Envelope<CompanyView>),
        (status = 400, description = "`CA002`: not a company id", body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, description = "`FORBIDDEN`: a CUSTOMER; `CA005`: a seller asking for another's company", body = ErrorBody),
        (status = 404, description = "`CA001`: no such company", body = ErrorBody)))]
pub async fn get_company(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Reply<CompanyView>> {
    user.require(&[Role::Seller, Role::Manager, Role::Master])?;
    let id = parse_id(&id, "CA002", "company id")?;
    let company = find(&state, id).await?;
    if !can_see(&user, &company) {
        return Err(ApiError::forbidden(
            "CA005",
            "only the company's manager may see it",
        ));
    }
    Ok(Reply::ok("업체 조회 성공", company.into()))
}

/// Sortable properties of the company list.
const COMPANY_SORTS: &[(&str, &str)] = &[
    ("createdAt", "created_at"),
    ("updatedAt", "updated_at"),
    ("brandName", "brand_name"),
    ("status", "status"),
];

/// Companies, newest first by default (`page`, `size`, `sort`, `status`). Sellers get their own.
#[utoipa::path(get, path = "/api/v1/companies", tag = "companies",
    params(("page" = Option<i64>, Query, description = "0-based page"),
        ("size" = Option<i64>, Query, description = "page size"),
        ("sort" = Option<String>, Query, description = "createdAt|updatedAt|brandName|status,asc|desc"),
        ("status" = Option<String>, Query, description = "REQUESTED|PENDING|APPROVED|REJECTED")),
    security(("bearer" = [])),
    responses((status = 200, description = "a page of companies", body = Envelope<Page<CompanyView>>),
        (status = 400, description = "`CA002`: a query parameter of the wrong type (status); `CA007`: page, size or sort out of range", body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, description = "`FORBIDDEN`: a CUSTOMER", body = ErrorBody)))]
pub async fn list_companies(
    State(state): State<AppState>,
    user: AuthUser,
    RawQuery(raw): RawQuery,
) -> ApiResult<Reply<Page<CompanyView>>> {
    user.require(&[Role::Seller, Role::Manager, Role::Master])?;
    let q = ListQuery::parse(raw.as_deref());
    let req = q
        .page("CA007")?
        .validate(COMPANY_SORTS, 10, state.config.page_limits(), "CA007")?;
    let status = match q.get("status") {
        None => None,
        Some(s) => {
            let s = s.to_ascii_uppercase();
            if !COMPANY_STATUSES.contains(&s.as_str()) {
                return Err(ApiError::bad_request(
                    "CA002",
                    "status must be REQUESTED, PENDING, APPROVED or REJECTED",
                ));
            }
            Some(s)
        }
    };
    let manager = (!user.role.is_staff()).then_some(user.user_id.0);
    let (list, total) =
        repo::list_companies(&state.db, status.as_deref(), manager, &req.sql_tail("id")).await?;
    let content = list.into_iter().map(CompanyView::from).collect();
    Ok(Reply::ok(
        "업체 목록 조회 성공",
        Page::new(content, total, &req),
    ))
}
