//! Fault and timing knobs, the port file, seed files, and `/_sim` introspection.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use simulator::{Faults, ManualClock, RateLimit, RegistryConfig, SimConfig};

use crate::common;

#[tokio::test]
async fn rate_limit_headers_429_and_reset() {
    let clock = ManualClock::fixed();
    let cfg = SimConfig {
        rate_limit: Some(RateLimit {
            limit: 3,
            reset_interval: Duration::from_secs(60),
        }),
        ..common::config(&clock)
    };
    let sim = common::start_with(cfg, clock).await;
    let info = sim.get("/v3/info").await.expect(200);
    assert_eq!(
        info["rate_limits"],
        json!({"enabled": true, "general_limit": 3, "reset_interval_in_minutes": 1})
    );
    for remaining in [1, 0] {
        let resp = sim.get("/v3/apps").await;
        assert_eq!(resp.status, 200);
        assert_eq!(resp.headers["x-ratelimit-limit"], "3");
        assert_eq!(
            resp.headers["x-ratelimit-remaining"],
            remaining.to_string().as_str()
        );
        assert!(resp.headers.contains_key("x-ratelimit-reset"));
    }
    let limited = sim.get("/v3/apps").await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.error(), (10013, "CF-RateLimitExceeded".into()));
    assert_eq!(limited.headers["retry-after"], "60");
    // Another user has its own budget.
    let dev = sim.login("developer", "developer").await;
    sim.call_as(Some(&dev), reqwest::Method::GET, "/v3/apps", None)
        .await
        .expect(200);
    sim.advance(60);
    sim.get("/v3/apps").await.expect(200);
}

#[tokio::test]
async fn injected_errors_are_reproducible_and_drops_break_the_connection() {
    let statuses = |seed: u64| async move {
        let clock = ManualClock::fixed();
        let cfg = SimConfig {
            seed,
            faults: Faults {
                error_rate: 0.5,
                drop_rate: 0.0,
            },
            ..common::config(&clock)
        };
        let handle = simulator::start(cfg).await.unwrap();
        let http = reqwest::Client::new();
        let mut out = Vec::new();
        for _ in 0..20 {
            out.push(
                http.get(format!("{}/v3/info", handle.url()))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16(),
            );
        }
        handle.shutdown().await;
        out
    };
    let a = statuses(7).await;
    assert_eq!(a, statuses(7).await, "same seed, same faults");
    assert!(
        a.contains(&200) && a.iter().any(|s| *s == 502 || *s == 503),
        "{a:?}"
    );

    let clock = ManualClock::fixed();
    let cfg = SimConfig {
        faults: Faults {
            error_rate: 0.0,
            drop_rate: 1.0,
        },
        ..common::config(&clock)
    };
    let handle = simulator::start(cfg).await.unwrap();
    let result = reqwest::get(format!("{}/v3/info", handle.url())).await;
    let error = result.expect_err("a dropped connection is a transport error, before any status");
    assert!(!error.is_status(), "{error}");
    // `/_sim` is never faulted.
    let counts = reqwest::get(format!("{}/_sim/requests", handle.url()))
        .await
        .unwrap();
    assert_eq!(counts.status(), 200);
}

#[tokio::test]
async fn latency_is_added_to_every_request() {
    let clock = ManualClock::fixed();
    let cfg = SimConfig {
        latency: Duration::from_millis(60),
        ..common::config(&clock)
    };
    let handle = simulator::start(cfg).await.unwrap();
    let started = Instant::now();
    reqwest::get(format!("{}/v3/info", handle.url()))
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(60));
}

#[tokio::test]
async fn port_file_and_seed_file() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.yaml");
    std::fs::write(
        &seed,
        r#"
users:
  - { username: ops, password: pw, admin: true }
feature_flags: { diego_docker: true }
orgs:
  - name: demo
    spaces:
      - name: dev
        apps:
          - name: web
            image: registry.example.com/demo/web:1.0
            instances: 2
            env: { GREETING: hi }
            labels: { driftless.dev/managed: "true" }
          - name: worker
            image: registry.example.com/demo/worker:1.0
            state: STOPPED
"#,
    )
    .unwrap();
    let port_file = dir.path().join("port");
    let clock = ManualClock::fixed();
    let cfg = SimConfig {
        port_file: Some(port_file.clone()),
        ..common::config(&clock)
    }
    .with_seed_file(&seed)
    .unwrap();
    let handle = simulator::start(cfg).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(&port_file).unwrap().trim(),
        handle.port().to_string()
    );
    let sim = common::Sim {
        handle,
        clock,
        http: reqwest::Client::new(),
        token: String::new(),
    };
    let token = sim.login("ops", "pw").await;
    let apps = sim
        .call_as(
            Some(&token),
            reqwest::Method::GET,
            "/v3/apps?label_selector=driftless.dev/managed%3Dtrue",
            None,
        )
        .await
        .expect(200);
    assert_eq!(apps["resources"][0]["name"], "web");
    assert_eq!(apps["resources"][0]["state"], "STARTED");
    let guid = apps["resources"][0]["guid"].as_str().unwrap();
    let web = sim
        .call_as(
            Some(&token),
            reqwest::Method::GET,
            &format!("/v3/apps/{guid}/processes/web"),
            None,
        )
        .await
        .expect(200);
    assert_eq!(web["instances"], 2);
    let env = sim
        .call_as(
            Some(&token),
            reqwest::Method::GET,
            &format!("/v3/apps/{guid}/environment_variables"),
            None,
        )
        .await
        .expect(200);
    assert_eq!(env["var"], json!({"GREETING": "hi"}));
    let worker = sim
        .call_as(
            Some(&token),
            reqwest::Method::GET,
            "/v3/apps?names=worker",
            None,
        )
        .await
        .expect(200);
    assert_eq!(worker["resources"][0]["state"], "STOPPED");
    // The default admin was replaced.
    let resp = sim
        .http
        .post(sim.url("/uaa/oauth/token"))
        .basic_auth("cf", Some(""))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(common::form(&[
            ("grant_type", "password"),
            ("username", "admin"),
            ("password", "admin"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "orgs: [{name: x, colour: red}]").unwrap();
    assert!(SimConfig::default().with_seed_file(&bad).is_err());
}

#[tokio::test]
async fn sim_endpoints_count_requests_and_stand_in_for_the_cf_cli() {
    let sim = common::start().await;
    sim.enable_docker().await;
    let space = sim.org_space("demo", "dev").await;
    let v1 = sim.push("demo/hello", "v1", "one");
    let v2 = sim.push("demo/hello", "v2", "two");
    let (app, d1) = sim.running_app(&space, "web", &v1).await;

    sim.http
        .post(sim.url("/_sim/requests/reset"))
        .send()
        .await
        .unwrap();
    sim.get("/v3/apps").await.expect(200);
    sim.get("/v3/apps").await.expect(200);
    sim.get(&format!("/v3/apps/{app}")).await.expect(200);
    let counts: Value = sim
        .http
        .get(sim.url("/_sim/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        counts["counts"],
        json!({"GET /v3/apps": 2, "GET /v3/apps/:guid": 1})
    );
    assert_eq!(counts["total"], 3);
    let log = sim.handle.request_log();
    let uris: Vec<&str> = log.iter().map(|r| r.uri.as_str()).collect();
    assert_eq!(
        uris,
        ["/v3/apps", "/v3/apps", format!("/v3/apps/{app}").as_str()]
    );
    assert!(log.iter().all(|r| r.status == 200));
    let http_log: Value = sim
        .http
        .get(sim.url("/_sim/requests/log"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(http_log["requests"][2]["route"], "GET /v3/apps/:guid");
    assert_eq!(sim.handle.cc_request_count(), 3);

    let post = |path: &str, body: Value| sim.http.post(sim.url(path)).json(&body).send();
    assert_eq!(
        post("/_sim/apps/demo/dev/web/scale", json!({"instances": 4}))
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        sim.get(&format!("/v3/apps/{app}/processes/web"))
            .await
            .expect(200)["instances"],
        4
    );
    assert_eq!(
        post(
            "/_sim/apps/demo/dev/web/env",
            json!({"var": {"DRIFT": "yes"}})
        )
        .await
        .unwrap()
        .status(),
        204
    );
    assert_eq!(
        sim.get(&format!("/v3/apps/{app}/environment_variables"))
            .await
            .expect(200)["var"]["DRIFT"],
        "yes"
    );
    assert_eq!(
        post("/_sim/apps/demo/dev/web/push", json!({"image": v2}))
            .await
            .unwrap()
            .status(),
        204
    );
    let current = sim
        .get(&format!("/v3/apps/{app}/droplets/current"))
        .await
        .expect(200);
    assert_ne!(current["guid"], d1.as_str());
    assert_eq!(current["image"], v2.as_str());
    assert_eq!(
        post("/_sim/apps/demo/dev/web/stop", json!({}))
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        sim.get(&format!("/v3/apps/{app}")).await.expect(200)["state"],
        "STOPPED"
    );
    assert_eq!(
        post("/_sim/apps/demo/dev/nope/stop", json!({}))
            .await
            .unwrap()
            .status(),
        404
    );

    let dump: Value = sim
        .http
        .get(sim.url("/_sim/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(dump["apps"].as_array().unwrap().len(), 1);
    assert_eq!(
        sim.http
            .delete(sim.url("/_sim/apps/demo/dev/web"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(sim.get(&format!("/v3/apps/{app}")).await.status, 404);

    // The same operations as Rust methods.
    let (_, _) = sim.running_app(&space, "api", &v1).await;
    sim.handle.scale_app("demo", "dev", "api", 2).await.unwrap();
    sim.handle
        .set_env("demo", "dev", "api", "K", Some("v"))
        .unwrap();
    sim.handle
        .push_image("demo", "dev", "api", &v2)
        .await
        .unwrap();
    sim.handle.stop_app("demo", "dev", "api").unwrap();
    assert!(sim.handle.app_guid("demo", "dev", "api").is_some());
    sim.handle.delete_app("demo", "dev", "api").unwrap();
    assert!(sim.handle.scale_app("demo", "dev", "api", 1).await.is_err());
}

#[tokio::test]
async fn embedded_registry_speaks_registry_v2() {
    let clock = ManualClock::fixed();
    let cfg = SimConfig {
        registry: Some(RegistryConfig::default()),
        ..common::config(&clock)
    };
    let handle = simulator::start(cfg).await.unwrap();
    let reg = handle.registry().unwrap();
    let d1 = reg.push_image("demo/hello", "v1", "one");
    assert_eq!(
        d1,
        reg.push_image("demo/hello", "v1", "one"),
        "the same payload gives the same digest"
    );
    let d2 = reg.push_image("demo/hello", "v2", "two");
    let http = reqwest::Client::new();
    let base = format!("http://{}", reg.host());
    let ping = http.get(format!("{base}/v2/")).send().await.unwrap();
    assert_eq!(
        ping.headers()["docker-distribution-api-version"],
        "registry/2.0"
    );
    let head = http
        .head(format!("{base}/v2/demo/hello/manifests/v1"))
        .header("accept", simulator::MANIFEST_ACCEPT)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["docker-content-digest"], d1.as_str());
    assert_eq!(head.headers()["content-type"], simulator::OCI_MANIFEST);
    let by_digest = http
        .get(format!("{base}/v2/demo/hello/manifests/{d2}"))
        .header("accept", simulator::OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    let bytes = by_digest.bytes().await.unwrap();
    assert_eq!(simulator::sha256_digest(&bytes), d2);
    let no_accept = http
        .get(format!("{base}/v2/demo/hello/manifests/v1"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        no_accept.status(),
        404,
        "like distribution 2.8, OCI needs the Accept header"
    );
    let missing = http
        .get(format!("{base}/v2/demo/hello/manifests/nope"))
        .header("accept", simulator::MANIFEST_ACCEPT)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "MANIFEST_UNKNOWN");
    assert!(reg.move_tag("demo/hello", "v1", &d2));
    let moved = http
        .head(format!("{base}/v2/demo/hello/manifests/v1"))
        .header("accept", simulator::MANIFEST_ACCEPT)
        .send()
        .await
        .unwrap();
    assert_eq!(moved.headers()["docker-content-digest"], d2.as_str());
    let tags: Value = http
        .get(format!("{base}/v2/demo/hello/tags/list"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tags, json!({"name": "demo/hello", "tags": ["v1", "v2"]}));
}

#[tokio::test]
async fn sim_endpoints_drive_a_separately_running_simulator() {
    // As `driftless simulate` would run it: wall clock plus an offset tests can push forward.
    let cfg = SimConfig {
        clock: std::sync::Arc::new(simulator::OffsetClock::default()),
        registry: Some(RegistryConfig::default()),
        ..SimConfig::default()
    };
    let handle = simulator::start(cfg).await.unwrap();
    let sim = common::Sim {
        handle,
        clock: ManualClock::fixed(),
        http: reqwest::Client::new(),
        token: String::new(),
    };
    let token = sim.login("admin", "admin").await;
    let sim = common::Sim { token, ..sim };
    let post = |path: &str, body: Value| sim.http.post(sim.url(path)).json(&body).send();

    let pushed: Value = post(
        "/_sim/registry/images",
        json!({"repo": "demo/hello", "tag": "v1"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let image = pushed["image"].as_str().unwrap().to_owned();
    let host: Value = sim
        .http
        .get(sim.url("/_sim/registry"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(image.starts_with(host["host"].as_str().unwrap()));
    sim.enable_docker().await;
    let space = sim.org_space("o", "s").await;
    let app = sim.docker_app(&space, "web").await;
    let pkg = sim
        .post("/v3/packages", json!({"type": "docker", "relationships": {"app": {"data": {"guid": app}}}, "data": {"image": image}}))
        .await
        .expect(201);
    let build = sim
        .post("/v3/builds", json!({"package": {"guid": pkg["guid"]}}))
        .await
        .expect(201);
    let advanced = post("/_sim/clock/advance", json!({"seconds": 5}))
        .await
        .unwrap();
    assert_eq!(advanced.status(), 200);
    let build = sim
        .get(&format!("/v3/builds/{}", build["guid"].as_str().unwrap()))
        .await
        .expect(200);
    assert_eq!(
        build["state"], "STAGED",
        "no sleeping: the offset clock moved"
    );
    sim.patch(
        &format!("/v3/apps/{app}/relationships/current_droplet"),
        json!({"data": {"guid": build["droplet"]["guid"]}}),
    )
    .await
    .expect(200);

    assert_eq!(
        post(
            "/_sim/unhealthy_images",
            json!({"pattern": "demo/hello*", "healthy": false})
        )
        .await
        .unwrap()
        .status(),
        204
    );
    sim.post(&format!("/v3/apps/{app}/actions/start"), json!({}))
        .await
        .expect(200);
    let stats = sim
        .get(&format!("/v3/apps/{app}/processes/web/stats"))
        .await
        .expect(200);
    assert_eq!(stats["resources"][0]["state"], "CRASHED");
    sim.handle.set_image_health("demo/hello*", true);
    assert_eq!(
        post("/_sim/registry/down", json!({"down": true}))
            .await
            .unwrap()
            .status(),
        204
    );
    sim.post(&format!("/v3/apps/{app}/actions/restart"), json!({}))
        .await
        .expect(200);
    let stats = sim
        .get(&format!("/v3/apps/{app}/processes/web/stats"))
        .await
        .expect(200);
    assert!(
        stats["resources"][0]["details"]
            .as_str()
            .unwrap()
            .contains("unreachable"),
        "{stats}"
    );
    post("/_sim/registry/down", json!({"down": false}))
        .await
        .unwrap();
    sim.post(&format!("/v3/apps/{app}/actions/restart"), json!({}))
        .await
        .expect(200);
    let stats = sim
        .get(&format!("/v3/apps/{app}/processes/web/stats"))
        .await
        .expect(200);
    assert_eq!(stats["resources"][0]["state"], "RUNNING");

    let v2: Value = post(
        "/_sim/registry/images",
        json!({"repo": "demo/hello", "tag": "v2", "payload": "two"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(
        post(
            "/_sim/registry/tags",
            json!({"repo": "demo/hello", "tag": "v1", "digest": v2["digest"]})
        )
        .await
        .unwrap()
        .status(),
        204
    );
    assert_eq!(
        sim.handle
            .registry()
            .unwrap()
            .digest_of("demo/hello", "v1")
            .unwrap(),
        v2["digest"].as_str().unwrap()
    );

    // The system clock cannot be moved.
    let fixed = simulator::start(SimConfig::default()).await.unwrap();
    let resp = sim
        .http
        .post(format!("{}/_sim/clock/advance", fixed.url()))
        .json(&json!({"seconds": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
}

#[tokio::test]
async fn job_duration_keeps_deletes_processing_until_due() {
    let clock = ManualClock::fixed();
    let cfg = SimConfig {
        job_duration: Duration::from_secs(5),
        ..common::config(&clock)
    };
    let sim = common::start_with(cfg, clock).await;
    let space = sim.org_space("o", "s").await;
    let app = sim
        .post(
            "/v3/apps",
            json!({"name": "a", "relationships": {"space": {"data": {"guid": space}}}}),
        )
        .await
        .expect(201);
    let app = app["guid"].as_str().unwrap().to_owned();
    let resp = sim.delete(&format!("/v3/apps/{app}")).await;
    let job = resp.headers["location"]
        .to_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(
        sim.get(&format!("/v3/jobs/{job}")).await.expect(200)["state"],
        "PROCESSING"
    );
    sim.get(&format!("/v3/apps/{app}")).await.expect(200);
    sim.advance(5);
    assert_eq!(
        sim.get(&format!("/v3/jobs/{job}")).await.expect(200)["state"],
        "COMPLETE"
    );
    assert_eq!(sim.get(&format!("/v3/apps/{app}")).await.status, 404);
}

#[tokio::test]
async fn the_same_seed_gives_the_same_guids() {
    let guids = |seed: u64| async move {
        let clock = ManualClock::fixed();
        let sim = common::start_with(
            SimConfig {
                seed,
                ..common::config(&clock)
            },
            clock,
        )
        .await;
        let (org, space) = sim.handle.create_space("o", "s").unwrap();
        let app = sim
            .post(
                "/v3/apps",
                json!({"name": "a", "relationships": {"space": {"data": {"guid": space}}}}),
            )
            .await
            .expect(201);
        (
            org,
            space,
            app["guid"].as_str().unwrap().to_owned(),
            app["created_at"].as_str().unwrap().to_owned(),
        )
    };
    let a = guids(42).await;
    assert_eq!(a, guids(42).await);
    assert_ne!(a.2, guids(43).await.2);
    assert_eq!(
        a.3, "2026-01-01T00:00:00Z",
        "timestamps come from the injected clock"
    );
}

#[tokio::test]
async fn https_with_a_given_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-addext",
            "extendedKeyUsage=serverAuth",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output();
    if !made.as_ref().is_ok_and(|o| o.status.success()) {
        crate::common::skip("openssl could not make a test certificate");
        return;
    }
    let cfg = SimConfig {
        tls: Some(simulator::TlsConfig {
            cert_chain: cert.clone(),
            key,
        }),
        ..SimConfig::default()
    };
    let handle = simulator::start(cfg).await.unwrap();
    assert!(
        handle.url().starts_with("https://127.0.0.1:"),
        "{}",
        handle.url()
    );
    let strict = reqwest::Client::new();
    assert!(
        strict
            .get(format!("{}/v3/info", handle.url()))
            .send()
            .await
            .is_err(),
        "a self-signed cert is not trusted"
    );
    let trusting = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap(),
        )
        .build()
        .unwrap();
    let info: Value = trusting
        .get(format!("{}/v3/info", handle.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        info["links"]["self"]["href"],
        format!("{}/v3/info", handle.url())
    );
    let insecure = reqwest::Client::builder()
        .tls_danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    assert_eq!(
        insecure
            .get(format!("{}/", handle.url()))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}
