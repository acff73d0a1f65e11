//! The label_selector grammar as a pure function: whitespace, prefixes and rejections.

use std::collections::BTreeMap;

use simulator::{Requirement, parse_selector};

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn parses_every_operator() {
    let s =
        parse_selector("a, !b, c=1, d==2, e!=3, f in (x, y), g notin (z), example.com/h").unwrap();
    assert_eq!(s.0.len(), 8);
    assert_eq!(s.0[0], Requirement::Exists("a".into()));
    assert_eq!(s.0[1], Requirement::NotExists("b".into()));
    assert_eq!(s.0[2], Requirement::Equals("c".into(), "1".into()));
    assert_eq!(s.0[3], Requirement::Equals("d".into(), "2".into()));
    assert_eq!(s.0[4], Requirement::NotEquals("e".into(), "3".into()));
    assert_eq!(
        s.0[5],
        Requirement::In("f".into(), ["x".to_owned(), "y".to_owned()].into())
    );
    assert_eq!(
        s.0[6],
        Requirement::NotIn("g".into(), ["z".to_owned()].into())
    );
    assert_eq!(s.0[7], Requirement::Exists("example.com/h".into()));
    let ok = labels(&[
        ("a", "1"),
        ("c", "1"),
        ("d", "2"),
        ("e", "4"),
        ("f", "y"),
        ("example.com/h", ""),
    ]);
    assert!(s.matches(&ok));
    let bad = labels(&[
        ("a", "1"),
        ("b", "1"),
        ("c", "1"),
        ("d", "2"),
        ("f", "y"),
        ("example.com/h", ""),
    ]);
    assert!(!s.matches(&bad), "!b fails");
}

#[test]
fn rejects_malformed_selectors() {
    for bad in [
        "",
        " ",
        "a,",
        "a in ()x",
        "a in (b",
        "a notin b",
        "cloudfoundry.org/x",
        "a=b=c",
        "-a",
        "a==(",
        "a b",
    ] {
        assert!(parse_selector(bad).is_err(), "{bad:?} should be rejected");
    }
}
