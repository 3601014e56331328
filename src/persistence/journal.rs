//! The journal: every engine decision, appended to segment files before the caller is answered.
//!
//! Actors call [`Journal::append`] (or [`Journal::append_batch`] for everything one mailbox drain
//! decided), which only takes a lock, numbers the events with the next global sequences and queues
//! them. One writer thread group-commits: it takes everything queued, writes it, fsyncs once and
//! then publishes the durable sequence, which wakes every waiter at once
//! ([`Journal::wait_durable`]), and runs the batches' completions ([`OnDurable`]), which answer
//! their callers directly from the writer thread: one wake per caller, no second hop. Written
//! events then go to the outbox the write-behind drains.
//!
//! Record format: `len: u32 LE | crc32c(payload): u32 LE | payload = bincode((seq, event))`.
//! Segment files are named by their first sequence (`00000000000000000042.seg`) and roll over at
//! `segment_bytes`. A torn or corrupt tail is detected by the CRC and truncated at recovery.
//!
//! Modes: `sync` waits for the fsync; `async` answers at once and fsyncs every interval;
//! `none` keeps no files at all (events go straight to the outbox).

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::{Notify, watch};

use crate::config::Durability;
use crate::domain::event::Event;

/// A global journal sequence number; the first event is 1.
pub type Seq = u64;

const RECORD_HEADER: usize = 8;
/// Largest accepted record payload; anything bigger is corruption.
const MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;

fn bincode_config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Encode one record into `out`.
pub fn encode_record(seq: Seq, event: &Event, out: &mut Vec<u8>) -> anyhow::Result<()> {
    let start = out.len();
    out.extend_from_slice(&[0u8; RECORD_HEADER]);
    bincode::serde::encode_into_std_write((seq, event), out, bincode_config())
        .context("encoding journal record")?;
    let len = out.len() - start - RECORD_HEADER;
    let crc = crc32c::crc32c(&out[start + RECORD_HEADER..]);
    out[start..start + 4].copy_from_slice(&(len as u32).to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// Journal settings.
#[derive(Debug, Clone)]
pub struct JournalOptions {
    pub dir: PathBuf,
    pub mode: Durability,
    pub segment_bytes: u64,
    pub async_fsync_interval: Duration,
}

/// Counters for metrics and benchmarks.
#[derive(Debug, Default)]
pub struct JournalStats {
    pub fsyncs: AtomicU64,
    pub records: AtomicU64,
    pub bytes: AtomicU64,
    pub fsync_nanos: AtomicU64,
}

/// Run once every event of its batch is durable as the mode promises (`Ok`), or when the journal
/// failed before it could be (`Err`). A completion that is dropped unrun means the same as
/// `Err`: its callers' reply channels close.
pub type OnDurable = Box<dyn FnOnce(Result<(), JournalUnavailable>) + Send>;

struct Pending {
    next_seq: Seq,
    events: Vec<(Seq, Event)>,
    /// Each batch's completion with the first and last sequence it covers.
    completions: Vec<(Seq, Seq, OnDurable)>,
}

/// Where a journal without segment files makes its batches durable (cluster mode: a fenced
/// database transaction). Called from the journal's writer thread, one batch at a time, in
/// sequence order.
pub trait BatchSink: Send + 'static {
    /// Make `batch` durable. Returns the sequences that could not be and never will be (their
    /// entity's partition is no longer this node's); an `Err` fails the journal for good.
    fn commit(&mut self, batch: &[(Seq, Event)]) -> anyhow::Result<Vec<Seq>>;
}

/// Events in one outbox chunk when they arrive one at a time (or from recovery).
const OUTBOX_CHUNK: usize = 4096;

/// Events in sequence order, held in chunks of [`OUTBOX_CHUNK`] that never move once filled:
/// recovery reads a million-event journal into one without the copies (and the fresh pages) of
/// a vector doubling, and hands the chunks to the outbox as they are.
#[derive(Debug, Default)]
pub struct EventChunks {
    chunks: Vec<Vec<(Seq, Event)>>,
}

impl EventChunks {
    pub fn push(&mut self, seq: Seq, event: Event) {
        match self.chunks.last_mut() {
            Some(last) if last.len() < OUTBOX_CHUNK => last.push((seq, event)),
            _ => {
                let mut chunk = Vec::with_capacity(OUTBOX_CHUNK);
                chunk.push((seq, event));
                self.chunks.push(chunk);
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &(Seq, Event)> {
        self.chunks.iter().flatten()
    }

    pub fn len(&self) -> usize {
        self.chunks.iter().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Keep only the events after `seq`.
    pub fn retain_after(&mut self, seq: Seq) {
        for chunk in &mut self.chunks {
            chunk.retain(|(s, _)| *s > seq);
        }
        self.chunks.retain(|chunk| !chunk.is_empty());
    }
}

/// Written events waiting for the write-behind, in sequence order. Kept as the batches they
/// were written in: a backlog that grows during a burst never moves what it already holds (one
/// flat deque of a million events copies them all, under this lock, each time it doubles, and
/// every acknowledgement waits behind that copy).
#[derive(Default)]
struct Outbox {
    chunks: VecDeque<Vec<(Seq, Event)>>,
    len: usize,
}

impl Outbox {
    fn len(&self) -> usize {
        self.len
    }

    fn push(&mut self, event: (Seq, Event)) {
        self.len += 1;
        match self.chunks.back_mut() {
            Some(last) if last.len() < OUTBOX_CHUNK => last.push(event),
            _ => {
                let mut chunk = Vec::with_capacity(64);
                chunk.push(event);
                self.chunks.push_back(chunk);
            }
        }
    }

    /// Append `events` (later in sequence than everything held).
    fn add(&mut self, events: Vec<(Seq, Event)>) {
        if !events.is_empty() {
            self.len += events.len();
            self.chunks.push_back(events);
        }
    }

    /// The first `max` events (fewer if fewer are held).
    fn take(&mut self, max: usize) -> Vec<(Seq, Event)> {
        let mut out: Vec<(Seq, Event)> = Vec::with_capacity(max.min(self.len));
        while out.len() < max {
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            let want = max - out.len();
            if front.len() <= want {
                out.append(front);
                self.chunks.pop_front();
            } else {
                out.extend(front.drain(..want));
            }
        }
        self.len -= out.len();
        out
    }

    /// Put `events` (taken earlier) back in front.
    fn untake(&mut self, events: Vec<(Seq, Event)>) {
        if !events.is_empty() {
            self.len += events.len();
            self.chunks.push_front(events);
        }
    }
}

struct Shared {
    mode: Durability,
    pending: Mutex<Pending>,
    wake_writer: Condvar,
    durable_tx: watch::Sender<Seq>,
    failed: AtomicBool,
    stopping: AtomicBool,
    appended: AtomicU64,
    applied: AtomicU64,
    outbox: Mutex<Outbox>,
    outbox_ready: Notify,
    stats: JournalStats,
    /// Whether any sequence was refused by a [`BatchSink`] (then `lost` is consulted).
    any_lost: AtomicBool,
    /// Ranges of sequences a [`BatchSink`] refused, oldest first.
    lost: Mutex<Vec<(Seq, Seq)>>,
}

impl Shared {
    fn new(mode: Durability, last_seq: Seq, applied_seq: Seq) -> Arc<Shared> {
        let (durable_tx, _) = watch::channel(last_seq);
        Arc::new(Shared {
            mode,
            pending: Mutex::new(Pending {
                next_seq: last_seq + 1,
                events: Vec::with_capacity(4096),
                completions: Vec::with_capacity(256),
            }),
            wake_writer: Condvar::new(),
            durable_tx,
            failed: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            appended: AtomicU64::new(last_seq),
            applied: AtomicU64::new(applied_seq.min(last_seq)),
            outbox: Mutex::new(Outbox::default()),
            outbox_ready: Notify::new(),
            stats: JournalStats::default(),
            any_lost: AtomicBool::new(false),
            lost: Mutex::new(Vec::new()),
        })
    }
}

/// The engine's journal. Cheap to share behind an `Arc`.
pub struct Journal {
    shared: Arc<Shared>,
    dir: Option<PathBuf>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// The journal could not make an event durable (disk full, I/O error).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the journal is unavailable")]
pub struct JournalUnavailable;

impl Journal {
    /// Open for appending, continuing after `last_seq` (what recovery found). In `sync` and
    /// `async` modes a new segment is started and a writer thread spawned.
    pub fn open(options: &JournalOptions, last_seq: Seq) -> anyhow::Result<Arc<Journal>> {
        Self::open_with_applied(options, last_seq, last_seq)
    }

    /// Like [`Journal::open`], with the database checkpoint (`applied_seq <= last_seq`): the
    /// events in between are the write-behind's backlog, requeued by recovery.
    pub fn open_with_applied(
        options: &JournalOptions,
        last_seq: Seq,
        applied_seq: Seq,
    ) -> anyhow::Result<Arc<Journal>> {
        let shared = Shared::new(options.mode, last_seq, applied_seq);
        if options.mode == Durability::None {
            return Ok(Arc::new(Journal {
                shared,
                dir: None,
                writer: Mutex::new(None),
            }));
        }
        super::create_private_dir(&options.dir)
            .with_context(|| format!("creating journal dir {}", options.dir.display()))?;
        let mut writer = SegmentWriter::create(
            &options.dir,
            last_seq + 1,
            PREALLOCATE_CHUNK.min(options.segment_bytes.max(1)),
        )?;
        let thread_shared = shared.clone();
        let opts = options.clone();
        let handle = std::thread::Builder::new()
            .name("hotdeal-journal".into())
            .spawn(move || {
                if let Err(err) = writer_loop(&thread_shared, &mut writer, &opts) {
                    tracing::error!(error = ?err, "journal writer failed; new claims will be refused");
                    // queued batches will never be written: tell their callers
                    fail_queued(&thread_shared);
                }
            })
            .context("spawning the journal writer")?;
        Ok(Arc::new(Journal {
            shared,
            dir: Some(options.dir.clone()),
            writer: Mutex::new(Some(handle)),
        }))
    }

    /// A `sync` journal without files: every batch is made durable by `sink` (cluster mode),
    /// which also applies it to the database, so the write-behind has nothing to do.
    pub fn open_with_sink(sink: Box<dyn BatchSink>, last_seq: Seq) -> anyhow::Result<Arc<Journal>> {
        let shared = Shared::new(Durability::Sync, last_seq, last_seq);
        let thread_shared = shared.clone();
        let handle = std::thread::Builder::new()
            .name("hotdeal-journal".into())
            .spawn(move || {
                let mut sink = sink;
                if let Err(err) = sink_loop(&thread_shared, sink.as_mut()) {
                    tracing::error!(error = ?err, "journal writer failed; new decisions will be refused");
                    fail_queued(&thread_shared);
                }
            })
            .context("spawning the journal writer")?;
        Ok(Arc::new(Journal {
            shared,
            dir: None,
            writer: Mutex::new(Some(handle)),
        }))
    }

    pub fn mode(&self) -> Durability {
        self.shared.mode
    }

    /// Number `event` and queue it. Called by actors right after their ledger changed, so the
    /// per-entity order of the journal is the order the actor decided in.
    pub fn append(&self, event: Event) -> Seq {
        let mut pending = self.shared.pending.lock().expect("journal lock");
        let seq = pending.next_seq;
        pending.next_seq += 1;
        self.shared.appended.store(seq, Ordering::Release);
        if self.shared.mode == Durability::None {
            drop(pending);
            self.shared
                .outbox
                .lock()
                .expect("outbox lock")
                .push((seq, event));
            self.shared.outbox_ready.notify_one();
            let _ = self.shared.durable_tx.send_replace(seq);
        } else {
            let was_empty = pending.events.is_empty();
            pending.events.push((seq, event));
            drop(pending);
            if was_empty {
                self.shared.wake_writer.notify_one();
            }
        }
        seq
    }

    /// Number and queue every event of `events` (one lock for all), and run `on_durable` once
    /// they are durable as the mode promises: from the writer thread after its fsync in `sync`
    /// mode, at once (on the caller's thread) in `async` and `none`. Returns the last sequence
    /// handed out, `None` for an empty batch (then `on_durable` runs at once).
    pub fn append_batch(&self, events: Vec<Event>, on_durable: OnDurable) -> Option<Seq> {
        if events.is_empty() {
            on_durable(Ok(()));
            return None;
        }
        let shared = &*self.shared;
        let mut pending = shared.pending.lock().expect("journal lock");
        if shared.failed.load(Ordering::Acquire) {
            drop(pending);
            on_durable(Err(JournalUnavailable));
            return None;
        }
        let first = pending.next_seq;
        let last = first + events.len() as u64 - 1;
        pending.next_seq = last + 1;
        shared.appended.store(last, Ordering::Release);
        if shared.mode == Durability::None {
            drop(pending);
            let numbered: Vec<(Seq, Event)> = (first..=last).zip(events).collect();
            shared.outbox.lock().expect("outbox lock").add(numbered);
            shared.outbox_ready.notify_one();
            let _ = shared.durable_tx.send_replace(last);
            on_durable(Ok(()));
            return Some(last);
        }
        let was_empty = pending.events.is_empty();
        pending.events.extend((first..=last).zip(events));
        if shared.mode == Durability::Sync {
            pending.completions.push((first, last, on_durable));
            drop(pending);
        } else {
            drop(pending);
            on_durable(Ok(()));
        }
        if was_empty {
            shared.wake_writer.notify_one();
        }
        Some(last)
    }

    /// Wait until `seq` is durable as the mode promises: fsynced in `sync`, at once otherwise.
    pub async fn wait_durable(&self, seq: Seq) -> Result<(), JournalUnavailable> {
        if self.shared.failed.load(Ordering::Acquire) {
            return Err(JournalUnavailable);
        }
        if self.shared.mode != Durability::Sync {
            return Ok(());
        }
        let mut rx = self.shared.durable_tx.subscribe();
        let failed = &self.shared.failed;
        let res = rx
            .wait_for(|durable| *durable >= seq || failed.load(Ordering::Acquire))
            .await;
        if res.is_err() || failed.load(Ordering::Acquire) || self.was_lost(seq) {
            return Err(JournalUnavailable);
        }
        Ok(())
    }

    /// Whether a [`BatchSink`] refused `seq`.
    fn was_lost(&self, seq: Seq) -> bool {
        self.shared.any_lost.load(Ordering::Acquire)
            && self
                .shared
                .lost
                .lock()
                .expect("journal lock")
                .iter()
                .any(|(a, b)| (*a..=*b).contains(&seq))
    }

    /// The newest sequence handed out.
    pub fn appended(&self) -> Seq {
        self.shared.appended.load(Ordering::Acquire)
    }

    /// The newest sequence written (and fsynced in `sync` mode).
    pub fn durable(&self) -> Seq {
        *self.shared.durable_tx.borrow()
    }

    /// Whether the writer has failed.
    pub fn is_failed(&self) -> bool {
        self.shared.failed.load(Ordering::Acquire)
    }

    /// Record that the write-behind has applied everything up to `seq`.
    pub fn set_applied(&self, seq: Seq) {
        self.shared.applied.fetch_max(seq, Ordering::AcqRel);
    }

    /// The newest sequence the database reflects.
    pub fn applied(&self) -> Seq {
        self.shared.applied.load(Ordering::Acquire)
    }

    /// Wait (up to `timeout`) until the database holds everything journaled so far; returns
    /// whether it caught up (read-your-writes, audits, shutdown).
    pub async fn wait_applied(&self, timeout: Duration) -> bool {
        let target = self.appended();
        let deadline = Instant::now() + timeout;
        while self.applied() < target {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        true
    }

    /// Events journaled but not yet in the database.
    pub fn backlog(&self) -> u64 {
        self.appended().saturating_sub(self.applied())
    }

    /// Queue recovered events (after the database checkpoint) for the write-behind; their
    /// chunks become the outbox's as they are.
    pub fn requeue_for_writebehind(&self, events: EventChunks) {
        let mut outbox = self.shared.outbox.lock().expect("outbox lock");
        for chunk in events.chunks {
            outbox.add(chunk);
        }
        drop(outbox);
        self.shared.outbox_ready.notify_one();
    }

    /// Take up to `max` written events, in sequence order, for the write-behind.
    pub fn take_written(&self, max: usize) -> Vec<(Seq, Event)> {
        self.shared.outbox.lock().expect("outbox lock").take(max)
    }

    /// Put events back at the front (the database refused a batch; it will be retried).
    pub fn untake(&self, events: Vec<(Seq, Event)>) {
        self.shared
            .outbox
            .lock()
            .expect("outbox lock")
            .untake(events);
    }

    /// Number of written events waiting for the write-behind.
    pub fn outbox_len(&self) -> usize {
        self.shared.outbox.lock().expect("outbox lock").len()
    }

    /// Resolves when the outbox may have events.
    pub async fn outbox_ready(&self) {
        self.shared.outbox_ready.notified().await
    }

    pub fn stats(&self) -> &JournalStats {
        &self.shared.stats
    }

    /// Delete segments whose every event is at or below `covered` (both a snapshot and the
    /// database checkpoint hold them). The newest segment is always kept.
    pub fn remove_covered(&self, covered: Seq) -> anyhow::Result<usize> {
        let Some(dir) = &self.dir else { return Ok(0) };
        remove_covered_segments(dir, covered)
    }

    /// Flush what is queued and stop the writer (graceful shutdown).
    pub fn close(&self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.shared.wake_writer.notify_all();
        if let Some(handle) = self.writer.lock().expect("writer lock").take() {
            let _ = handle.join();
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.close();
    }
}

/// Journal space is zero-filled ahead of the write position in chunks of this size, so most
/// group commits overwrite already allocated blocks and their `fdatasync` flushes data only (no
/// file-size change to commit to the file system's journal): about half the latency of an
/// appending write on ext4. The zero tail is cut at roll-over and at a clean close; after a crash
/// recovery recognises it ([`read_journal`]).
const PREALLOCATE_CHUNK: u64 = 4 << 20;

struct SegmentWriter {
    dir: PathBuf,
    file: File,
    /// The write position: the end of the records.
    size: u64,
    /// The file's length (records plus the zero-filled space after them).
    allocated: u64,
    chunk: u64,
}

fn segment_path(dir: &Path, first_seq: Seq) -> PathBuf {
    dir.join(format!("{first_seq:020}.seg"))
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

impl SegmentWriter {
    /// Open (or create) the segment starting at `first_seq`; writing continues after its last
    /// valid record.
    fn create(dir: &Path, first_seq: Seq, chunk: u64) -> anyhow::Result<Self> {
        let path = segment_path(dir, first_seq);
        let file = super::private_file_options()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening journal segment {}", path.display()))?;
        let allocated = file.metadata()?.len();
        let size = if allocated == 0 {
            0
        } else {
            scan_segment(&path, |_, _| {})?.end
        };
        sync_dir(dir);
        Ok(Self {
            dir: dir.to_path_buf(),
            file,
            size,
            allocated,
            chunk,
        })
    }

    /// Write `buf` at the write position, zero-filling the next chunk first when it does not fit.
    fn write(&mut self, buf: &[u8]) -> anyhow::Result<()> {
        use std::os::unix::fs::FileExt;
        let end = self.size + buf.len() as u64;
        if end > self.allocated {
            let target = end.div_ceil(self.chunk) * self.chunk;
            let zeros = vec![0u8; (1 << 20).min(self.chunk) as usize];
            let mut at = self.allocated;
            while at < target {
                let n = zeros.len().min((target - at) as usize);
                self.file
                    .write_all_at(&zeros[..n], at)
                    .context("preallocating journal space")?;
                at += n as u64;
            }
            self.allocated = target;
        }
        self.file
            .write_all_at(buf, self.size)
            .context("writing the journal")?;
        self.size = end;
        Ok(())
    }

    /// Cut the zero-filled space after the records and make the segment durable.
    fn seal(&mut self) -> anyhow::Result<()> {
        if self.allocated > self.size {
            self.file.set_len(self.size)?;
            self.allocated = self.size;
        }
        self.file.sync_all()?;
        Ok(())
    }
}

fn writer_loop(
    shared: &Shared,
    writer: &mut SegmentWriter,
    options: &JournalOptions,
) -> anyhow::Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut batch: Vec<(Seq, Event)> = Vec::with_capacity(4096);
    let mut completions: Vec<(Seq, Seq, OnDurable)> = Vec::with_capacity(256);
    let mut unsynced = false;
    let mut last_sync = Instant::now();
    let idle_wait = match options.mode {
        Durability::Async => options.async_fsync_interval,
        _ => Duration::from_millis(100),
    };
    loop {
        {
            let mut pending = shared.pending.lock().expect("journal lock");
            while pending.events.is_empty() && !shared.stopping.load(Ordering::Acquire) {
                let (guard, timeout) = shared
                    .wake_writer
                    .wait_timeout(pending, idle_wait)
                    .expect("journal lock");
                pending = guard;
                if timeout.timed_out() && unsynced {
                    break;
                }
            }
            if pending.events.is_empty() && shared.stopping.load(Ordering::Acquire) {
                drop(pending);
                writer.seal()?;
                return Ok(());
            }
            std::mem::swap(&mut batch, &mut pending.events);
            std::mem::swap(&mut completions, &mut pending.completions);
        }
        if batch.is_empty() {
            // idle timeout in async mode with unsynced data
            timed_sync(shared, writer)?;
            unsynced = false;
            last_sync = Instant::now();
            continue;
        }
        buf.clear();
        for (seq, event) in &batch {
            encode_record(*seq, event, &mut buf)?;
        }
        if writer.size > 0 && writer.size + buf.len() as u64 > options.segment_bytes {
            writer.seal()?;
            let (dir, chunk) = (writer.dir.clone(), writer.chunk);
            *writer = SegmentWriter::create(&dir, batch[0].0, chunk)?;
        }
        writer.write(&buf)?;
        let last = batch.last().map(|(s, _)| *s).unwrap_or(0);
        shared
            .stats
            .records
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        shared
            .stats
            .bytes
            .fetch_add(buf.len() as u64, Ordering::Relaxed);
        match options.mode {
            Durability::Sync => {
                timed_sync(shared, writer)?;
            }
            _ => {
                unsynced = true;
                if last_sync.elapsed() >= options.async_fsync_interval {
                    timed_sync(shared, writer)?;
                    unsynced = false;
                    last_sync = Instant::now();
                }
            }
        }
        shared.durable_tx.send_replace(last);
        for (_, _, done) in completions.drain(..) {
            done(Ok(()));
        }
        // The batch moves to the outbox whole; the next one starts in a vector of its size.
        let next = Vec::with_capacity(batch.len().max(64));
        let written = std::mem::replace(&mut batch, next);
        shared.outbox.lock().expect("outbox lock").add(written);
        shared.outbox_ready.notify_one();
    }
}

/// Mark the journal failed and tell every queued batch.
fn fail_queued(shared: &Shared) {
    shared.failed.store(true, Ordering::SeqCst);
    let queued = std::mem::take(&mut shared.pending.lock().expect("journal lock").completions);
    for (_, _, done) in queued {
        done(Err(JournalUnavailable));
    }
    shared.durable_tx.send_modify(|_| {});
}

/// The writer of a journal with a [`BatchSink`]: take what is queued, commit it, answer.
fn sink_loop(shared: &Shared, sink: &mut dyn BatchSink) -> anyhow::Result<()> {
    let mut batch: Vec<(Seq, Event)> = Vec::with_capacity(4096);
    let mut completions: Vec<(Seq, Seq, OnDurable)> = Vec::with_capacity(256);
    loop {
        {
            let mut pending = shared.pending.lock().expect("journal lock");
            while pending.events.is_empty() && !shared.stopping.load(Ordering::Acquire) {
                pending = shared
                    .wake_writer
                    .wait_timeout(pending, Duration::from_millis(100))
                    .expect("journal lock")
                    .0;
            }
            if pending.events.is_empty() {
                return Ok(());
            }
            std::mem::swap(&mut batch, &mut pending.events);
            std::mem::swap(&mut completions, &mut pending.completions);
        }
        let t = Instant::now();
        let lost = sink.commit(&batch)?;
        let nanos = t.elapsed().as_nanos() as u64;
        shared.stats.fsyncs.fetch_add(1, Ordering::Relaxed);
        shared.stats.fsync_nanos.fetch_add(nanos, Ordering::Relaxed);
        shared
            .stats
            .records
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        metrics::histogram!("hotdeal_journal_commit_seconds").record(nanos as f64 / 1e9);
        let mut lost_ranges: Vec<(Seq, Seq)> = Vec::new();
        for seq in lost {
            match lost_ranges.last_mut() {
                Some((_, b)) if *b + 1 == seq => *b = seq,
                _ => lost_ranges.push((seq, seq)),
            }
        }
        if !lost_ranges.is_empty() {
            shared
                .lost
                .lock()
                .expect("journal lock")
                .extend(lost_ranges.iter().copied());
            shared.any_lost.store(true, Ordering::Release);
        }
        let last = batch.last().map(|(s, _)| *s).unwrap_or(0);
        shared.durable_tx.send_replace(last);
        shared.applied.fetch_max(last, Ordering::AcqRel);
        for (first, end, done) in completions.drain(..) {
            let refused = lost_ranges.iter().any(|(a, b)| *a <= end && first <= *b);
            done(if refused {
                Err(JournalUnavailable)
            } else {
                Ok(())
            });
        }
        batch.clear();
    }
}

fn timed_sync(shared: &Shared, writer: &mut SegmentWriter) -> anyhow::Result<()> {
    let t = Instant::now();
    writer.file.sync_data().context("fsync of the journal")?;
    let nanos = t.elapsed().as_nanos() as u64;
    shared.stats.fsyncs.fetch_add(1, Ordering::Relaxed);
    shared.stats.fsync_nanos.fetch_add(nanos, Ordering::Relaxed);
    metrics::histogram!("hotdeal_journal_fsync_seconds").record(nanos as f64 / 1e9);
    metrics::counter!("hotdeal_journal_fsyncs_total").increment(1);
    Ok(())
}

/// Segment files in `dir`, oldest first, with their first sequence.
pub fn list_segments(dir: &Path) -> anyhow::Result<Vec<(Seq, PathBuf)>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if let Some(stem) = name.strip_suffix(".seg")
            && let Ok(first) = stem.parse::<Seq>()
        {
            out.push((first, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

fn remove_covered_segments(dir: &Path, covered: Seq) -> anyhow::Result<usize> {
    let segments = list_segments(dir)?;
    let mut removed = 0;
    for pair in segments.windows(2) {
        let last_in_segment = pair[1].0.saturating_sub(1);
        if last_in_segment <= covered {
            std::fs::remove_file(&pair[0].1)
                .with_context(|| format!("removing {}", pair[0].1.display()))?;
            removed += 1;
        } else {
            break;
        }
    }
    Ok(removed)
}

/// What reading the journal found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReadReport {
    pub segments: usize,
    pub records: u64,
    pub last_seq: Seq,
    /// Bytes cut from a torn or corrupt tail.
    pub truncated_bytes: u64,
    /// Segments set aside because an earlier one was corrupt.
    pub skipped_segments: Vec<PathBuf>,
}

/// How a segment's records end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tail {
    /// At the end of the file.
    Clean,
    /// Followed only by zero bytes: space preallocated and never written (a crash before the
    /// segment was sealed). Not corruption.
    Zeros,
    /// Followed by a torn or corrupt record.
    Corrupt,
}

/// What one segment holds.
struct SegmentScan {
    /// The end of the last valid record.
    end: u64,
    file_len: u64,
    records: u64,
    last_seq: Seq,
    tail: Tail,
}

/// Read a segment's valid records, in order, calling `f` for each.
fn scan_segment(path: &Path, mut f: impl FnMut(Seq, Event)) -> anyhow::Result<SegmentScan> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let file_len = file.metadata()?.len();
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut scan = SegmentScan {
        end: 0,
        file_len,
        records: 0,
        last_seq: 0,
        tail: Tail::Clean,
    };
    let mut header = [0u8; RECORD_HEADER];
    let mut payload = Vec::new();
    loop {
        if scan.end == file_len {
            scan.tail = Tail::Clean;
            return Ok(scan);
        }
        scan.tail = Tail::Corrupt;
        let got = read_exact_or_eof(&mut reader, &mut header)?;
        if got < RECORD_HEADER {
            if header[..got].iter().all(|b| *b == 0) {
                scan.tail = Tail::Zeros;
            }
            return Ok(scan);
        }
        if header == [0u8; RECORD_HEADER] {
            if rest_is_zero(&mut reader)? {
                scan.tail = Tail::Zeros;
            }
            return Ok(scan);
        }
        let len = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
        if len == 0 || len > MAX_RECORD_BYTES {
            return Ok(scan);
        }
        payload.resize(len, 0);
        if read_exact_or_eof(&mut reader, &mut payload)? < len || crc32c::crc32c(&payload) != crc {
            return Ok(scan);
        }
        let decoded: Result<((Seq, Event), usize), _> =
            bincode::serde::decode_from_slice(&payload, bincode_config());
        let Ok(((seq, event), _)) = decoded else {
            return Ok(scan);
        };
        scan.end += (RECORD_HEADER + len) as u64;
        scan.records += 1;
        scan.last_seq = scan.last_seq.max(seq);
        f(seq, event);
    }
}

fn rest_is_zero(reader: &mut impl Read) -> std::io::Result<bool> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = read_exact_or_eof(reader, &mut buf)?;
        if buf[..n].iter().any(|b| *b != 0) {
            return Ok(false);
        }
        if n < buf.len() {
            return Ok(true);
        }
    }
}

/// Read every record with a sequence above `after`, in order, calling `f` for each; truncates a
/// torn or corrupt tail (and sets aside any later segment, renamed `.skipped`), and cuts the
/// unwritten preallocated space a crash left after the last record.
pub fn read_journal(
    dir: &Path,
    after: Seq,
    mut f: impl FnMut(Seq, Event),
) -> anyhow::Result<ReadReport> {
    let segments = list_segments(dir)?;
    let mut report = ReadReport::default();
    let mut corrupt_from: Option<usize> = None;
    for (index, (_, path)) in segments.iter().enumerate() {
        report.segments += 1;
        let scan = scan_segment(path, |seq, event| {
            if seq > after {
                f(seq, event);
            }
        })?;
        report.records += scan.records;
        report.last_seq = report.last_seq.max(scan.last_seq);
        let cut = scan.file_len - scan.end;
        match scan.tail {
            Tail::Clean => continue,
            Tail::Zeros => {
                tracing::debug!(segment = %path.display(), cut_bytes = cut, "cutting unwritten journal space");
            }
            Tail::Corrupt => {
                report.truncated_bytes += cut;
                tracing::warn!(
                    segment = %path.display(),
                    kept_bytes = scan.end,
                    cut_bytes = cut,
                    "journal tail is torn or corrupt; truncating it"
                );
                corrupt_from = Some(index + 1);
            }
        }
        let file = OpenOptions::new().write(true).open(path)?;
        file.set_len(scan.end)?;
        file.sync_all()?;
        if corrupt_from.is_some() {
            break;
        }
    }
    if let Some(from) = corrupt_from {
        for (_, path) in &segments[from..] {
            let mut skipped = path.clone().into_os_string();
            skipped.push(".skipped");
            let skipped = PathBuf::from(skipped);
            tracing::error!(segment = %path.display(), "setting aside a journal segment after a corrupt one");
            std::fs::rename(path, &skipped)?;
            report.skipped_segments.push(skipped);
        }
        sync_dir(dir);
    }
    Ok(report)
}

fn read_exact_or_eof(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{CampaignId, UserId};
    use std::io::Write;

    fn issued(n: i64) -> Event {
        Event::CouponIssued {
            campaign: CampaignId(uuid::Uuid::from_u128(7)),
            user: UserId(uuid::Uuid::from_u128(n as u128)),
            at_ms: n,
        }
    }

    #[test]
    fn the_outbox_hands_out_events_in_order_across_its_chunks() {
        let mut outbox = Outbox::default();
        let numbered = |from: u64, to: u64| -> Vec<(Seq, Event)> {
            (from..=to).map(|s| (s, issued(s as i64))).collect()
        };
        outbox.add(numbered(1, 3));
        outbox.add(Vec::new());
        for s in 4..=OUTBOX_CHUNK as u64 + 10 {
            outbox.push((s, issued(s as i64)));
        }
        outbox.add(numbered(OUTBOX_CHUNK as u64 + 11, OUTBOX_CHUNK as u64 + 12));
        let total = OUTBOX_CHUNK + 12;
        assert_eq!(outbox.len(), total);
        let seqs = |events: &[(Seq, Event)]| events.iter().map(|(s, _)| *s).collect::<Vec<_>>();
        // part of the first chunk, then across chunks
        let first = outbox.take(2);
        assert_eq!(seqs(&first), vec![1, 2]);
        let next = outbox.take(5);
        assert_eq!(seqs(&next), vec![3, 4, 5, 6, 7]);
        // a refused batch goes back in front, whole
        outbox.untake(next);
        assert_eq!(outbox.len(), total - 2);
        let rest = outbox.take(usize::MAX);
        assert_eq!(seqs(&rest), (3..=total as u64).collect::<Vec<_>>());
        assert_eq!(outbox.len(), 0);
        assert!(outbox.take(10).is_empty());
    }

    #[test]
    fn recovered_chunks_keep_their_order_and_only_what_follows_the_checkpoint() {
        let mut chunks = EventChunks::default();
        assert!(chunks.is_empty());
        let n = 2 * OUTBOX_CHUNK as u64 + 5;
        for s in 1..=n {
            chunks.push(s, issued(s as i64));
        }
        assert_eq!(chunks.len(), n as usize);
        assert_eq!(
            chunks.chunks.len(),
            3,
            "full chunks are never grown past their size"
        );
        let seqs: Vec<Seq> = chunks.iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, (1..=n).collect::<Vec<_>>());
        // a checkpoint inside the second chunk: the first goes whole, the second in part
        let checkpoint = OUTBOX_CHUNK as u64 + 3;
        chunks.retain_after(checkpoint);
        assert_eq!(chunks.len(), (n - checkpoint) as usize);
        assert_eq!(chunks.chunks.len(), 2);
        let seqs: Vec<Seq> = chunks.iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, (checkpoint + 1..=n).collect::<Vec<_>>());
        let mut all = EventChunks::default();
        all.push(1, issued(1));
        all.retain_after(1);
        assert!(all.is_empty());
    }

    #[tokio::test]
    async fn requeued_chunks_reach_the_writebehind_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(&options(dir.path(), Durability::Sync, 1 << 20), 0).unwrap();
        let mut chunks = EventChunks::default();
        let n = OUTBOX_CHUNK as u64 + 7;
        for s in 1..=n {
            chunks.push(s, issued(s as i64));
        }
        journal.requeue_for_writebehind(chunks);
        assert_eq!(journal.outbox_len(), n as usize);
        let taken = journal.take_written(usize::MAX);
        let seqs: Vec<Seq> = taken.iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, (1..=n).collect::<Vec<_>>());
        journal.close();
    }

    fn options(dir: &Path, mode: Durability, segment_bytes: u64) -> JournalOptions {
        JournalOptions {
            dir: dir.to_path_buf(),
            mode,
            segment_bytes,
            async_fsync_interval: Duration::from_millis(5),
        }
    }

    #[tokio::test]
    async fn appended_events_are_durable_and_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(&options(dir.path(), Durability::Sync, 1 << 20), 0).unwrap();
        let mut last = 0;
        for i in 1..=100 {
            last = journal.append(issued(i));
        }
        journal.wait_durable(last).await.unwrap();
        assert_eq!(journal.durable(), 100);
        journal.close();
        let mut seen = Vec::new();
        let report = read_journal(dir.path(), 0, |seq, e| seen.push((seq, e))).unwrap();
        assert_eq!(report.records, 100);
        assert_eq!(report.last_seq, 100);
        assert_eq!(seen.len(), 100);
        assert!(
            seen.iter()
                .enumerate()
                .all(|(i, (s, e))| *s == i as u64 + 1 && *e == issued(i as i64 + 1))
        );
        // only after a given sequence
        let mut count = 0;
        read_journal(dir.path(), 90, |_, _| count += 1).unwrap();
        assert_eq!(count, 10);
    }

    #[tokio::test]
    async fn a_batch_is_numbered_in_order_and_answered_once_durable() {
        for mode in [Durability::Sync, Durability::Async, Durability::None] {
            let dir = tempfile::tempdir().unwrap();
            let journal = Journal::open(&options(dir.path(), mode, 1 << 20), 0).unwrap();
            journal.append(issued(1));
            let (tx, rx) = tokio::sync::oneshot::channel();
            let j = journal.clone();
            let last = journal.append_batch(
                (2..=11).map(issued).collect(),
                Box::new(move |res| {
                    // in sync mode the batch is on disk before its callers hear of it
                    let _ = tx.send((res.is_ok(), j.durable()));
                }),
            );
            assert_eq!(last, Some(11), "{mode:?}");
            let (ok, durable_then) = rx.await.unwrap();
            assert!(ok, "{mode:?}");
            if mode == Durability::Sync {
                assert!(durable_then >= 11, "answered before its fsync");
            }
            assert_eq!(journal.append(issued(12)), 12);
            // an empty batch takes no sequence and is answered at once
            let (tx, rx) = tokio::sync::oneshot::channel();
            let none = journal.append_batch(
                Vec::new(),
                Box::new(move |res| {
                    let _ = tx.send(res.is_ok());
                }),
            );
            assert_eq!(none, None);
            assert!(rx.await.unwrap());
            if mode == Durability::None {
                continue;
            }
            journal.wait_durable(12).await.unwrap();
            journal.close();
            let mut seen = Vec::new();
            read_journal(dir.path(), 0, |seq, e| seen.push((seq, e))).unwrap();
            let expected: Vec<(Seq, Event)> = (1..=12).map(|i| (i as u64, issued(i))).collect();
            assert_eq!(seen, expected, "{mode:?}");
        }
    }

    #[tokio::test]
    async fn a_torn_tail_is_truncated_and_appending_continues() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(&options(dir.path(), Durability::Sync, 1 << 20), 0).unwrap();
        for i in 1..=10 {
            let s = journal.append(issued(i));
            journal.wait_durable(s).await.unwrap();
        }
        journal.close();
        drop(journal);
        let (_, seg) = list_segments(dir.path()).unwrap().pop().unwrap();
        // a half-written record, then garbage
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&[40, 0, 0, 0, 1, 2, 3, 4, 9, 9]).unwrap();
        drop(f);
        let report = read_journal(dir.path(), 0, |_, _| {}).unwrap();
        assert_eq!(report.records, 10);
        assert_eq!(report.truncated_bytes, 10);
        let journal = Journal::open(
            &options(dir.path(), Durability::Sync, 1 << 20),
            report.last_seq,
        )
        .unwrap();
        let s = journal.append(issued(11));
        assert_eq!(s, 11);
        journal.wait_durable(s).await.unwrap();
        journal.close();
        let report = read_journal(dir.path(), 0, |_, _| {}).unwrap();
        assert_eq!(
            (report.records, report.last_seq, report.truncated_bytes),
            (11, 11, 0)
        );
    }

    #[tokio::test]
    async fn preallocated_space_left_by_a_crash_is_not_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(&options(dir.path(), Durability::Sync, 1 << 30), 0).unwrap();
        for i in 1..=20 {
            let s = journal.append(issued(i));
            journal.wait_durable(s).await.unwrap();
        }
        // What a kill -9 leaves: the live segment with its zero-filled space after the records.
        let (_, seg) = list_segments(dir.path()).unwrap().pop().unwrap();
        let live = std::fs::read(&seg).unwrap();
        journal.close();
        let sealed_len = std::fs::metadata(&seg).unwrap().len();
        assert!(
            live.len() as u64 > sealed_len,
            "the live segment is preallocated ({} bytes) beyond its records ({sealed_len})",
            live.len()
        );
        let crashed = tempfile::tempdir().unwrap();
        let copy = crashed.path().join(seg.file_name().unwrap());
        std::fs::write(&copy, &live).unwrap();
        let report = read_journal(crashed.path(), 0, |_, _| {}).unwrap();
        assert_eq!((report.records, report.last_seq), (20, 20));
        assert_eq!(report.truncated_bytes, 0, "zeros are not a torn tail");
        assert_eq!(std::fs::metadata(&copy).unwrap().len(), sealed_len);

        // Garbage after the zeros is corruption again.
        let mut bad = live.clone();
        let n = bad.len();
        bad[n - 3] = 7;
        std::fs::write(&copy, &bad).unwrap();
        let report = read_journal(crashed.path(), 0, |_, _| {}).unwrap();
        assert_eq!(report.records, 20);
        assert_eq!(report.truncated_bytes, n as u64 - sealed_len);
    }

    #[tokio::test]
    async fn reopening_a_segment_continues_after_its_records() {
        let dir = tempfile::tempdir().unwrap();
        let opts = options(dir.path(), Durability::Sync, 1 << 30);
        let journal = Journal::open(&opts, 0).unwrap();
        // Nothing appended: the next open reuses the same (empty) segment name.
        journal.close();
        drop(journal);
        for round in 0..2u64 {
            let journal = Journal::open(&opts, round * 3).unwrap();
            for i in 1..=3 {
                let s = journal.append(issued((round * 3 + i) as i64));
                journal.wait_durable(s).await.unwrap();
            }
            journal.close();
        }
        let mut seqs = Vec::new();
        let report = read_journal(dir.path(), 0, |s, _| seqs.push(s)).unwrap();
        assert_eq!(seqs, (1..=6).collect::<Vec<_>>());
        assert_eq!(report.truncated_bytes, 0);
    }

    #[tokio::test]
    async fn a_flipped_bit_stops_replay_at_the_last_good_record() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(&options(dir.path(), Durability::Sync, 1 << 20), 0).unwrap();
        for i in 1..=5 {
            let s = journal.append(issued(i));
            journal.wait_durable(s).await.unwrap();
        }
        journal.close();
        drop(journal);
        let (_, seg) = list_segments(dir.path()).unwrap().pop().unwrap();
        let mut bytes = std::fs::read(&seg).unwrap();
        let n = bytes.len();
        bytes[n - 2] ^= 0x40;
        std::fs::write(&seg, &bytes).unwrap();
        let report = read_journal(dir.path(), 0, |_, _| {}).unwrap();
        assert_eq!(report.records, 4);
        assert!(report.truncated_bytes > 0);
    }

    #[tokio::test]
    async fn segments_roll_over_and_covered_ones_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(&options(dir.path(), Durability::Sync, 256), 0).unwrap();
        for i in 1..=60 {
            let s = journal.append(issued(i));
            journal.wait_durable(s).await.unwrap();
        }
        let before = list_segments(dir.path()).unwrap().len();
        assert!(before > 2, "expected several segments, got {before}");
        let removed = journal.remove_covered(30).unwrap();
        assert!(removed >= 1);
        let mut first = None;
        let report = read_journal(dir.path(), 0, |s, _| {
            first.get_or_insert(s);
        })
        .unwrap();
        assert!(
            first.unwrap() <= 31,
            "events after the covered point must remain"
        );
        assert_eq!(report.last_seq, 60);
        journal.close();
    }

    #[tokio::test]
    async fn the_writebehind_outbox_gets_every_event_in_order() {
        for mode in [Durability::Sync, Durability::Async, Durability::None] {
            let dir = tempfile::tempdir().unwrap();
            let journal = Journal::open(&options(dir.path(), mode, 1 << 20), 0).unwrap();
            for i in 1..=50 {
                journal.append(issued(i));
            }
            let mut got = Vec::new();
            while got.len() < 50 {
                let batch = journal.take_written(7);
                if batch.is_empty() {
                    tokio::time::timeout(Duration::from_secs(5), journal.outbox_ready())
                        .await
                        .expect("writer makes progress");
                }
                got.extend(batch.into_iter().map(|(s, _)| s));
            }
            assert_eq!(got, (1..=50).collect::<Vec<_>>(), "{mode:?}");
            journal.close();
        }
    }
}
