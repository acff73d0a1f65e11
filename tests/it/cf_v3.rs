//! The v3 `Platform` against the simulator over loopback: the whole life of a docker app
//! (create, deploy with registry credentials, roll out, scale, env, health check, routes,
//! stop/start, delete), failures (staging, crashed rollout cancelled, deadline, failed job,
//! diego_docker off), bounded concurrency, TLS verification, and no secret in any log line.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use driftless::{
    cf::{
        CfError,
        http::{CfHttp, CfOptions, Login},
        platform::{AppSpec, Deadline, ImageSource, MetadataPatch, Platform, ProcessTarget},
        poll::PollOptions,
        v3::V3,
    },
    model::{AppKey, AppName, HealthCheckKind, SpaceKey, Strategy},
    secret::Secret,
};
use simulator::{RegistryConfig, SimConfig, SimHandle};

const REGISTRY_PASSWORD: &str = "pull-s3cret-4f9a";

fn admin() -> Login {
    Login::Password {
        username: "admin".into(),
        password: Secret::new("admin"),
    }
}

fn options() -> CfOptions {
    CfOptions {
        backoff: Duration::from_millis(5),
        timeout: Duration::from_secs(10),
        ..CfOptions::default()
    }
}

/// A simulator with a private embedded registry and quick staging and rollouts.
async fn foundation() -> SimHandle {
    simulator::start(SimConfig {
        registry: Some(RegistryConfig {
            basic_auth: Some(("puller".into(), REGISTRY_PASSWORD.into())),
            ..RegistryConfig::default()
        }),
        staging_duration: Duration::from_millis(60),
        deployment_duration: Duration::from_millis(120),
        ..SimConfig::default()
    })
    .await
    .expect("simulator")
}

async fn platform(sim: &SimHandle) -> V3 {
    let cf = CfHttp::connect(sim.url(), admin(), options())
        .await
        .expect("login");
    V3::new(cf).with_poll(PollOptions::fast())
}

fn web(instances: u32) -> ProcessTarget {
    ProcessTarget {
        instances,
        memory_mb: 256,
        disk_mb: 512,
        health_check_type: HealthCheckKind::Port,
        health_check_endpoint: None,
        timeout: None,
        command: None,
    }
}

fn spec(name: &str, space_guid: &str) -> AppSpec {
    AppSpec {
        name: name.into(),
        space_guid: space_guid.into(),
        env: BTreeMap::from([("GREETING".into(), "hello".into())]),
        processes: BTreeMap::from([("web".into(), web(2))]),
        labels: BTreeMap::from([("driftless.dev/managed".into(), "true".into())]),
        annotations: BTreeMap::from([("driftless.dev/revision".into(), "abc123".into())]),
    }
}

fn image(sim: &SimHandle, repo: &str, tag: &str) -> ImageSource {
    let registry = sim.registry().expect("registry");
    ImageSource {
        reference: format!("{}/{repo}:{tag}", registry.host()),
        username: Some("puller".into()),
        password: Some(Secret::new(REGISTRY_PASSWORD)),
    }
}

fn key(name: &str) -> AppKey {
    AppKey {
        space: space(),
        name: AppName::new(name),
    }
}

fn space() -> SpaceKey {
    SpaceKey {
        org: "acme".into(),
        space: "dev".into(),
    }
}

fn scope() -> BTreeSet<SpaceKey> {
    BTreeSet::from([space()])
}

const SOON: Deadline = Deadline(Duration::from_secs(20));

#[tokio::test]
async fn a_docker_app_lives_its_whole_life_through_the_v3_platform() {
    let logs = crate::logs::capture();
    let mark = logs.mark();
    let sim = foundation().await;
    let registry = sim.registry().expect("registry");
    let v1 = registry.push_image("demo/hello", "1.0", "one");
    let v2 = registry.push_image("demo/hello", "2.0", "two");
    let (_, space_guid) = sim.create_space("acme", "dev").expect("space");
    let cf = platform(&sim).await;

    // diego_docker is off: Cloud Controller refuses docker apps, and says so.
    let refused = cf
        .create_app(&spec("hello", &space_guid))
        .await
        .expect_err("diego_docker is off");
    assert_eq!(refused.code(), Some(330002), "{refused}");
    cf.set_feature_flag("diego_docker", true)
        .await
        .expect("enable diego_docker");
    let live = cf.observe(&scope()).await.expect("observe");
    assert_eq!(live.feature_flags.get("diego_docker"), Some(&true));
    assert_eq!(
        cf.default_domain().await.expect("domains").as_deref(),
        Some("apps.sim.local")
    );

    // Create and first deploy: the private image stages with the credentials, and runs.
    let guid = cf
        .create_app(&spec("hello", &space_guid))
        .await
        .expect("create");
    let out = cf
        .deploy_image(
            &guid,
            &image(&sim, "demo/hello", "1.0"),
            Strategy::Rolling,
            SOON,
        )
        .await
        .expect("first deploy");
    assert!(out.droplet.is_some());
    let live = cf.observe(&scope()).await.expect("observe");
    let app = &live.apps[&key("hello")];
    assert!(app.owned && app.started, "{app:?}");
    assert_eq!(app.guid, guid);
    assert_eq!(app.annotations["driftless.dev/revision"], "abc123");
    assert!(
        app.image.as_deref().unwrap().ends_with("demo/hello:1.0"),
        "{app:?}"
    );
    let web_process = &app.processes["web"];
    assert_eq!(
        (
            web_process.instances,
            web_process.memory_mb,
            web_process.disk_mb
        ),
        (2, 256, 512)
    );
    let state = sim.state_dump();
    let staged: Vec<&str> = state["droplets"]
        .as_object()
        .map(|m| m.values().filter_map(|d| d["digest"].as_str()).collect())
        .or_else(|| {
            state["droplets"]
                .as_array()
                .map(|a| a.iter().filter_map(|d| d["digest"].as_str()).collect())
        })
        .unwrap_or_default();
    assert!(
        staged.contains(&v1.as_str()),
        "the build pulled 1.0: {staged:?}"
    );

    // A rolling deployment of 2.0.
    cf.deploy_image(
        &guid,
        &image(&sim, "demo/hello", "2.0"),
        Strategy::Rolling,
        SOON,
    )
    .await
    .expect("rolling deploy");
    let live = cf.observe(&scope()).await.expect("observe");
    let app = &live.apps[&key("hello")];
    assert!(
        app.image.as_deref().unwrap().ends_with("demo/hello:2.0"),
        "{app:?}"
    );
    assert_eq!(app.deployment, None, "the deployment finished");

    // A canary back to 1.0: it pauses after its first step, is continued once healthy.
    cf.deploy_image(
        &guid,
        &image(&sim, "demo/hello", "1.0"),
        Strategy::Canary,
        SOON,
    )
    .await
    .expect("canary deploy");
    let (finalized, _) = cf
        .http()
        .list("/v3/deployments", &[("status_values", "FINALIZED")])
        .await
        .expect("deployments");
    let canary = finalized
        .iter()
        .find(|d| d["strategy"] == "canary")
        .expect("a canary");
    assert_eq!(canary["status"]["reason"], "DEPLOYED", "{canary}");
    let _ = v2;

    // Scale, env, health check, metadata, routes.
    cf.scale(&guid, "web", &web(3)).await.expect("scale");
    let env = BTreeMap::from([("MODE".to_string(), "fast".to_string())]);
    cf.set_env(&guid, &env).await.expect("env");
    assert_eq!(
        cf.read_env(&guid).await.expect("read env"),
        env,
        "GREETING removed"
    );
    let http = ProcessTarget {
        health_check_type: HealthCheckKind::Http,
        health_check_endpoint: Some("/healthz".into()),
        timeout: Some(30),
        ..web(3)
    };
    cf.update_process(&guid, "web", &http)
        .await
        .expect("health check");
    cf.restart(&guid, Strategy::Rolling, SOON)
        .await
        .expect("rolling restart");
    cf.set_metadata(
        &guid,
        &MetadataPatch {
            labels: BTreeMap::from([("team".into(), Some("web".into()))]),
            annotations: BTreeMap::from([("driftless.dev/revision".into(), None)]),
        },
    )
    .await
    .expect("metadata");
    let routes = BTreeSet::from([
        "hello.apps.sim.local".to_string(),
        "hello.apps.sim.local/api".to_string(),
    ]);
    cf.set_routes(&guid, &space_guid, &routes)
        .await
        .expect("routes");
    let live = cf.observe(&scope()).await.expect("observe");
    let app = &live.apps[&key("hello")];
    assert_eq!(app.processes["web"].instances, 3);
    assert_eq!(app.processes["web"].health_check_type, "http");
    assert_eq!(
        app.processes["web"].health_check_endpoint.as_deref(),
        Some("/healthz")
    );
    assert_eq!(app.processes["web"].timeout, Some(30));
    assert_eq!(app.labels.get("team").map(String::as_str), Some("web"));
    assert!(!app.annotations.contains_key("driftless.dev/revision"));
    assert_eq!(app.routes, routes);
    let fewer = BTreeSet::from(["hello.apps.sim.local".to_string()]);
    cf.set_routes(&guid, &space_guid, &fewer)
        .await
        .expect("unmap a route");
    let live = cf.observe(&scope()).await.expect("observe");
    assert_eq!(live.apps[&key("hello")].routes, fewer);

    // Stop, start, delete.
    cf.stop(&guid).await.expect("stop");
    assert!(!cf.observe(&scope()).await.unwrap().apps[&key("hello")].started);
    cf.start(&guid).await.expect("start");
    assert!(cf.observe(&scope()).await.unwrap().apps[&key("hello")].started);
    cf.delete_app(&guid).await.expect("delete");
    assert!(
        !cf.observe(&scope())
            .await
            .unwrap()
            .apps
            .contains_key(&key("hello"))
    );

    // The registry password and the login password never reached a log line.
    let text = logs.since(mark);
    assert!(
        text.contains("Cloud Controller request."),
        "the test captured the client's logs"
    );
    assert!(
        !text.contains(REGISTRY_PASSWORD),
        "registry password in the logs"
    );
    let dump = sim.state_dump().to_string();
    assert!(
        !dump.contains(REGISTRY_PASSWORD),
        "the simulator shows packages masked"
    );
}

#[tokio::test]
async fn failed_staging_and_crashed_rollouts_leave_the_running_app_alone() {
    let sim = foundation().await;
    let registry = sim.registry().expect("registry");
    registry.push_image("demo/hello", "1.0", "one");
    registry.push_image("demo/broken", "1.0", "broken");
    sim.set_feature_flag("diego_docker", true).expect("flag");
    let (_, space_guid) = sim.create_space("acme", "dev").expect("space");
    let cf = platform(&sim).await;
    let guid = cf
        .create_app(&spec("hello", &space_guid))
        .await
        .expect("create");
    cf.deploy_image(
        &guid,
        &image(&sim, "demo/hello", "1.0"),
        Strategy::Rolling,
        SOON,
    )
    .await
    .expect("first deploy");

    // A missing tag fails staging, with the registry's reason; 1.0 keeps running.
    let error = cf
        .deploy_image(
            &guid,
            &image(&sim, "demo/hello", "9.9"),
            Strategy::Rolling,
            SOON,
        )
        .await
        .expect_err("missing tag");
    assert!(
        matches!(&error, CfError::Failed { what, .. } if what == "staging"),
        "{error}"
    );
    assert!(error.to_string().contains("manifest unknown"), "{error}");

    // A wrong password fails staging too, and the password is not in the error.
    let wrong = ImageSource {
        password: Some(Secret::new("not-the-password-77")),
        ..image(&sim, "demo/hello", "1.0")
    };
    let error = cf
        .deploy_image(&guid, &wrong, Strategy::Rolling, SOON)
        .await
        .expect_err("wrong password");
    assert!(error.to_string().contains("unauthorized"), "{error}");
    assert!(!format!("{error} {error:?}").contains("not-the-password-77"));

    // Instances of a broken image crash: the deployment is cancelled, 1.0 is back.
    sim.set_image_health("demo/broken*", false);
    let error = cf
        .deploy_image(
            &guid,
            &image(&sim, "demo/broken", "1.0"),
            Strategy::Rolling,
            SOON,
        )
        .await
        .expect_err("crashing instances");
    assert!(error.to_string().contains("crashed"), "{error}");
    let live = cf.observe(&scope()).await.expect("observe");
    let app = &live.apps[&key("hello")];
    assert!(
        app.image.as_deref().unwrap().ends_with("demo/hello:1.0"),
        "{app:?}"
    );
    assert_eq!(app.deployment, None, "the failed deployment was cancelled");
    let (finalized, _) = cf
        .http()
        .list("/v3/deployments", &[("status_values", "FINALIZED")])
        .await
        .expect("deployments");
    let reasons: Vec<&str> = finalized
        .iter()
        .filter_map(|d| d["status"]["reason"].as_str())
        .collect();
    assert!(
        reasons.contains(&"CANCELED"),
        "a cancelled deployment on record: {reasons:?}"
    );
}

#[tokio::test]
async fn a_rollout_past_its_deadline_is_cancelled_and_a_failed_job_is_an_error() {
    let sim = simulator::start(SimConfig {
        registry: Some(RegistryConfig::default()),
        staging_duration: Duration::from_millis(20),
        deployment_duration: Duration::from_secs(600),
        ..SimConfig::default()
    })
    .await
    .expect("simulator");
    let registry = sim.registry().expect("registry");
    registry.push_image("demo/hello", "1.0", "one");
    registry.push_image("demo/hello", "2.0", "two");
    sim.set_feature_flag("diego_docker", true).expect("flag");
    let (_, space_guid) = sim.create_space("acme", "dev").expect("space");
    let cf = platform(&sim).await;
    let guid = cf
        .create_app(&spec("hello", &space_guid))
        .await
        .expect("create");
    let anonymous = |tag: &str| ImageSource {
        reference: format!("{}/demo/hello:{tag}", registry.host()),
        username: None,
        password: None,
    };
    cf.deploy_image(&guid, &anonymous("1.0"), Strategy::Rolling, SOON)
        .await
        .expect("first deploy (no deployment: the app was stopped)");
    let error = cf
        .deploy_image(
            &guid,
            &anonymous("2.0"),
            Strategy::Rolling,
            Deadline(Duration::from_millis(800)),
        )
        .await
        .expect_err("a ten-minute deployment");
    assert!(
        matches!(&error, CfError::Timeout { what, .. } if what == "deployment"),
        "{error}"
    );
    let live = cf.observe(&scope()).await.expect("observe");
    let app = &live.apps[&key("hello")];
    assert_eq!(app.deployment, None, "cancelled at the deadline");
    assert!(app.image.as_deref().unwrap().ends_with(":1.0"), "{app:?}");

    sim.fail_next_jobs(1);
    let error = cf.delete_app(&guid).await.expect_err("the job fails");
    assert!(matches!(&error, CfError::Failed { .. }), "{error}");
    assert!(error.to_string().contains("refused"), "{error}");
    assert!(
        cf.observe(&scope())
            .await
            .unwrap()
            .apps
            .contains_key(&key("hello"))
    );
    cf.delete_app(&guid)
        .await
        .expect("the next delete completes");
}

#[tokio::test]
async fn requests_in_flight_are_bounded_per_foundation() {
    let sim = simulator::start(SimConfig {
        latency: Duration::from_millis(100),
        ..SimConfig::default()
    })
    .await
    .expect("simulator");
    let cf = CfHttp::connect(
        sim.url(),
        admin(),
        CfOptions {
            max_in_flight: 2,
            ..options()
        },
    )
    .await
    .expect("login");
    let started = std::time::Instant::now();
    let gets = (0..8).map(|_| cf.get("/v3/organizations"));
    for result in futures_util::future::join_all(gets).await {
        result.expect("get");
    }
    // 8 requests of 100 ms, 2 at a time: at least 4 rounds.
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "8 requests took {:?} with 2 in flight",
        started.elapsed()
    );
}

#[tokio::test]
async fn tls_is_verified_unless_skip_ssl_validation_which_warns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    let made = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl (installed by scripts/test)");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let sim = simulator::start(SimConfig {
        tls: Some(simulator::TlsConfig {
            cert_chain: cert,
            key,
        }),
        ..SimConfig::default()
    })
    .await
    .expect("simulator");
    assert!(sim.url().starts_with("https://"));
    let error = CfHttp::connect(sim.url(), admin(), options())
        .await
        .expect_err("a self-signed certificate is refused");
    assert!(matches!(error, CfError::Transport { .. }), "{error}");

    let logs = crate::logs::capture();
    let mark = logs.mark();
    let cf = CfHttp::connect(
        sim.url(),
        admin(),
        CfOptions {
            skip_ssl_validation: true,
            ..options()
        },
    )
    .await
    .expect("accepted with --skip-ssl-validation");
    cf.get("/v3/organizations").await.expect("a request");
    let text = logs.since(mark);
    assert!(
        text.contains("WARN") && text.contains("skip-ssl-validation"),
        "{text}"
    );
}
