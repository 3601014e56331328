//! `CampaignActor`: owns one coupon campaign's [`CampaignLedger`].
//!
//! Mailbox: bounded by `mailbox_capacity` (callers are refused at once when it is full, see
//! [`super::MailboxGauge`]). Ordering: messages are handled one at a time in arrival order, and
//! each decision is appended to the journal inside the handler, so the journal holds this
//! campaign's decisions in the order they were taken. Replies carry the journal sequence; the
//! caller waits for it to be durable before answering the shopper, while the actor goes on.
//!
//! Claims (the hot path) do not travel as one actix message each: callers queue them on the
//! campaign's [`ClaimQueue`] and the first caller into an empty queue sends one [`DrainClaims`].
//! The actor then decides every queued claim in one go, appends all the coupons it issued to the
//! journal under one lock, and the journal's writer answers those callers right after its fsync
//! (refusals are answered at once). One actor wake and one caller wake per claim at most, and
//! far fewer under load.

use std::sync::atomic::{AtomicI64, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use actix::{Actor, Context, Handler, Message, MessageResult};
use tokio::sync::oneshot;

use super::MailboxGauge;
use crate::domain::Millis;
use crate::domain::campaign::{
    CampaignCommand, CampaignConfig, CampaignGate, CampaignLedger, CampaignOutcome, CampaignStatus,
    CouponState,
};
use crate::domain::clock::SharedClock;
use crate::domain::event::Event;
use crate::domain::ids::{CampaignId, UserId};
use crate::persistence::journal::{Journal, JournalUnavailable, Seq};

const OPEN: u8 = 0;
const NOT_OPEN: u8 = 1;
const SOLD_OUT: u8 = 2;

/// The answer to a queued claim: the ledger's outcome (an issued coupon only once it is
/// durable), or the journal's failure to make it durable.
pub type ClaimReply = Result<CampaignOutcome, JournalUnavailable>;

/// One queued claim.
#[derive(Debug)]
pub struct ClaimRequest {
    user: UserId,
    ticket: u64,
    reply: oneshot::Sender<ClaimReply>,
}

/// Claims waiting for the campaign actor's next drain. Bounded by the campaign's
/// [`MailboxGauge`], which every caller enters before queueing.
#[derive(Debug, Default)]
pub struct ClaimQueue {
    inner: Mutex<QueueInner>,
    next_ticket: AtomicU64,
}

#[derive(Debug, Default)]
struct QueueInner {
    requests: Vec<ClaimRequest>,
    /// A [`DrainClaims`] is on its way to the actor and will take everything queued.
    drain_sent: bool,
}

/// A claim in the queue, as its caller holds it.
#[derive(Debug)]
pub struct QueuedClaim {
    ticket: u64,
    pub reply: oneshot::Receiver<ClaimReply>,
    /// Whether the caller must send [`DrainClaims`] (it found the queue idle).
    pub send_drain: bool,
}

impl ClaimQueue {
    /// Queue a claim of `user`.
    pub fn push(&self, user: UserId) -> QueuedClaim {
        let ticket = self.next_ticket.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        let mut inner = self.inner.lock().expect("claim queue lock");
        inner.requests.push(ClaimRequest {
            user,
            ticket,
            reply: tx,
        });
        let send_drain = !std::mem::replace(&mut inner.drain_sent, true);
        QueuedClaim {
            ticket,
            reply: rx,
            send_drain,
        }
    }

    /// Take `claim` back out if the actor has not reached it yet (its caller gives up); `false`
    /// when the actor already decided it (the answer is coming).
    pub fn withdraw(&self, claim: &QueuedClaim) -> bool {
        let mut inner = self.inner.lock().expect("claim queue lock");
        match inner.requests.iter().position(|r| r.ticket == claim.ticket) {
            Some(i) => {
                inner.requests.swap_remove(i);
                true
            }
            None => false,
        }
    }

    /// Everything queued, swapped against `spare` (an empty vector whose capacity is reused).
    fn take(&self, spare: Vec<ClaimRequest>) -> Vec<ClaimRequest> {
        let mut inner = self.inner.lock().expect("claim queue lock");
        inner.drain_sent = false;
        std::mem::replace(&mut inner.requests, spare)
    }
}

/// What the actor publishes for callers to read without a message hop.
#[derive(Debug)]
pub struct CampaignShared {
    pub gauge: MailboxGauge,
    /// Claims waiting for the next drain.
    pub claims: ClaimQueue,
    closed: AtomicU8,
    starts_at_ms: AtomicI64,
    ends_at_ms: AtomicI64,
    issued: AtomicI64,
    quantity: AtomicI64,
}

impl CampaignShared {
    pub fn new(capacity: usize) -> Self {
        Self {
            gauge: MailboxGauge::new(capacity),
            claims: ClaimQueue::default(),
            closed: AtomicU8::new(OPEN),
            starts_at_ms: AtomicI64::new(i64::MIN),
            ends_at_ms: AtomicI64::new(i64::MAX),
            issued: AtomicI64::new(0),
            quantity: AtomicI64::new(0),
        }
    }

    /// The answer every issue request would get at `now_ms`, if it is already known: the
    /// ledger's own [`CampaignGate`] rule on what the actor last published.
    pub fn fast_reject(&self, now_ms: Millis) -> Option<CampaignOutcome> {
        let closed = self.closed.load(Ordering::Acquire);
        CampaignGate {
            pending: closed == NOT_OPEN,
            starts_at_ms: self.starts_at_ms.load(Ordering::Acquire),
            ends_at_ms: self.ends_at_ms.load(Ordering::Acquire),
            sold_out: closed == SOLD_OUT,
        }
        .check(now_ms)
    }

    pub fn issued(&self) -> i64 {
        self.issued.load(Ordering::Acquire)
    }

    pub fn quantity(&self) -> i64 {
        self.quantity.load(Ordering::Acquire)
    }

    fn publish(&self, ledger: &CampaignLedger) {
        let gate = ledger.gate();
        let closed = if gate.pending {
            NOT_OPEN
        } else if gate.sold_out {
            SOLD_OUT
        } else {
            OPEN
        };
        self.starts_at_ms
            .store(gate.starts_at_ms, Ordering::Release);
        self.ends_at_ms.store(gate.ends_at_ms, Ordering::Release);
        self.issued.store(ledger.issued_count(), Ordering::Release);
        self.quantity
            .store(ledger.config.quantity, Ordering::Release);
        self.closed.store(closed, Ordering::Release);
    }
}

/// The campaign actor.
pub struct CampaignActor {
    id: CampaignId,
    ledger: CampaignLedger,
    last_seq: Seq,
    journal: Arc<Journal>,
    clock: SharedClock,
    shared: Arc<CampaignShared>,
    /// The drained claims' vector, kept for its capacity.
    spare: Vec<ClaimRequest>,
}

impl CampaignActor {
    pub fn new(
        id: CampaignId,
        ledger: CampaignLedger,
        last_seq: Seq,
        journal: Arc<Journal>,
        clock: SharedClock,
        shared: Arc<CampaignShared>,
    ) -> Self {
        shared.publish(&ledger);
        Self {
            id,
            ledger,
            last_seq,
            journal,
            clock,
            shared,
            spare: Vec::new(),
        }
    }

    /// Decide `command` on the ledger and journal the event it gives, if any. The fast-reject
    /// state is published after every change, from the ledger's own gate.
    fn decide(&mut self, command: CampaignCommand) -> (CampaignOutcome, Option<Seq>) {
        let now = self.clock.now_ms();
        let (outcome, event) = self.ledger.decide(self.id, command, now);
        let seq = event.map(|e| {
            self.shared.publish(&self.ledger);
            self.journal(e)
        });
        (outcome, seq)
    }

    fn journal(&mut self, event: Event) -> Seq {
        let seq = self.journal.append(event);
        self.last_seq = seq;
        seq
    }
}

impl Actor for CampaignActor {
    type Context = Context<Self>;
}

/// Decide every queued claim (see [`ClaimQueue`]).
#[derive(Message)]
#[rtype(result = "()")]
pub struct DrainClaims;

impl Handler<DrainClaims> for CampaignActor {
    type Result = ();
    fn handle(&mut self, _: DrainClaims, _: &mut Context<Self>) {
        let mut requests = self.shared.claims.take(std::mem::take(&mut self.spare));
        if requests.is_empty() {
            self.spare = requests;
            return;
        }
        let now = self.clock.now_ms();
        let mut events = Vec::new();
        let mut issued: Vec<(oneshot::Sender<ClaimReply>, CampaignOutcome)> = Vec::new();
        for request in requests.drain(..) {
            if request.reply.is_closed() {
                // the caller went away before being told anything: as if never sent
                continue;
            }
            let command = CampaignCommand::Issue { user: request.user };
            match self.ledger.decide(self.id, command, now) {
                (outcome, Some(event)) => {
                    events.push(event);
                    issued.push((request.reply, outcome));
                }
                (outcome, None) => {
                    let _ = request.reply.send(Ok(outcome));
                }
            }
        }
        self.spare = requests;
        if events.is_empty() {
            return;
        }
        self.shared.publish(&self.ledger);
        let answer = Box::new(move |durable: Result<(), JournalUnavailable>| {
            for (reply, outcome) in issued {
                let _ = reply.send(durable.map(|()| outcome));
            }
        });
        if let Some(seq) = self.journal.append_batch(events, answer) {
            self.last_seq = seq;
        }
    }
}

/// Decide one command other than a claim on the campaign's ledger (use or recover a coupon,
/// set the status, configure while PENDING); replies with the outcome and the journal sequence
/// of its event, if the command changed the ledger. Claims go through the [`ClaimQueue`].
#[derive(Message)]
#[rtype(result = "(CampaignOutcome, Option<Seq>)")]
pub struct DecideCampaign(pub CampaignCommand);

impl Handler<DecideCampaign> for CampaignActor {
    type Result = MessageResult<DecideCampaign>;
    fn handle(&mut self, msg: DecideCampaign, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.decide(msg.0))
    }
}

/// A campaign's current state, for reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveCampaign {
    pub id: CampaignId,
    pub config: CampaignConfig,
    pub status: CampaignStatus,
    pub issued_count: i64,
    pub last_seq: Seq,
}

/// Read the campaign's state, and optionally one holder's coupon state.
#[derive(Message)]
#[rtype(result = "(LiveCampaign, Option<CouponState>)")]
pub struct View {
    pub holder: Option<UserId>,
}

impl Handler<View> for CampaignActor {
    type Result = MessageResult<View>;
    fn handle(&mut self, msg: View, _: &mut Context<Self>) -> Self::Result {
        let view = LiveCampaign {
            id: self.id,
            config: self.ledger.config.clone(),
            status: self.ledger.status,
            issued_count: self.ledger.issued_count(),
            last_seq: self.last_seq,
        };
        MessageResult((view, msg.holder.and_then(|u| self.ledger.holds(u))))
    }
}

/// A copy of the whole ledger and the last sequence it reflects (snapshots, audits).
#[derive(Message)]
#[rtype(result = "(CampaignLedger, Seq)")]
pub struct TakeSnapshot;

impl Handler<TakeSnapshot> for CampaignActor {
    type Result = MessageResult<TakeSnapshot>;
    fn handle(&mut self, _: TakeSnapshot, _: &mut Context<Self>) -> Self::Result {
        MessageResult((self.ledger.clone(), self.last_seq))
    }
}
