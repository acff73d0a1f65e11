//! The happy path end to end: discovery, login, a docker app staged from the embedded
//! registry and started.

use serde_json::json;

use crate::common;

#[tokio::test]
async fn docker_app_stages_and_runs() {
    let sim = common::start().await;
    let root = sim.get("/").await.expect(200);
    assert_eq!(root["links"]["cloud_controller_v3"]["href"], sim.url("/v3"));
    sim.enable_docker().await;
    let space = sim.org_space("demo", "dev").await;
    let image = sim.push("demo/hello", "v1", "hello");
    let (app, droplet) = sim.running_app(&space, "web", &image).await;
    let a = sim.get(&format!("/v3/apps/{app}")).await.expect(200);
    assert_eq!(a["state"], "STARTED");
    assert_eq!(
        a["relationships"]["current_droplet"]["data"]["guid"],
        droplet.as_str()
    );
    let d = sim
        .get(&format!("/v3/droplets/{droplet}"))
        .await
        .expect(200);
    assert_eq!(d["image"], image.as_str());
    let web = sim
        .get(&format!("/v3/apps/{app}/processes/web"))
        .await
        .expect(200);
    let stats = sim
        .get(&format!(
            "/v3/processes/{}/stats",
            web["guid"].as_str().unwrap()
        ))
        .await
        .expect(200);
    assert_eq!(stats["resources"][0]["state"], "RUNNING");
    let _ = json!({});
}
