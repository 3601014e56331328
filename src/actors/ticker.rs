//! The expiry ticker: every `tick_interval_ms` it passes the current time to the items whose
//! earliest reservation deadline has come, which release what expired. One tick for all items,
//! never a timer per reservation.

use std::time::Duration;

use tokio::task::JoinHandle;

use crate::engine::EngineHandle;

/// Run ticks until the returned handle is dropped or aborted.
pub fn spawn(engine: EngineHandle, interval: Duration) -> CancelOnDrop {
    let handle: JoinHandle<()> = tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(1)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            ticker.tick().await;
            let now = engine.now_ms();
            let released = engine.tick(now).await;
            if released > 0 {
                tracing::debug!(released, "reservations expired");
                metrics::counter!("hotdeal_reservations_expired_total").increment(released as u64);
            }
        }
    });
    CancelOnDrop(handle)
}

/// A background task that is aborted when this is dropped.
pub struct CancelOnDrop(pub JoinHandle<()>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
