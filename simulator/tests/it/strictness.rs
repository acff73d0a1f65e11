//! CF's strictness: unknown query parameters and body fields, bad JSON, pagination bounds,
//! uniqueness, the `diego_docker` gate, staging exclusivity, env var rules.

use reqwest::Method;
use serde_json::json;

use crate::common;

#[tokio::test]
async fn unknown_query_parameters_and_bad_pages_are_400() {
    let sim = common::start().await;
    for path in [
        "/v3/apps?bogus=1",
        "/v3/apps?per_page=0",
        "/v3/apps?per_page=5001",
        "/v3/apps?per_page=ten",
        "/v3/apps?page=0",
        "/v3/apps?order_by=color",
        "/v3/apps?include=routes",
        "/v3/processes?names=web",
        "/v3/apps?label_selector=",
        "/v3/apps?lifecycle_type=kpack",
    ] {
        let resp = sim.get(path).await;
        assert_eq!(resp.status, 400, "{path}: {}", resp.body);
        assert_eq!(
            resp.error(),
            (10005, "CF-BadQueryParameter".into()),
            "{path}"
        );
    }
    let detail = sim.get("/v3/apps?bogus=1").await.body["errors"][0]["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        detail.contains("Unknown query parameter(s): 'bogus'"),
        "{detail}"
    );
    sim.get("/v3/apps?per_page=5000").await.expect(200);
    sim.get("/v3/apps?per_page=1&page=7").await.expect(200);
}

#[tokio::test]
async fn bodies_are_checked_like_cc_does() {
    let sim = common::start().await;
    let space = sim.org_space("o", "s").await;
    let resp = sim.post("/v3/apps", json!({"name": "a", "relationships": {"space": {"data": {"guid": space}}}, "colour": "red"})).await;
    assert_eq!(resp.status, 422);
    assert_eq!(resp.error(), (10008, "CF-UnprocessableEntity".into()));
    assert!(
        resp.body["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("'colour'")
    );

    let raw = sim
        .http
        .post(sim.url("/v3/apps"))
        .bearer_auth(&sim.token)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    let body: serde_json::Value = raw.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], 1001);
    assert_eq!(body["errors"][0]["title"], "CF-MessageParseError");

    let resp = sim
        .post(
            "/v3/apps",
            json!({"name": 7, "relationships": {"space": {"data": {"guid": space}}}}),
        )
        .await;
    assert_eq!(resp.status, 422);
}

#[tokio::test]
async fn app_names_are_unique_per_space_case_insensitively() {
    let sim = common::start().await;
    sim.enable_docker().await;
    let space = sim.org_space("o", "s").await;
    let other = {
        let org = sim.get("/v3/organizations").await.expect(200)["resources"][0]["guid"].clone();
        sim.post(
            "/v3/spaces",
            json!({"name": "t", "relationships": {"organization": {"data": {"guid": org}}}}),
        )
        .await
        .expect(201)["guid"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    sim.docker_app(&space, "Billing").await;
    let resp = sim
        .post("/v3/apps", json!({"name": "billing", "relationships": {"space": {"data": {"guid": space}}}, "lifecycle": {"type": "docker", "data": {}}}))
        .await;
    assert_eq!(resp.status, 422);
    assert_eq!(resp.error(), (10016, "CF-UniquenessError".into()));
    // Another space may reuse the name.
    sim.docker_app(&other, "billing").await;
}

#[tokio::test]
async fn diego_docker_gates_create_build_and_start() {
    let sim = common::start().await;
    let space = sim.org_space("o", "s").await;
    let body = json!({"name": "a", "relationships": {"space": {"data": {"guid": space}}}, "lifecycle": {"type": "docker", "data": {}}});
    let resp = sim.post("/v3/apps", body).await;
    assert_eq!(resp.status, 403);
    assert_eq!(resp.error(), (330002, "CF-FeatureDisabled".into()));
    assert_eq!(
        resp.body["errors"][0]["detail"],
        "Feature Disabled: diego_docker"
    );
    let flag = sim.get("/v3/feature_flags/diego_docker").await.expect(200);
    assert_eq!(flag["enabled"], false);

    sim.enable_docker().await;
    let image = sim.push("demo/hello", "v1", "x");
    let (app, _) = sim.running_app(&space, "a", &image).await;
    sim.post(&format!("/v3/apps/{app}/actions/stop"), json!({}))
        .await
        .expect(200);
    let pkg = sim
        .post("/v3/packages", json!({"type": "docker", "relationships": {"app": {"data": {"guid": app}}}, "data": {"image": image}}))
        .await
        .expect(201);
    sim.patch("/v3/feature_flags/diego_docker", json!({"enabled": false}))
        .await
        .expect(200);
    let build = sim
        .post("/v3/builds", json!({"package": {"guid": pkg["guid"]}}))
        .await;
    assert_eq!(build.error(), (330002, "CF-FeatureDisabled".into()));
    let start = sim
        .post(&format!("/v3/apps/{app}/actions/start"), json!({}))
        .await;
    assert_eq!(start.status, 403);
    assert_eq!(start.error(), (330002, "CF-FeatureDisabled".into()));
}

#[tokio::test]
async fn one_staging_build_at_a_time_and_no_start_without_droplet() {
    let sim = common::start().await;
    sim.enable_docker().await;
    let space = sim.org_space("o", "s").await;
    let image = sim.push("demo/hello", "v1", "x");
    let app = sim.docker_app(&space, "a").await;
    let start = sim
        .post(&format!("/v3/apps/{app}/actions/start"), json!({}))
        .await;
    assert_eq!(start.status, 422);
    assert_eq!(start.error().1, "CF-UnprocessableEntity");
    let pkg = sim
        .post("/v3/packages", json!({"type": "docker", "relationships": {"app": {"data": {"guid": app}}}, "data": {"image": image}}))
        .await
        .expect(201);
    sim.post("/v3/builds", json!({"package": {"guid": pkg["guid"]}}))
        .await
        .expect(201);
    let second = sim
        .post("/v3/builds", json!({"package": {"guid": pkg["guid"]}}))
        .await;
    assert_eq!(second.status, 422);
    assert_eq!(second.error(), (170017, "CF-StagingInProgress".into()));
    sim.advance(2);
    sim.post("/v3/builds", json!({"package": {"guid": pkg["guid"]}}))
        .await
        .expect(201);
}

#[tokio::test]
async fn environment_variables_merge_delete_and_reject_reserved_names() {
    let sim = common::start().await;
    sim.enable_docker().await;
    let space = sim.org_space("o", "s").await;
    let app = sim.docker_app(&space, "a").await;
    let path = format!("/v3/apps/{app}/environment_variables");
    let before = sim.get(&format!("/v3/apps/{app}")).await.expect(200)["updated_at"].clone();
    sim.advance(5);
    sim.patch(
        &path,
        json!({"var": {"RAILS_ENV": "production", "USER": "x"}}),
    )
    .await
    .expect(200);
    let merged = sim
        .patch(&path, json!({"var": {"DEBUG": "false", "USER": null}}))
        .await
        .expect(200);
    assert_eq!(
        merged["var"],
        json!({"RAILS_ENV": "production", "DEBUG": "false"})
    );
    let after = sim.get(&format!("/v3/apps/{app}")).await.expect(200)["updated_at"].clone();
    assert_ne!(before, after, "an env change moves the app's updated_at");
    for bad in ["VCAP_SERVICES", "PORT", "VMC_X"] {
        let resp = sim.patch(&path, json!({"var": {bad: "1"}})).await;
        assert_eq!(resp.status, 422, "{bad}");
    }
    assert_eq!(
        sim.get(&path).await.expect(200)["var"],
        json!({"RAILS_ENV": "production", "DEBUG": "false"})
    );
    let resp = sim
        .call_as(
            Some(&sim.token),
            Method::PATCH,
            &path,
            Some(json!({"vars": {}})),
        )
        .await;
    assert_eq!(resp.status, 422);
}

#[tokio::test]
async fn huge_inputs_are_refused_not_fatal() {
    let sim = common::start().await;
    let space = sim.org_space("o", "s").await;
    let app = sim
        .post(
            "/v3/apps",
            json!({"name": "a", "relationships": {"space": {"data": {"guid": space}}}}),
        )
        .await
        .expect(201);
    let path = format!(
        "/v3/apps/{}/processes/web/actions/scale",
        app["guid"].as_str().unwrap()
    );
    assert_eq!(
        sim.post(&path, json!({"instances": 4_000_000_000u64}))
            .await
            .status,
        422
    );
    sim.post(&path, json!({"memory_in_mb": u64::MAX}))
        .await
        .expect(202);
    sim.get(&format!(
        "/v3/apps/{}/processes/web/stats",
        app["guid"].as_str().unwrap()
    ))
    .await
    .expect(200);
    assert_eq!(
        sim.get("/v3/apps?page=18446744073709551615").await.status,
        200
    );
    assert_eq!(
        sim.get("/v3/apps?page=18446744073709551616").await.status,
        400
    );
}

#[tokio::test]
async fn unknown_nested_fields_are_422_too() {
    let sim = common::start().await;
    let space = sim.org_space("o", "s").await;
    let resp = sim.post("/v3/apps", json!({"name": "a", "relationships": {"space": {"data": {"guid": space, "name": "x"}}}})).await;
    assert_eq!(
        resp.error(),
        (10008, "CF-UnprocessableEntity".into()),
        "{}",
        resp.body
    );
    let resp = sim
        .post(
            "/v3/apps",
            json!({"name": "a", "relationships": {"space": {"data": {"guid": space}}, "org": {}}}),
        )
        .await;
    assert_eq!(resp.status, 422);
    let ok = sim
        .post(
            "/v3/apps",
            json!({"name": "a", "relationships": {"space": {"data": {"guid": space}}}}),
        )
        .await;
    assert_eq!(ok.status, 201);
}
