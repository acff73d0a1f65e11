//! The Registry V2 client against a real `docker-registry`: anonymous, htpasswd Basic and Bearer
//! token auth; OCI and Docker schema2 digests; tag moved; missing tag; wrong password; registry
//! down; an endpoint that is not a V2 registry.

use driftless::{
    model::ImageRef,
    registry::{Endpoint, RegistryClient, RegistryError, RegistryOptions},
    secret::{Credentials, Secret},
};
use driftless_tests::registry::{self, AuthMode, Format, PASSWORD, Registry, USER};

fn client() -> RegistryClient {
    RegistryClient::new(&RegistryOptions {
        timeout: std::time::Duration::from_secs(5),
        ..RegistryOptions::default()
    })
    .expect("client")
}

fn image(registry: &Registry, repo: &str, tag: &str) -> ImageRef {
    ImageRef::parse(&format!("{}/{repo}:{tag}", registry.host)).expect("image ref")
}

fn endpoint(registry: &Registry) -> Endpoint {
    Endpoint::for_registry(&registry.host, true)
}

fn good() -> Credentials {
    Credentials {
        username: USER.into(),
        password: Secret::new(PASSWORD),
    }
}

fn wrong() -> Credentials {
    Credentials {
        username: USER.into(),
        password: Secret::new("not-the-password"),
    }
}

#[tokio::test]
async fn anonymous_registry_resolves_oci_and_docker_digests_and_sees_a_moved_tag() {
    if !registry::available("anonymous_registry") {
        return;
    }
    let reg = Registry::start(AuthMode::Anonymous);
    let client = client();
    client.ping(&endpoint(&reg), None).await.expect("ping");

    let oci = registry::push(&reg, "demo/hello", "v1", Format::Oci, "hello v1").await;
    let docker = registry::push(&reg, "demo/hello", "v2s2", Format::DockerV2, "hello v2s2").await;
    let got = client
        .resolve(&endpoint(&reg), &image(&reg, "demo/hello", "v1"), None)
        .await
        .expect("oci");
    assert_eq!(
        (got.digest.as_str(), got.media_type.as_str()),
        (oci.as_str(), "application/vnd.oci.image.manifest.v1+json")
    );
    // Without the full Accept list registry 2.8 would convert this to schema1 with another digest.
    let got = client
        .resolve(&endpoint(&reg), &image(&reg, "demo/hello", "v2s2"), None)
        .await
        .expect("docker");
    assert_eq!(
        (got.digest.as_str(), got.media_type.as_str()),
        (
            docker.as_str(),
            "application/vnd.docker.distribution.manifest.v2+json"
        )
    );

    // A digest reference resolves to itself.
    let pinned = image(&reg, "demo/hello", "v1").pinned(&oci);
    assert_eq!(
        client
            .resolve(&endpoint(&reg), &pinned, None)
            .await
            .expect("by digest")
            .digest,
        oci
    );

    // The tag moves when a new image is pushed under it.
    let moved = registry::push(&reg, "demo/hello", "v1", Format::Oci, "hello v1, rebuilt").await;
    assert_ne!(moved, oci);
    let got = client
        .resolve(&endpoint(&reg), &image(&reg, "demo/hello", "v1"), None)
        .await
        .expect("moved");
    assert_eq!(got.digest, moved);

    let missing = client
        .resolve(&endpoint(&reg), &image(&reg, "demo/hello", "nope"), None)
        .await
        .expect_err("missing tag");
    assert_eq!(missing.kind(), "not_found", "{missing}");
    let missing_repo = client
        .resolve(&endpoint(&reg), &image(&reg, "demo/absent", "v1"), None)
        .await
        .expect_err("missing repo");
    assert_eq!(missing_repo.kind(), "not_found", "{missing_repo}");
}

#[tokio::test]
async fn htpasswd_registry_needs_the_right_password() {
    if !registry::available("htpasswd_registry") {
        return;
    }
    let reg = Registry::start(AuthMode::Htpasswd);
    let client = client();
    let digest = registry::push(&reg, "team/app", "1.0", Format::DockerV2, "app 1.0").await;
    let img = image(&reg, "team/app", "1.0");
    assert_eq!(
        client
            .resolve(&endpoint(&reg), &img, Some(&good()))
            .await
            .expect("right password")
            .digest,
        digest
    );
    client
        .ping(&endpoint(&reg), Some(&good()))
        .await
        .expect("ping with credentials");

    let anonymous = client
        .resolve(&endpoint(&reg), &img, None)
        .await
        .expect_err("no credentials");
    assert_eq!(anonymous.kind(), "unauthorized");
    assert!(
        anonymous.to_string().contains("it needs credentials"),
        "{anonymous}"
    );
    let refused = client
        .resolve(&endpoint(&reg), &img, Some(&wrong()))
        .await
        .expect_err("wrong password");
    assert_eq!(refused.kind(), "unauthorized");
    let text = format!("{refused} {refused:?}");
    assert!(
        !text.contains("not-the-password") && !text.contains(PASSWORD),
        "a password leaked: {text}"
    );
}

#[tokio::test]
async fn token_registry_is_answered_with_a_bearer_token() {
    if !registry::available("token_registry") {
        return;
    }
    let reg = Registry::start(AuthMode::Token);
    let client = client();
    let digest = registry::push(&reg, "demo/hello", "v1", Format::Oci, "token hello").await;
    let img = image(&reg, "demo/hello", "v1");
    let got = client
        .resolve(&endpoint(&reg), &img, Some(&good()))
        .await
        .expect("with credentials");
    assert_eq!(got.digest, digest);
    // The cached token serves the next lookup too.
    assert_eq!(
        client
            .resolve(&endpoint(&reg), &img, Some(&good()))
            .await
            .expect("cached")
            .digest,
        digest
    );
    // This token server gives anonymous users pull access, as public registries do.
    assert_eq!(
        client
            .resolve(&endpoint(&reg), &img, None)
            .await
            .expect("anonymous pull")
            .digest,
        digest
    );
    let refused = client
        .resolve(&endpoint(&reg), &img, Some(&wrong()))
        .await
        .expect_err("wrong password");
    assert_eq!(refused.kind(), "unauthorized", "{refused}");
}

#[tokio::test]
async fn a_registry_that_is_down_is_unreachable() {
    if !registry::available("registry_down") {
        return;
    }
    let mut reg = Registry::start(AuthMode::Anonymous);
    registry::push(&reg, "demo/hello", "v1", Format::Oci, "soon gone").await;
    reg.stop();
    let error = client()
        .resolve(&endpoint(&reg), &image(&reg, "demo/hello", "v1"), None)
        .await
        .expect_err("down");
    assert!(
        matches!(error, RegistryError::Unreachable { .. }),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        format!("registry {} is unreachable: connection failed", reg.host)
    );
}

/// Serves `response` to every connection: a web server that is not a registry.
async fn serve_forever(response: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf).await;
            let _ = stream.write_all(response.as_bytes()).await;
        }
    });
    addr
}

#[tokio::test]
async fn an_endpoint_without_the_v2_api_is_named_as_such() {
    let not_found =
        serve_forever("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .await;
    let html = serve_forever("HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello").await;
    let client = client();
    for host in [not_found, html] {
        let endpoint = Endpoint::for_registry(&host, true);
        let error = client
            .ping(&endpoint, None)
            .await
            .expect_err("not a registry");
        assert_eq!(error.kind(), "not_v2", "{host}: {error}");
        assert!(
            error
                .to_string()
                .ends_with("Cloud Foundry pulls only from V2 registries"),
            "{error}"
        );
    }
    let not_found =
        serve_forever("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .await;
    let image = ImageRef::parse(&format!("{not_found}/demo/hello:v1")).expect("ref");
    let error = client
        .resolve(&Endpoint::for_registry(&not_found, true), &image, None)
        .await
        .expect_err("resolve");
    assert_eq!(error.kind(), "not_v2", "{error}");
}
