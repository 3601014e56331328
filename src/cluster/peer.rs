//! Calls between nodes for orders that span partitions.
//!
//! An order lives on the node of its lowest item's partition (the HTTP layer forwards it there).
//! Its other lines may belong to partitions other nodes own: that node reserves, confirms,
//! releases or restocks them, and uses or recovers the order's coupon, through one signed
//! `POST /internal/v1/peer` call per step. The owner answers once its own decision is durable
//! (committed in the database, fenced by its lease), so the calling node can count a remote
//! step done as soon as it returns. A call never travels further: a node that no longer owns
//! the entity answers `NotOwner`, and the order is refused with 503 after its compensations.
//!
//! All-or-nothing holds as on one node: lines are reserved in item id order, and whatever was
//! reserved is released when a later line is refused or its owner cannot be reached. A release
//! that cannot be delivered either (the owner was killed) is not lost: every reservation carries
//! its deadline, and the partition's next owner expires it from the database.
//!
//! Calls are signed with an HMAC of the body under a key derived from the shared JWT secret, with
//! the send time and a random nonce inside the signed text; a node refuses a call whose signature
//! does not match, whose time is more than [`MAX_SKEW_MS`] away from its own clock, or whose nonce
//! it has already accepted (a replayed call).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use serde::{Deserialize, Serialize};

use crate::domain::campaign::{CampaignCommand, CampaignOutcome};
use crate::domain::ids::{CampaignId, CompanyId, ItemId};
use crate::domain::item::{ItemCommand, ItemOutcome};
use crate::engine::EngineError;

/// The path every peer call is posted to.
pub const PEER_PATH: &str = "/internal/v1/peer";
/// The header carrying `<send time ms>.<nonce>.<signature>`.
pub const PEER_AUTH_HEADER: &str = "x-hotdeal-peer-auth";
/// How far a call's send time may be from the receiver's clock.
pub const MAX_SKEW_MS: i64 = 30_000;
/// How long a caller waits for a peer's answer.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// The most nonces a node remembers (those of the last [`MAX_SKEW_MS`] on each side of its clock).
/// Past it, calls are refused as busy until older ones age out: the memory stays bounded whatever
/// the call rate.
const MAX_REMEMBERED_NONCES: usize = 1_000_000;

/// One step of an order, asked of the node that owns the entity: the same command its actor
/// would be sent on that node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum PeerCall {
    /// Decide `command` on the item's actor (durable when answered).
    Item { item: ItemId, command: ItemCommand },
    /// Decide `command` on the campaign's actor (durable when answered).
    Campaign {
        campaign: CampaignId,
        command: CampaignCommand,
    },
    /// The company a campaign's coupons are limited to (`None`: any).
    #[serde(rename_all = "camelCase")]
    CampaignCompany { campaign: CampaignId },
}

/// A peer's answer: the owner's outcome, or why it decided nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PeerAnswer {
    Item(ItemOutcome),
    Campaign(CampaignOutcome),
    Company(Option<CompanyId>),
    Refused(PeerRefusal),
}

/// Why a peer decided nothing, as an [`EngineError`] it can be turned back into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PeerRefusal {
    Busy,
    JournalUnavailable,
    Backlogged,
    NodeLockLost,
    /// The peer does not own the entity (any more).
    NotOwner,
    UnknownItem,
    UnknownCampaign,
    Storage(String),
}

impl From<EngineError> for PeerRefusal {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Busy => PeerRefusal::Busy,
            EngineError::JournalUnavailable => PeerRefusal::JournalUnavailable,
            EngineError::Backlogged => PeerRefusal::Backlogged,
            EngineError::NodeLockLost => PeerRefusal::NodeLockLost,
            EngineError::NotOwner { .. } => PeerRefusal::NotOwner,
            EngineError::UnknownItem => PeerRefusal::UnknownItem,
            EngineError::UnknownCampaign => PeerRefusal::UnknownCampaign,
            EngineError::Storage(err) => PeerRefusal::Storage(format!("{err:#}")),
        }
    }
}

impl From<PeerRefusal> for EngineError {
    fn from(r: PeerRefusal) -> Self {
        match r {
            PeerRefusal::Busy => EngineError::Busy,
            PeerRefusal::JournalUnavailable => EngineError::JournalUnavailable,
            PeerRefusal::Backlogged => EngineError::Backlogged,
            // The peer's own node lock or lease is its problem; for this order the entity has
            // no owner that can decide right now.
            PeerRefusal::NodeLockLost | PeerRefusal::NotOwner => {
                EngineError::NotOwner { owner_url: None }
            }
            PeerRefusal::UnknownItem => EngineError::UnknownItem,
            PeerRefusal::UnknownCampaign => EngineError::UnknownCampaign,
            PeerRefusal::Storage(m) => EngineError::Storage(anyhow::anyhow!("on the owner: {m}")),
        }
    }
}

/// The signing key and the pooled client for calls to other nodes, and the nonces of the calls
/// this node accepted.
pub struct Peers {
    key: hmac::Key,
    client: reqwest::Client,
    node: String,
    seen: Mutex<Nonces>,
}

/// Why a peer call was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not signed with the cluster's key, or sent too far from this node's clock.
    BadSignature,
    /// A call this node has accepted already.
    Replayed,
    /// Too many calls within the signature window to remember.
    Busy,
}

/// The nonces of accepted calls with their send times, forgotten once a call that old would be
/// refused for its time anyway.
#[derive(Default)]
struct Nonces {
    sent_ms: HashMap<[u8; NONCE_BYTES], i64>,
    prune_at: usize,
}

const NONCE_BYTES: usize = 16;

impl Nonces {
    fn accept(
        &mut self,
        nonce: [u8; NONCE_BYTES],
        sent_ms: i64,
        now_ms: i64,
    ) -> Result<(), Refusal> {
        if self.sent_ms.len() >= self.prune_at {
            self.sent_ms
                .retain(|_, sent| (now_ms - *sent).abs() <= MAX_SKEW_MS);
            self.prune_at = (self.sent_ms.len() * 2).max(4_096);
        }
        if self.sent_ms.contains_key(&nonce) {
            return Err(Refusal::Replayed);
        }
        if self.sent_ms.len() >= MAX_REMEMBERED_NONCES {
            return Err(Refusal::Busy);
        }
        self.sent_ms.insert(nonce, sent_ms);
        Ok(())
    }
}

impl Peers {
    /// Peers of node `node`, signing with a key derived from the shared `secret`.
    pub fn new(node: &str, secret: &str) -> anyhow::Result<Peers> {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(32)
            .pool_idle_timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(1))
            .timeout(CALL_TIMEOUT)
            .tcp_nodelay(true)
            .build()?;
        Ok(Peers {
            key: peer_key(secret),
            client,
            node: node.to_string(),
            seen: Mutex::new(Nonces::default()),
        })
    }

    /// Ask the node at `url` (its advertise URL) for `call`. Transport failures and answers
    /// that are not a peer answer count as "no owner could decide" (503 for the shopper).
    pub async fn call(&self, url: &str, call: &PeerCall) -> Result<PeerAnswer, EngineError> {
        let body = serde_json::to_vec(call).map_err(|e| EngineError::Storage(e.into()))?;
        let now = chrono::Utc::now().timestamp_millis();
        let auth = sign(&self.key, now, rand::random(), &body);
        metrics::counter!("hotdeal_cluster_peer_calls_total").increment(1);
        let sent = self
            .client
            .post(format!("{url}{PEER_PATH}"))
            .header(PEER_AUTH_HEADER, auth)
            .header(super::FORWARDED_HEADER, &self.node)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
        let unreachable = |why: String| {
            metrics::counter!("hotdeal_cluster_peer_failures_total").increment(1);
            tracing::warn!(peer = %url, ?call, error = %why, "peer call failed");
            EngineError::NotOwner { owner_url: None }
        };
        let answer = match sent {
            Ok(a) if a.status().is_success() => a,
            Ok(a) if a.status() == reqwest::StatusCode::UNAUTHORIZED => {
                // Not a passing outage: the nodes do not share a key (HOTDEAL_JWT_SECRET
                // differs) or their clocks are further apart than the signature allows. Every
                // call to this peer will fail until an operator fixes it.
                metrics::counter!("hotdeal_cluster_peer_failures_total").increment(1);
                tracing::error!(
                    peer = %url,
                    ?call,
                    max_skew_ms = MAX_SKEW_MS,
                    "the peer refused this node's signature: check that every node has the same \
                     HOTDEAL_JWT_SECRET and that their clocks agree"
                );
                return Err(EngineError::NotOwner { owner_url: None });
            }
            Ok(a) => return Err(unreachable(format!("status {}", a.status()))),
            Err(e) => return Err(unreachable(e.to_string())),
        };
        match answer.json::<PeerAnswer>().await {
            Ok(PeerAnswer::Refused(r)) => Err(r.into()),
            Ok(a) => Ok(a),
            Err(e) => Err(unreachable(e.to_string())),
        }
    }

    /// Accept a call: `auth` (the header) signs `body` with this cluster's key, it was sent
    /// within [`MAX_SKEW_MS`] of `now_ms`, and its nonce was not accepted before.
    pub fn accept(&self, auth: &str, body: &[u8], now_ms: i64) -> Result<(), Refusal> {
        let (nonce, sent_ms) =
            verify(&self.key, auth, body, now_ms).ok_or(Refusal::BadSignature)?;
        self.seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .accept(nonce, sent_ms, now_ms)
    }
}

fn peer_key(secret: &str) -> hmac::Key {
    // A key of its own, so a peer signature can never be mistaken for a token signature.
    let derived = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, b"hotdeal peer calls v1"),
        secret.as_bytes(),
    );
    hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref())
}

fn signed_text(sent_ms: i64, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut text = format!("{sent_ms}.{nonce}.").into_bytes();
    text.extend_from_slice(body);
    text
}

fn sign(key: &hmac::Key, sent_ms: i64, nonce: [u8; NONCE_BYTES], body: &[u8]) -> String {
    let nonce = URL_SAFE_NO_PAD.encode(nonce);
    let tag = hmac::sign(key, &signed_text(sent_ms, &nonce, body));
    format!("{sent_ms}.{nonce}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

/// The nonce and send time of a call signed with `key`, sent within [`MAX_SKEW_MS`] of `now_ms`.
fn verify(
    key: &hmac::Key,
    auth: &str,
    body: &[u8],
    now_ms: i64,
) -> Option<([u8; NONCE_BYTES], i64)> {
    let mut parts = auth.splitn(3, '.');
    let (sent, nonce_text, tag) = (parts.next()?, parts.next()?, parts.next()?);
    let sent_ms = sent.parse::<i64>().ok()?;
    if (now_ms - sent_ms).abs() > MAX_SKEW_MS {
        return None;
    }
    let nonce: [u8; NONCE_BYTES] = URL_SAFE_NO_PAD.decode(nonce_text).ok()?.try_into().ok()?;
    let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
    hmac::verify(key, &signed_text(sent_ms, nonce_text, body), &tag).ok()?;
    Some((nonce, sent_ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{OrderId, UserId};

    #[test]
    fn a_signature_holds_for_its_body_key_and_time_only() {
        let key = peer_key("secret");
        let body = br#"{"op":"confirm"}"#;
        let nonce = [7u8; NONCE_BYTES];
        let auth = sign(&key, 1_000_000, nonce, body);
        assert_eq!(
            verify(&key, &auth, body, 1_000_000),
            Some((nonce, 1_000_000))
        );
        assert!(verify(&key, &auth, body, 1_000_000 + MAX_SKEW_MS).is_some());
        assert!(verify(&key, &auth, body, 1_000_000 + MAX_SKEW_MS + 1).is_none());
        assert!(verify(&key, &auth, br#"{"op":"release"}"#, 1_000_000).is_none());
        assert!(verify(&peer_key("other"), &auth, body, 1_000_000).is_none());
        // the time and the nonce are signed: changing either breaks the signature
        let (_, rest) = auth.split_once('.').unwrap();
        assert!(verify(&key, &format!("1000001.{rest}"), body, 1_000_000).is_none());
        let (_, tag) = rest.split_once('.').unwrap();
        let other = URL_SAFE_NO_PAD.encode([8u8; NONCE_BYTES]);
        assert!(verify(&key, &format!("1000000.{other}.{tag}"), body, 1_000_000).is_none());
        assert!(verify(&key, "garbage", body, 1_000_000).is_none());
        assert!(verify(&key, "1000000..", body, 1_000_000).is_none());
        assert!(verify(&key, "", body, 1_000_000).is_none());
    }

    #[test]
    fn a_call_is_accepted_once() {
        let peers = Peers::new("n1", "secret").unwrap();
        let body = br#"{"op":"confirm"}"#;
        let now = 5_000_000;
        let first = sign(&peers.key, now, rand::random(), body);
        assert_eq!(peers.accept(&first, body, now), Ok(()));
        assert_eq!(peers.accept(&first, body, now + 10), Err(Refusal::Replayed));
        // the same step sent again is signed with a new nonce, and accepted
        let again = sign(&peers.key, now, rand::random(), body);
        assert_eq!(peers.accept(&again, body, now + 10), Ok(()));
        // once a call is too old to pass the time check, its nonce may be forgotten
        assert_eq!(
            peers.accept(&first, body, now + MAX_SKEW_MS + 1),
            Err(Refusal::BadSignature)
        );
        assert_eq!(peers.accept("1.x.y", body, now), Err(Refusal::BadSignature));
    }

    #[test]
    fn old_nonces_are_forgotten_and_memory_stays_bounded() {
        let mut seen = Nonces::default();
        let mut now = 0;
        for i in 0..20_000u32 {
            let mut nonce = [0u8; NONCE_BYTES];
            nonce[..4].copy_from_slice(&i.to_le_bytes());
            now = i64::from(i) * 10; // 100 calls/s: 3 000 within the window
            assert_eq!(seen.accept(nonce, now, now), Ok(()));
        }
        // Pruned whenever the map doubles what the window holds (3 001 calls): never more than
        // twice that, and nothing older than two windows.
        assert!(seen.sent_ms.len() <= 6_002, "{}", seen.sent_ms.len());
        assert!(
            seen.sent_ms
                .values()
                .all(|sent| now - sent <= 2 * MAX_SKEW_MS + 10)
        );
    }

    #[test]
    fn calls_and_answers_keep_their_shape_on_the_wire() {
        let call = PeerCall::Item {
            item: ItemId(uuid::Uuid::nil()),
            command: ItemCommand::Reserve {
                order: OrderId(uuid::Uuid::nil()),
                user: UserId(uuid::Uuid::nil()),
                qty: 2,
                deadline_ms: 5,
            },
        };
        let json = serde_json::to_string(&call).unwrap();
        assert!(json.contains(r#""op":"item""#), "{json}");
        assert!(json.contains(r#""command":{"op":"reserve""#), "{json}");
        assert!(json.contains(r#""deadlineMs":5"#), "{json}");
        assert_eq!(serde_json::from_str::<PeerCall>(&json).unwrap(), call);
        let call = PeerCall::Campaign {
            campaign: CampaignId(uuid::Uuid::nil()),
            command: CampaignCommand::Use {
                user: UserId(uuid::Uuid::nil()),
                order: OrderId(uuid::Uuid::nil()),
                eligible_amount: 7,
            },
        };
        let json = serde_json::to_string(&call).unwrap();
        assert!(json.contains(r#""eligibleAmount":7"#), "{json}");
        assert_eq!(serde_json::from_str::<PeerCall>(&json).unwrap(), call);
        let refused = PeerAnswer::Refused(PeerRefusal::NotOwner);
        let json = serde_json::to_string(&refused).unwrap();
        assert_eq!(serde_json::from_str::<PeerAnswer>(&json).unwrap(), refused);
        assert!(matches!(
            EngineError::from(PeerRefusal::NotOwner),
            EngineError::NotOwner { owner_url: None }
        ));
    }
}
