//! v3 rollouts: package -> build -> deployment (or droplet + start), restarts, routes, jobs.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::Method;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::V3;
use crate::{
    cf::{
        CfError,
        http::Answer,
        platform::{Deadline, ImageSource, RolledOut},
        poll::until_done,
    },
    model::Strategy,
};

pub(super) fn guid_of(value: &Value, method: &str, path: &str) -> Result<String, CfError> {
    value["guid"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| CfError::Protocol {
            method: method.into(),
            path: path.into(),
            detail: "the answer has no guid".into(),
        })
}

/// Stages `image` and rolls it out.
pub(super) async fn deploy_image(
    v3: &V3,
    app_guid: &str,
    image: &ImageSource,
    strategy: Strategy,
    deadline: Deadline,
) -> Result<RolledOut, CfError> {
    let until = Instant::now() + deadline.0;
    let app = v3.cf.get(&format!("/v3/apps/{app_guid}")).await?;
    let started = app["state"] == "STARTED";
    let previous = app_droplet(v3, app_guid).await?;

    let mut data = serde_json::Map::new();
    data.insert("image".into(), json!(image.reference));
    if let (Some(username), Some(password)) = (&image.username, &image.password) {
        data.insert("username".into(), json!(username));
        // The only place the registry password leaves memory: the package body, over TLS.
        data.insert("password".into(), json!(password.expose()));
    }
    let secrets: Vec<&crate::secret::Secret> = image.password.iter().collect();
    let package = v3
        .cf
        .request_redacted(
            Method::POST,
            "/v3/packages",
            Some(&json!({
                "type": "docker",
                "relationships": { "app": { "data": { "guid": app_guid } } },
                "data": data,
            })),
            &secrets,
        )
        .await?
        .body;
    let package = guid_of(&package, "POST", "/v3/packages")?;
    let build = v3
        .post("/v3/builds", &json!({ "package": { "guid": package } }))
        .await?;
    let build = guid_of(&build, "POST", "/v3/builds")?;
    let build_path = format!("/v3/builds/{build}");
    let droplet = until_done(&v3.poll, "staging", until, || async {
        let build = v3.cf.get(&build_path).await?;
        match build["state"].as_str() {
            Some("STAGED") => Ok(build["droplet"]["guid"].as_str().map(str::to_owned)),
            Some("FAILED") => Err(CfError::Failed {
                what: "staging".into(),
                reason: build["error"]
                    .as_str()
                    .unwrap_or("the build failed")
                    .to_owned(),
            }),
            _ => Ok(None),
        }
    })
    .await?;

    if started && strategy != Strategy::Restart {
        deploy(v3, app_guid, Some(&droplet), strategy, until).await?;
    } else {
        set_droplet(v3, app_guid, &droplet).await?;
        let action = if started { "restart" } else { "start" };
        v3.post(&format!("/v3/apps/{app_guid}/actions/{action}"), &json!({}))
            .await?;
        if let Err(error) = wait_running(v3, app_guid, until).await {
            restore(v3, app_guid, started, previous.as_deref()).await;
            return Err(error);
        }
    }
    Ok(RolledOut {
        droplet: Some(droplet),
        updated_at: None,
    })
}

/// Restarts the current droplet so env and process changes take effect (it stays current, so
/// `RolledOut::droplet` is `None`, as on v2).
/// `started`: whether the app runs, when the caller knows (else it is read).
pub(super) async fn restart(
    v3: &V3,
    app_guid: &str,
    strategy: Strategy,
    deadline: Deadline,
    started: Option<bool>,
) -> Result<RolledOut, CfError> {
    let until = Instant::now() + deadline.0;
    let started = match started {
        Some(started) => started,
        None => v3.cf.get(&format!("/v3/apps/{app_guid}")).await?["state"] == "STARTED",
    };
    if started && strategy != Strategy::Restart {
        deploy(v3, app_guid, None, strategy, until).await?;
    } else {
        let action = if started { "restart" } else { "start" };
        v3.post(&format!("/v3/apps/{app_guid}/actions/{action}"), &json!({}))
            .await?;
        wait_running(v3, app_guid, until).await?;
    }
    // The current droplet is the one that was current: no request to read it back.
    Ok(RolledOut {
        droplet: None,
        updated_at: None,
    })
}

/// Creates a deployment (of `droplet`, else of the current droplet) and follows it.
async fn deploy(
    v3: &V3,
    app_guid: &str,
    droplet: Option<&str>,
    strategy: Strategy,
    until: Instant,
) -> Result<(), CfError> {
    let mut body = json!({
        "strategy": strategy_name(strategy),
        "relationships": { "app": { "data": { "guid": app_guid } } },
    });
    if let Some(droplet) = droplet {
        body["droplet"] = json!({ "guid": droplet });
    }
    let deployment = v3.post("/v3/deployments", &body).await?;
    let deployment = guid_of(&deployment, "POST", "/v3/deployments")?;
    follow_deployment(v3, &deployment, until).await
}

fn strategy_name(strategy: Strategy) -> &'static str {
    match strategy {
        Strategy::Canary => "canary",
        Strategy::Rolling | Strategy::Restart => "rolling",
    }
}

async fn app_droplet(v3: &V3, app_guid: &str) -> Result<Option<String>, CfError> {
    let rel = v3
        .cf
        .get(&format!(
            "/v3/apps/{app_guid}/relationships/current_droplet"
        ))
        .await?;
    Ok(rel["data"]["guid"].as_str().map(str::to_owned))
}

async fn set_droplet(v3: &V3, app_guid: &str, droplet: &str) -> Result<(), CfError> {
    v3.patch(
        &format!("/v3/apps/{app_guid}/relationships/current_droplet"),
        &json!({ "data": { "guid": droplet } }),
    )
    .await
    .map(drop)
}

/// After a failed start: a new app is stopped (it would only crash); a restarted one gets its
/// previous droplet back. Best effort: the rollout's own error is what gets reported.
async fn restore(v3: &V3, app_guid: &str, was_started: bool, previous: Option<&str>) {
    let result = async {
        match (was_started, previous) {
            (true, Some(previous)) => {
                set_droplet(v3, app_guid, previous).await?;
                v3.post(&format!("/v3/apps/{app_guid}/actions/restart"), &json!({}))
                    .await
                    .map(drop)
            }
            _ => v3
                .post(&format!("/v3/apps/{app_guid}/actions/stop"), &json!({}))
                .await
                .map(drop),
        }
    }
    .await;
    if let Err(error) = result {
        tracing::warn!(app = app_guid, %error, "Could not restore the app after a failed start.");
    }
}

/// Waits for every `web` instance to run; a crashed instance fails at once.
async fn wait_running(v3: &V3, app_guid: &str, until: Instant) -> Result<(), CfError> {
    let path = format!("/v3/apps/{app_guid}/processes/web/stats");
    until_done(&v3.poll, "start", until, || async {
        let stats = v3.cf.get(&path).await?;
        instances_state(&stats)
    })
    .await
}

/// `Some(())` when every instance runs, an error when one crashed, `None` while starting.
fn instances_state(stats: &Value) -> Result<Option<()>, CfError> {
    let instances = stats["resources"].as_array().cloned().unwrap_or_default();
    if let Some(crashed) = instances.iter().find(|i| i["state"] == "CRASHED") {
        return Err(CfError::Failed {
            what: "start".into(),
            reason: format!(
                "instance crashed: {}",
                crashed["details"].as_str().unwrap_or("no details")
            ),
        });
    }
    // No instances (scaled to zero) is as running as it gets.
    Ok(instances
        .iter()
        .all(|i| i["state"] == "RUNNING")
        .then_some(()))
}

/// Follows a deployment to DEPLOYED: continues a paused canary once its instances run, and
/// cancels (Cloud Foundry then restores the previous droplet) when new instances crash or the
/// deadline passes.
async fn follow_deployment(v3: &V3, deployment: &str, until: Instant) -> Result<(), CfError> {
    let path = format!("/v3/deployments/{deployment}");
    let outcome = until_done(&v3.poll, "deployment", until, || async {
        let d = v3.cf.get(&path).await?;
        let value = d["status"]["value"].as_str().unwrap_or_default();
        let reason = d["status"]["reason"].as_str().unwrap_or_default();
        if value == "FINALIZED" {
            return if reason == "DEPLOYED" {
                Ok(Some(()))
            } else {
                Err(CfError::Failed {
                    what: "deployment".into(),
                    reason: format!("finalized as {reason}"),
                })
            };
        }
        for process in d["new_processes"].as_array().into_iter().flatten() {
            let Some(guid) = process["guid"].as_str() else {
                continue;
            };
            let stats = v3.cf.get(&format!("/v3/processes/{guid}/stats")).await?;
            let healthy = instances_state(&stats)?;
            if reason == "PAUSED" && healthy.is_some() {
                v3.post(&format!("{path}/actions/continue"), &json!({}))
                    .await?;
            }
        }
        Ok(None)
    })
    .await;
    if outcome.is_err()
        && let Err(error) = v3.post(&format!("{path}/actions/cancel"), &json!({})).await
    {
        tracing::warn!(deployment, %error, "Could not cancel a failed deployment.");
    }
    outcome
}

/// Waits for the job an answer points at (`202` + `Location`); other answers are done.
pub(super) async fn await_job(
    v3: &V3,
    method: &str,
    path: &str,
    answer: &Answer,
) -> Result<(), CfError> {
    let Some(location) = answer
        .headers
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(());
    };
    let job_path = location
        .strip_prefix(v3.cf.api())
        .unwrap_or(location)
        .to_owned();
    if !job_path.starts_with('/') {
        return Err(CfError::Protocol {
            method: method.into(),
            path: path.into(),
            detail: "the job is on another host".into(),
        });
    }
    let until = Instant::now() + v3.poll.job_deadline;
    until_done(&v3.poll, "job", until, || async {
        let job = v3.cf.get(&job_path).await?;
        match job["state"].as_str() {
            Some("COMPLETE") => Ok(Some(())),
            Some("FAILED") => Err(CfError::Failed {
                what: format!("{method} {path}"),
                reason: job["errors"][0]["detail"]
                    .as_str()
                    .unwrap_or("the job failed")
                    .to_owned(),
            }),
            _ => Ok(None),
        }
    })
    .await
}

/// Makes exactly `routes` (URLs `host.domain[/path]`) point at the app.
pub(super) async fn set_routes(
    v3: &V3,
    app_guid: &str,
    space_guid: &str,
    routes: &BTreeSet<String>,
) -> Result<(), CfError> {
    let (current, _) = v3
        .cf
        .list(&format!("/v3/apps/{app_guid}/routes"), &[])
        .await?;
    let mut have: BTreeMap<String, &Value> = BTreeMap::new();
    for route in &current {
        if let Some(url) = route["url"].as_str() {
            have.insert(url.to_ascii_lowercase(), route);
        }
    }
    for (url, route) in &have {
        if routes.contains(url) {
            continue;
        }
        let Some(route_guid) = route["guid"].as_str() else {
            continue;
        };
        for destination in route["destinations"].as_array().into_iter().flatten() {
            if destination["app"]["guid"] == app_guid
                && let Some(d) = destination["guid"].as_str()
            {
                v3.cf
                    .request(
                        Method::DELETE,
                        &format!("/v3/routes/{route_guid}/destinations/{d}"),
                        None,
                    )
                    .await?;
            }
        }
    }
    let missing: Vec<&String> = routes.iter().filter(|r| !have.contains_key(*r)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let (domains, _) = v3.cf.list("/v3/domains", &[]).await?;
    for url in missing {
        let route_guid = find_or_create_route(v3, space_guid, &domains, url).await?;
        v3.post(
            &format!("/v3/routes/{route_guid}/destinations"),
            &json!({ "destinations": [ { "app": { "guid": app_guid } } ] }),
        )
        .await?;
    }
    Ok(())
}

/// Splits `host.domain[/path]` on the longest known domain.
fn split_route<'a>(url: &'a str, domains: &'a [Value]) -> Option<(&'a str, &'a Value, &'a str)> {
    let (authority, path) = match url.find('/') {
        Some(i) => (&url[..i], &url[i..]),
        None => (url, ""),
    };
    domains
        .iter()
        .filter_map(|d| {
            let name = d["name"].as_str()?;
            let host = if authority.eq_ignore_ascii_case(name) {
                ""
            } else {
                let cut = authority.len().checked_sub(name.len() + 1)?;
                let (host, rest) = authority.split_at(cut);
                (rest.len() == name.len() + 1 && rest[1..].eq_ignore_ascii_case(name))
                    .then_some(host)?
            };
            Some((host, d, path, name.len()))
        })
        .max_by_key(|(_, _, _, len)| *len)
        .map(|(host, d, path, _)| (host, d, path))
}

async fn find_or_create_route(
    v3: &V3,
    space_guid: &str,
    domains: &[Value],
    url: &str,
) -> Result<String, CfError> {
    let Some((host, domain, path)) = split_route(url, domains) else {
        return Err(CfError::Failed {
            what: format!("route {url}"),
            reason: "no domain of the foundation matches".into(),
        });
    };
    let domain_guid = domain["guid"].as_str().unwrap_or_default();
    let (found, _) = v3
        .cf
        .list(
            "/v3/routes",
            &[
                ("domain_guids", domain_guid),
                ("hosts", host),
                ("paths", path),
            ],
        )
        .await?;
    if let Some(route) = found.first() {
        return guid_of(route, "GET", "/v3/routes");
    }
    let mut body = json!({
        "host": host,
        "relationships": {
            "domain": { "data": { "guid": domain_guid } },
            "space": { "data": { "guid": space_guid } },
        },
    });
    if !path.is_empty() {
        body["path"] = json!(path);
    }
    let route = v3.post("/v3/routes", &body).await?;
    guid_of(&route, "POST", "/v3/routes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_split_on_the_longest_domain() {
        let domains = vec![
            json!({"guid": "d1", "name": "example.com"}),
            json!({"guid": "d2", "name": "apps.example.com"}),
        ];
        let (host, domain, path) = split_route("web.apps.example.com/api", &domains).unwrap();
        assert_eq!(
            (host, domain["guid"].as_str(), path),
            ("web", Some("d2"), "/api")
        );
        let (host, domain, path) = split_route("apps.example.com", &domains).unwrap();
        assert_eq!((host, domain["guid"].as_str(), path), ("", Some("d2"), ""));
        assert!(split_route("web.other.org", &domains).is_none());
    }

    #[test]
    fn instance_states_read_running_starting_and_crashed() {
        let running = json!({"resources": [{"state": "RUNNING"}, {"state": "RUNNING"}]});
        assert_eq!(instances_state(&running).unwrap(), Some(()));
        let starting = json!({"resources": [{"state": "RUNNING"}, {"state": "STARTING"}]});
        assert_eq!(instances_state(&starting).unwrap(), None);
        let crashed = json!({"resources": [{"state": "CRASHED", "details": "health check"}]});
        let error = instances_state(&crashed).unwrap_err().to_string();
        assert!(error.contains("health check"), "{error}");
        assert_eq!(
            instances_state(&json!({"resources": []})).unwrap(),
            Some(())
        );
    }
}
