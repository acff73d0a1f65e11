//! Support for the end-to-end tests and benches: the real `driftless` binary, the workspace
//! layout, and file snapshots.

#[path = "support/registry.rs"]
pub mod registry;

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::OnceLock,
};

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The `driftless` binary, built (or found up to date) once per test process.
///
/// A test crate cannot ask Cargo for another package's binary, so this runs `cargo build` for
/// it: a no-op when `scripts/test` (or an earlier test) has built it already, and never stale.
pub fn driftless_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.current_dir(workspace_root()).args([
            "build",
            "--quiet",
            "-p",
            "driftless",
            "--bin",
            "driftless",
            "--message-format=json",
        ]);
        if !cfg!(debug_assertions) {
            cmd.arg("--release");
        }
        let output = cmd.output().expect("run cargo build");
        assert!(
            output.status.success(),
            "cargo build failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|msg| {
                msg["reason"] == "compiler-artifact" && msg["target"]["name"] == "driftless"
            })
            .find_map(|msg| msg["executable"].as_str().map(PathBuf::from))
            .expect("cargo reported the driftless executable")
    })
}

/// Runs `driftless` with `args` in `dir`.
pub fn driftless(dir: &Path, args: &[&str]) -> Output {
    Command::new(driftless_bin())
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run driftless")
}

/// Checks that each path holds its contents; rewrites every stale one and then fails, so a
/// re-run passes and the diff is reviewed in git (rust-analyzer's `ensure_file_contents`).
pub fn ensure_file_contents(files: &[(PathBuf, String)]) {
    let mut stale = Vec::new();
    for (path, contents) in files {
        if std::fs::read_to_string(path).ok().as_deref() != Some(contents.as_str()) {
            std::fs::write(path, contents).expect("rewrite the stale file");
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "not up to date, now rewritten (re-run the tests and commit them): {stale:?}"
    );
}

/// Every `examples/<name>/` directory.
pub fn example_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(workspace_root().join("examples"))
        .expect("examples/ exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// A child process that is killed when dropped (a test that fails mid-way leaves nothing behind).
#[derive(Debug)]
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
