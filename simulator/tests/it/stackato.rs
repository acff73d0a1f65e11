//! The Stackato v2 dialect: discovery, docker apps with inline credentials (never echoed),
//! `PUT {state: STARTED}` staging then starting, v2 paging and `q` filters, v2 errors and
//! feature flags, and the v2 example payloads.

use reqwest::Method;
use serde_json::{Value, json};
use simulator::{ManualClock, RegistryConfig, SimConfig};

use crate::common::{self, Sim};
use crate::conformance::{Mode, compare, examples_dir};

async fn stackato() -> Sim {
    let clock = ManualClock::fixed();
    let cfg = SimConfig {
        stackato: true,
        registry: Some(RegistryConfig {
            basic_auth: Some(("ci".into(), "pull-secret".into())),
            ..RegistryConfig::default()
        }),
        ..common::config(&clock)
    };
    common::start_with(cfg, clock).await
}

async fn put(sim: &Sim, path: &str, body: Value) -> common::Resp {
    sim.call_as(Some(&sim.token), Method::PUT, path, Some(body))
        .await
}

fn example(file: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(examples_dir().join(file)).unwrap()).unwrap()
}

#[tokio::test]
async fn docker_app_with_inline_credentials_stages_and_starts() {
    let sim = stackato().await;
    let info = sim
        .call_as(None, Method::GET, "/v2/info", None)
        .await
        .expect(200);
    assert_eq!(info["authorization_endpoint"], sim.url("/uaa"));
    compare(&example("v2_info.json"), &info, "$", Mode::Exact).unwrap();
    let root = sim.get("/").await.expect(200);
    assert_eq!(root["links"]["cloud_controller_v2"]["href"], sim.url("/v2"));

    let space = sim.org_space("demo", "dev").await;
    let image = sim.push("team/api", "1.0", "api");
    let body = json!({"name": "api", "space_guid": space, "docker_image": format!("ci:pull-secret@{image}"), "diego": true});
    let resp = sim.post("/v2/apps", body.clone()).await;
    assert_eq!(resp.status, 403, "diego_docker is off by default");
    assert_eq!(resp.body["error_code"], "CF-FeatureDisabled");
    assert_eq!(resp.body["code"], 330002);
    put(
        &sim,
        "/v2/config/feature_flags/diego_docker",
        example("v2_feature_flag_set_request.json"),
    )
    .await
    .expect(200);

    let mut documented = example("v2_app_docker_create_request.json");
    documented["space_guid"] = json!(space);
    let doc_app = sim.post("/v2/apps", documented).await.expect(201);
    assert_eq!(
        doc_app["entity"]["docker_image"],
        "cloudfoundry/diego-docker-app:latest"
    );
    assert_eq!(
        doc_app["entity"]["docker_credentials"],
        json!({"username": "user", "password": "***"})
    );

    let created = sim.post("/v2/apps", body).await.expect(201);
    compare(
        &example("v2_app_docker_create_response.json"),
        &created,
        "$",
        Mode::Exact,
    )
    .unwrap();
    let text = created.to_string();
    assert!(
        !text.contains("pull-secret"),
        "credentials are never echoed: {text}"
    );
    assert_eq!(created["entity"]["docker_image"], image.as_str());
    assert_eq!(
        created["entity"]["docker_credentials"],
        json!({"username": "ci", "password": "***"})
    );
    assert_eq!(created["entity"]["state"], "STOPPED");
    let guid = created["metadata"]["guid"].as_str().unwrap().to_owned();

    let started = put(
        &sim,
        &format!("/v2/apps/{guid}"),
        json!({"state": "STARTED", "instances": 2}),
    )
    .await
    .expect(201);
    assert_eq!(started["entity"]["state"], "STARTED");
    assert_eq!(started["entity"]["package_state"], "PENDING");
    sim.advance(2);
    let app = sim.get(&format!("/v2/apps/{guid}")).await.expect(200);
    assert_eq!(app["entity"]["package_state"], "STAGED", "{app}");
    assert_eq!(app["entity"]["instances"], 2);
    let instances = sim
        .get(&format!("/v2/apps/{guid}/instances"))
        .await
        .expect(200);
    assert_eq!(instances["0"]["state"], "RUNNING");
    assert_eq!(instances["1"]["state"], "RUNNING");
    // The same app through v3.
    let v3 = sim.get(&format!("/v3/apps/{guid}")).await.expect(200);
    assert_eq!(v3["state"], "STARTED");
    assert_eq!(v3["lifecycle"]["type"], "docker");

    // A wrong inline password: staging fails and says why.
    let bad = put(
        &sim,
        &format!("/v2/apps/{guid}"),
        json!({"docker_image": format!("ci:wrong@{image}"), "state": "STARTED"}),
    )
    .await
    .expect(201);
    assert_eq!(bad["entity"]["package_state"], "PENDING");
    sim.advance(2);
    let failed = sim.get(&format!("/v2/apps/{guid}")).await.expect(200);
    assert_eq!(failed["entity"]["package_state"], "FAILED");
    assert_eq!(failed["entity"]["staging_failed_reason"], "StagingError");
    assert!(
        !failed.to_string().contains("wrong@"),
        "no credentials in errors either"
    );

    // A new image without a restart leaves the package PENDING until restaged.
    let v2 = sim.push("team/api", "2.0", "api 2");
    let pending = put(
        &sim,
        &format!("/v2/apps/{guid}"),
        json!({"docker_image": format!("ci:pull-secret@{v2}")}),
    )
    .await
    .expect(201);
    assert_eq!(pending["entity"]["package_state"], "PENDING");
    assert!(pending["entity"]["staging_failed_reason"].is_null());
    let updated = put(
        &sim,
        &format!("/v2/apps/{guid}"),
        example("v2_app_update_request.json"),
    )
    .await
    .expect(201);
    compare(
        &example("v2_app_update_response.json"),
        &updated,
        "$",
        Mode::Exact,
    )
    .unwrap();
    let restaged = sim
        .post(&format!("/v2/apps/{guid}/restage"), json!({}))
        .await
        .expect(201);
    compare(
        &example("v2_app_restage_response.json"),
        &restaged,
        "$",
        Mode::Subset,
    )
    .unwrap();
    sim.advance(2);
    let after = sim.get(&format!("/v2/apps/{guid}")).await.expect(200);
    assert_eq!(after["entity"]["package_state"], "STAGED");
    assert_eq!(after["entity"]["state"], "STARTED");
    assert_eq!(after["entity"]["docker_image"], v2.as_str());

    let stopped = put(
        &sim,
        &format!("/v2/apps/{guid}"),
        json!({"state": "STOPPED"}),
    )
    .await
    .expect(201);
    assert_eq!(stopped["entity"]["state"], "STOPPED");
    let instances = sim.get(&format!("/v2/apps/{guid}/instances")).await;
    assert_eq!(
        (instances.status.as_u16(), instances.body["code"].as_u64()),
        (400, Some(220001))
    );
    let summary = sim
        .get(&format!("/v2/apps/{guid}/summary"))
        .await
        .expect(200);
    assert_eq!(summary["running_instances"], 0);
    assert_eq!(sim.delete(&format!("/v2/apps/{guid}")).await.status, 204);
    let gone = sim.get(&format!("/v2/apps/{guid}")).await;
    assert_eq!(gone.status, 404);
    compare(
        &example("v2_error_example.json"),
        &gone.body,
        "$",
        Mode::Exact,
    )
    .unwrap();
    assert_eq!(gone.body["error_code"], "CF-AppNotFound");
}

#[tokio::test]
async fn v2_paging_filters_and_flags() {
    let sim = stackato().await;
    sim.handle.set_feature_flag("diego_docker", true).unwrap();
    let space = sim.org_space("demo", "dev").await;
    for i in 0..105 {
        sim.post(
            "/v2/apps",
            json!({"name": format!("app-{i:03}"), "space_guid": space, "docker_image": "busybox"}),
        )
        .await
        .expect(201);
    }
    let page = sim.get("/v2/apps?results-per-page=100").await.expect(200);
    compare(&example("v2_apps_list.json"), &page, "$", Mode::Exact).unwrap();
    assert_eq!(page["total_results"], 105);
    assert_eq!(page["total_pages"], 2);
    assert_eq!(page["resources"].as_array().unwrap().len(), 100);
    assert!(page["prev_url"].is_null());
    let next = page["next_url"].as_str().unwrap().to_owned();
    assert!(
        next.starts_with("/v2/apps?"),
        "v2 next_url is relative: {next}"
    );
    let second = sim.get(&next).await.expect(200);
    assert_eq!(second["resources"].as_array().unwrap().len(), 5);
    assert!(second["next_url"].is_null());
    assert_eq!(
        second["resources"][0]["entity"]["docker_image"],
        "busybox:latest"
    );

    let too_many = sim.get("/v2/apps?results-per-page=101").await;
    assert_eq!(too_many.status, 400);
    assert_eq!(too_many.body["error_code"], "CF-BadQueryParameter");
    assert!(too_many.body.get("errors").is_none(), "v2 errors are flat");

    let one = sim.get("/v2/apps?q=name:app-007").await.expect(200);
    assert_eq!(one["total_results"], 1);
    assert_eq!(one["resources"][0]["entity"]["name"], "app-007");
    let by_space = sim
        .get(&format!(
            "/v2/apps?q=space_guid:{space}&q=name%20IN%20app-001,app-002&results-per-page=1"
        ))
        .await
        .expect(200);
    assert_eq!(by_space["total_results"], 2);
    assert!(
        by_space["next_url"]
            .as_str()
            .unwrap()
            .contains("q=name+IN+app-001%2Capp-002")
    );
    let spaces = sim.get("/v2/spaces?q=name:dev").await.expect(200);
    assert_eq!(spaces["resources"][0]["metadata"]["guid"], space.as_str());
    assert_eq!(
        sim.get("/v2/organizations?q=name:demo").await.expect(200)["total_results"],
        1
    );

    let flag = sim
        .get("/v2/config/feature_flags/diego_docker")
        .await
        .expect(200);
    compare(
        &example("v2_feature_flag_diego_docker.json"),
        &flag,
        "$",
        Mode::Exact,
    )
    .unwrap();
    let dev = sim.login("developer", "developer").await;
    let denied = sim
        .call_as(
            Some(&dev),
            Method::PUT,
            "/v2/config/feature_flags/user_org_creation",
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(denied.status, 403);
    assert_eq!(denied.body["error_code"], "CF-NotAuthorized");
    let set = put(
        &sim,
        "/v2/config/feature_flags/user_org_creation",
        json!({"enabled": true}),
    )
    .await
    .expect(200);
    compare(
        &example("v2_feature_flag_set_response.json"),
        &set,
        "$",
        Mode::Exact,
    )
    .unwrap();
    let unauth = sim.call_as(None, Method::GET, "/v2/apps", None).await;
    assert_eq!(
        (unauth.status.as_u16(), unauth.body["code"].as_u64()),
        (401, Some(10002))
    );
    let dup = sim
        .post(
            "/v2/apps",
            json!({"name": "APP-001", "space_guid": space, "docker_image": "busybox"}),
        )
        .await;
    assert_eq!(dup.status, 400);
    assert_eq!(dup.body["error_code"], "CF-AppNameTaken");
}

#[tokio::test]
async fn v2_is_served_only_in_stackato_mode() {
    let sim = common::start().await;
    assert_eq!(sim.get("/v2/info").await.status, 404);
    assert!(sim.get("/").await.expect(200)["links"]["cloud_controller_v2"].is_null());
}

#[tokio::test]
async fn v2_routes_map_and_unmap() {
    let sim = stackato().await;
    sim.handle.set_feature_flag("diego_docker", true).unwrap();
    let space = sim.org_space("demo", "dev").await;
    let app = sim
        .post(
            "/v2/apps",
            json!({"name": "web", "space_guid": space, "docker_image": "busybox"}),
        )
        .await
        .expect(201);
    let app = app["metadata"]["guid"].as_str().unwrap().to_owned();
    let domains = sim
        .get("/v2/shared_domains?q=name:apps.sim.local")
        .await
        .expect(200);
    let domain = domains["resources"][0]["metadata"]["guid"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({"host": "web", "domain_guid": domain, "space_guid": space});
    let route = sim.post("/v2/routes", body.clone()).await.expect(201);
    let route = route["metadata"]["guid"].as_str().unwrap().to_owned();
    let taken = sim.post("/v2/routes", body).await;
    assert_eq!(
        (taken.status.as_u16(), taken.body["error_code"].as_str()),
        (400, Some("CF-RouteHostTaken"))
    );
    put(&sim, &format!("/v2/apps/{app}/routes/{route}"), json!({}))
        .await
        .expect(201);
    let mapped = sim.get(&format!("/v2/apps/{app}/routes")).await.expect(200);
    assert_eq!(mapped["total_results"], 1);
    let mappings = sim
        .get(&format!("/v2/route_mappings?q=app_guid:{app}"))
        .await
        .expect(200);
    assert_eq!(mappings["total_results"], 1, "{mappings}");
    let mapping = &mappings["resources"][0]["entity"];
    assert_eq!(
        (mapping["app_guid"].as_str(), mapping["route_guid"].as_str()),
        (Some(app.as_str()), Some(route.as_str()))
    );
    assert_eq!(
        mapping["route_url"].as_str(),
        Some(format!("/v2/routes/{route}").as_str())
    );
    assert_eq!(
        sim.get("/v2/route_mappings?q=app_guid:other")
            .await
            .expect(200)["total_results"],
        0
    );
    assert_eq!(mapped["resources"][0]["entity"]["host"], "web");
    let v3 = sim
        .get(&format!("/v3/routes?app_guids={app}"))
        .await
        .expect(200);
    assert_eq!(
        v3["resources"][0]["url"], "web.apps.sim.local",
        "one route, seen through both APIs"
    );
    assert_eq!(
        sim.delete(&format!("/v2/apps/{app}/routes/{route}"))
            .await
            .status,
        204
    );
    assert_eq!(
        sim.get(&format!("/v2/apps/{app}/routes")).await.expect(200)["total_results"],
        0
    );
    assert_eq!(
        sim.get("/v2/routes?q=host:web").await.expect(200)["total_results"],
        1
    );
    assert_eq!(sim.delete(&format!("/v2/routes/{route}")).await.status, 204);
    let gone = sim.delete(&format!("/v2/routes/{route}")).await;
    assert_eq!(gone.body["error_code"], "CF-RouteNotFound");
}

#[tokio::test]
async fn v2_health_check_fields_are_set_one_by_one() {
    let sim = stackato().await;
    sim.handle.set_feature_flag("diego_docker", true).unwrap();
    let space = sim.org_space("demo", "dev").await;
    let app = sim
        .post(
            "/v2/apps",
            json!({"name": "web", "space_guid": space, "docker_image": "busybox",
                   "health_check_type": "http", "health_check_http_endpoint": "/health",
                   "health_check_timeout": 30}),
        )
        .await
        .expect(201);
    let entity = &app["entity"];
    assert_eq!(
        (
            entity["health_check_type"].as_str(),
            entity["health_check_http_endpoint"].as_str(),
            entity["health_check_timeout"].as_u64()
        ),
        (Some("http"), Some("/health"), Some(30))
    );
    let guid = app["metadata"]["guid"].as_str().unwrap().to_owned();
    let updated = put(
        &sim,
        &format!("/v2/apps/{guid}"),
        json!({"health_check_timeout": 90}),
    )
    .await
    .expect(201);
    assert_eq!(
        (
            updated["entity"]["health_check_http_endpoint"].as_str(),
            updated["entity"]["health_check_timeout"].as_u64()
        ),
        (Some("/health"), Some(90)),
        "the other fields stay"
    );
    let port = put(
        &sim,
        &format!("/v2/apps/{guid}"),
        json!({"health_check_type": "port"}),
    )
    .await
    .expect(201);
    assert_eq!(port["entity"]["health_check_http_endpoint"], "");
}

#[tokio::test]
async fn a_v2_only_foundation_has_no_root_document_and_no_v3() {
    let clock = ManualClock::fixed();
    let cfg = SimConfig {
        stackato: true,
        v2_only: true,
        ..common::config(&clock)
    };
    let sim = common::start_with(cfg, clock).await;
    let root = sim.call_as(None, Method::GET, "/", None).await;
    assert_eq!(root.status, 404);
    assert_eq!(root.body["error_code"], "CF-NotFound", "{}", root.body);
    let v3 = sim.get("/v3/apps").await;
    assert_eq!(v3.status, 404);
    let info = sim
        .call_as(None, Method::GET, "/v2/info", None)
        .await
        .expect(200);
    assert_eq!(info["token_endpoint"], sim.url("/uaa"));
    assert_eq!(sim.get("/v2/apps").await.expect(200)["total_results"], 0);
}
