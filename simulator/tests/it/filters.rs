//! `states` filters really filter, and a process PATCH changes what later reads return.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::common::{self, Sim};

fn guids(body: &Value) -> BTreeSet<String> {
    body["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["guid"].as_str().unwrap().to_owned())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

async fn package(sim: &Sim, app: &str, image: &str) -> String {
    sim.post("/v3/packages", json!({"type": "docker", "relationships": {"app": {"data": {"guid": app}}}, "data": {"image": image}}))
        .await
        .expect(201)["guid"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn start_build(sim: &Sim, pkg: &str) -> String {
    sim.post("/v3/builds", json!({"package": {"guid": pkg}}))
        .await
        .expect(201)["guid"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn build_and_package_states_filter_and_apps_reject_states_as_cc_does() {
    let sim = common::start().await;
    sim.enable_docker().await;
    let space = sim.org_space("o", "s").await;
    let good = sim.push("demo/hello", "v1", "x");
    let missing = format!("{}/demo/hello:nope", sim.registry_host());

    let staged_app = sim.docker_app(&space, "staged").await;
    let failed_app = sim.docker_app(&space, "failed").await;
    let staging_app = sim.docker_app(&space, "staging").await;
    let p_staged = package(&sim, &staged_app, &good).await;
    let p_failed = package(&sim, &failed_app, &missing).await;
    let p_staging = package(&sim, &staging_app, &good).await;
    let staged = start_build(&sim, &p_staged).await;
    let failed = start_build(&sim, &p_failed).await;
    sim.advance(2);
    let staging = start_build(&sim, &p_staging).await;
    assert_eq!(
        sim.get(&format!("/v3/builds/{staged}")).await.expect(200)["state"],
        "STAGED"
    );
    assert_eq!(
        sim.get(&format!("/v3/builds/{failed}")).await.expect(200)["state"],
        "FAILED"
    );

    let by_state = |q: &'static str| {
        let sim = &sim;
        async move { guids(&sim.get(&format!("/v3/builds?states={q}")).await.expect(200)) }
    };
    assert_eq!(by_state("STAGING").await, set(&[&staging]));
    assert_eq!(by_state("STAGED").await, set(&[&staged]));
    assert_eq!(by_state("FAILED").await, set(&[&failed]));
    assert_eq!(by_state("STAGED,FAILED").await, set(&[&staged, &failed]));
    assert_eq!(
        guids(
            &sim.get(&format!("/v3/apps/{staged_app}/builds?states=STAGING"))
                .await
                .expect(200)
        ),
        BTreeSet::new(),
        "the per-app list filters too"
    );

    // Docker packages are READY as soon as they are created.
    let all = set(&[&p_staged, &p_failed, &p_staging]);
    assert_eq!(
        guids(&sim.get("/v3/packages?states=READY").await.expect(200)),
        all
    );
    assert_eq!(
        guids(
            &sim.get("/v3/packages?states=PROCESSING_UPLOAD,FAILED")
                .await
                .expect(200)
        ),
        BTreeSet::new()
    );

    // CC's list-apps has no `states` filter: it is an unknown parameter there, not ignored.
    let r = sim.get("/v3/apps?states=STOPPED").await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error(), (10005, "CF-BadQueryParameter".to_owned()));
}

#[tokio::test]
async fn a_process_patch_shows_in_later_reads_and_lists_hide_the_command() {
    let sim = common::start().await;
    let space = sim.org_space("o", "s").await;
    let app = sim
        .post(
            "/v3/apps",
            json!({"name": "web", "relationships": {"space": {"data": {"guid": space}}}}),
        )
        .await
        .expect(201)["guid"]
        .as_str()
        .unwrap()
        .to_owned();
    let web = sim
        .get(&format!("/v3/apps/{app}/processes/web"))
        .await
        .expect(200);
    let guid = web["guid"].as_str().unwrap().to_owned();
    assert_ne!(web["command"], "bin/serve --port 8080");
    assert_ne!(web["health_check"]["type"], "http");

    let patched = sim
        .patch(
            &format!("/v3/processes/{guid}"),
            json!({"command": "bin/serve --port 8080", "health_check": {"type": "http", "data": {"endpoint": "/healthz", "timeout": 30, "invocation_timeout": 5}}}),
        )
        .await
        .expect(200);
    assert_eq!(patched["command"], "bin/serve --port 8080");

    for path in [
        format!("/v3/processes/{guid}"),
        format!("/v3/apps/{app}/processes/web"),
    ] {
        let p = sim.get(&path).await.expect(200);
        assert_eq!(p["command"], "bin/serve --port 8080", "{path}: {p}");
        assert_eq!(p["health_check"]["type"], "http", "{path}: {p}");
        assert_eq!(p["health_check"]["data"]["endpoint"], "/healthz", "{path}");
        assert_eq!(p["health_check"]["data"]["timeout"], 30, "{path}");
        assert_eq!(p["health_check"]["data"]["invocation_timeout"], 5, "{path}");
    }
    for path in [
        format!("/v3/processes?app_guids={app}"),
        format!("/v3/apps/{app}/processes"),
    ] {
        let list = sim.get(&path).await.expect(200);
        let p = &list["resources"][0];
        assert_eq!(p["guid"], guid.as_str());
        assert_eq!(p["command"], "[PRIVATE DATA HIDDEN IN LISTS]", "{path}");
        assert_eq!(p["health_check"]["type"], "http", "{path}: {p}");
        assert_eq!(p["health_check"]["data"]["endpoint"], "/healthz", "{path}");
    }

    // Through the app-scoped route too; a port check has no endpoint.
    sim.patch(
        &format!("/v3/apps/{app}/processes/web"),
        json!({"health_check": {"type": "port"}}),
    )
    .await
    .expect(200);
    let p = sim.get(&format!("/v3/processes/{guid}")).await.expect(200);
    assert_eq!(p["health_check"]["type"], "port");
    assert!(p["health_check"]["data"].get("endpoint").is_none(), "{p}");
    assert_eq!(
        p["command"], "bin/serve --port 8080",
        "a health-check patch keeps the command"
    );
}
