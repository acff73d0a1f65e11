//! Staging asks the image's registry for a manifest with the Docker and OCI media types in
//! `Accept`: a recording registry in the test (loopback, in-process) sees what was sent.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{HeaderMap, Uri, header};
use axum::response::IntoResponse;

use crate::common;

/// (path, Accept) of every request the recording registry received.
type Log = Arc<Mutex<Vec<(String, String)>>>;

const MANIFEST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":2,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},"layers":[]}"#;

async fn recording_registry() -> (String, Log, tokio::task::JoinHandle<()>) {
    let log: Log = Arc::default();
    let seen = Arc::clone(&log);
    let app = Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
        let seen = Arc::clone(&seen);
        async move {
            let accept = headers
                .get_all(header::ACCEPT)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect::<Vec<_>>()
                .join(", ");
            seen.lock().unwrap().push((uri.path().to_owned(), accept));
            let mut resp = MANIFEST.into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                "application/vnd.docker.distribution.manifest.v2+json"
                    .parse()
                    .unwrap(),
            );
            resp.headers_mut().insert(
                "docker-distribution-api-version",
                "registry/2.0".parse().unwrap(),
            );
            resp
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (addr.to_string(), log, task)
}

#[tokio::test]
async fn the_manifest_request_accepts_docker_and_oci_media_types() {
    let (host, log, server) = recording_registry().await;
    let sim = common::start().await;
    sim.enable_docker().await;
    let space = sim.org_space("o", "s").await;
    let app = sim.docker_app(&space, "web").await;
    let (build, droplet) = sim.stage(&app, &format!("{host}/team/api:1.0")).await;
    assert_eq!(build["state"], "STAGED", "{build}");
    assert!(droplet.is_some());

    let requests = log.lock().unwrap().clone();
    server.abort();
    let (_, accept) = requests
        .iter()
        .find(|(path, _)| path == "/v2/team/api/manifests/1.0")
        .unwrap_or_else(|| panic!("no manifest request among {requests:?}"));
    let types: Vec<&str> = accept
        .split(',')
        .map(|t| t.split(';').next().unwrap_or("").trim())
        .collect();
    for wanted in [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
    ] {
        assert!(
            types.contains(&wanted),
            "{wanted} missing from Accept: {accept}"
        );
    }
    assert!(
        requests.iter().any(|(path, _)| path == "/v2/"),
        "staging pings /v2/ first: {requests:?}"
    );
}
