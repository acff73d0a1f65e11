//! `plan`, `apply` and `drift` of the real binary against the in-process simulator over
//! loopback: first deploy and a cheap no-op, drift made by hand, a moved tag, a registry that is
//! down, a failed rollout rolled back and not retried (v3 and Stackato), prune and the
//! mass-delete guard, adoption, `diego_docker`, the Stackato dialect, private registries (the
//! embedded one with Basic and Bearer auth, a docker `config.json`, a real `docker-registry`
//! with htpasswd and with tokens, a rotated password), canary rollouts, routes, process changes,
//! `suspend`, two foundations, an invalid `driftless.yaml`, and an invalid manifest next to a
//! valid one.
//!
//! Every run goes through [`Repo::run`], which scans its stdout and stderr for the CF password
//! and for every `*PASSWORD*` value it passed in the environment.

use std::{
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use driftless::{
    cf::http::{CfHttp, CfOptions, Login},
    secret::Secret,
};
use driftless_tests::{KillOnDrop, driftless_bin, registry as real_registry, workspace_root};
use serde_json::{Value, json};
use simulator::{RegistryConfig, SeedState, SimConfig, SimHandle, UserSpec};

/// The simulator's admin password in these tests: distinctive, so a scan for it means something.
const CF_PASSWORD: &str = "cf-admin-Pw-e2e-71c3";
const ORG: &str = "demo";
const SPACE: &str = "dev";
const DOMAIN: &str = "apps.example.com";

// ---------------------------------------------------------------------------------------------
// The foundation.

/// Quick staging and rollouts, the admin login above, the embedded registry (anonymous).
fn sim_config() -> SimConfig {
    SimConfig {
        users: vec![UserSpec {
            username: "admin".into(),
            password: CF_PASSWORD.into(),
            admin: true,
        }],
        registry: Some(RegistryConfig::default()),
        staging_duration: Duration::from_millis(50),
        deployment_duration: Duration::from_millis(100),
        shared_domain: DOMAIN.into(),
        ..SimConfig::default()
    }
}

async fn start(config: SimConfig) -> SimHandle {
    simulator::start(config).await.expect("start the simulator")
}

/// A started simulator with `demo/dev` created.
async fn foundation(config: SimConfig) -> SimHandle {
    let sim = start(config).await;
    sim.create_space(ORG, SPACE).expect("create demo/dev");
    sim
}

fn registry_host(sim: &SimHandle) -> String {
    sim.registry().expect("embedded registry").host()
}

/// What the simulator runs for one app, read from its state dump (not through driftless).
#[derive(Debug, Clone, PartialEq)]
struct Running {
    guid: String,
    state: String,
    instances: u64,
    memory: u64,
    disk: u64,
    command: Option<String>,
    /// The current droplet's image reference and the digest staging resolved.
    image: Option<String>,
    digest: Option<String>,
    env: Value,
    labels: Value,
    annotations: Value,
}

fn running(sim: &SimHandle, space: &str, name: &str) -> Option<Running> {
    let state = sim.state_dump();
    let list = |key: &str| state[key].as_array().cloned().unwrap_or_default();
    let org_guid = list("organizations")
        .into_iter()
        .find(|o| o["name"] == ORG)?["guid"]
        .clone();
    let space_guid = list("spaces")
        .into_iter()
        .find(|s| s["name"] == space && s["org"] == org_guid)?["guid"]
        .clone();
    let app = list("apps")
        .into_iter()
        .find(|a| a["space"] == space_guid && a["name"] == name)?;
    let web = list("processes")
        .into_iter()
        .filter(|p| p["app"] == app["guid"] && p["kind"] == "web")
        .max_by_key(|p| p["seq"].as_u64())?;
    let droplet = list("droplets")
        .into_iter()
        .find(|d| d["guid"] == app["current_droplet"]);
    let text = |v: &Value| v.as_str().map(str::to_owned);
    Some(Running {
        guid: text(&app["guid"]).unwrap_or_default(),
        state: text(&app["state"]).unwrap_or_default(),
        instances: web["instances"].as_u64().unwrap_or_default(),
        memory: web["memory_in_mb"].as_u64().unwrap_or_default(),
        disk: web["disk_in_mb"].as_u64().unwrap_or_default(),
        command: text(&web["command"]),
        image: droplet.as_ref().and_then(|d| text(&d["image"])),
        digest: droplet.as_ref().and_then(|d| text(&d["digest"])),
        env: app["env"].clone(),
        labels: app["metadata"]["labels"].clone(),
        annotations: app["metadata"]["annotations"].clone(),
    })
}

fn must_run(sim: &SimHandle, name: &str) -> Running {
    running(sim, SPACE, name).unwrap_or_else(|| panic!("app {name} exists on the simulator"))
}

/// The route URLs of an app, asked of the Cloud Controller as a person would (`cf app`).
async fn routes_of(sim: &SimHandle, guid: &str) -> Vec<String> {
    let cf = CfHttp::connect(
        sim.url(),
        Login::Password {
            username: "admin".into(),
            password: Secret::new(CF_PASSWORD),
        },
        CfOptions::default(),
    )
    .await
    .expect("log in");
    let routes = cf
        .get(&format!("/v3/apps/{guid}/routes"))
        .await
        .expect("routes");
    let mut urls: Vec<String> = routes["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["url"].as_str().map(str::to_owned))
        .collect();
    urls.sort();
    urls
}

/// Requests served by route, e.g. `POST /v3/deployments`.
fn count(sim: &SimHandle, route: &str) -> u64 {
    sim.request_counts().get(route).copied().unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// The GitOps repo and the binary.

/// `driftless.yaml` for the simulator: the admin login from `CF_PASSWORD`, then `extra` (more
/// foundation keys, indented by four, then top-level sections).
fn config(sim: &SimHandle, platform: &str, foundation_extra: &str, top_extra: &str) -> String {
    format!(
        "foundations:\n  - name: sim\n    api: {}\n    platform: {platform}\n    auth:\n      username: admin\n      password: {{ env: CF_PASSWORD }}\n{foundation_extra}{top_extra}",
        sim.url()
    )
}

const DOCKER_ON: &str = "    feature_flags: { diego_docker: true }\n";

/// One app of a manifest: no route, `instances`, 64M, a `process` health check.
fn app(name: &str, image: &str, instances: u32) -> String {
    format!(
        "  - name: {name}\n    docker:\n      image: {image}\n    instances: {instances}\n    memory: 64M\n    no-route: true\n    health-check-type: process\n"
    )
}

fn manifest(apps: &[String]) -> String {
    format!("applications:\n{}", apps.concat())
}

/// A GitOps repo in a temporary directory, with a state directory of its own.
struct Repo {
    dir: tempfile::TempDir,
    state: tempfile::TempDir,
    git: bool,
}

/// One run of the binary.
#[derive(Debug)]
struct Run {
    args: Vec<String>,
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    #[track_caller]
    fn expect(&self, code: i32) -> &Run {
        assert_eq!(
            self.code, code,
            "driftless {:?} exited {}, expected {code}\n--- stdout\n{}\n--- stderr\n{}",
            self.args, self.code, self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "driftless {:?}: stdout is not JSON ({e})\n{}\n--- stderr\n{}",
                self.args, self.stdout, self.stderr
            )
        })
    }

    /// The change for `target` (`app:demo/dev/web`, `feature_flag:diego_docker`).
    #[track_caller]
    fn change(&self, target: &str) -> Value {
        let doc = self.json();
        doc["changes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["target"] == target)
            .cloned()
            .unwrap_or_else(|| panic!("no change for {target} in\n{}", self.stdout))
    }

    /// The field `path` of the change for `target`.
    #[track_caller]
    fn field(&self, target: &str, path: &str) -> Value {
        let change = self.change(target);
        change["fields"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|f| f["path"] == path)
            .cloned()
            .unwrap_or_else(|| panic!("no field {path} for {target} in\n{change:#}"))
    }
}

fn target(name: &str) -> String {
    format!("app:{ORG}/{SPACE}/{name}")
}

#[track_caller]
fn assert_action(run: &Run, name: &str, action: &str, result: Option<&str>) {
    let change = run.change(&target(name));
    assert_eq!(change["action"], action, "{name}: {change:#}");
    if let Some(result) = result {
        assert_eq!(change["result"], result, "{name}: {change:#}");
    }
}

impl Repo {
    fn new(files: &[(&str, &str)]) -> Repo {
        let repo = Repo {
            dir: tempfile::tempdir().expect("repo dir"),
            state: tempfile::tempdir().expect("state dir"),
            git: false,
        };
        for (path, text) in files {
            repo.write(path, text);
        }
        repo
    }

    /// A git repo: every commit is a new revision.
    fn git(files: &[(&str, &str)]) -> Repo {
        let mut repo = Repo::new(files);
        repo.git = true;
        repo.git_cmd(&["init", "-q", "-b", "main"]);
        repo.commit("initial");
        repo
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, path: &str, text: &str) {
        let path = self.path().join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    fn git_cmd(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .current_dir(self.path())
            .args([
                "-c",
                "user.name=driftless tests",
                "-c",
                "user.email=tests@driftless.invalid",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .output()
            .expect("run git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Commits everything (an empty commit when nothing changed); returns the new revision.
    fn commit(&self, message: &str) -> String {
        assert!(self.git, "not a git repo");
        self.git_cmd(&["add", "-A"]);
        self.git_cmd(&["commit", "-q", "--allow-empty", "-m", message]);
        self.git_cmd(&["rev-parse", "HEAD"])
    }

    /// Runs `driftless <command> --repo <dir> --state-dir <dir> --output json <extra>` with
    /// `CF_PASSWORD` and `env`, and checks that no password reached stdout or stderr.
    async fn run(&self, command: &str, extra: &[&str], env: &[(&str, &str)]) -> Run {
        let mut args: Vec<String> = vec![
            command.to_owned(),
            "--repo".into(),
            self.path().display().to_string(),
            "--state-dir".into(),
            self.state.path().display().to_string(),
            "--output".into(),
            "json".into(),
        ];
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        // Every `*PASSWORD*` value passed in (CF_PASSWORD included) is scanned for below.
        let env: Vec<(String, String)> = [("CF_PASSWORD", CF_PASSWORD)]
            .iter()
            .chain(env)
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let dir = self.path().to_owned();
        let run_args = args.clone();
        let (out, env) = tokio::task::spawn_blocking(move || {
            let mut cmd = Command::new(driftless_bin());
            cmd.current_dir(dir).args(&run_args);
            for name in [
                "CF_API",
                "CF_USERNAME",
                "CF_CLIENT_ID",
                "CF_CLIENT_SECRET",
                "DRIFTLESS_STATE_DIR",
                "DRIFTLESS_LOG",
                "REG_PASSWORD",
            ] {
                cmd.env_remove(name);
            }
            cmd.envs(env.iter().map(|(k, v)| (k, v)));
            (output_within(cmd, RUN_TIMEOUT), env)
        })
        .await
        .expect("the binary's thread");
        let run = Run {
            args,
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        let secrets = env
            .iter()
            .filter(|(k, v)| k.contains("PASSWORD") && !v.is_empty());
        for (name, value) in secrets {
            for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
                assert!(
                    !text.contains(value),
                    "driftless {:?}: the value of {name} is in its {stream}:\n{text}",
                    run.args
                );
            }
        }
        assert!(
            !run.stderr.contains("panicked"),
            "driftless {:?} panicked:\n{}",
            run.args,
            run.stderr
        );
        run
    }
}

/// No run of the binary takes this long unless something hangs.
const RUN_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `cmd` to completion, or kills it after `timeout` (its output so far is kept, and the
/// exit code is -1).
fn output_within(mut cmd: Command, timeout: Duration) -> std::process::Output {
    use std::io::Read as _;
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = KillOnDrop(cmd.spawn().expect("start driftless"));
    let mut pipes = [
        child
            .0
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
        child
            .0
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    ]
    .map(|pipe| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    })
    .into_iter();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("wait for driftless") {
            break Some(status);
        }
        if started.elapsed() > timeout {
            let _ = child.0.kill();
            break None;
        }
        std::thread::park_timeout(Duration::from_millis(10));
    };
    let _ = child.0.wait();
    let stdout = pipes.next().and_then(|t| t.join().ok()).unwrap_or_default();
    let mut stderr = pipes.next().and_then(|t| t.join().ok()).unwrap_or_default();
    let status = status.unwrap_or_else(|| {
        stderr.extend_from_slice(format!("\n(killed after {timeout:?})\n").as_bytes());
        child.0.wait().expect("reap driftless")
    });
    std::process::Output {
        status,
        stdout,
        stderr,
    }
}

/// The quickstart example, pointed at `sim` and its registry.
fn quickstart(sim: &SimHandle) -> Repo {
    let example = workspace_root().join("examples/quickstart");
    let read = |p: &str| std::fs::read_to_string(example.join(p)).expect("quickstart file");
    let config = read("driftless.yaml").replace("http://127.0.0.1:9022", sim.url());
    let manifest = read("demo/dev/manifest.yml").replace("localhost:5000", &registry_host(sim));
    Repo::git(&[
        ("driftless.yaml", &config),
        ("demo/dev/manifest.yml", &manifest),
    ])
}

fn manifest_path() -> &'static str {
    "demo/dev/manifest.yml"
}

// ---------------------------------------------------------------------------------------------
// 1. First deploy, then a no-op.

#[tokio::test]
async fn first_deploy_of_the_quickstart_runs_as_declared_and_a_second_run_is_a_cheap_noop() {
    let sim = foundation(sim_config()).await;
    let registry = sim.registry().expect("registry");
    let hello = registry.push_image("demo/hello", "1.0", "hello 1.0");
    let worker = registry.push_image("demo/worker", "1.0", "worker 1.0");
    let repo = quickstart(&sim);

    let applied = repo.run("apply", &[], &[]).await;
    applied.expect(0);
    let doc = applied.json();
    assert_eq!(doc["foundation"], "local");
    assert_eq!(
        doc["revision"].as_str().map(str::len),
        Some(40),
        "a git repo gives the revision: {doc:#}"
    );
    let flag = applied.change("feature_flag:diego_docker");
    assert_eq!(
        (&flag["action"], &flag["result"]),
        (&json!("update"), &json!("applied"))
    );
    assert_action(&applied, "hello", "create", Some("applied"));
    assert_action(&applied, "worker", "create", Some("applied"));

    let host = registry_host(&sim);
    let web = must_run(&sim, "hello");
    assert_eq!(web.state, "STARTED");
    assert_eq!((web.instances, web.memory, web.disk), (2, 256, 512));
    assert_eq!(
        web.image.as_deref(),
        Some(format!("{host}/demo/hello:1.0@{hello}").as_str()),
        "deployed pinned to the digest"
    );
    assert_eq!(web.digest.as_deref(), Some(hello.as_str()));
    assert_eq!(web.env["GREETING"], "hello from driftless");
    assert_eq!(web.labels["driftless.dev/managed"], "true");
    assert_eq!(web.annotations["driftless.dev/digest"], hello.as_str());
    let work = must_run(&sim, "worker");
    assert_eq!(work.state, "STARTED");
    assert_eq!((work.instances, work.memory), (1, 128));
    assert_eq!(work.command.as_deref(), Some("/bin/worker --queue default"));
    assert_eq!(work.digest.as_deref(), Some(worker.as_str()));
    assert_eq!(
        routes_of(&sim, &web.guid).await,
        vec!["hello.apps.example.com".to_owned()]
    );
    assert_eq!(routes_of(&sim, &work.guid).await, Vec::<String>::new());

    // The next plan reads what it needs and warms the state dir; the one after is a no-op that
    // costs a few list requests.
    repo.run("plan", &["--detailed-exitcode"], &[])
        .await
        .expect(0);
    sim.reset_request_counts();
    let plan = repo.run("plan", &["--detailed-exitcode"], &[]).await;
    plan.expect(0);
    let requests = sim.cc_request_count();
    assert!(
        requests <= 10,
        "a no-op plan cost {requests} Cloud Controller requests: {:#?}",
        sim.request_counts()
    );
    for change in plan.json()["changes"].as_array().expect("changes") {
        assert_eq!(change["action"], "noop", "{change:#}");
    }

    let again = repo.run("apply", &[], &[]).await;
    again.expect(0);
    let doc = again.json();
    let changes = doc["changes"].as_array().expect("changes");
    assert_eq!(changes.len(), 3, "{doc:#}");
    for change in changes {
        assert_eq!(
            (&change["action"], &change["result"]),
            (&json!("noop"), &json!("skipped")),
            "{change:#}"
        );
    }
    assert_eq!(must_run(&sim, "hello").guid, web.guid);
    assert_eq!(count(&sim, "POST /v3/deployments"), 0);
}

// ---------------------------------------------------------------------------------------------
// 2. Drift made by hand.

#[tokio::test]
async fn drift_made_by_hand_is_reported_field_by_field_and_apply_fixes_it() {
    const GIT_TOKEN: &str = "git-token-value-9d2";
    const HAND_TOKEN: &str = "hand-token-value-4e7";
    let sim = foundation(sim_config()).await;
    let registry = sim.registry().expect("registry");
    let host = registry_host(&sim);
    let api_digest = registry.push_image("demo/api", "1.0", "api");
    registry.push_image("demo/other", "9.9", "someone else's image");
    for name in ["web", "worker"] {
        registry.push_image(&format!("demo/{name}"), "1.0", name);
    }
    let api = format!(
        "{}    env:\n      GREETING: hello\n      API_TOKEN: {GIT_TOKEN}\n",
        app("api", &format!("{host}/demo/api:1.0"), 1)
    );
    let repo = Repo::git(&[
        (
            "driftless.yaml",
            &config(&sim, "cloudfoundry", DOCKER_ON, ""),
        ),
        (
            manifest_path(),
            &manifest(&[
                api,
                app("web", &format!("{host}/demo/web:1.0"), 1),
                app("worker", &format!("{host}/demo/worker:1.0"), 1),
            ]),
        ),
    ]);
    repo.run("apply", &[], &[]).await.expect(0);
    repo.run("drift", &[], &[]).await.expect(0);

    // A person: `cf scale api -i 3`, `cf set-env` twice, `cf stop worker`, `cf push web
    // --docker-image demo/other:9.9`.
    sim.scale_app(ORG, SPACE, "api", 3).await.expect("scale");
    sim.set_env(ORG, SPACE, "api", "GREETING", Some("edited by hand"))
        .expect("set-env");
    sim.set_env(ORG, SPACE, "api", "API_TOKEN", Some(HAND_TOKEN))
        .expect("set-env");
    sim.stop_app(ORG, SPACE, "worker").expect("stop");
    let other = format!("{host}/demo/other:9.9");
    sim.push_image(ORG, SPACE, "web", &other)
        .await
        .expect("push");

    let drift = repo.run("drift", &[], &[]).await;
    drift.expect(2);
    for name in ["api", "web", "worker"] {
        assert_action(&drift, name, "update", None);
    }
    let api_target = target("api");
    assert_eq!(
        drift.field(&api_target, "instances"),
        json!({"path": "instances", "live": 3, "desired": 1})
    );
    assert_eq!(
        drift.field(&api_target, "env.GREETING"),
        json!({"path": "env.GREETING", "live": "edited by hand", "desired": "hello"})
    );
    assert_eq!(
        drift.field(&api_target, "env.API_TOKEN"),
        json!({"path": "env.API_TOKEN", "live": "(sensitive)", "desired": "(sensitive)"})
    );
    let state = drift.field(&target("worker"), "state");
    assert_eq!(
        (&state["live"], &state["desired"]),
        (&json!("STOPPED"), &json!("STARTED"))
    );
    let image = drift.field(&target("web"), "image");
    assert_eq!(image["live"], other.as_str(), "{image:#}");
    assert!(
        image["desired"]
            .as_str()
            .is_some_and(|d| d.starts_with(&format!("{host}/demo/web:1.0@sha256:"))),
        "{image:#}"
    );
    for secret in [GIT_TOKEN, HAND_TOKEN] {
        assert!(!drift.stdout.contains(secret), "{}", drift.stdout);
        assert!(!drift.stderr.contains(secret), "{}", drift.stderr);
    }
    // The text report hides them too.
    let text = tokio::task::spawn_blocking({
        let dir = repo.path().to_owned();
        let state = repo.state.path().to_owned();
        move || {
            Command::new(driftless_bin())
                .args(["drift", "--repo"])
                .arg(&dir)
                .arg("--state-dir")
                .arg(&state)
                .env("CF_PASSWORD", CF_PASSWORD)
                .env_remove("CF_USERNAME")
                .output()
                .expect("run driftless")
        }
    })
    .await
    .expect("thread");
    let text_out = String::from_utf8_lossy(&text.stdout);
    assert_eq!(text.status.code(), Some(2), "{text_out}");
    assert!(text_out.contains("(sensitive)"), "{text_out}");
    for secret in [GIT_TOKEN, HAND_TOKEN, CF_PASSWORD] {
        assert!(!text_out.contains(secret), "{text_out}");
    }

    let applied = repo.run("apply", &[], &[]).await;
    applied.expect(0);
    for name in ["api", "web", "worker"] {
        assert_action(&applied, name, "update", Some("applied"));
    }
    let fixed = must_run(&sim, "api");
    assert_eq!(fixed.instances, 1);
    assert_eq!(fixed.env["GREETING"], "hello");
    assert_eq!(fixed.env["API_TOKEN"], GIT_TOKEN);
    assert_eq!(fixed.digest.as_deref(), Some(api_digest.as_str()));
    assert_eq!(must_run(&sim, "worker").state, "STARTED");
    let web = must_run(&sim, "web");
    assert!(
        web.image
            .as_deref()
            .is_some_and(|i| i.starts_with(&format!("{host}/demo/web:1.0@sha256:"))),
        "{web:?}"
    );
    repo.run("drift", &[], &[]).await.expect(0);

    // `cf delete worker -f`: git still declares it, so it is created again.
    sim.delete_app(ORG, SPACE, "worker").expect("delete");
    let drift = repo.run("drift", &[], &[]).await;
    drift.expect(2);
    assert_action(&drift, "worker", "create", None);
    repo.run("apply", &[], &[]).await.expect(0);
    assert_eq!(must_run(&sim, "worker").state, "STARTED");
    repo.run("drift", &[], &[]).await.expect(0);
}

// ---------------------------------------------------------------------------------------------
// 3. A moved tag.

#[tokio::test]
async fn a_moved_tag_is_drift_reported_by_default_and_redeployed_under_policy_redeploy() {
    let sim = foundation(sim_config()).await;
    let registry = sim.registry().expect("registry");
    let host = registry_host(&sim);
    let old = registry.push_image("demo/api", "1.0", "api build 1");
    let repo = Repo::git(&[
        (
            "driftless.yaml",
            &config(&sim, "cloudfoundry", DOCKER_ON, ""),
        ),
        (
            manifest_path(),
            &manifest(&[app("api", &format!("{host}/demo/api:1.0"), 2)]),
        ),
    ]);
    repo.run("apply", &[], &[]).await.expect(0);
    assert_eq!(must_run(&sim, "api").digest.as_deref(), Some(old.as_str()));

    // CI pushes a new build under the same tag.
    let new = registry.push_image("demo/api", "1.0", "api build 2");
    assert_ne!(old, new);
    let drift = repo.run("drift", &[], &[]).await;
    drift.expect(2);
    let change = drift.change(&target("api"));
    assert_eq!(change["action"], "blocked", "{change:#}");
    assert!(
        change["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("tag moved")),
        "{change:#}"
    );
    assert_eq!(
        drift.field(&target("api"), "digest"),
        json!({"path": "digest", "live": old, "desired": new})
    );
    let applied = repo.run("apply", &[], &[]).await;
    applied.expect(3);
    assert_action(&applied, "api", "blocked", Some("blocked"));
    assert_eq!(must_run(&sim, "api").digest.as_deref(), Some(old.as_str()));

    repo.write(
        "driftless.yaml",
        &config(
            &sim,
            "cloudfoundry",
            DOCKER_ON,
            "policy:\n  tag_moved: redeploy\n",
        ),
    );
    repo.commit("redeploy moved tags");
    let applied = repo.run("apply", &[], &[]).await;
    applied.expect(0);
    assert_action(&applied, "api", "update", Some("applied"));
    let api = must_run(&sim, "api");
    assert_eq!(api.digest.as_deref(), Some(new.as_str()));
    assert_eq!(
        api.image.as_deref(),
        Some(format!("{host}/demo/api:1.0@{new}").as_str())
    );
    assert_eq!(api.instances, 2);
    repo.run("drift", &[], &[]).await.expect(0);
}

// ---------------------------------------------------------------------------------------------
// 4. The registry is down.

#[tokio::test]
async fn with_the_registry_down_changes_that_start_instances_are_blocked_and_the_rest_converge() {
    let sim = foundation(sim_config()).await;
    let registry = sim.registry().expect("registry");
    let host = registry_host(&sim);
    let a1 = registry.push_image("demo/a", "1.0", "a1");
    registry.push_image("demo/a", "2.0", "a2");
    let b1 = registry.push_image("demo/b", "1.0", "b1");
    registry.push_image("demo/c", "1.0", "c1");
    registry.push_image("demo/d", "1.0", "d1");
    let image = |repo: &str, tag: &str| format!("{host}/demo/{repo}:{tag}");
    let repo = Repo::git(&[
        (
            "driftless.yaml",
            &config(&sim, "cloudfoundry", DOCKER_ON, ""),
        ),
        (
            manifest_path(),
            &manifest(&[
                app("a", &image("a", "1.0"), 1),
                app("b", &image("b", "1.0"), 1),
                app("c", &image("c", "1.0"), 2),
            ]),
        ),
    ]);
    repo.run("apply", &[], &[]).await.expect(0);
    let before_a = must_run(&sim, "a");
    let before_b = must_run(&sim, "b");

    // Git: a new image for a, b scaled up, c scaled down, a new app d. Then the registry goes
    // down.
    repo.write(
        manifest_path(),
        &manifest(&[
            app("a", &image("a", "2.0"), 1),
            app("b", &image("b", "1.0"), 3),
            app("c", &image("c", "1.0"), 1),
            app("d", &image("d", "1.0"), 1),
        ]),
    );
    repo.commit("a 2.0, b x3, c x1, d");
    registry.set_down(true);

    let applied = repo.run("apply", &[], &[]).await;
    applied.expect(3);
    for name in ["a", "b", "d"] {
        let change = applied.change(&target(name));
        assert_eq!(
            (&change["action"], &change["result"]),
            (&json!("blocked"), &json!("blocked")),
            "{change:#}"
        );
        let reason = change["reason"].as_str().unwrap_or_default();
        assert!(
            reason.starts_with(&format!("registry {host} unreachable")),
            "{name}: {change:#}"
        );
    }
    assert_action(&applied, "c", "update", Some("applied"));
    let a = must_run(&sim, "a");
    assert_eq!(
        (a.digest.as_deref(), a.instances, a.state.as_str(), &a.guid),
        (Some(a1.as_str()), 1, "STARTED", &before_a.guid)
    );
    assert_eq!(a.image, before_a.image);
    let b = must_run(&sim, "b");
    assert_eq!(
        (b.digest.as_deref(), b.instances, b.state.as_str()),
        (Some(b1.as_str()), 1, "STARTED")
    );
    assert_eq!(b.annotations, before_b.annotations);
    assert_eq!(must_run(&sim, "c").instances, 1);
    assert!(running(&sim, SPACE, "d").is_none(), "d is not created");

    registry.set_down(false);
    repo.run("apply", &[], &[]).await.expect(0);
    assert_eq!(
        must_run(&sim, "a").image,
        Some(format!(
            "{}@{}",
            image("a", "2.0"),
            registry.digest_of("demo/a", "2.0").expect("a 2.0")
        ))
    );
    assert_eq!(must_run(&sim, "b").instances, 3);
    assert_eq!(must_run(&sim, "d").state, "STARTED");
    repo.run("drift", &[], &[]).await.expect(0);
}

// ---------------------------------------------------------------------------------------------
// 5. A failed rollout.

#[tokio::test]
async fn a_failed_rollout_is_rolled_back_and_not_retried_until_git_moves() {
    let sim = foundation(sim_config()).await;
    let registry = sim.registry().expect("registry");
    let host = registry_host(&sim);
    let good = registry.push_image("demo/api", "1.0", "api 1.0");
    let broken = registry.push_image("demo/api", "2.0", "api 2.0");
    let repo = Repo::git(&[
        (
            "driftless.yaml",
            &config(&sim, "cloudfoundry", DOCKER_ON, ""),
        ),
        (
            manifest_path(),
            &manifest(&[app("api", &format!("{host}/demo/api:1.0"), 2)]),
        ),
    ]);
    repo.run("apply", &[], &[]).await.expect(0);
    let before = must_run(&sim, "api");

    sim.set_image_health(&format!("{host}/demo/api:2.0*"), false);
    repo.write(
        manifest_path(),
        &manifest(&[app("api", &format!("{host}/demo/api:2.0"), 2)]),
    );
    repo.commit("api 2.0");
    let failed = repo.run("apply", &[], &[]).await;
    failed.expect(3);
    let change = failed.change(&target("api"));
    assert_eq!(
        (&change["action"], &change["result"]),
        (&json!("update"), &json!("failed")),
        "{change:#}"
    );
    assert!(
        change["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{change:#}"
    );
    let after = must_run(&sim, "api");
    assert_eq!(after.digest.as_deref(), Some(good.as_str()), "{after:?}");
    assert_eq!(after.image, before.image);
    assert_eq!((after.instances, after.state.as_str()), (2, "STARTED"));

    // The same (revision, digest) is not tried again.
    let plan = repo.run("plan", &["--detailed-exitcode"], &[]).await;
    plan.expect(2);
    let change = plan.change(&target("api"));
    assert_eq!(change["action"], "blocked", "{change:#}");
    assert!(
        change["reason"]
            .as_str()
            .is_some_and(|r| r.contains("failed")),
        "{change:#}"
    );
    sim.reset_request_counts();
    let again = repo.run("apply", &[], &[]).await;
    again.expect(3);
    assert_action(&again, "api", "blocked", Some("blocked"));
    assert_eq!(count(&sim, "POST /v3/packages"), 0);
    assert_eq!(count(&sim, "POST /v3/deployments"), 0);

    // The image moving (a new build under the tag) makes it eligible again too; moving back
    // to the digest that failed does not.
    let registry = sim.registry().expect("registry");
    let rebuilt = registry.push_image("demo/api", "2.0", "api 2.0, rebuilt");
    let plan = repo.run("plan", &["--detailed-exitcode"], &[]).await;
    plan.expect(2);
    assert_action(&plan, "api", "update", None);
    assert!(registry.move_tag("demo/api", "2.0", &broken));
    assert_ne!(rebuilt, broken);
    let plan = repo.run("plan", &["--detailed-exitcode"], &[]).await;
    plan.expect(2);
    assert_action(&plan, "api", "blocked", None);

    // A new commit makes it eligible again; with a healthy image it rolls out.
    repo.commit("try again");
    let plan = repo.run("plan", &["--detailed-exitcode"], &[]).await;
    plan.expect(2);
    assert_action(&plan, "api", "update", None);
    sim.set_image_health(&format!("{host}/demo/api:2.0*"), true);
    let applied = repo.run("apply", &[], &[]).await;
    applied.expect(0);
    assert_action(&applied, "api", "update", Some("applied"));
    assert_eq!(
        must_run(&sim, "api").digest.as_deref(),
        Some(broken.as_str())
    );
    repo.run("drift", &[], &[]).await.expect(0);
}

// ---------------------------------------------------------------------------------------------
// 6. Prune, the mass-delete guard, unowned apps.

fn seeded_with_unowned() -> SimConfig {
    let seed: SeedState = serde_json::from_value(json!({
        "feature_flags": {"diego_docker": true},
        "orgs": [{"name": ORG, "spaces": [{"name": SPACE, "apps": [
            {"name": "legacy", "image": "registry.example.com/legacy:1", "instances": 1}
        ]}]}],
    }))
    .expect("seed");
    SimConfig {
        seed_state: Some(seed),
        ..sim_config()
    }
}

#[tokio::test]
async fn prune_deletes_only_owned_apps_and_only_when_asked_and_the_guard_stops_mass_deletes() {
    let sim = start(seeded_with_unowned()).await;
    let registry = sim.registry().expect("registry");
    let host = registry_host(&sim);
    let names = ["a", "b", "c", "d"];
    for name in names {
        registry.push_image(&format!("demo/{name}"), "1.0", name);
    }
    let apps = |names: &[&str]| {
        manifest(
            &names
                .iter()
                .map(|n| app(n, &format!("{host}/demo/{n}:1.0"), 1))
                .collect::<Vec<_>>(),
        )
    };
    let repo = Repo::git(&[
        (
            "driftless.yaml",
            &config(&sim, "cloudfoundry", DOCKER_ON, ""),
        ),
        (manifest_path(), &apps(&names)),
    ]);
    let legacy = must_run(&sim, "legacy");
    let first = repo.run("apply", &[], &[]).await;
    first.expect(0);
    assert_action(&first, "legacy", "unowned", Some("skipped"));
    // Unowned is reported, not drift.
    repo.run("drift", &[], &[]).await.expect(0);

    // d leaves git: an orphan, left alone without --prune.
    repo.write(manifest_path(), &apps(&["a", "b", "c"]));
    repo.commit("drop d");
    let kept = repo.run("apply", &[], &[]).await;
    kept.expect(0);
    assert_action(&kept, "d", "orphan", Some("skipped"));
    assert!(running(&sim, SPACE, "d").is_some());
    repo.run("drift", &[], &[]).await.expect(2);
    let pruned = repo.run("apply", &["--prune"], &[]).await;
    pruned.expect(0);
    assert_action(&pruned, "d", "delete", Some("applied"));
    assert_action(&pruned, "legacy", "unowned", Some("skipped"));
    assert!(running(&sim, SPACE, "d").is_none(), "d is deleted");

    // Two of the three left go: more than half, so the plan is refused.
    repo.write(manifest_path(), &apps(&["a"]));
    repo.commit("drop b and c");
    let refused = repo.run("apply", &["--prune"], &[]).await;
    refused.expect(1);
    let doc = refused.json();
    assert!(
        doc["refused"]
            .as_str()
            .is_some_and(|r| r.contains("--allow-mass-delete")),
        "{doc:#}"
    );
    assert!(
        refused.stderr.contains("plan refused"),
        "{}",
        refused.stderr
    );
    for name in ["b", "c"] {
        let change = refused.change(&target(name));
        assert_eq!(
            (&change["action"], &change["result"]),
            (&json!("delete"), &json!("skipped")),
            "{change:#}"
        );
        assert!(running(&sim, SPACE, name).is_some(), "{name} is kept");
    }
    let allowed = repo
        .run("apply", &["--prune", "--allow-mass-delete"], &[])
        .await;
    allowed.expect(0);
    for name in ["b", "c"] {
        assert_action(&allowed, name, "delete", Some("applied"));
        assert!(running(&sim, SPACE, name).is_none(), "{name} is deleted");
    }

    // The unowned app was never touched, and is not drift.
    assert_eq!(must_run(&sim, "legacy"), legacy);
    let clean = repo.run("drift", &[], &[]).await;
    clean.expect(0);
    assert_action(&clean, "legacy", "unowned", None);
    assert_eq!(clean.json()["summary"]["unowned"], 1);
}

// ---------------------------------------------------------------------------------------------
// 7. diego_docker.

#[tokio::test]
async fn diego_docker_off_blocks_docker_apps_until_declared_and_is_never_turned_off() {
    let sim = foundation(sim_config()).await;
    let registry = sim.registry().expect("registry");
    let host = registry_host(&sim);
    for name in ["a", "b"] {
        registry.push_image(&format!("demo/{name}"), "1.0", name);
    }
    let apps = manifest(&[
        app("a", &format!("{host}/demo/a:1.0"), 1),
        app("b", &format!("{host}/demo/b:1.0"), 1),
    ]);
    let repo = Repo::git(&[
        ("driftless.yaml", &config(&sim, "cloudfoundry", "", "")),
        (manifest_path(), &apps),
    ]);
    let blocked = repo.run("apply", &[], &[]).await;
    blocked.expect(3);
    for name in ["a", "b"] {
        let change = blocked.change(&target(name));
        assert_eq!(
            (&change["action"], &change["result"]),
            (&json!("blocked"), &json!("blocked")),
            "{change:#}"
        );
        assert!(
            change["reason"]
                .as_str()
                .is_some_and(|r| r.contains("diego_docker is disabled")),
            "{change:#}"
        );
        assert!(running(&sim, SPACE, name).is_none(), "{name} not created");
    }
    assert_eq!(count(&sim, "POST /v3/apps"), 0);
    let flags = |sim: &SimHandle| sim.state_dump()["feature_flags"].to_string();
    assert!(
        !docker_enabled(&sim),
        "diego_docker stays off: {}",
        flags(&sim)
    );

    repo.write(
        "driftless.yaml",
        &config(&sim, "cloudfoundry", DOCKER_ON, ""),
    );
    repo.commit("declare diego_docker");
    let applied = repo.run("apply", &[], &[]).await;
    applied.expect(0);
    let flag = applied.change("feature_flag:diego_docker");
    assert_eq!(
        (&flag["action"], &flag["result"]),
        (&json!("update"), &json!("applied")),
        "{flag:#}"
    );
    for name in ["a", "b"] {
        assert_action(&applied, name, "create", Some("applied"));
        assert_eq!(must_run(&sim, name).state, "STARTED");
    }
    assert!(docker_enabled(&sim), "{}", flags(&sim));

    // No longer declared: not a target, and not turned off.
    repo.write("driftless.yaml", &config(&sim, "cloudfoundry", "", ""));
    repo.commit("no feature_flags");
    let plan = repo.run("plan", &["--detailed-exitcode"], &[]).await;
    plan.expect(0);
    assert!(
        !plan.stdout.contains("feature_flag:diego_docker"),
        "{}",
        plan.stdout
    );
    repo.run("apply", &[], &[]).await.expect(0);
    assert!(docker_enabled(&sim), "{}", flags(&sim));
}

fn docker_enabled(sim: &SimHandle) -> bool {
    sim.state_dump()["feature_flags"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["name"] == "diego_docker")
        .is_some_and(|f| f["enabled"] == true)
}

// ---------------------------------------------------------------------------------------------
// 8. Stackato.

const REG_USER: &str = "puller";
const REG_PASSWORD: &str = "reg-Pw-e2e-5b8e";
const REG_PASSWORD_2: &str = "reg-Pw-e2e-rotated-0c4d";

fn private_registry(sim: &SimHandle, user: &str) -> String {
    format!(
        "registries:\n  - host: {}\n    username: {user}\n    password: {{ env: REG_PASSWORD }}\n",
        registry_host(sim)
    )
}

/// A private app: `docker.username` as `cf push --docker-username` takes it.
fn private_app(name: &str, image: &str, user: &str) -> String {
    format!(
        "  - name: {name}\n    docker:\n      image: {image}\n      username: {user}\n    instances: 2\n    memory: 64M\n    routes:\n      - route: {name}.{DOMAIN}\n"
    )
}

#[tokio::test]
async fn stackato_first_deploy_from_a_private_registry_then_a_noop() {
    let sim = foundation(SimConfig {
        stackato: true,
        registry: Some(RegistryConfig {
            basic_auth: Some((REG_USER.into(), REG_PASSWORD.into())),
            ..RegistryConfig::default()
        }),
        ..sim_config()
    })
    .await;
    let registry = sim.registry().expect("registry");
    let host = registry_host(&sim);
    let digest = registry.push_image("eng/wiki", "2.3.0", "wiki");
    registry.push_image("eng/cron", "1.0", "cron");
    let repo = Repo::git(&[
        (
            "driftless.yaml",
            &config(
                &sim,
                "stackato",
                DOCKER_ON,
                &private_registry(&sim, REG_USER),
            ),
        ),
        (
            manifest_path(),
            &manifest(&[
                private_app("wiki", &format!("{host}/eng/wiki:2.3.0"), REG_USER),
                app("cron", &format!("{host}/eng/cron:1.0"), 1),
            ]),
        ),
    ]);
    let env = [("REG_PASSWORD", REG_PASSWORD), ("DRIFTLESS_LOG", "trace")];
    let applied = repo.run("apply", &[], &env).await;
    applied.expect(0);
    assert_action(&applied, "wiki", "create", Some("applied"));
    assert_action(&applied, "cron", "create", Some("applied"));
    let wiki = must_run(&sim, "wiki");
    assert_eq!(
        (wiki.state.as_str(), wiki.instances, wiki.digest.as_deref()),
        ("STARTED", 2, Some(digest.as_str())),
        "{wiki:?}"
    );
    assert!(
        !sim.state_dump().to_string().contains(REG_PASSWORD),
        "the simulator keeps no password in view"
    );

    let again = repo.run("apply", &[], &env).await;
    again.expect(0);
    for change in again.json()["changes"].as_array().expect("changes") {
        assert_eq!(
            (&change["action"], &change["result"]),
            (&json!("noop"), &json!("skipped")),
            "{change:#}"
        );
    }
    repo.run("drift", &[], &env).await.expect(0);

    // A person scales and edits env on Stackato: drift, fixed by apply.
    sim.scale_app(ORG, SPACE, "wiki", 3).await.expect("scale");
    sim.set_env(ORG, SPACE, "wiki", "MODE", Some("by hand"))
        .expect("set-env");
    let drift = repo.run("drift", &[], &env).await;
    drift.expect(2);
    assert_eq!(
        drift.field(&target("wiki"), "instances"),
        json!({"path": "instances", "live": 3, "desired": 2})
    );
    assert_eq!(
        drift.field(&target("wiki"), "env.MODE"),
        json!({"path": "env.MODE", "live": "by hand", "desired": null})
    );
    repo.run("apply", &[], &env).await.expect(0);
    let wiki = must_run(&sim, "wiki");
    assert_eq!(wiki.instances, 2);
    assert!(wiki.env.get("MODE").is_none(), "{wiki:?}");
    assert_eq!(wiki.digest.as_deref(), Some(digest.as_str()));
    repo.run("drift", &[], &env).await.expect(0);

    // A private image that crashes: the restage with inline credentials fails and is put
    // back; its errors, at trace level, never show the password (the run helper scans).
    registry.push_image("eng/wiki", "2.4.0", "wiki 2.4.0");
    sim.set_image_health(&format!("{host}/eng/wiki:2.4.0*"), false);
    repo.write(
        manifest_path(),
        &manifest(&[
            private_app("wiki", &format!("{host}/eng/wiki:2.4.0"), REG_USER),
            app("cron", &format!("{host}/eng/cron:1.0"), 1),
        ]),
    );
    repo.commit("wiki 2.4.0");
    let failed = repo.run("apply", &[], &env).await;
    failed.expect(3);
    assert_action(&failed, "wiki", "update", Some("failed"));
    let wiki = must_run(&sim, "wiki");
    assert_eq!(
        (wiki.state.as_str(), wiki.digest.as_deref()),
        ("STARTED", Some(digest.as_str())),
        "{wiki:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 9. Secrets.

#[tokio::test]
async fn a_private_registry_password_never_shows_and_a_wrong_one_is_a_credential_change() {
    let sim = foundation(SimConfig {
        registry: Some(RegistryConfig {
            basic_auth: Some((REG_USER.into(), REG_PASSWORD.into())),
            ..RegistryConfig::default()
        }),
        ..sim_config()
    })
    .await;
    let host = registry_host(&sim);
    let digest = sim
        .registry()
        .expect("registry")
        .push_image("demo/api", "1.0", "api");
    let repo = Repo::git(&[
        (
            "driftless.yaml",
            &config(
                &sim,
                "cloudfoundry",
                DOCKER_ON,
                &private_registry(&sim, REG_USER),
            ),
        ),
        (
            manifest_path(),
            &manifest(&[private_app(
                "api",
                &format!("{host}/demo/api:1.0"),
                REG_USER,
            )]),
        ),
    ]);
    let trace = [("REG_PASSWORD", REG_PASSWORD), ("DRIFTLESS_LOG", "trace")];
    let applied = repo.run("apply", &[], &trace).await;
    applied.expect(0);
    assert!(
        applied.stderr.contains("TRACE") || applied.stderr.contains("DEBUG"),
        "trace logging is on: {}",
        applied.stderr
    );
    let api = must_run(&sim, "api");
    assert_eq!(api.digest.as_deref(), Some(digest.as_str()));
    repo.run("drift", &[], &trace).await.expect(0);

    // A wrong password: the registry refuses it, and nothing shows the value.
    let wrong = [
        ("REG_PASSWORD", "wrong-Pw-e2e-19ab"),
        ("DRIFTLESS_LOG", "trace"),
    ];
    let refused = repo.run("plan", &["--detailed-exitcode"], &wrong).await;
    refused.expect(2);
    let change = refused.change(&target("api"));
    assert_eq!(change["action"], "blocked", "{change:#}");
    assert!(
        change["reason"]
            .as_str()
            .is_some_and(|r| r.contains("unauthorized")),
        "{change:#}"
    );

    let credential = refused.field(&target("api"), "docker.credential");
    assert_eq!(
        (&credential["live"], &credential["desired"]),
        (&json!("(credential)"), &json!("(credential changed)")),
        "{credential:#}"
    );
    assert_eq!(must_run(&sim, "api"), api, "nothing changed");

    // No password at all (REG_PASSWORD unset): nothing to pull, nothing to do; a scale-up
    // that must pull is blocked, saying which reference is missing.
    let missing = repo.run("apply", &[], &[]).await;
    missing.expect(0);
    let change = missing.change(&target("api"));
    assert_eq!(change["action"], "noop", "{change:#}");
    repo.write(
        manifest_path(),
        &manifest(&[private_app(
            "api",
            &format!("{host}/demo/api:1.0"),
            REG_USER,
        )])
        .replace("instances: 2", "instances: 3"),
    );
    repo.commit("scale up");
    let missing = repo.run("apply", &[], &[]).await;
    missing.expect(3);
    let change = missing.change(&target("api"));
    assert_eq!(change["action"], "blocked", "{change:#}");
    assert!(
        change["reason"]
            .as_str()
            .is_some_and(|r| r.contains("REG_PASSWORD")),
        "{change:#}"
    );
    assert_eq!(must_run(&sim, "api").instances, 2);
    let dump = sim.state_dump().to_string();
    for secret in [REG_PASSWORD, CF_PASSWORD] {
        assert!(
            !dump.contains(secret),
            "the simulator state shows a password"
        );
    }
}

/// A real `docker-registry` (`auth`) holding `demo/api:1.0` (`format`, `payload`), a simulator
/// without its own registry, and a git repo deploying `api` from it with the password from
/// `REG_PASSWORD`; the env to run with (trace logs, so their scan covers every request).
async fn real_registry_deploy(
    auth: real_registry::AuthMode,
    format: real_registry::Format,
    payload: &str,
) -> (
    real_registry::Registry,
    String,
    SimHandle,
    Repo,
    [(&'static str, &'static str); 2],
) {
    let registry = real_registry::Registry::start(auth);
    let digest = real_registry::push(&registry, "demo/api", "1.0", format, payload).await;
    let sim = foundation(SimConfig {
        registry: None,
        ..sim_config()
    })
    .await;
    let host = &registry.host;
    let registries = format!(
        "registries:\n  - host: {host}\n    username: {}\n    password: {{ env: REG_PASSWORD }}\n",
        real_registry::USER
    );
    let repo = Repo::git(&[
        (
            "driftless.yaml",
            &config(&sim, "cloudfoundry", DOCKER_ON, &registries),
        ),
        (
            manifest_path(),
            &manifest(&[private_app(
                "api",
                &format!("{host}/demo/api:1.0"),
                real_registry::USER,
            )]),
        ),
    ]);
    let env = [
        ("REG_PASSWORD", real_registry::PASSWORD),
        ("DRIFTLESS_LOG", "trace"),
    ];
    (registry, digest, sim, repo, env)
}

#[tokio::test]
async fn a_real_htpasswd_registry_deploys_through_the_simulator_and_a_rotated_password_rebuilds() {
    const TEST: &str = "a_real_htpasswd_registry_deploys_through_the_simulator";
    if !real_registry::available(TEST) {
        return;
    }
    let (registry, digest, sim, repo, env) = real_registry_deploy(
        real_registry::AuthMode::Htpasswd,
        real_registry::Format::Oci,
        "api from a real registry",
    )
    .await;
    let applied = repo.run("apply", &[], &env).await;
    applied.expect(0);
    assert_action(&applied, "api", "create", Some("applied"));
    let api = must_run(&sim, "api");
    assert_eq!(
        (api.state.as_str(), api.instances, api.digest.as_deref()),
        ("STARTED", 2, Some(digest.as_str())),
        "{api:?}"
    );
    let again = repo.run("apply", &[], &env).await;
    again.expect(0);
    assert_action(&again, "api", "noop", Some("skipped"));

    // The registry's password is rotated, and the new one goes into driftless's environment:
    // a credential change, which only a new build makes Cloud Foundry use.
    registry.set_password(REG_PASSWORD_2);
    let env = [("REG_PASSWORD", REG_PASSWORD_2), ("DRIFTLESS_LOG", "trace")];
    let plan = repo.run("plan", &["--detailed-exitcode"], &env).await;
    plan.expect(2);
    let credential = plan.field(&target("api"), "docker.credential");
    assert_eq!(
        (&credential["live"], &credential["desired"]),
        (&json!("(credential)"), &json!("(credential changed)")),
        "{credential:#}"
    );
    let packages = count(&sim, "POST /v3/packages");
    let rotated = repo.run("apply", &[], &env).await;
    rotated.expect(0);
    assert_action(&rotated, "api", "update", Some("applied"));
    assert_eq!(
        count(&sim, "POST /v3/packages"),
        packages + 1,
        "a new build"
    );
    let after = must_run(&sim, "api");
    assert_ne!(
        after.annotations["driftless.dev/credential"],
        api.annotations["driftless.dev/credential"]
    );
    assert_eq!(after.digest.as_deref(), Some(digest.as_str()));
    assert_eq!((after.state.as_str(), after.instances), ("STARTED", 2));
    for run in [&plan, &rotated] {
        for text in [&run.stdout, &run.stderr] {
            assert!(
                !text.contains(real_registry::PASSWORD),
                "the old password shows"
            );
        }
    }
    repo.run("drift", &[], &env).await.expect(0);
    let dump = sim.state_dump().to_string();
    for secret in [real_registry::PASSWORD, REG_PASSWORD_2, CF_PASSWORD] {
        assert!(
            !dump.contains(secret),
            "the simulator state shows a password"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 10. Invalid input.

#[tokio::test]
async fn an_invalid_manifest_is_neither_created_changed_nor_deleted_and_the_valid_one_converges() {
    let sim = foundation(sim_config()).await;
    let registry = sim.registry().expect("registry");
    let host = registry_host(&sim);
    for name in ["good", "bad", "late"] {
        registry.push_image(&format!("demo/{name}"), "1.0", name);
    }
    let good = app("good", &format!("{host}/demo/good:1.0"), 1);
    let bad_valid = app("bad", &format!("{host}/demo/bad:1.0"), 1);
    let bad_invalid = format!(
        "  - name: bad\n    docker:\n      image: {host}/demo/bad:1.0\n    instances: 3\n    memory: 256\n    no-route: true\n"
    );
    let repo = Repo::git(&[
        (
            "driftless.yaml",
            &config(&sim, "cloudfoundry", DOCKER_ON, ""),
        ),
        ("demo/dev/good.yml", &manifest(std::slice::from_ref(&good))),
        (
            "demo/dev/bad.yml",
            &manifest(std::slice::from_ref(&bad_invalid)),
        ),
    ]);
    let first = repo.run("apply", &["--prune"], &[]).await;
    first.expect(1);
    assert!(
        first.stderr.contains("demo/dev/bad.yml:"),
        "{}",
        first.stderr
    );
    assert_action(&first, "good", "create", Some("applied"));
    assert_action(&first, "bad", "blocked", None);
    assert!(running(&sim, SPACE, "good").is_some());
    assert!(running(&sim, SPACE, "bad").is_none(), "bad is not created");

    // bad becomes valid and runs; then it breaks again with a change, and a new app comes.
    repo.write("demo/dev/bad.yml", &manifest(&[bad_valid]));
    repo.commit("fix bad");
    repo.run("apply", &["--prune"], &[]).await.expect(0);
    let before = must_run(&sim, "bad");
    repo.write("demo/dev/bad.yml", &manifest(&[bad_invalid]));
    repo.write(
        "demo/dev/good.yml",
        &manifest(&[
            good.clone(),
            app("late", &format!("{host}/demo/late:1.0"), 1),
        ]),
    );
    repo.commit("break bad again, add late");
    let broken = repo.run("apply", &["--prune"], &[]).await;
    broken.expect(1);
    assert_action(&broken, "bad", "blocked", None);
    assert_action(&broken, "late", "create", Some("applied"));
    assert_eq!(
        must_run(&sim, "bad"),
        before,
        "bad is left exactly as it ran"
    );

    // A file that cannot be parsed at all: nothing in its space is pruned.
    repo.write("demo/dev/bad.yml", "applications: [\n");
    repo.commit("unparseable");
    let unreadable = repo.run("apply", &["--prune"], &[]).await;
    unreadable.expect(1);
    let change = unreadable.change(&target("bad"));
    assert_ne!(change["action"], "delete", "{change:#}");
    assert_eq!(must_run(&sim, "bad"), before, "bad is not deleted");
    assert!(running(&sim, SPACE, "good").is_some());
}

// ---------------------------------------------------------------------------------------------
// Regressions.

/// Cloud Controller timestamps have whole seconds: a `cf set-env` in the same second as
/// driftless's last env read leaves `updated_at` as it was. Such a read must not be cached, or
/// the change is never seen. The simulator's clock stands still here, so every change is in the
/// same second; once it moves on, reads are cached again and a no-op reads no env.
#[tokio::test]
async fn a_set_env_in_the_same_second_as_the_last_env_read_is_still_drift() {
    let clock = simulator::ManualClock::fixed();
    let sim = foundation(SimConfig {
        clock: std::sync::Arc::new(clock.clone()),
        staging_duration: Duration::ZERO,
        deployment_duration: Duration::ZERO,
        ..sim_config()
    })
    .await;
    let host = registry_host(&sim);
    sim.registry()
        .expect("registry")
        .push_image("demo/api", "1.0", "api");
    let api = format!(
        "{}    env:\n      GREETING: hello\n",
        app("api", &format!("{host}/demo/api:1.0"), 1)
    );
    let repo = Repo::git(&[
        (
            "driftless.yaml",
            &config(&sim, "cloudfoundry", DOCKER_ON, ""),
        ),
        (manifest_path(), &manifest(&[api])),
    ]);
    repo.run("apply", &[], &[]).await.expect(0);
    repo.run("drift", &[], &[]).await.expect(0);
    sim.set_env(ORG, SPACE, "api", "GREETING", Some("edited by hand"))
        .expect("set-env");
    let drift = repo.run("drift", &[], &[]).await;
    drift.expect(2);
    assert_eq!(
        drift.field(&target("api"), "env.GREETING"),
        json!({"path": "env.GREETING", "live": "edited by hand", "desired": "hello"})
    );
    repo.run("apply", &[], &[]).await.expect(0);
    assert_eq!(must_run(&sim, "api").env["GREETING"], "hello");

    // Time moves on: the next read is cached, and the no-op after it reads no env at all.
    clock.advance(Duration::from_secs(5));
    repo.run("drift", &[], &[]).await.expect(0);
    sim.reset_request_counts();
    repo.run("drift", &[], &[]).await.expect(0);
    let env_reads: u64 = sim
        .request_counts()
        .iter()
        .filter(|(route, _)| route.contains("environment_variables") || route.ends_with("/env"))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(env_reads, 0, "{:#?}", sim.request_counts());
}

/// Stackato has no deployments: a new image is a restage, and a failed one is put back.
#[tokio::test]
async fn stackato_a_failed_restage_is_rolled_back_and_not_retried() {
    let sim = foundation(SimConfig {
        stackato: true,
        ..sim_config()
    })
    .await;
    let registry = sim.registry().expect("registry");
    let host = registry_host(&sim);
    let good = registry.push_image("eng/api", "1.0", "api 1.0");
    registry.push_image("eng/api", "2.0", "api 2.0");
    let repo = Repo::git(&[
        ("driftless.yaml", &config(&sim, "stackato", DOCKER_ON, "")),
        (
            manifest_path(),
            &manifest(&[app("api", &format!("{host}/eng/api:1.0"), 2)]),
        ),
    ]);
    repo.run("apply", &[], &[]).await.expect(0);
    let before = must_run(&sim, "api");
    assert_eq!(before.digest.as_deref(), Some(good.as_str()));

    sim.set_image_health(&format!("{host}/eng/api:2.0*"), false);
    repo.write(
        manifest_path(),
        &manifest(&[app("api", &format!("{host}/eng/api:2.0"), 2)]),
    );
    repo.commit("api 2.0");
    let failed = repo.run("apply", &[], &[]).await;
    failed.expect(3);
    assert_action(&failed, "api", "update", Some("failed"));
    let after = must_run(&sim, "api");
    assert_eq!(
        (
            after.digest.as_deref(),
            after.state.as_str(),
            after.instances
        ),
        (Some(good.as_str()), "STARTED", 2),
        "{after:?}"
    );
    let plan = repo.run("plan", &["--detailed-exitcode"], &[]).await;
    plan.expect(2);
    let change = plan.change(&target("api"));
    assert_eq!(change["action"], "blocked", "{change:#}");
    assert!(
        change["reason"]
            .as_str()
            .is_some_and(|r| r.contains("failed")),
        "{change:#}"
    );
}

/// An app git declares that exists unmanaged is blocked, untouched, until `--adopt`.
#[tokio::test]
async fn an_unmanaged_app_git_declares_is_blocked_until_adopted() {
    let sim = start(seeded_with_unowned()).await;
    let registry = sim.registry().expect("registry");
    let host = registry_host(&sim);
    let digest = registry.push_image("demo/legacy", "2.0", "legacy 2.0");
    let repo = Repo::git(&[
        (
            "driftless.yaml",
            &config(&sim, "cloudfoundry", DOCKER_ON, ""),
        ),
        (
            manifest_path(),
            &manifest(&[app("legacy", &format!("{host}/demo/legacy:2.0"), 2)]),
        ),
    ]);
    let before = must_run(&sim, "legacy");
    let blocked = repo.run("apply", &[], &[]).await;
    blocked.expect(3);
    let change = blocked.change(&target("legacy"));
    assert_eq!(
        (&change["action"], &change["result"]),
        (&json!("blocked"), &json!("blocked")),
        "{change:#}"
    );
    assert!(
        change["reason"]
            .as_str()
            .is_some_and(|r| r.contains("not managed by driftless")),
        "{change:#}"
    );
    assert_eq!(must_run(&sim, "legacy"), before, "untouched");

    let adopted = repo.run("apply", &["--adopt"], &[]).await;
    adopted.expect(0);
    assert_action(&adopted, "legacy", "update", Some("applied"));
    let after = must_run(&sim, "legacy");
    assert_eq!(after.guid, before.guid, "the same app, adopted");
    assert_eq!(after.labels["driftless.dev/managed"], "true");
    assert_eq!(
        (after.instances, after.digest.as_deref()),
        (2, Some(digest.as_str()))
    );
    repo.run("drift", &[], &[]).await.expect(0);
}

/// A registry that challenges with Bearer tokens: the preflight and the staging both get one.
#[tokio::test]
async fn a_bearer_token_registry_deploys_and_the_second_run_is_a_noop() {
    let sim = foundation(SimConfig {
        registry: Some(RegistryConfig {
            basic_auth: Some((REG_USER.into(), REG_PASSWORD.into())),
            bearer: true,
            ..RegistryConfig::default()
        }),
        ..sim_config()
    })
    .await;
    let host = registry_host(&sim);
    let digest = sim
        .registry()
        .expect("registry")
        .push_image("demo/api", "1.0", "api");
    let repo = Repo::git(&[
        (
            "driftless.yaml",
            &config(
                &sim,
                "cloudfoundry",
                DOCKER_ON,
                &private_registry(&sim, REG_USER),
            ),
        ),
        (
            manifest_path(),
            &manifest(&[private_app(
                "api",
                &format!("{host}/demo/api:1.0"),
                REG_USER,
            )]),
        ),
    ]);
    let env = [("REG_PASSWORD", REG_PASSWORD), ("DRIFTLESS_LOG", "trace")];
    repo.run("apply", &[], &env).await.expect(0);
    let api = must_run(&sim, "api");
    assert_eq!(
        (api.state.as_str(), api.digest.as_deref()),
        ("STARTED", Some(digest.as_str()))
    );
    let again = repo.run("apply", &[], &env).await;
    again.expect(0);
    assert_action(&again, "api", "noop", Some("skipped"));
}

/// A real `docker-registry` with token auth (`tokenserver.py`): preflight and staging both do
/// the Bearer dance with the password from `REG_PASSWORD`.
#[tokio::test]
async fn a_real_token_auth_registry_deploys_through_the_simulator() {
    if !real_registry::available("a_real_token_auth_registry_deploys_through_the_simulator") {
        return;
    }
    let (_registry, digest, sim, repo, env) = real_registry_deploy(
        real_registry::AuthMode::Token,
        real_registry::Format::DockerV2,
        "api behind tokens",
    )
    .await;
    let applied = repo.run("apply", &[], &env).await;
    applied.expect(0);
    let api = must_run(&sim, "api");
    assert_eq!(
        (api.state.as_str(), api.digest.as_deref()),
        ("STARTED", Some(digest.as_str())),
        "{api:?}"
    );
    let again = repo.run("apply", &[], &env).await;
    again.expect(0);
    assert_action(&again, "api", "noop", Some("skipped"));
}

/// `strategy: canary` from driftless.yaml `apps`: the rollout pauses after its first step and
/// driftless continues it once the new instances run.
#[tokio::test]
async fn a_canary_rollout_is_continued_to_the_end() {
    let sim = foundation(sim_config()).await;
    let registry = sim.registry().expect("registry");
    let host = registry_host(&sim);
    registry.push_image("demo/api", "1.0", "api 1.0");
    let new = registry.push_image("demo/api", "2.0", "api 2.0");
    let canary = "apps:\n  - match: \"*/dev/*\"\n    strategy: canary\n";
    let repo = Repo::git(&[
        (
            "driftless.yaml",
            &config(&sim, "cloudfoundry", DOCKER_ON, canary),
        ),
        (
            manifest_path(),
            &manifest(&[app("api", &format!("{host}/demo/api:1.0"), 3)]),
        ),
    ]);
    repo.run("apply", &[], &[]).await.expect(0);
    repo.write(
        manifest_path(),
        &manifest(&[app("api", &format!("{host}/demo/api:2.0"), 3)]),
    );
    repo.commit("api 2.0");
    let plan = repo.run("plan", &[], &[]).await;
    plan.expect(0);
    assert_eq!(plan.change(&target("api"))["rollout"], "canary");
    let applied = repo.run("apply", &[], &[]).await;
    applied.expect(0);
    assert_action(&applied, "api", "update", Some("applied"));
    let api = must_run(&sim, "api");
    assert_eq!(
        (api.digest.as_deref(), api.instances),
        (Some(new.as_str()), 3)
    );
    let deployments = sim.state_dump()["deployments"].clone();
    assert!(
        deployments
            .as_array()
            .into_iter()
            .flatten()
            .any(|d| d["strategy"] == "canary"),
        "{deployments:#}"
    );
    repo.run("drift", &[], &[]).await.expect(0);
}

/// Routes follow `cf push`: listed routes exactly, `no-route` none, neither the default one.
#[tokio::test]
async fn routes_follow_git_exactly() {
    let sim = foundation(sim_config()).await;
    let host = registry_host(&sim);
    sim.registry()
        .expect("registry")
        .push_image("demo/web", "1.0", "web");
    let web = |routes: &str| {
        format!(
            "applications:\n  - name: web\n    docker:\n      image: {host}/demo/web:1.0\n    memory: 64M\n{routes}"
        )
    };
    let repo = Repo::git(&[
        (
            "driftless.yaml",
            &config(&sim, "cloudfoundry", DOCKER_ON, ""),
        ),
        (manifest_path(), &web("")),
    ]);
    repo.run("apply", &[], &[]).await.expect(0);
    let guid = must_run(&sim, "web").guid;
    assert_eq!(routes_of(&sim, &guid).await, vec![format!("web.{DOMAIN}")]);

    repo.write(
        manifest_path(),
        &web(&format!(
            "    routes:\n      - route: a.{DOMAIN}\n      - route: b.{DOMAIN}/api\n"
        )),
    );
    repo.commit("two routes");
    let applied = repo.run("apply", &[], &[]).await;
    applied.expect(0);
    assert_eq!(applied.change(&target("web"))["rollout"], "in_place");
    assert_eq!(
        routes_of(&sim, &guid).await,
        vec![format!("a.{DOMAIN}"), format!("b.{DOMAIN}/api")]
    );
    repo.run("drift", &[], &[]).await.expect(0);

    repo.write(manifest_path(), &web("    no-route: true\n"));
    repo.commit("no route");
    repo.run("apply", &[], &[]).await.expect(0);
    assert_eq!(routes_of(&sim, &guid).await, Vec::<String>::new());
    assert_eq!(must_run(&sim, "web").guid, guid);
    repo.run("drift", &[], &[]).await.expect(0);
}

/// Two foundations, each with its `path`: each gets its own apps, and the JSON is an array.
#[tokio::test]
async fn two_foundations_each_converge_to_the_manifests_under_their_path() {
    let east = foundation(sim_config()).await;
    let west = foundation(sim_config()).await;
    for sim in [&east, &west] {
        sim.registry()
            .expect("registry")
            .push_image("demo/api", "1.0", "api");
    }
    let foundation = |name: &str, sim: &SimHandle| {
        format!(
            "  - name: {name}\n    api: {}\n    platform: cloudfoundry\n    auth:\n      username: admin\n      password: {{ env: CF_PASSWORD }}\n    feature_flags: {{ diego_docker: true }}\n    path: {name}/\n",
            sim.url()
        )
    };
    let config = format!(
        "foundations:\n{}{}",
        foundation("east", &east),
        foundation("west", &west)
    );
    let api = |sim: &SimHandle, instances| {
        manifest(&[app(
            "api",
            &format!("{}/demo/api:1.0", registry_host(sim)),
            instances,
        )])
    };
    let repo = Repo::git(&[
        ("driftless.yaml", &config),
        ("east/demo/dev/manifest.yml", &api(&east, 1)),
        ("west/demo/dev/manifest.yml", &api(&west, 3)),
    ]);
    let applied = repo.run("apply", &[], &[]).await;
    applied.expect(0);
    let docs = applied.json();
    let names: Vec<&str> = docs
        .as_array()
        .expect("one document per foundation")
        .iter()
        .filter_map(|d| d["foundation"].as_str())
        .collect();
    assert_eq!(names, ["east", "west"]);
    assert_eq!(must_run(&east, "api").instances, 1);
    assert_eq!(must_run(&west, "api").instances, 3);

    let only_west = repo.run("plan", &["--foundation", "west"], &[]).await;
    only_west.expect(0);
    assert_eq!(only_west.json()["foundation"], "west");
    repo.run("drift", &[], &[]).await.expect(0);
}

/// A `driftless.yaml` with an error (here a literal password, which must never be echoed)
/// means policy is not known for sure: nothing changes, and the exit code is 1.
#[tokio::test]
async fn an_invalid_driftless_yaml_changes_nothing_and_never_echoes_a_literal_secret() {
    const LITERAL: &str = "literal-Secret-in-git-3f1";
    let sim = foundation(sim_config()).await;
    let host = registry_host(&sim);
    sim.registry()
        .expect("registry")
        .push_image("demo/api", "1.0", "api");
    let repo = Repo::git(&[
        (
            "driftless.yaml",
            &config(&sim, "cloudfoundry", DOCKER_ON, ""),
        ),
        (
            manifest_path(),
            &manifest(&[app("api", &format!("{host}/demo/api:1.0"), 1)]),
        ),
    ]);
    repo.run("apply", &[], &[]).await.expect(0);
    let before = must_run(&sim, "api");

    let literal =
        format!("registries:\n  - host: {host}\n    username: someone\n    password: {LITERAL}\n");
    repo.write(
        "driftless.yaml",
        &config(&sim, "cloudfoundry", DOCKER_ON, &literal),
    );
    repo.write(
        manifest_path(),
        &manifest(&[app("api", &format!("{host}/demo/api:1.0"), 3)]),
    );
    repo.commit("a literal password, and a scale");
    let applied = repo.run("apply", &["--prune"], &[]).await;
    applied.expect(1);
    assert!(
        applied.stderr.contains("driftless.yaml:"),
        "{}",
        applied.stderr
    );
    for text in [&applied.stdout, &applied.stderr] {
        assert!(
            !text.contains(LITERAL),
            "the literal password is echoed:\n{text}"
        );
    }
    let change = applied.change(&target("api"));
    assert_eq!(change["action"], "blocked", "{change:#}");
    assert_eq!(must_run(&sim, "api"), before, "nothing changed");
}

/// Registry credentials from a docker `config.json` (`auths.<host>.auth`): deployed with them,
/// and neither the password nor its base64 form shows anywhere.
#[tokio::test]
async fn credentials_from_a_docker_config_json_deploy_a_private_image() {
    use base64::Engine as _;
    let sim = foundation(SimConfig {
        registry: Some(RegistryConfig {
            basic_auth: Some((REG_USER.into(), REG_PASSWORD.into())),
            ..RegistryConfig::default()
        }),
        ..sim_config()
    })
    .await;
    let host = registry_host(&sim);
    let digest = sim
        .registry()
        .expect("registry")
        .push_image("demo/api", "1.0", "api");
    let auth =
        base64::engine::general_purpose::STANDARD.encode(format!("{REG_USER}:{REG_PASSWORD}"));
    let secrets = tempfile::tempdir().expect("secrets dir");
    let config_json = secrets.path().join("config.json");
    std::fs::write(
        &config_json,
        json!({"auths": {format!("http://{host}"): {"auth": auth}}}).to_string(),
    )
    .expect("write config.json");
    let registries = format!(
        "registries:\n  - host: {host}\n    docker_config: {}\n",
        config_json.display()
    );
    let repo = Repo::git(&[
        (
            "driftless.yaml",
            &config(&sim, "cloudfoundry", DOCKER_ON, &registries),
        ),
        (
            manifest_path(),
            &manifest(&[private_app(
                "api",
                &format!("{host}/demo/api:1.0"),
                REG_USER,
            )]),
        ),
    ]);
    let env = [("DRIFTLESS_LOG", "trace")];
    let applied = repo.run("apply", &[], &env).await;
    applied.expect(0);
    let again = repo.run("apply", &[], &env).await;
    again.expect(0);
    assert_action(&again, "api", "noop", Some("skipped"));
    for run in [&applied, &again] {
        for text in [&run.stdout, &run.stderr] {
            assert!(
                !text.contains(REG_PASSWORD) && !text.contains(&auth),
                "{text}"
            );
        }
    }
    let api = must_run(&sim, "api");
    assert_eq!(
        (api.state.as_str(), api.digest.as_deref()),
        ("STARTED", Some(digest.as_str()))
    );
}

/// Memory, health check and command changes restart the app (a rolling deployment of the
/// same droplet); `suspend` freezes a drifting app.
#[tokio::test]
async fn process_changes_roll_out_and_a_suspended_app_is_left_alone() {
    let sim = foundation(sim_config()).await;
    let host = registry_host(&sim);
    let digest = sim
        .registry()
        .expect("registry")
        .push_image("demo/api", "1.0", "api");
    let api = |memory: &str, check: &str, command: &str| {
        format!(
            "applications:\n  - name: api\n    docker:\n      image: {host}/demo/api:1.0\n    instances: 2\n    memory: {memory}\n    no-route: true\n    health-check-type: {check}\n    command: {command}\n"
        )
    };
    let repo = Repo::git(&[
        (
            "driftless.yaml",
            &config(&sim, "cloudfoundry", DOCKER_ON, ""),
        ),
        (manifest_path(), &api("64M", "process", "/bin/api --v1")),
    ]);
    repo.run("apply", &[], &[]).await.expect(0);
    let before = must_run(&sim, "api");
    assert_eq!(before.command.as_deref(), Some("/bin/api --v1"));

    repo.write(manifest_path(), &api("128M", "port", "/bin/api --v2"));
    repo.commit("more memory, a port check, a new command");
    let applied = repo.run("apply", &[], &[]).await;
    applied.expect(0);
    let change = applied.change(&target("api"));
    assert_eq!(
        (&change["action"], &change["rollout"], &change["result"]),
        (&json!("update"), &json!("rolling"), &json!("applied")),
        "{change:#}"
    );
    let after = must_run(&sim, "api");
    assert_eq!(
        (
            after.memory,
            after.command.as_deref(),
            after.instances,
            after.digest.as_deref()
        ),
        (128, Some("/bin/api --v2"), 2, Some(digest.as_str())),
        "{after:?}"
    );
    repo.run("drift", &[], &[]).await.expect(0);

    // Suspended: a hand-made scale is reported as blocked and left as it is.
    repo.write(
        "driftless.yaml",
        &config(
            &sim,
            "cloudfoundry",
            DOCKER_ON,
            "apps:\n  - match: \"demo/dev/api\"\n    suspend: true\n",
        ),
    );
    repo.commit("suspend api");
    sim.scale_app(ORG, SPACE, "api", 4).await.expect("scale");
    let drift = repo.run("drift", &[], &[]).await;
    drift.expect(2);
    let change = drift.change(&target("api"));
    assert_eq!(
        (&change["action"], &change["reason"]),
        (&json!("blocked"), &json!("suspended")),
        "{change:#}"
    );
    repo.run("apply", &[], &[]).await.expect(3);
    assert_eq!(must_run(&sim, "api").instances, 4);
}

/// A rate-limited Cloud Controller: the first deploy paces itself (or waits out 429s) and
/// still converges.
#[tokio::test]
async fn a_rate_limited_foundation_still_converges() {
    let sim = foundation(SimConfig {
        rate_limit: Some(simulator::RateLimit {
            limit: 25,
            reset_interval: Duration::from_secs(1),
        }),
        ..sim_config()
    })
    .await;
    let registry = sim.registry().expect("registry");
    registry.push_image("demo/hello", "1.0", "hello 1.0");
    registry.push_image("demo/worker", "1.0", "worker 1.0");
    let repo = quickstart(&sim);
    let applied = repo.run("apply", &[], &[]).await;
    applied.expect(0);
    assert_eq!(must_run(&sim, "hello").instances, 2);
    assert_eq!(must_run(&sim, "worker").state, "STARTED");
    repo.run("drift", &[], &[]).await.expect(0);
}

/// Stackato keeps provenance in `DRIFTLESS_METADATA`; a rotated registry password is a
/// credential change there too, and the restage with the new one runs.
#[tokio::test]
async fn stackato_a_rotated_registry_password_restages_with_the_new_one() {
    if !real_registry::available("stackato_a_rotated_registry_password_restages_with_the_new_one") {
        return;
    }
    let registry = real_registry::Registry::start(real_registry::AuthMode::Htpasswd);
    let digest = real_registry::push(
        &registry,
        "eng/wiki",
        "1.0",
        real_registry::Format::Oci,
        "wiki on stackato",
    )
    .await;
    let sim = foundation(SimConfig {
        stackato: true,
        registry: None,
        ..sim_config()
    })
    .await;
    let host = &registry.host;
    let registries = format!(
        "registries:\n  - host: {host}\n    username: {}\n    password: {{ env: REG_PASSWORD }}\n",
        real_registry::USER
    );
    let repo = Repo::git(&[
        (
            "driftless.yaml",
            &config(&sim, "stackato", DOCKER_ON, &registries),
        ),
        (
            manifest_path(),
            &manifest(&[private_app(
                "wiki",
                &format!("{host}/eng/wiki:1.0"),
                real_registry::USER,
            )]),
        ),
    ]);
    let env = [
        ("REG_PASSWORD", real_registry::PASSWORD),
        ("DRIFTLESS_LOG", "trace"),
    ];
    repo.run("apply", &[], &env).await.expect(0);
    let metadata = |sim: &SimHandle| -> Value {
        let app = must_run(sim, "wiki");
        serde_json::from_str(app.env["DRIFTLESS_METADATA"].as_str().unwrap_or("null"))
            .unwrap_or(Value::Null)
    };
    let before = metadata(&sim);
    assert!(
        before["annotations"]["driftless.dev/credential"].is_string(),
        "{before:#}"
    );
    repo.run("apply", &[], &env).await.expect(0);

    registry.set_password(REG_PASSWORD_2);
    let env = [("REG_PASSWORD", REG_PASSWORD_2), ("DRIFTLESS_LOG", "trace")];
    let plan = repo.run("plan", &["--detailed-exitcode"], &env).await;
    plan.expect(2);
    let credential = plan.field(&target("wiki"), "docker.credential");
    assert_eq!(
        credential["desired"], "(credential changed)",
        "{credential:#}"
    );
    let applied = repo.run("apply", &[], &env).await;
    applied.expect(0);
    assert_action(&applied, "wiki", "update", Some("applied"));
    let after = metadata(&sim);
    assert_ne!(
        after["annotations"]["driftless.dev/credential"],
        before["annotations"]["driftless.dev/credential"]
    );
    let wiki = must_run(&sim, "wiki");
    assert_eq!(
        (wiki.state.as_str(), wiki.digest.as_deref()),
        ("STARTED", Some(digest.as_str())),
        "{wiki:?}"
    );
    for text in [&applied.stdout, &applied.stderr, &plan.stdout, &plan.stderr] {
        assert!(
            !text.contains(real_registry::PASSWORD),
            "the old password shows"
        );
    }
    repo.run("drift", &[], &env).await.expect(0);
    let dump = sim.state_dump().to_string();
    for secret in [real_registry::PASSWORD, REG_PASSWORD_2] {
        assert!(
            !dump.contains(secret),
            "the simulator state shows a password"
        );
    }
}
