//! Staging against the registry, droplets, deployments over time, instance health, async
//! deletes: everything that moves with the (manual) clock.

use serde_json::{Value, json};
use simulator::{ManualClock, RegistryConfig, SimConfig};

use crate::common::{self, Sim};

async fn package(sim: &Sim, app: &str, data: Value) -> String {
    sim.post(
        "/v3/packages",
        json!({"type": "docker", "relationships": {"app": {"data": {"guid": app}}}, "data": data}),
    )
    .await
    .expect(201)["guid"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn build(sim: &Sim, pkg: &str) -> Value {
    let b = sim
        .post("/v3/builds", json!({"package": {"guid": pkg}}))
        .await
        .expect(201);
    assert_eq!(b["state"], "STAGING");
    sim.advance(1);
    let still = sim
        .get(&format!("/v3/builds/{}", b["guid"].as_str().unwrap()))
        .await
        .expect(200);
    assert_eq!(
        still["state"], "STAGING",
        "staging takes the configured 2 s"
    );
    sim.advance(1);
    sim.get(&format!("/v3/builds/{}", b["guid"].as_str().unwrap()))
        .await
        .expect(200)
}

async fn web_stats(sim: &Sim, app: &str) -> Vec<String> {
    let stats = sim
        .get(&format!("/v3/apps/{app}/processes/web/stats"))
        .await
        .expect(200);
    stats["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn staging_uses_the_package_credentials_and_records_the_digest() {
    let clock = ManualClock::fixed();
    let cfg = SimConfig {
        registry: Some(RegistryConfig {
            basic_auth: Some(("puller".into(), "s3cret".into())),
            ..RegistryConfig::default()
        }),
        ..common::config(&clock)
    };
    let sim = common::start_with(cfg, clock).await;
    sim.enable_docker().await;
    let space = sim.org_space("o", "s").await;
    let image = sim.push("team/api", "1.0", "api 1.0");
    let digest = sim
        .handle
        .registry()
        .unwrap()
        .digest_of("team/api", "1.0")
        .unwrap();
    let app = sim.docker_app(&space, "api").await;

    let good = package(
        &sim,
        &app,
        json!({"image": image, "username": "puller", "password": "s3cret"}),
    )
    .await;
    let shown = sim.get(&format!("/v3/packages/{good}")).await.expect(200);
    assert_eq!(
        shown["data"],
        json!({"image": image, "username": "puller", "password": "***"})
    );
    let staged = build(&sim, &good).await;
    assert_eq!(staged["state"], "STAGED", "{staged}");
    let droplet = staged["droplet"]["guid"].as_str().unwrap();
    let d = sim
        .get(&format!("/v3/droplets/{droplet}"))
        .await
        .expect(200);
    assert_eq!(d["image"], image.as_str());
    let dump = sim.handle.state_dump();
    let recorded = dump["droplets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["guid"] == droplet)
        .unwrap();
    assert_eq!(recorded["digest"], digest.as_str());
    assert!(
        !dump.to_string().contains("s3cret"),
        "the state dump never shows a password"
    );

    let wrong = package(
        &sim,
        &app,
        json!({"image": image, "username": "puller", "password": "nope"}),
    )
    .await;
    let failed = build(&sim, &wrong).await;
    assert_eq!(failed["state"], "FAILED");
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .starts_with("StagingError - Staging error:")
    );
    assert!(
        failed["error"].as_str().unwrap().contains("unauthorized"),
        "{failed}"
    );
    assert!(failed["droplet"].is_null());

    let anonymous = package(&sim, &app, json!({"image": image})).await;
    assert!(
        build(&sim, &anonymous).await["error"]
            .as_str()
            .unwrap()
            .contains("authentication required")
    );

    let missing = package(&sim, &app, json!({"image": format!("{}/team/api:2.0", sim.registry_host()), "username": "puller", "password": "s3cret"})).await;
    assert!(
        build(&sim, &missing).await["error"]
            .as_str()
            .unwrap()
            .contains("manifest unknown")
    );

    let unreachable = package(&sim, &app, json!({"image": "127.0.0.1:1/team/api:1.0"})).await;
    assert!(
        build(&sim, &unreachable).await["error"]
            .as_str()
            .unwrap()
            .contains("unreachable")
    );
}

#[tokio::test]
async fn instances_crash_when_the_registry_is_gone_at_start_and_scale_up() {
    let sim = common::start().await;
    sim.enable_docker().await;
    let space = sim.org_space("o", "s").await;
    let image = sim.push("demo/hello", "v1", "x");
    let (app, _) = sim.running_app(&space, "web", &image).await;
    assert_eq!(web_stats(&sim, &app).await, ["RUNNING"]);

    sim.handle.registry().unwrap().set_down(true);
    sim.post(
        &format!("/v3/apps/{app}/processes/web/actions/scale"),
        json!({"instances": 3}),
    )
    .await
    .expect(202);
    assert_eq!(
        web_stats(&sim, &app).await,
        ["RUNNING", "CRASHED", "CRASHED"]
    );
    sim.post(&format!("/v3/apps/{app}/actions/restart"), json!({}))
        .await
        .expect(200);
    assert_eq!(
        web_stats(&sim, &app).await,
        ["CRASHED", "CRASHED", "CRASHED"]
    );
    let stats = sim
        .get(&format!("/v3/apps/{app}/processes/web/stats"))
        .await
        .expect(200);
    assert!(
        stats["resources"][0]["details"]
            .as_str()
            .unwrap()
            .contains("failed to pull image")
    );

    sim.handle.registry().unwrap().set_down(false);
    sim.post(&format!("/v3/apps/{app}/actions/restart"), json!({}))
        .await
        .expect(200);
    assert_eq!(
        web_stats(&sim, &app).await,
        ["RUNNING", "RUNNING", "RUNNING"]
    );
    sim.post(&format!("/v3/apps/{app}/actions/stop"), json!({}))
        .await
        .expect(200);
    assert_eq!(web_stats(&sim, &app).await, ["DOWN", "DOWN", "DOWN"]);
}

#[tokio::test]
async fn rolling_deployment_finishes_after_the_deployment_duration() {
    let sim = common::start().await;
    sim.enable_docker().await;
    let space = sim.org_space("o", "s").await;
    let v1 = sim.push("demo/hello", "v1", "one");
    let v2 = sim.push("demo/hello", "v2", "two");
    let (app, d1) = sim.running_app(&space, "web", &v1).await;
    sim.post(
        &format!("/v3/apps/{app}/processes/web/actions/scale"),
        json!({"instances": 2}),
    )
    .await
    .expect(202);
    let old_web = sim
        .get(&format!("/v3/apps/{app}/processes/web"))
        .await
        .expect(200)["guid"]
        .clone();
    let (_, d2) = sim.stage(&app, &v2).await;
    let d2 = d2.unwrap();
    let dep = sim
        .post("/v3/deployments", json!({"droplet": {"guid": d2}, "strategy": "rolling", "relationships": {"app": {"data": {"guid": app}}}}))
        .await
        .expect(201);
    assert_eq!(
        (
            dep["status"]["value"].as_str(),
            dep["status"]["reason"].as_str()
        ),
        (Some("ACTIVE"), Some("DEPLOYING"))
    );
    assert_eq!(dep["previous_droplet"]["guid"], d1.as_str());
    assert_eq!(dep["options"]["web_instances"], 2);
    let path = format!("/v3/deployments/{}", dep["guid"].as_str().unwrap());
    let a = sim.get(&format!("/v3/apps/{app}")).await.expect(200);
    assert_eq!(
        a["relationships"]["current_droplet"]["data"]["guid"],
        d2.as_str()
    );
    let procs = sim
        .get(&format!("/v3/apps/{app}/processes"))
        .await
        .expect(200);
    assert_eq!(
        procs["pagination"]["total_results"], 2,
        "old and new web processes during the rollout"
    );

    sim.advance(2);
    assert_eq!(
        sim.get(&path).await.expect(200)["status"]["reason"],
        "DEPLOYING"
    );
    sim.advance(1);
    let done = sim.get(&path).await.expect(200);
    assert_eq!(
        (
            done["status"]["value"].as_str(),
            done["status"]["reason"].as_str()
        ),
        (Some("FINALIZED"), Some("DEPLOYED"))
    );
    let web = sim
        .get(&format!("/v3/apps/{app}/processes/web"))
        .await
        .expect(200);
    assert_ne!(
        web["guid"], old_web,
        "the deployment's process replaced the old one"
    );
    assert_eq!(web["instances"], 2);
    assert_eq!(
        sim.get(&format!("/v3/apps/{app}/processes"))
            .await
            .expect(200)["pagination"]["total_results"],
        1
    );
    let revs = sim
        .get(&format!("/v3/apps/{app}/revisions"))
        .await
        .expect(200);
    assert_eq!(revs["pagination"]["total_results"], 2);
    let deployed = sim
        .get(&format!("/v3/apps/{app}/revisions/deployed"))
        .await
        .expect(200);
    assert_eq!(deployed["resources"][0]["droplet"]["guid"], d2.as_str());
}

#[tokio::test]
async fn canary_pauses_continues_and_cancel_restores_the_previous_droplet() {
    let sim = common::start().await;
    sim.enable_docker().await;
    let space = sim.org_space("o", "s").await;
    let v1 = sim.push("demo/hello", "v1", "one");
    let v2 = sim.push("demo/hello", "v2", "two");
    let (app, d1) = sim.running_app(&space, "web", &v1).await;
    let (_, d2) = sim.stage(&app, &v2).await;
    let d2 = d2.unwrap();
    let body = json!({"droplet": {"guid": d2}, "strategy": "canary", "relationships": {"app": {"data": {"guid": app}}}});
    let dep = sim.post("/v3/deployments", body.clone()).await.expect(201);
    let path = format!("/v3/deployments/{}", dep["guid"].as_str().unwrap());
    sim.advance(3);
    let paused = sim.get(&path).await.expect(200);
    assert_eq!(
        (
            paused["status"]["value"].as_str(),
            paused["status"]["reason"].as_str()
        ),
        (Some("ACTIVE"), Some("PAUSED"))
    );
    sim.post(&format!("{path}/actions/continue"), json!({}))
        .await
        .expect(200);
    assert_eq!(
        sim.get(&path).await.expect(200)["status"]["reason"],
        "DEPLOYING"
    );
    sim.advance(3);
    assert_eq!(
        sim.get(&path).await.expect(200)["status"]["reason"],
        "DEPLOYED"
    );

    // A second rollout, cancelled: the app is back on its previous droplet.
    let body = json!({"droplet": {"guid": d1}, "relationships": {"app": {"data": {"guid": app}}}});
    let dep = sim.post("/v3/deployments", body).await.expect(201);
    let path = format!("/v3/deployments/{}", dep["guid"].as_str().unwrap());
    sim.post(&format!("{path}/actions/cancel"), json!({}))
        .await
        .expect(200);
    let canceled = sim.get(&path).await.expect(200);
    assert_eq!(
        (
            canceled["status"]["value"].as_str(),
            canceled["status"]["reason"].as_str()
        ),
        (Some("FINALIZED"), Some("CANCELED"))
    );
    let a = sim.get(&format!("/v3/apps/{app}")).await.expect(200);
    assert_eq!(
        a["relationships"]["current_droplet"]["data"]["guid"],
        d2.as_str()
    );
    assert_eq!(
        sim.post(&format!("{path}/actions/cancel"), json!({}))
            .await
            .status,
        422
    );
}

#[tokio::test]
async fn a_newer_deployment_supersedes_and_unhealthy_images_never_finish() {
    let clock = ManualClock::fixed();
    let mut cfg = SimConfig {
        registry: Some(RegistryConfig::default()),
        ..common::config(&clock)
    };
    cfg.unhealthy_images.insert("demo/broken*".into());
    let sim = common::start_with(cfg, clock).await;
    sim.enable_docker().await;
    let space = sim.org_space("o", "s").await;
    let good = sim.push("demo/hello", "v1", "one");
    let broken = sim.push("demo/broken", "v1", "bad");
    let (app, _) = sim.running_app(&space, "web", &good).await;
    let (_, bad_droplet) = sim.stage(&app, &broken).await;
    let body = json!({"droplet": {"guid": bad_droplet.unwrap()}, "relationships": {"app": {"data": {"guid": app}}}});
    let first = sim.post("/v3/deployments", body.clone()).await.expect(201);
    let second = sim.post("/v3/deployments", body).await.expect(201);
    let first = sim
        .get(&format!(
            "/v3/deployments/{}",
            first["guid"].as_str().unwrap()
        ))
        .await
        .expect(200);
    assert_eq!(first["status"]["reason"], "SUPERSEDED");
    sim.advance(600);
    let second = sim
        .get(&format!(
            "/v3/deployments/{}",
            second["guid"].as_str().unwrap()
        ))
        .await
        .expect(200);
    assert_eq!(
        second["status"]["reason"], "DEPLOYING",
        "crashing instances never finish a rollout"
    );
    let newest = web_stats(&sim, &app).await;
    assert!(newest.iter().all(|s| s == "CRASHED"), "{newest:?}");
    let active = sim
        .get(&format!(
            "/v3/deployments?app_guids={app}&status_values=ACTIVE"
        ))
        .await
        .expect(200);
    assert_eq!(active["pagination"]["total_results"], 1);
}

#[tokio::test]
async fn delete_is_an_async_job() {
    let sim = common::start().await;
    let space = sim.org_space("o", "s").await;
    let app = sim
        .post(
            "/v3/apps",
            json!({"name": "gone", "relationships": {"space": {"data": {"guid": space}}}}),
        )
        .await
        .expect(201);
    let resp = sim
        .delete(&format!("/v3/apps/{}", app["guid"].as_str().unwrap()))
        .await;
    assert_eq!(resp.status, 202);
    let location = resp.headers["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&sim.url("/v3/jobs/")), "{location}");
    let job = sim
        .http
        .get(&location)
        .bearer_auth(&sim.token)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(job["state"], "COMPLETE");
    assert_eq!(job["operation"], "app.delete");
    assert_eq!(
        sim.get(&format!("/v3/apps/{}", app["guid"].as_str().unwrap()))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn staging_answers_a_bearer_token_challenge() {
    let clock = ManualClock::fixed();
    let registry = RegistryConfig {
        basic_auth: Some(("robot".into(), "t0ken".into())),
        bearer: true,
        ..RegistryConfig::default()
    };
    let cfg = SimConfig {
        registry: Some(registry),
        ..common::config(&clock)
    };
    let sim = common::start_with(cfg, clock).await;
    let host = sim.registry_host();
    let ping = sim
        .http
        .get(format!("http://{host}/v2/"))
        .send()
        .await
        .unwrap();
    assert_eq!(ping.status(), 401);
    let challenge = ping.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        challenge,
        format!("Bearer realm=\"http://{host}/token\",service=\"driftless-registry\"")
    );
    let head = sim
        .http
        .head(format!("http://{host}/v2/team/api/manifests/1.0"))
        .send()
        .await
        .unwrap();
    assert!(
        head.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .ends_with("scope=\"repository:team/api:pull\"")
    );

    sim.enable_docker().await;
    let space = sim.org_space("o", "s").await;
    let image = sim.push("team/api", "1.0", "api");
    let app = sim.docker_app(&space, "api").await;
    let good = package(
        &sim,
        &app,
        json!({"image": image, "username": "robot", "password": "t0ken"}),
    )
    .await;
    assert_eq!(build(&sim, &good).await["state"], "STAGED");
    let bad = package(
        &sim,
        &app,
        json!({"image": image, "username": "robot", "password": "nope"}),
    )
    .await;
    let failed = build(&sim, &bad).await;
    assert!(
        failed["error"].as_str().unwrap().contains("unauthorized"),
        "{failed}"
    );
}

#[tokio::test]
async fn instances_are_starting_for_the_start_duration() {
    let clock = ManualClock::fixed();
    let cfg = SimConfig {
        start_duration: std::time::Duration::from_secs(10),
        registry: Some(RegistryConfig::default()),
        ..common::config(&clock)
    };
    let sim = common::start_with(cfg, clock).await;
    sim.enable_docker().await;
    let space = sim.org_space("o", "s").await;
    let image = sim.push("demo/hello", "v1", "x");
    let (app, _) = sim.running_app(&space, "web", &image).await;
    assert_eq!(web_stats(&sim, &app).await, ["STARTING"]);
    let web = sim
        .get(&format!("/v3/apps/{app}/processes/web"))
        .await
        .expect(200);
    let inst = sim
        .get(&format!(
            "/v3/processes/{}/process_instances",
            web["guid"].as_str().unwrap()
        ))
        .await
        .expect(200);
    assert_eq!(inst["resources"][0]["state"], "STARTING");
    sim.advance(10);
    assert_eq!(web_stats(&sim, &app).await, ["RUNNING"]);
}

#[tokio::test]
async fn digest_pinned_references_stage_the_pinned_manifest() {
    let sim = common::start().await;
    sim.enable_docker().await;
    let space = sim.org_space("o", "s").await;
    let reg = sim.handle.registry().unwrap();
    let d1 = reg.push_image("demo/hello", "v1", "one");
    let d2 = reg.push_image("demo/hello", "v2", "two");
    assert!(reg.move_tag("demo/hello", "v1", &d2), "the tag moved on");
    let app = sim.docker_app(&space, "web").await;
    let pinned = format!("{}/demo/hello:v1@{d1}", sim.registry_host());
    let pkg = package(&sim, &app, json!({"image": pinned})).await;
    let staged = build(&sim, &pkg).await;
    assert_eq!(staged["state"], "STAGED", "{staged}");
    let droplet = staged["droplet"]["guid"].as_str().unwrap();
    let dump = sim.handle.state_dump();
    let recorded = dump["droplets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["guid"] == droplet)
        .unwrap();
    assert_eq!(
        recorded["digest"],
        d1.as_str(),
        "the pin wins over the moved tag"
    );
    assert_eq!(recorded["image"], pinned.as_str());
    let unknown = format!(
        "{}/demo/hello@sha256:{}",
        sim.registry_host(),
        "0".repeat(64)
    );
    let pkg = package(&sim, &app, json!({"image": unknown})).await;
    assert!(
        build(&sim, &pkg).await["error"]
            .as_str()
            .unwrap()
            .contains("manifest unknown")
    );
}

#[tokio::test]
async fn updated_at_moves_when_cc_moves_it() {
    let sim = common::start().await;
    let space = sim.org_space("o", "s").await;
    let app = sim
        .post(
            "/v3/apps",
            json!({"name": "a", "relationships": {"space": {"data": {"guid": space}}}}),
        )
        .await
        .expect(201);
    let app = app["guid"].as_str().unwrap().to_owned();
    let web = sim
        .get(&format!("/v3/apps/{app}/processes/web"))
        .await
        .expect(200);
    sim.advance(60);
    // Reads move nothing.
    sim.get("/v3/apps").await.expect(200);
    assert_eq!(
        sim.get(&format!("/v3/apps/{app}")).await.expect(200)["updated_at"],
        "2026-01-01T00:00:00Z"
    );
    sim.post(
        &format!("/v3/apps/{app}/processes/web/actions/scale"),
        json!({"instances": 3}),
    )
    .await
    .expect(202);
    let scaled = sim
        .get(&format!("/v3/apps/{app}/processes/web"))
        .await
        .expect(200);
    assert_eq!(scaled["updated_at"], "2026-01-01T00:01:00Z");
    assert_ne!(scaled["updated_at"], web["updated_at"]);
    assert_eq!(
        sim.get(&format!("/v3/apps/{app}")).await.expect(200)["updated_at"],
        "2026-01-01T00:00:00Z",
        "a scale moves the process, not the app"
    );
    sim.advance(60);
    sim.patch(&format!("/v3/apps/{app}"), json!({"name": "b"}))
        .await
        .expect(200);
    assert_eq!(
        sim.get(&format!("/v3/apps/{app}")).await.expect(200)["updated_at"],
        "2026-01-01T00:02:00Z"
    );
    let log = sim.handle.request_log();
    assert_eq!(log.last().unwrap().at, "2026-01-01T00:02:00Z");
}

#[tokio::test]
async fn a_deployment_while_the_registry_is_down_crashes_its_instances_and_never_finishes() {
    let sim = common::start().await;
    sim.enable_docker().await;
    let space = sim.org_space("o", "s").await;
    let v1 = sim.push("demo/hello", "v1", "one");
    let v2 = sim.push("demo/hello", "v2", "two");
    let (app, d1) = sim.running_app(&space, "web", &v1).await;
    let (_, d2) = sim.stage(&app, &v2).await;
    let d2 = d2.unwrap();
    assert_eq!(web_stats(&sim, &app).await, ["RUNNING"]);
    let old_web = sim
        .get(&format!("/v3/apps/{app}/processes/web"))
        .await
        .expect(200)["guid"]
        .as_str()
        .unwrap()
        .to_owned();

    sim.handle.registry().unwrap().set_down(true);
    let dep = sim
        .post("/v3/deployments", json!({"droplet": {"guid": d2}, "strategy": "rolling", "relationships": {"app": {"data": {"guid": app}}}}))
        .await
        .expect(201);
    assert_eq!(dep["previous_droplet"]["guid"], d1.as_str());
    let path = format!("/v3/deployments/{}", dep["guid"].as_str().unwrap());

    // The new web process (the newest one, which `/processes/web` answers) cannot pull.
    let stats = sim
        .get(&format!("/v3/apps/{app}/processes/web/stats"))
        .await
        .expect(200);
    let states: Vec<&str> = stats["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["CRASHED"], "new instances crash: {stats}");
    assert!(
        stats["resources"][0]["details"]
            .as_str()
            .unwrap()
            .contains("failed to pull image"),
        "{stats}"
    );

    // Long after the deployment duration it is still deploying; the old process still serves.
    sim.advance(60);
    let d = sim.get(&path).await.expect(200);
    assert_eq!(
        (
            d["status"]["value"].as_str(),
            d["status"]["reason"].as_str()
        ),
        (Some("ACTIVE"), Some("DEPLOYING")),
        "a rollout that cannot pull does not finish: {d}"
    );
    let procs = sim
        .get(&format!("/v3/apps/{app}/processes"))
        .await
        .expect(200);
    assert_eq!(
        procs["pagination"]["total_results"], 2,
        "the old web process is not replaced"
    );
    assert_eq!(web_stats(&sim, &app).await, ["CRASHED"]);
    let old = sim
        .get(&format!("/v3/processes/{old_web}/stats"))
        .await
        .expect(200);
    assert_eq!(old["resources"][0]["state"], "RUNNING", "{old}");
}
