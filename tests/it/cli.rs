//! The real binary: exit codes, located output, `--strict`, `schema`, `--help`.

use std::path::Path;

use driftless_tests::{driftless, workspace_root};

fn write(root: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
}

fn temp_repo(name: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("driftless-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    write(&dir, files);
    dir
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn validate_reports_every_problem_of_every_file_and_exits_1() {
    let repo = temp_repo(
        "bad",
        &[
            (
                "acme/prod/a.yml",
                "applications:\n- name: web\n  docker: {image: nginx}\n  memory: 512\n  instances: -2\n",
            ),
            (
                "acme/prod/b.yml",
                "applications:\n- name: api\n  docker: {image: 'Bad/Ref'}\n",
            ),
            ("acme/dev/c.yml", "applications: [\n"),
            (".git/ignored/x/y.yml", "applications: [\n"),
        ],
    );
    let out = driftless(&repo, &["validate"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines[0].starts_with("acme/dev/c.yml:2:1: invalid YAML: "),
        "{text}"
    );
    assert_eq!(
        lines[1],
        "acme/prod/a.yml:4:11: `memory: 512` has no unit; expected a whole number with a unit: B, K, KB, M, MB, G, GB, T or TB (such as `512M` or `1G`)"
    );
    assert_eq!(
        lines[2],
        "acme/prod/a.yml:5:14: `instances` must be a whole number of 0 or more, found `-2`"
    );
    assert_eq!(
        lines[3],
        "acme/prod/b.yml:3:19: invalid image reference `Bad/Ref`: the repository path `Ref` must be lowercase; expected `[host[:port]/]repository[:tag][@sha256:<64 hex digits>]`"
    );
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(summary.contains("4 error(s)"), "{summary}");
}

#[test]
fn warnings_pass_and_strict_turns_them_into_errors() {
    let repo = temp_repo(
        "strict",
        &[(
            "acme/prod/a.yml",
            "applications:\n- name: web\n  docker: {image: nginx}\n  instaces: 2\n",
        )],
    );
    let lenient = driftless(&repo, &["validate", "."]);
    assert_eq!(lenient.status.code(), Some(0));
    assert_eq!(
        stdout(&lenient),
        "acme/prod/a.yml:4:3: warning: unknown key `instaces`; did you mean `instances`?\n"
    );
    let strict = driftless(&repo, &["validate", ".", "--strict"]);
    assert_eq!(strict.status.code(), Some(1));
    assert_eq!(
        stdout(&strict),
        "acme/prod/a.yml:4:3: unknown key `instaces`; did you mean `instances`?\n"
    );
}

#[test]
fn validate_of_a_missing_directory_is_an_error_not_a_panic() {
    let out = driftless(&workspace_root(), &["validate", "no/such/dir"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: read no/such/dir: "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn schema_prints_and_writes_the_committed_schemas() {
    let printed = driftless(&workspace_root(), &["schema"]);
    assert_eq!(printed.status.code(), Some(0));
    let committed = std::fs::read_to_string(workspace_root().join("schema/manifest.schema.json"))
        .expect("committed");
    assert_eq!(stdout(&printed), committed);
    let config = driftless(&workspace_root(), &["schema", "config"]);
    let committed = std::fs::read_to_string(workspace_root().join("schema/driftless.schema.json"))
        .expect("committed");
    assert_eq!(stdout(&config), committed);

    let out_dir = std::env::temp_dir().join(format!("driftless-schema-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out_dir);
    let wrote = driftless(
        &workspace_root(),
        &["schema", "--out", out_dir.to_str().expect("utf-8 path")],
    );
    assert_eq!(wrote.status.code(), Some(0));
    for name in ["manifest.schema.json", "driftless.schema.json"] {
        let a = std::fs::read_to_string(out_dir.join(name)).expect("written");
        let b =
            std::fs::read_to_string(workspace_root().join("schema").join(name)).expect("committed");
        assert!(a == b, "`driftless schema --out` wrote a different {name}");
    }
}

#[test]
fn every_subcommand_has_help() {
    for args in [
        &["--help"][..],
        &["validate", "--help"],
        &["schema", "--help"],
        &["plan", "--help"],
        &["apply", "--help"],
        &["drift", "--help"],
        &["demo", "--help"],
        &["simulate", "--help"],
    ] {
        let out = driftless(&workspace_root(), args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(
            stdout(&out).contains("Usage: driftless"),
            "{args:?}: {}",
            stdout(&out)
        );
    }
    let unknown = driftless(&workspace_root(), &["frobnicate"]);
    assert_eq!(unknown.status.code(), Some(2), "clap's usage error code");
}

/// Starts `driftless simulate --listen 127.0.0.1:0 --port-file F <extra>` and waits for its port.
fn spawn_simulate(
    name: &str,
    extra: &[&str],
    runtime: &tokio::runtime::Runtime,
) -> (driftless_tests::KillOnDrop, std::process::ChildStdout, u16) {
    let dir =
        std::env::temp_dir().join(format!("driftless-simulate-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let port_file = dir.join("port");
    let mut child = std::process::Command::new(driftless_tests::driftless_bin())
        .args(["simulate", "--listen", "127.0.0.1:0", "--port-file"])
        .arg(&port_file)
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start driftless simulate");
    let stdout = child.stdout.take().expect("stdout");
    // Killed on every exit path, so a failing assertion never leaves a server running.
    let child = driftless_tests::KillOnDrop(child);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let port = loop {
        if let Some(port) = std::fs::read_to_string(&port_file)
            .ok()
            .and_then(|t| t.trim().parse::<u16>().ok())
        {
            break port;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no port file within 20 s"
        );
        runtime.block_on(async { tokio::time::sleep(std::time::Duration::from_millis(20)).await });
    };
    (child, stdout, port)
}

#[test]
fn simulate_flags_reach_the_simulator() {
    let seed = std::env::temp_dir().join(format!("driftless-seed-{}.yaml", std::process::id()));
    std::fs::write(
        &seed,
        "users: [{username: ops, password: pw, admin: true}]\nclients: []\nfeature_flags: {diego_docker: true}\norgs: [{name: demo, spaces: [{name: dev, apps: [{name: web, image: 'registry.example.com/demo/web:1.0'}]}]}]\n",
    )
    .expect("write seed");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let seed_arg = seed.to_string_lossy().into_owned();
    let args = [
        "--seed",
        &seed_arg,
        "--stackato",
        "--latency-ms",
        "150",
        "--rate-limit",
        "7",
        "--token-lifetime",
        "45",
    ];
    let (child, stdout, port) = spawn_simulate("flags", &args, &runtime);
    let base = format!("http://127.0.0.1:{port}");
    runtime.block_on(async {
        let http = reqwest::Client::new();
        // --seed: its login works and replaces admin/admin; its app is there.
        let login = |user: &'static str, password: &'static str| {
            http.post(format!("{base}/uaa/oauth/token"))
                .basic_auth("cf", Some(""))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(format!(
                    "grant_type=password&username={user}&password={password}"
                ))
                .send()
        };
        assert_eq!(
            login("admin", "admin").await.expect("login").status(),
            401,
            "the seed replaced the default users"
        );
        let started = std::time::Instant::now();
        let token: serde_json::Value = login("ops", "pw")
            .await
            .expect("login")
            .json()
            .await
            .expect("token json");
        // --latency-ms: every request waits at least that long.
        assert!(
            started.elapsed() >= std::time::Duration::from_millis(150),
            "latency not applied"
        );
        // --token-lifetime 45: not the default 1200 s (short enough to see, long enough to use;
        // token times are whole seconds, so a 1 s token can expire before its first use).
        assert_eq!(token["expires_in"].as_u64(), Some(45), "{token}");
        let access = token["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned();
        let apps = http
            .get(format!("{base}/v3/apps?names=web"))
            .bearer_auth(&access)
            .send()
            .await
            .expect("apps");
        // --rate-limit 7: the limit is announced on every answer.
        assert_eq!(
            apps.headers()
                .get("x-ratelimit-limit")
                .and_then(|v| v.to_str().ok()),
            Some("7")
        );
        let apps: serde_json::Value = apps.json().await.expect("apps json");
        assert_eq!(apps["resources"][0]["name"], "web", "{apps}");
        // --stackato: the v2 dialect is served.
        let info: serde_json::Value = http
            .get(format!("{base}/v2/info"))
            .send()
            .await
            .expect("v2 info")
            .json()
            .await
            .expect("json");
        assert!(info["authorization_endpoint"].is_string(), "{info}");
    });
    drop(child);
    let mut text = String::new();
    std::io::Read::read_to_string(&mut { stdout }, &mut text).expect("read stdout");
    assert!(
        text.contains("Logins: user ops/pw (admin)") && !text.contains("admin/admin"),
        "{text}"
    );
}

#[test]
fn simulate_serves_a_foundation_on_a_free_port_until_terminated() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (child, stdout, port) = spawn_simulate("serve", &["--registry"], &runtime);
    let root: serde_json::Value = runtime
        .block_on(async {
            reqwest::get(format!("http://127.0.0.1:{port}/"))
                .await?
                .json()
                .await
        })
        .expect("GET /");
    assert_eq!(
        root["links"]["cloud_controller_v3"]["href"],
        format!("http://127.0.0.1:{port}/v3")
    );
    // SIGTERM stops it cleanly.
    let pid = child.0.id().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let mut child = child;
    let exit = child.0.wait().expect("wait");
    assert_eq!(exit.code(), Some(0), "{exit:?}");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut { stdout }, &mut text).expect("read stdout");
    assert!(
        text.contains(&format!("Cloud Controller API: http://127.0.0.1:{port}")),
        "{text}"
    );
    assert!(
        text.contains("Docker registry: http://127.0.0.1:"),
        "{text}"
    );
}

/// The README's main job: the whole loop offline on the embedded foundation, every step
/// exiting as it should, the hand-made drift reported and then gone.
#[test]
fn demo_runs_the_whole_loop_and_finds_the_hand_made_drift() {
    let out = driftless(&workspace_root(), &["demo"]);
    let text = stdout(&out);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{text}\n{err}");
    for expected in [
        "== 1. driftless plan: what git wants that the foundation lacks (exit 2)",
        "~ feature_flag:diego_docker",
        "+ app:demo/dev/hello",
        "+ app:demo/dev/worker",
        "== 2. driftless apply: enable diego_docker, push both apps (exit 0)",
        "Apply: 3 applied, 0 failed, 0 blocked, 0 skipped.",
        "== 3. driftless drift: what changed behind git's back (exit 2)",
        "instances: 5 -> 2",
        "env.GREETING: \"edited by hand\" -> \"hello from driftless\"",
        "== 4. driftless apply: back to what git says (exit 0)",
        "== 5. driftless drift: nothing left (exit 0)",
        "No changes: the foundation matches git.",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    // Step 3 lists hello only: worker was not touched by hand.
    let drift = &text[text.find("== 3.").expect("step 3")..text.find("== 4.").expect("step 4")];
    assert!(!drift.contains("app:demo/dev/worker"), "{drift}");
    assert!(
        !text.contains("admin"),
        "no login secret in the demo's report"
    );
}

/// The quickstart README's path: `driftless simulate` with the example's space, domain and
/// images, then `apply` and a no-op `plan` of examples/quickstart (its registry host swapped
/// for the free port the test got, its API given with --api).
#[test]
fn the_quickstart_converges_on_driftless_simulate() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let args = [
        "--registry-image",
        "demo/hello:1.0",
        "--registry-image",
        "demo/worker:1.0",
        "--space",
        "demo/dev",
        "--shared-domain",
        "apps.example.com",
    ];
    let (child, stdout, port) = spawn_simulate("quickstart", &args, &runtime);
    let mut registry = None;
    for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
        let line = line.expect("stdout line");
        if let Some(host) = line.strip_prefix("Docker registry: http://") {
            registry = Some(host.to_owned());
        }
        if line.starts_with("Serving until") {
            break;
        }
    }
    let registry = registry.expect("the registry's address is printed");
    let quickstart = workspace_root().join("examples/quickstart");
    let manifest = std::fs::read_to_string(quickstart.join("demo/dev/manifest.yml"))
        .expect("quickstart manifest")
        .replace("localhost:5000", &registry);
    let config = std::fs::read_to_string(quickstart.join("driftless.yaml")).expect("config");
    let repo = temp_repo(
        "quickstart",
        &[
            ("driftless.yaml", &config),
            ("demo/dev/manifest.yml", &manifest),
        ],
    );
    let api = format!("http://127.0.0.1:{port}");
    let state = repo.join(".state");
    let run = |args: &[&str]| {
        std::process::Command::new(driftless_tests::driftless_bin())
            .args(args)
            .args(["--repo"])
            .arg(&repo)
            .args(["--api", &api, "--state-dir"])
            .arg(&state)
            .env("CF_PASSWORD", "admin")
            .output()
            .expect("run driftless")
    };
    let applied = run(&["apply", "--output", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&applied.stdout).expect("json report");
    assert_eq!(
        applied.status.code(),
        Some(0),
        "{report:#}\n{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    assert_eq!(report["summary"]["create"], 2, "{report:#}");
    let results: Vec<&str> = report["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter_map(|c| c["result"].as_str())
        .collect();
    assert_eq!(results, ["applied", "applied", "applied"], "{report:#}");
    let again = run(&["plan", "--detailed-exitcode"]);
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
    drop(child);
}
