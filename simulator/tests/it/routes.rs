//! Domains, routes and destinations: the default domain, uniqueness, mapping and unmapping,
//! filters, async route deletes, and apps taking their destinations with them.

use serde_json::{Value, json};

use crate::common;

#[tokio::test]
async fn routes_map_to_apps_like_cf_push_does() {
    let sim = common::start().await;
    let space = sim.org_space("o", "s").await;
    let org = sim.get("/v3/organizations").await.expect(200)["resources"][0]["guid"]
        .as_str()
        .unwrap()
        .to_owned();
    let domain = sim
        .get(&format!("/v3/organizations/{org}/domains/default"))
        .await
        .expect(200);
    assert_eq!(domain["name"], "apps.sim.local");
    let app = sim
        .post(
            "/v3/apps",
            json!({"name": "web", "relationships": {"space": {"data": {"guid": space}}}}),
        )
        .await
        .expect(201)["guid"]
        .clone();
    let other = sim
        .post(
            "/v3/apps",
            json!({"name": "api", "relationships": {"space": {"data": {"guid": space}}}}),
        )
        .await
        .expect(201)["guid"]
        .clone();
    let body = |host: &str| json!({"host": host, "relationships": {"domain": {"data": {"guid": domain["guid"]}}, "space": {"data": {"guid": space}}}});
    let route = sim.post("/v3/routes", body("web")).await.expect(201);
    assert_eq!(route["url"], "web.apps.sim.local");
    let dup = sim.post("/v3/routes", body("web")).await;
    assert_eq!(dup.error(), (10016, "CF-UniquenessError".into()));
    assert_eq!(sim.post("/v3/routes", body("bad host!")).await.status, 422);
    let rg = route["guid"].as_str().unwrap().to_owned();

    let dests = sim
        .post(
            &format!("/v3/routes/{rg}/destinations"),
            json!({"destinations": [{"app": {"guid": app}}]}),
        )
        .await
        .expect(200);
    assert_eq!(
        dests["destinations"][0]["app"],
        json!({"guid": app, "process": {"type": "web"}})
    );
    assert_eq!(dests["destinations"][0]["port"], 8080);
    // Inserting the same destination again is a no-op.
    sim.post(
        &format!("/v3/routes/{rg}/destinations"),
        json!({"destinations": [{"app": {"guid": app}}]}),
    )
    .await
    .expect(200);
    let by_app = sim
        .get(&format!("/v3/routes?app_guids={}", app.as_str().unwrap()))
        .await
        .expect(200);
    assert_eq!(by_app["pagination"]["total_results"], 1);
    assert_eq!(
        by_app["resources"][0]["destinations"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let app_routes = sim
        .get(&format!("/v3/apps/{}/routes", app.as_str().unwrap()))
        .await
        .expect(200);
    assert_eq!(app_routes["resources"][0]["guid"], rg.as_str());

    let replaced = sim
        .patch(
            &format!("/v3/routes/{rg}/destinations"),
            json!({"destinations": [{"app": {"guid": other}, "weight": 100}]}),
        )
        .await
        .expect(200);
    let dests: &Vec<Value> = replaced["destinations"].as_array().unwrap();
    assert_eq!(dests.len(), 1);
    assert_eq!(dests[0]["app"]["guid"], other);
    let dguid = dests[0]["guid"].as_str().unwrap().to_owned();
    assert_eq!(
        sim.delete(&format!("/v3/routes/{rg}/destinations/{dguid}"))
            .await
            .status,
        204
    );
    assert_eq!(
        sim.get(&format!("/v3/routes/{rg}/destinations"))
            .await
            .expect(200)["destinations"],
        json!([])
    );

    // Deleting an app removes its destinations; deleting a route is a job.
    sim.post(
        &format!("/v3/routes/{rg}/destinations"),
        json!({"destinations": [{"app": {"guid": app}}]}),
    )
    .await
    .expect(200);
    sim.delete(&format!("/v3/apps/{}", app.as_str().unwrap()))
        .await;
    assert_eq!(
        sim.get(&format!("/v3/routes/{rg}/destinations"))
            .await
            .expect(200)["destinations"],
        json!([])
    );
    let resp = sim.delete(&format!("/v3/routes/{rg}")).await;
    assert_eq!(resp.status, 202);
    assert!(
        resp.headers["location"]
            .to_str()
            .unwrap()
            .contains("/v3/jobs/")
    );
    assert_eq!(sim.get(&format!("/v3/routes/{rg}")).await.status, 404);
    assert_eq!(sim.get("/v3/routes?hosts=web&bogus=1").await.status, 400);
}
