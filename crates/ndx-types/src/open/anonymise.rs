//! The anonymisation gate of open data, pure: k-anonymity over the declared quasi-identifiers
//! and distinct l-diversity of the declared sensitive columns, reached by generalising each
//! quasi-identifier up its ladder and suppressing the rows of the classes still too small,
//! with the least generalisation that works — or a refusal saying what could be reached.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

/// How a quasi-identifier is generalised, level by level (level 0 is the value as it is; the
/// last level is `*`, the value withheld).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Ladder {
    /// A date (`YYYY-MM-DD`, or partial): month, year, 5-year band, 10-year band, `*`.
    Date,
    /// A 2025 ward code: its province, `*`.
    Ward,
    /// Any other value: `*`.
    Value,
}

impl Ladder {
    /// Levels above the value itself.
    pub fn height(self) -> u8 {
        match self {
            Ladder::Date => 5,
            Ladder::Ward => 2,
            Ladder::Value => 1,
        }
    }

    /// The name of a level, as the release's metadata states it.
    pub fn level_name(self, level: u8) -> &'static str {
        match (self, level) {
            (_, 0) => "as-is",
            (Ladder::Date, 1) => "month",
            (Ladder::Date, 2) => "year",
            (Ladder::Date, 3) => "5-year-band",
            (Ladder::Date, 4) => "10-year-band",
            (Ladder::Ward, 1) => "province",
            _ => "suppressed",
        }
    }

    /// `value` at `level`; `province_of` gives a ward's province.
    pub fn generalise(
        self,
        value: &str,
        level: u8,
        province_of: &dyn Fn(&str) -> Option<String>,
    ) -> String {
        if level == 0 || value.is_empty() {
            return value.to_owned();
        }
        if level >= self.height() {
            return "*".to_owned();
        }
        match self {
            Ladder::Date => {
                let year: Option<i32> = value.get(..4).and_then(|y| y.parse().ok());
                match (level, year) {
                    (1, _) if value.len() >= 7 => value[..7].to_owned(),
                    (1 | 2, Some(y)) => y.to_string(),
                    (3, Some(y)) => {
                        let from = y - y.rem_euclid(5);
                        format!("{from}-{}", from + 4)
                    }
                    (4, Some(y)) => {
                        let from = y - y.rem_euclid(10);
                        format!("{from}-{}", from + 9)
                    }
                    _ => "*".to_owned(),
                }
            }
            Ladder::Ward => province_of(value).unwrap_or_else(|| "*".to_owned()),
            Ladder::Value => "*".to_owned(),
        }
    }
}

/// What the gate must reach.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target {
    /// Each combination of quasi-identifier values is shared by at least `k` rows.
    pub k: usize,
    /// Each such class has at least `l` distinct values of each sensitive column (1: no
    /// constraint).
    pub l: usize,
    /// The most rows that may be suppressed.
    pub max_suppressed: usize,
}

/// A table to publish: rows of text values, and which columns are quasi-identifiers (with
/// their ladders) and sensitive.
#[derive(Debug, Clone)]
pub struct Table {
    /// The rows (each as long as the column list).
    pub rows: Vec<Vec<String>>,
    /// (column, ladder) of each quasi-identifier.
    pub quasi_identifiers: Vec<(usize, Ladder)>,
    /// Sensitive columns.
    pub sensitive: Vec<usize>,
}

/// What the gate did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// Per quasi-identifier (in declaration order), the level applied.
    pub levels: Vec<u8>,
    /// Rows suppressed (their class was too small or not diverse enough).
    pub suppressed: usize,
    /// The smallest class published.
    pub achieved_k: usize,
    /// The fewest distinct sensitive values in a class published (0 without sensitive
    /// columns).
    pub achieved_l: usize,
}

/// Why the target cannot be reached: the best that could, at full generalisation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "k = {k}, l = {l} cannot be reached by suppressing at most {max_suppressed} of {rows} rows: \
     even with every quasi-identifier withheld, {suppressed} rows would have to be suppressed"
)]
pub struct Unreachable {
    /// The target's k.
    pub k: usize,
    /// The target's l.
    pub l: usize,
    /// The suppression limit.
    pub max_suppressed: usize,
    /// Rows in the table.
    pub rows: usize,
    /// What the least bad generalisation would still have to suppress.
    pub suppressed: usize,
}

/// Each quasi-identifier's values at each level, interned: `ids[q][level][row]`.
struct Interned {
    ids: Vec<Vec<Vec<u32>>>,
    values: Vec<Vec<Vec<String>>>,
}

fn intern(table: &Table, province_of: &dyn Fn(&str) -> Option<String>) -> Interned {
    let mut ids = Vec::new();
    let mut values = Vec::new();
    for &(col, ladder) in &table.quasi_identifiers {
        let mut per_level = Vec::new();
        let mut names_per_level = Vec::new();
        for level in 0..=ladder.height() {
            let mut index: HashMap<String, u32> = HashMap::new();
            let mut names: Vec<String> = Vec::new();
            let column: Vec<u32> = table
                .rows
                .iter()
                .map(|r| {
                    let g = ladder.generalise(&r[col], level, province_of);
                    let next = u32::try_from(names.len()).unwrap_or(u32::MAX);
                    *index.entry(g.clone()).or_insert_with(|| {
                        names.push(g);
                        next
                    })
                })
                .collect();
            per_level.push(column);
            names_per_level.push(names);
        }
        ids.push(per_level);
        values.push(names_per_level);
    }
    Interned { ids, values }
}

/// The rows suppressed under one combination of levels (their class is smaller than k, or
/// not l-diverse), with the achieved k and l of what is kept. Classes are numbered by
/// folding one quasi-identifier at a time into dense ids, so any number of them is exact.
fn evaluate(
    table: &Table,
    interned: &Interned,
    sensitive: &[Vec<u32>],
    levels: &[u8],
    target: Target,
) -> (usize, usize, usize, Vec<bool>) {
    let n = table.rows.len();
    let mut class: Vec<u32> = match levels.first() {
        Some(&lv) => interned.ids[0][usize::from(lv)].clone(),
        None => vec![0; n],
    };
    for (q, &lv) in levels.iter().enumerate().skip(1) {
        let mut dense: HashMap<u64, u32> = HashMap::new();
        for (row, c) in class.iter_mut().enumerate() {
            let pair = (u64::from(*c) << 32) | u64::from(interned.ids[q][usize::from(lv)][row]);
            let next = u32::try_from(dense.len()).unwrap_or(u32::MAX);
            *c = *dense.entry(pair).or_insert(next);
        }
    }
    let classes = class.iter().map(|c| *c as usize + 1).max().unwrap_or(0);
    let mut size = vec![0usize; classes];
    for &c in &class {
        size[c as usize] += 1;
    }
    // Distinct sensitive values per class, the fewest over the sensitive columns.
    let mut diversity = vec![usize::MAX; classes];
    for column in sensitive {
        let mut seen: HashSet<u64> = HashSet::new();
        let mut distinct = vec![0usize; classes];
        for (row, &c) in class.iter().enumerate() {
            if seen.insert((u64::from(c) << 32) | u64::from(column[row])) {
                distinct[c as usize] += 1;
            }
        }
        for (d, x) in diversity.iter_mut().zip(distinct) {
            *d = (*d).min(x);
        }
    }
    let ok = |c: usize| size[c] >= target.k && (sensitive.is_empty() || diversity[c] >= target.l);
    let mut suppressed = 0;
    let mut achieved_k = usize::MAX;
    let mut achieved_l = usize::MAX;
    let mut drop = vec![false; n];
    for (row, &c) in class.iter().enumerate() {
        let c = c as usize;
        if ok(c) {
            achieved_k = achieved_k.min(size[c]);
            achieved_l = achieved_l.min(diversity[c]);
        } else {
            suppressed += 1;
            drop[row] = true;
        }
    }
    if achieved_k == usize::MAX {
        achieved_k = 0;
    }
    if achieved_l == usize::MAX || sensitive.is_empty() {
        achieved_l = 0;
    }
    (suppressed, achieved_k, achieved_l, drop)
}

/// Every combination of levels whose heights sum to `total`.
fn combinations(heights: &[u8], total: u32) -> Vec<Vec<u8>> {
    fn go(heights: &[u8], left: u32, prefix: &mut Vec<u8>, out: &mut Vec<Vec<u8>>) {
        match heights.split_first() {
            None => {
                if left == 0 {
                    out.push(prefix.clone());
                }
            }
            Some((&h, rest)) => {
                for lv in 0..=h {
                    if u32::from(lv) > left {
                        break;
                    }
                    prefix.push(lv);
                    go(rest, left - u32::from(lv), prefix, out);
                    prefix.pop();
                }
            }
        }
    }
    let mut out = Vec::new();
    go(heights, total, &mut Vec::new(), &mut out);
    out
}

/// Anonymises `table` in place (generalised values, suppressed rows removed): the least
/// total generalisation that reaches the target within the suppression limit, the fewest
/// rows suppressed among equals.
pub fn anonymise(
    table: &mut Table,
    target: Target,
    province_of: &dyn Fn(&str) -> Option<String>,
) -> Result<Outcome, Unreachable> {
    let interned = intern(table, province_of);
    let sensitive: Vec<Vec<u32>> = table
        .sensitive
        .iter()
        .map(|&col| {
            let mut index: HashMap<&str, u32> = HashMap::new();
            table
                .rows
                .iter()
                .map(|r| {
                    let next = u32::try_from(index.len()).unwrap_or(u32::MAX);
                    *index.entry(r[col].as_str()).or_insert(next)
                })
                .collect()
        })
        .collect();
    let heights: Vec<u8> = table
        .quasi_identifiers
        .iter()
        .map(|(_, l)| l.height())
        .collect();
    let max_total: u32 = heights.iter().map(|h| u32::from(*h)).sum();
    let mut fewest_suppressed = usize::MAX;
    for total in 0..=max_total {
        let mut best: Option<(Outcome, Vec<bool>)> = None;
        for levels in combinations(&heights, total) {
            let (suppressed, k, l, drop) = evaluate(table, &interned, &sensitive, &levels, target);
            fewest_suppressed = fewest_suppressed.min(suppressed);
            if suppressed <= target.max_suppressed
                && best.as_ref().is_none_or(|b| suppressed < b.0.suppressed)
            {
                let outcome = Outcome {
                    levels,
                    suppressed,
                    achieved_k: k,
                    achieved_l: l,
                };
                best = Some((outcome, drop));
            }
        }
        if let Some((outcome, drop)) = best {
            let mut row = 0;
            table.rows.retain(|_| {
                let keep = !drop[row];
                row += 1;
                keep
            });
            let kept: Vec<usize> = (0..drop.len()).filter(|r| !drop[*r]).collect();
            for (q, &(col, _)) in table.quasi_identifiers.iter().enumerate() {
                let lv = usize::from(outcome.levels[q]);
                for (out, &src) in table.rows.iter_mut().zip(&kept) {
                    let id = interned.ids[q][lv][src] as usize;
                    out[col].clone_from(&interned.values[q][lv][id]);
                }
            }
            return Ok(outcome);
        }
    }
    Err(Unreachable {
        k: target.k,
        l: target.l,
        max_suppressed: target.max_suppressed,
        rows: table.rows.len(),
        suppressed: fewest_suppressed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_wards(_: &str) -> Option<String> {
        None
    }

    fn province(ward: &str) -> Option<String> {
        Some(format!("P{}", &ward[..1]))
    }

    #[test]
    fn ladders_generalise_step_by_step() {
        let d = |lv| Ladder::Date.generalise("1987-06-15", lv, &no_wards);
        assert_eq!(
            (0..=5).map(d).collect::<Vec<_>>(),
            [
                "1987-06-15",
                "1987-06",
                "1987",
                "1985-1989",
                "1980-1989",
                "*"
            ]
        );
        assert_eq!(Ladder::Date.generalise("1987", 1, &no_wards), "1987");
        assert_eq!(Ladder::Ward.generalise("12345", 1, &province), "P1");
        assert_eq!(Ladder::Ward.generalise("12345", 2, &province), "*");
        assert_eq!(Ladder::Value.generalise("2", 1, &no_wards), "*");
        assert_eq!(
            Ladder::Value.generalise("", 1, &no_wards),
            "",
            "empty stays empty"
        );
    }

    /// `n` people born on different days of 1987, half of each sex, with an income band.
    fn people(n: usize) -> Table {
        Table {
            rows: (0..n)
                .map(|i| {
                    vec![
                        format!("1987-{:02}-{:02}", 1 + i % 12, 1 + i % 28),
                        if i % 2 == 0 { "1" } else { "2" }.to_owned(),
                        format!("band-{}", i % 3),
                    ]
                })
                .collect(),
            quasi_identifiers: vec![(0, Ladder::Date), (1, Ladder::Value)],
            sensitive: vec![2],
        }
    }

    fn classes(t: &Table) -> HashMap<(String, String), Vec<String>> {
        let mut m: HashMap<(String, String), Vec<String>> = HashMap::new();
        for r in &t.rows {
            m.entry((r[0].clone(), r[1].clone()))
                .or_default()
                .push(r[2].clone());
        }
        m
    }

    #[test]
    fn the_least_generalisation_that_reaches_k_and_l_is_chosen() {
        let mut t = people(60);
        let target = Target {
            k: 5,
            l: 2,
            max_suppressed: 0,
        };
        let out = anonymise(&mut t, target, &no_wards).expect("reachable");
        // Dates to the year keep the sexes apart: two classes of 30.
        assert_eq!(out.levels, [2, 0]);
        assert_eq!(out.suppressed, 0);
        assert_eq!(t.rows.len(), 60);
        let c = classes(&t);
        assert_eq!(c.len(), 2);
        assert!(c.values().all(|v| v.len() >= 5));
        assert_eq!(out.achieved_k, 30);
        assert_eq!(out.achieved_l, 3);
        assert!(t.rows.iter().all(|r| r[0] == "1987"));
    }

    #[test]
    fn small_classes_are_suppressed_within_the_limit_and_never_beyond() {
        let mut t = people(60);
        // One person born in 1950: alone at every level short of withholding the date.
        t.rows
            .push(vec!["1950-01-01".into(), "1".into(), "band-0".into()]);
        let target = Target {
            k: 5,
            l: 1,
            max_suppressed: 1,
        };
        let out = anonymise(&mut t, target, &no_wards).expect("reachable");
        // Months make classes of five (one sex each); the 1950 birth is the one suppressed.
        assert_eq!(out.levels, [1, 0]);
        assert_eq!(out.suppressed, 1);
        assert_eq!(t.rows.len(), 60);
        assert!(t.rows.iter().all(|r| r[0].starts_with("1987-")));

        let mut t = people(4);
        let err = anonymise(
            &mut t,
            Target {
                k: 5,
                l: 1,
                max_suppressed: 0,
            },
            &no_wards,
        )
        .expect_err("four rows never make a class of five");
        assert_eq!(err.suppressed, 4);
        assert_eq!(t.rows.len(), 4, "a refused table is left as it was");
    }

    #[test]
    fn l_diversity_generalises_further_than_k_alone() {
        // Women all in one band: k holds per sex, l does not until sexes are merged.
        let mut t = people(60);
        for r in &mut t.rows {
            if r[1] == "2" {
                r[2] = "band-x".into();
            }
        }
        let only_k = anonymise(
            &mut t.clone(),
            Target {
                k: 5,
                l: 1,
                max_suppressed: 0,
            },
            &no_wards,
        )
        .expect("k alone");
        assert_eq!(only_k.levels, [1, 0]);
        let with_l = anonymise(
            &mut t,
            Target {
                k: 5,
                l: 2,
                max_suppressed: 0,
            },
            &no_wards,
        )
        .expect("k and l");
        assert_eq!(with_l.levels, [2, 1], "sex withheld");
        assert!(with_l.achieved_l >= 2);
        assert!(t.rows.iter().all(|r| r[1] == "*"));
    }
}
