//! Companies (`/api/v1/companies`); the rules are in [`crate::catalog::companies`].

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::routing::{get, patch};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{ListQuery, caller, parse_id};
use crate::catalog::companies::{self as service, COMPANY_SORTS};
pub use crate::catalog::companies::{
    COMPANY_STATUSES, CompanyCreated, CompanyView, CreateCompany, UpdateCompany,
};
use crate::error_code::ErrorCode;
use crate::http::AppState;
use crate::http::auth::{AuthUser, Role};
use crate::http::envelope::{ApiJson, Envelope, Reply};
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::Path;
use crate::http::page::Page;

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
    let created = service::create_company(&state.catalog, caller(&user), &body).await?;
    Ok(Reply::created("업체 등록 요청이 완료되었습니다.", created))
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
    let id = parse_id(&id, ErrorCode::InvalidCompany, "company id")?;
    let view = service::update_company(&state.catalog, caller(&user), id, &body).await?;
    Ok(Reply::ok("업체 정보가 수정되었습니다.", view))
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
    let id = parse_id(&id, ErrorCode::InvalidCompany, "company id")?;
    let view = service::set_company_status(&state.catalog, caller(&user), id, &body.status).await?;
    Ok(Reply::ok("업체 상태가 변경되었습니다.", view))
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
    let id = parse_id(&id, ErrorCode::InvalidCompany, "company id")?;
    let view = service::get_company(&state.catalog, caller(&user), id).await?;
    Ok(Reply::ok("업체 조회 성공", view))
}

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
    let req = q.page(ErrorCode::InvalidCompanyPaging)?.validate(
        COMPANY_SORTS,
        10,
        state.config.page_limits(),
        ErrorCode::InvalidCompanyPaging,
    )?;
    let (content, total) =
        service::list_companies(&state.catalog, caller(&user), q.get("status"), &req).await?;
    Ok(Reply::ok(
        "업체 목록 조회 성공",
        Page::new(content, total, &req),
    ))
}
