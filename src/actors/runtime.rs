//! The actix System and its Arbiters, on threads of their own, bridged to the tokio runtime that
//! serves HTTP: `Addr`s are `Send + Sync`, and `Addr::send(..).await` works from tokio tasks.

use std::sync::mpsc;

use actix::{Arbiter, System};
use actix_rt::ArbiterHandle;
use anyhow::Context;

/// A running actix System with `threads` arbiters.
pub struct ActorRuntime {
    system: System,
    arbiters: Vec<ArbiterHandle>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ActorRuntime {
    /// Start the System on a thread of its own, with `threads` arbiter threads.
    pub fn start(threads: usize) -> anyhow::Result<ActorRuntime> {
        let threads = threads.max(1);
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("hotdeal-actix".into())
            .spawn(move || {
                let system = actix::System::new();
                system.block_on(async move {
                    let handles: Vec<ArbiterHandle> = (0..threads)
                        .map(|_| {
                            let arbiter = Arbiter::new();
                            let handle = arbiter.handle();
                            // The System keeps the arbiter running; stopping the System stops it.
                            std::mem::forget(arbiter);
                            handle
                        })
                        .collect();
                    let _ = tx.send((System::current(), handles));
                });
                let _ = system.run();
            })
            .context("spawning the actor system thread")?;
        let (system, arbiters) = rx.recv().context("actor system did not start")?;
        Ok(ActorRuntime {
            system,
            arbiters,
            thread: Some(thread),
        })
    }

    /// The arbiter an entity with this key lives on.
    pub fn arbiter_for(&self, key: u128) -> &ArbiterHandle {
        let folded = (key as u64) ^ ((key >> 64) as u64);
        let index =
            (folded.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize % self.arbiters.len();
        &self.arbiters[index]
    }

    pub fn threads(&self) -> usize {
        self.arbiters.len()
    }

    /// A cloneable handle that runs futures on these threads.
    pub fn actor_threads(&self) -> ActorThreads {
        ActorThreads {
            arbiters: std::sync::Arc::new(self.arbiters.clone()),
        }
    }

    /// Stop every arbiter and the System, and wait for its thread.
    pub fn stop(&mut self) {
        for a in &self.arbiters {
            a.stop();
        }
        self.system.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Runs futures on the actor threads. The HTTP server hands each accepted connection to one of
/// them (round robin), so a request is parsed, decided by an actor living on the same thread and
/// answered without a wake of another thread: the actor's reply is a local wake-up, and a thread
/// busy serving connections rarely parks, so even a message to an actor on the other thread
/// seldom costs a futex wake.
#[derive(Clone)]
pub struct ActorThreads {
    arbiters: std::sync::Arc<Vec<ArbiterHandle>>,
}

impl ActorThreads {
    pub fn len(&self) -> usize {
        self.arbiters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.arbiters.is_empty()
    }

    /// Run `fut` on thread `index` (modulo the count); false when that thread has stopped (the
    /// future is dropped).
    pub fn spawn(
        &self,
        index: usize,
        fut: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> bool {
        if self.arbiters.is_empty() {
            return false;
        }
        self.arbiters[index % self.arbiters.len()].spawn(fut)
    }
}

impl Drop for ActorRuntime {
    fn drop(&mut self) {
        self.stop();
    }
}
