//! `hotdeal snapshot create|list|inspect`.

use anyhow::Context;
use serde_json::json;

use super::SnapshotCommand;
use crate::config::Config;
use crate::domain::ids::UserId;
use crate::http::auth::{JwtKeys, Role};
use crate::persistence::snapshot::{list_snapshots, read_snapshot};

pub async fn run(config: &Config, cmd: SnapshotCommand) -> anyhow::Result<()> {
    match cmd {
        SnapshotCommand::Create { url } => {
            let url = url.unwrap_or_else(|| format!("http://{}", config.http_addr));
            let keys = JwtKeys::new(&config.load_or_create_jwt_secret()?);
            let token = keys.mint_access(
                UserId(uuid::Uuid::nil()),
                "cli@hotdeal.local",
                Role::Master,
                chrono::Utc::now().timestamp_millis(),
                60,
            )?;
            let res = reqwest::Client::new()
                .post(format!(
                    "{}/api/v1/admin/snapshots",
                    url.trim_end_matches('/')
                ))
                .bearer_auth(token)
                .send()
                .await
                .with_context(|| format!("reaching the server at {url}"))?;
            let status = res.status();
            let body: serde_json::Value = res.json().await.unwrap_or_default();
            anyhow::ensure!(status.is_success(), "server answered {status}: {body}");
            println!("{}", serde_json::to_string_pretty(&body["data"])?);
            Ok(())
        }
        SnapshotCommand::List => {
            let files = list_snapshots(&config.snapshot_dir)?;
            if files.is_empty() {
                println!("no snapshots in {}", config.snapshot_dir.display());
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
        SnapshotCommand::Inspect { file } => {
            let path = match file {
                Some(p) => p,
                None => list_snapshots(&config.snapshot_dir)?
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
        SnapshotCommand::Restore { .. } => unreachable!("handled by the caller"),
    }
}
