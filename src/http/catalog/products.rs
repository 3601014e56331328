//! Products (`/api/v1/products`). The row keeps the descriptive fields; the item actor owns the
//! stock, the price, the on-sale flag and the current time sale. A product view shows the live
//! available stock as `quantity` and the sale price as `discountPrice` while a sale runs.
//!
//! Edits: name, description, category and images go to the database; price and status go to the
//! engine first and then to the row; a new `quantity` (the total stock) becomes a stock
//! adjustment in the engine (`new - current total`), never an SQL write.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{ListQuery, check_text, check_urls, is_url, parse_id, product_lock, rfc3339};
use crate::actors::item::ItemView;
use crate::domain::ids::{CompanyId, ItemId};
use crate::domain::item::{ItemConfig, ItemOutcome, SalePhase};
use crate::http::AppState;
use crate::http::auth::{AuthUser, Role};
use crate::http::envelope::{ApiJson, Envelope, Reply};
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::Path;
use crate::http::page::Page;
use crate::persistence::catalog::{self as repo, Product, ProductFilter, ProductPatch};
use crate::persistence::repo::NewProduct;

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

/// The seed's `ProductCategoryEnum`.
pub const CATEGORIES: [&str; 15] = [
    "FASHION",
    "BEAUTY",
    "MATERNITY_BABY",
    "FOOD",
    "KITCHEN",
    "HOUSEHOLD",
    "HOME_INTERIOR",
    "APPLIANCES",
    "SPORTS",
    "AUTOMOTIVE",
    "BOOKS_MEDIA",
    "HOBBIES",
    "OFFICE_SUPPLIES",
    "PET_SUPPLIES",
    "HEALTH",
];

/// The seed's `ProductStatusEnum`; only ON_SALE takes orders.
pub const PRODUCT_STATUSES: [&str; 5] = [
    "ON_SALE",
    "DISCONTINUED",
    "OUT_OF_STOCK",
    "SOLD_OUT",
    "INACTIVE",
];

/// Largest price and stock (the seed's declared bound).
pub const MAX_AMOUNT: i64 = 2_100_000_000;
const MAX_NAME_CHARS: usize = 255;
const MAX_DESCRIPTION_CHARS: usize = 5_000;
const MAX_DETAIL_IMGS: usize = 20;
const MAX_SEARCH_CHARS: usize = 100;
/// Most ids in one `productIds` filter.
pub const MAX_FILTER_IDS: usize = 100;

/// A product to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateProduct {
    /// 1 to 255 characters.
    pub name: String,
    /// 1 to 2,100,000,000.
    pub price: i64,
    /// Initial stock, 1 to 2,100,000,000.
    pub quantity: i64,
    /// One of the seed's ProductCategoryEnum names.
    pub category: String,
    /// An APPROVED company the caller manages (staff: any APPROVED company).
    pub company_id: Uuid,
    /// Up to 5,000 characters.
    pub description: Option<String>,
    /// http(s) URL of the thumbnail.
    pub thumb_img: String,
    /// http(s) URLs of the detail images (at most 20).
    pub detail_imgs: Vec<String>,
}

/// `{productId}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductCreated {
    pub product_id: Uuid,
}

/// A product as shown: the seed's ProductView with live stock and sale price.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductView {
    pub product_id: Uuid,
    pub name: String,
    /// Regular unit price.
    pub price: i64,
    /// Units available to order right now (live, from the engine).
    pub quantity: i64,
    pub category: String,
    pub company_id: Uuid,
    pub description: Option<String>,
    pub detail_imgs: Vec<String>,
    pub thumb_img: Option<String>,
    pub status: String,
    /// ratingSum / reviewCnt, rounded half up to 1 decimal; 0.0 without reviews.
    pub rating: f64,
    pub review_cnt: i64,
    /// The time-sale unit price, only while a sale is IN_PROGRESS.
    pub discount_price: Option<i64>,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub updated_at: String,
}

/// `ratingSum / reviewCnt` rounded half up to one decimal (0.0 without reviews).
pub fn rating(sum: f64, count: i64) -> f64 {
    if count <= 0 {
        return 0.0;
    }
    ((sum / count as f64) * 10.0 + 0.5 + 1e-9).floor() / 10.0
}

/// The view of `p`, with the live state when the engine answered.
pub(crate) fn product_view(p: Product, live: Option<&ItemView>) -> ProductView {
    let (price, quantity, discount_price) = match live {
        Some(v) => (
            v.config.price,
            v.levels.available,
            v.sale
                .as_ref()
                .filter(|s| s.phase == SalePhase::InProgress)
                .map(|s| s.config.sale_price),
        ),
        None => (p.price, p.available, None),
    };
    ProductView {
        product_id: p.id,
        name: p.name,
        price,
        quantity,
        category: p.category,
        company_id: p.company_id,
        description: p.description,
        detail_imgs: p.detail_imgs,
        thumb_img: p.thumb_img,
        status: p.status,
        rating: rating(p.rating_sum, p.review_cnt),
        review_cnt: p.review_cnt,
        discount_price,
        created_at: rfc3339(p.created_at),
        updated_at: rfc3339(p.updated_at),
    }
}

fn check_amount(v: i64, field: &str, min: i64) -> ApiResult<i64> {
    if !(min..=MAX_AMOUNT).contains(&v) {
        return Err(ApiError::bad_request(
            "P003",
            format!("{field} must be {min} to {MAX_AMOUNT}"),
        ));
    }
    Ok(v)
}

fn check_category(c: &str) -> ApiResult<String> {
    let c = c.trim().to_ascii_uppercase();
    if !CATEGORIES.contains(&c.as_str()) {
        return Err(ApiError::bad_request(
            "P003",
            format!("category must be one of {}", CATEGORIES.join(", ")),
        ));
    }
    Ok(c)
}

fn check_status(s: &str) -> ApiResult<String> {
    let s = s.trim().to_ascii_uppercase();
    if !PRODUCT_STATUSES.contains(&s.as_str()) {
        return Err(ApiError::bad_request(
            "P003",
            format!("status must be one of {}", PRODUCT_STATUSES.join(", ")),
        ));
    }
    Ok(s)
}

fn check_description(d: &str) -> ApiResult<String> {
    if d.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(ApiError::bad_request(
            "P003",
            format!("description must be at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    Ok(d.trim().to_string())
}

fn check_thumb(t: &str) -> ApiResult<String> {
    let t = t.trim();
    if !is_url(t) {
        return Err(ApiError::bad_request(
            "P003",
            "thumbImg must be an http(s) URL",
        ));
    }
    Ok(t.to_string())
}

/// The live product, or 404 P002.
pub(crate) async fn find_product(state: &AppState, id: Uuid) -> ApiResult<Product> {
    repo::product(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("P002", "product not found"))
}

/// Staff, or the manager of the product's company; 403 P006 otherwise.
pub(crate) async fn check_owner(state: &AppState, user: &AuthUser, p: &Product) -> ApiResult<()> {
    if user.role.is_staff() {
        return Ok(());
    }
    let manages = repo::company(&state.db, p.company_id)
        .await?
        .is_some_and(|c| c.manager_id == user.user_id.0);
    if manages {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "P006",
            "only the seller of the product's company may change it",
        ))
    }
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
    let name = check_text(&body.name, MAX_NAME_CHARS, "name", "P003")?;
    let price = check_amount(body.price, "price", 1)?;
    let quantity = check_amount(body.quantity, "quantity", 1)?;
    let category = check_category(&body.category)?;
    let description = body
        .description
        .as_deref()
        .map(check_description)
        .transpose()?;
    let thumb_img = check_thumb(&body.thumb_img)?;
    check_urls(&body.detail_imgs, MAX_DETAIL_IMGS, "detailImgs", "P003")?;
    let company = repo::company(&state.db, body.company_id)
        .await?
        .ok_or_else(|| ApiError::not_found("PC017", "company not found"))?;
    if !user.role.is_staff() && company.manager_id != user.user_id.0 {
        return Err(ApiError::forbidden(
            "P006",
            "only the company's manager may add products to it",
        ));
    }
    if company.status != "APPROVED" {
        return Err(ApiError::bad_request(
            "PC016",
            format!("the company is {}, not APPROVED", company.status),
        ));
    }
    let id = ItemId::new();
    state
        .store
        .insert_product(
            &NewProduct {
                id,
                company_id: CompanyId(company.id),
                name,
                price,
                quantity,
                category,
                description,
                thumb_img: Some(thumb_img),
                detail_imgs: body
                    .detail_imgs
                    .iter()
                    .map(|u| u.trim().to_string())
                    .collect(),
                created_by: Some(user.email.clone()),
            },
            state.now_ms(),
        )
        .await?;
    Ok(Reply::created(
        "상품이 등록되었습니다.",
        ProductCreated { product_id: id.0 },
    ))
}

/// A partial update; absent fields are kept.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateProduct {
    pub name: Option<String>,
    /// New regular price (through the engine).
    pub price: Option<i64>,
    /// New total stock, 0 to 2,100,000,000: applied as a stock adjustment in the engine; it
    /// cannot go below the units reserved or sold.
    pub quantity: Option<i64>,
    pub category: Option<String>,
    pub description: Option<String>,
    /// ON_SALE takes orders; any other status refuses them.
    pub status: Option<String>,
    pub thumb_img: Option<String>,
    pub detail_imgs: Option<Vec<String>>,
}

/// Apply price, status and total stock through the engine, then the row. Call with the
/// product's lock held.
async fn apply_engine_changes(
    state: &AppState,
    user: &AuthUser,
    p: &Product,
    price: Option<i64>,
    status: Option<String>,
    quantity: Option<i64>,
) -> ApiResult<()> {
    let item = ItemId(p.id);
    if let Some(total) = quantity {
        let view = state.engine.item_view(item).await?;
        let delta = total - view.levels.total;
        if delta != 0 {
            match state.engine.adjust_stock(item, delta).await? {
                ItemOutcome::Adjusted { .. } => {}
                _ => {
                    return Err(ApiError::bad_request(
                        "P021",
                        format!(
                            "the stock cannot go below the {} units reserved or sold",
                            view.levels.reserved + view.levels.sold
                        ),
                    ));
                }
            }
        }
    }
    if price.is_some() || status.is_some() {
        let view = state.engine.item_view(item).await?;
        let price = price.unwrap_or(view.config.price);
        let status = status.unwrap_or_else(|| p.status.clone());
        state
            .engine
            .configure_item(
                item,
                ItemConfig {
                    price,
                    on_sale: status == "ON_SALE",
                },
            )
            .await?;
        repo::set_product_price_status(
            &state.db,
            p.id,
            price,
            &status,
            &user.email,
            state.now_ms(),
        )
        .await?;
    }
    Ok(())
}

/// The product's view with its live state (reconciling its time sale on the way).
pub(crate) async fn live_product(state: &AppState, id: Uuid) -> ApiResult<ProductView> {
    let p = find_product(state, id).await?;
    let view = super::promotions::reconcile_sale(state, ItemId(id)).await?;
    Ok(product_view(p, Some(&view)))
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
    let id = parse_id(&id, "P003", "product id")?;
    let p = find_product(&state, id).await?;
    check_owner(&state, &user, &p).await?;
    let price = body
        .price
        .map(|v| check_amount(v, "price", 1))
        .transpose()?;
    let quantity = body
        .quantity
        .map(|v| check_amount(v, "quantity", 0))
        .transpose()?;
    let status = body.status.as_deref().map(check_status).transpose()?;
    let patch = ProductPatch {
        name: body
            .name
            .as_deref()
            .map(|n| check_text(n, MAX_NAME_CHARS, "name", "P003"))
            .transpose()?,
        description: body
            .description
            .as_deref()
            .map(check_description)
            .transpose()?,
        category: body.category.as_deref().map(check_category).transpose()?,
        thumb_img: body.thumb_img.as_deref().map(check_thumb).transpose()?,
        detail_imgs: match &body.detail_imgs {
            None => None,
            Some(list) => {
                check_urls(list, MAX_DETAIL_IMGS, "detailImgs", "P003")?;
                Some(list.iter().map(|u| u.trim().to_string()).collect())
            }
        },
    };
    {
        let _guard = product_lock(id).lock().await;
        apply_engine_changes(&state, &user, &p, price, status, quantity).await?;
        if !patch.is_empty() {
            repo::update_product(&state.db, id, &patch, &user.email, state.now_ms()).await?;
            state.lookups.forget_product(ItemId(id));
        }
    }
    Ok(Reply::ok(
        "상품이 수정되었습니다.",
        live_product(&state, id).await?,
    ))
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
    let id = parse_id(&id, "P003", "product id")?;
    let status = check_status(&body.status)?;
    let p = find_product(&state, id).await?;
    {
        let _guard = product_lock(id).lock().await;
        apply_engine_changes(&state, &user, &p, None, Some(status), None).await?;
    }
    Ok(Reply::ok(
        "상품 상태가 변경되었습니다.",
        live_product(&state, id).await?,
    ))
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
    let id = parse_id(&id, "P003", "product id")?;
    let p = find_product(&state, id).await?;
    check_owner(&state, &user, &p).await?;
    let _guard = product_lock(id).lock().await;
    let item = ItemId(id);
    let view = state.engine.item_view(item).await?;
    state
        .engine
        .configure_item(
            item,
            ItemConfig {
                price: view.config.price,
                on_sale: false,
            },
        )
        .await?;
    let deleted = repo::delete_product(&state.db, id, &user.email, state.now_ms()).await?;
    state.lookups.forget_product(ItemId(id));
    if !deleted {
        return Err(ApiError::not_found("P002", "product not found"));
    }
    Ok(Reply::ok(
        "상품이 삭제되었습니다.",
        ProductCreated { product_id: id },
    ))
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
    let id = parse_id(&id, "P003", "product id")?;
    Ok(Reply::ok("상품 조회 성공", live_product(&state, id).await?))
}

/// Sortable properties of the product list.
const PRODUCT_SORTS: &[(&str, &str)] = &[
    ("createdAt", "created_at"),
    ("updatedAt", "updated_at"),
    ("price", "price"),
];

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
    let req = q
        .page("P008")?
        .validate(PRODUCT_SORTS, 10, state.config.page_limits(), "P008")?;
    let search = match q.get("search") {
        Some(s) if s.chars().count() > MAX_SEARCH_CHARS => {
            return Err(ApiError::bad_request(
                "P003",
                format!("search must be at most {MAX_SEARCH_CHARS} characters"),
            ));
        }
        s => s.map(str::to_string),
    };
    let filter = ProductFilter {
        search,
        category: q.get("category").map(check_category).transpose()?,
        status: q.get("status").map(check_status).transpose()?,
        ids: q
            .has("productIds")
            .then(|| q.uuids("productIds", MAX_FILTER_IDS, "P003"))
            .transpose()?,
        company_id: q
            .get("companyId")
            .map(|c| parse_id(c, "P003", "companyId"))
            .transpose()?,
    };
    let (list, total) = repo::list_products(&state.db, &filter, &req.sql_tail("id")).await?;
    let ids: Vec<Uuid> = list.iter().map(|p| p.id).collect();
    let live = super::promotions::live_views(&state, &ids).await;
    let content = list
        .into_iter()
        .map(|p| {
            let v = live.get(&p.id);
            product_view(p, v)
        })
        .collect();
    Ok(Reply::ok(
        "상품 목록 조회 성공",
        Page::new(content, total, &req),
    ))
}

/// Live views keyed by product id (used by the list views).
pub(crate) type LiveViews = HashMap<Uuid, ItemView>;

#[cfg(test)]
mod tests {
    use super::rating;

    #[test]
    fn rating_rounds_half_up_to_one_decimal() {
        assert_eq!(rating(0.0, 0), 0.0);
        assert_eq!(rating(12.5, 3), 4.2);
        assert_eq!(rating(8.5, 2), 4.3);
        assert_eq!(rating(12.5, 4), 3.1);
        assert_eq!(rating(5.0, 1), 5.0);
    }
}
