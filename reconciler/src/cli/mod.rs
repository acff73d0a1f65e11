//! The command line: argument parsing and the subcommands, each returning an exit code.
//!
//! Only subcommands that work exist; each later feature adds its own.

pub mod demo;
pub mod reconcile;

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};

use crate::load::{self, LoadOptions};

/// Exit codes of DESIGN.md §3.
pub mod exit {
    pub const OK: i32 = 0;
    pub const ERROR: i32 = 1;
    /// `plan --detailed-exitcode` and `drift`: something is not as git says.
    pub const DRIFT: i32 = 2;
    /// `apply`: some change failed or was blocked.
    pub const APPLY_FAILED: i32 = 3;
}

/// driftless: declarative GitOps for docker-image apps on Cloud Foundry and HP Stackato.
#[derive(Debug, Parser)]
#[command(name = "driftless", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a GitOps repo: every problem at once, as `file:line:col: message`.
    ///
    /// Exits 0 when the repo is valid (warnings allowed), 1 when any error was found.
    Validate {
        /// The repo directory.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Treat warnings (unknown keys) as errors.
        #[arg(long)]
        strict: bool,
    },
    /// Show what apply would change on each foundation, and why.
    ///
    /// Exits 0 (or 2 with --detailed-exitcode when anything would change), 1 on errors.
    Plan {
        #[command(flatten)]
        args: reconcile::RunArgs,
        /// Exit 2 when the plan has changes (drift, pending, blocked or orphaned targets).
        #[arg(long)]
        detailed_exitcode: bool,
    },
    /// Converge each foundation to git: exactly the plan's changes.
    ///
    /// Exits 0 when every change was applied, 3 when some failed or were blocked, 1 on errors.
    Apply {
        #[command(flatten)]
        args: reconcile::RunArgs,
    },
    /// Report drift between git and each foundation (a plan as a report).
    ///
    /// Exits 0 when clean, 2 on drift, 1 on errors.
    Drift {
        #[command(flatten)]
        args: reconcile::RunArgs,
    },
    /// The whole loop on an embedded simulated foundation: plan, apply, a hand-made change,
    /// the drift report, and converging again. Needs nothing installed and no network.
    Demo,
    /// Serve a simulated Cloud Foundry foundation (Cloud Controller v3, UAA, optionally the
    /// Stackato v2 dialect and an embedded Docker registry) until interrupted.
    ///
    /// Logins: user admin/admin (admin), user developer/developer (space developer), client
    /// driftless/driftless (client_credentials, admin); a seed file can replace them.
    Simulate(SimulateArgs),
    /// Print the JSON Schemas of the manifest and of driftless.yaml, or write both to a directory.
    Schema {
        /// Which schema to print.
        #[arg(value_enum, default_value_t = SchemaKind::Manifest)]
        kind: SchemaKind,
        /// Write `manifest.schema.json` and `driftless.schema.json` into this directory instead.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

/// The flags of `driftless simulate`: where to listen, and the simulator's knobs.
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    #[arg(long, default_value = "127.0.0.1:9022")]
    pub listen: std::net::SocketAddr,
    /// Write the bound port to this file once the server accepts connections.
    #[arg(long, value_name = "FILE")]
    pub port_file: Option<PathBuf>,
    /// Initial state (orgs, spaces, apps, flags, logins) from a YAML or JSON file.
    #[arg(long, value_name = "FILE")]
    pub seed: Option<PathBuf>,
    /// Also serve the Stackato v2 dialect (`/v2/...`).
    #[arg(long)]
    pub stackato: bool,
    /// Start an embedded Docker Registry V2 next to the API (its address is printed).
    #[arg(long)]
    pub registry: bool,
    /// Where the embedded registry listens (implies --registry; default: a free port).
    #[arg(long, value_name = "ADDR")]
    pub registry_listen: Option<std::net::SocketAddr>,
    /// Push a generated image `REPO:TAG` into the embedded registry (implies --registry);
    /// repeatable.
    #[arg(long, value_name = "REPO:TAG")]
    pub registry_image: Vec<String>,
    /// Create org and space `ORG/SPACE` (repeatable; a seed file can do more).
    #[arg(long, value_name = "ORG/SPACE")]
    pub space: Vec<String>,
    /// The shared domain, every org's default domain.
    #[arg(long, default_value = "apps.sim.local")]
    pub shared_domain: String,
    /// Seed of every random choice (GUIDs, injected faults), for reproducible runs.
    #[arg(long, default_value_t = 0)]
    pub random_seed: u64,
    /// Latency added to every request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Share of requests answered 502/503, in [0, 1].
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    /// Share of requests whose connection is dropped, in [0, 1].
    #[arg(long, default_value_t = 0.0)]
    pub drop_rate: f64,
    /// Requests allowed per user per rate-limit window (off when absent).
    #[arg(long, value_name = "N")]
    pub rate_limit: Option<u32>,
    /// The rate-limit window, in seconds.
    #[arg(long, default_value_t = 3600)]
    pub rate_limit_window: u64,
    /// Access-token lifetime, in seconds.
    #[arg(long, default_value_t = 1200)]
    pub token_lifetime: u64,
    /// How long a build stays STAGING, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    pub staging_ms: u64,
    /// How long a deployment stays DEPLOYING (and a canary step lasts), in milliseconds.
    #[arg(long, default_value_t = 3000)]
    pub deployment_ms: u64,
    /// Images whose instances fail their health check (exact reference, or a prefix ending in
    /// `*`); repeatable.
    #[arg(long, value_name = "IMAGE")]
    pub unhealthy_image: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SchemaKind {
    /// A Cloud Foundry app manifest.
    Manifest,
    /// driftless.yaml.
    Config,
}

/// Where user-facing output goes: the one place that writes to stdout and stderr.
#[derive(Debug)]
pub struct Output<O: Write, E: Write> {
    pub out: O,
    pub err: E,
}

impl<O: Write, E: Write> Output<O, E> {
    pub fn line(&mut self, text: impl std::fmt::Display) -> std::io::Result<()> {
        writeln!(self.out, "{text}")
    }
    pub fn note(&mut self, text: impl std::fmt::Display) -> std::io::Result<()> {
        writeln!(self.err, "{text}")
    }
}

/// Runs one command and returns its exit code.
pub fn run<O: Write, E: Write>(cli: Cli, output: &mut Output<O, E>) -> anyhow::Result<i32> {
    match cli.command {
        Command::Validate { dir, strict } => validate(&dir, strict, output),
        Command::Schema { kind, out } => schema(kind, out.as_deref(), output),
        Command::Simulate(args) => simulate(args, output),
        Command::Demo => demo::demo(output),
        Command::Plan {
            args,
            detailed_exitcode,
        } => reconcile::run(&args, reconcile::Mode::Plan { detailed_exitcode }, output),
        Command::Apply { args } => reconcile::run(&args, reconcile::Mode::Apply, output),
        Command::Drift { args } => reconcile::run(&args, reconcile::Mode::Drift, output),
    }
}

fn simulate<O: Write, E: Write>(
    args: SimulateArgs,
    output: &mut Output<O, E>,
) -> anyhow::Result<i32> {
    for (name, rate) in [
        ("--error-rate", args.error_rate),
        ("--drop-rate", args.drop_rate),
    ] {
        anyhow::ensure!(
            (0.0..=1.0).contains(&rate),
            "{name} must be between 0 and 1"
        );
    }
    let mut config = simulator::SimConfig {
        listen: args.listen,
        port_file: args.port_file,
        stackato: args.stackato,
        seed: args.random_seed,
        // Real time for a person; `POST /_sim/clock/advance` moves it on for scripts and tests.
        clock: std::sync::Arc::new(simulator::OffsetClock::default()),
        token_lifetime: std::time::Duration::from_secs(args.token_lifetime),
        staging_duration: std::time::Duration::from_millis(args.staging_ms),
        deployment_duration: std::time::Duration::from_millis(args.deployment_ms),
        latency: std::time::Duration::from_millis(args.latency_ms),
        faults: simulator::Faults {
            error_rate: args.error_rate,
            drop_rate: args.drop_rate,
        },
        rate_limit: args.rate_limit.map(|limit| simulator::RateLimit {
            limit,
            reset_interval: std::time::Duration::from_secs(args.rate_limit_window.max(1)),
        }),
        unhealthy_images: args.unhealthy_image.into_iter().collect(),
        registry: (args.registry
            || args.registry_listen.is_some()
            || !args.registry_image.is_empty())
        .then(|| simulator::RegistryConfig {
            listen: args.registry_listen,
            ..simulator::RegistryConfig::default()
        }),
        shared_domain: args.shared_domain.clone(),
        ..simulator::SimConfig::default()
    };
    let mut images = Vec::new();
    for image in &args.registry_image {
        let (repo, tag) = image
            .rsplit_once(':')
            .filter(|(repo, tag)| !repo.is_empty() && !tag.is_empty() && !tag.contains('/'))
            .with_context(|| format!("--registry-image {image}: expected REPO:TAG"))?;
        images.push((repo.to_owned(), tag.to_owned()));
    }
    let mut spaces = Vec::new();
    for space in &args.space {
        let (org, name) = space
            .split_once('/')
            .filter(|(o, s)| !o.is_empty() && !s.is_empty() && !s.contains('/'))
            .with_context(|| format!("--space {space}: expected ORG/SPACE"))?;
        spaces.push((org.to_owned(), name.to_owned()));
    }
    if let Some(seed) = &args.seed {
        config = config
            .with_seed_file(seed)
            .with_context(|| format!("read seed file {}", seed.display()))?;
    }
    // The simulator's own test logins (the defaults, or a seed file's), printed so a person can
    // use them; they guard nothing real.
    let logins = config
        .users
        .iter()
        .map(|u| {
            format!(
                "user {}/{}{}",
                u.username,
                u.password,
                if u.admin { " (admin)" } else { "" }
            )
        })
        .chain(config.clients.iter().map(|c| {
            format!(
                "client {}/{}{}",
                c.client_id,
                c.client_secret,
                if c.admin { " (admin)" } else { "" }
            )
        }))
        .collect::<Vec<_>>()
        .join(", ");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    runtime.block_on(async {
        let sim = simulator::start(config)
            .await
            .context("start the simulator")?;
        for (org, space) in &spaces {
            sim.create_space(org, space)
                .with_context(|| format!("create space {org}/{space}"))?;
        }
        output.line(format_args!("Cloud Controller API: {}", sim.url()))?;
        output.line(format_args!("Logins: {logins}"))?;
        if let Some(registry) = sim.registry() {
            output.line(format_args!("Docker registry: http://{}", registry.host()))?;
            for (repo, tag) in &images {
                let digest = registry.push_image(repo, tag, &format!("{repo}:{tag}"));
                output.line(format_args!(
                    "  image {}/{repo}:{tag} ({digest})",
                    registry.host()
                ))?;
            }
        }
        output.line("Serving until interrupted (Ctrl-C or SIGTERM).")?;
        output.out.flush()?;
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .context("listen for SIGTERM")?;
        tokio::select! {
            res = tokio::signal::ctrl_c() => res.context("wait for Ctrl-C")?,
            _ = terminate.recv() => {}
        }
        // Graceful shutdown waits for open connections; a client holding a keep-alive
        // connection must not keep the process alive.
        if tokio::time::timeout(std::time::Duration::from_secs(2), sim.shutdown())
            .await
            .is_err()
        {
            output.note("driftless simulate: connections still open after 2 s; stopping anyway")?;
        }
        Ok(exit::OK)
    })
}

fn validate<O: Write, E: Write>(
    dir: &Path,
    strict: bool,
    output: &mut Output<O, E>,
) -> anyhow::Result<i32> {
    let files = load::read_dir(dir).with_context(|| format!("read {}", dir.display()))?;
    let loaded = load::load(&files, &LoadOptions { strict });
    for diagnostic in &loaded.diagnostics {
        output.line(diagnostic)?;
    }
    let counts = loaded.counts();
    let n_manifests = loaded
        .repo
        .foundations
        .iter()
        .flat_map(|f| f.spaces.iter())
        .count();
    output.note(format!(
        "{} valid app(s), {} invalid, in {} space(s): {} error(s), {} warning(s)",
        counts.apps, counts.unknown, n_manifests, counts.errors, counts.warnings
    ))?;
    Ok(if loaded.has_errors() {
        exit::ERROR
    } else {
        exit::OK
    })
}

fn schema<O: Write, E: Write>(
    kind: SchemaKind,
    out: Option<&Path>,
    output: &mut Output<O, E>,
) -> anyhow::Result<i32> {
    let files = driftless_schema::schema_files();
    match out {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
            for (name, text) in files {
                let path = dir.join(name);
                std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))?;
                output.note(format!("wrote {}", path.display()))?;
            }
        }
        None => {
            let wanted = match kind {
                SchemaKind::Manifest => "manifest.schema.json",
                SchemaKind::Config => "driftless.schema.json",
            };
            if let Some((_, text)) = files.iter().find(|(name, _)| *name == wanted) {
                write!(output.out, "{text}")?;
            }
        }
    }
    Ok(exit::OK)
}
