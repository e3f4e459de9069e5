//! The Fellegi–Sunter model: per field and level, how often it occurs for true matches (*m*)
//! and by chance (*u*); a pair's weight is the sum of `log2(m/u)` over its non-null levels.
//!
//! *u* is counted on random pairs, *m* on pairs known to match (the citizen ID agrees) when
//! the data has enough of them, otherwise by expectation–maximisation over the candidate
//! pairs with *u* held fixed; the prior (the share of candidate pairs that match) by EM.

use crate::compare::{FIELDS, LEVELS, Levels, PATTERNS, levels_of};

/// How many pairs showed each comparison pattern.
#[derive(Debug, Clone)]
pub struct Counts {
    by_pattern: Vec<u64>,
}

impl Default for Counts {
    fn default() -> Counts {
        Counts {
            by_pattern: vec![0; PATTERNS],
        }
    }
}

impl Counts {
    /// Counts one pair.
    pub fn add(&mut self, pattern: u16) {
        self.by_pattern[usize::from(pattern)] += 1;
    }

    /// Pairs counted.
    pub fn total(&self) -> u64 {
        self.by_pattern.iter().sum()
    }

    fn iter(&self) -> impl Iterator<Item = (Levels, f64)> + '_ {
        self.by_pattern
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(p, c)| (levels_of(p as u16), *c as f64))
    }
}

/// Per field, the probability of each level (null levels excluded).
pub type Distribution = [Vec<f64>; 4];

/// Where the *m* probabilities came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MSource {
    /// The built-in defaults (too little data to estimate).
    Default,
    /// Pairs whose citizen ID agrees.
    KeyPairs,
    /// EM over the candidate pairs.
    Em,
}

/// The estimated model.
#[derive(Debug, Clone)]
pub struct Model {
    /// *m*: level probabilities among matching pairs.
    pub m: Distribution,
    /// *u*: level probabilities among random pairs.
    pub u: Distribution,
    /// *u* among random pairs of the same birth year and sex: what a citizen ID copied from
    /// someone else still agrees on (the ID encodes both), so the chance level that weighs a
    /// pair whose IDs agree.
    pub u_key: Distribution,
    /// Share of candidate pairs that match.
    pub prior: f64,
    /// Share of pairs whose citizen ID agrees that are the same person.
    pub key_prior: f64,
    /// Where *m* came from.
    pub m_source: MSource,
    /// Per field, how many random pairs had a value on both sides (0: never compared).
    pub compared: [f64; 4],
}

/// A weight never exceeds this many bits either way, so that one field cannot decide alone
/// on a probability estimated from few pairs.
const MAX_BITS: f64 = 20.0;

fn defaults_m() -> Distribution {
    [
        vec![0.80, 0.06, 0.01, 0.08, 0.03, 0.02],
        vec![0.90, 0.02, 0.04, 0.02, 0.02],
        vec![0.98, 0.02],
        vec![0.80, 0.12, 0.08],
    ]
}

fn defaults_u() -> Distribution {
    [
        vec![1e-4, 1e-4, 1e-5, 1e-3, 0.02, 0.9787],
        vec![3e-5, 3e-5, 3e-3, 0.013, 0.98394],
        vec![0.5, 0.5],
        vec![5e-4, 0.03, 0.9695],
    ]
}

impl Default for Model {
    /// Plausible parameters for Vietnamese person registers, used to rank candidates while
    /// the reference streams by (before the data's own parameters are known).
    fn default() -> Model {
        Model {
            m: defaults_m(),
            u: defaults_u(),
            u_key: defaults_u(),
            prior: 0.01,
            key_prior: 0.9,
            m_source: MSource::Default,
            compared: [0.0; 4],
        }
    }
}

/// Level frequencies of the counted pairs, smoothed (half a pair per level), per field.
fn distribution(counts: &Counts, weights: Option<&[f64]>) -> Distribution {
    let mut acc: [Vec<f64>; 4] = std::array::from_fn(|f| vec![0.5; LEVELS[f]]);
    for (p, (levels, c)) in counts.iter().enumerate() {
        let w = weights.map_or(c, |ws| ws[p]);
        for (f, level) in levels.iter().enumerate() {
            if let Some(l) = level {
                acc[f][usize::from(*l)] += w;
            }
        }
    }
    for field in &mut acc {
        let total: f64 = field.iter().sum();
        for v in field.iter_mut() {
            *v /= total;
        }
    }
    acc
}

/// Key pairs with this many or more confirmed by the other fields give a field its *m*;
/// with fewer, the field keeps its default.
const MIN_ANCHORED: f64 = 50.0;

/// *m* per field from the key pairs that the *other* fields confirm: the name's on pairs
/// whose birth date is exact, the birth date's on pairs whose name is the same (with or
/// without diacritics), sex and address on pairs with both. A pair whose ID was copied from
/// someone else rarely passes these anchors, so it does not teach the model that a different
/// name is normal for the same person.
pub fn anchored(labelled: &Counts, fallback: &Distribution) -> Distribution {
    let name_same = |l: &Levels| matches!(l[0], Some(0 | 1));
    let birth_exact = |l: &Levels| l[1] == Some(0);
    let mut out = fallback.clone();
    for (f, field) in out.iter_mut().enumerate() {
        let mut acc = vec![0.5; LEVELS[f]];
        let mut n = 0.0;
        for (levels, c) in labelled.iter() {
            let anchor = match f {
                0 => birth_exact(&levels),
                1 => name_same(&levels),
                _ => name_same(&levels) && birth_exact(&levels),
            };
            if let (true, Some(l)) = (anchor, levels[f]) {
                acc[usize::from(l)] += c;
                n += c;
            }
        }
        if n >= MIN_ANCHORED {
            let total: f64 = acc.iter().sum();
            *field = acc.into_iter().map(|v| v / total).collect();
        }
    }
    out
}

impl Model {
    /// The match weight of a pair in bits (without the prior).
    pub fn weight(&self, levels: &Levels) -> f64 {
        self.weight_against(&self.u, levels)
    }

    fn weight_against(&self, u: &Distribution, levels: &Levels) -> f64 {
        levels
            .iter()
            .enumerate()
            .filter_map(|(f, l)| {
                l.map(|l| {
                    let l = usize::from(l);
                    (self.m[f][l] / u[f][l]).log2().clamp(-MAX_BITS, MAX_BITS)
                })
            })
            .sum()
    }

    /// The weight of a pair whose citizen IDs agree: against the chance agreement of people
    /// of the same birth year and sex ([`Model::u_key`]).
    pub fn key_weight(&self, levels: &Levels) -> f64 {
        self.weight_against(&self.u_key, levels)
    }

    /// The probability that a pair with this weight matches, under the prior `prior`.
    pub fn probability(weight: f64, prior: f64) -> f64 {
        let prior = prior.clamp(1e-9, 1.0 - 1e-9);
        let log_odds = (prior / (1.0 - prior)).log2() + weight;
        1.0 / (1.0 + (-log_odds).exp2())
    }

    /// Estimates the model: *u* from `random` pairs; *m* from the `labelled` pairs (whose
    /// citizen ID agrees) when there are at least `min_labelled`, else by EM over the
    /// `candidates` with *u* held fixed. Key pairs are mostly the same person but not all (an
    /// ID copied from someone else), so each field's *m* is counted only on the key pairs
    /// that other fields confirm (see [`anchored`]); the share of key pairs that are the same
    /// person, [`Model::key_prior`], then follows by EM. The candidates' prior is estimated
    /// last, for the summary.
    pub fn estimate(
        random: &Counts,
        random_same_year: &Counts,
        labelled: &Counts,
        candidates: &Counts,
        min_labelled: u64,
    ) -> Model {
        let mut model = Model::default();
        if random.total() >= 1_000 {
            model.u = distribution(random, None);
        }
        model.u_key = if random_same_year.total() >= 1_000 {
            distribution(random_same_year, None)
        } else {
            model.u.clone()
        };
        for (levels, c) in random.iter() {
            for (f, l) in levels.iter().enumerate() {
                if l.is_some() {
                    model.compared[f] += c;
                }
            }
        }
        if labelled.total() >= min_labelled {
            model.m = anchored(labelled, &model.m);
            let mut keyed = model.clone();
            keyed.u = model.u_key.clone();
            keyed.prior = 0.9;
            keyed.em(labelled, false, 100);
            model.key_prior = keyed.prior;
            model.m_source = MSource::KeyPairs;
        } else if candidates.total() >= 1_000 {
            model.em(candidates, true, 100);
            model.m_source = MSource::Em;
        }
        if candidates.total() > 0 {
            model.prior = 0.01;
            model.em(candidates, false, 100);
        }
        model
    }

    /// EM over the candidate pairs with *u* fixed: the prior always, *m* when asked.
    fn em(&mut self, candidates: &Counts, estimate_m: bool, iterations: usize) {
        let pairs: Vec<(Levels, f64)> = candidates.iter().collect();
        let total: f64 = pairs.iter().map(|(_, c)| c).sum();
        for _ in 0..iterations {
            let posts: Vec<f64> = pairs
                .iter()
                .map(|(levels, c)| c * Model::probability(self.weight(levels), self.prior))
                .collect();
            let matched: f64 = posts.iter().sum();
            let prior = (matched / total).clamp(1e-9, 1.0 - 1e-9);
            let moved = (prior - self.prior).abs();
            self.prior = prior;
            if estimate_m {
                self.m = distribution(candidates, Some(&posts));
            } else if moved < 1e-9 {
                break;
            }
        }
    }

    /// One line per field and level: `field level: m=…, u=…, weight …`, for summaries.
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (f, field) in FIELDS.iter().enumerate() {
            if self.compared[f] == 0.0 {
                out.push(format!("{field}: not compared (no values on one side)"));
                continue;
            }
            for (l, name) in crate::compare::LEVEL_NAMES[f].iter().enumerate() {
                out.push(format!(
                    "{field} {name}: m={:.4} u={:.6} weight {:+.2} bits",
                    self.m[f][l],
                    self.u[f][l],
                    (self.m[f][l] / self.u[f][l])
                        .log2()
                        .clamp(-MAX_BITS, MAX_BITS)
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::pattern;

    #[test]
    fn probability_follows_weight_and_prior() {
        assert!((Model::probability(0.0, 0.5) - 0.5).abs() < 1e-12);
        assert!((Model::probability(10.0, 0.5) - 1024.0 / 1025.0).abs() < 1e-12);
        assert!(Model::probability(10.0, 0.001) < 0.51);
    }

    #[test]
    fn em_recovers_a_mixture() {
        // 1,000 matches that mostly agree and 9,000 non-matches that mostly do not.
        let agree: Levels = [Some(0), Some(0), Some(0), Some(0)];
        let name_only: Levels = [Some(0), Some(4), Some(1), Some(2)];
        let none: Levels = [Some(5), Some(4), Some(1), Some(2)];
        let mut random = Counts::default();
        let mut candidates = Counts::default();
        for _ in 0..100_000 {
            random.add(pattern(&none));
        }
        for _ in 0..50 {
            random.add(pattern(&name_only));
        }
        for _ in 0..1_000 {
            candidates.add(pattern(&agree));
        }
        for _ in 0..9_000 {
            candidates.add(pattern(&none));
        }
        let model = Model::estimate(
            &random,
            &Counts::default(),
            &Counts::default(),
            &candidates,
            100,
        );
        assert_eq!(model.m_source, MSource::Em);
        assert!((model.prior - 0.1).abs() < 0.01, "{}", model.prior);
        assert!(Model::probability(model.weight(&agree), model.prior) > 0.99);
        assert!(Model::probability(model.weight(&none), model.prior) < 0.01);
    }

    #[test]
    fn labelled_pairs_give_m_and_the_key_prior() {
        // 1,000 key pairs: 900 the same person (a tenth with day and month swapped), 100 an ID
        // copied from someone else, who agrees on nothing but the sex.
        let agree: Levels = [Some(0), Some(0), Some(0), Some(0)];
        let swapped: Levels = [Some(0), Some(1), Some(0), Some(0)];
        let other: Levels = [Some(5), Some(4), Some(0), Some(2)];
        let mut labelled = Counts::default();
        for i in 0..900 {
            labelled.add(pattern(if i % 10 == 0 { &swapped } else { &agree }));
        }
        for _ in 0..100 {
            labelled.add(pattern(&other));
        }
        let mut random = Counts::default();
        for _ in 0..10_000 {
            random.add(pattern(&other));
        }
        random.add(pattern(&[Some(1), Some(3), Some(1), Some(1)]));
        let model = Model::estimate(
            &random,
            &Counts::default(),
            &labelled,
            &Counts::default(),
            100,
        );
        assert_eq!(model.m_source, MSource::KeyPairs);
        assert!((model.key_prior - 0.9).abs() < 0.01, "{}", model.key_prior);
        assert!((model.m[1][1] - 0.1).abs() < 0.01, "{:?}", model.m[1]);
        assert!(model.m[0][5] < 0.01, "{:?}", model.m[0]);
        assert!(Model::probability(model.weight(&other), model.key_prior) < 0.01);
    }
}
