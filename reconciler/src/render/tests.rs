//! Renderer tests: reports built by hand, every format snapshotted, the JSON read back and the
//! JUnit XML checked for well-formedness and counts. Snapshots update with `UPDATE_EXPECT=1`.

use std::collections::BTreeMap;

use expect_test::{Expect, expect};
use serde_json::{Value, json as j};

use super::{Format, UnknownFormat, json, render};
use crate::{
    model::{AppKey, AppName, SpaceKey},
    plan::{Action, Change, ChangeResult, FieldDiff, Outcome, Plan, Report, Rollout, Target, Work},
};

// Fixtures.

fn app(space: &str, name: &str) -> Target {
    Target::App(AppKey {
        space: SpaceKey {
            org: "acme".to_owned(),
            space: space.to_owned(),
        },
        name: AppName::new(name),
    })
}

fn change(target: Target, action: Action, rollout: Rollout, reason: &str) -> Change {
    Change {
        target,
        action,
        fields: Vec::new(),
        rollout,
        reason: reason.to_owned(),
        work: Work::Nothing,
    }
}

fn with(mut change: Change, fields: &[(&str, Value, Value)]) -> Change {
    change.fields = fields
        .iter()
        .map(|(path, live, desired)| FieldDiff {
            path: (*path).to_owned(),
            live: live.clone(),
            desired: desired.clone(),
        })
        .collect();
    change
}

fn plan(foundation: &str, revision: Option<&str>, changes: Vec<Change>) -> Plan {
    Plan {
        foundation: foundation.to_owned(),
        revision: revision.map(str::to_owned),
        changes,
        refused: None,
    }
}

fn planned(plan: Plan) -> Report {
    Report {
        plan,
        results: None,
    }
}

fn result(outcome: Outcome, error: Option<&str>) -> ChangeResult {
    ChangeResult {
        outcome,
        error: error.map(str::to_owned),
    }
}

const SHA: &str = "4f4dbeb2c0e1a7d9b3f5e6a8c9d0e1f2a3b4c5d6";

/// Every action and every rollout, masked values included.
fn every_action() -> Report {
    planned(plan(
        "prod",
        Some(SHA),
        vec![
            with(
                change(
                    Target::FeatureFlag("diego_docker".to_owned()),
                    Action::Update,
                    Rollout::None,
                    "feature flag differs",
                ),
                &[("enabled", j!(false), j!(true))],
            ),
            with(
                change(
                    app("prod", "api"),
                    Action::Create,
                    Rollout::Rolling,
                    "not on the foundation",
                ),
                &[
                    ("image", Value::Null, j!("registry.example.com/api:1.4")),
                    ("instances", Value::Null, j!(2)),
                ],
            ),
            with(
                change(
                    app("prod", "billing"),
                    Action::Update,
                    Rollout::Canary,
                    "image and credential changed",
                ),
                &[
                    (
                        "image",
                        j!("registry.example.com/billing:1.4"),
                        j!("registry.example.com/billing:1.5"),
                    ),
                    ("env.DB_PASSWORD", j!("(sensitive)"), j!("(sensitive)")),
                    (
                        "docker.credential",
                        j!("(credential changed)"),
                        j!("(credential changed)"),
                    ),
                ],
            ),
            with(
                change(
                    app("prod", "cron"),
                    Action::Update,
                    Rollout::Restart,
                    "env differs",
                ),
                &[("env.GREETING", j!("hi"), j!("hello"))],
            ),
            change(
                app("prod", "legacy"),
                Action::Delete,
                Rollout::None,
                "not in git; prune is on",
            ),
            change(
                app("prod", "manual"),
                Action::Unowned,
                Rollout::None,
                "exists and is not managed by driftless",
            ),
            change(
                app("prod", "old"),
                Action::Orphan,
                Rollout::None,
                "not in git; prune is off",
            ),
            change(
                app("prod", "shop"),
                Action::Blocked,
                Rollout::None,
                "exists and is not managed by driftless",
            ),
            change(app("prod", "static"), Action::Noop, Rollout::None, ""),
            with(
                change(
                    app("prod", "worker"),
                    Action::Update,
                    Rollout::InPlace,
                    "scale",
                ),
                &[
                    ("processes.web.instances", j!(1), j!(3)),
                    (
                        "routes",
                        j!(["a.example.com"]),
                        j!(["a.example.com", "b.example.com"]),
                    ),
                ],
            ),
        ],
    ))
}

/// Nothing to do: two unchanged apps.
fn clean(foundation: &str) -> Report {
    planned(plan(
        foundation,
        Some("0123456789abcdef0123456789abcdef01234567"),
        vec![
            change(app("dev", "api"), Action::Noop, Rollout::None, ""),
            change(app("dev", "web"), Action::Noop, Rollout::None, ""),
        ],
    ))
}

/// The mass-delete guard stopped the plan; the repo is a plain directory.
fn refused() -> Report {
    let mut plan = plan(
        "staging",
        None,
        vec![
            change(
                app("qa", "a"),
                Action::Delete,
                Rollout::None,
                "not in git; prune is on",
            ),
            change(
                app("qa", "b"),
                Action::Delete,
                Rollout::None,
                "not in git; prune is on",
            ),
            change(app("qa", "c"), Action::Noop, Rollout::None, ""),
        ],
    );
    plan.refused =
        Some("would delete 2 of 3 managed apps; pass --allow-mass-delete to proceed".to_owned());
    planned(plan)
}

/// An apply: one applied, one failed, one blocked, one orphan skipped, one noop skipped.
fn applied() -> Report {
    let plan = plan(
        "prod",
        Some(SHA),
        vec![
            with(
                change(
                    app("prod", "api"),
                    Action::Create,
                    Rollout::Rolling,
                    "not on the foundation",
                ),
                &[("instances", Value::Null, j!(2))],
            ),
            with(
                change(
                    app("prod", "billing"),
                    Action::Update,
                    Rollout::Rolling,
                    "image changed",
                ),
                &[("image", j!("billing:1.4"), j!("billing:1.5"))],
            ),
            change(
                app("prod", "old"),
                Action::Orphan,
                Rollout::None,
                "not in git; prune is off",
            ),
            change(
                app("prod", "shop"),
                Action::Blocked,
                Rollout::None,
                "exists and is not managed by driftless",
            ),
            change(app("prod", "static"), Action::Noop, Rollout::None, ""),
        ],
    );
    Report {
        plan,
        results: Some(vec![
            result(Outcome::Applied, None),
            result(
                Outcome::Failed,
                Some("deploy image: deployment failed: instances crashed"),
            ),
            result(Outcome::Skipped, None),
            result(Outcome::Blocked, None),
            result(Outcome::Skipped, None),
        ]),
    }
}

/// Names, reasons, paths and values that need escaping in every format.
fn hostile() -> Report {
    planned(plan(
        "a&b <\"c'> | d",
        None,
        vec![with(
            change(
                app("s|p", "x`y"),
                Action::Update,
                Rollout::Restart,
                "uses <script>&\"q\"' | *bold* _u_ [l](x) `t`\nsecond \u{1b}[31mline",
            ),
            &[
                (
                    "env.A|B",
                    j!("pipe | and `tick` and ``two``"),
                    j!("<b>&amp;</b>"),
                ),
                ("env.NL", j!("line1\nline2\ttab"), j!("'single' \"double\"")),
                ("env.CTRL", j!("bell\u{7}"), j!("`")),
            ],
        )],
    ))
}

#[track_caller]
fn check(reports: &[Report], format: Format, expect: Expect) {
    expect.assert_eq(&render(reports, format));
}

// Text.

#[test]
fn text_every_action() {
    check(
        &[every_action()],
        Format::Text,
        expect![[r#"
        Foundation prod at 4f4dbeb2c0e1a7d9b3f5e6a8c9d0e1f2a3b4c5d6

        ~ feature_flag:diego_docker: feature flag differs
            enabled: false -> true
        + app:acme/prod/api [rolling]: not on the foundation
            image: null -> "registry.example.com/api:1.4"
            instances: null -> 2
        ~ app:acme/prod/billing [canary]: image and credential changed
            image: "registry.example.com/billing:1.4" -> "registry.example.com/billing:1.5"
            env.DB_PASSWORD: (sensitive) -> (sensitive)
            docker.credential: (credential changed) -> (credential changed)
        ~ app:acme/prod/cron [restart]: env differs
            env.GREETING: "hi" -> "hello"
        - app:acme/prod/legacy: not in git; prune is on
        ? app:acme/prod/old: not in git; prune is off
        ! app:acme/prod/shop: exists and is not managed by driftless
        ~ app:acme/prod/worker [in_place]: scale
            processes.web.instances: 1 -> 3
            routes: ["a.example.com"] -> ["a.example.com","b.example.com"]

        Not managed by driftless:
            app:acme/prod/manual: exists and is not managed by driftless

        1 unchanged, 1 not managed by driftless.
        Plan: 1 to create, 4 to update, 1 to delete, 1 blocked, 1 orphan.
    "#]],
    );
}

#[test]
fn text_clean() {
    check(
        &[clean("dev")],
        Format::Text,
        expect![[r#"
        Foundation dev at 0123456789abcdef0123456789abcdef01234567

        No changes: the foundation matches git.

        2 unchanged, 0 not managed by driftless.
        Plan: 0 to create, 0 to update, 0 to delete, 0 blocked, 0 orphan.
    "#]],
    );
}

#[test]
fn text_refused_without_revision() {
    check(
        &[refused()],
        Format::Text,
        expect![[r#"
        Foundation staging at (working directory)
        PLAN REFUSED: would delete 2 of 3 managed apps; pass --allow-mass-delete to proceed
        Nothing will be applied.

        - app:acme/qa/a: not in git; prune is on
        - app:acme/qa/b: not in git; prune is on

        1 unchanged, 0 not managed by driftless.
        Plan: 0 to create, 0 to update, 2 to delete, 0 blocked, 0 orphan.
        The plan was refused: nothing will be applied.
    "#]],
    );
}

#[test]
fn text_apply_results() {
    check(
        &[applied()],
        Format::Text,
        expect![[r#"
        Foundation prod at 4f4dbeb2c0e1a7d9b3f5e6a8c9d0e1f2a3b4c5d6

        + app:acme/prod/api [rolling]: not on the foundation
            instances: null -> 2
            => applied
        ~ app:acme/prod/billing [rolling]: image changed
            image: "billing:1.4" -> "billing:1.5"
            => failed: deploy image: deployment failed: instances crashed
        ? app:acme/prod/old: not in git; prune is off
            => skipped
        ! app:acme/prod/shop: exists and is not managed by driftless
            => blocked

        1 unchanged, 0 not managed by driftless.
        Plan: 1 to create, 1 to update, 0 to delete, 1 blocked, 1 orphan.
        Apply: 1 applied, 1 failed, 1 blocked, 2 skipped.
    "#]],
    );
}

#[test]
fn text_multiple_foundations_and_escaping() {
    check(
        &[hostile(), clean("dev")],
        Format::Text,
        expect![[r#"
            Foundation a&b <"c'> | d at (working directory)

            ~ app:acme/s|p/x`y [restart]: uses <script>&"q"' | *bold* _u_ [l](x) `t`\nsecond \u{1b}[31mline
                env.A|B: "pipe | and `tick` and ``two``" -> "<b>&amp;</b>"
                env.NL: "line1\nline2\ttab" -> "'single' \"double\""
                env.CTRL: "bell\u0007" -> "`"

            Plan: 0 to create, 1 to update, 0 to delete, 0 blocked, 0 orphan.

            Foundation dev at 0123456789abcdef0123456789abcdef01234567

            No changes: the foundation matches git.

            2 unchanged, 0 not managed by driftless.
            Plan: 0 to create, 0 to update, 0 to delete, 0 blocked, 0 orphan.
        "#]],
    );
}

// JSON.

#[test]
fn json_every_action() {
    check(
        &[every_action()],
        Format::Json,
        expect![[r#"
            {
              "revision": "4f4dbeb2c0e1a7d9b3f5e6a8c9d0e1f2a3b4c5d6",
              "foundation": "prod",
              "refused": null,
              "changes": [
                {
                  "target": "feature_flag:diego_docker",
                  "action": "update",
                  "fields": [
                    {
                      "path": "enabled",
                      "live": false,
                      "desired": true
                    }
                  ],
                  "rollout": "none",
                  "reason": "feature flag differs"
                },
                {
                  "target": "app:acme/prod/api",
                  "action": "create",
                  "fields": [
                    {
                      "path": "image",
                      "live": null,
                      "desired": "registry.example.com/api:1.4"
                    },
                    {
                      "path": "instances",
                      "live": null,
                      "desired": 2
                    }
                  ],
                  "rollout": "rolling",
                  "reason": "not on the foundation"
                },
                {
                  "target": "app:acme/prod/billing",
                  "action": "update",
                  "fields": [
                    {
                      "path": "image",
                      "live": "registry.example.com/billing:1.4",
                      "desired": "registry.example.com/billing:1.5"
                    },
                    {
                      "path": "env.DB_PASSWORD",
                      "live": "(sensitive)",
                      "desired": "(sensitive)"
                    },
                    {
                      "path": "docker.credential",
                      "live": "(credential changed)",
                      "desired": "(credential changed)"
                    }
                  ],
                  "rollout": "canary",
                  "reason": "image and credential changed"
                },
                {
                  "target": "app:acme/prod/cron",
                  "action": "update",
                  "fields": [
                    {
                      "path": "env.GREETING",
                      "live": "hi",
                      "desired": "hello"
                    }
                  ],
                  "rollout": "restart",
                  "reason": "env differs"
                },
                {
                  "target": "app:acme/prod/legacy",
                  "action": "delete",
                  "fields": [],
                  "rollout": "none",
                  "reason": "not in git; prune is on"
                },
                {
                  "target": "app:acme/prod/manual",
                  "action": "unowned",
                  "fields": [],
                  "rollout": "none",
                  "reason": "exists and is not managed by driftless"
                },
                {
                  "target": "app:acme/prod/old",
                  "action": "orphan",
                  "fields": [],
                  "rollout": "none",
                  "reason": "not in git; prune is off"
                },
                {
                  "target": "app:acme/prod/shop",
                  "action": "blocked",
                  "fields": [],
                  "rollout": "none",
                  "reason": "exists and is not managed by driftless"
                },
                {
                  "target": "app:acme/prod/static",
                  "action": "noop",
                  "fields": [],
                  "rollout": "none",
                  "reason": ""
                },
                {
                  "target": "app:acme/prod/worker",
                  "action": "update",
                  "fields": [
                    {
                      "path": "processes.web.instances",
                      "live": 1,
                      "desired": 3
                    },
                    {
                      "path": "routes",
                      "live": [
                        "a.example.com"
                      ],
                      "desired": [
                        "a.example.com",
                        "b.example.com"
                      ]
                    }
                  ],
                  "rollout": "in_place",
                  "reason": "scale"
                }
              ],
              "summary": {
                "create": 1,
                "update": 4,
                "delete": 1,
                "orphan": 1,
                "blocked": 1,
                "noop": 1,
                "unowned": 1
              }
            }
        "#]],
    );
}

#[test]
fn json_apply_results() {
    check(
        &[applied()],
        Format::Json,
        expect![[r#"
            {
              "revision": "4f4dbeb2c0e1a7d9b3f5e6a8c9d0e1f2a3b4c5d6",
              "foundation": "prod",
              "refused": null,
              "changes": [
                {
                  "target": "app:acme/prod/api",
                  "action": "create",
                  "fields": [
                    {
                      "path": "instances",
                      "live": null,
                      "desired": 2
                    }
                  ],
                  "rollout": "rolling",
                  "reason": "not on the foundation",
                  "result": "applied",
                  "error": null
                },
                {
                  "target": "app:acme/prod/billing",
                  "action": "update",
                  "fields": [
                    {
                      "path": "image",
                      "live": "billing:1.4",
                      "desired": "billing:1.5"
                    }
                  ],
                  "rollout": "rolling",
                  "reason": "image changed",
                  "result": "failed",
                  "error": "deploy image: deployment failed: instances crashed"
                },
                {
                  "target": "app:acme/prod/old",
                  "action": "orphan",
                  "fields": [],
                  "rollout": "none",
                  "reason": "not in git; prune is off",
                  "result": "skipped",
                  "error": null
                },
                {
                  "target": "app:acme/prod/shop",
                  "action": "blocked",
                  "fields": [],
                  "rollout": "none",
                  "reason": "exists and is not managed by driftless",
                  "result": "blocked",
                  "error": null
                },
                {
                  "target": "app:acme/prod/static",
                  "action": "noop",
                  "fields": [],
                  "rollout": "none",
                  "reason": "",
                  "result": "skipped",
                  "error": null
                }
              ],
              "summary": {
                "create": 1,
                "update": 1,
                "delete": 0,
                "orphan": 1,
                "blocked": 1,
                "noop": 1,
                "unowned": 0
              }
            }
        "#]],
    );
}

#[test]
fn json_multiple_foundations_is_an_array() {
    check(
        &[refused(), hostile()],
        Format::Json,
        expect![[r#"
            [
              {
                "revision": null,
                "foundation": "staging",
                "refused": "would delete 2 of 3 managed apps; pass --allow-mass-delete to proceed",
                "changes": [
                  {
                    "target": "app:acme/qa/a",
                    "action": "delete",
                    "fields": [],
                    "rollout": "none",
                    "reason": "not in git; prune is on"
                  },
                  {
                    "target": "app:acme/qa/b",
                    "action": "delete",
                    "fields": [],
                    "rollout": "none",
                    "reason": "not in git; prune is on"
                  },
                  {
                    "target": "app:acme/qa/c",
                    "action": "noop",
                    "fields": [],
                    "rollout": "none",
                    "reason": ""
                  }
                ],
                "summary": {
                  "create": 0,
                  "update": 0,
                  "delete": 2,
                  "orphan": 0,
                  "blocked": 0,
                  "noop": 1,
                  "unowned": 0
                }
              },
              {
                "revision": null,
                "foundation": "a&b <\"c'> | d",
                "refused": null,
                "changes": [
                  {
                    "target": "app:acme/s|p/x`y",
                    "action": "update",
                    "fields": [
                      {
                        "path": "env.A|B",
                        "live": "pipe | and `tick` and ``two``",
                        "desired": "<b>&amp;</b>"
                      },
                      {
                        "path": "env.NL",
                        "live": "line1\nline2\ttab",
                        "desired": "'single' \"double\""
                      },
                      {
                        "path": "env.CTRL",
                        "live": "bell\u0007",
                        "desired": "`"
                      }
                    ],
                    "rollout": "restart",
                    "reason": "uses <script>&\"q\"' | *bold* _u_ [l](x) `t`\nsecond \u001b[31mline"
                  }
                ],
                "summary": {
                  "create": 0,
                  "update": 1,
                  "delete": 0,
                  "orphan": 0,
                  "blocked": 0,
                  "noop": 0,
                  "unowned": 0
                }
              }
            ]
        "#]],
    );
}

#[test]
fn json_reads_back() {
    let text = render(&[every_action()], Format::Json);
    assert!(text.ends_with("}\n"));
    let doc: Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(doc, json(&every_action()));
    assert_eq!(doc["revision"], j!(SHA));
    assert_eq!(doc["foundation"], j!("prod"));
    assert_eq!(doc["refused"], Value::Null);
    assert_eq!(
        doc["summary"],
        j!({"create": 1, "update": 4, "delete": 1, "orphan": 1, "blocked": 1, "noop": 1, "unowned": 1})
    );
    let changes = doc["changes"].as_array().expect("changes");
    assert_eq!(changes.len(), 10);
    assert_eq!(changes[0]["target"], j!("feature_flag:diego_docker"));
    let billing = &changes[2];
    assert_eq!(billing["target"], j!("app:acme/prod/billing"));
    assert_eq!(billing["action"], j!("update"));
    assert_eq!(billing["rollout"], j!("canary"));
    assert_eq!(billing["reason"], j!("image and credential changed"));
    assert_eq!(
        billing["fields"][1],
        j!({"path": "env.DB_PASSWORD", "live": "(sensitive)", "desired": "(sensitive)"})
    );
    assert_eq!(billing["fields"][2]["desired"], j!("(credential changed)"));
    assert_eq!(changes[1]["fields"][1]["live"], Value::Null);
    assert_eq!(changes[1]["fields"][1]["desired"], j!(2));
    let rollouts: Vec<&str> = changes
        .iter()
        .map(|c| c["rollout"].as_str().expect("rollout"))
        .collect();
    for rollout in ["none", "in_place", "restart", "rolling", "canary"] {
        assert!(rollouts.contains(&rollout), "{rollout} missing");
    }
    for c in changes {
        assert!(c.get("result").is_none() && c.get("error").is_none());
    }
}

#[test]
fn json_summary_has_every_key_and_results_when_applied() {
    let doc: Value =
        serde_json::from_str(&render(&[clean("dev"), applied(), refused()], Format::Json))
            .expect("valid JSON");
    let docs = doc.as_array().expect("an array for several reports");
    assert_eq!(docs.len(), 3);
    for doc in docs {
        let summary = doc["summary"].as_object().expect("summary");
        let keys: Vec<&str> = summary.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "blocked", "create", "delete", "noop", "orphan", "unowned", "update"
            ]
        );
        assert!(summary.values().all(Value::is_u64));
    }
    assert_eq!(docs[0]["summary"]["noop"], j!(2));
    assert_eq!(docs[0]["summary"]["create"], j!(0));
    let results: Vec<(&Value, &Value)> = docs[1]["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| (&c["result"], &c["error"]))
        .collect();
    assert_eq!(
        results,
        [
            (&j!("applied"), &Value::Null),
            (
                &j!("failed"),
                &j!("deploy image: deployment failed: instances crashed")
            ),
            (&j!("skipped"), &Value::Null),
            (&j!("blocked"), &Value::Null),
            (&j!("skipped"), &Value::Null),
        ]
    );
    assert_eq!(docs[2]["revision"], Value::Null);
    assert_eq!(
        docs[2]["refused"],
        j!("would delete 2 of 3 managed apps; pass --allow-mass-delete to proceed")
    );
    assert_eq!(render(&[], Format::Json), "[]\n");
}

// Markdown.

#[test]
fn markdown_every_action() {
    check(
        &[every_action()],
        Format::Markdown,
        expect![[r####"
        ### driftless plan: `prod`

        Revision: `4f4dbeb2c0e1a7d9b3f5e6a8c9d0e1f2a3b4c5d6`

        | Action | Count |
        |---|---:|
        | create | 1 |
        | update | 4 |
        | delete | 1 |
        | orphan | 1 |
        | blocked | 1 |
        | noop | 1 |
        | unowned | 1 |

        | Target | Action | Rollout | Reason |
        |---|---|---|---|
        | `feature_flag:diego_docker` | update | none | feature flag differs |
        | `app:acme/prod/api` | create | rolling | not on the foundation |
        | `app:acme/prod/billing` | update | canary | image and credential changed |
        | `app:acme/prod/cron` | update | restart | env differs |
        | `app:acme/prod/legacy` | delete | none | not in git; prune is on |
        | `app:acme/prod/manual` | unowned | none | exists and is not managed by driftless |
        | `app:acme/prod/old` | orphan | none | not in git; prune is off |
        | `app:acme/prod/shop` | blocked | none | exists and is not managed by driftless |
        | `app:acme/prod/worker` | update | in_place | scale |

        <details><summary><code>feature_flag:diego_docker</code> (update)</summary>

        | Field | Live | Desired |
        |---|---|---|
        | `enabled` | `false` | `true` |

        </details>

        <details><summary><code>app:acme/prod/api</code> (create)</summary>

        | Field | Live | Desired |
        |---|---|---|
        | `image` | `null` | `"registry.example.com/api:1.4"` |
        | `instances` | `null` | `2` |

        </details>

        <details><summary><code>app:acme/prod/billing</code> (update)</summary>

        | Field | Live | Desired |
        |---|---|---|
        | `image` | `"registry.example.com/billing:1.4"` | `"registry.example.com/billing:1.5"` |
        | `env.DB_PASSWORD` | `(sensitive)` | `(sensitive)` |
        | `docker.credential` | `(credential changed)` | `(credential changed)` |

        </details>

        <details><summary><code>app:acme/prod/cron</code> (update)</summary>

        | Field | Live | Desired |
        |---|---|---|
        | `env.GREETING` | `"hi"` | `"hello"` |

        </details>

        <details><summary><code>app:acme/prod/worker</code> (update)</summary>

        | Field | Live | Desired |
        |---|---|---|
        | `processes.web.instances` | `1` | `3` |
        | `routes` | `["a.example.com"]` | `["a.example.com","b.example.com"]` |

        </details>
    "####]],
    );
}

#[test]
fn markdown_apply_results_and_clean() {
    check(
        &[applied(), clean("dev")],
        Format::Markdown,
        expect![[r####"
        ### driftless apply: `prod`

        Revision: `4f4dbeb2c0e1a7d9b3f5e6a8c9d0e1f2a3b4c5d6`

        | Action | Count |
        |---|---:|
        | create | 1 |
        | update | 1 |
        | delete | 0 |
        | orphan | 1 |
        | blocked | 1 |
        | noop | 1 |
        | unowned | 0 |

        | Result | Count |
        |---|---:|
        | applied | 1 |
        | failed | 1 |
        | blocked | 1 |
        | skipped | 2 |

        | Target | Action | Rollout | Reason | Result | Error |
        |---|---|---|---|---|---|
        | `app:acme/prod/api` | create | rolling | not on the foundation | applied |  |
        | `app:acme/prod/billing` | update | rolling | image changed | failed | deploy image: deployment failed: instances crashed |
        | `app:acme/prod/old` | orphan | none | not in git; prune is off | skipped |  |
        | `app:acme/prod/shop` | blocked | none | exists and is not managed by driftless | blocked |  |

        <details><summary><code>app:acme/prod/api</code> (create)</summary>

        | Field | Live | Desired |
        |---|---|---|
        | `instances` | `null` | `2` |

        </details>

        <details><summary><code>app:acme/prod/billing</code> (update)</summary>

        | Field | Live | Desired |
        |---|---|---|
        | `image` | `"billing:1.4"` | `"billing:1.5"` |

        </details>

        ### driftless plan: `dev`

        Revision: `0123456789abcdef0123456789abcdef01234567`

        | Action | Count |
        |---|---:|
        | create | 0 |
        | update | 0 |
        | delete | 0 |
        | orphan | 0 |
        | blocked | 0 |
        | noop | 2 |
        | unowned | 0 |

        No changes: the foundation matches git.
    "####]],
    );
}

#[test]
fn markdown_refused_and_escaping() {
    check(
        &[refused(), hostile()],
        Format::Markdown,
        expect![[r####"
            ### driftless plan: `staging`

            Revision: *(working directory)*

            > [!CAUTION]
            > **Plan refused:** would delete 2 of 3 managed apps; pass --allow-mass-delete to proceed. Nothing will be applied.

            | Action | Count |
            |---|---:|
            | create | 0 |
            | update | 0 |
            | delete | 2 |
            | orphan | 0 |
            | blocked | 0 |
            | noop | 1 |
            | unowned | 0 |

            | Target | Action | Rollout | Reason |
            |---|---|---|---|
            | `app:acme/qa/a` | delete | none | not in git; prune is on |
            | `app:acme/qa/b` | delete | none | not in git; prune is on |

            ### driftless plan: `a&b <"c'> | d`

            Revision: *(working directory)*

            | Action | Count |
            |---|---:|
            | create | 0 |
            | update | 1 |
            | delete | 0 |
            | orphan | 0 |
            | blocked | 0 |
            | noop | 0 |
            | unowned | 0 |

            | Target | Action | Rollout | Reason |
            |---|---|---|---|
            | ``app:acme/s\|p/x`y`` | update | restart | uses \<script\>\&"q"' \| \*bold\* \_u\_ \[l\](x) \`t\` second �\[31mline |

            <details><summary><code>app:acme/s|p/x`y</code> (update)</summary>

            | Field | Live | Desired |
            |---|---|---|
            | `env.A\|B` | ```"pipe \| and `tick` and ``two``"``` | `"<b>&amp;</b>"` |
            | `env.NL` | `"line1\nline2\ttab"` | `"'single' \"double\""` |
            | `env.CTRL` | `"bell\u0007"` | ``"`"`` |

            </details>
        "####]],
    );
}

// JUnit.

#[test]
fn junit_every_action() {
    check(
        &[every_action()],
        Format::Junit,
        expect![[r#"
        <?xml version="1.0" encoding="UTF-8"?>
        <testsuites name="driftless" tests="10" failures="8" errors="0" skipped="1">
          <testsuite name="prod" tests="10" failures="8" errors="0" skipped="1">
            <properties>
              <property name="revision" value="4f4dbeb2c0e1a7d9b3f5e6a8c9d0e1f2a3b4c5d6"/>
            </properties>
            <testcase classname="prod" name="feature_flag:diego_docker">
              <failure message="feature flag differs" type="update">update feature_flag:diego_docker: feature flag differs
          enabled: false -&gt; true
        </failure>
            </testcase>
            <testcase classname="prod" name="app:acme/prod/api">
              <failure message="not on the foundation" type="create">create app:acme/prod/api [rolling]: not on the foundation
          image: null -&gt; "registry.example.com/api:1.4"
          instances: null -&gt; 2
        </failure>
            </testcase>
            <testcase classname="prod" name="app:acme/prod/billing">
              <failure message="image and credential changed" type="update">update app:acme/prod/billing [canary]: image and credential changed
          image: "registry.example.com/billing:1.4" -&gt; "registry.example.com/billing:1.5"
          env.DB_PASSWORD: (sensitive) -&gt; (sensitive)
          docker.credential: (credential changed) -&gt; (credential changed)
        </failure>
            </testcase>
            <testcase classname="prod" name="app:acme/prod/cron">
              <failure message="env differs" type="update">update app:acme/prod/cron [restart]: env differs
          env.GREETING: "hi" -&gt; "hello"
        </failure>
            </testcase>
            <testcase classname="prod" name="app:acme/prod/legacy">
              <failure message="not in git; prune is on" type="delete">delete app:acme/prod/legacy: not in git; prune is on
        </failure>
            </testcase>
            <testcase classname="prod" name="app:acme/prod/manual">
              <skipped message="exists and is not managed by driftless"/>
            </testcase>
            <testcase classname="prod" name="app:acme/prod/old">
              <failure message="not in git; prune is off" type="orphan">orphan app:acme/prod/old: not in git; prune is off
        </failure>
            </testcase>
            <testcase classname="prod" name="app:acme/prod/shop">
              <failure message="exists and is not managed by driftless" type="blocked">blocked app:acme/prod/shop: exists and is not managed by driftless
        </failure>
            </testcase>
            <testcase classname="prod" name="app:acme/prod/static"/>
            <testcase classname="prod" name="app:acme/prod/worker">
              <failure message="scale" type="update">update app:acme/prod/worker [in_place]: scale
          processes.web.instances: 1 -&gt; 3
          routes: ["a.example.com"] -&gt; ["a.example.com","b.example.com"]
        </failure>
            </testcase>
          </testsuite>
        </testsuites>
    "#]],
    );
}

#[test]
fn junit_apply_results() {
    check(
        &[applied()],
        Format::Junit,
        expect![[r#"
        <?xml version="1.0" encoding="UTF-8"?>
        <testsuites name="driftless" tests="5" failures="1" errors="1" skipped="1">
          <testsuite name="prod" tests="5" failures="1" errors="1" skipped="1">
            <properties>
              <property name="revision" value="4f4dbeb2c0e1a7d9b3f5e6a8c9d0e1f2a3b4c5d6"/>
            </properties>
            <testcase classname="prod" name="app:acme/prod/api"/>
            <testcase classname="prod" name="app:acme/prod/billing">
              <error message="deploy image: deployment failed: instances crashed" type="failed">update app:acme/prod/billing [rolling]: image changed
          image: "billing:1.4" -&gt; "billing:1.5"
        error: deploy image: deployment failed: instances crashed
        </error>
            </testcase>
            <testcase classname="prod" name="app:acme/prod/old">
              <skipped message="not in git; prune is off"/>
            </testcase>
            <testcase classname="prod" name="app:acme/prod/shop">
              <failure message="exists and is not managed by driftless" type="blocked">blocked app:acme/prod/shop: exists and is not managed by driftless
        </failure>
            </testcase>
            <testcase classname="prod" name="app:acme/prod/static"/>
          </testsuite>
        </testsuites>
    "#]],
    );
}

#[test]
fn junit_refused_and_escaping() {
    check(
        &[refused(), hostile()],
        Format::Junit,
        expect![[r#"
            <?xml version="1.0" encoding="UTF-8"?>
            <testsuites name="driftless" tests="5" failures="4" errors="0" skipped="0">
              <testsuite name="staging" tests="4" failures="3" errors="0" skipped="0">
                <testcase classname="staging" name="plan">
                  <failure message="plan refused: would delete 2 of 3 managed apps; pass --allow-mass-delete to proceed" type="refused">Nothing will be applied.
            </failure>
                </testcase>
                <testcase classname="staging" name="app:acme/qa/a">
                  <failure message="not in git; prune is on" type="delete">delete app:acme/qa/a: not in git; prune is on
            </failure>
                </testcase>
                <testcase classname="staging" name="app:acme/qa/b">
                  <failure message="not in git; prune is on" type="delete">delete app:acme/qa/b: not in git; prune is on
            </failure>
                </testcase>
                <testcase classname="staging" name="app:acme/qa/c"/>
              </testsuite>
              <testsuite name="a&amp;b &lt;&quot;c&apos;&gt; | d" tests="1" failures="1" errors="0" skipped="0">
                <testcase classname="a&amp;b &lt;&quot;c&apos;&gt; | d" name="app:acme/s|p/x`y">
                  <failure message="uses &lt;script&gt;&amp;&quot;q&quot;&apos; | *bold* _u_ [l](x) `t`&#10;second �[31mline" type="update">update app:acme/s|p/x`y [restart]: uses &lt;script&gt;&amp;"q"' | *bold* _u_ [l](x) `t`
            second �[31mline
              env.A|B: "pipe | and `tick` and ``two``" -&gt; "&lt;b&gt;&amp;amp;&lt;/b&gt;"
              env.NL: "line1\nline2\ttab" -&gt; "'single' \"double\""
              env.CTRL: "bell\u0007" -&gt; "`"
            </failure>
                </testcase>
              </testsuite>
            </testsuites>
        "#]],
    );
}

#[test]
fn junit_is_well_formed_with_matching_counts() {
    let reports = [
        every_action(),
        applied(),
        refused(),
        hostile(),
        clean("dev"),
    ];
    let xml = render(&reports, Format::Junit);
    let elements = parse_xml(&xml);

    let suites: Vec<&Element> = elements.iter().filter(|e| e.name == "testsuite").collect();
    let names: Vec<&str> = suites.iter().map(|s| s.attrs["name"].as_str()).collect();
    assert_eq!(names, ["prod", "prod", "staging", "a&b <\"c'> | d", "dev"]);
    // (tests, failures, errors, skipped) per suite.
    let counts: Vec<[&str; 4]> = suites
        .iter()
        .map(|s| ["tests", "failures", "errors", "skipped"].map(|k| s.attrs[k].as_str()))
        .collect();
    assert_eq!(
        counts,
        [
            ["10", "8", "0", "1"],
            ["5", "1", "1", "1"],
            ["4", "3", "0", "0"],
            ["1", "1", "0", "0"],
            ["2", "0", "0", "0"],
        ]
    );
    // The counts agree with the elements inside each suite.
    for (suite_idx, suite) in suites.iter().enumerate() {
        let inside: Vec<&Element> = elements
            .iter()
            .filter(|e| e.suite == Some(suite_idx))
            .collect();
        let n = |name: &str| inside.iter().filter(|e| e.name == name).count().to_string();
        assert_eq!(suite.attrs["tests"], n("testcase"));
        assert_eq!(suite.attrs["failures"], n("failure"));
        assert_eq!(suite.attrs["errors"], n("error"));
        assert_eq!(suite.attrs["skipped"], n("skipped"));
        for case in inside.iter().filter(|e| e.name == "testcase") {
            assert_eq!(case.attrs["classname"], suite.attrs["name"]);
        }
    }
    let root = &elements[0];
    assert_eq!(root.name, "testsuites");
    assert_eq!(
        ["tests", "failures", "errors", "skipped"].map(|k| root.attrs[k].as_str()),
        ["22", "13", "1", "2"]
    );
    let failure = elements
        .iter()
        .find(|e| e.name == "failure" && e.suite == Some(3))
        .expect("the hostile change fails");
    assert_eq!(
        failure.attrs["message"],
        "uses <script>&\"q\"' | *bold* _u_ [l](x) `t`\nsecond \u{fffd}[31mline"
    );
    assert!(
        failure
            .text
            .contains("env.A|B: \"pipe | and `tick` and ``two``\" -> \"<b>&amp;</b>\"")
    );
    let error = elements
        .iter()
        .find(|e| e.name == "error")
        .expect("the failed apply is an error");
    assert_eq!(
        error.attrs["message"],
        "deploy image: deployment failed: instances crashed"
    );
}

// Formats.

#[test]
fn format_names() {
    use clap::ValueEnum;
    let names: Vec<String> = Format::value_variants()
        .iter()
        .filter_map(|f| f.to_possible_value().map(|v| v.get_name().to_owned()))
        .collect();
    assert_eq!(names, ["text", "json", "markdown", "junit"]);
    for format in Format::ALL {
        assert_eq!(format.to_string().parse::<Format>(), Ok(format));
    }
    assert_eq!(
        "yaml".parse::<Format>(),
        Err(UnknownFormat("yaml".to_owned()))
    );
    assert_eq!(
        UnknownFormat("yaml".to_owned()).to_string(),
        "unknown output format `yaml`; expected one of text, json, markdown, junit"
    );
}

#[test]
fn masked_values_pass_through_verbatim() {
    let report = every_action();
    for format in Format::ALL {
        let out = render(std::slice::from_ref(&report), format);
        assert!(out.contains("(sensitive)"), "{format}");
        assert!(out.contains("(credential changed)"), "{format}");
    }
}

// A tiny XML checker: enough to prove the JUnit output is well formed.

#[derive(Debug)]
struct Element {
    name: String,
    attrs: BTreeMap<String, String>,
    /// The text directly inside, unescaped.
    text: String,
    /// The index of the enclosing `<testsuite>`, if any.
    suite: Option<usize>,
}

/// Parses `xml` strictly (declaration, balanced tags, quoted attributes without duplicates,
/// known entities only, no raw `<`/`&` in text) and returns its elements in document order.
/// Panics on anything malformed.
fn parse_xml(xml: &str) -> Vec<Element> {
    let rest = xml
        .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
        .expect("an XML declaration");
    let mut elements: Vec<Element> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    let mut n_suites = 0;
    let mut current_suite = None;
    let mut chars = rest;
    let mut n_roots = 0;
    while !chars.is_empty() {
        if let Some(tag_body) = chars.strip_prefix('<') {
            let end = tag_body.find('>').expect("an unclosed tag");
            let tag = &tag_body[..end];
            chars = &tag_body[end + 1..];
            assert!(!tag.contains('<'), "`<` inside a tag: {tag}");
            if let Some(name) = tag.strip_prefix('/') {
                let idx = open.pop().expect("a close tag without an open tag");
                assert_eq!(elements[idx].name, name, "mismatched close tag");
                if name == "testsuite" {
                    current_suite = None;
                }
                continue;
            }
            let (tag, self_closing) = match tag.strip_suffix('/') {
                Some(t) => (t, true),
                None => (tag, false),
            };
            let (name, attrs) = parse_tag(tag);
            if open.is_empty() {
                n_roots += 1;
            }
            if name == "testsuite" {
                current_suite = Some(n_suites);
                n_suites += 1;
            }
            elements.push(Element {
                suite: if name == "testsuite" {
                    None
                } else {
                    current_suite
                },
                name,
                attrs,
                text: String::new(),
            });
            if self_closing {
                if elements.last().is_some_and(|e| e.name == "testsuite") {
                    current_suite = None;
                }
            } else {
                open.push(elements.len() - 1);
            }
        } else {
            let end = chars.find('<').unwrap_or(chars.len());
            let raw = &chars[..end];
            chars = &chars[end..];
            let text = unescape(raw);
            match open.last() {
                Some(&idx) => elements[idx].text.push_str(&text),
                None => assert!(text.trim().is_empty(), "text outside the root: {raw:?}"),
            }
        }
    }
    assert!(open.is_empty(), "unclosed elements");
    assert_eq!(n_roots, 1, "exactly one root element");
    elements
}

fn parse_tag(tag: &str) -> (String, BTreeMap<String, String>) {
    let name_end = tag.find(char::is_whitespace).unwrap_or(tag.len());
    let name = &tag[..name_end];
    assert!(
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
        "bad element name {name:?}"
    );
    let mut attrs = BTreeMap::new();
    let mut rest = tag[name_end..].trim_start();
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"").expect("attribute as key=\"value\"");
        let close = after.find('"').expect("a closing quote");
        let value = unescape(&after[..close]);
        assert!(
            attrs.insert(key.to_owned(), value).is_none(),
            "duplicate attribute {key}"
        );
        let next = &after[close + 1..];
        assert!(
            next.is_empty() || next.starts_with(' '),
            "attributes must be separated by a space"
        );
        rest = next.trim_start();
    }
    (name.to_owned(), attrs)
}

fn unescape(raw: &str) -> String {
    let mut out = String::new();
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let semi = rest[amp..].find(';').expect("an unterminated entity") + amp;
        let entity = &rest[amp + 1..semi];
        let decoded = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = entity.strip_prefix('#').expect("a known entity");
                char::from_u32(code.parse().expect("a decimal reference")).expect("a char")
            }
        };
        out.push(decoded);
        rest = &rest[semi + 1..];
    }
    out.push_str(rest);
    assert!(
        !out.contains('\u{7}'),
        "a control character XML cannot hold"
    );
    out
}
