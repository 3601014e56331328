//! Companies: a seller registers a company (always REQUESTED), staff approve or reject it once,
//! its manager (or staff) edits it. Sellers see their own companies; staff see all of them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Caller, Catalog, CatalogError, CatalogResult, check_text, rfc3339};
use crate::error_code::ErrorCode;
use crate::persistence::catalog::{self as repo, Company, CompanyPatch};
use crate::persistence::page::PageRequest;

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

fn check_phone(n: i64) -> CatalogResult<i64> {
    if !(1..=MAX_PHONE).contains(&n) {
        return Err(CatalogError::coded(
            ErrorCode::InvalidCompany,
            "companyPhoneNumber must be a positive number of at most 15 digits",
        ));
    }
    Ok(n)
}

fn check_email(s: &str) -> CatalogResult<String> {
    let e = check_text(
        s,
        MAX_EMAIL_CHARS,
        "companyEmail",
        ErrorCode::InvalidCompany,
    )?;
    let valid = e.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
    }) && !e.chars().any(char::is_whitespace);
    if !valid {
        return Err(CatalogError::coded(
            ErrorCode::InvalidCompany,
            "companyEmail is not an email address",
        ));
    }
    Ok(e)
}

fn can_see(caller: Caller<'_>, c: &Company) -> bool {
    caller.staff || c.manager_id == caller.user_id
}

async fn find(cat: &Catalog, id: Uuid) -> CatalogResult<Company> {
    repo::company(&cat.db, id)
        .await?
        .ok_or_else(|| ErrorCode::CompanyNotFound.into())
}

/// Register a company (SELLER; staff may register one for a seller).
pub async fn create_company(
    cat: &Catalog,
    caller: Caller<'_>,
    body: &CreateCompany,
) -> CatalogResult<CompanyCreated> {
    if !(MIN_BRN..=MAX_BRN).contains(&body.business_registration_number) {
        return Err(CatalogError::coded(
            ErrorCode::InvalidCompany,
            "businessRegistrationNumber must have exactly 10 digits",
        ));
    }
    let phone = check_phone(body.company_phone_number)?;
    let brand_name = check_text(
        &body.brand_name,
        MAX_NAME_CHARS,
        "brandName",
        ErrorCode::InvalidCompany,
    )?;
    let company_email = check_email(&body.company_email)?;
    let manager_id = match (caller.staff, body.manager_id) {
        (true, Some(m)) => m,
        _ => caller.user_id,
    };
    let now = cat.now_ms();
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
    if !repo::insert_company(&cat.db, &company, caller.email).await? {
        return Err(ErrorCode::DuplicateBusinessNumber.into());
    }
    Ok(CompanyCreated {
        company_id: company.id,
    })
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
pub async fn update_company(
    cat: &Catalog,
    caller: Caller<'_>,
    id: Uuid,
    body: &UpdateCompany,
) -> CatalogResult<CompanyView> {
    let company = find(cat, id).await?;
    if !can_see(caller, &company) {
        return Err(CatalogError::coded(
            ErrorCode::NotCompanyManager,
            "only the company's manager may edit it",
        ));
    }
    if body.manager_id.is_some_and(|m| m != company.manager_id) && !caller.staff {
        return Err(CatalogError::coded(
            ErrorCode::NotCompanyManager,
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
            .map(|b| check_text(b, MAX_NAME_CHARS, "brandName", ErrorCode::InvalidCompany))
            .transpose()?,
    };
    if !repo::update_company(&cat.db, id, &patch, caller.email, cat.now_ms()).await? {
        return Err(ErrorCode::CompanyNotFound.into());
    }
    Ok(find(cat, id).await?.into())
}

/// Approve or reject a REQUESTED or PENDING company (MASTER, MANAGER).
pub async fn set_company_status(
    cat: &Catalog,
    caller: Caller<'_>,
    id: Uuid,
    status: &str,
) -> CatalogResult<CompanyView> {
    let to = status.trim().to_ascii_uppercase();
    if to != "APPROVED" && to != "REJECTED" {
        return Err(CatalogError::coded(
            ErrorCode::InvalidCompany,
            "status must be APPROVED or REJECTED",
        ));
    }
    let company = find(cat, id).await?;
    let from = ["REQUESTED", "PENDING"];
    let moved =
        repo::set_company_status(&cat.db, id, &from, &to, caller.email, cat.now_ms()).await?;
    if !moved {
        return Err(CatalogError::coded(
            ErrorCode::CompanyAlreadyDecided,
            format!(
                "the company is {}; only a REQUESTED or PENDING company can be decided",
                company.status
            ),
        ));
    }
    Ok(find(cat, id).await?.into())
}

/// One company (its manager, or staff).
pub async fn get_company(
    cat: &Catalog,
    caller: Caller<'_>,
    id: Uuid,
) -> CatalogResult<CompanyView> {
    let company = find(cat, id).await?;
    if !can_see(caller, &company) {
        return Err(CatalogError::coded(
            ErrorCode::NotCompanyManager,
            "only the company's manager may see it",
        ));
    }
    Ok(company.into())
}

/// Sortable properties of the company list.
pub const COMPANY_SORTS: &[(&str, &str)] = &[
    ("createdAt", "created_at"),
    ("updatedAt", "updated_at"),
    ("brandName", "brand_name"),
    ("status", "status"),
];

/// Companies (sellers get their own), a page at a time, and the number of matching rows.
/// `status` is a company status in any case.
pub async fn list_companies(
    cat: &Catalog,
    caller: Caller<'_>,
    status: Option<&str>,
    req: &PageRequest,
) -> CatalogResult<(Vec<CompanyView>, i64)> {
    let status = match status {
        None => None,
        Some(s) => {
            let s = s.to_ascii_uppercase();
            if !COMPANY_STATUSES.contains(&s.as_str()) {
                return Err(CatalogError::coded(
                    ErrorCode::InvalidCompany,
                    "status must be REQUESTED, PENDING, APPROVED or REJECTED",
                ));
            }
            Some(s)
        }
    };
    let manager = (!caller.staff).then_some(caller.user_id);
    let (list, total) =
        repo::list_companies(&cat.db, status.as_deref(), manager, &req.sql_tail("id")).await?;
    Ok((list.into_iter().map(CompanyView::from).collect(), total))
}
