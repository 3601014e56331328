//! Reviews: only a buyer whose order with the product is COMPLETE (paid) may review it, once per
//! order line. Ratings are 1 to 5 in steps of 0.5. The product's `rating_sum` and `review_cnt`
//! change in the same transaction as the review. Deleted reviews are not shown (the seed showed
//! them).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::products::find_product;
use super::{Caller, Catalog, CatalogError, CatalogResult, check_text, check_urls, rfc3339};
use crate::error_code::ErrorCode;
use crate::persistence::catalog::{self as repo, Purchase, Review, ReviewPatch};
use crate::persistence::page::PageRequest;

const MAX_REVIEW_CHARS: usize = 2_000;
const MAX_REVIEW_IMGS: usize = 10;

/// A review to write.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateReview {
    /// A COMPLETE order of the caller that contains the product.
    pub order_id: Uuid,
    pub product_id: Uuid,
    /// 1 to 5 in steps of 0.5.
    pub rating: f64,
    /// 1 to 2,000 characters.
    pub review: String,
    /// http(s) URLs, at most 10.
    #[serde(default)]
    pub review_imgs: Vec<String>,
    /// Ignored: the author is the caller.
    pub user_id: Option<Uuid>,
}

/// `{reviewId}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReviewCreated {
    pub review_id: Uuid,
}

/// A review as shown.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReviewView {
    pub review_id: Uuid,
    pub product_id: Uuid,
    pub user_id: Uuid,
    pub nickname: String,
    pub rating: f64,
    pub review: String,
    pub review_imgs: Vec<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub updated_at: String,
}

impl From<Review> for ReviewView {
    fn from(r: Review) -> Self {
        Self {
            review_id: r.id,
            product_id: r.product_id,
            user_id: r.user_id,
            nickname: r.nickname,
            rating: r.rating,
            review: r.review,
            review_imgs: r.review_imgs,
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

fn check_rating(r: f64) -> CatalogResult<f64> {
    if !(1.0..=5.0).contains(&r) || (r * 2.0).fract() != 0.0 {
        return Err(CatalogError::coded(
            ErrorCode::InvalidCatalogValue,
            "rating must be 1 to 5 in steps of 0.5",
        ));
    }
    Ok(r)
}

fn check_imgs(imgs: &[String]) -> CatalogResult<Vec<String>> {
    check_urls(
        imgs,
        MAX_REVIEW_IMGS,
        "reviewImgs",
        ErrorCode::InvalidCatalogValue,
    )?;
    Ok(imgs.iter().map(|u| u.trim().to_string()).collect())
}

async fn find_review(cat: &Catalog, id: Uuid) -> CatalogResult<Review> {
    repo::review(&cat.db, id)
        .await?
        .ok_or_else(|| ErrorCode::ReviewNotFound.into())
}

/// Review a product bought in a COMPLETE order (any signed-in buyer; once per order line).
pub async fn create_review(
    cat: &Catalog,
    caller: Caller<'_>,
    body: &CreateReview,
) -> CatalogResult<ReviewCreated> {
    let rating = check_rating(body.rating)?;
    let text = check_text(
        &body.review,
        MAX_REVIEW_CHARS,
        "review",
        ErrorCode::InvalidCatalogValue,
    )?;
    let imgs = check_imgs(&body.review_imgs)?;
    find_product(cat, body.product_id).await?;
    // Read-your-writes: the order just paid reaches the database through the write-behind
    // (waiting at most 2 s).
    cat.engine
        .journal()
        .wait_applied(std::time::Duration::from_secs(2))
        .await;
    let line = match repo::purchase(&cat.db, body.order_id, caller.user_id, body.product_id).await?
    {
        Purchase::NoOrder => return Err(ErrorCode::ReviewOrderNotFound.into()),
        Purchase::NotComplete => return Err(ErrorCode::ReviewOrderNotComplete.into()),
        Purchase::NotInOrder => return Err(ErrorCode::ProductNotInOrder.into()),
        Purchase::Line(line) => line,
    };
    let nickname = match repo::nickname(&cat.db, caller.user_id).await? {
        Some(n) => n,
        None => format!("user-{}", &caller.user_id.simple().to_string()[..8]),
    };
    let now = cat.now_ms();
    let review = Review {
        id: Uuid::now_v7(),
        order_id: body.order_id,
        order_product_id: Some(line),
        product_id: body.product_id,
        user_id: caller.user_id,
        nickname,
        rating,
        review: text,
        review_imgs: imgs,
        created_at: now,
        updated_at: now,
    };
    if !repo::insert_review(&cat.db, &review, caller.email).await? {
        return Err(ErrorCode::DuplicateReview.into());
    }
    Ok(ReviewCreated {
        review_id: review.id,
    })
}

/// New content; absent fields are kept.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateReview {
    pub rating: Option<f64>,
    pub review: Option<String>,
    /// Replaces the images when given.
    pub review_imgs: Option<Vec<String>>,
}

/// Edit a review (its author only).
pub async fn update_review(
    cat: &Catalog,
    caller: Caller<'_>,
    id: Uuid,
    body: &UpdateReview,
) -> CatalogResult<ReviewView> {
    let patch = ReviewPatch {
        rating: body.rating.map(check_rating).transpose()?,
        review: body
            .review
            .as_deref()
            .map(|t| {
                check_text(
                    t,
                    MAX_REVIEW_CHARS,
                    "review",
                    ErrorCode::InvalidCatalogValue,
                )
            })
            .transpose()?,
        review_imgs: body.review_imgs.as_deref().map(check_imgs).transpose()?,
    };
    let current = find_review(cat, id).await?;
    if current.user_id != caller.user_id {
        return Err(CatalogError::coded(
            ErrorCode::NotProductOwner,
            "only the author may edit a review",
        ));
    }
    if !repo::update_review(&cat.db, &current, &patch, caller.email, cat.now_ms()).await? {
        find_review(cat, id).await?;
        return Err(ErrorCode::ConcurrentUpdate.into());
    }
    Ok(find_review(cat, id).await?.into())
}

/// Delete a review (its author, or staff).
pub async fn delete_review(
    cat: &Catalog,
    caller: Caller<'_>,
    id: Uuid,
) -> CatalogResult<ReviewCreated> {
    let current = find_review(cat, id).await?;
    if current.user_id != caller.user_id && !caller.staff {
        return Err(CatalogError::coded(
            ErrorCode::NotProductOwner,
            "only the author or staff may delete a review",
        ));
    }
    if !repo::delete_review(&cat.db, &current, caller.email, cat.now_ms()).await? {
        find_review(cat, id).await?;
        return Err(ErrorCode::ConcurrentUpdate.into());
    }
    Ok(ReviewCreated { review_id: id })
}

/// One review.
pub async fn get_review(cat: &Catalog, id: Uuid) -> CatalogResult<ReviewView> {
    Ok(find_review(cat, id).await?.into())
}

/// Sortable properties of the review list.
pub const REVIEW_SORTS: &[(&str, &str)] = &[
    ("createdAt", "created_at"),
    ("updatedAt", "updated_at"),
    ("rating", "rating"),
];

/// A page of reviews (deleted ones left out), and the number of matching rows.
pub async fn list_reviews(
    cat: &Catalog,
    product: Option<Uuid>,
    req: &PageRequest,
) -> CatalogResult<(Vec<ReviewView>, i64)> {
    let (list, total) = repo::list_reviews(&cat.db, product, &req.sql_tail("id")).await?;
    Ok((list.into_iter().map(ReviewView::from).collect(), total))
}
