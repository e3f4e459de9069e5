//! Push subscriptions: a consumer system asks ndx to POST the changes of a dataset's feed to
//! its endpoint. This module keeps their lifecycle (make, list, show, pause, resume, replay,
//! remove; every change audited) and the delivery bookkeeping the workers of `ndx-http::push`
//! call: take a batch (under a lease, so that one process delivers it), record its outcome.
//!
//! A delivery is a feed page like a pulled one: the subscription's consumer system is checked
//! against its agreements afresh for every batch (a revoked agreement stops deliveries at the
//! next batch), the page is projected, consent-checked and audited before it leaves. The batch
//! in flight is recorded as positions (`pending`), so a retry — in this process or, after a
//! crash, in another — reads the same positions and sends the same delivery id.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use ndx_store::StoreError;
use ndx_store::catalog::subscription::attr;
use ndx_store::catalog::{Page, Tx, Versioned};
use ndx_types::dictionary::DefinitionError;
use ndx_types::exchange::Operation;
use ndx_types::registry::Role;
use ndx_types::subscription::{
    self as rules, DEAD_LETTERS_KEPT, DEFAULT_BATCH, DeadLetter, DeliveryLease, PendingBatch,
    RetryPolicy, Subscription, SubscriptionState, SubscriptionStatus,
};

use crate::Core;
use crate::access::Caller;
use crate::error::{Code, Error, Result};
use crate::exchange::unreleased_filters;
use crate::feed::{FeedPage, FeedWindow};

/// How deliveries are made: retries, the lease of a batch in flight, and which endpoints a
/// subscription may name (loopback over plain HTTP for tests only; the operator's hosts).
#[derive(Debug, Clone)]
pub struct PushPolicy {
    /// Retries of a failed batch.
    pub retry: RetryPolicy,
    /// How long a process holds a batch it took: longer than a delivery's deadline, so that
    /// only a process that died loses it.
    pub lease: Duration,
    /// Whether `http://` endpoints on a loopback address are accepted.
    pub allow_loopback_http: bool,
    /// The hosts endpoints may name (egress control); empty for any.
    pub endpoint_hosts: rules::HostPatterns,
}

impl Default for PushPolicy {
    fn default() -> Self {
        PushPolicy {
            retry: RetryPolicy::default(),
            lease: Duration::seconds(60),
            allow_loopback_http: false,
            endpoint_hosts: rules::HostPatterns::default(),
        }
    }
}

/// Where a new subscription starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// After the feed's head now: changes from now on.
    Head,
    /// After this position (0: every change ever).
    After(u64),
}

/// A subscription as its consumer asks for it.
#[derive(Debug, Clone)]
pub struct SubscriptionDraft {
    /// The dataset to follow.
    pub dataset: String,
    /// The purpose, as on every exchange request.
    pub purpose: String,
    /// Where to POST.
    pub endpoint: String,
    /// The fields wanted (`None`: all the agreement releases).
    pub fields: Option<Vec<String>>,
    /// `field = value` filters on released fields.
    pub filters: BTreeMap<String, String>,
    /// Most changes per delivery.
    pub batch_size: Option<u32>,
    /// Where it starts.
    pub start: StartAt,
}

/// A subscription with its delivery state and the feed's head.
#[derive(Debug, Clone)]
pub struct SubscriptionView {
    /// The definition.
    pub subscription: Subscription,
    /// Its delivery state.
    pub state: SubscriptionState,
    /// The head of the dataset's feed.
    pub head: u64,
}

impl SubscriptionView {
    /// Changes of the feed not yet acknowledged.
    pub fn lag(&self) -> u64 {
        self.head.saturating_sub(self.state.position)
    }
}

/// A batch taken for delivery.
pub struct Delivery {
    /// The subscription.
    pub subscription: Subscription,
    /// The key to sign the delivery with.
    pub secret: String,
    /// The positions it covers.
    pub batch: PendingBatch,
    /// The idempotency id: `<dataset>:<first>-<last>`.
    pub id: String,
    /// The page: released changes, `next` is the last position covered.
    pub page: FeedPage,
    /// The agreement it was released under.
    pub agreement: String,
    /// The attempt this is (1 for the first).
    pub attempt: u32,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the signing key.
        f.debug_struct("Delivery")
            .field("id", &self.id)
            .field("subscription", &self.subscription)
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

/// What taking a batch found.
#[derive(Debug)]
pub enum Take {
    /// Nothing to deliver now (not active, waiting for a retry, held by another process, or
    /// at the head).
    Idle,
    /// Positions passed over with nothing to send (filtered out or withheld): the position
    /// moved; take again.
    Skipped,
    /// The agreement refused the batch: nothing left; the refusal is recorded on the state.
    Refused(Error),
    /// A batch to POST.
    Deliver(Box<Delivery>),
}

/// A look at one subscription, for the workers and the lag metric.
#[derive(Debug, Clone)]
pub struct SubscriptionLook {
    /// The subscription.
    pub id: String,
    /// Its dataset.
    pub dataset: String,
    /// Its status.
    pub status: SubscriptionStatus,
    /// Changes not yet acknowledged.
    pub lag: u64,
    /// Whether a batch may be taken now.
    pub due: bool,
    /// The revision of the delivery state seen: a job queued for it is one job however many
    /// processes saw it due.
    pub revision: u64,
}

fn invalid(errors: Vec<DefinitionError>) -> Error {
    Error::definition_faults(Code::SubscriptionInvalid, errors)
}

fn not_found(id: &str) -> Error {
    Error::of(
        Code::SubscriptionNotFound,
        format!("no subscription {id:?} (or not one this key may see)"),
    )
}

pub(crate) fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    rand::TryRngCore::try_fill_bytes(&mut rand::rngs::OsRng, &mut buf)
        .map_err(|e| Error::internal(format!("no randomness for a subscription: {e}")))?;
    Ok(hex::encode(buf))
}

/// Refusals after which an agreement cannot allow the subscription again (a new agreement
/// means a new subscription).
fn final_refusal(code: Code) -> bool {
    matches!(
        code,
        Code::AgreementRevoked
            | Code::AgreementRejected
            | Code::AgreementExpired
            | Code::NoAgreement
            | Code::DatasetNotFound
            | Code::FieldNotCovered
            | Code::OperationNotCovered
            | Code::PurposeMismatch
            | Code::PurposeUnknown
            | Code::SubscriptionInvalid
    )
}

impl Core {
    /// Sets how deliveries are retried and leased, and whether loopback `http://` endpoints
    /// are accepted.
    pub fn with_push_policy(mut self, policy: PushPolicy) -> Self {
        self.push = policy;
        self
    }

    /// The caller a delivery is decided as: the subscription's consumer system, with the
    /// consumer role, named by the subscription (no API key is involved).
    fn push_caller(&self, s: &Subscription, request: String) -> Result<Caller> {
        let mut caller = self.local_caller(&s.consumer, vec![Role::Consumer])?;
        caller.key_id = format!("subscription:{}", s.id);
        caller.request_id = request;
        Ok(caller)
    }

    fn visible_subscription(&self, caller: &Caller, id: &str) -> Result<Versioned<Subscription>> {
        let s = self
            .store
            .catalog()
            .get::<Subscription>(id)?
            .ok_or_else(|| not_found(id))?;
        let reads_all = caller.has(Role::Operator) || caller.has(Role::Auditor);
        if reads_all || caller.system().code == s.value.consumer {
            Ok(s)
        } else {
            Err(not_found(id))
        }
    }

    /// Whether `caller` may change subscription `s`: its consumer system, or an operator.
    fn subscription_manager(&self, caller: &Caller, s: &Subscription, what: &str) -> Result<()> {
        if caller.system().code == s.consumer || caller.has(Role::Operator) {
            return Ok(());
        }
        Err(Error::of(
            Code::NotOwner,
            format!("{what} is for the consumer system {:?}", s.consumer),
        ))
    }

    fn subscription_view(&self, s: Subscription) -> Result<SubscriptionView> {
        let state = self
            .store
            .catalog()
            .value::<SubscriptionState>(&s.id)?
            .unwrap_or_else(|| SubscriptionState {
                subscription: s.id.clone(),
                ..SubscriptionState::default()
            });
        let head = self.store.records().feed_head(&s.dataset)?;
        Ok(SubscriptionView {
            subscription: s,
            state,
            head,
        })
    }

    /// Makes a push subscription: the request is decided as a `subscribe` request of the
    /// caller would be (agreement, purpose, fields, sovereignty; a refusal is audited), the
    /// filters must be on released fields and the endpoint must be https. Returns it with its
    /// signing secret, which is never shown again.
    pub fn add_subscription(
        &self,
        caller: &Caller,
        draft: SubscriptionDraft,
        now: DateTime<Utc>,
    ) -> Result<(SubscriptionView, String)> {
        let cap = self.exchange_access(
            caller,
            &draft.dataset,
            Operation::Subscribe,
            None,
            Some(&draft.purpose),
            draft.fields.clone(),
            now,
        )?;
        let filters: Vec<(String, String)> = draft.filters.clone().into_iter().collect();
        if let Some(e) = unreleased_filters(&cap, &filters) {
            return Err(self.audit_refusal(caller, "subscription.create", Some(&draft.dataset), e));
        }
        self.typed_filters(&draft.dataset, &filters)?;
        let mut faults = Vec::new();
        match rules::check_endpoint(&draft.endpoint, self.push.allow_loopback_http) {
            Ok(url) => {
                if let Err(e) = self.push.endpoint_hosts.check(&url) {
                    faults.push(e);
                }
            }
            Err(e) => faults.push(e),
        }
        let batch_size = draft.batch_size.unwrap_or(DEFAULT_BATCH);
        if let Err(e) = rules::check_batch_size(batch_size) {
            faults.push(e);
        }
        if !faults.is_empty() {
            return Err(invalid(faults));
        }
        let head = self.store.records().feed_head(&draft.dataset)?;
        let position = match draft.start {
            StartAt::Head => head,
            StartAt::After(p) => {
                self.check_feed_position(&draft.dataset, p, head, now)?;
                p
            }
        };
        let id = format!("sub-{}", random_hex(8)?);
        let secret_salt = random_hex(16)?;
        let secret = self.audit.keys().push_secret(&id, &secret_salt);
        let subscription = Subscription {
            id,
            dataset: cap.dataset().to_owned(),
            consumer: caller.system().code.clone(),
            member: caller.member().code.clone(),
            purpose: draft.purpose,
            fields: draft.fields,
            filters: draft.filters,
            endpoint: draft.endpoint,
            batch_size,
            secret_salt,
            created_at: now,
            created_by: caller.key_id().to_owned(),
        };
        let state = SubscriptionState {
            subscription: subscription.id.clone(),
            position,
            ..SubscriptionState::default()
        };
        self.store.catalog().transaction(|tx| {
            tx.insert(&subscription, now)?;
            tx.insert(&state, now)
        })?;
        self.audit
            .event(caller, "subscription.create")
            .under(cap.agreement())
            .keys(vec![subscription.id.clone()])
            .record()?;
        Ok((
            SubscriptionView {
                subscription,
                state,
                head,
            },
            secret,
        ))
    }

    /// The subscriptions `caller` may see: its system's own, or all for operators and auditors.
    pub fn subscriptions(&self, caller: &Caller) -> Result<Vec<SubscriptionView>> {
        let all = if caller.has(Role::Operator) || caller.has(Role::Auditor) {
            self.store.catalog().values::<Subscription>()?
        } else {
            self.store
                .catalog()
                .find_values::<Subscription>(attr::CONSUMER, &caller.system().code)?
        };
        all.into_iter().map(|s| self.subscription_view(s)).collect()
    }

    /// One subscription with its state.
    pub fn subscription(&self, caller: &Caller, id: &str) -> Result<SubscriptionView> {
        let s = self.visible_subscription(caller, id)?;
        self.subscription_view(s.value)
    }

    /// A subscription's dead letters, newest first.
    pub fn dead_letters(&self, caller: &Caller, id: &str) -> Result<Vec<DeadLetter>> {
        self.visible_subscription(caller, id)?;
        let page = Page {
            after: None,
            limit: None,
            descending: true,
        };
        Ok(self
            .store
            .catalog()
            .find::<DeadLetter>(attr::SUBSCRIPTION, id, page)?
            .into_iter()
            .map(|v| v.value)
            .collect())
    }

    /// Removes a subscription, its state and its dead letters (the audit log keeps what was
    /// delivered). A batch in flight finds it gone and is not acknowledged.
    pub fn remove_subscription(&self, caller: &Caller, id: &str, now: DateTime<Utc>) -> Result<()> {
        let s = self.visible_subscription(caller, id)?;
        if let Err(e) = self.subscription_manager(caller, &s.value, "removing a subscription") {
            return Err(self.audit_refusal(
                caller,
                "subscription.remove",
                Some(&s.value.dataset),
                e,
            ));
        }
        let letters = self
            .store
            .catalog()
            .find::<DeadLetter>(attr::SUBSCRIPTION, id, Page::ALL)?;
        self.store.catalog().transaction(|tx| {
            if let Some(state) = tx.get::<SubscriptionState>(id)? {
                tx.delete::<SubscriptionState>(id, state.revision, now)?;
            }
            for l in &letters {
                let letter = DeadLetter::id_of(&l.value.subscription, l.value.number);
                tx.delete::<DeadLetter>(&letter, l.revision, now)?;
            }
            tx.delete::<Subscription>(id, s.revision, now)
        })?;
        self.audit
            .event(caller, "subscription.remove")
            .dataset(Some(&s.value.dataset))
            .keys(vec![id.to_owned()])
            .record()?;
        Ok(())
    }

    /// Changes a subscription's state as its consumer asks (`operation` names the audit
    /// event), through `change`, which refuses a transition the status does not allow.
    fn change_subscription(
        &self,
        caller: &Caller,
        id: &str,
        operation: &str,
        now: DateTime<Utc>,
        check_from: Option<u64>,
        change: impl Fn(&mut SubscriptionState) -> Result<()>,
    ) -> Result<SubscriptionView> {
        let s = self.visible_subscription(caller, id)?;
        if let Err(e) = self.subscription_manager(caller, &s.value, operation) {
            return Err(self.audit_refusal(caller, operation, Some(&s.value.dataset), e));
        }
        let head = self.store.records().feed_head(&s.value.dataset)?;
        if let Some(p) = check_from {
            self.check_feed_position(&s.value.dataset, p, head, now)?;
        }
        let mut refusal = None;
        let state = self.store.catalog().transaction(|tx| {
            let Some(current) = tx.get::<SubscriptionState>(id)? else {
                return Err(StoreError::NotFound(format!("subscription {id:?}")));
            };
            let mut next = current.value.clone();
            if let Err(e) = change(&mut next) {
                refusal = Some(e);
                return Ok(current.value);
            }
            if next.status == SubscriptionStatus::Active
                && current.value.status == SubscriptionStatus::Dead
            {
                // The batch that killed it is replayed now: its dead letter says so.
                let n = current.value.dead_letters;
                if let Some(letter) = tx.get::<DeadLetter>(&DeadLetter::id_of(id, n))?
                    // Only when that very batch is what goes out again (not after a replay
                    // from a position, nor for a death without a letter).
                    && next.pending == Some(letter.value.batch)
                    && letter.value.replayed_at.is_none()
                {
                    let mut l = letter.value.clone();
                    l.replayed_at = Some(now);
                    tx.update(&l, letter.revision, now)?;
                }
            }
            tx.update(&next, current.revision, now)?;
            Ok(next)
        })?;
        if let Some(e) = refusal {
            return Err(e);
        }
        self.audit
            .event(caller, operation)
            .dataset(Some(&s.value.dataset))
            .keys(vec![id.to_owned()])
            .record()?;
        Ok(SubscriptionView {
            subscription: s.value,
            state,
            head,
        })
    }

    /// Stops deliveries until [`Core::resume_subscription`].
    pub fn pause_subscription(
        &self,
        caller: &Caller,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<SubscriptionView> {
        self.change_subscription(caller, id, "subscription.pause", now, None, |s| {
            match s.status {
                SubscriptionStatus::Active | SubscriptionStatus::Paused => {
                    s.status = SubscriptionStatus::Paused;
                    Ok(())
                }
                other => Err(transition(id, other, "paused")),
            }
        })
    }

    /// Goes on delivering from where a paused subscription stopped.
    pub fn resume_subscription(
        &self,
        caller: &Caller,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<SubscriptionView> {
        self.change_subscription(caller, id, "subscription.resume", now, None, |s| {
            match s.status {
                SubscriptionStatus::Paused | SubscriptionStatus::Active => {
                    s.status = SubscriptionStatus::Active;
                    s.attempts = 0;
                    s.next_attempt_at = None;
                    Ok(())
                }
                other => Err(transition(id, other, "resumed (replay a dead one)")),
            }
        })
    }

    /// Replays: without `from`, the batch that killed a dead subscription is tried again
    /// (under the same delivery id) and deliveries go on; with `from`, the subscription goes
    /// back (or forward) to that position and delivers from there, whatever its batch in
    /// flight (a consumer that lost what it received asks for it again).
    pub fn replay_subscription(
        &self,
        caller: &Caller,
        id: &str,
        from: Option<u64>,
        now: DateTime<Utc>,
    ) -> Result<SubscriptionView> {
        self.change_subscription(caller, id, "subscription.replay", now, from, |s| {
            match (s.status, from) {
                (SubscriptionStatus::Ended, _) => Err(transition(id, s.status, "replayed")),
                (SubscriptionStatus::Dead, None) => {
                    s.status = SubscriptionStatus::Active;
                    s.attempts = 0;
                    s.next_attempt_at = None;
                    Ok(())
                }
                (other, None) => Err(transition(
                    id,
                    other,
                    "replayed without a position (only a dead one has a batch to replay)",
                )),
                (_, Some(p)) => {
                    s.status = SubscriptionStatus::Active;
                    s.position = p;
                    s.pending = None;
                    s.attempts = 0;
                    s.next_attempt_at = None;
                    Ok(())
                }
            }
        })
    }

    /// Every subscription with its lag, and whether a batch may be taken now.
    pub fn subscription_looks(&self, now: DateTime<Utc>) -> Result<Vec<SubscriptionLook>> {
        let subscriptions = self.store.catalog().values::<Subscription>()?;
        let mut heads: BTreeMap<String, u64> = BTreeMap::new();
        let mut looks = Vec::with_capacity(subscriptions.len());
        for s in subscriptions {
            let head = match heads.get(&s.dataset) {
                Some(h) => *h,
                None => {
                    let h = self.store.records().feed_head(&s.dataset)?;
                    heads.insert(s.dataset.clone(), h);
                    h
                }
            };
            let Some(Versioned {
                value: state,
                revision,
                ..
            }) = self.store.catalog().get::<SubscriptionState>(&s.id)?
            else {
                continue;
            };
            let due = state.status == SubscriptionStatus::Active
                && (state.pending.is_some() || state.position < head)
                && state.next_attempt_at.is_none_or(|t| t <= now)
                && state.lease.as_ref().is_none_or(|l| l.until <= now);
            looks.push(SubscriptionLook {
                id: s.id,
                dataset: s.dataset,
                status: state.status,
                lag: head.saturating_sub(state.position),
                due,
                revision,
            });
        }
        Ok(looks)
    }

    /// Takes the subscription's next batch for delivery: under a lease (another process that
    /// took it first is left to it), the pending batch again or a new one up to the feed's
    /// head, decided and read under the agreement as it is now (the page is audited).
    pub fn take_delivery(&self, id: &str, now: DateTime<Utc>) -> Result<Take> {
        let Some(s) = self.store.catalog().value::<Subscription>(id)? else {
            return Ok(Take::Idle);
        };
        let head = self.store.records().feed_head(&s.dataset)?;
        let holder = crate::connector::holder();
        let taken = self.store.catalog().transaction(|tx| {
            let Some(current) = tx.get::<SubscriptionState>(id)? else {
                return Ok(None);
            };
            let st = &current.value;
            let held = st
                .lease
                .as_ref()
                .is_some_and(|l| l.until > now && l.holder != holder);
            let waiting = st.next_attempt_at.is_some_and(|t| t > now);
            if st.status != SubscriptionStatus::Active || held || waiting {
                return Ok(None);
            }
            let batch = match st.pending {
                Some(b) => b,
                None if st.position < head => PendingBatch {
                    after: st.position,
                    until: head,
                },
                None => return Ok(None),
            };
            let mut next = st.clone();
            next.pending = Some(batch);
            next.lease = Some(DeliveryLease {
                holder: holder.to_owned(),
                until: now + self.push.lease,
            });
            tx.update(&next, current.revision, now)?;
            Ok(Some((batch, next.attempts)))
        });
        let (batch, attempts) = match taken {
            Ok(Some(t)) => t,
            Ok(None) => return Ok(Take::Idle),
            // Another process updated the state between our read and write: it has the batch.
            Err(StoreError::Conflict(_)) => return Ok(Take::Idle),
            Err(e) => return Err(e.into()),
        };
        // The node's egress rules as they are now: a subscription whose endpoint the operator
        // no longer allows (hosts narrowed, plain http to loopback turned off) ends.
        let allowed = rules::check_endpoint(&s.endpoint, self.push.allow_loopback_http)
            .and_then(|url| self.push.endpoint_hosts.check(&url));
        if let Err(fault) = allowed {
            let e = Error::of(
                Code::SubscriptionInvalid,
                format!(
                    "this node no longer posts to the endpoint: {}",
                    fault.message
                ),
            );
            self.delivery_refused(id, batch, &e, now)?;
            return Ok(Take::Refused(e));
        }
        let request = format!("push-{}-{}", s.id, batch.after + 1);
        let filters: Vec<(String, String)> = s.filters.clone().into_iter().collect();
        let page = self.push_caller(&s, request).and_then(|caller| {
            let cap = self.exchange_access(
                &caller,
                &s.dataset,
                Operation::Subscribe,
                None,
                Some(&s.purpose),
                s.fields.clone(),
                now,
            )?;
            let window = FeedWindow {
                after: batch.after,
                limit: s.batch_size as usize,
                until: Some(batch.until),
            };
            let agreement = cap.agreement().id.clone();
            let page = self.feed_page(&cap, &filters, window, Some(&s.id), now)?;
            Ok((page.into_inner(), agreement))
        });
        let (page, agreement) = match page {
            Ok(p) => p,
            Err(e)
                if matches!(
                    e.code.kind(),
                    crate::error::Kind::Internal | crate::error::Kind::Unavailable
                ) =>
            {
                self.release_delivery(id, batch, &e, now)?;
                return Err(e);
            }
            Err(e) => {
                self.delivery_refused(id, batch, &e, now)?;
                return Ok(Take::Refused(e));
            }
        };
        if page.changes.is_empty() {
            self.delivery_acknowledged(id, batch, page.next, 0, now)?;
            return Ok(Take::Skipped);
        }
        Ok(Take::Deliver(Box::new(Delivery {
            id: rules::delivery_id(&s.dataset, batch, page.next),
            secret: self.audit.keys().push_secret(&s.id, &s.secret_salt),
            subscription: s,
            batch,
            page,
            agreement,
            attempt: attempts + 1,
        })))
    }

    /// Edits the state of a batch this process holds (nothing, if the batch is no longer the
    /// pending one: the subscription was replayed, removed, or another process took over).
    fn settle(
        &self,
        id: &str,
        batch: PendingBatch,
        now: DateTime<Utc>,
        change: impl FnOnce(&mut SubscriptionState, &mut Tx<'_>) -> ndx_store::Result<()>,
    ) -> Result<bool> {
        let settled = self.store.catalog().transaction(|tx| {
            let Some(current) = tx.get::<SubscriptionState>(id)? else {
                return Ok(false);
            };
            if current.value.pending != Some(batch) {
                return Ok(false);
            }
            // A holder whose lease ran out (and was taken over) settles nothing: the batch
            // is the new holder's.
            if current.value.lease.as_ref().map(|l| l.holder.as_str())
                != Some(crate::connector::holder())
            {
                return Ok(false);
            }
            let mut next = current.value.clone();
            next.lease = None;
            change(&mut next, tx)?;
            tx.update(&next, current.revision, now)?;
            Ok(true)
        });
        match settled {
            Ok(done) => Ok(done),
            Err(StoreError::Conflict(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The endpoint acknowledged a batch (or it had nothing to send): the position moves to
    /// `last` and the next batch may be taken.
    pub fn delivery_acknowledged(
        &self,
        id: &str,
        batch: PendingBatch,
        last: u64,
        changes: u64,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        self.settle(id, batch, now, |s, _| {
            s.position = last;
            s.pending = None;
            s.attempts = 0;
            s.next_attempt_at = None;
            s.last_error = None;
            if changes > 0 {
                s.deliveries += 1;
                s.delivered_changes += changes;
                s.last_delivery_at = Some(now);
            }
            Ok(())
        })
    }

    /// A batch could not be delivered: retried after a backoff, or, at the last attempt, the
    /// subscription is dead and the batch becomes a dead letter. Returns the status after.
    pub fn delivery_failed(
        &self,
        delivery: &Delivery,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<SubscriptionStatus> {
        let retry = self.push.retry;
        let jitter = rand::TryRngCore::try_next_u32(&mut rand::rngs::OsRng)
            .map_or(0.5, |r| f64::from(r) / f64::from(u32::MAX));
        let mut status = SubscriptionStatus::Active;
        let sub = &delivery.subscription;
        self.settle(&sub.id, delivery.batch, now, |s, tx| {
            s.attempts += 1;
            s.failures += 1;
            s.last_error = Some(error.to_owned());
            if s.attempts < retry.max_attempts {
                s.next_attempt_at = Some(now + retry.backoff_with_jitter(s.attempts, jitter));
                return Ok(());
            }
            s.status = SubscriptionStatus::Dead;
            s.next_attempt_at = None;
            s.dead_letters += 1;
            let letter = DeadLetter {
                subscription: sub.id.clone(),
                number: s.dead_letters,
                delivery_id: delivery.id.clone(),
                batch: delivery.batch,
                attempts: s.attempts,
                last_error: error.to_owned(),
                dead_at: now,
                replayed_at: None,
            };
            tx.insert(&letter, now)?;
            if s.dead_letters > DEAD_LETTERS_KEPT {
                let old = DeadLetter::id_of(&sub.id, s.dead_letters - DEAD_LETTERS_KEPT);
                if let Some(o) = tx.get::<DeadLetter>(&old)? {
                    tx.delete::<DeadLetter>(&old, o.revision, now)?;
                }
            }
            status = SubscriptionStatus::Dead;
            Ok(())
        })?;
        if status == SubscriptionStatus::Dead {
            tracing::warn!(
                subscription = sub.id,
                delivery = delivery.id,
                "subscription dead after {} attempts: {error}",
                retry.max_attempts
            );
        }
        Ok(status)
    }

    /// The agreement refused a batch: a final refusal (revoked, expired…) ends the
    /// subscription; another (suspended, quota…) is looked at again after a backoff.
    fn delivery_refused(
        &self,
        id: &str,
        batch: PendingBatch,
        e: &Error,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let retry = self.push.retry;
        let message = format!("{}: {}", e.code.name(), e.message);
        self.settle(id, batch, now, |s, _| {
            s.last_error = Some(message);
            if e.code == Code::FeedPositionExpired {
                // Nothing to retry: the consumer re-baselines and replays from a position
                // the feed still keeps.
                s.status = SubscriptionStatus::Dead;
                s.next_attempt_at = None;
            } else if final_refusal(e.code) {
                s.status = SubscriptionStatus::Ended;
                s.next_attempt_at = None;
            } else {
                // Not the endpoint's failure: no attempt is counted (a day of exhausted quota
                // must not kill the subscription), the batch is looked at again later.
                s.next_attempt_at = Some(now + retry.max_backoff);
            }
            Ok(())
        })?;
        Ok(())
    }

    /// Gives a batch back without an attempt (the store or the audit log failed while reading
    /// it), saying why, to be taken again after a pause rather than at once.
    fn release_delivery(
        &self,
        id: &str,
        batch: PendingBatch,
        e: &Error,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let wait = self.push.retry.max_backoff.min(Duration::seconds(30));
        let message = format!("{}: {}", e.code.name(), e.message);
        self.settle(id, batch, now, |s, _| {
            s.last_error = Some(message);
            s.next_attempt_at = Some(now + wait);
            Ok(())
        })?;
        Ok(())
    }
}

fn transition(id: &str, status: SubscriptionStatus, what: &str) -> Error {
    Error::of(
        Code::SubscriptionTransitionInvalid,
        format!(
            "subscription {id:?} is {}: it cannot be {what}",
            status.name()
        ),
    )
}
