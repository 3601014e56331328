//! Products (`/api/v1/products`); the rules are in [`crate::catalog::products`].

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{ListQuery, caller, parse_id};
use crate::catalog::products::{self as service, MAX_FILTER_IDS, PRODUCT_SORTS};
pub use crate::catalog::products::{
    CATEGORIES, CreateProduct, MAX_AMOUNT, PRODUCT_STATUSES, ProductCreated, ProductView,
    UpdateProduct, rating,
};
use crate::domain::ids::ItemId;
use crate::error_code::ErrorCode;
use crate::http::AppState;
use crate::http::auth::{AuthUser, Role};
use crate::http::envelope::{ApiJson, Envelope, Reply};
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::Path;
use crate::http::page::Page;
use crate::persistence::catalog::ProductFilter;

/// The product routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/products", get(list_products).post(create_product))
        .route(
            "/api/v1/products/{id}",
            get(get_product)
                .put(update_product)
                .patch(set_product_status)
                .delete(delete_product),
        )
}

/// Create a product (SELLER for a company they manage; MASTER, MANAGER for any).
///
/// The company must be APPROVED. The product starts ON_SALE with all its stock available.
#[utoipa::path(post, path = "/api/v1/products", tag = "products", request_body = CreateProduct,
    security(("bearer" = [])),
    responses((status = 201, description = "created", body = Envelope<ProductCreated>),
        (status = 400, description = "P003 invalid value, PC016 company not APPROVED", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, description = "`FORBIDDEN`: a CUSTOMER; `P006`: a seller for a company they do not manage", body = ErrorBody),
        (status = 404, description = "PC017 company not found", body = ErrorBody)))]
pub async fn create_product(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<CreateProduct>,
) -> ApiResult<Reply<ProductCreated>> {
    user.require(&[Role::Seller, Role::Manager, Role::Master])?;
    let created = service::create_product(&state.catalog, caller(&user), &body).await?;
    Ok(Reply::created("상품이 등록되었습니다.", created))
}

/// Update a product (the seller of its company, or staff).
#[utoipa::path(put, path = "/api/v1/products/{id}", tag = "products", request_body = UpdateProduct,
    params(("id" = Uuid, Path, description = "product id")), security(("bearer" = [])),
    responses((status = 200, description = "updated", body = Envelope<ProductView>),
        (status = 400, description = "`P003`: not a product id, or a field out of range", body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "FORBIDDEN (role) or P006 (not the owner)", body = ErrorBody),
        (status = 404, description = "`P002`: no such product", body = ErrorBody)))]
pub async fn update_product(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateProduct>,
) -> ApiResult<Reply<ProductView>> {
    user.require(&[Role::Seller, Role::Manager, Role::Master])?;
    let id = parse_id(&id, ErrorCode::InvalidCatalogValue, "product id")?;
    let updated = service::update_product(&state.catalog, caller(&user), id, &body).await;
    // The order path's cached row may be stale now.
    state.lookups.forget_product(ItemId(id));
    Ok(Reply::ok("상품이 수정되었습니다.", updated?))
}

/// `{status}`: a ProductStatusEnum name.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ProductStatusBody {
    pub status: String,
}

/// Set a product's status (MASTER).
#[utoipa::path(patch, path = "/api/v1/products/{id}", tag = "products", request_body = ProductStatusBody,
    params(("id" = Uuid, Path, description = "product id")), security(("bearer" = [])),
    responses((status = 200, description = "updated", body = Envelope<ProductView>),
        (status = 400, description = "`P003`: not a product id, or not a product status", body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, description = "`FORBIDDEN`: not MASTER", body = ErrorBody),
        (status = 404, description = "`P002`: no such product", body = ErrorBody)))]
pub async fn set_product_status(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ProductStatusBody>,
) -> ApiResult<Reply<ProductView>> {
    user.require(&[Role::Master])?;
    let id = parse_id(&id, ErrorCode::InvalidCatalogValue, "product id")?;
    let view = service::set_product_status(&state.catalog, caller(&user), id, &body.status).await?;
    Ok(Reply::ok("상품 상태가 변경되었습니다.", view))
}

/// Delete a product (the seller of its company, or staff).
///
/// A soft delete; the item stops taking orders.
#[utoipa::path(delete, path = "/api/v1/products/{id}", tag = "products",
    params(("id" = Uuid, Path, description = "product id")), security(("bearer" = [])),
    responses((status = 200, description = "deleted", body = Envelope<ProductCreated>),
        (status = 400, description = "`P003`: not a product id", body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, description = "`FORBIDDEN`: a CUSTOMER; `P006`: not the product's seller", body = ErrorBody),
        (status = 404, description = "`P002`: no such product", body = ErrorBody)))]
pub async fn delete_product(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Reply<ProductCreated>> {
    user.require(&[Role::Seller, Role::Manager, Role::Master])?;
    let id = parse_id(&id, ErrorCode::InvalidCatalogValue, "product id")?;
    let deleted = service::delete_product(&state.catalog, caller(&user), id).await;
    // The order path's cached row may be stale now.
    state.lookups.forget_product(ItemId(id));
    Ok(Reply::ok("상품이 삭제되었습니다.", deleted?))
}

/// One product with its live stock and sale price (public).
#[utoipa::path(get, path = "/api/v1/products/{id}", tag = "products",
    params(("id" = Uuid, Path, description = "product id")),
    responses((status = 200, description = "the product", body = Envelope<ProductView>),
        (status = 400, description = "`P003`: not a product id", body = ErrorBody), (status = 404, description = "`P002`: no such product", body = ErrorBody)))]
pub async fn get_product(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Reply<ProductView>> {
    let id = parse_id(&id, ErrorCode::InvalidCatalogValue, "product id")?;
    let view = service::get_product(&state.catalog, id).await?;
    Ok(Reply::ok("상품 조회 성공", view))
}

/// Products, a page at a time (public).
///
/// `page`, `size`, `sort` (createdAt, updatedAt, price; newest first by
/// default), `search` (name or description contains), `category`, `status`, `productIds`
/// (comma-separated or repeated), `companyId`.
#[utoipa::path(get, path = "/api/v1/products", tag = "products",
    params(("page" = Option<i64>, Query, description = "0-based page"),
        ("size" = Option<i64>, Query, description = "page size"),
        ("sort" = Option<String>, Query, description = "createdAt|updatedAt|price,asc|desc"),
        ("search" = Option<String>, Query, description = "text in the name or description"),
        ("category" = Option<String>, Query, description = "a ProductCategoryEnum name"),
        ("status" = Option<String>, Query, description = "a ProductStatusEnum name"),
        ("productIds" = Option<String>, Query, description = "product ids, comma-separated or repeated"),
        ("companyId" = Option<Uuid>, Query, description = "one company's products")),
    responses((status = 200, description = "a page of products", body = Envelope<Page<ProductView>>),
        (status = 400, description = "`P003`: a query parameter of the wrong type; `P008`: page, size or sort out of range", body = ErrorBody)))]
pub async fn list_products(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Reply<Page<ProductView>>> {
    let q = ListQuery::parse(raw.as_deref());
    let req = q.page(ErrorCode::InvalidCatalogPaging)?.validate(
        PRODUCT_SORTS,
        10,
        state.config.page_limits(),
        ErrorCode::InvalidCatalogPaging,
    )?;
    let filter = ProductFilter {
        search: service::check_search(q.get("search"))?,
        category: q.get("category").map(service::check_category).transpose()?,
        status: q.get("status").map(service::check_status).transpose()?,
        ids: q
            .has("productIds")
            .then(|| q.uuids("productIds", MAX_FILTER_IDS, ErrorCode::InvalidCatalogValue))
            .transpose()?,
        company_id: q
            .get("companyId")
            .map(|c| parse_id(c, ErrorCode::InvalidCatalogValue, "companyId"))
            .transpose()?,
    };
    let (content, total) = service::list_products(&state.catalog, &filter, &req).await?;
    Ok(Reply::ok(
        "상품 목록 조회 성공",
        Page::new(content, total, &req),
    ))
}
