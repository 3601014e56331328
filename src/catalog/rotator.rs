//! The sale rotator: installs each product's next sale when its current one ends, without
//! waiting for a read of the product (see [`super::sales`]).

use std::collections::HashMap;
use std::time::Duration;

use super::Catalog;
use super::sales::reconcile_sale;
use crate::actors::ticker::CancelOnDrop;
use crate::domain::ids::ItemId;

/// Every `every` (at least 10 ms), reconcile the items whose sale has ended. Each ended sale is
/// looked at once (a product with no next sale keeps its finished one); one that could not be
/// reconciled is tried again at the next tick.
pub fn spawn_sale_rotator(cat: Catalog, every: Duration) -> CancelOnDrop {
    CancelOnDrop(tokio::spawn(async move {
        let mut seen: HashMap<ItemId, i64> = HashMap::new();
        let mut tick = tokio::time::interval(every.max(Duration::from_millis(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            for (item, end) in cat.engine.items_with_ended_sale(cat.now_ms()) {
                if seen.get(&item) == Some(&end) {
                    continue;
                }
                match reconcile_sale(&cat, item).await {
                    Ok(_) => {
                        seen.insert(item, end);
                    }
                    Err(e) => {
                        tracing::warn!(%item, error = %e, "could not install the next sale; retrying")
                    }
                }
            }
        }
    }))
}
