//! The events the engine journals: each records a decision an actor took, with the time it took
//! it, so that re-running it on the same state during recovery reproduces the same state.

use serde::{Deserialize, Serialize};

use super::Millis;
use super::campaign::{CampaignConfig, CampaignStatus};
use super::ids::{CampaignId, CouponId, ItemId, OrderId, PromotionId, UserId};
use super::item::{ItemConfig, SaleConfig};

/// Why reserved units went back on sale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReleaseReason {
    /// The shopper cancelled, or a later line of the same order failed.
    Cancelled,
    /// The payment failed or was abandoned.
    PaymentFailed,
    /// The reservation's deadline passed.
    Expired,
}

/// One journaled decision. New variants are only ever added at the end (bincode encodes the
/// variant index), so old journals stay readable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Event {
    CampaignConfigured {
        campaign: CampaignId,
        config: CampaignConfig,
        status: CampaignStatus,
        at_ms: Millis,
    },
    CampaignStatusSet {
        campaign: CampaignId,
        status: CampaignStatus,
        at_ms: Millis,
    },
    CouponIssued {
        campaign: CampaignId,
        user: UserId,
        coupon: CouponId,
        at_ms: Millis,
    },
    CouponUsed {
        campaign: CampaignId,
        user: UserId,
        order: OrderId,
        eligible_amount: i64,
        at_ms: Millis,
    },
    CouponRecovered {
        campaign: CampaignId,
        user: UserId,
        at_ms: Millis,
    },
    ItemConfigured {
        item: ItemId,
        config: ItemConfig,
        at_ms: Millis,
    },
    ItemSaleSet {
        item: ItemId,
        sale: Option<SaleConfig>,
        at_ms: Millis,
    },
    ItemReserved {
        item: ItemId,
        order: OrderId,
        user: UserId,
        qty: i64,
        deadline_ms: Millis,
        at_ms: Millis,
    },
    ItemConfirmed {
        item: ItemId,
        order: OrderId,
        at_ms: Millis,
    },
    ItemReleased {
        item: ItemId,
        order: OrderId,
        reason: ReleaseReason,
        at_ms: Millis,
    },
    ItemRestocked {
        item: ItemId,
        user: UserId,
        qty: i64,
        promotion: Option<PromotionId>,
        at_ms: Millis,
    },
    ItemAdjusted {
        item: ItemId,
        delta: i64,
        at_ms: Millis,
    },
}

/// The entity an event belongs to (its actor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityRef {
    Campaign(CampaignId),
    Item(ItemId),
}

impl Event {
    pub fn entity(&self) -> EntityRef {
        match self {
            Event::CampaignConfigured { campaign, .. }
            | Event::CampaignStatusSet { campaign, .. }
            | Event::CouponIssued { campaign, .. }
            | Event::CouponUsed { campaign, .. }
            | Event::CouponRecovered { campaign, .. } => EntityRef::Campaign(*campaign),
            Event::ItemConfigured { item, .. }
            | Event::ItemSaleSet { item, .. }
            | Event::ItemReserved { item, .. }
            | Event::ItemConfirmed { item, .. }
            | Event::ItemReleased { item, .. }
            | Event::ItemRestocked { item, .. }
            | Event::ItemAdjusted { item, .. } => EntityRef::Item(*item),
        }
    }
}
