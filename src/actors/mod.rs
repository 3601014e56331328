//! Thin actix shells around the domain ledgers. This is the only module that names actix types.
//!
//! Each item and each campaign is owned by one actor pinned to one arbiter thread; the actor
//! handles one message at a time, so a claim is plain code on plain data. Alongside its address
//! every actor publishes a few atomics (its fast-reject state, live counters, the number of
//! requests waiting on it) that callers read without a message hop.

use std::sync::atomic::{AtomicUsize, Ordering};

pub mod campaign;
pub mod item;
pub mod registry;
pub mod runtime;
pub mod ticker;

/// Requests waiting on one actor, counted by the callers, so a full mailbox is refused at once
/// instead of parking the caller. A guard decrements when the request ends however it ends
/// (answered, timed out or dropped), so the count cannot leak.
#[derive(Debug)]
pub struct MailboxGauge {
    in_flight: AtomicUsize,
    capacity: usize,
}

impl MailboxGauge {
    pub fn new(capacity: usize) -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            capacity: capacity.max(1),
        }
    }

    /// Take a slot, or `None` when the mailbox is full.
    pub fn try_enter(&self) -> Option<MailboxSlot<'_>> {
        let prev = self.in_flight.fetch_add(1, Ordering::AcqRel);
        if prev >= self.capacity {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            None
        } else {
            Some(MailboxSlot(self))
        }
    }

    /// Requests currently waiting on the actor.
    pub fn depth(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

/// A taken mailbox slot; released on drop.
#[must_use]
pub struct MailboxSlot<'a>(&'a MailboxGauge);

impl Drop for MailboxSlot<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Slack added to actix's own mailbox bound so that it never parks a sender the gauge admitted.
pub const ACTIX_MAILBOX_SLACK: usize = 64;
