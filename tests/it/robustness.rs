//! Hostile input never panics the loader: arbitrary bytes, and valid manifests mutated.

use driftless::load::{LoadOptions, SourceFile, load};
use proptest::prelude::*;

const SEED_MANIFEST: &str = "applications:
- name: web
  docker: {image: 'registry.example.com:5000/team/web:1.4', username: ci}
  instances: 2
  memory: 512M
  disk-quota: 1G
  health-check-type: http
  health-check-http-endpoint: /health
  env: &env {LOG_LEVEL: info, WORKERS: 4}
  routes: [{route: web.example.com/api, protocol: http2}]
  metadata: {labels: {team: pay}, annotations: {contact: bob}}
  processes:
  - type: worker
    command: bin/worker
    readiness-health-check-type: http
    readiness-health-check-http-endpoint: /ready
  sidecars: [{name: proxy, process_types: [web], command: envoy, memory: 64M}]
  services: [db, {name: cache, parameters: {size: 1}}]
- <<: {docker: {image: nginx}}
  name: other
  env: {<<: *env, EXTRA: x}
";

const SEED_CONFIG: &str = "foundations:
- {name: prod, api: 'https://api.example.com', path: '', feature_flags: {diego_docker: true},
   auth: {username: u, password: {env: P}}}
registries: [{host: 'registry.example.com:5000', username: ci, password: {file: /run/p}}]
policy: {prune: true, allowed_registries: ['registry.example.com:5000'], max_delete_fraction: 0.5}
apps: [{match: '*/*/*', strategy: canary, foundation: prod}]
";

fn run(manifest: Vec<u8>, config: Vec<u8>) {
    let files = [
        SourceFile {
            path: "acme/prod/manifest.yml".into(),
            bytes: manifest,
        },
        SourceFile {
            path: "driftless.yaml".into(),
            bytes: config,
        },
    ];
    for strict in [false, true] {
        let loaded = load(&files, &LoadOptions { strict });
        // Whatever happened, an app is never both valid and unknown.
        for f in &loaded.repo.foundations {
            assert!(f.apps.keys().all(|k| !f.unknown.contains(k)));
        }
    }
}

/// Mutations a person or a bad merge makes: delete, duplicate or swap bytes, insert YAML syntax.
fn mutate(seed: &str, edits: &[(usize, u8, u8)]) -> Vec<u8> {
    const SYNTAX: &[u8] = b":-[]{}&*<>!|#'\"\n \t,?@%`0-1.5G~";
    let mut bytes = seed.as_bytes().to_vec();
    for &(pos, op, byte) in edits {
        if bytes.is_empty() {
            break;
        }
        let at = pos % bytes.len();
        let syntax = SYNTAX[usize::from(byte) % SYNTAX.len()];
        match op % 4 {
            0 => {
                bytes.remove(at);
            }
            1 => bytes.insert(at, syntax),
            2 => bytes[at] = syntax,
            _ => {
                let end = (at + usize::from(byte) % 16).min(bytes.len());
                let chunk = bytes[at..end].to_vec();
                bytes.splice(at..at, chunk);
            }
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(manifest in proptest::collection::vec(any::<u8>(), 0..512),
                                   config in proptest::collection::vec(any::<u8>(), 0..256)) {
        run(manifest, config);
    }

    #[test]
    fn mutated_manifests_never_panic(edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..12),
                                     config_edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 0..6)) {
        run(mutate(SEED_MANIFEST, &edits), mutate(SEED_CONFIG, &config_edits));
    }
}

#[test]
fn the_seeds_themselves_are_valid() {
    let files = [
        SourceFile {
            path: "acme/prod/manifest.yml".into(),
            bytes: SEED_MANIFEST.as_bytes().to_vec(),
        },
        SourceFile {
            path: "driftless.yaml".into(),
            bytes: SEED_CONFIG.as_bytes().to_vec(),
        },
    ];
    let loaded = load(&files, &LoadOptions { strict: true });
    assert!(loaded.diagnostics.is_empty(), "{:#?}", loaded.diagnostics);
    assert_eq!(loaded.repo.foundations[0].apps.len(), 2);
}

#[test]
fn pathological_yaml_is_refused_quickly() {
    let deep = format!("applications: {}", "[".repeat(50_000));
    run(deep.into_bytes(), Vec::new());
    let mut bomb = String::from("a: &a [x,x,x,x,x,x,x,x,x,x]\n");
    for i in 0..12 {
        bomb.push_str(&format!(
            "b{i}: &b{i} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n",
            p = if i == 0 {
                "a".to_string()
            } else {
                format!("b{}", i - 1)
            }
        ));
    }
    bomb.push_str("applications: [*b11]\n");
    run(bomb.into_bytes(), Vec::new());
}
