//! An independent conformance client: the PyPI `cloudfoundry-client` logs in, pages through
//! apps, creates and deletes one. Skipped, with the reason printed, only when the package
//! cannot be installed.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common;

/// A virtualenv with `cloudfoundry-client`, created once under the target dir (once per test
/// process too: both tests ask, and must not build the venv at the same time).
fn python_with_client() -> Result<PathBuf, String> {
    static PYTHON: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    PYTHON.get_or_init(make_venv).clone()
}

fn make_venv() -> Result<PathBuf, String> {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cfvenv");
    let python = venv.join("bin/python");
    let has_client = |p: &Path| {
        Command::new(p)
            .args(["-c", "import cloudfoundry_client"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if has_client(&python) {
        return Ok(python);
    }
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .map_err(|e| format!("python3 -m venv: {e}"))?;
    if !made.status.success() {
        return Err(format!(
            "python3 -m venv failed: {}",
            String::from_utf8_lossy(&made.stderr)
        ));
    }
    let pip = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "cloudfoundry-client"])
        .output()
        .map_err(|e| format!("pip: {e}"))?;
    if !pip.status.success() || !has_client(&python) {
        return Err(format!(
            "pip install cloudfoundry-client failed: {}",
            String::from_utf8_lossy(&pip.stderr)
        ));
    }
    Ok(python)
}

#[tokio::test]
async fn the_pypi_cloudfoundry_client_works_against_the_simulator() {
    let python = match tokio::task::spawn_blocking(python_with_client)
        .await
        .unwrap()
    {
        Ok(p) => p,
        Err(reason) => {
            crate::common::skip(&format!("cloudfoundry-client unavailable: {reason}"));
            return;
        }
    };
    let sim = common::start().await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/cf_client_check.py");
    let url = sim.handle.url().to_owned();
    let out = tokio::process::Command::new(python)
        .arg(script)
        .arg(url)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "client failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(seen["flag_enabled"], true);
    assert_eq!(seen["space_name"], "py-space");
    let listed: Vec<&str> = seen["listed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        ["py-app-0", "py-app-1", "py-app-2", "py-app-3", "py-app-4"],
        "the client followed next links"
    );
    assert_eq!(seen["fetched_lifecycle"], "docker");
    assert_eq!(seen["after_delete"].as_array().unwrap().len(), 4);
    let counts = sim.handle.request_counts();
    // 5 apps at 2 per page, then 4 apps: 3 + 2 pages.
    assert_eq!(
        counts.get("GET /v3/apps").copied(),
        Some(5),
        "the client paged: {counts:?}"
    );
    assert!(
        counts.contains_key("GET /v3/jobs/:guid"),
        "the client polled the delete job"
    );
}

#[tokio::test]
async fn the_pypi_cloudfoundry_client_drives_the_stackato_dialect() {
    let python = match tokio::task::spawn_blocking(python_with_client)
        .await
        .unwrap()
    {
        Ok(p) => p,
        Err(reason) => {
            crate::common::skip(&format!("cloudfoundry-client unavailable: {reason}"));
            return;
        }
    };
    // The client polls in real time: no staging delay, so it sees instances at once.
    let cfg = simulator::SimConfig {
        stackato: true,
        staging_duration: std::time::Duration::ZERO,
        registry: Some(simulator::RegistryConfig {
            basic_auth: Some(("ci".into(), "pw".into())),
            ..Default::default()
        }),
        ..simulator::SimConfig::default()
    };
    let handle = simulator::start(cfg).await.unwrap();
    handle.set_feature_flag("diego_docker", true).unwrap();
    handle.create_space("demo", "dev").unwrap();
    let registry = handle.registry().unwrap();
    registry.push_image("demo/hello", "v1", "hello");
    let image = format!("ci:pw@{}/demo/hello:v1", registry.host());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/cf_client_v2_check.py");
    let out = tokio::process::Command::new(python)
        .arg(script)
        .arg(handle.url())
        .arg(&image)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "client failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        seen["docker_image"],
        format!("{}/demo/hello:v1", registry.host()),
        "no credentials echoed"
    );
    assert_eq!(seen["password"], "***");
    assert_eq!(seen["states"], serde_json::json!(["RUNNING", "RUNNING"]));
    assert_eq!(seen["running"], 2);
    assert_eq!(seen["listed"], serde_json::json!(["py-v2"]));
    let counts = handle.request_counts();
    assert!(counts.contains_key("PUT /v2/apps/:guid"), "{counts:?}");
    assert!(
        counts.contains_key("GET /v2/apps/:guid/instances"),
        "{counts:?}"
    );
}
