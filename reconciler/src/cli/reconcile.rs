//! `driftless plan | apply | drift`: load the repo, then per foundation connect, reconcile
//! and render.

use std::{
    io::Write,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::Context as _;

use super::{Output, exit};
use crate::{
    apply::ApplyOptions,
    cf::{
        http::{CfHttp, CfOptions, Login},
        poll::PollOptions,
        v2::V2,
        v3::V3,
    },
    load::{self, LoadOptions},
    model::{Auth, FoundationConfig, PlatformKind},
    plan::{self, Outcome, PlanOptions, Report},
    reconcile::{self, EnvCache, Reconcile, Registries},
    registry::{RegistryClient, RegistryOptions},
    render::{self, Format},
    secret::{self, Secret, SecretSource},
};

/// The flags `plan`, `apply` and `drift` share.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// The GitOps repo: a directory (a git work tree gives the revision).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// Only this foundation of driftless.yaml.
    #[arg(long)]
    pub foundation: Option<String>,
    /// How to print the report.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub output: Format,
    /// The Cloud Controller URL (overrides the foundation's `api`).
    #[arg(long, env = "CF_API")]
    pub api: Option<String>,
    /// cloudfoundry (CC v3) or stackato (v2); detected from the API when not given.
    #[arg(long, value_enum)]
    pub platform: Option<PlatformArg>,
    /// Accept any TLS certificate from the Cloud Controller (warns; for lab foundations only).
    #[arg(long)]
    pub skip_ssl_validation: bool,
    /// Delete owned apps that are no longer in git (also `policy.prune`).
    #[arg(long)]
    pub prune: bool,
    /// Take over apps that exist unmanaged and that git declares (also `policy.adopt`).
    #[arg(long)]
    pub adopt: bool,
    /// Allow a plan that deletes more than `policy.max_delete_fraction` of the managed apps.
    #[arg(long)]
    pub allow_mass_delete: bool,
    /// App changes (and registry checks) in flight at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Where to keep what a no-op run needs to avoid per-app reads (hashes only, no values).
    #[arg(long, env = "DRIFTLESS_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Treat unknown keys in manifests as errors.
    #[arg(long)]
    pub strict: bool,
    /// Deep check: read every managed app's env and process commands (a request or two per
    /// app), instead of trusting the provenance hashes and the state directory.
    #[arg(long)]
    pub deep: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PlatformArg {
    Cloudfoundry,
    Stackato,
}

/// Which command runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Plan { detailed_exitcode: bool },
    Drift,
    Apply,
}

/// Faster polling and shorter waits, for the demo on the embedded simulator.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tuning {
    pub fast_poll: bool,
}

/// Runs a mode from the command line (its own runtime; secrets from the process).
pub fn run<O: Write, E: Write>(
    args: &RunArgs,
    mode: Mode,
    output: &mut Output<O, E>,
) -> anyhow::Result<i32> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    let (code, reports) = runtime.block_on(execute(
        args,
        mode,
        &secret::ProcessSecrets,
        Tuning::default(),
        output,
    ))?;
    write!(output.out, "{}", render::render(&reports, args.output))?;
    Ok(code)
}

/// Loads, reconciles every selected foundation, and gives the exit code with the reports.
pub async fn execute<O: Write, E: Write>(
    args: &RunArgs,
    mode: Mode,
    secrets: &impl SecretSource,
    tuning: Tuning,
    output: &mut Output<O, E>,
) -> anyhow::Result<(i32, Vec<Report>)> {
    let files = load::read_dir(&args.repo)
        .with_context(|| format!("read the repo {}", args.repo.display()))?;
    let loaded = load::load(
        &files,
        &LoadOptions {
            strict: args.strict,
        },
    );
    for diagnostic in &loaded.diagnostics {
        output.note(diagnostic)?;
    }
    let invalid = loaded.has_errors();
    let revision = git_revision(&args.repo);
    let config = &loaded.repo.config;
    let credentials = reconcile::registry_credentials(config, secrets);
    // Said even when nothing needs the registry this run: the next change would be blocked.
    for reason in credentials.broken.values() {
        output.note(format_args!("warning: {reason}"))?;
    }
    let registries = Registries {
        client: RegistryClient::new(&RegistryOptions::default())
            .map_err(|e| anyhow::anyhow!("registry client: {e}"))?,
        credentials: credentials.found.clone(),
        insecure: config
            .registries
            .iter()
            .filter(|r| r.insecure)
            .map(|r| r.host.clone())
            .collect(),
    };

    let mut reports = Vec::new();
    let mut failed_to_run = false;
    for desired in &loaded.repo.foundations {
        if args.foundation.as_ref().is_some_and(|f| f != &desired.name) {
            continue;
        }
        let implicit = FoundationConfig::implicit(&desired.name);
        let foundation = config
            .foundations
            .iter()
            .find(|f| f.name == desired.name)
            .unwrap_or(&implicit);
        let run = Reconcile {
            desired,
            config,
            foundation,
            registries: &registries,
            broken_credentials: &credentials.broken,
            options: PlanOptions {
                revision: revision.clone(),
                prune: args.prune,
                adopt: args.adopt,
                allow_mass_delete: args.allow_mass_delete,
            },
            apply: (mode == Mode::Apply).then_some(ApplyOptions {
                concurrency: args.concurrency,
            }),
            concurrency: args.concurrency,
            deep: args.deep,
        };
        match reconcile_foundation(args, foundation, &run, secrets, tuning).await {
            Ok(report) => reports.push(report),
            Err(error) => {
                failed_to_run = true;
                output.note(format_args!(
                    "error: foundation {}: {error:#}",
                    foundation.name
                ))?;
            }
        }
    }
    if let Some(wanted) = &args.foundation
        && reports.is_empty()
        && !failed_to_run
    {
        anyhow::bail!("no foundation named {wanted} in driftless.yaml");
    }
    for report in &reports {
        if let Some(refused) = &report.plan.refused {
            output.note(format_args!(
                "foundation {}: plan refused: {refused}",
                report.plan.foundation
            ))?;
        }
    }
    let drift = reports.iter().any(|r| plan::has_drift(&r.plan));
    let refused = reports.iter().any(|r| r.plan.refused.is_some());
    let apply_failed = reports.iter().any(|r| {
        r.results
            .iter()
            .flatten()
            .any(|c| matches!(c.outcome, Outcome::Failed | Outcome::Blocked))
    });
    let code = if invalid || failed_to_run {
        exit::ERROR
    } else {
        match mode {
            Mode::Plan {
                detailed_exitcode: true,
            }
            | Mode::Drift
                if drift =>
            {
                exit::DRIFT
            }
            Mode::Apply if refused => exit::ERROR,
            Mode::Apply if apply_failed => exit::APPLY_FAILED,
            _ => exit::OK,
        }
    };
    Ok((code, reports))
}

async fn reconcile_foundation(
    args: &RunArgs,
    foundation: &FoundationConfig,
    run: &Reconcile<'_>,
    secrets: &impl SecretSource,
    tuning: Tuning,
) -> anyhow::Result<Report> {
    let api = args
        .api
        .clone()
        .filter(|a| !a.is_empty())
        .or_else(|| (!foundation.api.is_empty()).then(|| foundation.api.clone()))
        .context("no Cloud Controller API: give `api` in driftless.yaml, --api or CF_API")?;
    let login = login(foundation, secrets)?;
    let options = CfOptions {
        skip_ssl_validation: args.skip_ssl_validation || foundation.skip_ssl_validation,
        max_in_flight: args.concurrency.max(1) * 2,
        ..CfOptions::default()
    };
    let kind = match (args.platform, foundation.platform) {
        (Some(PlatformArg::Cloudfoundry), _) => PlatformKind::Cloudfoundry,
        (Some(PlatformArg::Stackato), _) => PlatformKind::Stackato,
        (None, Some(kind)) => kind,
        (None, None) => crate::cf::detect(&api, &options)
            .await
            .with_context(|| format!("detect the platform of {api}"))?,
    };
    let poll = if tuning.fast_poll {
        PollOptions::fast()
    } else {
        PollOptions::default()
    };
    let cache_path = state_dir(args).map(|dir| EnvCache::path(&dir, &api));
    let mut cache = cache_path
        .as_deref()
        .map(EnvCache::read)
        .unwrap_or_default();
    let report = match kind {
        PlatformKind::Cloudfoundry => {
            let cf = CfHttp::connect(&api, login, options)
                .await
                .with_context(|| format!("connect to {api}"))?;
            let platform = V3::new(cf).with_poll(poll);
            reconcile::reconcile(&platform, run, &mut cache).await?
        }
        PlatformKind::Stackato => {
            let platform = V2::connect(&api, login, options)
                .await
                .with_context(|| format!("connect to {api} (Stackato, CC v2)"))?;
            reconcile::reconcile(&platform, run, &mut cache).await?
        }
    };
    if let Some(path) = &cache_path
        && let Err(error) = cache.write(path)
    {
        tracing::warn!(path = %path.display(), %error, "Could not save the env cache; the next run reads env per app again.");
    }
    Ok(report)
}

/// The login: `CF_USERNAME`/`CF_PASSWORD` or `CF_CLIENT_ID`/`CF_CLIENT_SECRET` from the
/// environment win over the foundation's `auth` (whose secrets are references).
fn login(foundation: &FoundationConfig, secrets: &impl SecretSource) -> anyhow::Result<Login> {
    if let (Some(username), Some(password)) =
        (secrets.env("CF_USERNAME"), secrets.env("CF_PASSWORD"))
    {
        return Ok(Login::Password {
            username,
            password: Secret::new(password),
        });
    }
    if let (Some(client_id), Some(secret)) =
        (secrets.env("CF_CLIENT_ID"), secrets.env("CF_CLIENT_SECRET"))
    {
        return Ok(Login::Client {
            client_id,
            client_secret: Secret::new(secret),
        });
    }
    match &foundation.auth {
        Some(Auth::Password { username, password }) => Ok(Login::Password {
            username: username.clone(),
            password: secret::resolve(password, secrets)
                .with_context(|| format!("the password of {username}"))?,
        }),
        Some(Auth::Client {
            client_id,
            client_secret,
        }) => Ok(Login::Client {
            client_id: client_id.clone(),
            client_secret: secret::resolve(client_secret, secrets)
                .with_context(|| format!("the secret of client {client_id}"))?,
        }),
        None => anyhow::bail!(
            "no login for foundation {}: give `auth` in driftless.yaml, or CF_USERNAME and CF_PASSWORD (or CF_CLIENT_ID and CF_CLIENT_SECRET)",
            foundation.name
        ),
    }
}

/// `--state-dir`, else `$XDG_STATE_HOME/driftless`, else `~/.local/state/driftless`.
fn state_dir(args: &RunArgs) -> Option<PathBuf> {
    args.state_dir.clone().or_else(|| {
        std::env::var_os("XDG_STATE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/state")))
            .map(|d| d.join("driftless"))
    })
}

/// The commit checked out in the git work tree holding `dir` (a repo may be a directory of a
/// larger one), if any. Uncommitted edits are not part of it.
pub fn git_revision(dir: &Path) -> Option<String> {
    let repo = git2::Repository::discover(dir).ok()?;
    let head = repo.head().ok()?.peel_to_commit().ok()?;
    Some(head.id().to_string())
}

/// How long the demo waits at most for one change.
pub const DEMO_DEADLINE: Duration = Duration::from_secs(60);
