//! Image references as staging reads them (pure).

use simulator::{ImageRef, parse_image};

fn image(host: &str, repo: &str, reference: &str) -> ImageRef {
    ImageRef {
        host: host.into(),
        repo: repo.into(),
        reference: reference.into(),
    }
}

#[test]
fn parses_hosts_tags_and_digests_like_docker() {
    let d = format!("sha256:{}", "a".repeat(64));
    let cases = [
        (
            "busybox",
            image("registry-1.docker.io", "library/busybox", "latest"),
        ),
        (
            "cloudfoundry/diego-docker-app",
            image(
                "registry-1.docker.io",
                "cloudfoundry/diego-docker-app",
                "latest",
            ),
        ),
        (
            "127.0.0.1:5000/demo/hello:v1",
            image("127.0.0.1:5000", "demo/hello", "v1"),
        ),
        ("localhost/demo", image("localhost", "demo", "latest")),
        (
            "registry.example.com/team/api:1.2.3",
            image("registry.example.com", "team/api", "1.2.3"),
        ),
    ];
    for (raw, want) in cases {
        assert_eq!(parse_image(raw), want, "{raw}");
    }
    assert_eq!(
        parse_image(&format!("127.0.0.1:5000/demo/hello:v1@{d}")),
        image("127.0.0.1:5000", "demo/hello", &d)
    );
    assert_eq!(
        parse_image(&format!("busybox@{d}")),
        image("registry-1.docker.io", "library/busybox", &d)
    );
}
