//! Live stock for the pages: `GET /api/v1/live?productIds=..&couponInfoIds=..` is a server-sent
//! event stream of the engine's own state (an item's available units and its time sale's phase
//! and remaining units; a campaign's issued count and whether it still issues).
//!
//! One [`LiveHub`] per router reads each watched item or campaign once per `live_interval_ms`,
//! however many shoppers watch it, and publishes one snapshot on a `watch` channel; each stream
//! sends its own ids only when they changed. An item costs one actor ask per interval (a busy
//! mailbox keeps the previous value); a campaign is read from its published counters, without
//! a message hop. The reader runs only while someone watches.
//!
//! Bounds: at most `live_max_streams` streams at once (more get 503 with `Retry-After`), at most
//! [`MAX_LIVE_IDS`] ids of each kind per stream, and each stream ends after `live_stream_max_s`
//! (the browser's `EventSource` reconnects by itself), so the hub's memory is bounded by the
//! open streams and a graceful shutdown never waits on a stream for longer than that.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::actors::campaign::CampaignShared;
use crate::actors::item::ItemView;
use crate::domain::Millis;
use crate::domain::campaign::CampaignOutcome;
use crate::domain::ids::{CampaignId, ItemId};
use crate::engine::EngineError;
use crate::error_code::ErrorCode;
use crate::http::AppState;
use crate::http::catalog::ListQuery;
use crate::http::error::ApiError;

/// Most ids of each kind (products, campaigns) one stream may watch.
pub const MAX_LIVE_IDS: usize = 50;

/// How long the browser waits before reconnecting a stream that ended.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// A product's live state.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ItemLive {
    pub product_id: Uuid,
    /// Regular unit price.
    pub price: i64,
    /// Whether the product takes orders (status ON_SALE).
    pub on_sale: bool,
    /// Units available to order right now.
    pub available: i64,
    /// The product's installed time sale, if any.
    pub sale: Option<SaleLive>,
}

/// A time sale's live state.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SaleLive {
    pub promotion_id: Uuid,
    /// PENDING, IN_PROGRESS or COMPLETED at the server's clock.
    pub phase: String,
    /// Start and end (exclusive), epoch milliseconds.
    pub start_ms: Millis,
    pub end_ms: Millis,
    pub sale_price: i64,
    pub quantity: i64,
    /// Units of the sale left to sell.
    pub remaining: i64,
    /// Units held by orders awaiting payment.
    pub reserved: i64,
    /// Units paid for.
    pub sold: i64,
    pub per_user_limit: Option<i64>,
}

/// A coupon campaign's live state.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CampaignLive {
    pub coupon_info_id: Uuid,
    pub quantity: i64,
    pub issued_count: i64,
    pub remaining: i64,
    /// OPEN, SOLD_OUT, NOT_OPEN, NOT_STARTED or ENDED.
    pub state: String,
}

/// The data of one `stock` event: the stream's ids whose state is known.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LiveUpdate {
    pub items: Vec<ItemLive>,
    pub campaigns: Vec<CampaignLive>,
}

fn item_live(v: &ItemView) -> ItemLive {
    ItemLive {
        product_id: v.id.0,
        price: v.config.price,
        on_sale: v.config.on_sale,
        available: v.levels.available,
        sale: v.sale.as_ref().map(|s| SaleLive {
            promotion_id: s.config.promotion_id.0,
            phase: s.phase.as_str().to_string(),
            start_ms: s.config.start_ms,
            end_ms: s.config.end_ms,
            sale_price: s.config.sale_price,
            quantity: s.config.quantity,
            remaining: s.remaining,
            reserved: s.reserved,
            sold: s.sold,
            per_user_limit: s.config.per_user_limit,
        }),
    }
}

fn campaign_live(id: Uuid, shared: &CampaignShared, now_ms: Millis) -> CampaignLive {
    let quantity = shared.quantity();
    let issued = shared.issued();
    let state = match shared.fast_reject(now_ms) {
        Some(CampaignOutcome::NotOpen) => "NOT_OPEN",
        Some(CampaignOutcome::NotStarted) => "NOT_STARTED",
        Some(CampaignOutcome::Ended) => "ENDED",
        Some(CampaignOutcome::SoldOut) => "SOLD_OUT",
        _ if issued >= quantity => "SOLD_OUT",
        _ => "OPEN",
    };
    CampaignLive {
        coupon_info_id: id,
        quantity,
        issued_count: issued,
        remaining: (quantity - issued).max(0),
        state: state.to_string(),
    }
}

/// What the reader last saw of every watched id.
#[derive(Debug, Default)]
struct Snapshot {
    items: HashMap<Uuid, ItemLive>,
    campaigns: HashMap<Uuid, CampaignLive>,
}

/// Who watches what: a count of streams per id.
#[derive(Debug, Default)]
struct Interests {
    items: HashMap<Uuid, usize>,
    campaigns: HashMap<Uuid, usize>,
    reader_running: bool,
}

/// The shared reader of live state and the bound on open streams (one per router).
pub struct LiveHub {
    interests: Mutex<Interests>,
    snapshot: watch::Sender<Arc<Snapshot>>,
    streams: OnceLock<Arc<Semaphore>>,
}

impl Default for LiveHub {
    fn default() -> Self {
        Self {
            interests: Mutex::default(),
            snapshot: watch::Sender::new(Arc::default()),
            streams: OnceLock::new(),
        }
    }
}

/// A stream's registration; dropping it stops watching its ids.
struct Interest {
    hub: Arc<LiveHub>,
    items: Vec<Uuid>,
    campaigns: Vec<Uuid>,
}

impl Drop for Interest {
    fn drop(&mut self) {
        let mut g = self.hub.interests.lock().expect("interests lock");
        let release = |map: &mut HashMap<Uuid, usize>, ids: &[Uuid]| {
            for id in ids {
                if let Some(n) = map.get_mut(id) {
                    *n -= 1;
                    if *n == 0 {
                        map.remove(id);
                    }
                }
            }
        };
        release(&mut g.items, &self.items);
        release(&mut g.campaigns, &self.campaigns);
    }
}

impl LiveHub {
    /// How many streams are open now.
    pub fn open_streams(&self, config: &crate::config::Config) -> usize {
        config.live_max_streams - self.semaphore(config).available_permits()
    }

    fn semaphore(&self, config: &crate::config::Config) -> &Arc<Semaphore> {
        self.streams
            .get_or_init(|| Arc::new(Semaphore::new(config.live_max_streams)))
    }

    /// Watch `items` and `campaigns`, starting the reader if it is idle.
    fn watch(
        self: &Arc<Self>,
        state: &AppState,
        items: Vec<Uuid>,
        campaigns: Vec<Uuid>,
    ) -> Interest {
        let mut g = self.interests.lock().expect("interests lock");
        for id in &items {
            *g.items.entry(*id).or_default() += 1;
        }
        for id in &campaigns {
            *g.campaigns.entry(*id).or_default() += 1;
        }
        if !g.reader_running {
            g.reader_running = true;
            let every = Duration::from_millis(state.config.live_interval_ms.max(10));
            tokio::spawn(read_loop(self.clone(), state.clone(), every));
        }
        Interest {
            hub: self.clone(),
            items,
            campaigns,
        }
    }
}

/// Read every watched id each interval and publish the snapshot; stop when nobody watches.
async fn read_loop(hub: Arc<LiveHub>, state: AppState, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let (items, campaigns): (Vec<Uuid>, Vec<Uuid>) = {
            let mut g = hub.interests.lock().expect("interests lock");
            if g.items.is_empty() && g.campaigns.is_empty() {
                g.reader_running = false;
                return;
            }
            (
                g.items.keys().copied().collect(),
                g.campaigns.keys().copied().collect(),
            )
        };
        let previous = hub.snapshot.borrow().clone();
        let views =
            futures::future::join_all(items.iter().map(|id| state.engine.item_view(ItemId(*id))))
                .await;
        let mut next = Snapshot::default();
        for (id, view) in items.iter().zip(views) {
            match view {
                Ok(v) => {
                    next.items.insert(*id, item_live(&v));
                }
                // Busy or briefly unavailable: keep what was last seen.
                Err(_) => {
                    if let Some(old) = previous.items.get(id) {
                        next.items.insert(*id, old.clone());
                    }
                }
            }
        }
        let now = state.now_ms();
        for id in &campaigns {
            match state.engine.campaign(CampaignId(*id)).await {
                Ok(entry) => {
                    next.campaigns
                        .insert(*id, campaign_live(*id, &entry.shared, now));
                }
                Err(_) => {
                    if let Some(old) = previous.campaigns.get(id) {
                        next.campaigns.insert(*id, old.clone());
                    }
                }
            }
        }
        hub.snapshot.send_replace(Arc::new(next));
    }
}

/// One open stream.
struct Subscriber {
    rx: watch::Receiver<Arc<Snapshot>>,
    /// The last state of each id, in the order asked.
    items: Vec<(Uuid, Option<ItemLive>)>,
    campaigns: Vec<(Uuid, Option<CampaignLive>)>,
    last_sent: Option<String>,
    deadline: tokio::time::Instant,
    _interest: Interest,
    _permit: OwnedSemaphorePermit,
}

impl Subscriber {
    /// Take the snapshot's values for this stream's ids; the JSON to send if anything changed.
    fn update(&mut self, snap: &Snapshot) -> Option<String> {
        for (id, slot) in &mut self.items {
            if let Some(v) = snap.items.get(id) {
                *slot = Some(v.clone());
            }
        }
        for (id, slot) in &mut self.campaigns {
            if let Some(v) = snap.campaigns.get(id) {
                *slot = Some(v.clone());
            }
        }
        let update = LiveUpdate {
            items: self.items.iter().filter_map(|(_, v)| v.clone()).collect(),
            campaigns: self
                .campaigns
                .iter()
                .filter_map(|(_, v)| v.clone())
                .collect(),
        };
        let json = serde_json::to_string(&update).unwrap_or_default();
        if self.last_sent.as_deref() == Some(json.as_str()) {
            return None;
        }
        self.last_sent = Some(json.clone());
        Some(json)
    }
}

fn stock_event(json: String) -> Event {
    Event::default().event("stock").data(json)
}

/// Live stock of products and coupon campaigns (public).
///
/// A `text/event-stream`: an event `stock` (data: `LiveUpdate`, JSON) at once, then whenever
/// one of the ids changes. The stream ends after `live_stream_max_s`; `EventSource` reconnects.
/// Unknown ids are left out.
#[utoipa::path(get, path = "/api/v1/live", tag = "pages",
    params(("productIds" = Option<String>, Query, description = "product ids, comma-separated or repeated (at most 50)"),
        ("couponInfoIds" = Option<String>, Query, description = "coupon campaign ids, comma-separated or repeated (at most 50)")),
    responses((status = 200, description = "server-sent events `stock` carrying a LiveUpdate", content_type = "text/event-stream", body = LiveUpdate),
        (status = 400, description = "LIVE_BAD_IDS: no ids, too many or not UUIDs", body = crate::http::error::ErrorBody),
        (status = 503, description = "LIVE_STREAMS_FULL: too many open streams; retry after Retry-After", body = crate::http::error::ErrorBody)))]
pub async fn stream(
    State(state): State<AppState>,
    Extension(hub): Extension<Arc<LiveHub>>,
    RawQuery(raw): RawQuery,
) -> Response {
    match open(state, hub, raw).await {
        Ok(sse) => sse.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn open(
    state: AppState,
    hub: Arc<LiveHub>,
    raw: Option<String>,
) -> Result<Sse<impl futures::Stream<Item = Result<Event, std::convert::Infallible>>>, ApiError> {
    let q = ListQuery::parse(raw.as_deref());
    let products = q.uuids("productIds", MAX_LIVE_IDS, ErrorCode::LiveBadIds)?;
    let campaigns = q.uuids("couponInfoIds", MAX_LIVE_IDS, ErrorCode::LiveBadIds)?;
    if products.is_empty() && campaigns.is_empty() {
        return Err(ErrorCode::LiveBadIds.into());
    }
    let permit = hub
        .semaphore(&state.config)
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::from(ErrorCode::LiveStreamsFull).retry_after(5))?;
    // Drop ids the engine does not know (so the reader never asks storage for them again) and
    // take their current state for the first event.
    let mut items = Vec::with_capacity(products.len());
    for id in dedup(products) {
        match state.engine.item_view(ItemId(id)).await {
            Ok(v) => items.push((id, Some(item_live(&v)))),
            Err(EngineError::UnknownItem) => {}
            Err(_) => items.push((id, None)),
        }
    }
    let now = state.now_ms();
    let mut watched_campaigns = Vec::with_capacity(campaigns.len());
    for id in dedup(campaigns) {
        match state.engine.campaign(CampaignId(id)).await {
            Ok(entry) => watched_campaigns.push((id, Some(campaign_live(id, &entry.shared, now)))),
            Err(EngineError::UnknownCampaign) => {}
            Err(_) => watched_campaigns.push((id, None)),
        }
    }
    let interest = hub.watch(
        &state,
        items.iter().map(|(id, _)| *id).collect(),
        watched_campaigns.iter().map(|(id, _)| *id).collect(),
    );
    let mut sub = Subscriber {
        rx: hub.snapshot.subscribe(),
        items,
        campaigns: watched_campaigns,
        last_sent: None,
        deadline: tokio::time::Instant::now()
            + Duration::from_secs(state.config.live_stream_max_s.max(1)),
        _interest: interest,
        _permit: permit,
    };
    sub.rx.mark_unchanged();
    let first = sub.update(&Snapshot::default()).unwrap_or_default();
    let first = stock_event(first).retry(RECONNECT_AFTER);
    let rest = futures::stream::unfold(sub, |mut sub| async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(sub.deadline) => return None,
                changed = sub.rx.changed() => if changed.is_err() { return None },
            }
            let snap = sub.rx.borrow_and_update().clone();
            if let Some(json) = sub.update(&snap) {
                return Some((Ok(stock_event(json)), sub));
            }
        }
    });
    let events = futures::StreamExt::chain(futures::stream::once(async move { Ok(first) }), rest);
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

fn dedup(ids: Vec<Uuid>) -> Vec<Uuid> {
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    ids.into_iter().filter(|id| seen.insert(*id)).collect()
}
