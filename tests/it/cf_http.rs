//! The Cloud Foundry HTTP core against the simulator over loopback: both logins, refresh on an
//! expired token, pagination across pages, CF errors, 503s retried, 429 + `Retry-After`.

use std::{sync::Arc, time::Duration};

use driftless::{
    cf::{
        CfError,
        http::{CfHttp, CfOptions, Login},
    },
    secret::Secret,
};
use reqwest::Method;
use simulator::{
    Faults, ManualClock, RateLimit, SeedApp, SeedOrg, SeedSpace, SeedState, SimConfig,
};

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

/// A simulator with injected faults, and a client logged in through them (retries allowed).
async fn faulty(error_rate: f64, drop_rate: f64, seed: u64) -> (simulator::SimHandle, CfHttp) {
    let config = SimConfig {
        faults: Faults {
            error_rate,
            drop_rate,
        },
        seed,
        ..SimConfig::default()
    };
    let sim = simulator::start(config).await.expect("sim");
    let options = CfOptions {
        max_retries: 8,
        ..quick()
    };
    let cf = CfHttp::connect(sim.url(), admin(), options)
        .await
        .expect("login (retried)");
    (sim, cf)
}

fn count(sim: &simulator::SimHandle, route: &str) -> u64 {
    sim.request_counts().get(route).copied().unwrap_or(0)
}

#[tokio::test]
async fn password_and_client_credentials_logins_work_and_bad_ones_say_why_without_the_secret() {
    let sim = simulator::start(SimConfig::default()).await.expect("sim");
    let cf = CfHttp::connect(sim.url(), admin(), quick())
        .await
        .expect("password login");
    let orgs = cf.get("/v3/organizations").await.expect("orgs");
    assert!(orgs["resources"].is_array(), "{orgs}");
    let client = Login::Client {
        client_id: "driftless".into(),
        client_secret: Secret::new("driftless"),
    };
    CfHttp::connect(sim.url(), client, quick())
        .await
        .expect("client credentials");

    let bad = Login::Password {
        username: "admin".into(),
        password: Secret::new("hunter2-wrong"),
    };
    let error = CfHttp::connect(sim.url(), bad, quick())
        .await
        .expect_err("wrong password");
    let text = format!("{error} {error:?}");
    assert!(matches!(error, CfError::Login { .. }), "{text}");
    assert!(!text.contains("hunter2"), "a password leaked: {text}");
    // The password grant uses the cf CLI's public client, found through `GET /`.
    assert!(
        count(&sim, "POST /uaa/oauth/token") >= 3,
        "{:?}",
        sim.request_counts()
    );
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once_and_the_request_goes_through() {
    let clock = ManualClock::new(chrono::Utc::now());
    let config = SimConfig {
        clock: Arc::new(clock.clone()),
        token_lifetime: Duration::from_secs(60),
        ..SimConfig::default()
    };
    let sim = simulator::start(config).await.expect("sim");
    let cf = CfHttp::connect(sim.url(), admin(), quick())
        .await
        .expect("login");
    cf.get("/v3/organizations").await.expect("fresh token");
    let logins = count(&sim, "POST /uaa/oauth/token");
    // The simulator's clock moves past the token's expiry; ours does not, so only the 401
    // CF-InvalidAuthToken can tell the client.
    clock.advance(Duration::from_secs(120));
    cf.get("/v3/organizations")
        .await
        .expect("refreshed and retried");
    assert_eq!(
        count(&sim, "POST /uaa/oauth/token"),
        logins + 1,
        "exactly one refresh"
    );
    assert_eq!(
        count(&sim, "GET /v3/organizations"),
        3,
        "first call, the 401, the retry"
    );
}

#[tokio::test]
async fn lists_follow_next_links_across_pages() {
    let apps = (0..120)
        .map(|i| SeedApp {
            name: format!("app-{i:03}"),
            ..seed_app()
        })
        .collect();
    let seed = SeedState {
        orgs: vec![SeedOrg {
            name: "acme".into(),
            spaces: vec![SeedSpace {
                name: "prod".into(),
                apps,
            }],
        }],
        ..SeedState::default()
    };
    let sim = simulator::start(SimConfig {
        seed_state: Some(seed),
        ..SimConfig::default()
    })
    .await
    .expect("sim");
    let cf = CfHttp::connect(
        sim.url(),
        admin(),
        CfOptions {
            per_page: 50,
            ..quick()
        },
    )
    .await
    .expect("login");
    sim.reset_request_counts();
    let (apps, included) = cf
        .list("/v3/apps", &[("include", "space.organization")])
        .await
        .expect("list");
    assert_eq!(apps.len(), 120);
    let names: std::collections::BTreeSet<&str> =
        apps.iter().filter_map(|a| a["name"].as_str()).collect();
    assert_eq!(names.len(), 120, "no app twice, none missing");
    assert_eq!(count(&sim, "GET /v3/apps"), 3, "120 apps at 50 per page");
    assert_eq!(included["organizations"][0]["name"], "acme", "{included:?}");
}

fn seed_app() -> SeedApp {
    serde_json::from_value(
        serde_json::json!({"name": "x", "image": "registry.example.com/demo/web:1.0"}),
    )
    .expect("seed app")
}

#[tokio::test]
async fn cf_errors_are_typed_with_method_path_status_code_and_title() {
    let sim = simulator::start(SimConfig::default()).await.expect("sim");
    let cf = CfHttp::connect(sim.url(), admin(), quick())
        .await
        .expect("login");
    let missing = cf.get("/v3/apps/no-such-guid").await.expect_err("404");
    match &missing {
        CfError::Api {
            method,
            path,
            status,
            code,
            title,
            ..
        } => {
            assert_eq!(
                (
                    method.as_str(),
                    path.as_str(),
                    *status,
                    *code,
                    title.as_str()
                ),
                (
                    "GET",
                    "/v3/apps/no-such-guid",
                    404,
                    10010,
                    "CF-ResourceNotFound"
                )
            );
        }
        other => panic!("expected an API error, got {other:?}"),
    }
    assert!(!missing.is_retryable());
    let bad = cf.get("/v3/apps?frobnicate=1").await.expect_err("400");
    assert_eq!(
        (bad.code(), bad.metric_label()),
        (Some(10005), "api_4xx"),
        "{bad}"
    );
    let body = serde_json::json!({"name": "x", "relationships": {"space": {"data": {"guid": "nope"}}}, "bogus": 1});
    let unprocessable = cf
        .request(Method::POST, "/v3/apps", Some(&body))
        .await
        .expect_err("422");
    assert!(
        matches!(unprocessable, CfError::Api { status: 422, .. }),
        "{unprocessable}"
    );
}

#[tokio::test]
async fn server_errors_are_retried_for_idempotent_requests() {
    let (sim, cf) = faulty(0.5, 0.0, 7).await;
    for _ in 0..10 {
        cf.get("/v3/organizations")
            .await
            .expect("retried until it went through");
    }
    // The same foundation without retries: some of the same requests fail, with retryable
    // 502/503s, so the successes above were the retries' doing.
    let mut no_retry = None;
    for _ in 0..20 {
        match CfHttp::connect(
            sim.url(),
            admin(),
            CfOptions {
                max_retries: 0,
                ..quick()
            },
        )
        .await
        {
            Ok(cf) => {
                no_retry = Some(cf);
                break;
            }
            Err(error) => assert!(error.is_retryable(), "{error}"),
        }
    }
    let no_retry = no_retry.expect("one of 20 unretried logins went through");
    let mut failures = Vec::new();
    for _ in 0..10 {
        if let Err(error) = no_retry.get("/v3/organizations").await {
            failures.push(error);
        }
    }
    assert!(
        !failures.is_empty(),
        "half the requests fail without retries"
    );
    for error in &failures {
        assert!(
            error.is_retryable() && error.metric_label() == "api_5xx",
            "{error}"
        );
    }
}

#[tokio::test]
async fn a_429_waits_for_retry_after_and_then_goes_through() {
    let config = SimConfig {
        rate_limit: Some(RateLimit {
            limit: 4,
            reset_interval: Duration::from_secs(2),
        }),
        ..SimConfig::default()
    };
    let sim = simulator::start(config).await.expect("sim");
    // Unpaced: the client runs into the limit instead of spreading its requests before it.
    let cf = CfHttp::connect(
        sim.url(),
        admin(),
        CfOptions {
            pace: false,
            ..quick()
        },
    )
    .await
    .expect("login");
    let started = std::time::Instant::now();
    for _ in 0..6 {
        cf.get("/v3/organizations")
            .await
            .expect("waited out the limit");
    }
    // Four requests per 2 s window: the fifth is refused with `Retry-After`, and only sleeping
    // it (the backoff here is 5 ms) gets the sixth request through after a second or more.
    assert!(cf.throttled() >= 1, "the limit answered 429");
    let served = count(&sim, "GET /v3/organizations");
    assert_eq!(
        served, 6,
        "every request went through in the end (429s are not counted)"
    );
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(900),
        "the client must sleep Retry-After: {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
}

#[tokio::test]
async fn a_post_is_not_sent_again_after_a_dropped_connection() {
    // GET / and the token grant are retried through the drops.
    let (_sim, cf) = faulty(0.0, 0.5, 11).await;
    let mut dropped = 0;
    for i in 0..10 {
        let body = serde_json::json!({"name": format!("org-{i}")});
        match cf
            .request(Method::POST, "/v3/organizations", Some(&body))
            .await
        {
            Ok(answer) => assert_eq!(answer.status, 201),
            Err(error) => {
                // Had the client sent it again, a retry would have gone through (8 allowed).
                assert!(matches!(error, CfError::Transport { .. }), "{error}");
                dropped += 1;
            }
        }
    }
    assert!(
        dropped > 0,
        "half the connections drop, and a POST is never retried"
    );
    // The same drops on GETs are retried away.
    for _ in 0..10 {
        cf.get("/v3/organizations").await.expect("a GET is retried");
    }
}

#[tokio::test]
async fn the_budget_slows_down_before_the_rate_limit_instead_of_running_into_it() {
    let limited = || SimConfig {
        rate_limit: Some(RateLimit {
            limit: 10,
            reset_interval: Duration::from_secs(2),
        }),
        ..SimConfig::default()
    };
    // Paced: 25 requests against 10 per 2 s never meet a 429.
    let sim = simulator::start(limited()).await.expect("sim");
    let cf = CfHttp::connect(sim.url(), admin(), quick())
        .await
        .expect("login");
    let started = std::time::Instant::now();
    for _ in 0..25 {
        cf.get("/v3/organizations").await.expect("paced");
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
        "the budget is read from X-RateLimit-*"
    );
    // Unpaced, the same requests run into the limit (and get through only thanks to Retry-After).
    let sim = simulator::start(limited()).await.expect("sim");
    let unpaced = CfHttp::connect(
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
            .get("/v3/organizations")
            .await
            .expect("retried after 429");
    }
    assert!(unpaced.throttled() > 0, "without pacing the limit is hit");
}

/// Every request says who it is (`User-Agent: driftless/<version>`), and a foundation that
/// never answers does not hang the client past its timeout.
#[tokio::test]
async fn requests_carry_the_user_agent_and_time_out() {
    use tokio::io::AsyncReadExt as _;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (head_tx, head_rx) = tokio::sync::oneshot::channel::<String>();
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.expect("accept");
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = socket.read(&mut buf).await.expect("read");
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        let _ = head_tx.send(String::from_utf8_lossy(&head).to_ascii_lowercase());
        // Never answer: the client's timeout must end it. Keep the socket open meanwhile.
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(socket);
    });
    let started = std::time::Instant::now();
    let error = CfHttp::connect(
        &format!("http://{addr}"),
        admin(),
        CfOptions {
            timeout: Duration::from_millis(300),
            max_retries: 0,
            ..quick()
        },
    )
    .await
    .expect_err("no answer");
    assert!(matches!(error, CfError::Transport { .. }), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "timed out after {:?}",
        started.elapsed()
    );
    let head = head_rx.await.expect("the request's head");
    let agent = format!("user-agent: driftless/{}", env!("CARGO_PKG_VERSION"));
    assert!(head.contains(&agent), "{head}");
    server.abort();
    let _ = server.await;
}
