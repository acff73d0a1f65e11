//! Repository rules that code review would otherwise have to remember.

use std::path::{Path, PathBuf};

use driftless_tests::workspace_root;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(Result::ok)
    {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "target") {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn workspace_rust_files() -> Vec<PathBuf> {
    let root = workspace_root();
    let mut files = Vec::new();
    for member in ["reconciler", "schema", "simulator", "tests"] {
        let dir = root.join(member);
        if dir.is_dir() {
            rust_files(&dir, &mut files);
        }
    }
    files.sort();
    files
}

/// The functional core does no IO and reads no clock (STYLE.md rule 1).
#[test]
fn pure_modules_stay_pure() {
    let root = workspace_root();
    let pure = [
        "reconciler/src/model",
        "reconciler/src/plan",
        "reconciler/src/yaml.rs",
        "reconciler/src/diag.rs",
        "reconciler/src/load/config.rs",
        "reconciler/src/load/manifest.rs",
        "reconciler/src/registry/challenge.rs",
        "reconciler/src/render",
        "schema/src",
    ];
    let banned = [
        "tokio::",
        "reqwest::",
        "git2::",
        "std::fs",
        "std::net::Tcp",
        "std::net::Udp",
        "Utc::now",
        "SystemTime::now",
        "Instant::now",
        ".await",
        "std::env::var",
        "std::process",
    ];
    let mut files = Vec::new();
    for path in pure {
        let full = root.join(path);
        if full.is_dir() {
            rust_files(&full, &mut files)
        } else {
            files.push(full)
        }
    }
    assert!(
        files.len() >= 8,
        "the pure module list points at missing files: {files:?}"
    );
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read");
        for word in banned {
            assert!(
                !text.contains(word),
                "{} is a pure module but mentions `{word}`",
                file.display()
            );
        }
    }
}

/// Every Rust file says what it owns in its first line (STYLE.md rule 15).
#[test]
fn every_module_starts_with_a_doc_comment() {
    for file in workspace_rust_files() {
        let text = std::fs::read_to_string(&file).expect("read");
        assert!(
            text.starts_with("//!"),
            "{} must start with a `//!` comment saying what the module owns",
            file.display()
        );
    }
}

/// anyhow is CLI glue only (STYLE.md rule 9).
#[test]
fn anyhow_lives_in_the_cli_only() {
    let allowed = ["reconciler/src/cli", "reconciler/src/main.rs"];
    for file in workspace_rust_files() {
        let relative = file
            .strip_prefix(workspace_root())
            .expect("inside the workspace");
        let text = std::fs::read_to_string(&file).expect("read");
        if text.contains("anyhow") && !relative.starts_with("tests") {
            assert!(
                allowed.iter().any(|a| relative.starts_with(Path::new(a))),
                "{} uses anyhow; only the CLI may",
                relative.display()
            );
        }
    }
}
