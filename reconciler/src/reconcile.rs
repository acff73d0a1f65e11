//! One reconcile of one foundation, the imperative shell around the pure core:
//! observe -> (env reads where needed) -> preflight (registry) -> plan -> apply -> report.
//!
//! Written against [`Platform`] and [`ImageResolver`], so the same code drives Cloud Foundry
//! (v3), Stackato (v2) and the simulator.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use futures_util::{StreamExt as _, stream};

use crate::{
    apply::{self, ApplyOptions, ImageResolver},
    cf::{CfError, platform::Platform},
    model::{FoundationConfig, FoundationDesired, ImageRef, RepoConfig, Routes, live::Live},
    plan::{self, ImageCheck, Images, PlanContext, PlanOptions, Report, provenance::ENV_HASH},
    registry::{Endpoint, RegistryClient, RegistryError},
    secret::{self, Credentials, SecretSource},
};

/// Registry credentials by host, resolved from `driftless.yaml` references at run time.
#[derive(Debug, Default)]
pub struct RegistryCredentials {
    pub found: BTreeMap<String, Credentials>,
    /// Hosts whose reference could not be resolved, and why (never the value).
    pub broken: BTreeMap<String, String>,
}

/// Resolves every `registries:` entry's reference (env var, file, docker config.json).
pub fn registry_credentials(
    config: &RepoConfig,
    source: &impl SecretSource,
) -> RegistryCredentials {
    let mut out = RegistryCredentials::default();
    for registry in &config.registries {
        let resolved = match (
            &registry.password,
            &registry.docker_config,
            &registry.username,
        ) {
            (Some(password), _, Some(username)) => secret::resolve(password, source)
                .map(|password| Credentials {
                    username: username.clone(),
                    password,
                })
                .map_err(|e| e.to_string()),
            (_, Some(path), _) => source
                .file(Path::new(path))
                .map_err(|reason| format!("read docker config {path}: {reason}"))
                .and_then(|text| {
                    secret::docker_config_credentials(&text, &registry.host, path)
                        .map_err(|e| e.to_string())
                }),
            _ => continue,
        };
        match resolved {
            Ok(credentials) => {
                out.found.insert(registry.host.clone(), credentials);
            }
            Err(reason) => {
                out.broken.insert(
                    registry.host.clone(),
                    format!("credentials for registry {}: {reason}", registry.host),
                );
            }
        }
    }
    out
}

/// The registries as the preflight reaches them: a client, credentials, insecure hosts.
#[derive(Debug)]
pub struct Registries {
    pub client: RegistryClient,
    pub credentials: BTreeMap<String, Credentials>,
    /// Hosts reached over plain HTTP (`insecure: true`, and loopback hosts).
    pub insecure: BTreeSet<String>,
}

impl Registries {
    fn credentials_for(&self, host: &str) -> Option<&Credentials> {
        self.credentials
            .iter()
            .find(|(h, _)| h.eq_ignore_ascii_case(host))
            .map(|(_, c)| c)
    }

    fn is_insecure(&self, host: &str) -> bool {
        let name = host.rsplit_once(':').map_or(host, |(name, _)| name);
        self.insecure.iter().any(|h| h.eq_ignore_ascii_case(host))
            || matches!(name, "localhost" | "127.0.0.1" | "[::1]")
    }
}

impl ImageResolver for Registries {
    async fn resolve(&self, image: &ImageRef) -> Result<String, RegistryError> {
        let endpoint = Endpoint::for_registry(&image.registry, self.is_insecure(&image.registry));
        self.client
            .resolve(&endpoint, image, self.credentials_for(&image.registry))
            .await
            .map(|r| r.digest)
    }
}

/// Resolves every distinct image the desired apps use, `concurrency` at a time.
pub async fn check_images<R: ImageResolver>(
    resolver: &R,
    desired: &FoundationDesired,
    broken: &BTreeMap<String, String>,
    concurrency: usize,
) -> Images {
    let images: BTreeSet<&ImageRef> = desired.apps.values().map(|a| &a.image).collect();
    stream::iter(images)
        .map(|image| async move {
            let check = match broken
                .iter()
                .find(|(h, _)| h.eq_ignore_ascii_case(&image.registry))
            {
                Some((_, reason)) => ImageCheck::Failed {
                    kind: "credentials".into(),
                    reason: reason.clone(),
                },
                None => match resolver.resolve(image).await {
                    Ok(digest) => ImageCheck::Resolved { digest },
                    Err(error) => ImageCheck::Failed {
                        kind: error.kind().into(),
                        reason: error.to_string(),
                    },
                },
            };
            (image.to_string(), check)
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await
}

/// What the CLI keeps between runs: per app GUID, the `updated_at` at which its env was read
/// and found equal to git's (its hash; values are never stored), so a no-op reconcile reads no
/// env; and the spaces where driftless's apps were last seen (`org/space`), so that when a
/// whole space directory leaves git its apps are still observed (orphans, or pruned).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct EnvCache {
    pub apps: BTreeMap<String, CachedEnv>,
    #[serde(default)]
    pub spaces: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CachedEnv {
    pub updated_at: String,
    pub env_hash: String,
}

impl EnvCache {
    /// The cache file of a foundation in `dir`.
    pub fn path(dir: &Path, api: &str) -> PathBuf {
        let name: String = api
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        dir.join(format!("env-{name}.json"))
    }

    /// Reads the cache (missing or unreadable: empty, which only costs env reads).
    pub fn read(path: &Path) -> EnvCache {
        std::fs::read(path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(self).unwrap_or_default())?;
        std::fs::rename(tmp, path)
    }
}

/// How long after an app's `updated_at` (on the foundation's clock) its env must have been read
/// for the read to be cached.
///
/// Cloud Controller timestamps have whole seconds: an env change made in the same second as a
/// read, after it, leaves `updated_at` as it was, so a read in that second proves nothing about
/// later observations. One second for that, one for skew between Cloud Controller instances.
pub const ENV_CACHE_SETTLE: chrono::TimeDelta = chrono::TimeDelta::seconds(2);

/// Whether a read made no earlier than `read_at` (the foundation's clock) saw every env change
/// of `updated_at`'s second. Pure.
pub fn env_read_settled(updated_at: &str, read_at: chrono::DateTime<chrono::Utc>) -> bool {
    chrono::DateTime::parse_from_rfc3339(updated_at)
        .is_ok_and(|updated| read_at >= updated.to_utc() + ENV_CACHE_SETTLE)
}

/// Reads the env of every owned, declared app whose `updated_at` moved since its env was last
/// seen equal to git's; the others keep `env: None` and compare by hash. `read_at` is a lower
/// bound of when the reads happen, on the foundation's clock (the `Date` of an answer before
/// them): a read is cached only once its app's `updated_at` has settled by then
/// ([`env_read_settled`]); without it, nothing is cached. `deep` reads every owned, declared
/// app's env whatever the cache says.
pub async fn read_envs<P: Platform>(
    platform: &P,
    desired: &FoundationDesired,
    live: &mut Live,
    cache: &mut EnvCache,
    concurrency: usize,
    read_at: Option<chrono::DateTime<chrono::Utc>>,
    deep: bool,
) -> Result<usize, CfError> {
    let mut wanted = Vec::new();
    for (key, app) in &mut live.apps {
        let Some(want) = desired.apps.get(key) else {
            continue;
        };
        if !app.owned {
            continue;
        }
        let want_hash = plan::env_hash(&want.env);
        match cache.apps.get(&app.guid) {
            Some(seen) if seen.updated_at == app.updated_at && !deep => {
                // Unchanged since it was read and found equal to git's at that time.
                app.annotations
                    .insert(ENV_HASH.to_owned(), seen.env_hash.clone());
            }
            _ => wanted.push((key.clone(), app.guid.clone(), want_hash)),
        }
    }
    let reads = wanted.len();
    let results: Vec<_> = stream::iter(wanted)
        .map(|(key, guid, want_hash)| async move {
            let env = platform.read_env(&guid).await;
            (key, guid, want_hash, env)
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    for (key, guid, want_hash, env) in results {
        let env = env?;
        let Some(app) = live.apps.get_mut(&key) else {
            continue;
        };
        let hash = plan::env_hash(&env);
        if hash == want_hash && read_at.is_some_and(|at| env_read_settled(&app.updated_at, at)) {
            cache.apps.insert(
                guid,
                CachedEnv {
                    updated_at: app.updated_at.clone(),
                    env_hash: hash,
                },
            );
        } else {
            cache.apps.remove(&guid);
        }
        app.env = Some(env);
    }
    Ok(reads)
}

/// The deep check's other half: the commands of every owned, declared app's processes, read
/// one by one (lists hide them), so a hand-made `cf push -c` shows as drift.
pub async fn read_commands<P: Platform>(
    platform: &P,
    desired: &FoundationDesired,
    live: &mut Live,
    concurrency: usize,
) -> Result<usize, CfError> {
    let wanted: Vec<(AppKeyOf, String, String, String)> = live
        .apps
        .iter()
        .filter(|(key, app)| app.owned && desired.apps.contains_key(*key))
        .flat_map(|(key, app)| {
            app.processes
                .iter()
                .filter(|(_, p)| p.command.is_none())
                .map(|(kind, p)| (key.clone(), kind.clone(), app.guid.clone(), p.guid.clone()))
        })
        .collect();
    let reads = wanted.len();
    let results: Vec<_> = stream::iter(wanted)
        .map(|(key, kind, app, process)| async move {
            let command = platform.read_command(&app, &process).await;
            (key, kind, command)
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    for (key, kind, command) in results {
        let command = command?;
        let wants_command = desired
            .apps
            .get(&key)
            .and_then(|a| a.processes.get(&kind))
            .is_some_and(|p| p.command.is_some());
        if let Some(process) = live
            .apps
            .get_mut(&key)
            .and_then(|a| a.processes.get_mut(&kind))
        {
            process.command = match command {
                Some(command) => Some(command),
                // Unset while git sets one: an empty command differs from git's.
                None if wants_command => Some(String::new()),
                // Unset, as git wants: nothing to compare.
                None => None,
            };
        }
    }
    Ok(reads)
}

type AppKeyOf = crate::model::AppKey;

/// Everything one reconcile of one foundation needs besides the platform.
#[derive(Debug)]
pub struct Reconcile<'a> {
    pub desired: &'a FoundationDesired,
    pub config: &'a RepoConfig,
    pub foundation: &'a FoundationConfig,
    pub registries: &'a Registries,
    pub broken_credentials: &'a BTreeMap<String, String>,
    pub options: PlanOptions,
    /// `None`: plan only.
    pub apply: Option<ApplyOptions>,
    pub concurrency: usize,
    /// Read every owned app's env and process commands (a request or two per app).
    pub deep: bool,
}

/// Observes, plans and (when asked) applies; the report of what was found and done.
pub async fn reconcile<P: Platform>(
    platform: &P,
    run: &Reconcile<'_>,
    cache: &mut EnvCache,
) -> Result<Report, CfError> {
    // The spaces this foundation manages: those git has manifests in, and those where
    // driftless's apps were seen last time (a space whose directory left git still holds owned
    // apps: they are orphans, or pruned, rather than forgotten).
    let remembered: BTreeSet<crate::model::SpaceKey> = cache
        .spaces
        .iter()
        .filter_map(|s| {
            let (org, space) = s.split_once('/')?;
            Some(crate::model::SpaceKey {
                org: org.to_owned(),
                space: space.to_owned(),
            })
        })
        .filter(|s| !run.desired.spaces.contains(s))
        .collect();
    let desired: std::borrow::Cow<'_, FoundationDesired> = if remembered.is_empty() {
        std::borrow::Cow::Borrowed(run.desired)
    } else {
        tracing::info!(
            spaces = %remembered.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
            "Spaces without manifests that held driftless's apps last time are still managed."
        );
        let mut desired = run.desired.clone();
        desired.spaces.extend(remembered);
        std::borrow::Cow::Owned(desired)
    };
    let desired = desired.as_ref();
    let mut live = platform.observe(&desired.spaces).await?;
    cache.spaces = live
        .apps
        .iter()
        .filter(|(_, app)| app.owned)
        .map(|(key, _)| key.space.to_string())
        .chain(run.desired.spaces.iter().map(ToString::to_string))
        .collect();
    let needs_domain = run
        .desired
        .apps
        .values()
        .any(|a| matches!(a.routes, Routes::Default | Routes::Random));
    if live.default_domain.is_none() && needs_domain {
        live.default_domain = platform.default_domain().await?;
    }
    let mut reads = read_envs(
        platform,
        desired,
        &mut live,
        cache,
        run.concurrency,
        // Answered before the reads are sent: no later than any of them on the CC's clock.
        platform.server_time(),
        run.deep,
    )
    .await?;
    if run.deep {
        reads += read_commands(platform, desired, &mut live, run.concurrency).await?;
    }
    tracing::debug!(
        apps = live.apps.len(),
        per_app_reads = reads,
        "Observed the foundation."
    );
    let images = check_images(
        run.registries,
        desired,
        run.broken_credentials,
        run.concurrency,
    )
    .await;
    let fingerprints: BTreeMap<String, String> = run
        .registries
        .credentials
        .iter()
        .map(|(host, c)| (host.clone(), secret::fingerprint(c)))
        .collect();
    let cx = PlanContext {
        config: run.config,
        foundation: run.foundation,
        credentials: &fingerprints,
        options: &run.options,
    };
    let plan = plan::plan(desired, &live, &images, &cx);
    let results = match &run.apply {
        Some(options) => Some(
            apply::apply(
                platform,
                run.registries,
                &run.registries.credentials,
                &plan,
                options,
            )
            .await,
        ),
        None => None,
    };
    Ok(Report { plan, results })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        model::{RegistryConfig, SecretRef},
        secret::StaticSecrets,
    };

    fn registry(host: &str) -> RegistryConfig {
        RegistryConfig {
            host: host.into(),
            username: None,
            password: None,
            docker_config: None,
            insecure: false,
        }
    }

    #[test]
    fn registry_credentials_come_from_env_files_and_docker_configs_and_failures_say_why() {
        let config = RepoConfig {
            registries: vec![
                RegistryConfig {
                    username: Some("ci".into()),
                    password: Some(SecretRef::Env {
                        env: "REG_PASSWORD".into(),
                    }),
                    ..registry("env.example.com")
                },
                RegistryConfig {
                    username: Some("ci".into()),
                    password: Some(SecretRef::File {
                        file: "/run/secrets/reg".into(),
                    }),
                    ..registry("file.example.com")
                },
                RegistryConfig {
                    docker_config: Some("/home/ci/.docker/config.json".into()),
                    ..registry("docker.example.com")
                },
                RegistryConfig {
                    username: Some("ci".into()),
                    password: Some(SecretRef::Env {
                        env: "MISSING".into(),
                    }),
                    ..registry("broken.example.com")
                },
                registry("anonymous.example.com"),
            ],
            ..RepoConfig::default()
        };
        // base64("bot:d0cker-pw")
        let docker = r#"{"auths": {"docker.example.com": {"auth": "Ym90OmQwY2tlci1wdw=="}}}"#;
        let secrets = StaticSecrets {
            env: [("REG_PASSWORD".to_owned(), "env-pw".to_owned())].into(),
            files: [
                ("/run/secrets/reg".to_owned(), "file-pw\n".to_owned()),
                ("/home/ci/.docker/config.json".to_owned(), docker.to_owned()),
            ]
            .into(),
        };
        let found = registry_credentials(&config, &secrets);
        let pair = |host: &str| {
            let c = &found.found[host];
            (c.username.as_str(), c.password.expose())
        };
        assert_eq!(pair("env.example.com"), ("ci", "env-pw"));
        assert_eq!(pair("file.example.com"), ("ci", "file-pw"));
        assert_eq!(pair("docker.example.com"), ("bot", "d0cker-pw"));
        assert!(!found.found.contains_key("anonymous.example.com"));
        let broken = &found.broken["broken.example.com"];
        assert!(broken.contains("MISSING"), "{broken}");
        assert_eq!(found.broken.len(), 1);
        let debug = format!("{found:?}");
        for secret in ["env-pw", "file-pw", "d0cker-pw"] {
            assert!(!debug.contains(secret), "{debug}");
        }
    }
}
