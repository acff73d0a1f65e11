//! Conformance: every file in `tests/cf-api-examples/` (real Cloud Controller and UAA
//! payloads) is matched against what the simulator answers for the same kind of request: same
//! keys and nesting, values may differ. Request-body examples are sent as-is and must be
//! accepted. A new example file fails this test until it is added to `plan_for`.

use std::path::PathBuf;

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{self, Sim};

/// How strictly an example's keys are compared.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// The same keys at every level.
    Exact,
    /// Every example key is present (the example is abridged or older than CC).
    Subset,
}

enum Plan {
    /// Compare the response (or a JSON pointer into it) of a GET.
    Get(String, Option<&'static str>, Mode),
    /// Compare a value the fixture already captured.
    Value(Value, Mode),
    /// Send the example as the body of this request; it must be accepted (2xx).
    Send(Method, String),
    /// Not comparable, with the reason.
    Skip(#[allow(dead_code)] &'static str),
    /// Served only by the Stackato dialect; checked in `stackato.rs`.
    V2,
}

/// Keys whose values are user data, not schema: their contents are not compared.
const FREE_FORM: &[&str] = &[
    "labels",
    "annotations",
    "var",
    "environment_variables",
    "staging_env_json",
    "running_env_json",
    "system_env_json",
    "process_types",
    "custom",
    "processes",
    "environment_json",
    "credentials",
];

/// Lists that hold user data and may be empty in a conforming answer.
const MAY_BE_EMPTY: &[&str] = &["application_uris", "uris", "buildpacks", "sidecars"];

pub fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/cf-api-examples")
}

/// Compares shapes; returns the first difference as `path: reason`.
pub fn compare(example: &Value, actual: &Value, path: &str, mode: Mode) -> Result<(), String> {
    match (example, actual) {
        (Value::Null, _) | (_, Value::Null) => Ok(()),
        (Value::Object(e), Value::Object(a)) => {
            let abridged = e.contains_key("...");
            let free = FREE_FORM.iter().any(|k| path.ends_with(&format!(".{k}")))
                || path.ends_with("lifecycle.data");
            if free {
                return Ok(());
            }
            for (k, ev) in e {
                if k == "..." {
                    continue;
                }
                let Some(av) = a.get(k) else {
                    return Err(format!("{path}.{k}: missing in simulator response"));
                };
                compare(ev, av, &format!("{path}.{k}"), mode)?;
            }
            if mode == Mode::Exact
                && !abridged
                && let Some(extra) = a.keys().find(|k| !e.contains_key(*k))
            {
                return Err(format!("{path}.{extra}: not in the example"));
            }
            Ok(())
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.is_empty() {
                return Ok(());
            }
            // An empty answer where the example has elements would compare nothing: a list
            // endpoint answering `resources: []` must not pass for a conforming one. Only lists
            // of user data (a docker app has no buildpacks, an app without routes no URIs) may
            // legitimately be empty.
            let may_be_empty = MAY_BE_EMPTY
                .iter()
                .any(|k| path.ends_with(&format!(".{k}")));
            if a.is_empty() && !may_be_empty {
                return Err(format!(
                    "{path}: {} element(s) in the example, none in the simulator",
                    e.len()
                ));
            }
            for (i, av) in a.iter().enumerate() {
                let errors: Vec<String> = e
                    .iter()
                    .filter_map(|ev| compare(ev, av, &format!("{path}[{i}]"), mode).err())
                    .collect();
                if errors.len() == e.len() {
                    return Err(errors.join(" / "));
                }
            }
            Ok(())
        }
        (e, a) => {
            let kind = |v: &Value| match v {
                Value::Bool(_) => "bool",
                Value::Number(_) => "number",
                Value::String(_) => "string",
                Value::Array(_) => "array",
                Value::Object(_) => "object",
                Value::Null => "null",
            };
            if kind(e) == kind(a) {
                Ok(())
            } else {
                Err(format!(
                    "{path}: {} in the example, {} in the simulator",
                    kind(e),
                    kind(a)
                ))
            }
        }
    }
}

/// The GUIDs of the fixture foundation.
struct Fixture {
    space: String,
    app: String,
    stopped: String,
    buildpack_app: String,
    spare_app: String,
    process: String,
    package: String,
    droplet: String,
    deployment: String,
    revision: String,
    job: String,
    staging_build: Value,
    token_response: Value,
    claims: Value,
    invalid_scope: Value,
    unprocessable: Value,
    domain: String,
    route: String,
}

async fn fixture(sim: &Sim) -> Fixture {
    sim.enable_docker().await;
    let space = sim.org_space("demo", "dev").await;
    let v1 = sim.push("demo/hello", "v1", "hello v1");
    let (app, droplet) = sim.running_app(&space, "web", &v1).await;
    let (stopped, _) = sim.running_app(&space, "stopped", &v1).await;
    sim.post(&format!("/v3/apps/{stopped}/actions/stop"), json!({}))
        .await
        .expect(200);
    let buildpack_app = sim
        .post(
            "/v3/apps",
            json!({"name": "bp", "relationships": {"space": {"data": {"guid": space}}}}),
        )
        .await
        .expect(201)["guid"]
        .as_str()
        .unwrap()
        .to_owned();
    let spare_app = sim.docker_app(&space, "spare").await;
    let deployment = sim
        .post(
            "/v3/deployments",
            json!({"strategy": "canary", "options": {"canary": {"steps": [{"instance_weight": 10}, {"instance_weight": 20}]}}, "relationships": {"app": {"data": {"guid": app}}}}),
        )
        .await
        .expect(201)["guid"]
        .as_str()
        .unwrap()
        .to_owned();
    let process = sim
        .get(&format!("/v3/apps/{app}/processes/web"))
        .await
        .expect(200)["guid"]
        .as_str()
        .unwrap()
        .to_owned();
    // Like the docs' worker: process liveness, http readiness.
    let stopped_process = sim
        .get(&format!("/v3/apps/{stopped}/processes/web"))
        .await
        .expect(200)["guid"]
        .as_str()
        .unwrap()
        .to_owned();
    sim.patch(
        &format!("/v3/processes/{stopped_process}"),
        json!({"health_check": {"type": "process"}, "readiness_health_check": {"type": "http", "data": {"endpoint": "/ready", "invocation_timeout": 2}}}),
    )
    .await
    .expect(200);
    let revision = sim
        .get(&format!("/v3/apps/{app}/revisions"))
        .await
        .expect(200)["resources"][0]["guid"]
        .as_str()
        .unwrap()
        .to_owned();
    let package = sim
        .post(
            "/v3/packages",
            json!({"type": "docker", "relationships": {"app": {"data": {"guid": spare_app}}}, "data": {"image": v1, "username": "u", "password": "p"}}),
        )
        .await
        .expect(201)["guid"]
        .as_str()
        .unwrap()
        .to_owned();
    let doomed = sim.docker_app(&space, "doomed").await;
    let resp = sim.delete(&format!("/v3/apps/{doomed}")).await;
    assert_eq!(resp.status, 202);
    let location = resp.headers["location"].to_str().unwrap().to_owned();
    let job = location.rsplit('/').next().unwrap().to_owned();
    // A build left STAGING (the clock does not move again).
    let staging_app = sim.docker_app(&space, "staging").await;
    let staging_pkg = sim
        .post("/v3/packages", json!({"type": "docker", "relationships": {"app": {"data": {"guid": staging_app}}}, "data": {"image": v1}}))
        .await
        .expect(201);
    let staging_build = sim
        .post(
            "/v3/builds",
            json!({"package": {"guid": staging_pkg["guid"]}}),
        )
        .await
        .expect(201);
    let token_response = sim
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
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let claims = decode_claims(token_response["access_token"].as_str().unwrap());
    let invalid_scope = sim
        .http
        .post(sim.url("/uaa/oauth/token"))
        .basic_auth("cf", Some(""))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(common::form(&[
            ("grant_type", "password"),
            ("username", "admin"),
            ("password", "admin"),
            ("scope", "disallowed_scope"),
        ]))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let unprocessable = sim
        .post("/v3/apps", json!({"name": "x", "bogus": 1}))
        .await
        .expect(422);
    let domain = sim.get("/v3/domains").await.expect(200)["resources"][0]["guid"]
        .as_str()
        .unwrap()
        .to_owned();
    let route = sim
        .post(
            "/v3/routes",
            json!({"host": "web", "path": "/api", "relationships": {"domain": {"data": {"guid": domain}}, "space": {"data": {"guid": space}}}, "options": {"loadbalancing": "round-robin"}}),
        )
        .await
        .expect(201)["guid"]
        .as_str()
        .unwrap()
        .to_owned();
    sim.post(
        &format!("/v3/routes/{route}/destinations"),
        json!({"destinations": [{"app": {"guid": app}}]}),
    )
    .await
    .expect(200);
    Fixture {
        space,
        app,
        stopped,
        buildpack_app,
        spare_app,
        process,
        package,
        droplet,
        deployment,
        revision,
        job,
        staging_build,
        token_response,
        claims,
        invalid_scope,
        unprocessable,
        domain,
        route,
    }
}

pub fn decode_claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

fn plan_for(file: &str, fx: &Fixture) -> Plan {
    use Mode::{Exact, Subset};
    let get = |p: String| Plan::Get(p, None, Exact);
    let (app, process) = (&fx.app, &fx.process);
    match file {
        "root.json" => get("/".into()),
        "root_v3.json" => get("/v3".into()),
        "info_v3.json" | "info_v3_empty.json" => get("/v3/info".into()),
        "app_object.json" | "app_started.json" => get(format!("/v3/apps/{app}")),
        "app_stopped.json" => get(format!("/v3/apps/{}", fx.stopped)),
        "apps_list.json" => get("/v3/apps?per_page=2".into()),
        // The example lists "people": the pagination must match exactly, a resource is abridged.
        "pagination_example.json" => Plan::Get("/v3/apps?per_page=1".into(), None, Subset),
        "include_app_space_example.json" => get(format!("/v3/apps/{app}?include=space")),
        "include_apps_space_organization_example.json" => {
            get("/v3/apps?include=space.organization".into())
        }
        "lifecycle_docker.json" => Plan::Get(format!("/v3/apps/{app}"), Some("/lifecycle"), Exact),
        "lifecycle_buildpack.json" => Plan::Get(
            format!("/v3/apps/{}", fx.buildpack_app),
            Some("/lifecycle"),
            Exact,
        ),
        "app_env.json" => get(format!("/v3/apps/{app}/env")),
        "app_environment_variables.json" => get(format!("/v3/apps/{app}/environment_variables")),
        "app_environment_variables_patch_request.json" => Plan::Send(
            Method::PATCH,
            format!("/v3/apps/{app}/environment_variables"),
        ),
        "app_environment_variables_patch_response.json" => {
            get(format!("/v3/apps/{app}/environment_variables"))
        }
        "app_current_droplet_relationship.json" => {
            get(format!("/v3/apps/{app}/relationships/current_droplet"))
        }
        "app_current_droplet_patch_request.json" => Plan::Send(
            Method::PATCH,
            format!("/v3/apps/{}/relationships/current_droplet", fx.app),
        ),
        "app_create_request.json" => Plan::Send(Method::POST, "/v3/apps".into()),
        "app_update_request.json" => {
            Plan::Send(Method::PATCH, format!("/v3/apps/{}", fx.buildpack_app))
        }
        "metadata_patch_initial.json" | "metadata_patch_final.json" => {
            Plan::Get(format!("/v3/apps/{app}"), Some(""), Subset)
        }
        "metadata_patch_request.json" => {
            Plan::Send(Method::PATCH, format!("/v3/apps/{}", fx.stopped))
        }
        "organization_object.json" => get(format!("/v3/spaces/{}", fx.space)).org(),
        "organizations_list.json" => get("/v3/organizations".into()),
        "space_object.json" => get(format!("/v3/spaces/{}", fx.space)),
        "spaces_list.json" => get("/v3/spaces".into()),
        "feature_flag_object.json" => get("/v3/feature_flags/diego_docker".into()),
        "feature_flags_list.json" => get("/v3/feature_flags".into()),
        "feature_flag_update_request.json" => {
            Plan::Send(Method::PATCH, "/v3/feature_flags/user_org_creation".into())
        }
        "process_object.json" => get(format!("/v3/processes/{process}")),
        "process_with_embedded_process_instances.json" => {
            get(format!("/v3/processes/{process}?embed=process_instances"))
        }
        "processes_list.json" => get("/v3/processes".into()),
        "process_stats.json" => get(format!("/v3/processes/{process}/stats")),
        "process_instances.json" => get(format!("/v3/processes/{process}/process_instances")),
        "process_health_check.json" => Plan::Get(
            format!("/v3/processes/{process}"),
            Some("/health_check"),
            Exact,
        ),
        "process_readiness_health_check.json" => Plan::Get(
            format!("/v3/apps/{}/processes/web", fx.stopped),
            Some("/readiness_health_check"),
            Exact,
        ),
        // Sent to an app with no deployment in flight (CC refuses web changes during one).
        "process_scale_request.json" => Plan::Send(
            Method::POST,
            format!("/v3/apps/{}/processes/web/actions/scale", fx.stopped),
        ),
        "process_update_request.json" => Plan::Send(
            Method::PATCH,
            format!("/v3/apps/{}/processes/web", fx.stopped),
        ),
        "package_docker_object.json" => get(format!("/v3/packages/{}", fx.package)),
        "packages_list.json" => get("/v3/packages?types=docker".into()),
        "package_docker_create_request.json" => Plan::Send(Method::POST, "/v3/packages".into()),
        "package_update_request.json" => {
            Plan::Send(Method::PATCH, format!("/v3/packages/{}", fx.package))
        }
        "package_bits_object.json" => Plan::Skip("bits packages are not simulated (docker only)"),
        "build_object.json" => get(format!("/v3/apps/{app}/builds")).first(),
        "build_staging_object.json" => Plan::Value(fx.staging_build.clone(), Exact),
        "builds_list.json" => get("/v3/builds?states=STAGING".into()),
        "build_create_request.json" => Plan::Send(Method::POST, "/v3/builds".into()),
        "droplet_object.json" => Plan::Get(format!("/v3/droplets/{}", fx.droplet), None, Exact),
        "droplets_list.json" => get("/v3/droplets".into()),
        "deployment_object.json" => get(format!("/v3/deployments/{}", fx.deployment)),
        "deployments_list.json" => Plan::Get("/v3/deployments".into(), None, Subset),
        "deployment_create_request_droplet.json" | "deployment_create_request_revision.json" => {
            Plan::Send(Method::POST, "/v3/deployments".into())
        }
        "revision_object.json" => get(format!("/v3/revisions/{}", fx.revision)),
        "revisions_list.json" => get(format!("/v3/apps/{app}/revisions")),
        "job_object.json" => get(format!("/v3/jobs/{}", fx.job)),
        "job_failed.json" => Plan::Skip("simulated jobs (app deletes) never fail"),
        "error_example.json" => Plan::Value(fx.unprocessable.clone(), Exact),
        "error_not_found_v3.json" => get("/v3/apps/not-found".into()),
        "warnings_example.json" => Plan::Skip("the simulator emits no warnings"),
        "uaa_token_password_grant_response.json" => Plan::Value(fx.token_response.clone(), Exact),
        "uaa_token_minimal_response.json" => Plan::Value(fx.token_response.clone(), Subset),
        // Real UAA tokens carry more claims (origin, zid, ...) than the doc's example.
        "uaa_access_token_claims.json" => Plan::Value(fx.claims.clone(), Subset),
        "uaa_error_invalid_scope.json" => Plan::Value(fx.invalid_scope.clone(), Exact),
        "manifest_diff_response.json" => Plan::Skip("app manifests are not simulated"),
        "domain_object.json" => Plan::Skip(
            "the example is a private domain; only shared domains are simulated (see domains_list.json)",
        ),
        "domains_list.json" => get("/v3/domains".into()),
        "route_object.json" => get(format!("/v3/routes/{}", fx.route)),
        "routes_list.json" => get("/v3/routes".into()),
        "route_destinations.json" => get(format!("/v3/routes/{}/destinations", fx.route)),
        "route_destination.json" => Plan::Get(
            format!("/v3/routes/{}/destinations", fx.route),
            Some("/destinations/0"),
            Exact,
        ),
        "route_create_request.json" => Plan::Send(Method::POST, "/v3/routes".into()),
        "route_insert_destinations_request.json" => Plan::Send(
            Method::POST,
            format!("/v3/routes/{}/destinations", fx.route),
        ),
        "route_replace_destinations_request.json" => Plan::Send(
            Method::PATCH,
            format!("/v3/routes/{}/destinations", fx.route),
        ),
        "v2_job_failed.json" | "v2_job_queued.json" => {
            Plan::Skip("v2 async jobs are not simulated")
        }
        "v2_app_docker_create_audit_event_request.json" => {
            Plan::Skip("audit events are not simulated")
        }
        f if f.starts_with("v2_") => Plan::V2,
        f if f.ends_with(".yml") => Plan::Skip("app manifests are not simulated"),
        "SOURCES.md" => Plan::Skip("index of the examples"),
        other => {
            panic!("{other}: a new example file; add it to plan_for in tests/it/conformance.rs")
        }
    }
}

impl Plan {
    /// The organization of the space (same request, follow the relationship).
    fn org(self) -> Plan {
        match self {
            Plan::Get(_, p, m) => Plan::Get("ORG".into(), p, m),
            other => other,
        }
    }

    fn first(self) -> Plan {
        match self {
            Plan::Get(path, _, m) => Plan::Get(path, Some("/resources/0"), m),
            other => other,
        }
    }
}

/// Replaces GUID placeholders in a request example with fixture GUIDs, by the nearest
/// relationship key.
fn substitute(v: &mut Value, parent: &str, fx: &Fixture, droplet: &str) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if k == "guid" {
                    let guid = match parent {
                        "space" => fx.space.clone(),
                        "app" => fx.spare_app.clone(),
                        "package" => fx.package.clone(),
                        "revision" => fx.revision.clone(),
                        "domain" => fx.domain.clone(),
                        _ => droplet.to_owned(),
                    };
                    *child = Value::String(guid);
                } else {
                    let next = if k == "data" { parent } else { k.as_str() };
                    substitute(child, next, fx, droplet);
                }
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|i| substitute(i, parent, fx, droplet)),
        _ => {}
    }
}

#[tokio::test]
async fn every_example_matches_the_simulator() {
    let sim = common::start().await;
    let fx = fixture(&sim).await;
    let mut files: Vec<String> = std::fs::read_dir(examples_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut failures = Vec::new();
    let mut checked = 0;
    // Responses first, then the request examples (which change the fixture).
    let plans: Vec<(&String, Plan)> = files.iter().map(|f| (f, plan_for(f, &fx))).collect();
    let (sends, gets): (Vec<_>, Vec<_>) = plans
        .into_iter()
        .partition(|(_, p)| matches!(p, Plan::Send(..)));
    for (file, plan) in gets.into_iter().chain(sends) {
        let text = std::fs::read_to_string(examples_dir().join(file)).unwrap();
        let (actual, mode) = match plan {
            Plan::Skip(_) | Plan::V2 => continue,
            Plan::Value(v, mode) => (v, mode),
            Plan::Send(method, path) => {
                let mut body: Value = serde_json::from_str(&text).unwrap();
                substitute(&mut body, "", &fx, &fx.droplet);
                if file == "app_create_request.json" {
                    body["name"] = json!("created-from-example");
                }
                if file == "deployment_create_request_droplet.json"
                    || file == "deployment_create_request_revision.json"
                {
                    body["relationships"]["app"]["data"]["guid"] = json!(fx.app);
                }
                if file == "app_update_request.json" {
                    body["name"] = json!("bp-renamed");
                }
                if file == "route_create_request.json" {
                    // TCP routes (with a port) are not simulated.
                    body.as_object_mut().unwrap().remove("port");
                }
                if file.starts_with("route_") && file.contains("destinations") {
                    for d in body["destinations"].as_array_mut().unwrap() {
                        d["app"]["guid"] = json!(fx.app);
                    }
                }
                if file == "build_create_request.json" {
                    body["package"]["guid"] = json!(fx.package);
                }
                let resp = sim
                    .call_as(Some(&sim.token), method, &path, Some(body))
                    .await;
                if !resp.status.is_success() {
                    failures.push(format!(
                        "{file}: request rejected with {}: {}",
                        resp.status, resp.body
                    ));
                }
                checked += 1;
                continue;
            }
            Plan::Get(path, pointer, mode) => {
                let path = if path == "ORG" {
                    let space = sim
                        .get(&format!("/v3/spaces/{}", fx.space))
                        .await
                        .expect(200);
                    format!(
                        "/v3/organizations/{}",
                        space["relationships"]["organization"]["data"]["guid"]
                            .as_str()
                            .unwrap()
                    )
                } else {
                    path
                };
                let body = sim.get(&path).await.body;
                let body = match pointer {
                    Some(p) if !p.is_empty() => body.pointer(p).cloned().unwrap_or(Value::Null),
                    _ => body,
                };
                (body, mode)
            }
        };
        let example: Value = serde_json::from_str(&text).unwrap();
        if file == "route_object.json" {
            // The docs' example is a TCP route (with `port`); only HTTP routes are simulated.
            let mut e = example.clone();
            e.as_object_mut().unwrap().remove("port");
            if let Err(diff) = compare(&e, &actual, "$", Mode::Exact) {
                failures.push(format!("{file}: {diff}"));
            }
            checked += 1;
            continue;
        }
        if file == "droplet_object.json" {
            // Docker droplets have no download link (SOURCES.md); everything else must match.
            let mut e = example.clone();
            e["links"].as_object_mut().unwrap().remove("download");
            if let Err(diff) = compare(&e, &actual, "$", Mode::Exact) {
                failures.push(format!("{file}: {diff}"));
            }
            checked += 1;
            continue;
        }
        if actual.is_null() {
            failures.push(format!("{file}: the simulator returned nothing comparable"));
            continue;
        }
        if let Err(diff) = compare(&example, &actual, "$", mode) {
            failures.push(format!("{file}: {diff}"));
        }
        checked += 1;
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} examples differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked >= 50, "only {checked} examples were checked");
}

#[test]
fn compare_detects_missing_and_extra_keys() {
    let e = json!({"a": {"b": 1, "c": [{"d": "x"}]}});
    assert!(
        compare(
            &e,
            &json!({"a": {"b": 2, "c": [{"d": "y"}]}}),
            "$",
            Mode::Exact
        )
        .is_ok()
    );
    assert!(
        compare(
            &e,
            &json!({"a": {"b": 2, "c": [{"e": "y"}]}}),
            "$",
            Mode::Exact
        )
        .is_err()
    );
    assert!(
        compare(
            &e,
            &json!({"a": {"b": 2, "c": [], "z": 1}}),
            "$",
            Mode::Exact
        )
        .is_err()
    );
    // An empty list compares nothing, so it differs from a non-empty example...
    assert!(
        compare(
            &e,
            &json!({"a": {"b": 2, "c": [], "z": 1}}),
            "$",
            Mode::Subset
        )
        .is_err()
    );
    assert!(
        compare(
            &json!({"resources": [{"guid": "x"}]}),
            &json!({"resources": []}),
            "$",
            Mode::Exact
        )
        .is_err()
    );
    // ...except for lists of user data.
    assert!(
        compare(
            &json!({"sidecars": [{"name": "x"}]}),
            &json!({"sidecars": []}),
            "$",
            Mode::Exact
        )
        .is_ok()
    );
    assert!(compare(&e, &json!({"a": {"b": "2", "c": []}}), "$", Mode::Exact).is_err());
}

/// The copy under `tests/cf-api-examples/` is the team's `shared/cf-api-examples/` (next to the
/// checkout on a developer machine): a file added or changed there must reach the copy, where
/// `every_example_matches_the_simulator` then picks it up. A clean CI clone has no `shared/`.
#[test]
fn the_example_copy_matches_the_shared_examples() {
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/cf-api-examples");
    if !shared.is_dir() {
        println!(
            "no {} next to this checkout; nothing to compare",
            shared.display()
        );
        return;
    }
    let read = |dir: &std::path::Path| {
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .map(|p| {
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read(&p).unwrap(),
                )
            })
            .collect();
        files.sort();
        files
    };
    let (theirs, ours) = (read(&shared), read(&examples_dir()));
    let names = |f: &[(String, Vec<u8>)]| f.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&theirs),
        names(&ours),
        "copy the new or removed files into tests/cf-api-examples/"
    );
    for ((name, a), (_, b)) in theirs.iter().zip(&ours) {
        assert!(
            a == b,
            "tests/cf-api-examples/{name} differs from shared/cf-api-examples/{name}"
        );
    }
}
