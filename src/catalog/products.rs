//! Products. The row keeps the descriptive fields; the item actor owns the stock, the price, the
//! on-sale flag and the current time sale. A product view shows the live available stock as
//! `quantity` and the sale price as `discountPrice` while a sale runs.
//!
//! Edits: name, description, category and images go to the database; price and status go to the
//! engine first and then to the row; a new `quantity` (the total stock) becomes a stock
//! adjustment in the engine (`new - current total`), never an SQL write.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    Caller, Catalog, CatalogError, CatalogResult, check_text, check_urls, is_url, product_lock,
    rfc3339,
};
use crate::actors::item::ItemView;
use crate::domain::ids::{CompanyId, ItemId};
use crate::domain::item::{ItemConfig, ItemOutcome, SalePhase};
use crate::error_code::ErrorCode;
use crate::persistence::catalog::{self as repo, Product, ProductFilter, ProductPatch};
use crate::persistence::page::PageRequest;
use crate::persistence::repo::NewProduct;

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

pub fn check_amount(v: i64, field: &str, min: i64) -> CatalogResult<i64> {
    if !(min..=MAX_AMOUNT).contains(&v) {
        return Err(CatalogError::coded(
            ErrorCode::InvalidCatalogValue,
            format!("{field} must be {min} to {MAX_AMOUNT}"),
        ));
    }
    Ok(v)
}

pub fn check_category(c: &str) -> CatalogResult<String> {
    let c = c.trim().to_ascii_uppercase();
    if !CATEGORIES.contains(&c.as_str()) {
        return Err(CatalogError::coded(
            ErrorCode::InvalidCatalogValue,
            format!("category must be one of {}", CATEGORIES.join(", ")),
        ));
    }
    Ok(c)
}

pub fn check_status(s: &str) -> CatalogResult<String> {
    let s = s.trim().to_ascii_uppercase();
    if !PRODUCT_STATUSES.contains(&s.as_str()) {
        return Err(CatalogError::coded(
            ErrorCode::InvalidCatalogValue,
            format!("status must be one of {}", PRODUCT_STATUSES.join(", ")),
        ));
    }
    Ok(s)
}

pub fn check_description(d: &str) -> CatalogResult<String> {
    if d.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(CatalogError::coded(
            ErrorCode::InvalidCatalogValue,
            format!("description must be at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    Ok(d.trim().to_string())
}

pub fn check_thumb(t: &str) -> CatalogResult<String> {
    let t = t.trim();
    if !is_url(t) {
        return Err(CatalogError::coded(
            ErrorCode::InvalidCatalogValue,
            "thumbImg must be an http(s) URL",
        ));
    }
    Ok(t.to_string())
}

/// The live product, or 404 P002.
pub(crate) async fn find_product(cat: &Catalog, id: Uuid) -> CatalogResult<Product> {
    repo::product(&cat.db, id)
        .await?
        .ok_or_else(|| ErrorCode::ProductNotFound.into())
}

/// Staff, or the manager of the product's company; 403 P006 otherwise.
pub(crate) async fn check_owner(
    cat: &Catalog,
    caller: Caller<'_>,
    p: &Product,
) -> CatalogResult<()> {
    if caller.staff {
        return Ok(());
    }
    let manages = repo::company(&cat.db, p.company_id)
        .await?
        .is_some_and(|c| c.manager_id == caller.user_id);
    if manages {
        Ok(())
    } else {
        Err(ErrorCode::NotProductOwner.into())
    }
}

/// Create a product (SELLER for a company they manage; MASTER, MANAGER for any). The company
/// must be APPROVED. The product starts ON_SALE with all its stock available.
pub async fn create_product(
    cat: &Catalog,
    caller: Caller<'_>,
    body: &CreateProduct,
) -> CatalogResult<ProductCreated> {
    let name = check_text(
        &body.name,
        MAX_NAME_CHARS,
        "name",
        ErrorCode::InvalidCatalogValue,
    )?;
    let price = check_amount(body.price, "price", 1)?;
    let quantity = check_amount(body.quantity, "quantity", 1)?;
    let category = check_category(&body.category)?;
    let description = body
        .description
        .as_deref()
        .map(check_description)
        .transpose()?;
    let thumb_img = check_thumb(&body.thumb_img)?;
    check_urls(
        &body.detail_imgs,
        MAX_DETAIL_IMGS,
        "detailImgs",
        ErrorCode::InvalidCatalogValue,
    )?;
    let company = repo::company(&cat.db, body.company_id)
        .await?
        .ok_or(CatalogError::from(ErrorCode::ProductCompanyNotFound))?;
    if !caller.staff && company.manager_id != caller.user_id {
        return Err(CatalogError::coded(
            ErrorCode::NotProductOwner,
            "only the company's manager may add products to it",
        ));
    }
    if company.status != "APPROVED" {
        return Err(CatalogError::coded(
            ErrorCode::CompanyNotApproved,
            format!("the company is {}, not APPROVED", company.status),
        ));
    }
    let id = ItemId::new();
    cat.store
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
                created_by: Some(caller.email.to_string()),
            },
            cat.now_ms(),
        )
        .await?;
    Ok(ProductCreated { product_id: id.0 })
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
    cat: &Catalog,
    caller: Caller<'_>,
    p: &Product,
    price: Option<i64>,
    status: Option<String>,
    quantity: Option<i64>,
) -> CatalogResult<()> {
    let item = ItemId(p.id);
    if let Some(total) = quantity {
        let view = cat.engine.item_view(item).await?;
        let delta = total - view.levels.total;
        if delta != 0 {
            match cat.engine.adjust_stock(item, delta).await? {
                ItemOutcome::Adjusted { .. } => {}
                _ => {
                    return Err(CatalogError::coded(
                        ErrorCode::StockBelowCommitted,
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
        let view = cat.engine.item_view(item).await?;
        let price = price.unwrap_or(view.config.price);
        let status = status.unwrap_or_else(|| p.status.clone());
        cat.engine
            .configure_item(
                item,
                ItemConfig {
                    price,
                    on_sale: status == "ON_SALE",
                },
            )
            .await?;
        repo::set_product_price_status(&cat.db, p.id, price, &status, caller.email, cat.now_ms())
            .await?;
    }
    Ok(())
}

/// The product's view with its live state (reconciling its time sale on the way).
pub async fn get_product(cat: &Catalog, id: Uuid) -> CatalogResult<ProductView> {
    let p = find_product(cat, id).await?;
    let view = super::sales::reconcile_sale(cat, ItemId(id)).await?;
    Ok(product_view(p, Some(&view)))
}

/// Update a product (the seller of its company, or staff). The caller forgets its cached copy
/// of the row afterwards (its descriptive fields may have changed).
pub async fn update_product(
    cat: &Catalog,
    caller: Caller<'_>,
    id: Uuid,
    body: &UpdateProduct,
) -> CatalogResult<ProductView> {
    let p = find_product(cat, id).await?;
    check_owner(cat, caller, &p).await?;
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
            .map(|n| check_text(n, MAX_NAME_CHARS, "name", ErrorCode::InvalidCatalogValue))
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
                check_urls(
                    list,
                    MAX_DETAIL_IMGS,
                    "detailImgs",
                    ErrorCode::InvalidCatalogValue,
                )?;
                Some(list.iter().map(|u| u.trim().to_string()).collect())
            }
        },
    };
    {
        let _guard = product_lock(id).lock().await;
        apply_engine_changes(cat, caller, &p, price, status, quantity).await?;
        if !patch.is_empty() {
            repo::update_product(&cat.db, id, &patch, caller.email, cat.now_ms()).await?;
        }
    }
    get_product(cat, id).await
}

/// Set a product's status (MASTER).
pub async fn set_product_status(
    cat: &Catalog,
    caller: Caller<'_>,
    id: Uuid,
    status: &str,
) -> CatalogResult<ProductView> {
    let status = check_status(status)?;
    let p = find_product(cat, id).await?;
    {
        let _guard = product_lock(id).lock().await;
        apply_engine_changes(cat, caller, &p, None, Some(status), None).await?;
    }
    get_product(cat, id).await
}

/// Delete a product (the seller of its company, or staff): a soft delete; the item stops taking
/// orders. The caller forgets its cached copy of the row afterwards, whatever the answer.
pub async fn delete_product(
    cat: &Catalog,
    caller: Caller<'_>,
    id: Uuid,
) -> CatalogResult<ProductCreated> {
    let p = find_product(cat, id).await?;
    check_owner(cat, caller, &p).await?;
    let _guard = product_lock(id).lock().await;
    let item = ItemId(id);
    let view = cat.engine.item_view(item).await?;
    cat.engine
        .configure_item(
            item,
            ItemConfig {
                price: view.config.price,
                on_sale: false,
            },
        )
        .await?;
    if !repo::delete_product(&cat.db, id, caller.email, cat.now_ms()).await? {
        return Err(ErrorCode::ProductNotFound.into());
    }
    Ok(ProductCreated { product_id: id })
}

/// Sortable properties of the product list.
pub const PRODUCT_SORTS: &[(&str, &str)] = &[
    ("createdAt", "created_at"),
    ("updatedAt", "updated_at"),
    ("price", "price"),
];

/// The `search` filter of the product list: at most 100 characters.
pub fn check_search(search: Option<&str>) -> CatalogResult<Option<String>> {
    match search {
        Some(s) if s.chars().count() > MAX_SEARCH_CHARS => Err(CatalogError::coded(
            ErrorCode::InvalidCatalogValue,
            format!("search must be at most {MAX_SEARCH_CHARS} characters"),
        )),
        s => Ok(s.map(str::to_string)),
    }
}

/// A page of products with their live state, and the number of matching rows.
pub async fn list_products(
    cat: &Catalog,
    filter: &ProductFilter,
    req: &PageRequest,
) -> CatalogResult<(Vec<ProductView>, i64)> {
    let (list, total) = repo::list_products(&cat.db, filter, &req.sql_tail("id")).await?;
    let ids: Vec<Uuid> = list.iter().map(|p| p.id).collect();
    let live = super::sales::live_views(cat, &ids).await;
    let content = list
        .into_iter()
        .map(|p| {
            let v = live.get(&p.id);
            product_view(p, v)
        })
        .collect();
    Ok((content, total))
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
