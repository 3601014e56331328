//! Campaigns: claims (through the claim queue), coupon use and recovery, status and configuration.

use super::remote::Owner;
use super::*;

impl EngineHandle {
    /// Issue one coupon of `campaign` to `user`, first come first served.
    pub async fn issue_coupon(
        &self,
        campaign: CampaignId,
        user: UserId,
    ) -> Result<IssueResult, EngineError> {
        let entry = self.campaign(campaign).await?;
        if let Some(outcome) = entry.shared.fast_reject(self.now_ms()) {
            metrics::counter!("hotdeal_engine_fast_rejects_total", "kind" => "campaign")
                .increment(1);
            return Ok(IssueResult {
                outcome,
                coupon_id: None,
                fast_rejected: true,
            });
        }
        self.check_backlog()?;
        let outcome = self.claim(&entry, user).await?;
        let coupon_id = matches!(
            outcome,
            CampaignOutcome::Issued { .. } | CampaignOutcome::AlreadyIssued
        )
        .then(|| coupon_id_for(campaign, user));
        Ok(IssueResult {
            outcome,
            coupon_id,
            fast_rejected: false,
        })
    }

    /// One claim through the campaign's claim queue: answered once the actor decided it and, for
    /// an issued coupon, once the journal holds it durably. Refused at once when the queue is
    /// full; a claim the actor has not reached within the send timeout is taken back (503).
    async fn claim(
        &self,
        entry: &CampaignEntry,
        user: UserId,
    ) -> Result<CampaignOutcome, EngineError> {
        let Some(_slot) = entry.shared.gauge.try_enter() else {
            metrics::counter!("hotdeal_engine_busy_total", "reason" => "mailbox_full").increment(1);
            return Err(EngineError::Busy);
        };
        let mut queued = entry.shared.claims.push(user);
        if queued.send_drain {
            // At most one drain is on its way per actor (the queue's flag), so this cannot grow
            // the actix mailbox without bound.
            entry.addr.do_send(DrainClaims);
        }
        let reply = match tokio::time::timeout(self.inner.options.send_timeout, &mut queued.reply)
            .await
        {
            Ok(reply) => reply,
            Err(_) if entry.shared.claims.withdraw(&queued) => {
                metrics::counter!("hotdeal_engine_busy_total", "reason" => "timeout").increment(1);
                return Err(EngineError::Busy);
            }
            // decided already: the answer follows the journal write
            Err(_) => (&mut queued.reply).await,
        };
        match reply {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(_)) => Err(self.not_durable()),
            // the reply was dropped unsent: the journal failed, or the actor is gone
            Err(_) if self.inner.journal.is_failed() => Err(EngineError::JournalUnavailable),
            Err(_) => Err(EngineError::Busy),
        }
    }

    /// Use `user`'s coupon of `campaign` on `order`.
    pub async fn use_coupon(
        &self,
        campaign: CampaignId,
        user: UserId,
        order: OrderId,
        eligible_amount: i64,
    ) -> Result<CampaignOutcome, EngineError> {
        let (outcome, seq) = self
            .use_coupon_unacked(campaign, user, order, eligible_amount)
            .await?;
        self.durable(seq).await?;
        Ok(outcome)
    }

    /// [`EngineHandle::use_coupon`] without waiting for durability: also returns the journal
    /// sequence of the use (`None` when nothing was journaled here: refused, or decided by the
    /// campaign's owner on another node, where it is durable already).
    pub async fn use_coupon_unacked(
        &self,
        campaign: CampaignId,
        user: UserId,
        order: OrderId,
        eligible_amount: i64,
    ) -> Result<(CampaignOutcome, Option<Seq>), EngineError> {
        let command = CampaignCommand::Use {
            user,
            order,
            eligible_amount,
        };
        match self.campaign_owner(campaign).await? {
            Owner::Here(entry) => {
                self.check_backlog()?;
                self.decide_campaign(&entry, command).await
            }
            Owner::Peer(url) => self
                .peer_campaign(&url, campaign, command)
                .await
                .map(|outcome| (outcome, None)),
        }
    }

    /// Ask the actor of `entry` to decide `command`: the outcome and the journal sequence of its
    /// event (not waited for). Claims take the queue instead ([`Self::issue_coupon`]).
    pub(super) async fn decide_campaign(
        &self,
        entry: &CampaignEntry,
        command: CampaignCommand,
    ) -> Result<(CampaignOutcome, Option<Seq>), EngineError> {
        self.ask(&entry.addr, &entry.shared.gauge, DecideCampaign(command))
            .await
    }

    /// Give back the coupon of `campaign` that `user` used on `order`. A coupon used on another
    /// order stays used (`UsedByAnotherOrder`), so this is safe to send when it is not known
    /// whether the use landed.
    pub async fn recover_coupon(
        &self,
        campaign: CampaignId,
        user: UserId,
        order: OrderId,
    ) -> Result<CampaignOutcome, EngineError> {
        let command = CampaignCommand::Recover { user, order };
        match self.campaign_owner(campaign).await? {
            Owner::Here(entry) => {
                let (outcome, seq) = self.decide_campaign(&entry, command).await?;
                self.durable(seq).await?;
                Ok(outcome)
            }
            Owner::Peer(url) => self.peer_campaign(&url, campaign, command).await,
        }
    }

    /// Set a campaign's status; returns the status actually set.
    pub async fn set_campaign_status(
        &self,
        campaign: CampaignId,
        status: CampaignStatus,
    ) -> Result<CampaignStatus, EngineError> {
        let entry = self.campaign(campaign).await?;
        let command = CampaignCommand::SetStatus { status };
        match self.decide_campaign(&entry, command).await? {
            (CampaignOutcome::StatusSet { status }, seq) => {
                self.durable(seq).await?;
                Ok(status)
            }
            (other, _) => Err(EngineError::Storage(anyhow::anyhow!(
                "a status change answered {other:?}"
            ))),
        }
    }

    /// Replace a campaign's configuration while it is PENDING, checked and applied in one actor
    /// message. `Ok(Err(status))`: refused, the campaign is no longer PENDING (nothing changed).
    pub async fn configure_pending_campaign(
        &self,
        campaign: CampaignId,
        config: CampaignConfig,
    ) -> Result<Result<(), CampaignStatus>, EngineError> {
        let entry = self.campaign(campaign).await?;
        let command = CampaignCommand::ConfigurePending { config };
        match self.decide_campaign(&entry, command).await? {
            (CampaignOutcome::NotPending { status }, _) => Ok(Err(status)),
            (_, seq) => self.durable(seq).await.map(Ok),
        }
    }

    /// A campaign's live state and, optionally, one holder's coupon state.
    pub async fn campaign_view(
        &self,
        campaign: CampaignId,
        holder: Option<UserId>,
    ) -> Result<(LiveCampaign, Option<CouponState>), EngineError> {
        let entry = self.campaign(campaign).await?;
        self.ask(&entry.addr, &entry.shared.gauge, View { holder })
            .await
    }
}
