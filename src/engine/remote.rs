//! Cluster mode: the steps of an order whose item or campaign another node owns
//! ([`crate::cluster::peer`]), and the serving side of those calls.
//!
//! The order's own node resolves each entity to [`Owner::Here`] (its actor) or
//! [`Owner::Peer`] (the owner's advertise URL) and runs the step there. A peer step is durable
//! when it returns. The serving side ([`EngineHandle::serve_peer`]) decides only for entities
//! this node owns: it never calls a third node.

use super::*;
use crate::cluster::peer::{PeerAnswer, PeerCall, PeerRefusal};
use crate::domain::ids::CompanyId;

/// Who decides for an entity: this node's actor, or the node at a URL.
pub(super) enum Owner<E> {
    Here(E),
    Peer(String),
}

impl EngineHandle {
    /// `NotOwner` unless this node decides for order `order` (always, outside cluster mode):
    /// an order is placed, and all its steps started, on the node of its partition.
    pub fn check_order_home(&self, order: OrderId) -> Result<(), EngineError> {
        self.check_owner(order.as_u128())
    }

    /// Where item `id` is decided: here, or (cluster mode) on the owner of its partition.
    pub(super) async fn item_owner(&self, id: ItemId) -> Result<Owner<ItemEntry>, EngineError> {
        match self.item(id).await {
            Ok(entry) => Ok(Owner::Here(entry)),
            Err(EngineError::NotOwner {
                owner_url: Some(url),
            }) => Ok(Owner::Peer(url)),
            Err(e) => Err(e),
        }
    }

    /// Where campaign `id` is decided: here, or (cluster mode) on the owner of its partition.
    pub(super) async fn campaign_owner(
        &self,
        id: CampaignId,
    ) -> Result<Owner<CampaignEntry>, EngineError> {
        match self.campaign(id).await {
            Ok(entry) => Ok(Owner::Here(entry)),
            Err(EngineError::NotOwner {
                owner_url: Some(url),
            }) => Ok(Owner::Peer(url)),
            Err(e) => Err(e),
        }
    }

    async fn peer(&self, url: &str, call: PeerCall) -> Result<PeerAnswer, EngineError> {
        let Some(cluster) = self.inner.cluster.get() else {
            // Only a cluster node resolves an entity to another node.
            return Err(EngineError::NotOwner { owner_url: None });
        };
        cluster.peers().call(url, &call).await
    }

    /// An item step on the node at `url` (durable once it returns).
    pub(super) async fn peer_item(
        &self,
        url: &str,
        item: ItemId,
        command: ItemCommand,
    ) -> Result<ItemOutcome, EngineError> {
        match self.peer(url, PeerCall::Item { item, command }).await? {
            PeerAnswer::Item(outcome) => Ok(outcome),
            other => Err(unexpected(other)),
        }
    }

    /// A campaign step on the node at `url` (durable once it returns).
    pub(super) async fn peer_campaign(
        &self,
        url: &str,
        campaign: CampaignId,
        command: CampaignCommand,
    ) -> Result<CampaignOutcome, EngineError> {
        match self
            .peer(url, PeerCall::Campaign { campaign, command })
            .await?
        {
            PeerAnswer::Campaign(outcome) => Ok(outcome),
            other => Err(unexpected(other)),
        }
    }

    /// The company a campaign's coupons are limited to (`None`: any company), from its owner.
    pub async fn campaign_company(
        &self,
        campaign: CampaignId,
    ) -> Result<Option<CompanyId>, EngineError> {
        match self.campaign_owner(campaign).await? {
            Owner::Here(entry) => {
                let (view, _) = self
                    .ask(&entry.addr, &entry.shared.gauge, View { holder: None })
                    .await?;
                Ok(view.config.company_id)
            }
            Owner::Peer(url) => match self
                .peer(&url, PeerCall::CampaignCompany { campaign })
                .await?
            {
                PeerAnswer::Company(company) => Ok(company),
                other => Err(unexpected(other)),
            },
        }
    }

    /// Serve another node's call: decide it here, durably, or say why not. Only entities of
    /// partitions this node holds are decided; anything else answers `NotOwner`.
    pub async fn serve_peer(&self, call: PeerCall) -> PeerAnswer {
        match self.serve_peer_inner(call).await {
            Ok(answer) => answer,
            Err(e) => PeerAnswer::Refused(PeerRefusal::from(e)),
        }
    }

    async fn serve_peer_inner(&self, call: PeerCall) -> Result<PeerAnswer, EngineError> {
        let (answer, seq) = match call {
            PeerCall::Item { item, command } => {
                let entry = self.item(item).await?;
                let (outcome, seq) = match command {
                    // New reservations go through the same gates as this node's own.
                    ItemCommand::Reserve { .. } => {
                        if let Some(outcome) = entry.shared.fast_reject(self.now_ms()) {
                            metrics::counter!("hotdeal_engine_fast_rejects_total", "kind" => "item")
                                .increment(1);
                            return Ok(PeerAnswer::Item(outcome));
                        }
                        self.check_backlog()?;
                        self.decide_item(&entry, command).await?
                    }
                    // A release frees stock: retried through a full mailbox.
                    ItemCommand::Release { order, reason } => {
                        self.release_one(&entry, order, reason).await?
                    }
                    command => self.decide_item(&entry, command).await?,
                };
                (PeerAnswer::Item(outcome), seq)
            }
            PeerCall::Campaign { campaign, command } => {
                let entry = self.campaign(campaign).await?;
                if matches!(command, CampaignCommand::Use { .. }) {
                    self.check_backlog()?;
                }
                let (outcome, seq) = self.decide_campaign(&entry, command).await?;
                (PeerAnswer::Campaign(outcome), seq)
            }
            PeerCall::CampaignCompany { campaign } => {
                let entry = self.campaign(campaign).await?;
                let (view, _) = self
                    .ask(&entry.addr, &entry.shared.gauge, View { holder: None })
                    .await?;
                (PeerAnswer::Company(view.config.company_id), None)
            }
        };
        self.durable(seq).await?;
        Ok(answer)
    }
}

fn unexpected(answer: PeerAnswer) -> EngineError {
    EngineError::Storage(anyhow::anyhow!(
        "a peer answered with an unexpected kind of outcome: {answer:?}"
    ))
}
