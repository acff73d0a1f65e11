//! Staging against a real `docker-registry` (distribution) with htpasswd auth on a free
//! loopback port. Skipped, saying so, when the Debian package is not installed.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::common;

const REGISTRY: &str = "/usr/bin/docker-registry";

struct Registry {
    child: Child,
    host: String,
}

impl Registry {
    /// Kills the registry and waits until it is gone.
    async fn stop(mut self) {
        self.child.kill().await.unwrap();
    }
}

async fn start_registry(dir: &Path) -> Option<Registry> {
    if !Path::new(REGISTRY).exists() {
        crate::common::skip(&format!(
            "docker-registry not installed ({REGISTRY} is missing; apt-get install docker-registry)"
        ));
        return None;
    }
    let htpasswd = std::process::Command::new("htpasswd")
        .args(["-Bbn", "testuser", "testpass"])
        .output();
    let Ok(htpasswd) = htpasswd.map(|o| o.stdout) else {
        crate::common::skip("htpasswd not installed (apt-get install apache2-utils)");
        return None;
    };
    std::fs::write(dir.join("htpasswd"), htpasswd).unwrap();
    let config = format!(
        "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {root}\nhttp:\n  addr: 127.0.0.1:0\n  secret: sim-test\nauth:\n  htpasswd:\n    realm: test-realm\n    path: {htpasswd}\n",
        root = dir.join("data").display(),
        htpasswd = dir.join("htpasswd").display(),
    );
    std::fs::write(dir.join("config.yml"), config).unwrap();
    let mut child = Command::new(REGISTRY)
        .arg("serve")
        .arg(dir.join("config.yml"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("docker-registry starts");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let host = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(rest) = line.split("listening on ").nth(1) {
                return rest.split(['"', ' ']).next().unwrap_or_default().to_owned();
            }
        }
        panic!("docker-registry exited before listening");
    })
    .await
    .expect("docker-registry listens within 20 s");
    // Keep draining its log so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Some(Registry { child, host })
}

/// Pushes a one-layer OCI image the way `curlpush.sh` in TEST-INFRA.md does; returns the
/// manifest digest the registry reports.
async fn push(http: &reqwest::Client, host: &str, repo: &str, tag: &str, payload: &str) -> String {
    let layer = payload.as_bytes().to_vec();
    let config = json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [simulator::sha256_digest(&layer)]}})
        .to_string()
        .into_bytes();
    for blob in [&config, &layer] {
        let digest = simulator::sha256_digest(blob);
        let start = http
            .post(format!("http://{host}/v2/{repo}/blobs/uploads/"))
            .basic_auth("testuser", Some("testpass"))
            .send()
            .await
            .unwrap();
        assert_eq!(start.status(), 202);
        let location = start.headers()["location"].to_str().unwrap().to_owned();
        let location = if location.starts_with("http") {
            location
        } else {
            format!("http://{host}{location}")
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let put = http
            .put(format!("{location}{sep}digest={digest}"))
            .basic_auth("testuser", Some("testpass"))
            .header("content-type", "application/octet-stream")
            .body(blob.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 201);
    }
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": simulator::OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": simulator::sha256_digest(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": simulator::sha256_digest(&layer), "size": layer.len()}],
    })
    .to_string();
    let put = http
        .put(format!("http://{host}/v2/{repo}/manifests/{tag}"))
        .basic_auth("testuser", Some("testpass"))
        .header("content-type", simulator::OCI_MANIFEST)
        .body(manifest)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201);
    put.headers()["docker-content-digest"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn staging_against_a_real_docker_registry_with_htpasswd() {
    let dir = tempfile::tempdir().unwrap();
    let Some(registry) = start_registry(dir.path()).await else {
        return;
    };
    let sim = common::start().await;
    let digest = push(
        &sim.http,
        &registry.host,
        "demo/hello",
        "v1",
        "hello from a real registry",
    )
    .await;

    // The embedded registry copies distribution 2.8's Accept behaviour; check it on the real one.
    let no_accept = sim
        .http
        .get(format!(
            "http://{}/v2/demo/hello/manifests/v1",
            registry.host
        ))
        .basic_auth("testuser", Some("testpass"))
        .send()
        .await
        .unwrap();
    assert_eq!(no_accept.status(), 404);
    let challenge = sim
        .http
        .get(format!("http://{}/v2/", registry.host))
        .send()
        .await
        .unwrap();
    assert_eq!(challenge.status(), 401);
    assert!(
        challenge.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );

    sim.enable_docker().await;
    let space = sim.org_space("o", "s").await;
    let app = sim.docker_app(&space, "hello").await;
    let image = format!("{}/demo/hello:v1", registry.host);
    let stage = |data: Value| {
        let sim = &sim;
        let app = app.clone();
        async move {
            let pkg = sim.post("/v3/packages", json!({"type": "docker", "relationships": {"app": {"data": {"guid": app}}}, "data": data})).await.expect(201);
            let build = sim
                .post("/v3/builds", json!({"package": {"guid": pkg["guid"]}}))
                .await
                .expect(201);
            sim.advance(2);
            sim.get(&format!("/v3/builds/{}", build["guid"].as_str().unwrap()))
                .await
                .expect(200)
        }
    };
    let staged =
        stage(json!({"image": image, "username": "testuser", "password": "testpass"})).await;
    assert_eq!(staged["state"], "STAGED", "{staged}");
    let droplet = staged["droplet"]["guid"].as_str().unwrap();
    let dump = sim.handle.state_dump();
    let recorded = dump["droplets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["guid"] == droplet)
        .unwrap();
    assert_eq!(recorded["digest"], digest.as_str());

    let wrong = stage(json!({"image": image, "username": "testuser", "password": "nope"})).await;
    assert_eq!(wrong["state"], "FAILED");
    assert!(
        wrong["error"].as_str().unwrap().contains("unauthorized"),
        "{wrong}"
    );
    let missing = stage(json!({"image": format!("{}/demo/hello:v9", registry.host), "username": "testuser", "password": "testpass"})).await;
    assert!(
        missing["error"]
            .as_str()
            .unwrap()
            .contains("manifest unknown"),
        "{missing}"
    );

    // Starting needs the registry too: with it gone, instances crash.
    sim.patch(
        &format!("/v3/apps/{app}/relationships/current_droplet"),
        json!({"data": {"guid": droplet}}),
    )
    .await
    .expect(200);
    registry.stop().await;
    sim.post(&format!("/v3/apps/{app}/actions/start"), json!({}))
        .await
        .expect(200);
    let stats = sim
        .get(&format!("/v3/apps/{app}/processes/web/stats"))
        .await
        .expect(200);
    assert_eq!(stats["resources"][0]["state"], "CRASHED");
}
