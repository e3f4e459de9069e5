//! The reconciliation engine: the target register is indexed in memory, the reference
//! register streams through once, and each target record gets one status.
//!
//! Memory grows with the target (its records, its blocking index and a few candidates each),
//! never with the reference: a reference record is kept only while it is one of a target's
//! best candidates.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::address::AddressParser;
use crate::compare::{Difference, Kind, Levels, compare, differences, findings, pattern};
use crate::model::{Counts, Model};
use crate::person::{PersonRecord, Prepared};
use ndx_types::reconcile::ReportRow;

type Map<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// Settings of a run.
#[derive(Debug, Clone)]
pub struct Config {
    /// A candidate found without a usable key is `probable` from this match probability on.
    pub threshold: f64,
    /// Candidates kept per target record while the reference streams by.
    pub candidates: usize,
    /// Random (target, reference) pairs compared to estimate *u*.
    pub random_pairs: u64,
    /// Key-agreeing pairs needed to estimate *m* from them rather than by EM.
    pub min_labelled: u64,
    /// Seed of the random pair draw (a run is reproducible).
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            threshold: 0.9,
            candidates: 6,
            random_pairs: 500_000,
            min_labelled: 200,
            seed: 2025,
        }
    }
}

/// The status of one target record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// The citizen ID agrees and so does every compared field.
    Exact,
    /// The citizen ID agrees, the rest says the same person, and some fields differ.
    MatchWithDifferences,
    /// Found without a usable citizen ID, with a match probability at or above the threshold
    /// and no close second.
    Probable,
    /// More than one plausible reference record, or one below the threshold.
    Ambiguous,
    /// No plausible reference record.
    NoMatch,
}

impl Status {
    /// The stable name in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Exact => "exact",
            Status::MatchWithDifferences => "match_with_differences",
            Status::Probable => "probable",
            Status::Ambiguous => "ambiguous",
            Status::NoMatch => "no_match",
        }
    }

    /// Every status, in report order.
    pub const ALL: [Status; 5] = [
        Status::Exact,
        Status::MatchWithDifferences,
        Status::Probable,
        Status::Ambiguous,
        Status::NoMatch,
    ];
}

/// The result for one target record.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The target record's id.
    pub target_id: String,
    /// Its status.
    pub status: Status,
    /// The matched reference record's id (`exact`, `match_with_differences`, `probable`).
    pub reference_id: Option<String>,
    /// The probability that the matched (for `ambiguous`, the best) candidate is this
    /// record's person.
    pub score: Option<f64>,
    /// The fields that differ from the matched reference record, with its values (the
    /// citizen ID among them when the target's is missing, unknown or another person's).
    pub differences: Vec<Difference>,
    /// Every kind of error found, including those about the citizen ID of a record that
    /// matched nothing.
    pub findings: Vec<Kind>,
    /// The id of an earlier target record for the same person.
    pub duplicate_of: Option<String>,
    /// Plausible candidates (posterior ≥ 0.1).
    pub plausible: usize,
}

/// Figures of a finished run.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Target records.
    pub targets: usize,
    /// Reference records streamed.
    pub references: u64,
    /// Candidate pairs compared.
    pub candidate_pairs: u64,
    /// Pairs whose citizen ID agrees.
    pub key_pairs: u64,
    /// Random pairs compared for *u*.
    pub random_pairs: u64,
    /// Target records per status.
    pub by_status: Vec<(Status, usize)>,
    /// Findings per kind.
    pub by_finding: Vec<(Kind, usize)>,
    /// Target records flagged as duplicates.
    pub duplicates: usize,
    /// The estimated model.
    pub model: Model,
    /// The prior probability that a key-agreeing pair is the same person.
    pub key_prior: f64,
    /// The estimated share of target records the reference holds.
    pub in_reference: f64,
}

/// A target record's id appears twice.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("target id {id:?} appears twice (records {first} and {second})")]
pub struct DuplicateTargetId {
    /// The id.
    pub id: String,
    /// 1-based position of its first record.
    pub first: usize,
    /// 1-based position of the second.
    pub second: usize,
}

struct Candidate {
    reference: Arc<Prepared>,
    levels: Levels,
    rank: f64,
}

struct Target {
    record: Prepared,
    /// Candidate pairs compared (the key pair not counted).
    seen: u32,
    key: Option<Candidate>,
    candidates: Vec<Candidate>,
}

/// Blocking key tags: a key is hashed with its tag, so keys of different rules never meet.
#[derive(Hash)]
enum Block<'a> {
    Birth(i32, u32, u32),
    /// A target's birth date with day and month swapped, and its family name.
    SwappedBirthFamily(i32, u32, u32, &'a str),
    NameYear(&'a str, i32),
    NameMonthDay(&'a str, u32, u32),
}

/// Which register a record is of.
#[derive(Clone, Copy)]
enum Side {
    Target,
    Reference,
}

/// The engine of one run.
pub struct Linker {
    config: Config,
    parser: AddressParser,
    ranking: Model,
    hasher: foldhash::fast::FixedState,
    targets: Vec<Target>,
    ids: Map<String, usize>,
    by_citizen: Map<String, Vec<u32>>,
    blocks: Map<u64, Vec<u32>>,
    stamp: Vec<u64>,
    random: Counts,
    random_same_year: Counts,
    by_year_sex: Map<(i32, u8), Vec<u32>>,
    labelled: Counts,
    pairs: Counts,
    rng: StdRng,
    references: u64,
    candidate_pairs: u64,
}

impl Linker {
    /// An engine with no records yet.
    pub fn new(config: Config) -> Linker {
        let rng = StdRng::seed_from_u64(config.seed);
        Linker {
            config,
            parser: AddressParser::new(),
            ranking: Model::default(),
            hasher: foldhash::fast::FixedState::with_seed(0x6e64_785f_6d61_7463),
            targets: Vec::new(),
            ids: Map::default(),
            by_citizen: Map::default(),
            blocks: Map::default(),
            stamp: Vec::new(),
            random: Counts::default(),
            random_same_year: Counts::default(),
            by_year_sex: Map::default(),
            labelled: Counts::default(),
            pairs: Counts::default(),
            rng,
            references: 0,
            candidate_pairs: 0,
        }
    }

    fn block_keys(&self, p: &Prepared, side: Side) -> Vec<u64> {
        let mut keys = Vec::with_capacity(5);
        let h = |b: Block<'_>| self.hasher.hash_one(b);
        if let Some(b) = p.birth.filter(|b| b.is_full()) {
            keys.push(h(Block::Birth(b.year, b.month, b.day)));
            if let Some(n) = &p.name {
                // The target side is indexed under its swapped date, the reference looks up
                // its own: a swap is found even with a typo in the given name.
                let (y, m, d) = match (side, b.swapped()) {
                    (Side::Target, Some(s)) => (s.year, s.month, s.day),
                    (Side::Target, None) => (0, 0, 0),
                    (Side::Reference, _) => (b.year, b.month, b.day),
                };
                if y != 0 {
                    keys.push(h(Block::SwappedBirthFamily(y, m, d, n.family())));
                }
            }
        }
        if let (Some(n), Some(b)) = (&p.name, p.birth) {
            keys.push(h(Block::NameYear(&n.sorted, b.year)));
            if b.is_full() {
                keys.push(h(Block::NameMonthDay(&n.sorted, b.month, b.day)));
            }
        }
        keys
    }

    /// Adds a target record (all targets come before the first reference record).
    pub fn add_target(&mut self, record: PersonRecord) -> Result<(), DuplicateTargetId> {
        let index = self.targets.len();
        if let Some(&first) = self.ids.get(&record.id) {
            return Err(DuplicateTargetId {
                id: record.id,
                first: first + 1,
                second: index + 1,
            });
        }
        self.ids.insert(record.id.clone(), index);
        let record = Prepared::new(record, &mut self.parser);
        let slot = u32::try_from(index).unwrap_or(u32::MAX);
        if let Some(id) = &record.citizen_id {
            self.by_citizen.entry(id.clone()).or_default().push(slot);
        }
        for key in self.block_keys(&record, Side::Target) {
            let list = self.blocks.entry(key).or_default();
            if list.last() != Some(&slot) {
                list.push(slot);
            }
        }
        if let (Some(b), Some(sex)) = (record.birth, record.sex) {
            self.by_year_sex
                .entry((b.year, sex))
                .or_default()
                .push(slot);
        }
        self.targets.push(Target {
            record,
            key: None,
            seen: 0,
            candidates: Vec::new(),
        });
        self.stamp.push(0);
        Ok(())
    }

    /// Streams one reference record past the targets.
    pub fn add_reference(&mut self, record: PersonRecord) {
        let reference = Prepared::new(record, &mut self.parser);
        self.add_prepared_reference(reference);
    }

    /// Streams one reference record prepared elsewhere ([`Prepared::new`] with a parser of
    /// its own), so that reading and preparing the reference can run on another thread while
    /// this one compares; records are taken in the order given, so a run is the same either
    /// way.
    pub fn add_prepared_reference(&mut self, reference: Prepared) {
        self.references += 1;
        let stamp = self.references;
        let mut found: Vec<u32> = Vec::new();
        if let Some(id) = &reference.citizen_id
            && let Some(list) = self.by_citizen.get(id)
        {
            for &t in list {
                if self.stamp[t as usize] != stamp {
                    self.stamp[t as usize] = stamp;
                    found.push(t);
                }
            }
        }
        for key in self.block_keys(&reference, Side::Reference) {
            if let Some(list) = self.blocks.get(&key) {
                for &t in list {
                    if self.stamp[t as usize] != stamp {
                        self.stamp[t as usize] = stamp;
                        found.push(t);
                    }
                }
            }
        }
        if self.random_same_year.total() < self.config.random_pairs
            && let (Some(b), Some(sex)) = (reference.birth, reference.sex)
            && let Some(bucket) = self.by_year_sex.get(&(b.year, sex))
        {
            let t = bucket[self.rng.random_range(0..bucket.len())] as usize;
            self.random_same_year
                .add(pattern(&compare(&self.targets[t].record, &reference)));
        }
        if self.random.total() < self.config.random_pairs && !self.targets.is_empty() {
            let t = self.rng.random_range(0..self.targets.len());
            self.random
                .add(pattern(&compare(&self.targets[t].record, &reference)));
        }
        if found.is_empty() {
            return;
        }
        let shared = Arc::new(reference);
        for t in found {
            let target = &mut self.targets[t as usize];
            let levels = compare(&target.record, &shared);
            let p = pattern(&levels);
            self.pairs.add(p);
            self.candidate_pairs += 1;
            let key_agrees =
                target.record.citizen_id.is_some() && target.record.citizen_id == shared.citizen_id;
            let rank = self.ranking.weight(&levels);
            let candidate = Candidate {
                reference: Arc::clone(&shared),
                levels,
                rank,
            };
            if key_agrees && target.key.is_none() {
                self.labelled.add(p);
                target.key = Some(candidate);
                continue;
            }
            target.seen = target.seen.saturating_add(1);
            keep_best(&mut target.candidates, candidate, self.config.candidates);
        }
    }

    /// Estimates the model and decides every target record, in input order.
    pub fn finish(self) -> (Vec<Outcome>, Summary) {
        let model = Model::estimate(
            &self.random,
            &self.random_same_year,
            &self.labelled,
            &self.pairs,
            self.config.min_labelled,
        );
        let key_prior = model.key_prior;
        let confirmed = self
            .targets
            .iter()
            .filter_map(|t| t.key.as_ref())
            .filter(|k| Model::probability(model.key_weight(&k.levels), key_prior) >= 0.5)
            .count();
        // The share of target records the reference holds: those whose valid citizen ID the
        // reference confirms.
        let with_id = self
            .targets
            .iter()
            .filter(|t| t.record.citizen_id.is_some())
            .count();
        let in_reference = if with_id < 20 {
            0.9
        } else {
            (confirmed as f64 / with_id as f64).clamp(0.5, 0.99)
        };

        let mut outcomes: Vec<Outcome> = self
            .targets
            .iter()
            .map(|t| decide(t, &model, key_prior, in_reference, self.config.threshold))
            .collect();

        // Duplicates: two target records that reached the same reference record, or that
        // matched nothing but carry the same name and birth date.
        let mut first_by_reference: HashMap<&str, usize> = HashMap::new();
        let mut first_by_person: HashMap<(&str, String), usize> = HashMap::new();
        let mut duplicate_of: Vec<Option<usize>> = vec![None; outcomes.len()];
        for (i, (o, t)) in outcomes.iter().zip(&self.targets).enumerate() {
            let first = match &o.reference_id {
                Some(r) => *first_by_reference.entry(r.as_str()).or_insert(i),
                None => match (&t.record.name, &t.record.birth) {
                    (Some(n), Some(b)) => *first_by_person
                        .entry((n.sorted.as_str(), b.iso()))
                        .or_insert(i),
                    _ => i,
                },
            };
            if first != i {
                duplicate_of[i] = Some(first);
            }
        }
        for (i, first) in duplicate_of.iter().enumerate() {
            if let Some(first) = first {
                outcomes[i].duplicate_of = Some(outcomes[*first].target_id.clone());
            }
        }

        let mut by_status: HashMap<Status, usize> = HashMap::new();
        let mut by_finding: HashMap<Kind, usize> = HashMap::new();
        for o in &outcomes {
            *by_status.entry(o.status).or_default() += 1;
            for k in &o.findings {
                *by_finding.entry(*k).or_default() += 1;
            }
        }
        let mut by_finding: Vec<(Kind, usize)> = by_finding.into_iter().collect();
        by_finding.sort();
        let summary = Summary {
            targets: outcomes.len(),
            references: self.references,
            candidate_pairs: self.candidate_pairs,
            key_pairs: self.labelled.total(),
            random_pairs: self.random.total(),
            by_status: Status::ALL
                .iter()
                .map(|s| (*s, by_status.get(s).copied().unwrap_or(0)))
                .collect(),
            by_finding,
            duplicates: outcomes.iter().filter(|o| o.duplicate_of.is_some()).count(),
            model,
            key_prior,
            in_reference,
        };
        (outcomes, summary)
    }
}

impl From<Outcome> for ReportRow {
    /// The stored and reported form of an outcome: kinds by their stable names, the score
    /// rounded to four decimals.
    fn from(o: Outcome) -> ReportRow {
        ReportRow {
            target_id: o.target_id,
            status: o.status.as_str().to_owned(),
            reference_id: o.reference_id,
            score: o.score.map(|s| (s * 10_000.0).round() / 10_000.0),
            differences: o
                .differences
                .into_iter()
                .map(|d| ndx_types::reconcile::RowDifference {
                    field: d.field.to_owned(),
                    kind: d.kind.as_str().to_owned(),
                    reference: d.reference,
                })
                .collect(),
            findings: o.findings.iter().map(|k| k.as_str().to_owned()).collect(),
            duplicate_of: o.duplicate_of,
            plausible_candidates: o.plausible as u64,
        }
    }
}

/// Keeps the `limit` best candidates by rank.
fn keep_best(list: &mut Vec<Candidate>, candidate: Candidate, limit: usize) {
    if list.len() < limit {
        list.push(candidate);
        return;
    }
    if let Some((worst, w)) = list
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.rank.total_cmp(&b.1.rank))
        .map(|(i, c)| (i, c.rank))
        && candidate.rank > w
    {
        list[worst] = candidate;
    }
}

fn decide(t: &Target, model: &Model, key_prior: f64, in_reference: f64, threshold: f64) -> Outcome {
    let written = t
        .record
        .raw
        .citizen_id
        .as_deref()
        .is_some_and(|id| !id.trim().is_empty());
    let mut key_finding = match (written, &t.record.citizen_id, &t.key) {
        (false, _, _) => Some(Kind::CitizenIdMissing),
        (true, None, _) => Some(Kind::CitizenIdInvalid),
        (true, Some(_), None) => Some(Kind::CitizenIdUnknown),
        (true, Some(_), Some(_)) => None,
    };
    let mut outcome = Outcome {
        target_id: t.record.raw.id.clone(),
        status: Status::NoMatch,
        reference_id: None,
        score: None,
        differences: Vec::new(),
        findings: Vec::new(),
        duplicate_of: None,
        plausible: 0,
    };
    if let Some(key) = &t.key {
        let p = Model::probability(model.key_weight(&key.levels), key_prior);
        if p >= 0.5 {
            let diffs = differences(&t.record, &key.reference);
            outcome.status = if diffs.is_empty() {
                Status::Exact
            } else {
                Status::MatchWithDifferences
            };
            outcome.reference_id = Some(key.reference.raw.id.clone());
            outcome.score = Some(p);
            outcome.findings = findings(&t.record, &diffs);
            outcome.differences = diffs;
            outcome.plausible = 1;
            return outcome;
        }
        key_finding = Some(Kind::CitizenIdWrong);
    }

    // One-to-one: the target has a match among its candidates with probability `in_reference`,
    // equally likely any of the `seen` pairs it was compared with; each candidate's posterior
    // follows from its likelihood ratio 2^weight against that of every other.
    let weights: Vec<(f64, &Candidate)> = t
        .candidates
        .iter()
        .map(|c| (model.weight(&c.levels), c))
        .collect();
    let top = weights
        .iter()
        .map(|(w, _)| *w)
        .fold(f64::NEG_INFINITY, f64::max);
    let per_pair = in_reference / f64::from(t.seen.max(1));
    let none = (1.0 - in_reference) * (-top).exp2();
    let total: f64 = none
        + weights
            .iter()
            .map(|(w, _)| per_pair * (w - top).exp2())
            .sum::<f64>();
    let mut scored: Vec<(f64, &Candidate)> = weights
        .iter()
        .map(|(w, c)| (per_pair * (w - top).exp2() / total, *c))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    outcome.plausible = scored.iter().filter(|(p, _)| *p >= 0.1).count();
    let matched: f64 = scored.iter().map(|(p, _)| p).sum();
    match scored.first() {
        Some(&(p, best)) if p >= threshold => {
            let mut diffs = differences(&t.record, &best.reference);
            if let (Some(kind), Some(id)) = (key_finding, best.reference.raw.citizen_id.as_deref())
            {
                diffs.insert(
                    0,
                    Difference {
                        field: "citizen_id",
                        kind,
                        reference: id.trim().to_owned(),
                    },
                );
            }
            outcome.status = Status::Probable;
            outcome.reference_id = Some(best.reference.raw.id.clone());
            outcome.score = Some(p);
            outcome.findings = findings(&t.record, &diffs);
            if let Some(kind) = key_finding
                && !outcome.findings.contains(&kind)
            {
                outcome.findings.insert(0, kind);
            }
            outcome.differences = diffs;
        }
        Some(&(p, _)) if matched >= 0.5 => {
            outcome.status = Status::Ambiguous;
            outcome.score = Some(p);
            outcome.findings.extend(key_finding);
        }
        _ => {
            outcome.findings.extend(key_finding);
        }
    }
    outcome
}

#[cfg(test)]
mod tests;
