//! Executing a plan: exactly its work, per change, with bounded concurrency and isolation.
//!
//! Feature flags go first (in order: `diego_docker` must be on before docker apps are created),
//! then every app change runs concurrently, at most `concurrency` at a time; one failure never
//! stops another. Before a change that starts instances, the image is resolved again in its
//! registry with the credentials Cloud Foundry will use (the registry must be reachable when
//! an instance starts); unreachable or moved since the plan: the change is blocked and the
//! running app is left alone. Before changing an existing app, its `updated_at` is compared
//! with the plan's observation: moved means the plan is stale for it and the change fails.
//!
//! A rollout that fails is cancelled by the platform (the previous droplet keeps running); the
//! env and scale it changed are restored here, and the failed `(revision, digest)` is recorded
//! in an annotation so it is not retried until git moves. Provenance annotations are written
//! last, only after the rollout succeeded.

use std::{
    collections::{BTreeMap, BTreeSet},
    future::Future,
};

use futures_util::{StreamExt as _, stream};

use crate::{
    cf::{
        CfError,
        platform::{Deadline, ImageSource, MetadataPatch, Platform},
    },
    model::ImageRef,
    plan::{
        Action, AppWork, ChangeResult, Outcome, Plan, Work,
        provenance::{DEPLOYED_IMAGE, DIGEST, DROPLET, FAILED_ROLLOUT},
    },
    registry::RegistryError,
    secret::Credentials,
};

/// Resolves an image's tag to the digest its registry serves now (the preflight's question).
pub trait ImageResolver: Send + Sync {
    fn resolve(
        &self,
        image: &ImageRef,
    ) -> impl Future<Output = Result<String, RegistryError>> + Send;
}

/// How apply runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApplyOptions {
    /// App changes in flight at once (`--concurrency`).
    pub concurrency: usize,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions { concurrency: 8 }
    }
}

/// Applies `plan`; one result per change, in the plan's order.
pub async fn apply<P: Platform, R: ImageResolver>(
    platform: &P,
    resolver: &R,
    credentials: &BTreeMap<String, Credentials>,
    plan: &Plan,
    options: &ApplyOptions,
) -> Vec<ChangeResult> {
    let mut results: Vec<Option<ChangeResult>> = vec![None; plan.changes.len()];
    if let Some(refused) = &plan.refused {
        return plan
            .changes
            .iter()
            .map(|_| ChangeResult {
                outcome: Outcome::Skipped,
                error: Some(format!("plan refused: {refused}")),
            })
            .collect();
    }
    let mut apps = Vec::new();
    for (i, change) in plan.changes.iter().enumerate() {
        match (&change.action, &change.work) {
            (Action::Blocked, _) => {
                results[i] = Some(ChangeResult {
                    outcome: Outcome::Blocked,
                    error: Some(change.reason.clone()),
                });
            }
            (_, Work::SetFlag { name, enabled }) => {
                let result = platform.set_feature_flag(name, *enabled).await;
                results[i] = Some(outcome_of(&change.target.to_string(), result));
            }
            (_, Work::Nothing) => {
                results[i] = Some(ChangeResult {
                    outcome: Outcome::Skipped,
                    error: None,
                });
            }
            _ => apps.push(i),
        }
    }
    let done: Vec<(usize, ChangeResult)> = stream::iter(apps)
        .map(|i| async move {
            let change = &plan.changes[i];
            let target = change.target.to_string();
            tracing::info!(
                target,
                action = change.action.as_str(),
                rollout = change.rollout.as_str(),
                "Applying."
            );
            let result = match &change.work {
                Work::Create(work) => create(platform, resolver, credentials, work).await,
                Work::Update(work) => update(platform, resolver, credentials, work).await,
                Work::Delete {
                    guid,
                    observed_updated_at,
                } => delete(platform, guid, observed_updated_at).await,
                Work::Nothing | Work::SetFlag { .. } => Ok(()),
            };
            let result = match result {
                Ok(()) => ChangeResult {
                    outcome: Outcome::Applied,
                    error: None,
                },
                Err(Refusal::Blocked(reason)) => ChangeResult {
                    outcome: Outcome::Blocked,
                    error: Some(reason),
                },
                Err(Refusal::Failed(error)) => ChangeResult {
                    outcome: Outcome::Failed,
                    error: Some(error),
                },
            };
            log_result(&target, &result);
            (i, result)
        })
        .buffer_unordered(options.concurrency.max(1))
        .collect()
        .await;
    for (i, result) in done {
        results[i] = Some(result);
    }
    results
        .into_iter()
        .map(|r| {
            r.unwrap_or(ChangeResult {
                outcome: Outcome::Skipped,
                error: None,
            })
        })
        .collect()
}

fn log_result(target: &str, result: &ChangeResult) {
    match (&result.outcome, &result.error) {
        (Outcome::Applied, _) => tracing::info!(target, "Applied."),
        (outcome, Some(error)) => {
            tracing::warn!(target, outcome = outcome.as_str(), %error, "Not applied.")
        }
        (outcome, None) => tracing::info!(target, outcome = outcome.as_str(), "Not applied."),
    }
}

fn outcome_of(target: &str, result: Result<(), CfError>) -> ChangeResult {
    let result = match result {
        Ok(()) => ChangeResult {
            outcome: Outcome::Applied,
            error: None,
        },
        Err(error) => ChangeResult {
            outcome: Outcome::Failed,
            error: Some(error.to_string()),
        },
    };
    log_result(target, &result);
    result
}

/// Why a change did not go through.
enum Refusal {
    /// Not attempted: the running app is left as it was.
    Blocked(String),
    /// Attempted and failed (rolled back where it could be).
    Failed(String),
}

impl From<CfError> for Refusal {
    fn from(error: CfError) -> Self {
        Refusal::Failed(error.to_string())
    }
}

/// The preflight just before instances start: the image resolves, to the planned digest.
async fn preflight<R: ImageResolver>(
    resolver: &R,
    written: &str,
    planned: Option<&str>,
) -> Result<(), Refusal> {
    let image =
        ImageRef::parse(written).map_err(|e| Refusal::Blocked(format!("image {written}: {e}")))?;
    let digest = resolver
        .resolve(&image)
        .await
        .map_err(|e| Refusal::Blocked(format!("preflight: {e}; the running app is left alone")))?;
    match planned {
        Some(planned) if planned != digest => Err(Refusal::Blocked(format!(
            "preflight: {written} moved since the plan ({planned} -> {digest}); plan again"
        ))),
        _ => Ok(()),
    }
}

fn image_source(
    work: &crate::plan::ImageWork,
    credentials: &BTreeMap<String, Credentials>,
) -> ImageSource {
    let found = credentials
        .iter()
        .find(|(host, _)| host.eq_ignore_ascii_case(&work.registry))
        .map(|(_, c)| c);
    ImageSource {
        reference: work.reference.clone(),
        username: found
            .map(|c| c.username.clone())
            .or_else(|| work.username.clone()),
        password: found.map(|c| c.password.clone()),
    }
}

fn deadline(work: &AppWork) -> Deadline {
    let web = work.spec.processes.get("web");
    Deadline::for_rollout(web.and_then(|p| p.timeout), web.map_or(1, |p| p.instances))
}

/// The desired labels and annotations, the failed-rollout mark cleared, and (after a deploy)
/// the droplet now current with the reference it runs.
fn full_metadata(work: &AppWork, droplet: Option<&str>) -> MetadataPatch {
    let deployed = droplet.zip(work.image.as_ref()).map(|(droplet, image)| {
        [
            (DROPLET.to_owned(), Some(droplet.to_owned())),
            (DEPLOYED_IMAGE.to_owned(), Some(image.reference.clone())),
        ]
    });
    MetadataPatch {
        labels: work
            .spec
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), Some(v.clone())))
            .collect(),
        annotations: work
            .spec
            .annotations
            .iter()
            .map(|(k, v)| (k.clone(), Some(v.clone())))
            .chain([(FAILED_ROLLOUT.to_owned(), None)])
            .chain(deployed.into_iter().flatten())
            .collect(),
    }
}

async fn create<P: Platform, R: ImageResolver>(
    platform: &P,
    resolver: &R,
    credentials: &BTreeMap<String, Credentials>,
    work: &AppWork,
) -> Result<(), Refusal> {
    let Some(image) = &work.image else {
        return Err(Refusal::Failed("a new app needs an image".into()));
    };
    preflight(resolver, &image.written, image.digest.as_deref()).await?;
    let guid = platform.create_app(&work.spec).await?;
    let source = image_source(image, credentials);
    match platform
        .deploy_image(&guid, &source, work.strategy, deadline(work))
        .await
    {
        Ok(out) => {
            platform
                .set_metadata(&guid, &full_metadata(work, out.droplet.as_deref()))
                .await?;
            if let Some(routes) = &work.routes {
                platform
                    .set_routes(&guid, &work.spec.space_guid, routes)
                    .await?;
            }
            Ok(())
        }
        Err(error) => {
            record_failure(platform, &guid, work).await;
            Err(error.into())
        }
    }
}

async fn update<P: Platform, R: ImageResolver>(
    platform: &P,
    resolver: &R,
    credentials: &BTreeMap<String, Credentials>,
    work: &AppWork,
) -> Result<(), Refusal> {
    let Some(guid) = work.guid.as_deref() else {
        return Err(Refusal::Failed("an update without the app's guid".into()));
    };
    stale_check(platform, guid, work.observed_updated_at.as_deref()).await?;
    let scales_up = work.scale.iter().any(|kind| {
        let desired = work.spec.processes.get(kind).map_or(0, |p| p.instances);
        let before = work
            .previous
            .as_ref()
            .and_then(|p| p.processes.get(kind))
            .map_or(0, |p| p.instances);
        desired > before
    });
    let starts = work.image.is_some() || work.restart || work.start || scales_up;
    if starts {
        let (written, digest) = match &work.image {
            Some(image) => (image.written.clone(), image.digest.clone()),
            None => (
                work.spec
                    .annotations
                    .get(crate::plan::provenance::IMAGE)
                    .cloned()
                    .unwrap_or_default(),
                work.spec.annotations.get(DIGEST).cloned(),
            ),
        };
        if !written.is_empty() {
            preflight(resolver, &written, digest.as_deref()).await?;
        }
    }

    // The env before the change: as observed, else (compared by hash, so never read) as it
    // is now. The patch starts from it, and a failed rollout restores it.
    let env_before = if work.env {
        let before = match work.previous.as_ref().and_then(|p| p.env.clone()) {
            Some(env) => env,
            None => platform.read_env(guid).await?,
        };
        platform
            .set_env_known(guid, &work.spec.env, &before)
            .await?;
        Some(before)
    } else {
        None
    };
    for kind in &work.update_processes {
        if let Some(target) = work.spec.processes.get(kind) {
            platform.update_process(guid, kind, target).await?;
        }
    }
    for kind in &work.scale {
        if let Some(target) = work.spec.processes.get(kind)
            && let Err(error) = platform.scale(guid, kind, target).await
        {
            restore(platform, guid, work, env_before.as_ref()).await;
            return Err(error.into());
        }
    }
    let rolled = if let Some(image) = &work.image {
        let source = image_source(image, credentials);
        Some(
            platform
                .deploy_image(guid, &source, work.strategy, deadline(work))
                .await
                .map(|out| out.droplet),
        )
    } else if work.restart {
        Some(
            platform
                .restart_known(guid, work.strategy, deadline(work), !work.start)
                .await
                .map(|_| None),
        )
    } else if work.start {
        Some(platform.start(guid).await.map(|()| None))
    } else {
        None
    };
    let droplet = match rolled {
        Some(Err(error)) => {
            restore(platform, guid, work, env_before.as_ref()).await;
            record_failure(platform, guid, work).await;
            return Err(error.into());
        }
        Some(Ok(droplet)) => droplet,
        None => None,
    };
    if let Some(routes) = &work.routes {
        platform
            .set_routes(guid, &work.spec.space_guid, routes)
            .await?;
    }
    // Provenance last: it says what runs, so only after it runs.
    platform
        .set_metadata(guid, &full_metadata(work, droplet.as_deref()))
        .await?;
    Ok(())
}

async fn stale_check<P: Platform>(
    platform: &P,
    guid: &str,
    observed: Option<&str>,
) -> Result<(), Refusal> {
    let now = platform.app_stamp(guid).await?;
    match (now.as_deref(), observed) {
        (None, _) => Err(Refusal::Failed(
            "stale plan: the app was deleted since it was observed".into(),
        )),
        (Some(now), Some(observed)) if now != observed => Err(Refusal::Failed(format!(
            "stale plan: the app changed since it was observed ({observed} -> {now}); plan again"
        ))),
        _ => Ok(()),
    }
}

async fn delete<P: Platform>(platform: &P, guid: &str, observed: &str) -> Result<(), Refusal> {
    stale_check(platform, guid, Some(observed)).await?;
    platform.delete_app(guid).await?;
    Ok(())
}

/// After a failed rollout: the env (`env_before`, when apply changed it) and the processes
/// apply changed go back to what ran.
async fn restore<P: Platform>(
    platform: &P,
    guid: &str,
    work: &AppWork,
    env_before: Option<&BTreeMap<String, String>>,
) {
    let Some(previous) = &work.previous else {
        return;
    };
    if let Some(env) = env_before
        && let Err(error) = platform.set_env(guid, env).await
    {
        tracing::warn!(app = guid, %error, "Could not restore the env after a failed rollout.");
    }
    let kinds: BTreeSet<&String> = work.scale.iter().chain(&work.update_processes).collect();
    for kind in kinds {
        let Some(before) = previous.processes.get(kind) else {
            continue;
        };
        let restored: Result<(), CfError> = async {
            if work.update_processes.contains(kind) {
                platform.update_process(guid, kind, before).await?;
            }
            if work.scale.contains(kind) {
                platform.scale(guid, kind, before).await?;
            }
            Ok(())
        }
        .await;
        if let Err(error) = restored {
            tracing::warn!(app = guid, process = kind.as_str(), %error, "Could not restore a process after a failed rollout.");
        }
    }
}

/// Marks the rollout (revision, digest and spec) as failed so the next reconcile does not try
/// it again.
async fn record_failure<P: Platform>(platform: &P, guid: &str, work: &AppWork) {
    let patch = MetadataPatch {
        labels: BTreeMap::new(),
        annotations: BTreeMap::from([(
            FAILED_ROLLOUT.to_owned(),
            Some(crate::plan::rollout_key(&work.spec.annotations)),
        )]),
    };
    if let Err(error) = platform.set_metadata(guid, &patch).await {
        tracing::warn!(app = guid, %error, "Could not record a failed rollout.");
    }
}
