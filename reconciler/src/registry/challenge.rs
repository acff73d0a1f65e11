//! `WWW-Authenticate` challenges of a Docker Registry V2 (RFC 7235 auth-params). Pure.

use std::collections::BTreeMap;

/// What a registry asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic realm="..."`: send the username and password.
    Basic,
    /// `Bearer realm="...",service="...",scope="..."`: get a token from `realm`.
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parses one `WWW-Authenticate` value. Unknown schemes give `None`.
pub fn parse(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header
        .split_once(char::is_whitespace)
        .unwrap_or((header, ""));
    let params = params(rest);
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => Some(Challenge::Bearer {
            realm: params.get("realm")?.clone(),
            service: params.get("service").cloned(),
            scope: params.get("scope").cloned(),
        }),
        _ => None,
    }
}

/// `key=value` or `key="quoted, with \" escapes"`, comma separated; keys lowercased.
fn params(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String =
            std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ',')).collect();
        if key.is_empty() {
            break;
        }
        if chars.next() != Some('=') {
            continue;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = std::iter::from_fn(|| chars.next_if(|c| *c != ','))
                .collect::<String>()
                .trim()
                .to_owned();
        }
        out.insert(key.trim().to_ascii_lowercase(), value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_challenges_parse() {
        assert_eq!(parse(r#"Basic realm="test-realm""#), Some(Challenge::Basic));
        assert_eq!(
            parse(
                r#"Bearer realm="http://127.0.0.1:5100/token",service="test-registry",scope="repository:demo/hello:pull,push""#
            ),
            Some(Challenge::Bearer {
                realm: "http://127.0.0.1:5100/token".into(),
                service: Some("test-registry".into()),
                scope: Some("repository:demo/hello:pull,push".into()),
            })
        );
        assert_eq!(
            parse(
                r#"bearer realm=https://auth.docker.io/token, service="registry.docker.io", error="insufficient_scope""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: None
            })
        );
        assert_eq!(
            parse(r#"Bearer service="x""#),
            None,
            "a bearer challenge needs a realm"
        );
        assert_eq!(parse("Negotiate abc"), None);
        assert_eq!(
            parse(r#"Bearer realm="a\"b""#),
            Some(Challenge::Bearer {
                realm: "a\"b".into(),
                service: None,
                scope: None
            })
        );
    }
}
