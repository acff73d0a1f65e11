//! The repo tree -> `Repo` (validated) + every diagnostic, located.
//!
//! [`load`] is pure: it takes the files' bytes, so it is tested and fuzzed without a disk.
//! [`read_dir`] is the thin shell that reads a checkout. Loading never stops at the first
//! problem: each file, and each app in a file, is checked on its own, and an app that fails is
//! recorded as *unknown* (never changed, never deleted) rather than dropped.

mod config;
mod manifest;

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

use crate::{
    diag::{Diagnostic, Severity, Sink},
    model::{AppKey, FoundationConfig, FoundationDesired, Repo, SpaceKey},
    yaml::{self, Mark},
};

/// One file of the repo: its path relative to the root (with `/`) and its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceFile {
    pub path: String,
    pub bytes: Vec<u8>,
}

/// How strictly to read.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoadOptions {
    /// Unknown keys are errors (they make their app invalid), not warnings.
    pub strict: bool,
}

/// What loading gives: the repo as far as it is valid, and every problem found.
#[derive(Debug, Default)]
pub struct Loaded {
    pub repo: Repo,
    /// Sorted by path, then position.
    pub diagnostics: Vec<Diagnostic>,
}

impl Loaded {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// The names the config file may have at the repo root.
pub const CONFIG_FILES: [&str; 2] = ["driftless.yaml", "driftless.yml"];

/// Loads a repo from its files. Pure.
pub fn load(files: &[SourceFile], options: &LoadOptions) -> Loaded {
    let mut diagnostics = Vec::new();
    let mut files: Vec<&SourceFile> = files.iter().filter(|f| is_yaml(&f.path)).collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));

    let config_files: Vec<&&SourceFile> = files
        .iter()
        .filter(|f| CONFIG_FILES.contains(&f.path.as_str()))
        .collect();
    let config = match config_files.as_slice() {
        [] => config::RepoSetup::default(),
        [file, rest @ ..] => {
            for extra in rest {
                let mut sink = Sink {
                    path: &extra.path,
                    strict: options.strict,
                    out: &mut diagnostics,
                };
                sink.error(
                    Mark { line: 1, col: 1 },
                    format!("both `{}` and `{}` exist; keep one", file.path, extra.path),
                );
            }
            config::load(file, options, &mut diagnostics)
        }
    };

    let mut foundations: Vec<FoundationDesired> = config
        .foundations()
        .iter()
        .map(|f| FoundationDesired {
            name: f.name.clone(),
            ..FoundationDesired::default()
        })
        .collect();
    let mut first_seen: Vec<BTreeMap<AppKey, (String, Mark)>> =
        vec![BTreeMap::new(); foundations.len()];

    for file in files
        .iter()
        .filter(|f| !CONFIG_FILES.contains(&f.path.as_str()))
    {
        let mut sink = Sink {
            path: &file.path,
            strict: options.strict,
            out: &mut diagnostics,
        };
        let Some(parsed) = parse_manifest_file(file, &config, &mut sink) else {
            continue;
        };
        for (index, foundation) in config.foundations().iter().enumerate() {
            let Some(space) = space_of(&file.path, foundation) else {
                continue;
            };
            let desired = &mut foundations[index];
            desired.spaces.insert(space.clone());
            match &parsed {
                ManifestFile::Unreadable => {
                    desired.unreadable_spaces.insert(space);
                }
                ManifestFile::Apps(root) => {
                    let loaded = manifest::load_apps(root, &space, foundation, &config, &mut sink);
                    if loaded.unkeyed {
                        desired.unreadable_spaces.insert(space.clone());
                    }
                    desired.unknown.extend(loaded.unknown);
                    for (key, mark) in loaded.declared {
                        check_unique(desired, &mut first_seen[index], key, mark, &mut sink);
                    }
                    for app in loaded.apps {
                        desired.apps.insert(app.key.clone(), app);
                    }
                }
            }
        }
    }

    // A name declared twice is unknown: neither declaration is applied, and nothing is deleted.
    for desired in &mut foundations {
        let unknown = desired.unknown.clone();
        desired.apps.retain(|key, _| !unknown.contains(key));
    }

    diagnostics.sort();
    diagnostics.dedup();
    Loaded {
        repo: Repo {
            config: config.into_config(),
            foundations,
        },
        diagnostics,
    }
}

/// Records a declared name; a second declaration of it (ignoring case) is an error, and the
/// name becomes unknown.
fn check_unique(
    desired: &mut FoundationDesired,
    first_seen: &mut BTreeMap<AppKey, (String, Mark)>,
    key: AppKey,
    mark: Mark,
    sink: &mut Sink<'_>,
) {
    match first_seen.get(&key) {
        Some((path, first)) => {
            sink.error(
                mark,
                format!(
                    "duplicate app name `{}` in {} (first declared at {path}:{first}); \
                     app names are unique in a space, ignoring case",
                    key.name, key.space
                ),
            );
            desired.unknown.insert(key);
        }
        None => {
            first_seen.insert(key, (sink.path.to_owned(), mark));
        }
    }
}

/// What a YAML file turned out to be, for the files that are manifests.
enum ManifestFile {
    /// A manifest that could not be read: its space must not be pruned.
    Unreadable,
    /// A manifest's root node, with `applications:`.
    Apps(yaml::Node),
}

/// Reads one YAML file; `None` when it is not a manifest at all (and not an error).
fn parse_manifest_file(
    file: &SourceFile,
    config: &config::RepoSetup,
    sink: &mut Sink<'_>,
) -> Option<ManifestFile> {
    let at_depth = config
        .foundations()
        .iter()
        .any(|f| space_of(&file.path, f).is_some());
    let start = Mark { line: 1, col: 1 };
    let Ok(text) = std::str::from_utf8(&file.bytes) else {
        if at_depth {
            sink.error(
                start,
                "the file is not UTF-8 text; expected a YAML app manifest",
            );
            return Some(ManifestFile::Unreadable);
        }
        return None;
    };
    let parsed = match yaml::parse(text) {
        Ok(parsed) => parsed,
        Err(problem) => {
            // Only files where manifests live are ours to judge; other YAML (a Helm chart's
            // templates, CI config) may well not be plain YAML.
            if at_depth {
                sink.error(problem.mark, problem.message);
                return Some(ManifestFile::Unreadable);
            }
            return None;
        }
    };
    let Some(root) = parsed.root else {
        // An emptied manifest: its apps are not "gone from git" while it is here.
        if at_depth {
            sink.warn(
                start,
                "the file is empty; expected a manifest with `applications:` \
                 (nothing in this space is pruned while it is here)",
            );
            return Some(ManifestFile::Unreadable);
        }
        return None;
    };
    if root.get("applications").is_none() {
        // A misspelt `applications:` must not make its apps look deleted. Other YAML next to a
        // manifest (a `cf push --vars-file` file) is not ours.
        let misspelt = root.entries().iter().find_map(|(key, _)| {
            let key = key.as_scalar()?;
            crate::diag::suggest(key, &["applications"]).map(|_| key.to_owned())
        });
        if let (true, Some(key)) = (at_depth, misspelt) {
            sink.warn(
                start,
                format!(
                    "top-level key `{key}`: did you mean `applications`? The file is not read \
                     as a manifest (nothing in this space is pruned while it is here)"
                ),
            );
            return Some(ManifestFile::Unreadable);
        }
        return None;
    }
    if !at_depth {
        let shape = config
            .foundations()
            .iter()
            .map(|f| format!("`{}<org>/<space>/<file>.yml`", f.path))
            .collect::<Vec<_>>()
            .join(" or ");
        sink.error(
            root.mark,
            format!("this manifest is not at `<org>/<space>/` depth: expected {shape}"),
        );
        return None;
    }
    if !parsed.problems.is_empty() {
        for problem in parsed.problems {
            sink.error(problem.mark, problem.message);
        }
        return Some(ManifestFile::Unreadable);
    }
    Some(ManifestFile::Apps(root))
}

/// The org and space of a manifest path for a foundation, if it lies at `<path><org>/<space>/<file>`.
pub fn space_of(path: &str, foundation: &FoundationConfig) -> Option<SpaceKey> {
    let rest = path.strip_prefix(foundation.path.as_str())?;
    match rest.split('/').collect::<Vec<_>>().as_slice() {
        [org, space, _file] if !org.is_empty() && !space.is_empty() => Some(SpaceKey {
            org: (*org).to_owned(),
            space: (*space).to_owned(),
        }),
        _ => None,
    }
}

fn is_yaml(path: &str) -> bool {
    path.ends_with(".yml") || path.ends_with(".yaml")
}

/// Reads every YAML file under `root`, skipping hidden directories (`.git`, `.github`). The shell
/// around [`load`].
pub fn read_dir(root: &Path) -> std::io::Result<Vec<SourceFile>> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') {
                continue;
            }
            // Symlinked directories are not followed: they could loop.
            let kind = entry.file_type()?;
            let path = entry.path();
            if kind.is_dir() {
                pending.push(path);
            } else if is_yaml(&name) && (kind.is_file() || path.is_file()) {
                let relative = path.strip_prefix(root).unwrap_or(&path);
                let relative = relative
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                files.push(SourceFile {
                    path: relative,
                    bytes: std::fs::read(&path)?,
                });
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// Counts of what a load found, for summaries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub apps: usize,
    pub unknown: usize,
    pub errors: usize,
    pub warnings: usize,
}

impl Loaded {
    pub fn counts(&self) -> Counts {
        let mut keys = BTreeSet::new();
        let mut unknown = BTreeSet::new();
        for f in &self.repo.foundations {
            keys.extend(f.apps.keys().cloned());
            unknown.extend(f.unknown.iter().cloned());
        }
        Counts {
            apps: keys.len(),
            unknown: unknown.len(),
            errors: self
                .diagnostics
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .count(),
            warnings: self
                .diagnostics
                .iter()
                .filter(|d| d.severity == Severity::Warning)
                .count(),
        }
    }
}

#[cfg(test)]
mod tests;
