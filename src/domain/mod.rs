//! Pure business rules: no async, no actix, no clock reads, no I/O.
//!
//! Ledgers are plain structs whose operations take the current time as an argument and return
//! outcomes as values. The actors in [`crate::actors`] are thin shells around them, and the same
//! code runs when the journal is replayed at recovery, so replay is exact.

pub mod campaign;
pub mod clock;
pub mod coupon;
pub mod event;
pub mod ids;
pub mod item;
pub mod order;

/// Milliseconds since the Unix epoch, UTC. Every instant in the domain is one of these.
pub type Millis = i64;

#[cfg(test)]
mod proptests;
