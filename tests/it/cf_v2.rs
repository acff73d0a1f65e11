//! The Stackato (CC v2) client against the simulator in Stackato mode over loopback: discovery
//! from `/v2/info`, refresh, v2 paging, v2 errors, retries, the budget, and the `Platform`
//! operations end to end, with a private-registry password that never shows.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
    time::Duration,
};

use driftless::{
    cf::{
        self, CfError,
        http::{CfHttp, CfOptions, Login},
        platform::{AppSpec, Deadline, ImageSource, MetadataPatch, Platform, ProcessTarget},
        v2::{METADATA_ENV, V2},
    },
    model::{AppKey, AppName, HealthCheckKind, PlatformKind, SpaceKey, Strategy},
    secret::Secret,
};
use reqwest::Method;
use serde_json::json;
use simulator::{
    Faults, ManualClock, RateLimit, RegistryConfig, SeedApp, SeedOrg, SeedSpace, SeedState,
    SimConfig, SimHandle,
};

/// The registry password of these tests: it must never show anywhere.
const PASSWORD: &str = "pull-Zq8-s3cret";

fn admin() -> Login {
    Login::Password {
        username: "admin".into(),
        password: Secret::new("admin"),
    }
}

fn quick() -> CfOptions {
    CfOptions {
        backoff: Duration::from_millis(5),
        timeout: Duration::from_secs(10),
        ..CfOptions::default()
    }
}

fn seed_app(name: &str) -> SeedApp {
    serde_json::from_value(json!({"name": name, "image": "registry.example.com/team/web:1.0"}))
        .expect("seed app")
}

fn seed(apps: usize) -> SeedState {
    SeedState {
        feature_flags: [("diego_docker".to_owned(), true)].into(),
        orgs: vec![SeedOrg {
            name: "acme".into(),
            spaces: vec![SeedSpace {
                name: "prod".into(),
                apps: (0..apps)
                    .map(|i| seed_app(&format!("app-{i:03}")))
                    .collect(),
            }],
        }],
        ..SeedState::default()
    }
}

fn stackato(apps: usize) -> SimConfig {
    SimConfig {
        stackato: true,
        seed_state: Some(seed(apps)),
        staging_duration: Duration::from_millis(100),
        ..SimConfig::default()
    }
}

fn prod() -> SpaceKey {
    SpaceKey {
        org: "acme".into(),
        space: "prod".into(),
    }
}

fn count(sim: &SimHandle, route: &str) -> u64 {
    sim.request_counts().get(route).copied().unwrap_or(0)
}

#[tokio::test]
async fn login_discovers_the_uaa_from_v2_info_and_detect_tells_the_dialects_apart() {
    let sim = simulator::start(stackato(0)).await.expect("sim");
    let v2 = V2::connect(sim.url(), admin(), quick())
        .await
        .expect("login");
    assert_eq!(v2.kind(), PlatformKind::Stackato);
    let routes: Vec<String> = sim.request_log().into_iter().map(|r| r.route).collect();
    assert_eq!(
        routes,
        ["GET /v2/info", "POST /uaa/oauth/token"],
        "discovery reads /v2/info, not the v3 root"
    );
    let bad = Login::Client {
        client_id: "driftless".into(),
        client_secret: Secret::new("wrong-Xy7-secret"),
    };
    let error = CfHttp::connect_v2(sim.url(), bad, quick())
        .await
        .expect_err("a wrong secret");
    assert!(matches!(error, CfError::Login { .. }), "{error}");
    assert!(
        !format!("{error} {error:?}").contains("wrong-Xy7"),
        "{error:?}"
    );

    // A v3 foundation links cloud_controller_v3 from `GET /`; so does a Stackato-mode simulator,
    // which serves both dialects (v3 is then the better one to speak).
    let v3 = simulator::start(SimConfig::default()).await.expect("sim");
    assert_eq!(
        cf::detect(v3.url(), &quick()).await.expect("detect"),
        PlatformKind::Cloudfoundry
    );
    assert_eq!(
        cf::detect(sim.url(), &quick()).await.expect("detect"),
        PlatformKind::Cloudfoundry
    );
    // HP Stackato's Cloud Controller predates v3: no root document, only /v2/info. The v3
    // discovery fails there, the v2 one logs in.
    let stackato_only = simulator::start(SimConfig {
        v2_only: true,
        ..stackato(0)
    })
    .await
    .expect("sim");
    assert_eq!(
        cf::detect(stackato_only.url(), &quick())
            .await
            .expect("detect"),
        PlatformKind::Stackato
    );
    let v3_login = CfHttp::connect(stackato_only.url(), admin(), quick())
        .await
        .expect_err("no root document");
    assert!(
        matches!(&v3_login, CfError::Api { status: 404, path, .. } if path == "/"),
        "{v3_login}"
    );
    V2::connect(stackato_only.url(), admin(), quick())
        .await
        .expect("v2 discovery");
    // A server that is neither (a registry: no root document, no /v2/info) is an error.
    let registry = simulator::RegistryHandle::start(RegistryConfig::default())
        .await
        .expect("registry");
    let neither = cf::detect(&format!("http://{}", registry.host()), &quick())
        .await
        .expect_err("not a Cloud Controller");
    assert!(neither.to_string().contains("/v2/info"), "{neither}");
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once_and_the_v2_request_goes_through() {
    let clock = ManualClock::new(chrono::Utc::now());
    let config = SimConfig {
        clock: Arc::new(clock.clone()),
        token_lifetime: Duration::from_secs(60),
        ..stackato(0)
    };
    let sim = simulator::start(config).await.expect("sim");
    let cf = CfHttp::connect_v2(sim.url(), admin(), quick())
        .await
        .expect("login");
    cf.get("/v2/organizations").await.expect("fresh token");
    let logins = count(&sim, "POST /uaa/oauth/token");
    clock.advance(Duration::from_secs(120));
    cf.get("/v2/organizations")
        .await
        .expect("refreshed and retried");
    assert_eq!(
        count(&sim, "POST /uaa/oauth/token"),
        logins + 1,
        "one refresh"
    );
    assert_eq!(
        count(&sim, "GET /v2/organizations"),
        3,
        "first call, the 401 in the v2 error shape, the retry"
    );
}

#[tokio::test]
async fn v2_lists_follow_next_url_at_a_hundred_per_page() {
    let sim = simulator::start(stackato(250)).await.expect("sim");
    let cf = CfHttp::connect_v2(sim.url(), admin(), quick())
        .await
        .expect("login");
    sim.reset_request_counts();
    let apps = cf.list_v2("/v2/apps", &[]).await.expect("list");
    let names: BTreeSet<&str> = apps
        .iter()
        .filter_map(|a| a["entity"]["name"].as_str())
        .collect();
    assert_eq!(
        (apps.len(), names.len()),
        (250, 250),
        "none twice, none missing"
    );
    let uris: Vec<String> = sim.request_log().into_iter().map(|r| r.uri).collect();
    assert_eq!(
        uris,
        [
            "/v2/apps?results-per-page=100",
            "/v2/apps?order-direction=asc&page=2&results-per-page=100",
            "/v2/apps?order-direction=asc&page=3&results-per-page=100",
        ]
    );
}

#[tokio::test]
async fn v2_errors_are_typed_with_the_v2_code_and_error_code() {
    let sim = simulator::start(stackato(1)).await.expect("sim");
    let cf = CfHttp::connect_v2(sim.url(), admin(), quick())
        .await
        .expect("login");
    let api = |e: &CfError| match e {
        CfError::Api {
            method,
            path,
            status,
            code,
            title,
            ..
        } => (method.clone(), path.clone(), *status, *code, title.clone()),
        other => panic!("expected an API error, got {other:?}"),
    };
    let missing = cf.get("/v2/apps/no-such-guid").await.expect_err("404");
    assert_eq!(
        api(&missing),
        (
            "GET".into(),
            "/v2/apps/no-such-guid".into(),
            404,
            100004,
            "CF-AppNotFound".into()
        )
    );
    assert!(!missing.is_retryable());
    let paging = cf
        .get("/v2/apps?results-per-page=500")
        .await
        .expect_err("400");
    assert_eq!(
        (api(&paging).2, api(&paging).3, api(&paging).4),
        (400, 10005, "CF-BadQueryParameter".into()),
        "{paging}"
    );
    let invalid = cf
        .request(Method::POST, "/v2/apps", Some(&json!({"space_guid": "x"})))
        .await
        .expect_err("400");
    assert_eq!(
        (api(&invalid).2, api(&invalid).3, api(&invalid).4),
        (400, 100001, "CF-AppInvalid".into())
    );
    let guid = sim.app_guid("acme", "prod", "app-000").expect("seeded");
    let v2 = V2::new(cf);
    let env = BTreeMap::from([("VCAP_SERVICES".to_owned(), "{}".to_owned())]);
    let reserved = v2.set_env(&guid, &env).await.expect_err("422");
    assert_eq!(api(&reserved).2, 422, "{reserved}");
    let developer = V2::connect(
        sim.url(),
        Login::Password {
            username: "developer".into(),
            password: Secret::new("developer"),
        },
        quick(),
    )
    .await
    .expect("login");
    let forbidden = developer
        .set_feature_flag("diego_docker", false)
        .await
        .expect_err("admin only");
    assert_eq!(
        (api(&forbidden).2, api(&forbidden).4),
        (403, "CF-NotAuthorized".into())
    );
}

/// A Stackato simulator with faults, and a client logged in through them (retries allowed).
async fn faulty(error_rate: f64, drop_rate: f64, seed: u64) -> (SimHandle, CfHttp) {
    let config = SimConfig {
        faults: Faults {
            error_rate,
            drop_rate,
        },
        seed,
        ..stackato(0)
    };
    let sim = simulator::start(config).await.expect("sim");
    let options = CfOptions {
        max_retries: 8,
        ..quick()
    };
    let cf = CfHttp::connect_v2(sim.url(), admin(), options)
        .await
        .expect("login (retried)");
    (sim, cf)
}

#[tokio::test]
async fn v2_server_errors_are_retried_and_a_post_is_not_sent_again_after_a_drop() {
    let (sim, cf) = faulty(0.5, 0.0, 7).await;
    sim.reset_request_counts();
    for _ in 0..10 {
        cf.list_v2("/v2/organizations", &[])
            .await
            .expect("retried until it went through");
    }
    // The log holds what reached the Cloud Controller: the ten that went through, after the
    // injected 5xx answers that were retried.
    assert_eq!(count(&sim, "GET /v2/organizations"), 10);

    let (sim, cf) = faulty(0.0, 0.5, 11).await;
    let spaces = cf
        .list_v2("/v2/spaces", &[])
        .await
        .expect("a GET is retried");
    let space_guid = spaces[0]["metadata"]["guid"]
        .as_str()
        .expect("guid")
        .to_owned();
    let mut created = 0;
    let mut dropped = 0;
    for i in 0..10 {
        let body = json!({"name": format!("app-{i}"), "space_guid": space_guid});
        match cf.request(Method::POST, "/v2/apps", Some(&body)).await {
            Ok(answer) => {
                assert_eq!(answer.status, 201);
                created += 1;
            }
            Err(error) => {
                assert!(matches!(error, CfError::Transport { .. }), "{error}");
                dropped += 1;
            }
        }
    }
    assert!(
        dropped > 0,
        "half the connections drop, and a POST is never retried"
    );
    assert_eq!(
        count(&sim, "POST /v2/apps"),
        created,
        "each POST reached the Cloud Controller at most once"
    );
    let apps = cf.list_v2("/v2/apps", &[]).await.expect("a GET is retried");
    assert_eq!(apps.len() as u64, created);
}

#[tokio::test]
async fn a_v2_429_waits_for_retry_after() {
    let config = SimConfig {
        rate_limit: Some(RateLimit {
            limit: 4,
            reset_interval: Duration::from_secs(2),
        }),
        ..stackato(0)
    };
    let sim = simulator::start(config).await.expect("sim");
    let cf = CfHttp::connect_v2(
        sim.url(),
        admin(),
        CfOptions {
            pace: false,
            ..quick()
        },
    )
    .await
    .expect("login");
    sim.reset_request_counts();
    let started = std::time::Instant::now();
    for _ in 0..6 {
        cf.get("/v2/organizations")
            .await
            .expect("waited out the limit");
    }
    let elapsed = started.elapsed();
    assert!(cf.throttled() >= 1, "the limit was hit");
    assert!(
        elapsed >= Duration::from_millis(900),
        "the client must sleep Retry-After (backoff is 5 ms): {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    assert_eq!(
        count(&sim, "GET /v2/organizations"),
        6,
        "each went through once"
    );
}

#[tokio::test]
async fn the_budget_paces_v2_requests_under_the_rate_limit() {
    let limited = || SimConfig {
        rate_limit: Some(RateLimit {
            limit: 10,
            reset_interval: Duration::from_secs(2),
        }),
        ..stackato(0)
    };
    let sim = simulator::start(limited()).await.expect("sim");
    let cf = CfHttp::connect_v2(sim.url(), admin(), quick())
        .await
        .expect("login");
    let started = std::time::Instant::now();
    for _ in 0..25 {
        cf.get("/v2/organizations").await.expect("paced");
    }
    assert_eq!(
        cf.throttled(),
        0,
        "pacing kept every request under the limit"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "25 requests at 10 per 2 s need at least two resets"
    );
    assert_eq!(
        cf.budget().limit,
        10,
        "read from X-RateLimit-* on v2 answers"
    );
    let sim = simulator::start(limited()).await.expect("sim");
    let unpaced = CfHttp::connect_v2(
        sim.url(),
        admin(),
        CfOptions {
            pace: false,
            ..quick()
        },
    )
    .await
    .expect("login");
    for _ in 0..25 {
        unpaced
            .get("/v2/organizations")
            .await
            .expect("retried after 429");
    }
    assert!(unpaced.throttled() > 0, "without pacing the limit is hit");
}

fn web(instances: u32) -> ProcessTarget {
    ProcessTarget {
        instances,
        memory_mb: 512,
        disk_mb: 1024,
        health_check_type: HealthCheckKind::Port,
        health_check_endpoint: None,
        timeout: None,
        command: None,
    }
}

fn key(name: &str) -> AppKey {
    AppKey {
        space: prod(),
        name: AppName::new(name),
    }
}

/// Everything a test could print, checked for the password.
fn assert_secret_free(what: &str, text: &str) {
    assert!(
        !text.contains(PASSWORD),
        "the password leaked into {what}: {text}"
    );
    assert!(
        !text.contains("Zq8"),
        "part of the password leaked into {what}: {text}"
    );
}

#[tokio::test]
async fn a_private_docker_app_is_created_deployed_changed_rolled_back_and_deleted() {
    let logs = crate::logs::capture();
    let mark = logs.mark();

    let config = SimConfig {
        registry: Some(RegistryConfig {
            basic_auth: Some(("ci".into(), PASSWORD.into())),
            ..RegistryConfig::default()
        }),
        ..stackato(0)
    };
    let sim = simulator::start(config).await.expect("sim");
    let registry = sim.registry().expect("embedded registry");
    registry.push_image("team/api", "1.0", "one");
    registry.push_image("team/api", "2.0", "two");
    let host = registry.host();
    let image = |tag: &str| ImageSource {
        reference: format!("{host}/team/api:{tag}"),
        username: Some("ci".into()),
        password: Some(Secret::new(PASSWORD)),
    };
    let deadline = Deadline(Duration::from_secs(10));
    let v2 = V2::connect(sim.url(), admin(), quick())
        .await
        .expect("login");
    let scope = BTreeSet::from([prod()]);
    let live = v2.observe(&scope).await.expect("observe");
    let space_guid = live.spaces[&prod()].clone();
    assert_eq!(live.default_domain.as_deref(), Some("apps.sim.local"));

    let spec = AppSpec {
        name: "api".into(),
        space_guid: space_guid.clone(),
        env: BTreeMap::from([("GREETING".to_owned(), "hi".to_owned())]),
        processes: BTreeMap::from([("web".to_owned(), web(1))]),
        labels: BTreeMap::from([("driftless.dev/managed".to_owned(), "true".to_owned())]),
        annotations: BTreeMap::from([(
            "driftless.dev/image".to_owned(),
            format!("{host}/team/api:1.0"),
        )]),
    };
    let guid = v2.create_app(&spec).await.expect("create");
    let created = &v2.observe(&scope).await.expect("observe").apps[&key("api")];
    assert!(created.owned && !created.started);
    assert_eq!(created.image, None, "created, not staged: no droplet yet");

    tracing::info!(image = ?image("1.0"), "deploying");
    let rolled = v2
        .deploy_image(&guid, &image("1.0"), Strategy::Rolling, deadline)
        .await
        .expect("staged with the inline credentials and started");
    assert!(rolled.updated_at.is_some());
    // The registry demands Basic auth, so staging proves the inline password arrived; the
    // Cloud Controller keeps only the username in view.
    let state = sim.state_dump().to_string();
    assert_secret_free("the simulator's state", &state);
    let live = v2.observe(&scope).await.expect("observe");
    let app = &live.apps[&key("api")];
    assert!(app.owned && app.started, "{app:?}");
    assert_eq!(
        app.image.as_deref(),
        Some(format!("{host}/team/api:1.0").as_str())
    );
    assert_eq!(
        app.env,
        Some(BTreeMap::from([("GREETING".to_owned(), "hi".to_owned())])),
        "DRIFTLESS_METADATA is not part of the env"
    );
    assert_eq!(app.labels["driftless.dev/managed"], "true");
    assert_secret_free("Live", &format!("{live:?}"));

    // scale
    let bigger = ProcessTarget {
        memory_mb: 256,
        ..web(2)
    };
    v2.scale(&guid, "web", &bigger).await.expect("scale");
    let not_web = v2
        .scale(&guid, "worker", &bigger)
        .await
        .expect_err("one process");
    assert!(not_web.to_string().contains("one process"), "{not_web}");
    // env, keeping the metadata
    let env = BTreeMap::from([("MODE".to_owned(), "fast".to_owned())]);
    v2.set_env(&guid, &env).await.expect("set env");
    assert_eq!(v2.read_env(&guid).await.expect("read env"), env);
    let raw = v2
        .http()
        .get(&format!("/v2/apps/{guid}"))
        .await
        .expect("app");
    assert!(
        raw["entity"]["environment_json"][METADATA_ENV]
            .as_str()
            .is_some_and(|m| m.contains("driftless.dev/managed")),
        "{raw}"
    );
    // metadata patch: add one, delete one
    let patch = MetadataPatch {
        labels: BTreeMap::new(),
        annotations: BTreeMap::from([
            ("driftless.dev/image".to_owned(), None),
            (
                "driftless.dev/revision".to_owned(),
                Some("abc123".to_owned()),
            ),
        ]),
    };
    v2.set_metadata(&guid, &patch).await.expect("metadata");
    // command and health check
    let checked = ProcessTarget {
        health_check_type: HealthCheckKind::Http,
        health_check_endpoint: Some("/health".into()),
        timeout: Some(30),
        command: Some("./run --fast".into()),
        ..bigger.clone()
    };
    v2.update_process(&guid, "web", &checked)
        .await
        .expect("update");
    // routes
    let routes = BTreeSet::from([
        "api.apps.sim.local".to_owned(),
        "apps.sim.local/api".to_owned(),
    ]);
    v2.set_routes(&guid, &space_guid, &routes)
        .await
        .expect("routes");
    let live = v2.observe(&scope).await.expect("observe");
    let app = &live.apps[&key("api")];
    let process = &app.processes["web"];
    assert_eq!(
        (process.instances, process.memory_mb, process.disk_mb),
        (2, 256, 1024)
    );
    assert_eq!(
        (
            process.health_check_type.as_str(),
            process.health_check_endpoint.as_deref(),
            process.timeout,
            process.command.as_deref()
        ),
        ("http", Some("/health"), Some(30), Some("./run --fast"))
    );
    assert_eq!(app.env.as_ref(), Some(&env));
    assert!(app.owned, "set_env kept the ownership label");
    assert_eq!(
        app.annotations,
        BTreeMap::from([("driftless.dev/revision".to_owned(), "abc123".to_owned())])
    );
    assert_eq!(app.routes, routes);
    v2.set_routes(
        &guid,
        &space_guid,
        &BTreeSet::from(["api.apps.sim.local".to_owned()]),
    )
    .await
    .expect("unmap one");
    let live = v2.observe(&scope).await.expect("observe");
    assert_eq!(
        live.apps[&key("api")].routes,
        BTreeSet::from(["api.apps.sim.local".to_owned()])
    );

    // stop, start, restart
    v2.stop(&guid).await.expect("stop");
    assert!(!v2.observe(&scope).await.expect("observe").apps[&key("api")].started);
    v2.start(&guid).await.expect("start");
    v2.restart(&guid, Strategy::Restart, deadline)
        .await
        .expect("restart waits for the instances");
    assert!(v2.observe(&scope).await.expect("observe").apps[&key("api")].started);

    // An image that does not exist fails staging; the previous one comes back.
    let missing = v2
        .deploy_image(&guid, &image("9.9"), Strategy::Rolling, deadline)
        .await
        .expect_err("no such tag");
    assert!(
        matches!(&missing, CfError::Rollout { step, restored, .. } if step == "stage" && restored.contains("restored and running")),
        "{missing}"
    );
    assert_secret_free("the error", &format!("{missing} {missing:?}"));
    // An image whose instances crash fails at start; the previous one comes back.
    sim.set_image_health("team/api:2.0", false);
    let crashing = v2
        .deploy_image(&guid, &image("2.0"), Strategy::Rolling, deadline)
        .await
        .expect_err("unhealthy");
    assert!(
        matches!(&crashing, CfError::Rollout { step, restored, .. } if step == "start" && restored.contains("restored and running")),
        "{crashing}"
    );
    assert_secret_free("the error", &format!("{crashing} {crashing:?}"));
    let live = v2.observe(&scope).await.expect("observe");
    let app = &live.apps[&key("api")];
    assert_eq!(
        app.image.as_deref(),
        Some(format!("{host}/team/api:1.0").as_str())
    );
    assert!(app.started);
    let instances = v2
        .http()
        .get(&format!("/v2/apps/{guid}/instances"))
        .await
        .expect("instances");
    assert_eq!(
        (
            instances["0"]["state"].as_str(),
            instances["1"]["state"].as_str()
        ),
        (Some("RUNNING"), Some("RUNNING")),
        "{instances}"
    );
    // With the registry down, staging fails and so does restaging the previous image; the
    // error says both, and the old droplet keeps running.
    registry.set_down(true);
    let down = v2
        .deploy_image(&guid, &image("1.0"), Strategy::Rolling, deadline)
        .await
        .expect_err("unreachable");
    registry.set_down(false);
    assert!(
        matches!(&down, CfError::Rollout { step, reason, restored, .. }
            if step == "stage" && reason.contains("unreachable") && restored.contains("failed to stage")),
        "{down}"
    );
    assert!(v2.observe(&scope).await.expect("observe").apps[&key("api")].started);
    assert_secret_free("Debug of an image source", &format!("{:?}", image("1.0")));
    assert_secret_free("Debug of the client", &format!("{v2:?}"));

    // A wrong password: staging is refused, and the wrong one does not show either.
    let wrong = ImageSource {
        password: Some(Secret::new("wrong-Kp4-pass")),
        ..image("1.0")
    };
    let refused = v2
        .deploy_image(&guid, &wrong, Strategy::Rolling, deadline)
        .await
        .expect_err("unauthorized");
    let text = format!("{refused} {refused:?}");
    assert!(text.contains("unauthorized"), "{text}");
    assert!(
        text.contains("left running"),
        "the package the outage left unstaged is not a previous image to go back to: {text}"
    );
    assert!(!text.contains("Kp4"), "{text}");

    // A password the inline form cannot carry is refused before anything is sent.
    let puts = count(&sim, "PUT /v2/apps/:guid");
    assert!(puts > 0, "{:?}", sim.request_counts());
    let uncarriable = ImageSource {
        password: Some(Secret::new("p@ss-Zq8")),
        ..image("1.0")
    };
    let refused = v2
        .deploy_image(&guid, &uncarriable, Strategy::Rolling, deadline)
        .await
        .expect_err("an @ in the password");
    assert!(matches!(refused, CfError::Protocol { .. }), "{refused}");
    assert_secret_free("the error", &format!("{refused} {refused:?}"));
    assert_eq!(count(&sim, "PUT /v2/apps/:guid"), puts, "nothing was sent");

    // feature flags, delete
    v2.set_feature_flag("user_org_creation", true)
        .await
        .expect("flag");
    v2.delete_app(&guid).await.expect("delete");
    let live = v2.observe(&scope).await.expect("observe");
    assert_eq!(live.feature_flags.get("user_org_creation"), Some(&true));
    assert!(live.apps.is_empty(), "{:?}", live.apps);

    let text = logs.since(mark);
    assert!(text.contains("deploying"), "the capture works: {text}");
    assert!(
        text.contains("(redacted)"),
        "Debug of an ImageSource redacts"
    );
    assert_secret_free("the logs", &text);
    assert!(
        !text.contains("Kp4"),
        "the wrong password leaked into the logs"
    );
}

async fn observe_requests(apps: usize) -> (u64, usize) {
    let sim = simulator::start(stackato(apps)).await.expect("sim");
    let v2 = V2::connect(sim.url(), admin(), quick())
        .await
        .expect("login");
    sim.reset_request_counts();
    let live = v2
        .observe(&BTreeSet::from([prod()]))
        .await
        .expect("observe");
    (sim.cc_request_count(), live.apps.len())
}

#[tokio::test]
async fn observing_costs_the_same_requests_for_50_or_500_apps_save_pages() {
    let (small, n_small) = observe_requests(50).await;
    let (large, n_large) = observe_requests(500).await;
    assert_eq!((n_small, n_large), (50, 500));
    // Flags, shared domains, orgs, spaces, apps, routes (no routes: no route mappings).
    assert_eq!(small, 6, "50 apps");
    assert_eq!(large - small, 4, "500 apps are four more pages of 100");
}

#[test]
fn an_error_that_echoes_a_secret_is_redacted_in_every_field() {
    let inline = format!("ci:{PASSWORD}@registry.example.com/team/api:1.0");
    let echoed = CfError::Api {
        method: "PUT".into(),
        path: "/v2/apps/g".into(),
        status: 400,
        code: 100001,
        title: "CF-AppInvalid".into(),
        detail: format!("The app is invalid: docker_image {inline} is not a valid reference"),
    };
    let redacted = echoed.redact(&[PASSWORD, ""]);
    let text = format!("{redacted} {redacted:?}");
    assert_secret_free("a redacted error", &text);
    assert!(
        text.contains("ci:***@registry.example.com/team/api:1.0"),
        "{text}"
    );
    assert_eq!(redacted.code(), Some(100001), "only the secret changes");
}
