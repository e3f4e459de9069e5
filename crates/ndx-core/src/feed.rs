//! The change feed of a dataset as a consumer follows it (the `subscribe` operation of an
//! agreement): pages of changes after a position, in position order, projected through the
//! agreement, consent-checked like a search page, and audited with their data subjects
//! before they leave. A deletion leaves as its key alone.

use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::Core;
use crate::access::ExchangeRead;
use crate::audit::Audited;
use crate::error::{Code, Error, Result};
use crate::exchange::{Release, Releaser, note_fields, unreleased_filters};

/// Largest page of a change feed.
pub const MAX_FEED_PAGE: usize = 1000;

/// Most positions a filtered page reads looking for matches before it answers (with `next`
/// past them).
const FILTER_SCAN: u64 = 10_000;

/// How long a change stays in its dataset's feed by default: a consumer further behind
/// re-baselines (an extract, then the changes after the position it names).
pub const DEFAULT_FEED_RETENTION: chrono::Duration = chrono::Duration::days(30);

/// Where each dataset's retained feed starts, found by bisection and kept a while (it only
/// moves forward, so a stale value is merely lenient).
#[derive(Debug, Default)]
pub(crate) struct FeedFloors(Mutex<std::collections::HashMap<String, (DateTime<Utc>, u64)>>);

/// The positions a page reads: after `after`, at most `limit` changes, none past `until`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FeedWindow {
    pub(crate) after: u64,
    pub(crate) limit: usize,
    pub(crate) until: Option<u64>,
}

/// What a change did to its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOp {
    /// Created or updated: `data` holds the agreed fields of the new version.
    Upsert,
    /// Deleted: no data.
    Delete,
}

impl ChangeOp {
    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            ChangeOp::Upsert => "upsert",
            ChangeOp::Delete => "delete",
        }
    }
}

/// One change as a consumer receives it.
#[derive(Debug, Clone)]
pub struct FeedChange {
    /// Its position in the dataset's feed.
    pub position: u64,
    /// The record key.
    pub key: String,
    /// The version it wrote.
    pub version: u64,
    /// Upsert or delete.
    pub op: ChangeOp,
    /// When the version was recorded.
    pub recorded_at: DateTime<Utc>,
    /// The agreed fields of an upsert; empty for a delete.
    pub data: Map<String, Value>,
}

/// A page of the change feed.
#[derive(Debug, Clone)]
pub struct FeedPage {
    /// The changes released, in position order.
    pub changes: Vec<FeedChange>,
    /// Changes of this page withheld because their data subject has not consented (their
    /// positions are passed over: `next` is past them).
    pub withheld: u64,
    /// The position to ask for changes after next: the last position this page read, or the
    /// position asked for when there was nothing new.
    pub next: u64,
    /// The feed's head when the page was read.
    pub head: u64,
}

/// Who hears, in this process, that a batch committed: change-feed streams wake up at once
/// instead of at their next look at the feed head (which still finds other processes'
/// commits).
#[derive(Default)]
pub(crate) struct CommitListeners(Mutex<Vec<CommitListener>>);

type CommitListener = Box<dyn Fn(&str) + Send + Sync>;

impl CommitListeners {
    /// Tells every listener that a batch of `dataset` committed.
    pub(crate) fn committed(&self, dataset: &str) {
        let listeners = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        for listener in listeners.iter() {
            listener(dataset);
        }
    }
}

/// Whether a stored body has every filter's value.
fn body_matches(body: Option<&str>, filters: &[ndx_store::FieldFilter]) -> Result<bool> {
    let Some(body) = body else {
        return Ok(false);
    };
    let full: Map<String, Value> = serde_json::from_str(body)
        .map_err(|e| Error::internal(format!("a stored record is not JSON: {e}")))?;
    Ok(filters.iter().all(|f| full.get(&f.field) == Some(&f.value)))
}

impl Core {
    /// Whether a change passes a feed's filters: its version matches, or the one before it did.
    fn change_matches(
        &self,
        dataset: &str,
        version: &ndx_store::RecordVersion,
        filters: &[ndx_store::FieldFilter],
    ) -> Result<bool> {
        if body_matches(version.body.as_deref(), filters)? {
            return Ok(true);
        }
        let previous = self.replaced_version(dataset, version)?;
        body_matches(previous.as_ref().and_then(|v| v.body.as_deref()), filters)
    }

    /// The version `version` replaced (`None` for a record's first version).
    pub(crate) fn replaced_version(
        &self,
        dataset: &str,
        version: &ndx_store::RecordVersion,
    ) -> Result<Option<ndx_store::RecordVersion>> {
        if version.version <= 1 {
            return Ok(None);
        }
        Ok(self
            .store
            .records()
            .history(dataset, &version.key)?
            .into_iter()
            .find(|v| v.version + 1 == version.version))
    }

    /// Calls `listener` with the dataset's name after each batch this process commits (it
    /// runs on the committing thread: it must only signal, never block).
    pub fn on_commit(&self, listener: impl Fn(&str) + Send + Sync + 'static) {
        self.commits
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Box::new(listener));
    }

    /// The position after which `dataset`'s retained feed starts: changes recorded before
    /// `now − retention` are no longer served (to within the length of a batch: positions
    /// follow commits, times the batches' starts). `head` when every change is older.
    pub(crate) fn oldest_after(&self, dataset: &str, head: u64, now: DateTime<Utc>) -> Result<u64> {
        let cutoff = now - self.feed_retention;
        // Kept for a tenth of the retention, at most a minute.
        let keep = (self.feed_retention / 10).min(chrono::Duration::minutes(1));
        let cached = self
            .feed_floors
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(dataset)
            .copied();
        if let Some((at, floor)) = cached
            && now - at < keep
        {
            return Ok(floor.min(head));
        }
        let recorded_at = |p: u64| -> Result<Option<DateTime<Utc>>> {
            Ok(self
                .store
                .records()
                .changes(dataset, p - 1, 1)?
                .first()
                .map(|c| c.record.recorded_at))
        };
        // The first retained position lies in lo..=hi (hi = head + 1: none retained).
        let (mut lo, mut hi) = (cached.map_or(0, |(_, f)| f).min(head) + 1, head + 1);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match recorded_at(mid)? {
                Some(t) if t < cutoff => lo = mid + 1,
                _ => hi = mid,
            }
        }
        let floor = lo - 1;
        self.feed_floors
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(dataset.to_owned(), (now, floor));
        Ok(floor)
    }

    /// Checks a position to read `dataset`'s feed after: not beyond the head (`400
    /// feed-position-invalid`), not before the retained feed (`410 feed-position-expired`,
    /// with how to re-baseline).
    pub(crate) fn check_feed_position(
        &self,
        dataset: &str,
        after: u64,
        head: u64,
        now: DateTime<Utc>,
    ) -> Result<()> {
        if after > head {
            return Err(Error::of(
                Code::FeedPositionInvalid,
                format!("position {after} is beyond the feed of {dataset:?}, whose head is {head}"),
            ));
        }
        let oldest = self.oldest_after(dataset, head, now)?;
        if after < oldest {
            return Err(Error::of(
                Code::FeedPositionExpired,
                format!(
                    "the changes after position {after} of {dataset:?} are older than the feed \
                     keeps ({} days), which now starts after position {oldest}: re-baseline with \
                     an extract (its Ndx-Feed-Position header names the position it is \
                     consistent with) and follow the changes after that position",
                    self.feed_retention.num_seconds() as f64 / 86_400.0
                ),
            ));
        }
        Ok(())
    }

    /// The last position of `dataset`'s feed, for a commit notice to other processes (a
    /// position, no data: nothing is released).
    pub fn dataset_feed_head(&self, dataset: &str) -> Result<u64> {
        Ok(self.store.records().feed_head(dataset)?)
    }

    /// The last position of the capability's dataset feed: what a stream watches between
    /// pages (nothing is released, so nothing is audited; each page is decided afresh).
    pub fn feed_head(&self, cap: &ExchangeRead) -> Result<u64> {
        Ok(self.store.records().feed_head(&cap.schema.dataset)?)
    }

    /// The store's catalogue generation: a stream reads it before deciding its first page, so
    /// that any change after that decision is seen by its first look at the feed.
    pub fn catalog_generation(&self) -> Result<u64> {
        self.generation()
    }

    /// The feed head and the store's catalogue generation, read together by an idle stream: a
    /// new generation (a key, agreement, consent… changed anywhere) makes it decide its request
    /// again before the next change, so a revocation ends an idle stream too.
    pub fn feed_watch(&self, cap: &ExchangeRead) -> Result<(u64, u64)> {
        Ok((self.feed_head(cap)?, self.generation()?))
    }

    /// The changes of the capability's dataset after position `after` (0: from the first), at
    /// most `limit`, agreed fields only, consent permitting. One audit event per page names
    /// every released or withheld change's data subject; an empty page is audited too (a
    /// consumer polling the feed is on record, with nothing released).
    ///
    /// `filters` (`field = value`, on released fields only: filtering on a hidden field would
    /// reveal it) keep the changes whose new version matches, or whose previous version did
    /// (a record that moves out of a province, or is deleted, still reaches that province's
    /// feed); the others are passed over (`next` moves past them) and not released.
    pub fn exchange_changes(
        &self,
        cap: &ExchangeRead,
        filters: &[(String, String)],
        after: u64,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<Audited<FeedPage>> {
        self.feed_page(
            cap,
            filters,
            FeedWindow {
                after,
                limit,
                until: None,
            },
            None,
            now,
        )
    }

    /// A page of changes as [`Core::exchange_changes`] reads it, reading no position past
    /// `window.until` (a push delivery's batch, read again by its retries), with the push
    /// subscription it is for (`via`) named in the audit event's query.
    pub(crate) fn feed_page(
        &self,
        cap: &ExchangeRead,
        filters: &[(String, String)],
        window: FeedWindow,
        via: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Audited<FeedPage>> {
        let FeedWindow {
            after,
            limit,
            until,
        } = window;
        let mut query: Vec<String> = filters.iter().map(|(f, v)| format!("{f}={v}")).collect();
        query.push(format!("after={after}&limit={limit}"));
        if let Some(until) = until {
            query.push(format!("until={until}"));
        }
        if let Some(subscription) = via {
            query.push(format!("subscription={subscription}"));
        }
        let query = query.join("&");
        let event = || {
            self.audit
                .event(cap, "exchange.subscribe")
                .under(&cap.agreement)
                .query(Some(query.clone()))
        };
        let refuse = |e: Error| match event().refused(&e).record_refusal() {
            Ok(()) => e,
            Err(audit) => audit,
        };
        if limit == 0 || limit > MAX_FEED_PAGE {
            return Err(Error::of(
                Code::LimitInvalid,
                format!("limit must be between 1 and {MAX_FEED_PAGE}, found {limit}"),
            ));
        }
        if let Some(e) = unreleased_filters(cap, filters) {
            return Err(refuse(e));
        }
        let dataset = &cap.schema.dataset;
        let typed = self.typed_filters(dataset, filters)?;
        let head = self.store.records().feed_head(dataset)?;
        self.check_feed_position(dataset, after, head, now)
            .map_err(refuse)?;
        // The positions this page may read up to.
        let head = until.map_or(head, |u| u.clamp(after, head));
        let (changes, next) = if typed.is_empty() {
            let room = usize::try_from(head - after).unwrap_or(usize::MAX);
            let changes = if room == 0 {
                Vec::new()
            } else {
                self.store
                    .records()
                    .changes(dataset, after, limit.min(room))?
            };
            let next = changes.last().map_or(after, |c| c.position);
            (changes, next)
        } else {
            // A filtered page reads on until it has `limit` matches, the head, or
            // FILTER_SCAN positions (so a rare value still answers promptly).
            let mut kept = Vec::with_capacity(limit);
            let mut next = after;
            while kept.len() < limit && next - after < FILTER_SCAN && next < head {
                let read = self.store.records().changes(dataset, next, limit)?;
                if read.is_empty() {
                    break;
                }
                for c in read {
                    if kept.len() == limit || c.position > head {
                        break;
                    }
                    next = c.position;
                    if self.change_matches(dataset, &c.record, &typed)? {
                        kept.push(c);
                    }
                }
            }
            (kept, next)
        };
        let keys: Vec<String> = changes.iter().map(|c| c.record.key.clone()).collect();
        let mut releaser = Releaser::new(self, cap, now)?;
        let mut page = FeedPage {
            changes: Vec::with_capacity(changes.len()),
            withheld: 0,
            next,
            head: head.max(next),
        };
        let (mut subjects, mut fields) = (Vec::new(), Vec::new());
        for change in changes {
            let (position, recorded_at) = (change.position, change.record.recorded_at);
            let (key, version) = (change.record.key.clone(), change.record.version);
            match releaser.release(change.record)? {
                Release::Record(record, named) => {
                    note_fields(&mut fields, &record.data);
                    subjects.extend(named);
                    page.changes.push(FeedChange {
                        position,
                        key,
                        version,
                        op: ChangeOp::Upsert,
                        recorded_at,
                        data: record.data,
                    });
                }
                Release::Withheld(named) => {
                    page.withheld += 1;
                    subjects.extend(named);
                }
                Release::Tombstone(named) => {
                    subjects.extend(named);
                    page.changes.push(FeedChange {
                        position,
                        key,
                        version,
                        op: ChangeOp::Delete,
                        recorded_at,
                        data: Map::new(),
                    });
                }
            }
        }
        if let Err(limit) =
            self.quotas
                .reserve_records(&cap.agreement, now.date_naive(), page.changes.len() as u64)
        {
            return Err(refuse(Error::of(
                Code::QuotaExhausted,
                format!("agreement {:?}: its quota is {limit}", cap.agreement.id),
            )));
        }
        subjects.sort_unstable();
        subjects.dedup();
        let mut e = event().keys(keys).returned((subjects, fields));
        if page.withheld > 0 {
            e = e.reason(format!(
                "{} changes withheld: consent-missing",
                page.withheld
            ));
        }
        let receipt = e.record()?;
        Ok(receipt.attach(page))
    }
}
