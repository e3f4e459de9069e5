//! The demo's civil-service register against its population: every injected error class is
//! found, with precision and recall per class measured against the ground truth.

use std::collections::HashMap;

use ndx_demo::{Country, InjectedError};
use ndx_match::compare::Kind;
use ndx_match::{AddressInput, Config, Linker, PersonRecord, Status};

fn text(r: &ndx_demo::Record, k: &str) -> Option<String> {
    r.get(k).and_then(|v| v.as_str()).map(str::to_owned)
}

/// Which finding stands for an injected error class.
fn finding_of(e: InjectedError) -> Option<Kind> {
    Some(match e {
        InjectedError::NameTypo => Kind::NameTypo,
        InjectedError::DiacriticsStripped => Kind::DiacriticsLost,
        InjectedError::DayMonthSwapped => Kind::DayMonthSwapped,
        InjectedError::OldAddress => Kind::OldAddress,
        InjectedError::WrongCitizenId => Kind::CitizenIdWrong,
        InjectedError::UnknownCitizenId => Kind::CitizenIdUnknown,
        InjectedError::MissingCitizenId => Kind::CitizenIdMissing,
        InjectedError::Duplicate => return None,
    })
}

#[derive(Default, Debug)]
struct Tally {
    true_positive: usize,
    false_positive: usize,
    false_negative: usize,
}

impl Tally {
    fn precision(&self) -> f64 {
        self.true_positive as f64 / (self.true_positive + self.false_positive).max(1) as f64
    }
    fn recall(&self) -> f64 {
        self.true_positive as f64 / (self.true_positive + self.false_negative).max(1) as f64
    }
}

#[test]
fn every_injected_error_class_is_found() {
    evaluate(true);
}

/// As the civil-service register's cross-checking agreement releases the population: names,
/// birth dates and sex, no address.
#[test]
fn every_injected_error_class_is_found_without_the_reference_address() {
    evaluate(false);
}

fn evaluate(with_address: bool) {
    let country = Country::new(2026, 100_000);
    let staff = country.civil_servants();
    let mut linker = Linker::new(Config::default());
    for s in &staff {
        let r = &s.record;
        linker
            .add_target(PersonRecord {
                id: text(r, "staff_id").unwrap(),
                citizen_id: text(r, "citizen_id"),
                full_name: text(r, "full_name"),
                date_of_birth: text(r, "date_of_birth"),
                sex: text(r, "sex"),
                address: text(r, "address").map(AddressInput::Text),
            })
            .unwrap();
    }
    for r in country.population() {
        linker.add_reference(PersonRecord {
            id: text(&r, "citizen_id").unwrap(),
            citizen_id: text(&r, "citizen_id"),
            full_name: text(&r, "full_name"),
            date_of_birth: text(&r, "date_of_birth"),
            sex: text(&r, "sex"),
            address: with_address.then(|| AddressInput::Codes {
                street: text(&r, "street_address"),
                ward_code: text(&r, "ward_code"),
                province_code: text(&r, "province_code"),
            }),
        });
    }
    let (outcomes, summary) = linker.finish();
    assert_eq!(outcomes.len(), staff.len());

    // Matching: each record that is a person of the population is matched to that person.
    let mut right = 0;
    let mut wrong = 0;
    let mut unmatched = 0;
    for (s, o) in staff.iter().zip(&outcomes) {
        let truth = s.truth.person_index.map(|i| country.citizen_id(i));
        match (&o.reference_id, &truth) {
            (Some(got), Some(want)) if got == want => right += 1,
            (Some(_), _) => wrong += 1,
            (None, _) => unmatched += 1,
        }
    }
    let total = staff.len();
    eprintln!("matched right {right}, wrong {wrong}, unmatched {unmatched} of {total}");
    eprintln!("{:?}", summary.by_status);
    for line in summary.model.describe() {
        eprintln!("  {line}");
    }
    assert!(
        wrong as f64 / total as f64 <= 0.002,
        "wrong matches {wrong}"
    );
    assert!(right as f64 / total as f64 >= 0.99, "right matches {right}");

    // Per class.
    let mut tallies: HashMap<&str, Tally> = HashMap::new();
    for (s, o) in staff.iter().zip(&outcomes) {
        for class in InjectedError::ALL {
            let Some(kind) = finding_of(class) else {
                continue;
            };
            let mut injected = s.truth.errors.contains(&class);
            // A typo that only took a mark off a letter leaves no trace once the whole name is
            // stripped of its marks: what is left is a stripped name, not a typo.
            if let Some(i) = s.truth.person_index {
                let original = text(&country.person(i), "full_name").unwrap();
                let written = text(&s.record, "full_name").unwrap();
                let looks_stripped =
                    written != original && written == ndx_types::text::fold_diacritics(&original);
                match class {
                    InjectedError::NameTypo => injected &= !looks_stripped,
                    InjectedError::DiacriticsStripped => injected |= looks_stripped,
                    _ => {}
                }
            }
            let found = o.findings.contains(&kind);
            let t = tallies.entry(kind.as_str()).or_default();
            match (injected, found) {
                (true, true) => t.true_positive += 1,
                (false, true) => t.false_positive += 1,
                (true, false) => t.false_negative += 1,
                (false, false) => {}
            }
        }
    }
    // Duplicates: a pair of records of one person, one pointing at the other.
    let index: HashMap<&str, usize> = outcomes
        .iter()
        .enumerate()
        .map(|(i, o)| (o.target_id.as_str(), i))
        .collect();
    let mut by_person: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, s) in staff.iter().enumerate() {
        if let Some(p) = s.truth.person_index {
            by_person.entry(p).or_default().push(i);
        }
    }
    let dup = tallies.entry("duplicate").or_default();
    for (i, o) in outcomes.iter().enumerate() {
        if let Some(first) = &o.duplicate_of {
            let j = index[first.as_str()];
            if staff[i].truth.person_index.is_some()
                && staff[i].truth.person_index == staff[j].truth.person_index
            {
                dup.true_positive += 1;
            } else {
                dup.false_positive += 1;
            }
        }
    }
    dup.false_negative = by_person
        .values()
        .filter(|records| records.len() > 1)
        .map(|records| records.len() - 1)
        .sum::<usize>()
        .saturating_sub(dup.true_positive);

    let mut names: Vec<&&str> = tallies.keys().collect();
    names.sort();
    eprintln!("| class | injected | found | precision | recall |");
    for name in names {
        let t = &tallies[*name];
        eprintln!(
            "| {name} | {} | {} | {:.4} | {:.4} |",
            t.true_positive + t.false_negative,
            t.true_positive + t.false_positive,
            t.precision(),
            t.recall()
        );
    }
    if !with_address {
        // Without the reference's address there is nothing to compare an old one with.
        assert_eq!(
            tallies["old-address"].true_positive + tallies["old-address"].false_positive,
            0
        );
        tallies.remove("old-address");
    }
    for (name, t) in &tallies {
        assert!(
            t.true_positive + t.false_negative > 0,
            "{name}: nothing injected"
        );
        assert!(
            t.precision() >= 0.95,
            "{name}: precision {:.4} {t:?}",
            t.precision()
        );
        assert!(t.recall() >= 0.95, "{name}: recall {:.4} {t:?}", t.recall());
    }
    // Every staff member is a person of this population: nothing is left unmatched, and only
    // namesakes born the same day are ambiguous (more of them without the address).
    let ambiguous_bound = if with_address {
        total / 1000
    } else {
        total / 200
    };
    for (status, n) in &summary.by_status {
        match status {
            Status::Exact | Status::MatchWithDifferences | Status::Probable => assert!(*n > 0),
            Status::Ambiguous => assert!(*n <= ambiguous_bound, "{status:?} {n}"),
            Status::NoMatch => assert_eq!(*n, 0),
        }
    }
}
