//! The committed JSON Schemas are fresh, and schema and loader agree on every example.

use driftless::load::{self, LoadOptions};
use driftless_tests::{ensure_file_contents, example_dirs, workspace_root};

#[test]
fn committed_schemas_are_up_to_date() {
    let files: Vec<_> = driftless_schema::schema_files()
        .into_iter()
        .map(|(name, text)| (workspace_root().join("schema").join(name), text))
        .collect();
    ensure_file_contents(&files);
}

fn yaml_json(text: &str) -> serde_json::Value {
    let root = driftless::yaml::parse(text)
        .expect("valid yaml")
        .root
        .expect("a document");
    driftless::yaml::to_json(&root).expect("json")
}

fn committed(name: &str) -> jsonschema::Validator {
    let path = workspace_root().join("schema").join(name);
    let text = std::fs::read_to_string(&path).expect("committed schema");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("schema is JSON");
    jsonschema::validator_for(&schema).expect("a valid JSON Schema")
}

/// Every manifest and driftless.yaml of every example, converted by the loader's own YAML
/// reader, passes the committed schema: what the loader accepts, editors accept too.
#[test]
fn every_example_validates_against_the_committed_schemas() {
    let manifest = committed("manifest.schema.json");
    let config = committed("driftless.schema.json");
    let mut n_checked = 0;
    for dir in example_dirs() {
        for file in load::read_dir(&dir).expect("read example") {
            let text = String::from_utf8(file.bytes).expect("utf-8");
            let json = yaml_json(&text);
            let validator = if load::CONFIG_FILES.contains(&file.path.as_str()) {
                &config
            } else if json.get("applications").is_some() {
                &manifest
            } else {
                continue;
            };
            let errors: Vec<String> = validator
                .iter_errors(&json)
                .map(|e| format!("{} at {}", e, e.instance_path()))
                .collect();
            assert!(
                errors.is_empty(),
                "{}/{}: {errors:#?}",
                dir.display(),
                file.path
            );
            n_checked += 1;
        }
    }
    assert!(
        n_checked >= 8,
        "expected the examples' manifests and configs, checked {n_checked}"
    );
}

/// The schemas reject what the loader rejects, for the cases a schema can express.
#[test]
fn the_schemas_reject_what_the_loader_rejects() {
    let manifest = committed("manifest.schema.json");
    let config = committed("driftless.schema.json");
    let bad_manifests = [
        "applications: [{name: a, docker: {image: x, password: hunter2}}]",
        "applications: [{name: a, instances: -1}]",
        "applications: [{name: a, memory: 512}]",
        "applications: [{name: a, memory: 1Q}]",
        "applications: [{name: a, health-check-type: tcp}]",
        "applications: [{docker: {image: x}}]",
        "applications: {name: a}",
    ];
    for text in bad_manifests {
        let json = yaml_json(text);
        assert!(
            !manifest.is_valid(&json),
            "the manifest schema accepted {text}"
        );
        let loaded = load::load(
            &[load::SourceFile {
                path: "o/s/m.yml".into(),
                bytes: text.as_bytes().to_vec(),
            }],
            &LoadOptions::default(),
        );
        assert!(loaded.has_errors(), "the loader accepted {text}");
    }
    for text in [
        "registries: [{host: r.example.com, username: u, password: hunter2}]",
        "foundations: [{name: p, api: https://x, auth: {username: u, password: {vault: x}}}]",
        "policy: {max_delete_fraction: 2}",
    ] {
        let json = yaml_json(text);
        assert!(!config.is_valid(&json), "the config schema accepted {text}");
    }
    // Both spellings of a hyphenated key are in the schema, as the loader takes both.
    let both =
        "applications: [{name: a, docker: {image: x}, disk-quota: 1G, health_check_type: port}]";
    let json = yaml_json(both);
    assert!(manifest.is_valid(&json));
}
