//! Password hashing: argon2id (PHC strings) on a small pool of dedicated threads, behind a bound.
//!
//! One hash or verification holds 19 MiB and a core for tens of milliseconds. Run without a bound
//! (one `spawn_blocking` per login), a flood of wrong-password logins grows the process by 19 MiB
//! per attempt in flight, and the allocator keeps most of it afterwards. So every hash and
//! verification (signup, login, password change, the admin bootstrap, and the dummy verification
//! of an unknown email) goes through one [`PasswordPool`]: `concurrency` worker threads (one per
//! core by default) and at most `queue` more attempts waiting. An attempt beyond that is refused at
//! once with [`HashingBusy`], which the API answers with 503 `PASSWORD_HASHING_BUSY` and
//! `Retry-After`. Each worker hashes in one block set of its own, allocated on first use and kept,
//! so memory for hashing is at most `concurrency x 19 MiB` however many attempts arrive, and the
//! allocator is not asked for 19 MiB per attempt.

use std::cell::RefCell;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, OnceLock, mpsc};

use anyhow::Context;
use argon2::password_hash::{Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

/// Largest argon2 memory a stored hash may ask for, in KiB (4 x the 19 MiB we use): a bogus or
/// hostile hash string must not make a worker allocate gigabytes.
pub const MAX_M_COST_KIB: u32 = 4 * 19 * 1024;

thread_local! {
    /// This thread's argon2 memory, allocated on first use and kept: a pool worker hashes in the
    /// same 19 MiB every time instead of asking the allocator for it per attempt (which, freed
    /// and asked again from many threads, leaves far more resident than is in use).
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Run argon2 `kdf` into `out`, in this thread's kept memory.
fn kdf(kdf: &Argon2<'_>, password: &[u8], salt: &[u8], out: &mut [u8]) -> argon2::Result<()> {
    let needed = kdf.params().block_count();
    BLOCKS.with(|blocks| {
        let mut blocks = blocks.borrow_mut();
        if blocks.len() < needed {
            blocks.resize(needed, Block::default());
        }
        kdf.hash_password_into_with_memory(password, salt, out, &mut blocks[..needed])
    })
}

fn hash_now(password: &str) -> anyhow::Result<String> {
    // 16 random bytes from the thread's CSPRNG (rand), as the PHC salt.
    let bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&bytes)
        .map_err(|e| anyhow::anyhow!("encoding a password salt: {e}"))?;
    // OWASP's argon2id baseline (19 MiB, 2 passes, 1 lane): the crate's defaults, named here.
    let params = Params::default();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let output = Output::init_with(Params::DEFAULT_OUTPUT_LEN, |out| {
        kdf(&argon, password.as_bytes(), &bytes, out).map_err(Into::into)
    })
    .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: (&params)
            .try_into()
            .map_err(|e| anyhow::anyhow!("encoding argon2 parameters: {e}"))?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the argon2 PHC string `hash`; false for anything malformed.
fn verify_now(password: &str, hash: &str) -> bool {
    let check = || -> Option<bool> {
        let parsed = PasswordHash::new(hash).ok()?;
        let algorithm = Algorithm::try_from(parsed.algorithm).ok()?;
        let version = match parsed.version {
            Some(v) => Version::try_from(v).ok()?,
            None => Version::default(),
        };
        let params = Params::try_from(&parsed).ok()?;
        if params.m_cost() > MAX_M_COST_KIB {
            tracing::warn!(
                m_cost_kib = params.m_cost(),
                "a stored password hash asks for more memory than allowed; refused"
            );
            return Some(false);
        }
        let expected = parsed.hash?;
        let mut salt_buf = [0u8; 64];
        let salt = parsed.salt?.decode_b64(&mut salt_buf).ok()?;
        let argon = Argon2::new(algorithm, version, params);
        let computed = Output::init_with(expected.len(), |out| {
            kdf(&argon, password.as_bytes(), salt, out).map_err(Into::into)
        })
        .ok()?;
        // `Output`'s equality is constant-time.
        Some(computed == expected)
    };
    check().unwrap_or(false)
}

/// A fixed hash to verify against when the email is unknown (made once, on a pool thread).
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_now("not-a-real-password").unwrap_or_default())
}

/// The pool is full: `concurrency` attempts running and `queue` waiting. Retry after
/// `retry_after_s` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashingBusy {
    pub retry_after_s: u64,
}

impl std::fmt::Display for HashingBusy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("password hashing is at capacity")
    }
}

impl std::error::Error for HashingBusy {}

type Job = Box<dyn FnOnce() + Send>;

/// The bounded password hashing pool (cheap to clone: clones share the pool). The worker threads
/// end when the last clone is dropped.
#[derive(Clone)]
pub struct PasswordPool {
    /// `concurrency + queue` permits: one per attempt admitted (running or waiting).
    admission: Arc<Semaphore>,
    jobs: mpsc::Sender<Job>,
    concurrency: usize,
    queue: usize,
}

impl std::fmt::Debug for PasswordPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordPool")
            .field("concurrency", &self.concurrency)
            .field("queue", &self.queue)
            .field("admitted", &self.admitted())
            .finish()
    }
}

/// One worker per core when `configured` is 0.
pub fn effective_concurrency(configured: usize) -> usize {
    if configured > 0 {
        configured
    } else {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    }
}

impl PasswordPool {
    /// A pool of `concurrency` worker threads (0 = one per core) with room for `queue` more
    /// attempts waiting.
    pub fn new(concurrency: usize, queue: usize) -> PasswordPool {
        let concurrency = effective_concurrency(concurrency);
        let (jobs, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..concurrency {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("password-hash-{i}"))
                .spawn(move || worker(&rx));
            if let Err(err) = spawned {
                // Fewer workers only means less throughput; the bound still holds.
                tracing::error!(error = %err, "starting a password hashing thread failed");
            }
        }
        PasswordPool {
            admission: Arc::new(Semaphore::new(concurrency + queue)),
            jobs,
            concurrency,
            queue,
        }
    }

    /// Worker threads.
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// Attempts running or waiting now.
    pub fn admitted(&self) -> usize {
        (self.concurrency + self.queue).saturating_sub(self.admission.available_permits())
    }

    /// Admit `work` to the pool now or refuse it: the receiver gets its result once a worker ran
    /// it. If the receiver is dropped before a worker reaches the job (the client went away), the
    /// work is skipped. Never waits.
    pub fn submit<R: Send + 'static>(
        &self,
        work: impl FnOnce() -> R + Send + 'static,
    ) -> Result<oneshot::Receiver<R>, HashingBusy> {
        let permit: OwnedSemaphorePermit =
            self.admission.clone().try_acquire_owned().map_err(|_| {
                metrics::counter!("hotdeal_password_hashing_busy_total").increment(1);
                HashingBusy { retry_after_s: 1 }
            })?;
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            if tx.is_closed() {
                return;
            }
            let result = work();
            // Free the slot before answering, so a caller holding the answer sees it free.
            drop(permit);
            let _ = tx.send(result);
        });
        // The workers only stop once every sender is gone, and `self` holds one.
        self.jobs
            .send(job)
            .map_err(|_| HashingBusy { retry_after_s: 1 })?;
        Ok(rx)
    }

    /// Run `work` on the pool: [`HashingBusy`] at once when full.
    pub async fn run<R: Send + 'static>(
        &self,
        work: impl FnOnce() -> R + Send + 'static,
    ) -> anyhow::Result<R> {
        let rx = self.submit(work)?;
        rx.await.context("a password hashing job failed")
    }

    /// Hash `password` (argon2id, random salt).
    pub async fn hash(&self, password: &str) -> anyhow::Result<String> {
        let password = password.to_string();
        self.run(move || hash_now(&password)).await?
    }

    /// Whether `password` matches the PHC string `hash` (false for a malformed hash).
    pub async fn verify(&self, password: &str, hash: &str) -> anyhow::Result<bool> {
        let (password, hash) = (password.to_string(), hash.to_string());
        self.run(move || verify_now(&password, &hash)).await
    }

    /// Spend the time of one verification against a fixed hash, so an unknown email answers as
    /// slowly as a wrong password does (and counts against the same bound).
    pub async fn verify_dummy(&self, password: &str) -> anyhow::Result<()> {
        let password = password.to_string();
        self.run(move || {
            verify_now(&password, dummy_hash());
        })
        .await
    }
}

fn worker(rx: &Mutex<mpsc::Receiver<Job>>) {
    loop {
        let job = {
            let rx = rx.lock().unwrap_or_else(|p| p.into_inner());
            rx.recv()
        };
        let Ok(job) = job else {
            return;
        };
        // A panicking job drops its reply sender (the caller sees an error); the thread lives on.
        if std::panic::catch_unwind(AssertUnwindSafe(job)).is_err() {
            tracing::error!("a password hashing job panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_are_salted() {
        let pool = PasswordPool::new(1, 4);
        let a = pool.hash("Secret12!").await.unwrap();
        let b = pool.hash("Secret12!").await.unwrap();
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b);
        assert!(pool.verify("Secret12!", &a).await.unwrap());
        assert!(!pool.verify("Secret12?", &a).await.unwrap());
        assert!(!pool.verify("Secret12!", "garbage").await.unwrap());
        pool.verify_dummy("anything").await.unwrap();
        assert_eq!(pool.admitted(), 0);
    }

    /// Hashes made here verify with the argon2 crate's own verifier and the other way round,
    /// other parameters and variants included (hashes stored by earlier versions keep working).
    #[test]
    fn hashes_are_standard_phc_strings() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let ours = hash_now("Secret12!").unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"Secret12!", &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"Secret12?", &parsed)
                .is_err()
        );
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );

        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        for (algorithm, params) in [
            (Algorithm::Argon2id, Params::default()),
            (Algorithm::Argon2i, Params::new(64, 1, 1, None).unwrap()),
            (
                Algorithm::Argon2d,
                Params::new(128, 3, 2, Some(16)).unwrap(),
            ),
        ] {
            let theirs = Argon2::new(algorithm, Version::V0x13, params)
                .hash_password(b"Secret12!", &salt)
                .unwrap()
                .to_string();
            assert!(verify_now("Secret12!", &theirs), "{theirs}");
            assert!(!verify_now("Secret12?", &theirs), "{theirs}");
        }
        let greedy = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(MAX_M_COST_KIB + 8, 1, 1, None).unwrap(),
        );
        let phc = format!(
            "$argon2id$v=19$m={},t=1,p=1${}$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            greedy.params().m_cost(),
            salt.as_str()
        );
        assert!(!verify_now("Secret12!", &phc));
    }

    /// concurrency 2, queue 1: two jobs run, one waits, the fourth is refused at once; nothing
    /// ever runs beyond two at a time; permits come back when jobs finish.
    #[tokio::test]
    async fn the_pool_runs_at_most_its_concurrency_and_refuses_beyond_its_queue() {
        let pool = PasswordPool::new(2, 1);
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let (started_tx, mut started_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = Arc::new(Mutex::new(release_rx));
        let job = || {
            let (running, most) = (running.clone(), most.clone());
            let (started, release) = (started_tx.clone(), release_rx.clone());
            move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                let _ = started.send(());
                let _ = release.lock().unwrap().recv();
                running.fetch_sub(1, Ordering::SeqCst);
            }
        };
        let a = pool.submit(job()).unwrap();
        let b = pool.submit(job()).unwrap();
        let c = pool.submit(job()).unwrap();
        // Both workers are busy (a and b started), c waits in the queue.
        started_rx.recv().await.unwrap();
        started_rx.recv().await.unwrap();
        assert_eq!(pool.admitted(), 3);
        assert_eq!(
            pool.submit(|| ()).unwrap_err(),
            HashingBusy { retry_after_s: 1 }
        );
        let err = pool.run(|| ()).await.unwrap_err();
        assert!(err.downcast_ref::<HashingBusy>().is_some());
        for _ in 0..3 {
            release_tx.send(()).unwrap();
        }
        a.await.unwrap();
        b.await.unwrap();
        c.await.unwrap();
        assert_eq!(most.load(Ordering::SeqCst), 2);
        assert_eq!(pool.admitted(), 0);
        assert_eq!(pool.run(|| 7).await.unwrap(), 7);
    }

    #[tokio::test]
    async fn a_job_whose_caller_left_is_skipped_and_a_panic_is_an_error() {
        let pool = PasswordPool::new(1, 2);
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let blocker = pool
            .submit(move || {
                let _ = release_rx.recv();
            })
            .unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        let counted = ran.clone();
        drop(
            pool.submit(move || counted.fetch_add(1, Ordering::SeqCst))
                .unwrap(),
        );
        release_tx.send(()).unwrap();
        blocker.await.unwrap();
        assert!(pool.run(|| -> u8 { panic!("boom") }).await.is_err());
        // The skipped job never ran, and the worker survived the panic.
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        assert_eq!(pool.run(|| 1).await.unwrap(), 1);
    }
}
