//! The events the engine journals: each records a decision an actor took, with the time it took
//! it, so that re-running it on the same state during recovery reproduces the same state.

use serde::{Deserialize, Serialize};

use super::Millis;
use super::campaign::{CampaignConfig, CampaignStatus};
use super::ids::{CampaignId, ItemId, OrderId, PromotionId, UserId};
use super::item::{ItemConfig, SaleConfig};
use super::order::{Order, OrderStatus};

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
    /// The coupon's id is [`super::ids::coupon_id_for`] of the campaign and user.
    CouponIssued {
        campaign: CampaignId,
        user: UserId,
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
    /// `unit_price` and `promotion` are what the actor decided (the write-behind needs them;
    /// replay recomputes and checks them).
    ItemReserved {
        item: ItemId,
        order: OrderId,
        user: UserId,
        qty: i64,
        deadline_ms: Millis,
        unit_price: i64,
        promotion: Option<PromotionId>,
        at_ms: Millis,
    },
    ItemConfirmed {
        item: ItemId,
        order: OrderId,
        qty: i64,
        promotion: Option<PromotionId>,
        at_ms: Millis,
    },
    ItemReleased {
        item: ItemId,
        order: OrderId,
        qty: i64,
        promotion: Option<PromotionId>,
        reason: ReleaseReason,
        at_ms: Millis,
    },
    /// A refund journaled before refunds named their order (replaced by [`Event::ItemRefunded`];
    /// still read and replayed from older journals).
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
    /// An order whose lines are reserved (and coupon used) was placed.
    OrderPlaced { order: Box<Order> },
    /// An order moved to another status.
    OrderStatusChanged {
        order: OrderId,
        status: OrderStatus,
        at_ms: Millis,
    },
    /// Refund: `qty` units sold to `order` (by `user`, at the price of `promotion` if any) went
    /// back on sale; to the time sale too when the order bought them from its current
    /// installation.
    ItemRefunded {
        item: ItemId,
        order: OrderId,
        user: UserId,
        qty: i64,
        promotion: Option<PromotionId>,
        at_ms: Millis,
    },
}

/// The entity an event belongs to (its actor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityRef {
    Campaign(CampaignId),
    Item(ItemId),
    Order(OrderId),
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
            | Event::ItemRefunded { item, .. }
            | Event::ItemAdjusted { item, .. } => EntityRef::Item(*item),
            Event::OrderPlaced { order } => EntityRef::Order(order.id),
            Event::OrderStatusChanged { order, .. } => EntityRef::Order(*order),
        }
    }
}

use super::campaign::{CampaignCommand, CampaignLedger, CampaignOutcome};
use super::item::{ItemCommand, ItemLedger, ItemOutcome};

/// Re-run a journaled item decision on `ledger` (recovery), through the same
/// [`ItemLedger::decide`] the actor used. Returns `None` for events of other entities. Replaying
/// on the state the decision was taken on gives a success outcome (and the same event) again.
pub fn apply_to_item(ledger: &mut ItemLedger, event: &Event) -> Option<ItemOutcome> {
    if let Event::ItemRestocked {
        user,
        qty,
        promotion,
        ..
    } = event
    {
        return Some(ledger.restock_unattributed(*user, *qty, *promotion));
    }
    let (item, command, at_ms) = ItemCommand::recorded(event)?;
    Some(ledger.decide(item, command, at_ms).0)
}

/// Re-run a journaled campaign decision on `ledger` (recovery), through the same
/// [`CampaignLedger::decide`] the actor used, except for the two events replayed as recorded.
pub fn apply_to_campaign(ledger: &mut CampaignLedger, event: &Event) -> Option<CampaignOutcome> {
    match event {
        // Applied whatever the status the campaign was loaded with: the change was accepted.
        Event::CampaignConfigured { config, status, .. } => {
            ledger.configure(config.clone());
            ledger.set_status(*status);
            Some(CampaignOutcome::Configured)
        }
        // Journaled only when recover() gave it back: replayed in the same state, it does again.
        Event::CouponRecovered { user, .. } => Some(ledger.replay_recover(*user)),
        _ => {
            let (campaign, command, at_ms) = CampaignCommand::recorded(event)?;
            Some(ledger.decide(campaign, command, at_ms).0)
        }
    }
}

/// Apply a journaled order event to the order book (recovery); `None` for other events.
pub fn apply_to_orders(
    orders: &mut std::collections::HashMap<OrderId, Order>,
    event: &Event,
) -> Option<bool> {
    Some(match event {
        Event::OrderPlaced { order } => orders.insert(order.id, (**order).clone()).is_none(),
        Event::OrderStatusChanged {
            order,
            status,
            at_ms,
        } => match orders.get_mut(order) {
            Some(o) => {
                o.apply(*status, *at_ms);
                true
            }
            None => false,
        },
        _ => return None,
    })
}
