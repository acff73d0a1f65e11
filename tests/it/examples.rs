//! Every example repo validates cleanly, even under `--strict` (STYLE.md rule 13).

use driftless_tests::{driftless, example_dirs};

#[test]
fn every_example_validates_strictly_with_no_diagnostics() {
    let dirs = example_dirs();
    let names: Vec<String> = dirs
        .iter()
        .filter_map(|d| d.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .collect();
    for expected in ["multi-space", "private-registry", "quickstart", "stackato"] {
        assert!(
            names.iter().any(|n| n == expected),
            "examples/{expected} is missing: {names:?}"
        );
    }
    for dir in dirs {
        assert!(
            dir.join("README.md").is_file(),
            "{} has no README.md",
            dir.display()
        );
        assert!(
            !dir.join(".git").exists(),
            "{} must not hold a nested .git",
            dir.display()
        );
        let out = driftless(&dir, &["validate", ".", "--strict"]);
        assert_eq!(
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned()
            ),
            (Some(0), String::new()),
            "{}",
            dir.display()
        );
        let summary = String::from_utf8_lossy(&out.stderr);
        assert!(
            !summary.starts_with("0 valid"),
            "{} declares no app: {summary}",
            dir.display()
        );
    }
}
