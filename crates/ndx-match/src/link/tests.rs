//! One case per status and per kind of key error, over a real-looking reference.

use super::*;
use crate::person::AddressInput;

fn person(
    id: &str,
    cid: Option<&str>,
    name: &str,
    dob: &str,
    sex: &str,
    address: &str,
) -> PersonRecord {
    PersonRecord {
        id: id.into(),
        citizen_id: cid.map(Into::into),
        full_name: Some(name.into()),
        date_of_birth: Some(dob.into()),
        sex: Some(sex.into()),
        address: Some(AddressInput::Text(address.into())),
    }
}

fn reference_from(country: &ndx_demo::Country, i: usize) -> PersonRecord {
    let r = country.person(i);
    let s = |k: &str| r.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    PersonRecord {
        id: s("citizen_id").unwrap(),
        citizen_id: s("citizen_id"),
        full_name: s("full_name"),
        date_of_birth: s("date_of_birth"),
        sex: s("sex"),
        address: Some(AddressInput::Codes {
            street: s("street_address"),
            ward_code: s("ward_code"),
            province_code: s("province_code"),
        }),
    }
}

fn run(
    targets: Vec<PersonRecord>,
    extra_references: Vec<PersonRecord>,
) -> (HashMap<String, Outcome>, Summary) {
    let country = ndx_demo::Country::new(7, 5_000);
    let mut linker = Linker::new(Config::default());
    for t in targets {
        linker.add_target(t).unwrap();
    }
    for i in 0..country.citizens() {
        linker.add_reference(reference_from(&country, i));
    }
    for r in extra_references {
        linker.add_reference(r);
    }
    let (outcomes, summary) = linker.finish();
    (
        outcomes
            .into_iter()
            .map(|o| (o.target_id.clone(), o))
            .collect(),
        summary,
    )
}

#[test]
fn every_status_and_key_error() {
    let country = ndx_demo::Country::new(7, 5_000);
    let get = |i: usize, k: &str| country.person(i)[k].as_str().unwrap().to_owned();
    let address = |i: usize| {
        let ward = ndx_types::reference::ward_2025(&get(i, "ward_code")).unwrap();
        let province = ndx_types::reference::province_2025(&ward.province_code).unwrap();
        format!(
            "{}, {}, {}",
            get(i, "street_address"),
            ward.name,
            province.name
        )
    };
    let copy = |id: &str, i: usize, cid: Option<String>| {
        person(
            id,
            cid.as_deref(),
            &get(i, "full_name"),
            &get(i, "date_of_birth"),
            &get(i, "sex"),
            &address(i),
        )
    };
    let mut targets = vec![
        copy("exact", 0, Some(get(0, "citizen_id"))),
        copy("probable", 2, None),
        copy("wrong-id", 3, Some(get(4, "citizen_id"))),
        copy("duplicate", 0, Some(get(0, "citizen_id"))),
        person(
            "nobody",
            None,
            "Hoàng Thị Không Có",
            "1901-01-01",
            "2",
            "1 Đường A, Phường Ba Đình, Thành phố Hà Nội",
        ),
        person(
            "twin",
            None,
            "Lê Văn Song",
            "1990-05-05",
            "1",
            "3 Đường B, Phường Ba Đình, Thành phố Hà Nội",
        ),
        copy("unknown-id", 5, Some("001099999999".into())),
        copy("invalid-id", 6, Some("12345".into())),
    ];
    let mut typo = copy("differences", 1, Some(get(1, "citizen_id")));
    typo.full_name = Some(ndx_types::text::fold_diacritics(&get(1, "full_name")));
    let dob = crate::person::BirthDate::parse(&get(1, "date_of_birth")).unwrap();
    typo.date_of_birth = Some(format!("{:02}/{:02}/{}", dob.day, dob.month, dob.year));
    targets.push(typo);
    // Two reference persons whom nothing but their IDs tells apart.
    let twins = ["079090000001", "079090000002"].map(|id| {
        person(
            id,
            Some(id),
            "Lê Văn Song",
            "1990-05-05",
            "1",
            "3 Đường B, Phường Ba Đình, Thành phố Hà Nội",
        )
    });
    let (by_id, summary) = run(targets, twins.to_vec());

    let o = &by_id["exact"];
    assert_eq!(
        (o.status, o.reference_id.clone()),
        (Status::Exact, Some(get(0, "citizen_id")))
    );
    assert!(o.differences.is_empty() && o.findings.is_empty() && o.duplicate_of.is_none());

    let o = &by_id["differences"];
    assert_eq!(o.status, Status::MatchWithDifferences);
    assert_eq!(o.reference_id, Some(get(1, "citizen_id")));
    let name_kind = if get(1, "full_name") == ndx_types::text::fold_diacritics(&get(1, "full_name"))
    {
        None
    } else {
        Some(Kind::DiacriticsLost)
    };
    let kinds: Vec<Kind> = o.differences.iter().map(|d| d.kind).collect();
    let mut want: Vec<Kind> = name_kind.into_iter().collect();
    if dob.swapped().is_some() {
        want.push(Kind::DayMonthSwapped);
    }
    assert_eq!(kinds, want, "{o:?}");

    let o = &by_id["probable"];
    assert_eq!(o.status, Status::Probable, "{o:?}");
    assert_eq!(o.reference_id, Some(get(2, "citizen_id")));
    assert!(o.score.unwrap() >= 0.9);
    assert_eq!(o.differences[0].field, "citizen_id");
    assert_eq!(o.differences[0].kind, Kind::CitizenIdMissing);
    assert_eq!(o.differences[0].reference, get(2, "citizen_id"));

    let o = &by_id["wrong-id"];
    assert_eq!(o.status, Status::Probable, "{o:?}");
    assert_eq!(o.reference_id, Some(get(3, "citizen_id")));
    assert_eq!(
        (o.differences[0].kind, o.differences[0].reference.clone()),
        (Kind::CitizenIdWrong, get(3, "citizen_id"))
    );

    let o = &by_id["unknown-id"];
    assert_eq!(
        (o.status, o.findings[0]),
        (Status::Probable, Kind::CitizenIdUnknown),
        "{o:?}"
    );
    assert_eq!(o.reference_id, Some(get(5, "citizen_id")));

    let o = &by_id["invalid-id"];
    assert_eq!(
        (o.status, o.findings[0]),
        (Status::Probable, Kind::CitizenIdInvalid),
        "{o:?}"
    );

    let o = &by_id["nobody"];
    assert_eq!(
        (o.status, o.reference_id.clone(), o.findings.clone()),
        (Status::NoMatch, None, vec![Kind::CitizenIdMissing])
    );

    let o = &by_id["twin"];
    assert_eq!(
        (o.status, o.reference_id.clone(), o.plausible),
        (Status::Ambiguous, None, 2),
        "{o:?}"
    );

    let o = &by_id["duplicate"];
    assert_eq!(o.status, Status::Exact);
    assert_eq!(o.duplicate_of.as_deref(), Some("exact"));

    assert_eq!(summary.targets, 9);
    assert_eq!(summary.references, 5_002);
    assert_eq!(summary.duplicates, 1);
}

#[test]
fn a_repeated_target_id_is_refused_with_both_positions() {
    let mut linker = Linker::new(Config::default());
    let p = person("a", None, "An", "1990", "1", "");
    linker.add_target(p.clone()).unwrap();
    linker
        .add_target(person("b", None, "Bình", "1990", "1", ""))
        .unwrap();
    let err = linker.add_target(p).unwrap_err();
    assert_eq!((err.first, err.second), (1, 3));
    assert_eq!(
        err.to_string(),
        "target id \"a\" appears twice (records 1 and 3)"
    );
}

#[test]
fn an_empty_reference_matches_nothing() {
    let mut linker = Linker::new(Config::default());
    linker
        .add_target(person("a", Some("001090000001"), "An", "1990", "1", ""))
        .unwrap();
    let (outcomes, summary) = linker.finish();
    assert_eq!(outcomes[0].status, Status::NoMatch);
    assert_eq!(outcomes[0].findings, vec![Kind::CitizenIdUnknown]);
    assert_eq!(summary.references, 0);
}
