//! The bulk observation against the simulator: the right apps, owned or not, with processes,
//! images and routes; and a cost in Cloud Controller requests that does not grow with apps.

use std::collections::BTreeSet;

use driftless::{
    cf::{
        http::{CfHttp, CfOptions, Login},
        v3::observe,
    },
    model::{AppKey, AppName, SpaceKey},
    secret::Secret,
};
use simulator::{SeedApp, SeedOrg, SeedSpace, SeedState, SimConfig};

fn app(name: &str, owned: bool, instances: u32) -> SeedApp {
    let labels = if owned {
        serde_json::json!({"driftless.dev/managed": "true"})
    } else {
        serde_json::json!({})
    };
    serde_json::from_value(serde_json::json!({
        "name": name, "image": format!("registry.example.com/team/{name}:1.0"),
        "instances": instances, "memory_in_mb": 256, "labels": labels,
    }))
    .expect("seed app")
}

fn space(org: &str, space: &str) -> SpaceKey {
    SpaceKey {
        org: org.into(),
        space: space.into(),
    }
}

async fn connect(sim: &simulator::SimHandle) -> CfHttp {
    let login = Login::Password {
        username: "admin".into(),
        password: Secret::new("admin"),
    };
    CfHttp::connect(sim.url(), login, CfOptions::default())
        .await
        .expect("login")
}

#[tokio::test]
async fn observe_sees_owned_and_unowned_apps_in_scope_only() {
    let seed = SeedState {
        feature_flags: [("diego_docker".to_owned(), true)].into(),
        orgs: vec![SeedOrg {
            name: "acme".into(),
            spaces: vec![
                SeedSpace {
                    name: "prod".into(),
                    apps: vec![app("web", true, 3), app("legacy", false, 1)],
                },
                SeedSpace {
                    name: "sandbox".into(),
                    apps: vec![app("toy", true, 1)],
                },
            ],
        }],
        ..SeedState::default()
    };
    let sim = simulator::start(SimConfig {
        seed_state: Some(seed),
        ..SimConfig::default()
    })
    .await
    .expect("sim");
    let cf = connect(&sim).await;
    let scope = BTreeSet::from([space("acme", "prod"), space("acme", "missing")]);
    let live = observe(&cf, &scope).await.expect("observe");
    assert_eq!(
        live.spaces.keys().cloned().collect::<Vec<_>>(),
        [space("acme", "prod")],
        "a missing space is absent, not an error"
    );
    let names: Vec<String> = live.apps.keys().map(ToString::to_string).collect();
    assert_eq!(
        names,
        ["acme/prod/legacy", "acme/prod/web"],
        "sandbox is out of scope"
    );
    let web = &live.apps[&AppKey {
        space: space("acme", "prod"),
        name: AppName::new("WEB"),
    }];
    assert!(web.owned && web.started);
    assert_eq!(
        web.image.as_deref(),
        Some("registry.example.com/team/web:1.0")
    );
    assert_eq!(
        (
            web.processes["web"].instances,
            web.processes["web"].memory_mb
        ),
        (3, 256)
    );
    assert_eq!(web.guid, sim.app_guid("acme", "prod", "web").expect("guid"));
    let legacy = &live.apps[&AppKey {
        space: space("acme", "prod"),
        name: AppName::new("legacy"),
    }];
    assert!(!legacy.owned, "no ownership label: reported as unowned");
    assert_eq!(live.feature_flags.get("diego_docker"), Some(&true));
}

fn foundation(n_apps: usize) -> SeedState {
    let per_space = n_apps / 100;
    let orgs = (0..10)
        .map(|o| SeedOrg {
            name: format!("org-{o}"),
            spaces: (0..10)
                .map(|s| SeedSpace {
                    name: format!("space-{s}"),
                    apps: (0..per_space)
                        .map(|a| app(&format!("app-{a}"), true, 1))
                        .collect(),
                })
                .collect(),
        })
        .collect();
    SeedState {
        orgs,
        ..SeedState::default()
    }
}

async fn requests_for(n_apps: usize) -> (u64, usize) {
    let sim = simulator::start(SimConfig {
        seed_state: Some(foundation(n_apps)),
        ..SimConfig::default()
    })
    .await
    .expect("sim");
    let cf = connect(&sim).await;
    let scope: BTreeSet<SpaceKey> = (0..10)
        .flat_map(|o| (0..10).map(move |s| space(&format!("org-{o}"), &format!("space-{s}"))))
        .collect();
    sim.reset_request_counts();
    let live = observe(&cf, &scope).await.expect("observe");
    (sim.cc_request_count(), live.apps.len())
}

/// Issue 4's target: a snapshot of 10,000 apps in 100 spaces costs at most 10 requests, and
/// 1,000 apps cost the same save the extra pages.
#[tokio::test]
async fn observing_ten_thousand_apps_costs_a_fixed_handful_of_requests() {
    let (small, n_small) = requests_for(1_000).await;
    let (large, n_large) = requests_for(10_000).await;
    assert_eq!((n_small, n_large), (1_000, 10_000));
    println!("observe: 1,000 apps cost {small} Cloud Controller requests, 10,000 apps {large}");
    assert!(
        large <= 10,
        "10,000 apps took {large} Cloud Controller requests"
    );
    // Apps, processes, droplets and routes may each need a second 5000-item page; nothing else
    // grows with the number of apps.
    assert!(
        large - small <= 4,
        "1,000 apps: {small} requests; 10,000 apps: {large}"
    );
}
