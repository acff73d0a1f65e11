//! Cloud Foundry CC API v3 reads: the bulk observation of a scope.
//!
//! [`observe`] costs a fixed handful of paged list requests whatever the number of apps: apps
//! (with `include=space.organization`), processes, droplets, routes (each by `space_guids`),
//! ACTIVE deployments, feature flags. Nothing is read per app.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::cf::{CfError, http::CfHttp};
use crate::model::{
    AppKey, AppName, SpaceKey,
    live::{Live, LiveApp, LiveProcess, MANAGED_LABEL},
};

/// What lists show instead of a process's command.
const HIDDEN_IN_LISTS: &str = "[PRIVATE DATA HIDDEN IN LISTS]";

/// Observes every app in the `scope` spaces (owned by driftless or not) and the feature flags.
pub async fn observe(cf: &CfHttp, scope: &BTreeSet<SpaceKey>) -> Result<Live, CfError> {
    let mut live = Live::default();
    let (flags, _) = cf.list("/v3/feature_flags", &[]).await?;
    for flag in &flags {
        if let (Some(name), Some(enabled)) = (flag["name"].as_str(), flag["enabled"].as_bool()) {
            live.feature_flags.insert(name.to_owned(), enabled);
        }
    }
    let (domains, _) = cf.list("/v3/domains", &[]).await?;
    live.default_domain = domains
        .iter()
        .find(|d| d["relationships"]["organization"]["data"].is_null())
        .and_then(|d| d["name"].as_str())
        .map(str::to_owned);
    let (apps, included) = cf
        .list("/v3/apps", &[("include", "space.organization")])
        .await?;
    let orgs: BTreeMap<&str, &str> = included["organizations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| Some((o["guid"].as_str()?, o["name"].as_str()?)))
        .collect();
    let mut space_keys: BTreeMap<String, SpaceKey> = BTreeMap::new();
    for space in included["spaces"].as_array().into_iter().flatten() {
        let (Some(guid), Some(name)) = (space["guid"].as_str(), space["name"].as_str()) else {
            continue;
        };
        let org = space["relationships"]["organization"]["data"]["guid"]
            .as_str()
            .and_then(|g| orgs.get(g));
        let Some(org) = org else { continue };
        let key = SpaceKey {
            org: (*org).to_owned(),
            space: name.to_owned(),
        };
        if scope.contains(&key) {
            live.spaces.insert(key.clone(), guid.to_owned());
            space_keys.insert(guid.to_owned(), key);
        }
    }
    if space_keys.is_empty() {
        return Ok(live);
    }
    let mut by_guid: BTreeMap<String, (AppKey, LiveApp, Option<String>)> = BTreeMap::new();
    for app in &apps {
        let space = app["relationships"]["space"]["data"]["guid"]
            .as_str()
            .and_then(|g| space_keys.get(g));
        let (Some(space), Some(guid), Some(name)) =
            (space, app["guid"].as_str(), app["name"].as_str())
        else {
            continue;
        };
        let labels = strings(&app["metadata"]["labels"]);
        let owned = labels.get(MANAGED_LABEL).is_some_and(|v| v == "true");
        let droplet = app["relationships"]["current_droplet"]["data"]["guid"]
            .as_str()
            .map(str::to_owned);
        let live_app = LiveApp {
            guid: guid.to_owned(),
            started: app["state"] == "STARTED",
            updated_at: app["updated_at"].as_str().unwrap_or_default().to_owned(),
            owned,
            labels,
            annotations: strings(&app["metadata"]["annotations"]),
            image: None,
            processes: BTreeMap::new(),
            routes: BTreeSet::new(),
            deployment: None,
            env: None,
        };
        let key = AppKey {
            space: space.clone(),
            name: AppName::new(name),
        };
        by_guid.insert(guid.to_owned(), (key, live_app, droplet));
    }
    let spaces = space_keys.keys().cloned().collect::<Vec<_>>().join(",");
    let scoped = [("space_guids", spaces.as_str())];

    let (processes, _) = cf.list("/v3/processes", &scoped).await?;
    for p in &processes {
        let Some((_, app, _)) = p["relationships"]["app"]["data"]["guid"]
            .as_str()
            .and_then(|g| by_guid.get_mut(g))
        else {
            continue;
        };
        let Some(kind) = p["type"].as_str() else {
            continue;
        };
        app.processes.insert(
            kind.to_owned(),
            LiveProcess {
                guid: p["guid"].as_str().unwrap_or_default().to_owned(),
                instances: p["instances"]
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .unwrap_or(0),
                memory_mb: p["memory_in_mb"].as_u64().unwrap_or(0),
                disk_mb: p["disk_in_mb"].as_u64().unwrap_or(0),
                health_check_type: p["health_check"]["type"]
                    .as_str()
                    .unwrap_or("port")
                    .to_owned(),
                health_check_endpoint: p["health_check"]["data"]["endpoint"]
                    .as_str()
                    .map(str::to_owned),
                timeout: p["health_check"]["data"]["timeout"]
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok()),
                command: p["command"]
                    .as_str()
                    .filter(|c| *c != HIDDEN_IN_LISTS)
                    .map(str::to_owned),
                updated_at: p["updated_at"].as_str().unwrap_or_default().to_owned(),
            },
        );
    }

    let (droplets, _) = cf
        .list(
            "/v3/droplets",
            &[("space_guids", spaces.as_str()), ("states", "STAGED")],
        )
        .await?;
    let images: BTreeMap<&str, &str> = droplets
        .iter()
        .filter_map(|d| Some((d["guid"].as_str()?, d["image"].as_str()?)))
        .collect();
    for (_, app, droplet) in by_guid.values_mut() {
        app.image = droplet
            .as_deref()
            .and_then(|d| images.get(d))
            .map(|i| (*i).to_owned());
    }

    let (routes, _) = cf.list("/v3/routes", &scoped).await?;
    for route in &routes {
        let Some(url) = route["url"].as_str() else {
            continue;
        };
        for destination in route["destinations"].as_array().into_iter().flatten() {
            if let Some((_, app, _)) = destination["app"]["guid"]
                .as_str()
                .and_then(|g| by_guid.get_mut(g))
            {
                app.routes.insert(url.to_owned());
            }
        }
    }

    let (deployments, _) = cf
        .list("/v3/deployments", &[("status_values", "ACTIVE")])
        .await?;
    for d in &deployments {
        if let Some((_, app, _)) = d["relationships"]["app"]["data"]["guid"]
            .as_str()
            .and_then(|g| by_guid.get_mut(g))
        {
            app.deployment = d["guid"].as_str().map(str::to_owned);
        }
    }

    live.apps = by_guid
        .into_values()
        .map(|(key, app, _)| (key, app))
        .collect();
    Ok(live)
}

/// A metadata map (`{key: value | null}`) as strings; nulls dropped.
fn strings(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
        .collect()
}
