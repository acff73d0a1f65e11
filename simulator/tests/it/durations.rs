//! Non-default timing knobs are honoured: staging, deployment and token lifetimes other than
//! the defaults move states exactly when the manual clock reaches them.

use std::time::Duration;

use serde_json::json;
use simulator::{ManualClock, RegistryConfig, SimConfig};

use crate::common::{self, Sim};

async fn sim_with(f: impl FnOnce(&mut SimConfig)) -> Sim {
    let clock = ManualClock::fixed();
    let mut cfg = SimConfig {
        registry: Some(RegistryConfig::default()),
        ..common::config(&clock)
    };
    f(&mut cfg);
    common::start_with(cfg, clock).await
}

#[tokio::test]
async fn a_seven_second_staging_duration_is_staging_at_six_and_staged_at_seven() {
    let sim = sim_with(|c| c.staging_duration = Duration::from_secs(7)).await;
    sim.enable_docker().await;
    let space = sim.org_space("o", "s").await;
    let image = sim.push("demo/hello", "v1", "x");
    let app = sim.docker_app(&space, "web").await;
    let pkg = sim
        .post("/v3/packages", json!({"type": "docker", "relationships": {"app": {"data": {"guid": app}}}, "data": {"image": image}}))
        .await
        .expect(201);
    let b = sim
        .post("/v3/builds", json!({"package": {"guid": pkg["guid"]}}))
        .await
        .expect(201);
    assert_eq!(b["state"], "STAGING");
    let path = format!("/v3/builds/{}", b["guid"].as_str().unwrap());
    sim.advance(6);
    let at6 = sim.get(&path).await.expect(200);
    assert_eq!(at6["state"], "STAGING", "still staging 1 s before 7 s");
    assert!(at6["droplet"].is_null(), "no droplet while staging: {at6}");
    sim.advance(1);
    let at7 = sim.get(&path).await.expect(200);
    assert_eq!(at7["state"], "STAGED", "staged at 7 s: {at7}");
    assert!(at7["droplet"]["guid"].is_string());
}

#[tokio::test]
async fn a_nine_second_deployment_is_deploying_just_before_nine_and_deployed_at_nine() {
    let sim = sim_with(|c| c.deployment_duration = Duration::from_secs(9)).await;
    sim.enable_docker().await;
    let space = sim.org_space("o", "s").await;
    let v1 = sim.push("demo/hello", "v1", "one");
    let v2 = sim.push("demo/hello", "v2", "two");
    let (app, _) = sim.running_app(&space, "web", &v1).await;
    let (_, d2) = sim.stage(&app, &v2).await;
    let dep = sim
        .post("/v3/deployments", json!({"droplet": {"guid": d2.unwrap()}, "strategy": "rolling", "relationships": {"app": {"data": {"guid": app}}}}))
        .await
        .expect(201);
    let path = format!("/v3/deployments/{}", dep["guid"].as_str().unwrap());
    let status = |d: &serde_json::Value| {
        (
            d["status"]["value"].as_str().map(str::to_owned),
            d["status"]["reason"].as_str().map(str::to_owned),
        )
    };
    let deploying = (Some("ACTIVE".to_owned()), Some("DEPLOYING".to_owned()));
    assert_eq!(status(&dep), deploying);
    sim.advance(3);
    assert_eq!(
        status(&sim.get(&path).await.expect(200)),
        deploying,
        "the default 3 s is not used"
    );
    sim.clock.advance(Duration::from_millis(5_999));
    assert_eq!(
        status(&sim.get(&path).await.expect(200)),
        deploying,
        "still deploying 1 ms before 9 s"
    );
    sim.clock.advance(Duration::from_millis(1));
    assert_eq!(
        status(&sim.get(&path).await.expect(200)),
        (Some("FINALIZED".to_owned()), Some("DEPLOYED".to_owned())),
        "deployed at 9 s"
    );
}

#[tokio::test]
async fn a_five_second_token_works_at_four_and_is_rejected_at_six() {
    let sim = sim_with(|c| c.token_lifetime = Duration::from_secs(5)).await;
    let token = sim.login("admin", "admin").await;
    sim.advance(4);
    let ok = sim
        .call_as(Some(&token), reqwest::Method::GET, "/v3/apps", None)
        .await;
    assert_eq!(ok.status, 200, "token valid at 4 s: {}", ok.body);
    sim.advance(2);
    let expired = sim
        .call_as(Some(&token), reqwest::Method::GET, "/v3/apps", None)
        .await;
    assert_eq!(
        expired.status, 401,
        "token expired at 6 s: {}",
        expired.body
    );
    assert_eq!(expired.error(), (1000, "CF-InvalidAuthToken".to_owned()));
}
