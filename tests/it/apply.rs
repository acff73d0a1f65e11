//! `apply` through the library against the simulator: a change planned before someone else
//! touched the app fails as stale; one app's failure never stops another; the preflight runs
//! again right before instances start (a registry that went down after the plan blocks the
//! change and leaves the app alone).

use std::{collections::BTreeMap, time::Duration};

use driftless::{
    apply::{self, ApplyOptions},
    cf::{
        http::{CfHttp, CfOptions, Login},
        platform::Platform,
        poll::PollOptions,
        v3::V3,
    },
    load::{self, LoadOptions, SourceFile},
    model::{AppKey, AppName, SpaceKey},
    plan::{self, Outcome, PlanContext, PlanOptions, Report},
    reconcile::{self, EnvCache, Reconcile, Registries},
    registry::{RegistryClient, RegistryOptions},
    secret::Secret,
};
use simulator::{RegistryConfig, SimConfig, SimHandle};

async fn foundation() -> SimHandle {
    let sim = simulator::start(SimConfig {
        registry: Some(RegistryConfig::default()),
        staging_duration: Duration::from_millis(30),
        deployment_duration: Duration::from_millis(60),
        ..SimConfig::default()
    })
    .await
    .expect("simulator");
    sim.set_feature_flag("diego_docker", true).expect("flag");
    sim.create_space("acme", "dev").expect("space");
    let registry = sim.registry().expect("registry");
    registry.push_image("demo/a", "1", "a");
    registry.push_image("demo/b", "1", "b");
    sim
}

fn repo(registry: &str, instances: u32) -> load::Loaded {
    let manifest = format!(
        "applications:\n\
         - name: a\n  docker: {{ image: {registry}/demo/a:1 }}\n  instances: {instances}\n  no-route: true\n\
         - name: b\n  docker: {{ image: {registry}/demo/b:1 }}\n  instances: {instances}\n  no-route: true\n"
    );
    let files = [SourceFile {
        path: "acme/dev/manifest.yml".into(),
        bytes: manifest.into_bytes(),
    }];
    let loaded = load::load(&files, &LoadOptions { strict: true });
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    loaded
}

fn registries() -> Registries {
    Registries {
        client: RegistryClient::new(&RegistryOptions::default()).expect("client"),
        credentials: BTreeMap::new(),
        insecure: Default::default(),
    }
}

async fn platform(sim: &SimHandle) -> V3 {
    let cf = CfHttp::connect(
        sim.url(),
        Login::Password {
            username: "admin".into(),
            password: Secret::new("admin"),
        },
        CfOptions::default(),
    )
    .await
    .expect("login");
    V3::new(cf).with_poll(PollOptions::fast())
}

/// Observes and plans (no apply).
async fn plan_of(cf: &V3, loaded: &load::Loaded, registries: &Registries) -> Report {
    plan_with(cf, loaded, registries, false).await
}

async fn plan_with(cf: &V3, loaded: &load::Loaded, registries: &Registries, deep: bool) -> Report {
    let config = &loaded.repo.config;
    let desired = &loaded.repo.foundations[0];
    let foundation = driftless::model::FoundationConfig::implicit(&desired.name);
    let run = Reconcile {
        desired,
        config,
        foundation: &foundation,
        registries,
        broken_credentials: &BTreeMap::new(),
        options: PlanOptions::default(),
        apply: None,
        concurrency: 4,
        deep,
    };
    reconcile::reconcile(cf, &run, &mut EnvCache::default())
        .await
        .expect("reconcile")
}

fn key(name: &str) -> AppKey {
    AppKey {
        space: SpaceKey {
            org: "acme".into(),
            space: "dev".into(),
        },
        name: AppName::new(name),
    }
}

async fn instances(cf: &V3, name: &str) -> u32 {
    let scope = [key(name).space].into_iter().collect();
    cf.observe(&scope).await.expect("observe").apps[&key(name)].processes["web"].instances
}

#[tokio::test]
async fn a_stale_change_fails_and_the_other_app_still_converges() {
    let sim = foundation().await;
    let host = sim.registry().expect("registry").host();
    let cf = platform(&sim).await;
    let registries = registries();
    let first = plan_of(&cf, &repo(&host, 1), &registries).await;
    let results = apply::apply(
        &cf,
        &registries,
        &BTreeMap::new(),
        &first.plan,
        &ApplyOptions::default(),
    )
    .await;
    assert!(
        results.iter().all(|r| r.outcome == Outcome::Applied),
        "{results:?}"
    );

    // Plan a scale of both, then someone scales `a` by hand before apply runs.
    let scale = plan_of(&cf, &repo(&host, 2), &registries).await;
    assert_eq!(
        plan::summary(&scale.plan).get(&plan::Action::Update),
        Some(&2)
    );
    sim.scale_app("acme", "dev", "a", 4)
        .await
        .expect("cf scale");
    let results = apply::apply(
        &cf,
        &registries,
        &BTreeMap::new(),
        &scale.plan,
        &ApplyOptions::default(),
    )
    .await;
    let by_target: BTreeMap<String, &plan::ChangeResult> = scale
        .plan
        .changes
        .iter()
        .map(|c| c.target.to_string())
        .zip(&results)
        .collect();
    let a = by_target["app:acme/dev/a"];
    assert_eq!(a.outcome, Outcome::Failed, "{a:?}");
    assert!(
        a.error.as_deref().unwrap_or("").contains("stale plan"),
        "{a:?}"
    );
    assert_eq!(by_target["app:acme/dev/b"].outcome, Outcome::Applied);
    assert_eq!(
        instances(&cf, "a").await,
        4,
        "the stale change was not made"
    );
    assert_eq!(instances(&cf, "b").await, 2);
}

#[tokio::test]
async fn the_registry_is_asked_again_right_before_instances_start() {
    let sim = foundation().await;
    let registry = sim.registry().expect("registry");
    let host = registry.host();
    let cf = platform(&sim).await;
    let registries = registries();
    let first = plan_of(&cf, &repo(&host, 1), &registries).await;
    apply::apply(
        &cf,
        &registries,
        &BTreeMap::new(),
        &first.plan,
        &ApplyOptions::default(),
    )
    .await;

    // A scale-up planned while the registry answered; it goes down before apply.
    let scale_up = plan_of(&cf, &repo(&host, 3), &registries).await;
    registry.set_down(true);
    let results = apply::apply(
        &cf,
        &registries,
        &BTreeMap::new(),
        &scale_up.plan,
        &ApplyOptions::default(),
    )
    .await;
    for (change, result) in scale_up.plan.changes.iter().zip(&results) {
        assert_eq!(
            result.outcome,
            Outcome::Blocked,
            "{} {result:?}",
            change.target
        );
        let error = result.error.as_deref().unwrap_or("");
        assert!(
            error.contains("unreachable") && error.contains("left alone"),
            "{error}"
        );
    }
    assert_eq!(instances(&cf, "a").await, 1, "nothing scaled up");
    assert_eq!(instances(&cf, "b").await, 1);
}

/// The planner is deterministic over the same observation.
#[tokio::test]
async fn planning_the_same_observation_twice_gives_the_same_plan() {
    let sim = foundation().await;
    let host = sim.registry().expect("registry").host();
    let cf = platform(&sim).await;
    let loaded = repo(&host, 2);
    let desired = &loaded.repo.foundations[0];
    let live = cf.observe(&desired.spaces).await.expect("observe");
    let images = reconcile::check_images(&registries(), desired, &BTreeMap::new(), 4).await;
    let foundation = driftless::model::FoundationConfig::implicit(&desired.name);
    let cx = PlanContext {
        config: &loaded.repo.config,
        foundation: &foundation,
        credentials: &BTreeMap::new(),
        options: &PlanOptions::default(),
    };
    let one = plan::plan(desired, &live, &images, &cx);
    let two = plan::plan(desired, &live, &images, &cx);
    assert_eq!(one, two);
    assert_eq!(one.changes.len(), 2);
}

/// A command changed by hand (`cf push -c`, here a process PATCH) is invisible to lists and
/// hashes; the deep check reads commands one by one and reports it.
#[tokio::test]
async fn a_hand_made_command_shows_only_in_a_deep_check() {
    let sim = foundation().await;
    let host = sim.registry().expect("registry").host();
    let cf = platform(&sim).await;
    let registries = registries();
    let loaded = repo(&host, 1);
    let first = plan_of(&cf, &loaded, &registries).await;
    apply::apply(
        &cf,
        &registries,
        &BTreeMap::new(),
        &first.plan,
        &ApplyOptions::default(),
    )
    .await;
    let guid = sim.app_guid("acme", "dev", "a").expect("app a");
    let web = driftless::cf::platform::ProcessTarget {
        instances: 1,
        memory_mb: 1024,
        disk_mb: 1024,
        health_check_type: driftless::model::HealthCheckKind::Port,
        health_check_endpoint: None,
        timeout: None,
        command: Some("/bin/sh -c 'sleep infinity'".into()),
    };
    cf.update_process(&guid, "web", &web)
        .await
        .expect("cf push -c");

    let shallow = plan_of(&cf, &loaded, &registries).await;
    assert!(!plan::has_drift(&shallow.plan), "lists hide commands");
    let deep = plan_with(&cf, &loaded, &registries, true).await;
    let change = deep
        .plan
        .changes
        .iter()
        .find(|c| c.target.to_string() == "app:acme/dev/a")
        .expect("a");
    assert_eq!(change.action, plan::Action::Update, "{change:?}");
    let field = change
        .fields
        .iter()
        .find(|f| f.path == "command")
        .expect("a command diff");
    assert_eq!(field.live, "/bin/sh -c 'sleep infinity'");
    assert_eq!(field.desired, serde_json::Value::Null);
    let b = deep
        .plan
        .changes
        .iter()
        .find(|c| c.target.to_string() == "app:acme/dev/b")
        .expect("b");
    assert_eq!(b.action, plan::Action::Noop, "{b:?}");
}

/// Runs one reconcile (apply when `apply`) with a state the caller keeps between runs.
async fn run_with_state(
    cf: &V3,
    loaded: &load::Loaded,
    registries: &Registries,
    state: &mut EnvCache,
    prune: bool,
    apply: bool,
) -> Report {
    let desired = &loaded.repo.foundations[0];
    let foundation = driftless::model::FoundationConfig::implicit(&desired.name);
    let run = Reconcile {
        desired,
        config: &loaded.repo.config,
        foundation: &foundation,
        registries,
        broken_credentials: &BTreeMap::new(),
        options: PlanOptions {
            prune,
            ..PlanOptions::default()
        },
        apply: apply.then(ApplyOptions::default),
        concurrency: 4,
        deep: false,
    };
    reconcile::reconcile(cf, &run, state)
        .await
        .expect("reconcile")
}

fn change<'p>(
    report: &'p Report,
    target: &str,
) -> (&'p plan::Change, Option<&'p plan::ChangeResult>) {
    let i = report
        .plan
        .changes
        .iter()
        .position(|c| c.target.to_string() == target)
        .unwrap_or_else(|| panic!("no change for {target}: {:#?}", report.plan.changes));
    (
        &report.plan.changes[i],
        report.results.as_ref().map(|r| &r[i]),
    )
}

/// A whole space directory removed from git: its apps are not forgotten. The state remembers
/// where driftless's apps were, so they are orphans without prune and deleted with it.
#[tokio::test]
async fn apps_of_a_space_removed_from_git_are_orphans_then_pruned() {
    let sim = foundation().await;
    sim.create_space("acme", "qa").expect("space qa");
    let host = sim.registry().expect("registry").host();
    let cf = platform(&sim).await;
    let registries = registries();
    let both = {
        let files = [
            SourceFile {
                path: "acme/dev/manifest.yml".into(),
                bytes: format!(
                    "applications:\n- name: a\n  docker: {{ image: {host}/demo/a:1 }}\n  no-route: true\n"
                )
                .into_bytes(),
            },
            SourceFile {
                path: "acme/qa/manifest.yml".into(),
                bytes: format!(
                    "applications:\n- name: b\n  docker: {{ image: {host}/demo/b:1 }}\n  no-route: true\n"
                )
                .into_bytes(),
            },
        ];
        load::load(&files, &LoadOptions { strict: true })
    };
    let mut state = EnvCache::default();
    let first = run_with_state(&cf, &both, &registries, &mut state, false, true).await;
    assert!(
        first
            .results
            .iter()
            .flatten()
            .all(|r| r.outcome == Outcome::Applied),
        "{:?}",
        first.results
    );

    // acme/qa's directory leaves git.
    let dev_only = repo_dev_a(&host);
    let orphaned = run_with_state(&cf, &dev_only, &registries, &mut state, false, false).await;
    let (b, _) = change(&orphaned, "app:acme/qa/b");
    assert_eq!(b.action, plan::Action::Orphan, "{b:?}");
    let pruned = run_with_state(&cf, &dev_only, &registries, &mut state, true, true).await;
    let (b, result) = change(&pruned, "app:acme/qa/b");
    assert_eq!(b.action, plan::Action::Delete, "{b:?}");
    assert_eq!(result.map(|r| r.outcome), Some(Outcome::Applied));
    assert!(sim.app_guid("acme", "qa", "b").is_none(), "b was deleted");
    assert!(sim.app_guid("acme", "dev", "a").is_some(), "a stays");
    assert!(
        !state.spaces.contains("acme/qa") || {
            // One more run forgets the emptied space.
            run_with_state(&cf, &dev_only, &registries, &mut state, true, false).await;
            !state.spaces.contains("acme/qa")
        },
        "{:?}",
        state.spaces
    );
}

fn repo_dev_a(host: &str) -> load::Loaded {
    let files = [SourceFile {
        path: "acme/dev/manifest.yml".into(),
        bytes: format!(
            "applications:\n- name: a\n  docker: {{ image: {host}/demo/a:1 }}\n  no-route: true\n"
        )
        .into_bytes(),
    }];
    load::load(&files, &LoadOptions { strict: true })
}
