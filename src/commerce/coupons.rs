//! Coupon campaigns and first-come-first-served coupons. Issuing is decided by the campaign
//! actor: no lock and no database read on the path. A campaign's counters, status and terms are
//! the actor's; its name and type are rows of their own.

use uuid::Uuid;

use super::{Caller, Commerce, CommerceError, CommerceResult};
use crate::actors::campaign::LiveCampaign;
use crate::domain::campaign::{CampaignConfig, CampaignOutcome, CampaignStatus};
use crate::domain::ids::{CampaignId, CompanyId, CouponId, UserId};
use crate::error_code::ErrorCode;
use crate::persistence::coupons::{self as coupon_store, CampaignFilter, CampaignRow, UserCoupon};
use crate::persistence::repo::{NewCampaign, date_end_ms};

/// Most coupons of one campaign.
pub const MAX_CAMPAIGN_QUANTITY: i64 = 100_000_000;

/// A campaign to create or the whole of a campaign to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignInput {
    pub name: String,
    pub quantity: i64,
    pub coupon_type: String,
    pub discount_amount: i64,
    pub min_order_amount: i64,
    /// `YYYY-MM-DD`; usable through the end of that day (UTC).
    pub expiration_date: String,
    pub company_id: Option<Uuid>,
    pub issue_start_at: Option<i64>,
    pub issue_end_at: Option<i64>,
}

/// A campaign: its own row and its live state in the actor.
#[derive(Debug, Clone)]
pub struct Campaign {
    pub row: CampaignRow,
    pub live: LiveCampaign,
}

/// A campaign body that passed validation.
struct Validated {
    name: String,
    coupon_type: String,
    expires_at_ms: i64,
}

fn invalid(message: impl Into<std::borrow::Cow<'static, str>>) -> CommerceError {
    CommerceError::coded(ErrorCode::InvalidCampaign, message)
}

/// The checks shared by create and update (codes as the seed's: CO014, CO015, CO018).
async fn validate(c: &Commerce, body: &CampaignInput) -> CommerceResult<Validated> {
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 255 {
        return Err(invalid("name must be 1 to 255 characters"));
    }
    if !(1..=MAX_CAMPAIGN_QUANTITY).contains(&body.quantity) {
        return Err(invalid(format!(
            "quantity must be 1 to {MAX_CAMPAIGN_QUANTITY}"
        )));
    }
    if body.discount_amount < 1 || body.discount_amount > 2_100_000_000 {
        return Err(invalid("discountAmount must be positive"));
    }
    if body.min_order_amount < 0 || body.min_order_amount > 2_100_000_000 {
        return Err(invalid("minOrderAmount must not be negative"));
    }
    let coupon_type = body.coupon_type.trim().to_ascii_uppercase();
    if coupon_type != "FIRST_COME_FIRST_SERVE" && coupon_type != "DAILY_COUPON" {
        return Err(invalid(
            "couponType must be FIRST_COME_FIRST_SERVE or DAILY_COUPON",
        ));
    }
    let expires_at_ms = date_end_ms(&body.expiration_date)
        .map_err(|_| invalid("expirationDate must be YYYY-MM-DD"))?;
    if expires_at_ms <= c.now_ms() {
        return Err(invalid("expirationDate is in the past"));
    }
    if let (Some(s), Some(e)) = (body.issue_start_at, body.issue_end_at)
        && s >= e
    {
        return Err(invalid("issueStartAt must be before issueEndAt"));
    }
    if let Some(company) = body.company_id {
        match coupon_store::company_status(&c.db, company).await? {
            None => return Err(ErrorCode::CampaignCompanyNotFound.into()),
            Some(status) if status != "APPROVED" => {
                return Err(ErrorCode::CampaignCompanyNotApproved.into());
            }
            Some(_) => {}
        }
    }
    Ok(Validated {
        name: name.to_string(),
        coupon_type,
        expires_at_ms,
    })
}

/// A campaign id as given in a path.
pub fn parse_campaign_id(id: &str) -> CommerceResult<CampaignId> {
    id.parse()
        .map_err(|_| invalid("invalid coupon campaign id"))
}

fn parse_coupon_id(id: &str) -> CommerceResult<Uuid> {
    id.parse().map_err(|_| invalid("invalid coupon id"))
}

/// Create a campaign (PENDING).
pub async fn create_campaign(
    c: &Commerce,
    caller: &Caller,
    body: &CampaignInput,
) -> CommerceResult<CampaignId> {
    let Validated {
        name, coupon_type, ..
    } = validate(c, body).await?;
    let id = CampaignId::new();
    c.store
        .insert_campaign(
            &NewCampaign {
                id,
                name,
                quantity: body.quantity,
                discount_amount: body.discount_amount,
                min_order_amount: body.min_order_amount,
                expiration_date: body.expiration_date.trim().to_string(),
                coupon_type,
                company_id: body.company_id.map(CompanyId),
                issue_start_ms: body.issue_start_at,
                issue_end_ms: body.issue_end_at,
                created_by: Some(caller.email.clone()),
            },
            c.now_ms(),
        )
        .await?;
    Ok(id)
}

/// One campaign (a PENDING one only for staff).
pub async fn campaign(c: &Commerce, caller: &Caller, id: &str) -> CommerceResult<Campaign> {
    let id = parse_campaign_id(id)?;
    let row = coupon_store::campaign(&c.db, id)
        .await?
        .ok_or(CommerceError::from(ErrorCode::CampaignNotFound))?;
    let (live, _) = c.engine.campaign_view(id, None).await?;
    if live.status == CampaignStatus::Pending && !caller.staff {
        // Not published yet: only staff may know it exists.
        return Err(ErrorCode::CampaignNotFound.into());
    }
    Ok(Campaign { row, live })
}

/// Set a campaign's status (`status` as given).
pub async fn set_status(c: &Commerce, id: &str, status: &str) -> CommerceResult<()> {
    let id = parse_campaign_id(id)?;
    let status = CampaignStatus::parse(status)
        .ok_or_else(|| invalid("status must be PENDING, ISSUED or OUT_OF_STOCK"))?;
    let (current, _) = c.engine.campaign_view(id, None).await?;
    if current.status == status {
        return Err(ErrorCode::CampaignStatusUnchanged.into());
    }
    c.engine.set_campaign_status(id, status).await?;
    Ok(())
}

fn outcome_label(o: CampaignOutcome) -> &'static str {
    match o {
        CampaignOutcome::Issued { .. } => "issued",
        CampaignOutcome::SoldOut => "sold_out",
        CampaignOutcome::AlreadyIssued => "already_issued",
        CampaignOutcome::NotOpen | CampaignOutcome::NotStarted | CampaignOutcome::Ended => {
            "not_open"
        }
        _ => "other",
    }
}

/// Issue one coupon of `campaign` to `user`, first come first served.
pub async fn issue(c: &Commerce, campaign: CampaignId, user: UserId) -> CommerceResult<CouponId> {
    let result = c.engine.issue_coupon(campaign, user).await?;
    metrics::counter!("hotdeal_claims_total", "outcome" => outcome_label(result.outcome))
        .increment(1);
    match (result.outcome, result.coupon_id) {
        (CampaignOutcome::Issued { .. }, Some(coupon)) => Ok(coupon),
        (outcome, _) => Err(CommerceError::Issue(outcome)),
    }
}

/// `owner`'s coupons, newest first (at most 1,000), after the write-behind caught up.
pub async fn coupons_of(
    c: &Commerce,
    owner: UserId,
    used: Option<bool>,
) -> CommerceResult<Vec<UserCoupon>> {
    c.wait_for_writebehind().await;
    Ok(coupon_store::user_coupons(&c.db, owner, used).await?)
}

/// One coupon of the caller's (staff: anyone's).
pub async fn coupon(c: &Commerce, caller: &Caller, id: &str) -> CommerceResult<UserCoupon> {
    let id = parse_coupon_id(id)?;
    c.wait_for_writebehind().await;
    let coupon = coupon_store::user_coupon(&c.db, id)
        .await?
        .ok_or(CommerceError::from(ErrorCode::CouponNotFound))?;
    if UserId(coupon.user_id) != caller.user && !caller.staff {
        // Not the owner: answer as if it did not exist.
        return Err(ErrorCode::CouponNotFound.into());
    }
    Ok(coupon)
}

/// Change a PENDING campaign (the body is the whole campaign).
pub async fn update_campaign(
    c: &Commerce,
    caller: &Caller,
    id: &str,
    body: &CampaignInput,
) -> CommerceResult<()> {
    let id = parse_campaign_id(id)?;
    if coupon_store::campaign(&c.db, id).await?.is_none() {
        return Err(ErrorCode::CampaignNotFound.into());
    }
    let v = validate(c, body).await?;
    // Engine-owned fields go through the campaign actor (its write-behind persists them); the
    // actor checks PENDING and applies the change in one step, so an opening cannot slip in
    // between.
    let configured = c
        .engine
        .configure_pending_campaign(
            id,
            CampaignConfig {
                quantity: body.quantity,
                discount_amount: body.discount_amount,
                min_order_amount: body.min_order_amount,
                expires_at_ms: v.expires_at_ms,
                company_id: body.company_id.map(CompanyId),
                issue_start_ms: body.issue_start_at,
                issue_end_ms: body.issue_end_at,
            },
        )
        .await?;
    if configured.is_err() {
        return Err(CommerceError::coded(
            ErrorCode::CampaignNotOpen,
            "a campaign can only be changed while PENDING",
        ));
    }
    coupon_store::update_campaign_fields(
        &c.db,
        id,
        &v.name,
        &v.coupon_type,
        &caller.email,
        c.now_ms(),
    )
    .await?;
    Ok(())
}

/// One page of campaigns (`tail`: ORDER BY and LIMIT) with the total count; shoppers and sellers
/// see only open (ISSUED) ones. `status` as given (blank: any).
pub async fn campaigns(
    c: &Commerce,
    caller: &Caller,
    search: Option<String>,
    status: Option<&str>,
    tail: &str,
) -> CommerceResult<(Vec<Campaign>, i64)> {
    let mut filter = CampaignFilter {
        search,
        statuses: Vec::new(),
    };
    if let Some(s) = status.filter(|s| !s.trim().is_empty()) {
        filter.statuses.push(
            CampaignStatus::parse(s)
                .ok_or_else(|| invalid("couponStatus must be PENDING, ISSUED or OUT_OF_STOCK"))?,
        );
    }
    if !caller.staff {
        filter.statuses.push(CampaignStatus::Issued);
    }
    // The status column is kept by the write-behind: let it catch up first.
    c.wait_for_writebehind().await;
    let (rows, total) = coupon_store::list_campaigns(&c.db, &filter, tail).await?;
    let mut content = Vec::with_capacity(rows.len());
    for row in rows {
        let (live, _) = c.engine.campaign_view(row.id, None).await?;
        if live.status == CampaignStatus::Pending && !caller.staff {
            // The status column lagged a change back to PENDING: still not shown to shoppers.
            continue;
        }
        content.push(Campaign { row, live });
    }
    Ok((content, total))
}

/// Delete a user's coupon (soft delete; still counted as issued).
pub async fn delete_coupon(c: &Commerce, caller: &Caller, id: &str) -> CommerceResult<()> {
    let id = parse_coupon_id(id)?;
    // The coupon row is written behind: make sure it is there.
    c.wait_for_writebehind().await;
    if !coupon_store::delete_coupon(&c.db, id, &caller.email, c.now_ms()).await? {
        return Err(ErrorCode::CouponNotFound.into());
    }
    Ok(())
}
