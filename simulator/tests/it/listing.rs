//! Lists: pagination over many pages with absolute links that keep the filters, every
//! label_selector operator, metadata deep-merge PATCH, includes and ordering.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::common::{self, Sim};

async fn app_with_labels(sim: &Sim, space: &str, name: &str, labels: Value) -> String {
    sim.post("/v3/apps", json!({"name": name, "relationships": {"space": {"data": {"guid": space}}}, "metadata": {"labels": labels}}))
        .await
        .expect(201)["guid"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn names(body: &Value) -> BTreeSet<String> {
    body["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn pages_follow_absolute_next_links_that_keep_filters() {
    let sim = common::start().await;
    let space = sim.org_space("o", "s").await;
    for i in 0..23 {
        let labels = if i % 2 == 0 {
            json!({"team": "a"})
        } else {
            json!({"team": "b"})
        };
        app_with_labels(&sim, &space, &format!("app-{i:02}"), labels).await;
    }
    let mut url = sim.url("/v3/apps?per_page=5&label_selector=team%3Da");
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let resp = sim
            .http
            .get(&url)
            .bearer_auth(&sim.token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        pages += 1;
        let p = &body["pagination"];
        assert_eq!(p["total_results"], 12);
        assert_eq!(p["total_pages"], 3);
        assert!(
            p["first"]["href"]
                .as_str()
                .unwrap()
                .starts_with(&sim.url("/v3/apps?"))
        );
        assert!(p["last"]["href"].as_str().unwrap().contains("page=3"));
        if pages == 1 {
            assert!(p["previous"].is_null());
        } else {
            assert!(
                p["previous"]["href"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("page={}", pages - 1))
            );
        }
        seen.extend(names(&body));
        match p["next"]["href"].as_str() {
            Some(next) => {
                assert!(
                    next.contains("label_selector=team%3Da"),
                    "{next} lost the filter"
                );
                assert!(next.contains("per_page=5"));
                url = next.to_owned();
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 12);
    assert_eq!(
        seen.iter().collect::<BTreeSet<_>>().len(),
        12,
        "no app twice"
    );
    // Default order is creation order.
    let first = sim.get("/v3/apps?per_page=2").await.expect(200);
    assert_eq!(
        names(&first),
        ["app-00".to_owned(), "app-01".to_owned()].into()
    );
    let last = sim
        .get("/v3/apps?per_page=1&order_by=-created_at")
        .await
        .expect(200);
    assert_eq!(last["resources"][0]["name"], "app-22");
    let all = sim.get("/v3/apps?per_page=5000").await.expect(200);
    assert!(all["pagination"]["next"].is_null());
    assert_eq!(all["resources"].as_array().unwrap().len(), 23);
}

#[tokio::test]
async fn every_label_selector_operator() {
    let sim = common::start().await;
    let space = sim.org_space("o", "s").await;
    app_with_labels(&sim, &space, "a", json!({"env": "prod", "tier": "web"})).await;
    app_with_labels(&sim, &space, "b", json!({"env": "staging", "tier": "web"})).await;
    app_with_labels(
        &sim,
        &space,
        "c",
        json!({"env": "prod", "example.com/owner": "x"}),
    )
    .await;
    app_with_labels(&sim, &space, "d", json!({})).await;
    let cases: &[(&str, &[&str])] = &[
        ("env", &["a", "b", "c"]),
        ("!env", &["d"]),
        ("env=prod", &["a", "c"]),
        ("env==prod", &["a", "c"]),
        ("env!=prod", &["b", "d"]),
        ("env in (prod,staging)", &["a", "b", "c"]),
        ("env notin (prod)", &["b", "d"]),
        ("env=prod,tier=web", &["a"]),
        ("tier,!env", &[]),
        ("example.com/owner=x", &["c"]),
        ("env in (prod),tier notin (web)", &["c"]),
    ];
    for (selector, expected) in cases {
        let q: String = form_urlencoded::byte_serialize(selector.as_bytes()).collect();
        let body = sim
            .get(&format!("/v3/apps?label_selector={q}"))
            .await
            .expect(200);
        let want: BTreeSet<String> = expected.iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(names(&body), want, "label_selector={selector}");
    }
    for bad in [
        "env in prod",
        "=x",
        "env=",
        "env=a b",
        "a/b/c",
        "env in (a",
        ",",
        "-x",
    ] {
        let q: String = form_urlencoded::byte_serialize(bad.as_bytes()).collect();
        let resp = sim.get(&format!("/v3/apps?label_selector={q}")).await;
        if bad == "env=" {
            // An empty value is a valid label value.
            assert_eq!(resp.status, 200, "{bad}");
            continue;
        }
        assert_eq!(resp.status, 400, "label_selector={bad}");
        assert_eq!(resp.error().1, "CF-BadQueryParameter");
    }
}

#[tokio::test]
async fn metadata_patch_deep_merges_as_the_docs_show() {
    let sim = common::start().await;
    let space = sim.org_space("o", "s").await;
    let app = app_with_labels(&sim, &space, "a", json!({})).await;
    let read = |f: &str| -> Value {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cf-api-examples");
        serde_json::from_str(&std::fs::read_to_string(dir.join(f)).unwrap()).unwrap()
    };
    sim.patch(
        &format!("/v3/apps/{app}"),
        read("metadata_patch_initial.json"),
    )
    .await
    .expect(200);
    let after = sim
        .patch(
            &format!("/v3/apps/{app}"),
            read("metadata_patch_request.json"),
        )
        .await
        .expect(200);
    assert_eq!(
        after["metadata"],
        read("metadata_patch_final.json")["metadata"]
    );

    for bad in [
        json!({"labels": {"cloudfoundry.org/x": "1"}}),
        json!({"labels": {"-bad": "1"}}),
        json!({"labels": {"a/b/c": "1"}}),
        json!({"labels": {"k": "has space"}}),
        json!({"labels": {"k": "x".repeat(64)}}),
        json!({"labels": {"k": 1}}),
        json!({"annotations": {"k": "x".repeat(5001)}}),
        json!({"colors": {}}),
    ] {
        let resp = sim
            .patch(&format!("/v3/apps/{app}"), json!({"metadata": bad}))
            .await;
        assert_eq!(resp.status, 422, "{bad}");
    }
    // A rejected patch changed nothing.
    let now = sim.get(&format!("/v3/apps/{app}")).await.expect(200);
    assert_eq!(
        now["metadata"],
        read("metadata_patch_final.json")["metadata"]
    );
}

#[tokio::test]
async fn includes_and_filters() {
    let sim = common::start().await;
    let s1 = sim.org_space("o1", "s1").await;
    let s2 = sim.org_space("o2", "s2").await;
    app_with_labels(&sim, &s1, "a", json!({})).await;
    app_with_labels(&sim, &s2, "b", json!({})).await;
    let body = sim
        .get("/v3/apps?include=space.organization")
        .await
        .expect(200);
    assert_eq!(body["included"]["spaces"].as_array().unwrap().len(), 2);
    assert_eq!(
        body["included"]["organizations"].as_array().unwrap().len(),
        2
    );
    let body = sim
        .get(&format!("/v3/apps?include=space&space_guids={s2}"))
        .await
        .expect(200);
    assert_eq!(names(&body), ["b".to_owned()].into());
    assert!(body["included"].get("organizations").is_none());
    let org1 = sim.get("/v3/organizations?names=o1").await.expect(200)["resources"][0]["guid"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = sim
        .get(&format!("/v3/apps?organization_guids={org1}"))
        .await
        .expect(200);
    assert_eq!(names(&body), ["a".to_owned()].into());
    let body = sim
        .get("/v3/apps?names=a,b&lifecycle_type=docker")
        .await
        .expect(200);
    assert_eq!(body["pagination"]["total_results"], 0);
    let body = sim
        .get("/v3/apps?names=a,b&lifecycle_type=buildpack")
        .await
        .expect(200);
    assert_eq!(body["pagination"]["total_results"], 2);
    let guid_a = sim.get("/v3/apps?names=a").await.expect(200)["resources"][0]["guid"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = sim
        .get(&format!("/v3/apps?guids={guid_a}"))
        .await
        .expect(200);
    assert_eq!(names(&body), ["a".to_owned()].into());
    let procs = sim
        .get(&format!("/v3/processes?app_guids={guid_a}&types=web"))
        .await
        .expect(200);
    assert_eq!(procs["pagination"]["total_results"], 1);
    assert_eq!(
        procs["resources"][0]["command"],
        "[PRIVATE DATA HIDDEN IN LISTS]"
    );
}
