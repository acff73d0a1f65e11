//! Reconcile benchmark: the three targets of the reconcile issue, printed as figures.
//!
//! 1. Plan 10,000 apps (100 spaces) in under 100 ms: `driftless::plan::plan` on a live state
//!    where every app is up to date (all `noop`, asserted), and one where 10% drift.
//! 2. A no-op `driftless plan` against a 10,000-app simulator costs at most 10 Cloud Controller
//!    requests once the state directory is warm (the first, cold run reads env per app);
//!    through `cli::reconcile::execute`, then through the real binary (with its peak memory).
//! 3. Converging 1,000 changed apps (instances 1 -> 2 and an env var) with 20 ms simulated
//!    latency at `--concurrency 32` takes under 30 s.
//!
//! Then the peak memory (`VmHWM`). The simulator is seeded with the apps already staged and
//! carrying exactly the labels and annotations `driftless apply` writes (taken from the plan's
//! own `AppWork` for an empty foundation), then each gets its default route and the droplet
//! record apply writes last, over HTTP; so the setup is deterministic and takes seconds. A
//! figure over its target gets a printed verdict, not a panic; a plan that is not what the
//! setup implies (a drifting "up to date" foundation, an apply that leaves drift) fails
//! loudly. Run with `cargo bench -p driftless-tests --bench reconcile` (`-- plan`, `-- noop`
//! or `-- converge` for one part); `docs/benchmarks.md` has the figures.

#![allow(clippy::print_stdout, clippy::unwrap_used)] // reason: a bench reports on stdout and fails loudly

use std::{
    collections::BTreeMap,
    path::Path,
    time::{Duration, Instant},
};

use driftless::{
    cli::{
        Output,
        reconcile::{Mode, PlatformArg, RunArgs, Tuning, execute},
    },
    load::{self, LoadOptions, SourceFile},
    model::{
        FoundationConfig, FoundationDesired, RepoConfig, SpaceKey,
        live::{Live, LiveApp, LiveProcess},
    },
    plan::{
        self, Action, ImageCheck, Images, Outcome, Plan, PlanContext, PlanOptions, Work,
        provenance::{DEPLOYED_IMAGE, DROPLET},
    },
    reconcile::{Registries, check_images},
    registry::{RegistryClient, RegistryOptions},
    render::Format,
    secret::StaticSecrets,
};
use futures_util::{StreamExt as _, stream};
use sha2::{Digest as _, Sha256};
use simulator::{
    RegistryConfig, RegistryHandle, SeedApp, SeedOrg, SeedSpace, SeedState, SimConfig,
};

const PLAN_TARGET_MS: f64 = 100.0;
const NOOP_TARGET_REQUESTS: u64 = 10;
const CONVERGE_TARGET_S: f64 = 30.0;
const N_IMAGES: usize = 20;

fn verdict(ok: bool) -> &'static str {
    if ok { "ok" } else { "OVER TARGET" }
}

/// `VmHWM` (peak resident set) of this process, in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

// ---------------------------------------------------------------------------------------------
// 1. The planner alone.

/// A realistic manifest (as tests/benches/load.rs): 10 apps with a worker process, routes,
/// an http health check, env and metadata.
fn rich_manifest(file: usize) -> String {
    let mut text = String::from("applications:\n");
    for app in 0..10 {
        text.push_str(&format!(
            "- name: app-{file}-{app}
  docker: {{image: 'registry.example.com:5000/team/app-{app}:1.{file}', username: ci}}
  instances: {instances}
  memory: 512M
  disk_quota: 1G
  health-check-type: http
  health-check-http-endpoint: /health
  env: {{LOG_LEVEL: info, WORKERS: {app}, FEATURE_X: true}}
  routes: [{{route: app-{file}-{app}.apps.example.com}}, {{route: 'api.example.com/app-{file}-{app}'}}]
  metadata: {{labels: {{team: team-{app}}}, annotations: {{owner: 'team-{app}@example.com'}}}}
  processes:
  - type: worker
    command: bin/worker --queue {app}
    instances: 1
    memory: 256M
",
            instances = app % 4 + 1,
        ));
    }
    text
}

fn fake_digest(text: &str) -> String {
    let hash = Sha256::digest(text.as_bytes());
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The live state of a foundation with `desired`'s spaces and no apps.
fn empty_live(desired: &FoundationDesired) -> Live {
    Live {
        spaces: desired
            .spaces
            .iter()
            .enumerate()
            .map(|(i, key)| (key.clone(), format!("space-guid-{i}")))
            .collect(),
        apps: BTreeMap::new(),
        feature_flags: [("diego_docker".to_owned(), true)].into(),
        default_domain: Some("apps.example.com".to_owned()),
    }
}

/// What a foundation looks like after `create_plan` was applied: every app exactly as its
/// `AppWork` says (labels and provenance annotations included), commands hidden as in lists,
/// env unread (compared through the env hash).
fn live_after(create_plan: &Plan, empty: &Live) -> Live {
    let mut live = empty.clone();
    for (n, change) in create_plan.changes.iter().enumerate() {
        let (plan::Target::App(key), Work::Create(work)) = (&change.target, &change.work) else {
            continue;
        };
        let processes = work
            .spec
            .processes
            .iter()
            .map(|(kind, p)| {
                let process = LiveProcess {
                    guid: format!("process-{n}-{kind}"),
                    instances: p.instances,
                    memory_mb: p.memory_mb,
                    disk_mb: p.disk_mb,
                    health_check_type: p.health_check_type.as_str().to_owned(),
                    health_check_endpoint: p.health_check_endpoint.clone(),
                    timeout: p.timeout,
                    command: None,
                    updated_at: "2026-01-01T00:00:00Z".to_owned(),
                };
                (kind.clone(), process)
            })
            .collect();
        let app = LiveApp {
            guid: format!("app-guid-{n}"),
            started: true,
            updated_at: "2026-01-01T00:00:00Z".to_owned(),
            owned: true,
            labels: work.spec.labels.clone(),
            annotations: work.spec.annotations.clone(),
            image: work.image.as_ref().map(|i| i.reference.clone()),
            processes,
            routes: work.routes.clone().unwrap_or_default(),
            deployment: None,
            env: None,
        };
        live.apps.insert(key.clone(), app);
    }
    live
}

/// The foundation after a person's `cf push` added each app's other process types and driftless
/// converged them: the processes as git says, and the command and spec hashes apply would have
/// recorded for the whole app.
fn with_workers_converged(mut live: Live, creates: &Plan, desired: &FoundationDesired) -> Live {
    for change in &creates.changes {
        let (plan::Target::App(key), Work::Create(work)) = (&change.target, &change.work) else {
            continue;
        };
        let (Some(app), Some(deployed)) = (desired.apps.get(key), live.apps.get_mut(key)) else {
            continue;
        };
        let targets = driftless::plan::normalise::process_targets(app);
        for (kind, target) in &targets {
            if kind == "web" {
                continue;
            }
            deployed.processes.insert(
                kind.clone(),
                LiveProcess {
                    guid: format!("{}-{kind}", deployed.guid),
                    instances: target.instances,
                    memory_mb: target.memory_mb,
                    disk_mb: target.disk_mb,
                    health_check_type: target.health_check_type.as_str().to_owned(),
                    health_check_endpoint: target.health_check_endpoint.clone(),
                    timeout: target.timeout,
                    command: None,
                    updated_at: "2026-01-01T00:00:00Z".to_owned(),
                },
            );
        }
        let mut spec = work.spec.clone();
        spec.processes = targets;
        let written = work.image.as_ref().map_or("", |i| i.written.as_str());
        deployed.annotations.insert(
            driftless::plan::provenance::SPEC_HASH.to_owned(),
            plan::spec_hash(&spec, work.routes.as_ref(), written),
        );
        deployed.annotations.insert(
            driftless::plan::provenance::COMMAND_HASH.to_owned(),
            plan::command_hash(&spec.processes),
        );
    }
    live
}

fn count(plan: &Plan, action: Action) -> usize {
    plan.changes.iter().filter(|c| c.action == action).count()
}

/// Best and median of `runs` timings of `f`, in ms.
fn time_runs(runs: usize, mut f: impl FnMut() -> Plan) -> (f64, f64, Plan) {
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let started = Instant::now();
        let plan = f();
        times.push(ms(started.elapsed()));
        last = Some(plan);
    }
    times.sort_by(f64::total_cmp);
    (times[0], times[runs / 2], last.unwrap())
}

fn bench_plan() {
    let config = "registries: [{host: 'registry.example.com:5000', username: ci, password: {env: REGISTRY_PASSWORD}}]\n";
    let mut files = vec![SourceFile {
        path: "driftless.yaml".into(),
        bytes: config.as_bytes().to_vec(),
    }];
    for file in 0..1000 {
        files.push(SourceFile {
            path: format!("org-{}/space-{}/manifest-{file}.yml", file % 10, file % 100),
            bytes: rich_manifest(file).into_bytes(),
        });
    }
    let loaded = load::load(&files, &LoadOptions { strict: true });
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    let desired = &loaded.repo.foundations[0];
    assert_eq!((desired.apps.len(), desired.spaces.len()), (10_000, 100));
    let images: Images = desired
        .apps
        .values()
        .map(|a| {
            let written = a.image.to_string();
            let digest = fake_digest(&written);
            (written, ImageCheck::Resolved { digest })
        })
        .collect();
    let foundation = FoundationConfig {
        name: desired.name.clone(),
        api: String::new(),
        platform: None,
        auth: None,
        feature_flags: [("diego_docker".to_owned(), true)].into(),
        path: String::new(),
        skip_ssl_validation: false,
    };
    let credentials: BTreeMap<String, String> = [(
        "registry.example.com:5000".to_owned(),
        "0123456789abcdef".to_owned(),
    )]
    .into();
    let options = PlanOptions {
        revision: Some("0123456789abcdef0123456789abcdef01234567".into()),
        ..PlanOptions::default()
    };
    let cx = PlanContext {
        config: &loaded.repo.config,
        foundation: &foundation,
        credentials: &credentials,
        options: &options,
    };

    let empty = empty_live(desired);
    // driftless creates only `web`; the worker processes come from a person's `cf push` with a
    // manifest, after which driftless converges them. So the creates are timed (and the
    // foundation built) from the web processes, and the workers added as converged.
    let mut web_only = desired.clone();
    for app in web_only.apps.values_mut() {
        app.processes.retain(|kind, _| kind == "web");
    }
    let (create_best, create_median, creates) =
        time_runs(5, || plan::plan(&web_only, &empty, &images, &cx));
    assert_eq!(count(&creates, Action::Create), 10_000);

    let live = with_workers_converged(live_after(&creates, &empty), &creates, desired);
    let (best, median, noop) = time_runs(11, || plan::plan(desired, &live, &images, &cx));
    let not_noop: Vec<_> = noop
        .changes
        .iter()
        .filter(|c| c.action != Action::Noop)
        .take(3)
        .collect();
    assert!(
        not_noop.is_empty(),
        "an up-to-date foundation must plan all noop: {not_noop:#?}"
    );
    assert_eq!(
        count(&noop, Action::Noop),
        10_001,
        "10,000 apps and diego_docker"
    );

    // 10% drift: every tenth app scaled by hand, and its env edited (hash moved).
    let mut drifted = live.clone();
    for (i, app) in drifted.apps.values_mut().enumerate() {
        if i % 10 == 0 {
            if let Some(web) = app.processes.get_mut("web") {
                web.instances += 1;
            }
            app.annotations
                .insert(plan::provenance::ENV_HASH.into(), "edited".into());
        }
    }
    let (drift_best, drift_median, drift) =
        time_runs(11, || plan::plan(desired, &drifted, &images, &cx));
    assert_eq!(count(&drift, Action::Update), 1_000);

    println!("== 1. plan (pure), 10,000 apps in 100 spaces, 2 processes and 2 routes each");
    println!(
        "plan 10,000 apps: {best:.1} ms (target < {PLAN_TARGET_MS:.0} ms: {}); all noop; best of 11, median {median:.1} ms",
        verdict(best < PLAN_TARGET_MS)
    );
    println!(
        "plan 10,000 apps, 10% drift (1,000 updates): {drift_best:.1} ms best of 11, median {drift_median:.1} ms ({})",
        verdict(drift_best < PLAN_TARGET_MS)
    );
    println!(
        "plan 10,000 creates (empty foundation): {create_best:.1} ms best of 5, median {create_median:.1} ms"
    );
}

// ---------------------------------------------------------------------------------------------
// 2 and 3. The whole `driftless plan | apply` path against the simulator.

const DRIFTLESS_YAML: &str = "foundations:
  - name: bench
    api: http://127.0.0.1:1
    platform: cloudfoundry
    auth: { username: admin, password: { env: CF_PASSWORD } }
    feature_flags: { diego_docker: true }
";

/// The shape of a generated repo: `files` manifests of `per_file` apps over `spaces` spaces
/// (in 10 orgs), every app with `instances` web instances, `VERSION` = `version` in its env,
/// and its default route or `no-route: true`.
#[derive(Clone, Copy)]
struct RepoShape<'a> {
    files: usize,
    per_file: usize,
    spaces: usize,
    routes: bool,
    instances: u32,
    version: u32,
    registry: &'a str,
}

/// One manifest: simple apps, what the simulator's seed can express (a web process; routes
/// are added after seeding).
fn simple_manifest(file: usize, shape: &RepoShape<'_>) -> String {
    let RepoShape {
        per_file,
        instances,
        version,
        registry,
        ..
    } = *shape;
    let route = if shape.routes {
        ""
    } else {
        "  no-route: true\n"
    };
    let mut text = String::from("applications:\n");
    for app in 0..per_file {
        let image = (file * per_file + app) % N_IMAGES;
        text.push_str(&format!(
            "- name: app-{file}-{app}
  docker: {{image: '{registry}/bench/app-{image}:1.0'}}
  instances: {instances}
  memory: 256M
{route}  env: {{LOG_LEVEL: info, WORKERS: '{app}', VERSION: '{version}'}}
"
        ));
    }
    text
}

fn write_repo(dir: &Path, shape: &RepoShape<'_>) {
    std::fs::write(dir.join("driftless.yaml"), DRIFTLESS_YAML).unwrap();
    for file in 0..shape.files {
        let space = file % shape.spaces;
        let path = dir.join(format!("org-{}/space-{space}", space % 10));
        std::fs::create_dir_all(&path).unwrap();
        std::fs::write(
            path.join(format!("manifest-{file}.yml")),
            simple_manifest(file, shape),
        )
        .unwrap();
    }
}

fn registries() -> Registries {
    Registries {
        client: RegistryClient::new(&RegistryOptions::default()).unwrap(),
        credentials: BTreeMap::new(),
        insecure: Default::default(),
    }
}

/// The simulator's seed for `dir`'s repo as `driftless apply` leaves it: the plan for an empty
/// foundation (images resolved in the real registry), each app staged on its pinned image with
/// the scale, env, labels and annotations of its `AppWork`.
async fn seed_for(dir: &Path) -> (SeedState, usize) {
    let files = load::read_dir(dir).unwrap();
    let loaded = load::load(&files, &LoadOptions { strict: true });
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    let desired = &loaded.repo.foundations[0];
    let registries = registries();
    let images = check_images(&registries, desired, &BTreeMap::new(), 8).await;
    let config: &RepoConfig = &loaded.repo.config;
    let options = PlanOptions::default();
    let cx = PlanContext {
        config,
        foundation: &config.foundations[0],
        credentials: &BTreeMap::new(),
        options: &options,
    };
    let creates = plan::plan(desired, &empty_live(desired), &images, &cx);
    let mut spaces: BTreeMap<SpaceKey, Vec<SeedApp>> = BTreeMap::new();
    for change in &creates.changes {
        let (plan::Target::App(key), Work::Create(work)) = (&change.target, &change.work) else {
            continue;
        };
        let web = &work.spec.processes["web"];
        spaces.entry(key.space.clone()).or_default().push(SeedApp {
            name: work.spec.name.clone(),
            image: work.image.as_ref().map(|i| i.reference.clone()),
            state: None,
            instances: Some(web.instances),
            memory_in_mb: Some(web.memory_mb),
            env: work.spec.env.clone(),
            labels: work.spec.labels.clone(),
            annotations: work.spec.annotations.clone(),
        });
    }
    let n_apps = spaces.values().map(Vec::len).sum();
    let mut orgs: BTreeMap<String, Vec<SeedSpace>> = BTreeMap::new();
    for (key, apps) in spaces {
        orgs.entry(key.org).or_default().push(SeedSpace {
            name: key.space,
            apps,
        });
    }
    let seed = SeedState {
        feature_flags: [("diego_docker".to_owned(), true)].into(),
        orgs: orgs
            .into_iter()
            .map(|(name, spaces)| SeedOrg { name, spaces })
            .collect(),
        ..SeedState::default()
    };
    (seed, n_apps)
}

async fn token(http: &reqwest::Client, sim: &simulator::SimHandle) -> String {
    let body = "grant_type=client_credentials&client_id=driftless&client_secret=driftless";
    let token: serde_json::Value = http
        .post(format!("{}/uaa/oauth/token", sim.url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    token["access_token"].as_str().unwrap().to_owned()
}

/// What a driftless deploy does after staging, for every seeded app: with `routes`, map its
/// default route `<name>.<shared domain>` (as `set_routes` does: create the route, add the
/// destination), then record the droplet made current and the reference it runs
/// (`full_metadata` in apply), so observe needs no droplet reads.
async fn finish_deploys(sim: &simulator::SimHandle, routes: bool) {
    let http = reqwest::Client::new();
    let token = token(&http, sim).await;
    let get = |url: String| {
        let (http, token) = (&http, &token);
        async move {
            http.get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    let mut url = format!("{}/v3/apps?per_page=5000", sim.url());
    let mut apps = Vec::new();
    loop {
        let page = get(url).await;
        apps.extend(page["resources"].as_array().unwrap().iter().cloned());
        match page["pagination"]["next"]["href"].as_str() {
            Some(next) => url = next.to_owned(),
            None => break,
        }
    }
    let domains = get(format!("{}/v3/domains", sim.url())).await;
    let domain = domains["resources"][0]["guid"].as_str().unwrap().to_owned();
    let (http, token, domain) = (&http, &token, &domain);
    let post = |path: String, body: serde_json::Value| async move {
        let answer = http
            .post(format!("{}{path}", sim.url()))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            answer.status().is_success(),
            "POST {path}: {}",
            answer.status()
        );
        answer.json::<serde_json::Value>().await.unwrap()
    };
    stream::iter(apps)
        .for_each_concurrent(32, |app| async move {
            let guid = app["guid"].as_str().unwrap();
            if routes {
                let route = post(
                    "/v3/routes".into(),
                    serde_json::json!({
                        "host": app["name"],
                        "relationships": {
                            "domain": { "data": { "guid": domain } },
                            "space": { "data": { "guid": app["relationships"]["space"]["data"]["guid"] } },
                        },
                    }),
                )
                .await;
                let route = route["guid"].as_str().unwrap();
                post(
                    format!("/v3/routes/{route}/destinations"),
                    serde_json::json!({ "destinations": [ { "app": { "guid": guid } } ] }),
                )
                .await;
            }
            let droplet = app["relationships"]["current_droplet"]["data"]["guid"].clone();
            let image = app["metadata"]["annotations"]["driftless.dev/image"].clone();
            let digest = app["metadata"]["annotations"]["driftless.dev/digest"].clone();
            let deployed = format!("{}@{}", image.as_str().unwrap(), digest.as_str().unwrap());
            let body = serde_json::json!({
                "metadata": { "annotations": { DROPLET: droplet, DEPLOYED_IMAGE: deployed } }
            });
            let answer = http
                .patch(format!("{}/v3/apps/{guid}", sim.url()))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert!(answer.status().is_success(), "PATCH app: {}", answer.status());
        })
        .await;
}

fn run_args(dir: &Path, api: &str, concurrency: usize) -> RunArgs {
    RunArgs {
        repo: dir.to_owned(),
        foundation: None,
        output: Format::Text,
        api: Some(api.to_owned()),
        platform: Some(PlatformArg::Cloudfoundry),
        skip_ssl_validation: false,
        prune: false,
        adopt: false,
        allow_mass_delete: false,
        concurrency,
        state_dir: Some(dir.join(".state")),
        strict: true,
        deep: false,
    }
}

fn secrets() -> StaticSecrets {
    StaticSecrets {
        env: [("CF_PASSWORD".to_owned(), "admin".to_owned())].into(),
        files: BTreeMap::new(),
    }
}

/// One `driftless plan|apply` run: (exit code, the plan, results, CC requests, wall time).
struct Run {
    code: i32,
    plan: Plan,
    results: Option<Vec<plan::ChangeResult>>,
    requests: u64,
    by_route: BTreeMap<String, u64>,
    wall: Duration,
}

async fn run(sim: &simulator::SimHandle, args: &RunArgs, mode: Mode) -> Run {
    let mut output = Output {
        out: Vec::new(),
        err: Vec::new(),
    };
    sim.reset_request_counts();
    let started = Instant::now();
    let (code, mut reports) = execute(args, mode, &secrets(), Tuning::default(), &mut output)
        .await
        .unwrap();
    let wall = started.elapsed();
    assert!(
        output.err.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.err)
    );
    let report = reports.pop().unwrap();
    Run {
        code,
        plan: report.plan,
        results: report.results,
        requests: sim.cc_request_count(),
        by_route: sim.request_counts(),
        wall,
    }
}

/// The routes with most requests, `route: n` (only CC routes).
fn top_routes(by_route: &BTreeMap<String, u64>, n: usize) -> String {
    let mut routes: Vec<(&String, &u64)> = by_route
        .iter()
        .filter(|(k, _)| k.contains(" /v3") || k.contains(" /v2"))
        .collect();
    routes.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    routes
        .iter()
        .take(n)
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn sim_config(seed: SeedState, latency: Duration) -> SimConfig {
    SimConfig {
        seed_state: Some(seed),
        staging_duration: Duration::ZERO,
        deployment_duration: Duration::ZERO,
        latency,
        shared_domain: "apps.example.com".into(),
        ..SimConfig::default()
    }
}

async fn bench_noop_plan(registry: &str) {
    println!(
        "\n== 2. no-op `driftless plan` against a simulated foundation of 10,000 apps in 100 spaces"
    );
    let dir = tempfile::tempdir().unwrap();
    let shape = RepoShape {
        files: 1000,
        per_file: 10,
        spaces: 100,
        routes: true,
        instances: 2,
        version: 1,
        registry,
    };
    write_repo(dir.path(), &shape);
    let started = Instant::now();
    let (seed, n_apps) = seed_for(dir.path()).await;
    assert_eq!(n_apps, 10_000);
    let sim = simulator::start(sim_config(seed, Duration::ZERO))
        .await
        .unwrap();
    finish_deploys(&sim, shape.routes).await;
    println!(
        "setup: 10,000 apps seeded as driftless deploys them, in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let args = run_args(dir.path(), sim.url(), 32);
    let plan_mode = Mode::Plan {
        detailed_exitcode: true,
    };
    let cold = run(&sim, &args, plan_mode).await;
    assert_eq!(cold.code, 0, "the seeded foundation must be up to date");
    assert_eq!(count(&cold.plan, Action::Noop), 10_001);
    let warm = run(&sim, &args, plan_mode).await;
    assert_eq!(warm.code, 0);
    assert_eq!(count(&warm.plan, Action::Noop), 10_001);
    println!(
        "no-op plan, cold state dir: {} CC requests, {:.2} s (env read per app: {} of them)",
        cold.requests,
        cold.wall.as_secs_f64(),
        cold.by_route
            .get("GET /v3/apps/:guid/environment_variables")
            .copied()
            .unwrap_or(0)
    );
    println!(
        "no-op plan, warm state dir: {} CC requests (target <= {NOOP_TARGET_REQUESTS}: {}), {:.2} s",
        warm.requests,
        verdict(warm.requests <= NOOP_TARGET_REQUESTS),
        warm.wall.as_secs_f64()
    );
    println!(
        "  warm requests by route: {}",
        top_routes(&warm.by_route, 20)
    );
    binary_noop_plan(&sim, &args).await;
    sim.shutdown().await;
}

/// The same warm no-op plan through the real `driftless` binary: its CC requests, wall time
/// and peak memory (its `VmHWM`, polled until it exits), without the simulator's share.
async fn binary_noop_plan(sim: &simulator::SimHandle, args: &RunArgs) {
    let bin = driftless_tests::driftless_bin();
    let state_dir = args.state_dir.as_deref().unwrap();
    sim.reset_request_counts();
    let started = Instant::now();
    let mut child = tokio::process::Command::new(bin)
        .arg("plan")
        .arg("--repo")
        .arg(&args.repo)
        .args(["--api", sim.url(), "--platform", "cloudfoundry"])
        .args(["--concurrency", "32", "--detailed-exitcode"])
        .arg("--state-dir")
        .arg(state_dir)
        .env("CF_PASSWORD", "admin")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status_path = format!("/proc/{}/status", child.id().unwrap());
    let mut peak_kb: f64 = 0.0;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        let hwm = std::fs::read_to_string(&status_path)
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            })
            .unwrap_or(0.0);
        peak_kb = peak_kb.max(hwm);
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    let wall = started.elapsed();
    assert_eq!(status.code(), Some(0), "driftless plan: no drift expected");
    println!(
        "no-op plan, warm, the real binary: {} CC requests, {:.2} s (process start, load, observe, plan, render), peak memory {:.0} MiB (its VmHWM)",
        sim.cc_request_count(),
        wall.as_secs_f64(),
        peak_kb / 1024.0
    );
}

async fn bench_converge(registry: &str) {
    const LATENCY: Duration = Duration::from_millis(20);
    const CONCURRENCY: usize = 32;
    println!(
        "\n== 3. converge 1,000 changed apps (10 spaces), {} ms simulated latency, --concurrency {CONCURRENCY}",
        LATENCY.as_millis()
    );
    let dir = tempfile::tempdir().unwrap();
    let shape = RepoShape {
        files: 100,
        per_file: 10,
        spaces: 10,
        routes: true,
        instances: 1,
        version: 1,
        registry,
    };
    write_repo(dir.path(), &shape);
    let (seed, n_apps) = seed_for(dir.path()).await;
    assert_eq!(n_apps, 1_000);
    let sim = simulator::start(sim_config(seed, LATENCY)).await.unwrap();
    let started = Instant::now();
    finish_deploys(&sim, shape.routes).await;
    println!(
        "setup: 1,000 apps seeded as driftless deploys them, routes mapped, in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let args = run_args(dir.path(), sim.url(), CONCURRENCY);
    let plan_mode = Mode::Plan {
        detailed_exitcode: true,
    };
    let before = run(&sim, &args, plan_mode).await;
    assert_eq!(before.code, 0, "the seeded foundation must be up to date");
    println!(
        "no-op plan before (cold state dir): {} CC requests, {:.2} s",
        before.requests,
        before.wall.as_secs_f64()
    );

    // git moves: every app gets 2 instances and a new VERSION env var.
    write_repo(
        dir.path(),
        &RepoShape {
            instances: 2,
            version: 2,
            ..shape
        },
    );
    let applied = run(&sim, &args, Mode::Apply).await;
    let results = applied.results.as_deref().unwrap_or_default();
    let n_applied = results
        .iter()
        .filter(|r| r.outcome == Outcome::Applied)
        .count();
    let failed: Vec<_> = results
        .iter()
        .filter_map(|r| r.error.as_deref())
        .take(3)
        .collect();
    assert_eq!(count(&applied.plan, Action::Update), 1_000);
    let wall = applied.wall.as_secs_f64();
    println!(
        "apply 1,000 updates (scale 1 -> 2 + env, rolling restart): {wall:.2} s (target < {CONVERGE_TARGET_S:.0} s: {}), exit {}, {n_applied} applied",
        verdict(wall < CONVERGE_TARGET_S && n_applied == 1_000),
        applied.code
    );
    if !failed.is_empty() {
        println!("  first errors: {failed:?}");
    }
    #[allow(clippy::cast_precision_loss)] // reason: request counts are small
    let per_app = applied.requests as f64 / 1000.0;
    println!(
        "  {} CC requests, {per_app:.1} per app; by route: {}",
        applied.requests,
        top_routes(&applied.by_route, 12)
    );
    let after = run(&sim, &args, plan_mode).await;
    println!(
        "plan after apply: exit {}, {} noop, {} CC requests, {:.2} s",
        after.code,
        count(&after.plan, Action::Noop),
        after.requests,
        after.wall.as_secs_f64()
    );
    assert_eq!(after.code, 0, "apply must converge: nothing left to do");
    sim.shutdown().await;
}

/// `cargo bench ... -- plan` (or `noop`, `converge`) runs only that part.
fn wanted(part: &str) -> bool {
    let parts: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    parts.is_empty() || parts.iter().any(|p| p == part)
}

#[tokio::main]
async fn main() {
    if wanted("noop") {
        // `cargo build --release -p driftless` once (a no-op when it is fresh), before the clock.
        driftless_tests::driftless_bin();
    }
    let started = Instant::now();
    if wanted("plan") {
        bench_plan();
        println!(
            "peak memory after the planner: {:.0} MiB (VmHWM)",
            peak_rss_mib()
        );
    }
    let registry = RegistryHandle::start(RegistryConfig::default())
        .await
        .unwrap();
    for i in 0..N_IMAGES {
        registry.push_image(&format!("bench/app-{i}"), "1.0", &format!("app {i}"));
    }
    let host = registry.host();
    if wanted("noop") {
        bench_noop_plan(&host).await;
    }
    if wanted("converge") {
        bench_converge(&host).await;
    }
    println!(
        "\npeak memory of the bench process: {:.0} MiB (VmHWM: the library runs and the in-process simulator with its 10,000 apps); bench took {:.1} s",
        peak_rss_mib(),
        started.elapsed().as_secs_f64()
    );
}
