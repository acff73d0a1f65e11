//! Cloud Foundry CC API v3 reads: the bulk observation of a scope.
//!
//! [`observe`] costs a fixed handful of paged list requests whatever the number of apps:
//! feature flags, spaces (with their orgs), then apps, processes and routes of the
//! scope's spaces (GUID lists chunked), and ACTIVE deployments. Droplets are read only for apps
//! whose current droplet is not the one driftless recorded in its annotations (pushed by hand,
//! unowned, or never deployed by driftless), by GUID. Nothing is read per app.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::{
    cf::{CfError, http::CfHttp},
    model::{
        AppKey, AppName, SpaceKey,
        live::{Live, LiveApp, LiveProcess, MANAGED_LABEL},
    },
    plan::provenance::{DEPLOYED_IMAGE, DROPLET},
};

/// What lists show instead of a process's command.
const HIDDEN_IN_LISTS: &str = "[PRIVATE DATA HIDDEN IN LISTS]";

/// GUIDs per filter value: keeps request URLs well under common 8 KiB limits.
pub const GUIDS_PER_REQUEST: usize = 100;

/// Lists `path` filtered by `filter` = each chunk of `guids` in turn.
async fn list_by(
    cf: &CfHttp,
    path: &str,
    filter: &str,
    guids: &[&str],
    extra: &[(&str, &str)],
) -> Result<Vec<Value>, CfError> {
    let mut all = Vec::new();
    for chunk in guids.chunks(GUIDS_PER_REQUEST) {
        let joined = chunk.join(",");
        let mut query = vec![(filter, joined.as_str())];
        query.extend_from_slice(extra);
        let (items, _) = cf.list(path, &query).await?;
        all.extend(items);
    }
    Ok(all)
}

/// The domain `cf push` puts default routes on: the first shared domain. One request, made only
/// when some app needs a default route (see `reconcile`).
pub async fn default_domain(cf: &CfHttp) -> Result<Option<String>, CfError> {
    let (domains, _) = cf.list("/v3/domains", &[]).await?;
    Ok(domains
        .iter()
        .find(|d| d["relationships"]["organization"]["data"].is_null())
        .and_then(|d| d["name"].as_str())
        .map(str::to_owned))
}

/// Observes every app in the `scope` spaces (owned by driftless or not) and the feature flags.
pub async fn observe(cf: &CfHttp, scope: &BTreeSet<SpaceKey>) -> Result<Live, CfError> {
    let mut live = Live::default();
    let (flags, _) = cf.list("/v3/feature_flags", &[]).await?;
    for flag in &flags {
        if let (Some(name), Some(enabled)) = (flag["name"].as_str(), flag["enabled"].as_bool()) {
            live.feature_flags.insert(name.to_owned(), enabled);
        }
    }
    if scope.is_empty() {
        return Ok(live);
    }
    let names: BTreeSet<&str> = scope.iter().map(|s| s.space.as_str()).collect();
    let names = names.into_iter().collect::<Vec<_>>().join(",");
    let (spaces, included) = cf
        .list(
            "/v3/spaces",
            &[("include", "organization"), ("names", names.as_str())],
        )
        .await?;
    let orgs: BTreeMap<&str, &str> = included["organizations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| Some((o["guid"].as_str()?, o["name"].as_str()?)))
        .collect();
    let mut space_keys: BTreeMap<String, SpaceKey> = BTreeMap::new();
    for space in &spaces {
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
    let space_guids: Vec<&str> = space_keys.keys().map(String::as_str).collect();
    let apps = list_by(cf, "/v3/apps", "space_guids", &space_guids, &[]).await?;
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
        let annotations = strings(&app["metadata"]["annotations"]);
        let owned = labels.get(MANAGED_LABEL).is_some_and(|v| v == "true");
        let droplet = app["relationships"]["current_droplet"]["data"]["guid"]
            .as_str()
            .map(str::to_owned);
        // The droplet driftless deployed is still current: its image is on record.
        let image = match (&droplet, annotations.get(DROPLET)) {
            (Some(current), Some(recorded)) if owned && current == recorded => {
                annotations.get(DEPLOYED_IMAGE).cloned()
            }
            _ => None,
        };
        let live_app = LiveApp {
            guid: guid.to_owned(),
            started: app["state"] == "STARTED",
            updated_at: app["updated_at"].as_str().unwrap_or_default().to_owned(),
            owned,
            labels,
            annotations,
            image,
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
    // Each list is dropped once read: the peak is one resource type's JSON, not all of them.
    drop(apps);

    let processes = list_by(cf, "/v3/processes", "space_guids", &space_guids, &[]).await?;
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
    drop(processes);

    // Droplets only where the annotations do not already tell the image.
    let unknown: Vec<&str> = by_guid
        .values()
        .filter(|(_, app, _)| app.image.is_none())
        .filter_map(|(_, _, droplet)| droplet.as_deref())
        .collect();
    if !unknown.is_empty() {
        // A few: by GUID. Many (a foundation driftless has not deployed to yet): the staged
        // droplets of the spaces, in pages of 5000, old ones included, beats a request per
        // hundred apps.
        let droplets = if unknown.len() <= GUIDS_PER_REQUEST {
            list_by(cf, "/v3/droplets", "guids", &unknown, &[]).await?
        } else {
            list_by(
                cf,
                "/v3/droplets",
                "space_guids",
                &space_guids,
                &[("states", "STAGED")],
            )
            .await?
        };
        let images: BTreeMap<String, String> = droplets
            .iter()
            .filter_map(|d| {
                Some((
                    d["guid"].as_str()?.to_owned(),
                    d["image"].as_str()?.to_owned(),
                ))
            })
            .collect();
        for (_, app, droplet) in by_guid.values_mut() {
            if app.image.is_none() {
                app.image = droplet.as_deref().and_then(|d| images.get(d)).cloned();
            }
        }
    }

    let routes = list_by(cf, "/v3/routes", "space_guids", &space_guids, &[]).await?;
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
    drop(routes);

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
