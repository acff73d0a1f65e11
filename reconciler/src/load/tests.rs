//! Loader tests: a fixture repo in, the diagnostics and a summary of what loaded out.
//!
//! Fixtures separate files with `--- <path>` lines. Snapshots update with `UPDATE_EXPECT=1`.

use expect_test::{Expect, expect};

use super::{LoadOptions, SourceFile, load};

fn files(fixture: &str) -> Vec<SourceFile> {
    let mut out = Vec::new();
    for chunk in fixture.split("--- ").filter(|c| !c.trim().is_empty()) {
        let (path, body) = chunk.split_once('\n').unwrap_or((chunk, ""));
        out.push(SourceFile {
            path: path.trim().to_owned(),
            bytes: body.as_bytes().to_vec(),
        });
    }
    out
}

fn render(fixture: &str, options: &LoadOptions) -> String {
    let loaded = load(&files(fixture), options);
    let mut out = String::new();
    for d in &loaded.diagnostics {
        out.push_str(&format!("{d}\n"));
    }
    for f in &loaded.repo.foundations {
        let apps: Vec<String> = f.apps.keys().map(ToString::to_string).collect();
        let unknown: Vec<String> = f.unknown.iter().map(ToString::to_string).collect();
        let unreadable: Vec<String> = f
            .unreadable_spaces
            .iter()
            .map(ToString::to_string)
            .collect();
        out.push_str(&format!("[{}] apps: {}", f.name, apps.join(", ")));
        if !unknown.is_empty() {
            out.push_str(&format!("; unknown: {}", unknown.join(", ")));
        }
        if !unreadable.is_empty() {
            out.push_str(&format!("; unreadable: {}", unreadable.join(", ")));
        }
        out.push('\n');
    }
    if !loaded.repo.config.valid {
        out.push_str("config: invalid\n");
    }
    out
}

#[track_caller]
fn check(fixture: &str, expect: Expect) {
    expect.assert_eq(&render(fixture, &LoadOptions::default()));
}

#[track_caller]
fn check_strict(fixture: &str, expect: Expect) {
    expect.assert_eq(&render(fixture, &LoadOptions { strict: true }));
}

#[test]
fn a_valid_manifest_loads_with_no_diagnostics() {
    check(
        "--- acme/prod/manifest.yml
applications:
- name: web
  docker: {image: nginx:1.27}
- name: worker
  docker: {image: registry.example.com/team/worker@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef}
  no-route: true
",
        expect![[r#"
            [default] apps: acme/prod/web, acme/prod/worker
        "#]],
    );
}

#[test]
fn invalid_yaml_is_located_and_makes_the_space_unreadable() {
    check(
        "--- acme/prod/manifest.yml
applications:
- name: web
  docker: {image: nginx
--- acme/dev/manifest.yml
applications:
- name: api
  docker: {image: nginx}
",
        expect![[r#"
            acme/prod/manifest.yml:4:1: invalid YAML: while parsing a flow mapping, did not find expected ',' or '}'
            [default] apps: acme/dev/api; unreadable: acme/prod
        "#]],
    );
}

#[test]
fn wrong_types_are_located_at_the_value() {
    check(
        "--- acme/prod/manifest.yml
applications:
- name: web
  docker: {image: nginx}
  routes: web.example.com
- name: api
  docker: nginx
- name: worker
  docker: {image: nginx}
  no-route: maybe
",
        expect![[r#"
            acme/prod/manifest.yml:4:11: expected a list, found a string
            acme/prod/manifest.yml:6:11: expected a mapping, found a string
            acme/prod/manifest.yml:9:13: expected a boolean, found a string
            [default] apps: ; unknown: acme/prod/api, acme/prod/web, acme/prod/worker
        "#]],
    );
}

#[test]
fn sizes_need_known_units_and_normalise_to_megabytes() {
    check(
        "--- acme/prod/manifest.yml
applications:
- name: ok
  docker: {image: nginx}
  memory: 1G
  disk_quota: 1024mb
- name: bad
  docker: {image: nginx}
  memory: 512
  disk-quota: 1Q
  log-rate-limit-per-second: 16X
",
        expect![[r#"
            acme/prod/manifest.yml:8:11: `memory: 512` has no unit; expected a whole number with a unit: B, K, KB, M, MB, G, GB, T or TB (such as `512M` or `1G`)
            acme/prod/manifest.yml:9:15: `disk_quota: 1Q` has an unknown unit `Q`; expected a whole number with a unit: B, K, KB, M, MB, G, GB, T or TB (such as `512M` or `1G`)
            acme/prod/manifest.yml:10:30: `log-rate-limit-per-second: 16X` has an unknown unit `X`; expected a whole number with a unit: B, K, KB, M, MB, G, GB, T or TB (such as `512M` or `1G`)
            [default] apps: acme/prod/ok; unknown: acme/prod/bad
        "#]],
    );
    let loaded = load(
        &files(
            "--- o/s/m.yml\napplications:\n- name: a\n  docker: {image: nginx}\n  memory: 1G\n  disk_quota: 2048M\n  log-rate-limit-per-second: 1KB\n",
        ),
        &LoadOptions::default(),
    );
    let web = &loaded.repo.foundations[0]
        .apps
        .values()
        .next()
        .expect("app a")
        .processes["web"];
    assert_eq!((web.memory_mb, web.disk_mb), (Some(1024), Some(2048)));
    assert_eq!(
        web.log_rate_limit,
        Some(crate::model::LogRateLimit::BytesPerSecond(1024))
    );
}

#[test]
fn instances_must_be_whole_and_not_negative() {
    check(
        "--- acme/prod/manifest.yml
applications:
- name: a
  docker: {image: nginx}
  instances: -1
- name: b
  docker: {image: nginx}
  instances: 1.5
- name: c
  docker: {image: nginx}
  processes:
  - type: worker
    instances: two
",
        expect![[r#"
            acme/prod/manifest.yml:4:14: `instances` must be a whole number of 0 or more, found `-1`
            acme/prod/manifest.yml:7:14: `instances` must be a whole number of 0 or more, found `1.5`
            acme/prod/manifest.yml:12:16: `instances` must be a whole number of 0 or more, found `two`
            [default] apps: ; unknown: acme/prod/a, acme/prod/b, acme/prod/c
        "#]],
    );
}

#[test]
fn an_app_without_a_name_keeps_its_space_from_being_pruned() {
    check(
        "--- acme/prod/manifest.yml
applications:
- docker: {image: nginx}
  memory: 1Z
- name: web
  docker: {image: nginx}
",
        expect![[r#"
            acme/prod/manifest.yml:2:3: this app has no `name`; every app needs one
            acme/prod/manifest.yml:3:11: `memory: 1Z` has an unknown unit `Z`; expected a whole number with a unit: B, K, KB, M, MB, G, GB, T or TB (such as `512M` or `1G`)
            [default] apps: acme/prod/web; unreadable: acme/prod
        "#]],
    );
}

#[test]
fn duplicate_names_in_a_space_ignore_case_and_span_files() {
    check(
        "--- acme/prod/a.yml
applications:
- name: web
  docker: {image: nginx}
--- acme/prod/b.yml
applications:
- name: WEB
  docker: {image: nginx}
- name: api
  docker: {image: nginx}
--- acme/dev/a.yml
applications:
- name: web
  docker: {image: nginx}
",
        expect![[r#"
            acme/prod/b.yml:2:3: duplicate app name `WEB` in acme/prod (first declared at acme/prod/a.yml:2:3); app names are unique in a space, ignoring case
            [default] apps: acme/dev/web, acme/prod/api; unknown: acme/prod/WEB
        "#]],
    );
}

#[test]
fn buildpack_keys_are_refused_with_or_without_docker() {
    check(
        "--- acme/prod/manifest.yml
applications:
- name: mixed
  docker: {image: nginx}
  buildpacks: [ruby_buildpack]
- name: legacy
  buildpack: java_buildpack
  path: app.jar
- name: nothing
",
        expect![[r#"
            acme/prod/manifest.yml:4:15: `buildpacks` cannot be combined with `docker`: an app is either a buildpack app or a docker app
            acme/prod/manifest.yml:6:14: `buildpack` is for buildpack apps; driftless deploys docker images: expected `docker: { image: ... }`
            acme/prod/manifest.yml:7:9: `path` is for buildpack apps; driftless deploys docker images: expected `docker: { image: ... }`
            acme/prod/manifest.yml:8:3: app `nothing` has no `docker.image`; driftless deploys docker images
            [default] apps: ; unknown: acme/prod/legacy, acme/prod/mixed, acme/prod/nothing
        "#]],
    );
}

#[test]
fn malformed_image_references_are_located() {
    check(
        "--- acme/prod/manifest.yml
applications:
- name: a
  docker: {image: Registry.io/Team/App}
- name: b
  docker: {image: 'app:'}
- name: c
  docker: {image: 'app@sha256:1234'}
- name: d
  docker: {image: 'reg.io:port/app'}
- name: e
  docker: {image: 'ci:s3cret@reg.io/app:1'}
",
        expect![[r#"
            acme/prod/manifest.yml:3:19: invalid image reference `Registry.io/Team/App`: the repository path `Team/App` must be lowercase; expected `[host[:port]/]repository[:tag][@sha256:<64 hex digits>]`
            acme/prod/manifest.yml:5:19: invalid image reference `app:`: the tag `` is invalid: at most 128 letters, digits, `_`, `.` or `-`, not starting with `.` or `-`; expected `[host[:port]/]repository[:tag][@sha256:<64 hex digits>]`
            acme/prod/manifest.yml:7:19: invalid image reference `app@sha256:1234`: the digest `sha256:1234` is invalid: it must be sha256:<64 lowercase hex digits>; expected `[host[:port]/]repository[:tag][@sha256:<64 hex digits>]`
            acme/prod/manifest.yml:9:19: invalid image reference `reg.io:port/app`: the registry port `port` is not a port number; expected `[host[:port]/]repository[:tag][@sha256:<64 hex digits>]`
            acme/prod/manifest.yml:11:19: invalid image reference `(redacted)`: the image reference carries credentials (`user:password@host/...`); a secret must never be in git, give the registry's credentials in driftless.yaml; expected `[host[:port]/]repository[:tag][@sha256:<64 hex digits>]`
            [default] apps: ; unknown: acme/prod/a, acme/prod/b, acme/prod/c, acme/prod/d, acme/prod/e
        "#]],
    );
}

#[test]
fn literal_secrets_are_refused_and_never_repeated() {
    let fixture = "--- driftless.yaml
foundations:
  - name: prod
    api: https://api.example.com
    auth: {username: deployer, password: hunter2-foundation}
registries:
  - host: registry.example.com:5000
    username: ci
    password: hunter2-registry
  - host: other.example.com
    username: ci
    password: {env: OTHER_PASSWORD}
--- acme/prod/manifest.yml
applications:
- name: web
  docker:
    image: other.example.com/web:1
    username: ci
    password: hunter2-manifest
";
    let out = render(fixture, &LoadOptions::default());
    assert!(!out.contains("hunter2"), "a secret was repeated:\n{out}");
    expect![[r#"
        acme/prod/manifest.yml:6:15: `docker.password` is not allowed: a secret must never be in git; give the registry's password in driftless.yaml `registries` as `{ env: NAME }` or `{ file: PATH }`
        driftless.yaml:4:42: a literal secret is not allowed in git; expected a reference: `{ env: NAME }` or `{ file: PATH }`
        driftless.yaml:8:15: a literal secret is not allowed in git; expected a reference: `{ env: NAME }` or `{ file: PATH }`
        [default] apps: ; unknown: acme/prod/web
        config: invalid
    "#]]
    .assert_eq(&out);
}

#[test]
fn secret_references_have_exactly_one_source() {
    check(
        "--- driftless.yaml
registries:
  - host: a.example.com
    username: ci
    password: {env: A, file: /run/a}
  - host: b.example.com
    username: ci
    password: {vault: secret/b}
  - host: c.example.com
    username: ci
    password: {file: /run/secrets/c}
",
        expect![[r#"
            driftless.yaml:4:15: a secret reference has exactly one of `env` or `file`
            driftless.yaml:7:15: unknown secret reference `vault`; expected `env` or `file`
            [default] apps: 
            config: invalid
        "#]],
    );
}

#[test]
fn private_images_need_a_matching_registry_entry() {
    check(
        "--- driftless.yaml
registries:
  - host: registry.example.com:5000
    username: ci-pull
    password: {env: REGISTRY_PASSWORD}
--- acme/prod/manifest.yml
applications:
- name: ok
  docker: {image: 'registry.example.com:5000/team/ok:1', username: ci-pull}
- name: wrong-user
  docker: {image: 'registry.example.com:5000/team/x:1', username: someone}
- name: no-entry
  docker: {image: 'private.example.com/team/y:1', username: ci}
",
        expect![[r#"
            acme/prod/manifest.yml:5:67: `docker.username: someone` does not match the `registries` entry for `registry.example.com:5000` (username `ci-pull`)
            acme/prod/manifest.yml:7:61: `docker.username` is set but driftless.yaml has no `registries` entry for `private.example.com`; add one with the password as `{ env: NAME }` or `{ file: PATH }`
            [default] apps: acme/prod/ok; unknown: acme/prod/no-entry, acme/prod/wrong-user
        "#]],
    );
}

#[test]
fn metadata_keys_and_values_follow_cloud_foundry() {
    check(
        "--- acme/prod/manifest.yml
applications:
- name: web
  docker: {image: nginx}
  metadata:
    labels:
      team: payments
      example.com/tier: backend
      sensitive: true
      'bad key': x
      a/b/c: x
      cloudfoundry.org/x: y
      driftless.dev/managed: 'true'
      ok: 'not ok!'
    annotations:
      contact: 'bob@example.com jane@example.com'
      -bad: x
",
        expect![[r#"
            acme/prod/manifest.yml:9:7: label key name `bad key` is invalid: expected at most 63 letters, digits, `-`, `_` or `.`, starting and ending with a letter or digit
            acme/prod/manifest.yml:10:7: label key `a/b/c` has more than one `/`; expected `[prefix/]name`
            acme/prod/manifest.yml:11:7: label key prefix `cloudfoundry.org` is reserved by Cloud Foundry
            acme/prod/manifest.yml:12:7: label key prefix `driftless.dev` is reserved for driftless's own metadata
            acme/prod/manifest.yml:13:11: label value `not ok!` is invalid: expected at most 63 letters, digits, `-`, `_` or `.`, starting and ending with a letter or digit
            acme/prod/manifest.yml:16:7: annotation key name `-bad` is invalid: expected at most 63 letters, digits, `-`, `_` or `.`, starting and ending with a letter or digit
            [default] apps: ; unknown: acme/prod/web
        "#]],
    );
}

#[test]
fn env_names_cloud_foundry_rejects_and_values_that_are_not_scalars() {
    check(
        "--- acme/prod/manifest.yml
applications:
- name: web
  docker: {image: nginx}
  env:
    LOG_LEVEL: debug
    WORKERS: 4
    DEBUG: false
    PORT: 8080
    VCAP_APPLICATION: x
    EMPTY:
",
        expect![[r#"
            acme/prod/manifest.yml:8:5: environment variable `PORT` cannot be set: Cloud Foundry assigns it
            acme/prod/manifest.yml:9:5: environment variable `VCAP_APPLICATION` cannot be set: names starting with `VCAP_` are reserved by Cloud Foundry
            acme/prod/manifest.yml:10:5: environment variable `EMPTY` has no value; expected a string, number or boolean
            [default] apps: ; unknown: acme/prod/web
        "#]],
    );
}

#[test]
fn health_checks_need_the_endpoints_cloud_foundry_requires() {
    check(
        "--- acme/prod/manifest.yml
applications:
- name: liveness-defaults-to-slash
  docker: {image: nginx}
  health-check-type: http
- name: readiness-needs-endpoint
  docker: {image: nginx}
  readiness-health-check-type: http
- name: endpoint-needs-http
  docker: {image: nginx}
  health-check-type: port
  health-check-http-endpoint: /health
- name: endpoint-is-a-path
  docker: {image: nginx}
  health-check-type: http
  health-check-http-endpoint: health
- name: bad-type
  docker: {image: nginx}
  health-check-type: tcp
",
        expect![[r#"
            acme/prod/manifest.yml:7:32: `readiness-health-check-type: http` needs `readiness-health-check-http-endpoint`, the path to request
            acme/prod/manifest.yml:11:31: `health-check-http-endpoint` needs `health-check-type: http`
            acme/prod/manifest.yml:15:31: `health-check-http-endpoint: health` must be a path starting with `/`
            acme/prod/manifest.yml:18:22: unknown variant `tcp`, expected one of `port`, `process`, `http`, `none`
            [default] apps: acme/prod/liveness-defaults-to-slash; unknown: acme/prod/bad-type, acme/prod/endpoint-is-a-path, acme/prod/endpoint-needs-http, acme/prod/readiness-needs-endpoint
        "#]],
    );
}

#[test]
fn manifests_must_sit_at_org_space_depth() {
    check(
        "--- manifest.yml
applications:
- name: top
  docker: {image: nginx}
--- acme/prod/extra/manifest.yml
applications:
- name: deep
  docker: {image: nginx}
--- acme/vars.yml
image_tag: 1.2
--- charts/driftless/templates/deployment.yaml
{{ if .Values.enabled }}: broken
",
        expect![[r#"
            acme/prod/extra/manifest.yml:1:1: this manifest is not at `<org>/<space>/` depth: expected `<org>/<space>/<file>.yml`
            manifest.yml:1:1: this manifest is not at `<org>/<space>/` depth: expected `<org>/<space>/<file>.yml`
            [default] apps: 
        "#]],
    );
}

#[test]
fn foundations_scope_manifests_by_path() {
    check(
        "--- driftless.yaml
foundations:
  - name: prod
    api: https://api.prod.example.com
    path: prod
    feature_flags: {diego_docker: true}
  - name: staging
    api: https://api.staging.example.com
    path: ./staging/
--- prod/acme/web/manifest.yml
applications:
- name: web
  docker: {image: nginx}
--- staging/acme/web/manifest.yml
applications:
- name: web
  docker: {image: nginx:next}
--- acme/web/manifest.yml
applications:
- name: lost
  docker: {image: nginx}
",
        expect![[r#"
            acme/web/manifest.yml:1:1: this manifest is not at `<org>/<space>/` depth: expected `prod/<org>/<space>/<file>.yml` or `staging/<org>/<space>/<file>.yml`
            [prod] apps: acme/web/web
            [staging] apps: acme/web/web
        "#]],
    );
}

#[test]
fn config_references_must_resolve_and_entries_must_be_complete() {
    check(
        "--- driftless.yaml
foundations:
  - name: prod
    api: https://api.example.com
  - name: prod
    api: https://api2.example.com
  - name: lab
    api: ftp://lab
    auth: {username: admin}
  - api: https://x.example.com
  - name: nested
    api: https://n.example.com
    path: ../outside
apps:
  - match: '*/prod/*'
    foundation: prd
  - match: 'web'
  - match: '*/*/*'
    foundation: nowhere
policy:
  max_delete_fraction: 2
",
        expect![[r#"
            driftless.yaml:4:11: foundation `prod` is defined twice; expected unique names
            driftless.yaml:7:10: foundation `lab`: `api` must be an http:// or https:// URL
            driftless.yaml:8:11: foundation `lab`: `auth` needs either `username` and `password`, or `client_id` and `client_secret`
            driftless.yaml:9:5: a foundation needs a `name`
            driftless.yaml:12:11: foundation `nested`: `path: ../outside` must be a directory inside the repo, such as `prod/`
            driftless.yaml:15:17: foundation `prd` is not defined in `foundations`; did you mean `prod`?
            driftless.yaml:16:12: `match: web` must have three segments, `org/space/name` (or use `**`)
            driftless.yaml:18:17: foundation `nowhere` is not defined in `foundations`; defined: prod, lab, nested
            driftless.yaml:20:24: `max_delete_fraction` must be between 0 and 1
            [prod] apps: 
            [lab] apps: 
            [nested] apps: 
            config: invalid
        "#]],
    );
}

#[test]
fn unknown_keys_warn_with_a_hint_and_fail_under_strict() {
    let fixture = "--- acme/prod/manifest.yml
applications:
- name: web
  docker: {image: nginx, tag: x}
  instaces: 3
  processes:
  - type: worker
    comand: run
--- driftless.yaml
polcy: {}
";
    check(
        fixture,
        expect![[r#"
            acme/prod/manifest.yml:3:26: warning: unknown key `tag`
            acme/prod/manifest.yml:4:3: warning: unknown key `instaces`; did you mean `instances`?
            acme/prod/manifest.yml:7:5: warning: unknown key `comand`; did you mean `command`?
            driftless.yaml:1:1: warning: unknown key `polcy`; did you mean `policy`?
            [default] apps: acme/prod/web
        "#]],
    );
    check_strict(
        fixture,
        expect![[r#"
            acme/prod/manifest.yml:3:26: unknown key `tag`
            acme/prod/manifest.yml:4:3: unknown key `instaces`; did you mean `instances`?
            acme/prod/manifest.yml:7:5: unknown key `comand`; did you mean `command`?
            driftless.yaml:1:1: unknown key `polcy`; did you mean `policy`?
            [default] apps: ; unknown: acme/prod/web
            config: invalid
        "#]],
    );
}

#[test]
fn hyphen_and_underscore_spellings_are_one_key() {
    check(
        "--- acme/prod/manifest.yml
applications:
- name: a
  docker: {image: nginx}
  disk-quota: 1G
  no_route: true
  health_check_type: process
- name: b
  docker: {image: nginx}
  disk_quota: 1G
  disk-quota: 2G
",
        expect![[r#"
            acme/prod/manifest.yml:10:3: `disk-quota` is the same key as `disk_quota` (line 9); expected it once
            [default] apps: acme/prod/a; unknown: acme/prod/b
        "#]],
    );
}

#[test]
fn anchors_and_merge_keys_work() {
    let fixture = "--- acme/prod/manifest.yml
defaults: &defaults
  docker: {image: 'registry.example.com/team/base:1'}
  memory: 256M
  env: &env {LOG_LEVEL: info}
applications:
- <<: *defaults
  name: a
- <<: *defaults
  name: b
  memory: 1G
  env: {<<: *env, EXTRA: x}
";
    check(
        fixture,
        expect![[r#"
            acme/prod/manifest.yml:1:1: warning: unknown key `defaults`
            [default] apps: acme/prod/a, acme/prod/b
        "#]],
    );
    let loaded = load(&files(fixture), &LoadOptions::default());
    let apps = &loaded.repo.foundations[0].apps;
    let (a, b) = (
        apps.values().next().expect("a"),
        apps.values().nth(1).expect("b"),
    );
    assert_eq!(a.image.to_string(), "registry.example.com/team/base:1");
    assert_eq!(
        (a.processes["web"].memory_mb, b.processes["web"].memory_mb),
        (Some(256), Some(1024))
    );
    assert_eq!(b.env.get("LOG_LEVEL").map(String::as_str), Some("info"));
    assert_eq!(b.env.get("EXTRA").map(String::as_str), Some("x"));
}

#[test]
fn processes_merge_with_top_level_web_keys() {
    check(
        "--- acme/prod/manifest.yml
applications:
- name: ok
  docker: {image: nginx}
  instances: 2
  processes:
  - type: web
    memory: 512M
  - type: worker
    command: bin/worker
    no-such: 1
- name: clash
  docker: {image: nginx}
  instances: 2
  processes:
  - type: web
    instances: 3
  - type: worker
  - type: worker
  - command: x
  sidecars:
  - name: proxy
    process_types: [web, missing]
    command: envoy
",
        expect![[r#"
            acme/prod/manifest.yml:10:5: warning: unknown key `no-such`
            acme/prod/manifest.yml:16:16: `instances` is given both at the app's top level and in its `web` process; give it once
            acme/prod/manifest.yml:18:11: process type `worker` is listed twice
            acme/prod/manifest.yml:19:5: this process has no `type`; expected one such as `web` or `worker`
            [default] apps: acme/prod/ok; unknown: acme/prod/clash
        "#]],
    );
}

#[test]
fn routes_follow_cf_push() {
    check(
        "--- acme/prod/manifest.yml
applications:
- name: listed
  docker: {image: nginx}
  routes:
  - route: Web.Example.com/api
  - route: web.example.com/api
  - route: https://web.example.com
  - route: nodomain
- name: conflict
  docker: {image: nginx}
  no-route: true
  routes: [{route: a.example.com}]
",
        expect![[r#"
            acme/prod/manifest.yml:6:12: route `web.example.com/api` is listed twice
            acme/prod/manifest.yml:7:12: route `https://web.example.com` has a URL scheme; expected `host.domain[:port][/path]`
            acme/prod/manifest.yml:8:12: route `nodomain` has an invalid host or domain `nodomain`; expected `host.domain[:port][/path]`
            acme/prod/manifest.yml:11:13: `no-route: true` conflicts with `routes`; expected one of them
            [default] apps: ; unknown: acme/prod/conflict, acme/prod/listed
        "#]],
    );
}

#[test]
fn files_that_are_not_manifests_are_left_alone_but_bad_bytes_at_manifest_depth_are_errors() {
    let mut repo = files("--- acme/prod/vars.yml\nimage_tag: 1\n--- README.yml\n: : :\n");
    repo.push(SourceFile {
        path: "acme/prod/binary.yml".to_owned(),
        bytes: vec![0xff, 0xfe, 0x00],
    });
    let loaded = load(&repo, &LoadOptions::default());
    let out: Vec<String> = loaded.diagnostics.iter().map(ToString::to_string).collect();
    assert_eq!(
        out,
        ["acme/prod/binary.yml:1:1: the file is not UTF-8 text; expected a YAML app manifest"]
    );
    assert!(
        loaded.repo.foundations[0]
            .unreadable_spaces
            .iter()
            .any(|s| s.to_string() == "acme/prod")
    );
}

#[test]
fn a_second_yaml_document_is_an_error() {
    check(
        "--- acme/prod/manifest.yml
applications:
- name: a
  docker: {image: nginx}
---
applications:
- name: b
  docker: {image: nginx}
",
        expect![[r#"
            acme/prod/manifest.yml:4:1: a manifest holds one YAML document; this second one is ignored
            [default] apps: ; unreadable: acme/prod
        "#]],
    );
}

#[test]
fn app_rules_apply_by_glob_first_match_wins() {
    let fixture = "--- driftless.yaml
apps:
  - match: '*/prod/*'
    strategy: canary
  - match: '**'
    suspend: true
--- acme/prod/m.yml
applications:
- name: web
  docker: {image: nginx}
--- acme/dev/m.yml
applications:
- name: web
  docker: {image: nginx}
";
    let loaded = load(&files(fixture), &LoadOptions::default());
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    let apps: Vec<_> = loaded.repo.foundations[0]
        .apps
        .values()
        .map(|a| (a.key.to_string(), a.settings.clone()))
        .collect();
    use crate::model::{AppSettings, Strategy};
    assert_eq!(
        apps,
        [
            (
                "acme/dev/web".to_owned(),
                AppSettings {
                    strategy: Strategy::Rolling,
                    suspend: true
                }
            ),
            (
                "acme/prod/web".to_owned(),
                AppSettings {
                    strategy: Strategy::Canary,
                    suspend: false
                }
            ),
        ]
    );
}

#[test]
fn config_keys_match_the_schema() {
    let schema = driftless_schema::config_schema();
    let mut keys: Vec<&str> = schema["properties"]
        .as_object()
        .expect("properties")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    let mut ours = super::config::CONFIG_KEYS.to_vec();
    ours.sort_unstable();
    assert_eq!(keys, ours);
}

#[test]
fn service_bindings_are_names_or_checked_mappings() {
    check(
        "--- acme/prod/manifest.yml
applications:
- name: web
  docker: {image: nginx}
  services:
  - db
  - name: cache
    binding-name: web-cache
    parameters: {size: 1, tags: [a, b]}
    bindng_name: typo
  - {binding_name: orphan}
  - db
",
        expect![[r#"
            acme/prod/manifest.yml:9:5: warning: unknown key `bindng_name`; did you mean `binding_name`?
            acme/prod/manifest.yml:10:5: a service binding needs the service instance's name
            acme/prod/manifest.yml:11:5: service `db` is bound twice
            [default] apps: ; unknown: acme/prod/web
        "#]],
    );
    let loaded = load(
        &files(
            "--- o/s/m.yml\napplications:\n- name: a\n  docker: {image: nginx}\n  services: [db, {name: c, binding-name: b, parameters: {size: 1}}]\n",
        ),
        &LoadOptions { strict: true },
    );
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    let services = &loaded.repo.foundations[0]
        .apps
        .values()
        .next()
        .expect("app")
        .services;
    assert_eq!(services.len(), 2);
    assert_eq!(
        (
            services[1].name.as_str(),
            services[1].binding_name.as_deref()
        ),
        ("c", Some("b"))
    );
    assert_eq!(
        services[1].parameters.get("size"),
        Some(&serde_json::json!(1))
    );
}

#[test]
fn an_app_is_not_blamed_for_a_registry_entry_that_failed_to_load() {
    check(
        "--- driftless.yaml
registries:
  - host: registry.example.com:5000
    username: ci
    password: literal-value
--- acme/prod/manifest.yml
applications:
- name: web
  docker: {image: 'registry.example.com:5000/web:1', username: ci}
",
        expect![[r#"
            driftless.yaml:4:15: a literal secret is not allowed in git; expected a reference: `{ env: NAME }` or `{ file: PATH }`
            [default] apps: acme/prod/web
            config: invalid
        "#]],
    );
}

/// An emptied manifest, or one whose `applications:` is misspelt, must not make its apps look
/// deleted from git: a warning, and nothing in the space is pruned. Other YAML next to a
/// manifest (a vars file) is not ours and says nothing.
#[test]
fn an_emptied_or_misspelt_manifest_protects_its_space_from_pruning() {
    check(
        "--- acme/prod/manifest.yml
applications:
- name: web
  docker: {image: nginx:1.27}
--- acme/prod/more.yml
--- acme/dev/manifest.yml
aplications:
- name: api
  docker: {image: nginx:1.27}
--- acme/dev/vars.yml
instances: 3
",
        expect![[r#"
            acme/dev/manifest.yml:1:1: warning: top-level key `aplications`: did you mean `applications`? The file is not read as a manifest (nothing in this space is pruned while it is here)
            acme/prod/more.yml:1:1: warning: the file is empty; expected a manifest with `applications:` (nothing in this space is pruned while it is here)
            [default] apps: acme/prod/web; unreadable: acme/dev, acme/prod
        "#]],
    );
}
