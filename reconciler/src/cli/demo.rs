//! `driftless demo`: the whole loop on an embedded simulated foundation, in seconds, with
//! nothing installed and no network.
//!
//! It starts the simulator in process (with its embedded registry holding the example images),
//! makes a temporary git repo from the quickstart example, shows the plan, applies it (which
//! enables `diego_docker`), plays a person's `cf scale` and `cf set-env`, shows the drift
//! report, converges again and checks that nothing is left to do.

use std::{
    io::Write,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::Context as _;

use super::{
    Output, exit,
    reconcile::{self, Mode, RunArgs, Tuning},
};
use crate::{
    render::{self, Format},
    secret::StaticSecrets,
};

const CONFIG: &str = include_str!("../../../examples/quickstart/driftless.yaml");
const MANIFEST: &str = include_str!("../../../examples/quickstart/demo/dev/manifest.yml");
/// The registry and API the quickstart names; the demo's own take their place.
const QUICKSTART_REGISTRY: &str = "localhost:5000";
const QUICKSTART_API: &str = "http://127.0.0.1:9022";

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir() -> anyhow::Result<TempDir> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!("driftless-demo-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    Ok(TempDir(dir))
}

/// Writes the quickstart, pointed at the embedded foundation, and commits it.
fn make_repo(dir: &Path, api: &str, registry: &str) -> anyhow::Result<String> {
    std::fs::write(
        dir.join("driftless.yaml"),
        CONFIG.replace(QUICKSTART_API, api),
    )?;
    let space = dir.join("demo/dev");
    std::fs::create_dir_all(&space)?;
    std::fs::write(
        space.join("manifest.yml"),
        MANIFEST.replace(QUICKSTART_REGISTRY, registry),
    )?;
    let repo = git2::Repository::init(dir).context("git init")?;
    let mut index = repo.index()?;
    index.add_all(["*"], git2::IndexAddOption::DEFAULT, None)?;
    index.write()?;
    let tree = repo.find_tree(index.write_tree()?)?;
    let who = git2::Signature::now("driftless demo", "demo@driftless.invalid")?;
    let commit = repo.commit(
        Some("HEAD"),
        &who,
        &who,
        "quickstart: hello and worker on demo/dev",
        &tree,
        &[],
    )?;
    Ok(commit.to_string())
}

/// Runs the demo; exit 0 when every step did what it should.
pub fn demo<O: Write, E: Write>(output: &mut Output<O, E>) -> anyhow::Result<i32> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    runtime.block_on(run(output))
}

async fn run<O: Write, E: Write>(output: &mut Output<O, E>) -> anyhow::Result<i32> {
    let started = std::time::Instant::now();
    let sim = simulator::start(simulator::SimConfig {
        registry: Some(simulator::RegistryConfig::default()),
        shared_domain: "apps.example.com".into(),
        staging_duration: Duration::from_millis(300),
        deployment_duration: Duration::from_millis(600),
        ..simulator::SimConfig::default()
    })
    .await
    .context("start the simulated foundation")?;
    let registry = sim
        .registry()
        .context("the simulator started no registry")?
        .host();
    if let Some(images) = sim.registry() {
        images.push_image("demo/hello", "1.0", "hello 1.0");
        images.push_image("demo/worker", "1.0", "worker 1.0");
    }
    sim.create_space("demo", "dev")
        .context("create org demo, space dev")?;
    let dir = temp_dir()?;
    let revision = make_repo(&dir.0, sim.url(), &registry)?;

    output.line(format_args!(
        "driftless demo: a simulated Cloud Foundry at {} (registry {registry}, diego_docker off),\n\
         and a git repo made from examples/quickstart at {} (commit {}).",
        sim.url(),
        dir.0.display(),
        &revision[..12]
    ))?;
    let secrets = StaticSecrets {
        env: [("CF_PASSWORD".to_owned(), "admin".to_owned())].into(),
        files: Default::default(),
    };
    let args = RunArgs {
        repo: dir.0.clone(),
        foundation: None,
        output: Format::Text,
        api: None,
        platform: None,
        skip_ssl_validation: false,
        prune: false,
        adopt: false,
        allow_mass_delete: false,
        concurrency: 8,
        state_dir: Some(dir.0.join(".state")),
        strict: true,
        deep: false,
    };
    let tuning = Tuning { fast_poll: true };
    let step = |title: &str, mode: Mode| {
        let args = args.clone();
        let title = title.to_owned();
        let secrets = &secrets;
        async move {
            let mut quiet = Output {
                out: Vec::new(),
                err: Vec::new(),
            };
            let (code, reports) =
                reconcile::execute(&args, mode, secrets, tuning, &mut quiet).await?;
            let problems = String::from_utf8_lossy(&quiet.err).into_owned();
            anyhow::Ok((
                title,
                code,
                render::render(&reports, Format::Text),
                problems,
            ))
        }
    };

    let mut ok = true;
    let mut show = |output: &mut Output<O, E>,
                    (title, code, text, problems): (String, i32, String, String),
                    expected: i32|
     -> anyhow::Result<()> {
        output.line(format_args!("\n== {title} (exit {code})\n"))?;
        write!(output.out, "{text}")?;
        if !problems.is_empty() {
            write!(output.err, "{problems}")?;
        }
        if code != expected {
            ok = false;
            output.note(format_args!(
                "driftless demo: this step exited {code}, expected {expected}"
            ))?;
        }
        Ok(())
    };

    let plan = step(
        "1. driftless plan: what git wants that the foundation lacks",
        Mode::Plan {
            detailed_exitcode: true,
        },
    )
    .await?;
    show(output, plan, exit::DRIFT)?;
    let applied = step(
        "2. driftless apply: enable diego_docker, push both apps",
        Mode::Apply,
    )
    .await?;
    show(output, applied, exit::OK)?;

    sim.scale_app("demo", "dev", "hello", 5)
        .await
        .context("cf scale hello -i 5")?;
    sim.set_env("demo", "dev", "hello", "GREETING", Some("edited by hand"))
        .context("cf set-env hello GREETING ...")?;
    output.line(
        "\n== Meanwhile, a person runs `cf scale hello -i 5` and `cf set-env hello GREETING 'edited by hand'`",
    )?;

    let drift = step(
        "3. driftless drift: what changed behind git's back",
        Mode::Drift,
    )
    .await?;
    show(output, drift, exit::DRIFT)?;
    let converged = step("4. driftless apply: back to what git says", Mode::Apply).await?;
    show(output, converged, exit::OK)?;
    let clean = step("5. driftless drift: nothing left", Mode::Drift).await?;
    show(output, clean, exit::OK)?;

    let requests = sim.cc_request_count();
    sim.shutdown().await;
    output.line(format_args!(
        "\nDone in {:.1} s, {requests} Cloud Controller requests in all.\n\
         Next: drive the same repo yourself against `driftless simulate` (examples/quickstart/\n\
         README.md, \"Run it\"), read docs/cli.md for plan/apply/drift against a real foundation,\n\
         or start your own repo of manifests (`driftless schema --out schema/` gives your editor\n\
         the manifest schema).",
        started.elapsed().as_secs_f64()
    ))?;
    Ok(if ok { exit::OK } else { exit::ERROR })
}
