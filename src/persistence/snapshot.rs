//! Snapshots: the state of every item and campaign actor, written atomically, to bound recovery.
//!
//! File layout: a 40-byte header then a bincode body.
//! Header: `magic "HOTDEAL\0" | format version u32 | sequence u64 | created_at_ms i64 |
//! body length u64 | crc32c(body) u32` (little endian). The sequence is the journal sequence
//! read before the actors were asked for their state; every entity also records the last sequence
//! it had applied, so replay after the snapshot is exact per entity.
//! Files are written to a temp name, fsynced, renamed into place, and the folder fsynced.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use super::journal::Seq;
use crate::domain::Millis;
use crate::domain::campaign::CampaignLedger;
use crate::domain::ids::{CampaignId, ItemId};
use crate::domain::item::ItemLedger;
use crate::domain::order::Order;

const MAGIC: &[u8; 8] = b"HOTDEAL\0";
/// Bumped whenever the body's encoding changes (3: a time sale records the orders that took
/// units from its installation; 4: a campaign records the order each used coupon is on).
pub const FORMAT_VERSION: u32 = 4;
const HEADER_LEN: usize = 40;

/// A campaign in a snapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CampaignSnapshot {
    pub id: CampaignId,
    pub ledger: CampaignLedger,
    pub last_seq: Seq,
}

/// An item in a snapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ItemSnapshot {
    pub id: ItemId,
    pub ledger: ItemLedger,
    pub last_seq: Seq,
}

/// An order in a snapshot (active ones, and completed ones still inside the refund window).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderSnapshot {
    pub order: Order,
    pub last_seq: Seq,
}

/// Everything a snapshot holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SnapshotBody {
    pub campaigns: Vec<CampaignSnapshot>,
    pub items: Vec<ItemSnapshot>,
    pub orders: Vec<OrderSnapshot>,
}

/// A snapshot file's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SnapshotHeader {
    pub format_version: u32,
    pub seq: Seq,
    pub created_at_ms: Millis,
    pub body_len: u64,
    pub crc32c: u32,
}

/// A snapshot file on disk.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotFile {
    pub path: PathBuf,
    pub seq: Seq,
    pub created_at_ms: Millis,
    pub size_bytes: u64,
}

fn file_name(seq: Seq, created_at_ms: Millis) -> String {
    format!("snapshot-{seq:020}-{created_at_ms}.bin")
}

/// Write `body` as a snapshot at `seq` into `dir`; returns the file.
pub fn write_snapshot(
    dir: &Path,
    seq: Seq,
    created_at_ms: Millis,
    body: &SnapshotBody,
) -> anyhow::Result<SnapshotFile> {
    super::create_private_dir(dir)?;
    let payload = bincode::serde::encode_to_vec(body, bincode::config::standard())
        .context("encoding the snapshot")?;
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    header.extend_from_slice(&seq.to_le_bytes());
    header.extend_from_slice(&created_at_ms.to_le_bytes());
    header.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    header.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
    debug_assert_eq!(header.len(), HEADER_LEN);

    let name = file_name(seq, created_at_ms);
    let tmp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(&name);
    {
        let mut f = super::private_file_options()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(&header)?;
        f.write_all(&payload)?;
        f.sync_all().context("fsync of the snapshot")?;
    }
    std::fs::rename(&tmp, &path).context("renaming the snapshot into place")?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(SnapshotFile {
        size_bytes: (HEADER_LEN + payload.len()) as u64,
        path,
        seq,
        created_at_ms,
    })
}

/// Read and verify only the header of a snapshot file.
pub fn read_header(path: &Path) -> anyhow::Result<SnapshotHeader> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut h = [0u8; HEADER_LEN];
    f.read_exact(&mut h)
        .context("snapshot header is truncated")?;
    parse_header(&h)
}

fn parse_header(h: &[u8]) -> anyhow::Result<SnapshotHeader> {
    if h.len() < HEADER_LEN || &h[0..8] != MAGIC {
        bail!("not a hotdeal snapshot (bad magic)");
    }
    let u32_at = |i: usize| u32::from_le_bytes(h[i..i + 4].try_into().expect("4 bytes"));
    let u64_at = |i: usize| u64::from_le_bytes(h[i..i + 8].try_into().expect("8 bytes"));
    let header = SnapshotHeader {
        format_version: u32_at(8),
        seq: u64_at(12),
        created_at_ms: u64_at(20) as i64,
        body_len: u64_at(28),
        crc32c: u32_at(36),
    };
    if header.format_version != FORMAT_VERSION {
        bail!(
            "snapshot format version {} is not supported (expected {FORMAT_VERSION})",
            header.format_version
        );
    }
    Ok(header)
}

/// Read and verify a whole snapshot.
pub fn read_snapshot(path: &Path) -> anyhow::Result<(SnapshotHeader, SnapshotBody)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let header = parse_header(&bytes)?;
    let body = &bytes[HEADER_LEN.min(bytes.len())..];
    if body.len() as u64 != header.body_len {
        bail!(
            "snapshot body is {} bytes, header says {}",
            body.len(),
            header.body_len
        );
    }
    if crc32c::crc32c(body) != header.crc32c {
        bail!("snapshot checksum mismatch");
    }
    let (decoded, _): (SnapshotBody, usize) =
        bincode::serde::decode_from_slice(body, bincode::config::standard())
            .context("decoding the snapshot body")?;
    for c in &decoded.campaigns {
        c.ledger.check();
    }
    for i in &decoded.items {
        i.ledger.check();
    }
    Ok((header, decoded))
}

/// Snapshot files in `dir`, newest (highest sequence, then newest) first.
pub fn list_snapshots(dir: &Path) -> anyhow::Result<Vec<SnapshotFile>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(rest) = name
            .strip_prefix("snapshot-")
            .and_then(|r| r.strip_suffix(".bin"))
        else {
            continue;
        };
        let Some((seq, created)) = rest.split_once('-') else {
            continue;
        };
        let (Ok(seq), Ok(created_at_ms)) = (seq.parse::<Seq>(), created.parse::<Millis>()) else {
            continue;
        };
        out.push(SnapshotFile {
            size_bytes: entry.metadata().map(|m| m.len()).unwrap_or(0),
            path: entry.path(),
            seq,
            created_at_ms,
        });
    }
    out.sort_by_key(|f| std::cmp::Reverse((f.seq, f.created_at_ms)));
    Ok(out)
}

/// The newest snapshot that reads back whole; corrupt newer ones are logged and skipped.
pub fn latest_valid(
    dir: &Path,
) -> anyhow::Result<Option<(SnapshotFile, SnapshotHeader, SnapshotBody)>> {
    for file in list_snapshots(dir)? {
        match read_snapshot(&file.path) {
            Ok((header, body)) => return Ok(Some((file, header, body))),
            Err(err) => tracing::error!(
                snapshot = %file.path.display(),
                error = %format!("{err:#}"),
                "skipping an unreadable snapshot"
            ),
        }
    }
    Ok(None)
}

/// Delete all but the newest `keep` snapshots.
pub fn prune(dir: &Path, keep: usize) -> anyhow::Result<usize> {
    let files = list_snapshots(dir)?;
    let mut removed = 0;
    for f in files.iter().skip(keep.max(1)) {
        std::fs::remove_file(&f.path).with_context(|| format!("removing {}", f.path.display()))?;
        removed += 1;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::campaign::{CampaignConfig, CampaignStatus};
    use crate::domain::ids::UserId;
    use crate::domain::item::ItemConfig;

    fn body() -> SnapshotBody {
        let mut c = CampaignLedger::new(
            CampaignConfig {
                quantity: 10,
                discount_amount: 100,
                min_order_amount: 0,
                expires_at_ms: i64::MAX,
                company_id: None,
                issue_start_ms: None,
                issue_end_ms: None,
            },
            CampaignStatus::Issued,
        );
        c.issue(UserId::new(), 0);
        SnapshotBody {
            campaigns: vec![CampaignSnapshot {
                id: CampaignId::new(),
                ledger: c,
                last_seq: 7,
            }],
            items: vec![ItemSnapshot {
                id: ItemId::new(),
                ledger: ItemLedger::new(
                    ItemConfig {
                        price: 5,
                        on_sale: true,
                    },
                    3,
                ),
                last_seq: 9,
            }],
            orders: vec![],
        }
    }

    #[test]
    fn round_trip_list_and_prune() {
        let dir = tempfile::tempdir().unwrap();
        let a = write_snapshot(dir.path(), 10, 1_000, &body()).unwrap();
        let b = write_snapshot(dir.path(), 20, 2_000, &body()).unwrap();
        let listed = list_snapshots(dir.path()).unwrap();
        assert_eq!(
            listed.iter().map(|f| f.seq).collect::<Vec<_>>(),
            vec![20, 10]
        );
        let (h, decoded) = read_snapshot(&b.path).unwrap();
        assert_eq!((h.seq, h.created_at_ms), (20, 2_000));
        assert_eq!(decoded.campaigns[0].ledger.issued_count(), 1);
        assert_eq!(decoded.items[0].last_seq, 9);
        assert_eq!(prune(dir.path(), 1).unwrap(), 1);
        assert!(!a.path.exists());
    }

    #[test]
    fn a_corrupt_newest_snapshot_falls_back_to_the_previous_one() {
        let dir = tempfile::tempdir().unwrap();
        write_snapshot(dir.path(), 10, 1_000, &body()).unwrap();
        let newest = write_snapshot(dir.path(), 20, 2_000, &body()).unwrap();
        let mut bytes = std::fs::read(&newest.path).unwrap();
        let n = bytes.len();
        bytes[n - 3] ^= 0xff;
        std::fs::write(&newest.path, bytes).unwrap();
        assert!(read_snapshot(&newest.path).is_err());
        let (file, header, _) = latest_valid(dir.path()).unwrap().unwrap();
        assert_eq!((file.seq, header.seq), (10, 10));
    }
}
