//! `hotdeal snapshot create|list|inspect`, and the check `restore` makes before it serves.

use std::path::Path;

use anyhow::Context;
use serde_json::json;

use super::client::signature_mismatch;
use super::{SnapshotCommand, SnapshotDirArgs};
use crate::config::Config;
use crate::domain::ids::UserId;
use crate::http::auth::Role;
use crate::persistence::recovery::check_snapshot;
use crate::persistence::repo::SqlStore;
use crate::persistence::snapshot::{list_snapshots, read_snapshot};

pub async fn run(cmd: SnapshotCommand) -> anyhow::Result<()> {
    match cmd {
        SnapshotCommand::Create(server) => {
            let url = server.base_url();
            let secret = server.secret.load()?;
            let token = secret.keys().mint_access(
                UserId(uuid::Uuid::nil()),
                "cli@hotdeal.local",
                Role::Master,
                chrono::Utc::now().timestamp_millis(),
                60,
            )?;
            let res = crate::client::Client::new(&url)?
                .with_token(&token)
                .create_snapshot()
                .ok()
                .await
                .map_err(|err| match signature_mismatch(&err, &url, &secret) {
                    Some(refused) => refused,
                    None if matches!(err, crate::client::Error::Transport { .. }) => {
                        anyhow::Error::new(err).context(format!(
                            "reaching the server at {url} (give its address with --url)"
                        ))
                    }
                    None => err.into(),
                })?;
            let body = res.body;
            println!("{}", serde_json::to_string_pretty(&body["data"])?);
            Ok(())
        }
        SnapshotCommand::List(SnapshotDirArgs { snapshot_dir }) => {
            let files = list_snapshots(&snapshot_dir)?;
            if files.is_empty() {
                println!("no snapshots in {}", snapshot_dir.display());
            }
            println!(
                "{:>20}  {:<24}  {:>12}  path",
                "sequence", "created (UTC)", "bytes"
            );
            for f in files {
                let created = chrono::DateTime::from_timestamp_millis(f.created_at_ms)
                    .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
                    .unwrap_or_default();
                println!(
                    "{:>20}  {:<24}  {:>12}  {}",
                    f.seq,
                    created,
                    f.size_bytes,
                    f.path.display()
                );
            }
            Ok(())
        }
        SnapshotCommand::Inspect { file, dir } => {
            let path = match file {
                Some(p) => p,
                None => list_snapshots(&dir.snapshot_dir)?
                    .into_iter()
                    .next()
                    .map(|f| f.path)
                    .context("no snapshots to inspect")?,
            };
            let (header, body) = read_snapshot(&path)?;
            let campaigns: Vec<_> = body
                .campaigns
                .iter()
                .map(|c| {
                    json!({
                        "id": c.id,
                        "status": c.ledger.status.as_str(),
                        "quantity": c.ledger.config.quantity,
                        "issuedCount": c.ledger.issued_count(),
                        "lastSeq": c.last_seq,
                    })
                })
                .collect();
            let items: Vec<_> = body
                .items
                .iter()
                .map(|i| {
                    let l = i.ledger.levels();
                    json!({
                        "id": i.id,
                        "total": l.total,
                        "available": l.available,
                        "reserved": l.reserved,
                        "sold": l.sold,
                        "reservations": i.ledger.reservations().count(),
                        "saleRemaining": i.ledger.sale().map(|s| s.remaining),
                        "lastSeq": i.last_seq,
                    })
                })
                .collect();
            let summary = json!({
                "path": path,
                "formatVersion": header.format_version,
                "seq": header.seq,
                "createdAtMs": header.created_at_ms,
                "bodyBytes": header.body_len,
                "crc32c": format!("{:08x}", header.crc32c),
                "campaignCount": campaigns.len(),
                "itemCount": items.len(),
                "issuedCouponsTotal": body.campaigns.iter().map(|c| c.ledger.issued_count()).sum::<i64>(),
                "campaigns": campaigns,
                "items": items,
            });
            println!("{}", serde_json::to_string_pretty(&summary)?);
            Ok(())
        }
        SnapshotCommand::Restore(_) => unreachable!("handled by the caller"),
    }
}

/// Before `hotdeal snapshot restore` serves: refuse (unless `force`) when the database does not
/// hold what the snapshot at `file` needs, saying what is missing and what to do.
pub async fn check_restore(config: &Config, file: &Path, force: bool) -> anyhow::Result<()> {
    let db = crate::startup::connect_db(config).await?;
    db.migrate().await?;
    let store = SqlStore::new(db);
    let problems = check_snapshot(&store, &config.journal_options(), file).await?;
    if problems.is_empty() {
        return Ok(());
    }
    let list: String = problems.iter().map(|p| format!("\n  - {p}")).collect();
    let database = redact(&config.database_url);
    if force {
        tracing::error!(
            snapshot = %file.display(),
            database = %database,
            "restoring with --force although the database does not match the snapshot:{list}"
        );
        return Ok(());
    }
    anyhow::bail!(
        "refusing to restore {}: the database {database} does not match it:{list}\n\
         Point --database-url (DATABASE_URL) at the database this snapshot was taken from, and \
         --data-dir (HOTDEAL_DATA_DIR) at the data dir holding its journal; or pass --force to \
         serve anyway (/readyz then answers 503 with these reasons).",
        file.display()
    )
}

/// A database URL without its password.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &creds[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_passwords_are_not_shown() {
        assert_eq!(
            super::redact("mysql://root:secret@db:3306/x"),
            "mysql://root:***@db:3306/x"
        );
        assert_eq!(super::redact("mysql://root@db/x"), "mysql://root@db/x");
        assert_eq!(
            super::redact("sqlite://data/hotdeal.db"),
            "sqlite://data/hotdeal.db"
        );
    }
}
