//! The command line: argument parsing and the subcommands, each returning an exit code.
//!
//! Only subcommands that work exist; each later feature adds its own.

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
    }
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
