//! Cloud Foundry's rules for manifest values: sizes with units, metadata keys and values,
//! environment variable names, routes. Each check returns the message a user should read.
//!
//! The limits follow the Cloud Controller (`MetadataValidatorHelper`, the env var and process
//! validators): label values and key names at most 63 characters, prefixes at most 253,
//! annotation values at most 5000, `cloudfoundry.org` reserved.

/// The label and annotation prefix driftless writes itself; manifests may not set it.
pub const OWN_PREFIX: &str = "driftless.dev";

const MAX_NAME: usize = 63;
const MAX_PREFIX: usize = 253;
const MAX_ANNOTATION_VALUE: usize = 5000;

/// Parses a size such as `512M`, `1G`, `1024MB` or `2048K` (case-insensitive) to megabytes.
pub fn size_mb(text: &str, key: &str) -> Result<u64, String> {
    let bytes = size_bytes(text, key)?;
    const MB: u64 = 1024 * 1024;
    if bytes % MB != 0 {
        return Err(format!(
            "`{key}: {text}` is not a whole number of megabytes"
        ));
    }
    match bytes / MB {
        0 => Err(format!("`{key}` must be more than 0 megabytes")),
        mb => Ok(mb),
    }
}

/// Parses a size with a unit to bytes.
pub fn size_bytes(text: &str, key: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (digits, unit) = trimmed.split_at(split);
    let expected = "expected a whole number with a unit: B, K, KB, M, MB, G, GB, T or TB (such as `512M` or `1G`)";
    if digits.is_empty() {
        return Err(format!("`{key}: {text}` is not a size; {expected}"));
    }
    let multiplier: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "B" => 1,
        "K" | "KB" => 1 << 10,
        "M" | "MB" => 1 << 20,
        "G" | "GB" => 1 << 30,
        "T" | "TB" => 1 << 40,
        "" => return Err(format!("`{key}: {text}` has no unit; {expected}")),
        other => {
            return Err(format!(
                "`{key}: {text}` has an unknown unit `{other}`; {expected}"
            ));
        }
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(|| format!("`{key}: {text}` is too large"))
}

/// Parses a whole number of 0 or more (`instances`).
pub fn count(text: &str, key: &str) -> Result<u32, String> {
    text.trim()
        .parse::<u32>()
        .map_err(|_| format!("`{key}` must be a whole number of 0 or more, found `{text}`"))
}

/// Parses a whole number of seconds, at least 1.
pub fn seconds(text: &str, key: &str) -> Result<u32, String> {
    match text.trim().parse::<u32>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "`{key}` must be a whole number of seconds, 1 or more, found `{text}`"
        )),
    }
}

/// Checks a label or annotation key: `[prefix/]name`.
pub fn metadata_key(key: &str, kind: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err(format!("{kind} key is empty"));
    }
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if name.contains('/') {
        return Err(format!(
            "{kind} key `{key}` has more than one `/`; expected `[prefix/]name`"
        ));
    }
    if let Some(prefix) = prefix {
        if prefix.is_empty() || prefix.len() > MAX_PREFIX || !is_dns_subdomain(prefix) {
            return Err(format!(
                "{kind} key prefix `{prefix}` is invalid: expected a DNS subdomain of at most {MAX_PREFIX} characters"
            ));
        }
        if prefix.eq_ignore_ascii_case("cloudfoundry.org") {
            return Err(format!(
                "{kind} key prefix `cloudfoundry.org` is reserved by Cloud Foundry"
            ));
        }
        if prefix.eq_ignore_ascii_case(OWN_PREFIX) {
            return Err(format!(
                "{kind} key prefix `{OWN_PREFIX}` is reserved for driftless's own metadata"
            ));
        }
    }
    if name.is_empty() || name.len() > MAX_NAME || !is_metadata_word(name) {
        return Err(format!(
            "{kind} key name `{name}` is invalid: expected at most {MAX_NAME} letters, digits, `-`, `_` or `.`, \
             starting and ending with a letter or digit"
        ));
    }
    Ok(())
}

/// Checks a label value: empty, or at most 63 characters of the key-name alphabet.
pub fn label_value(value: &str) -> Result<(), String> {
    if value.is_empty() || (value.len() <= MAX_NAME && is_metadata_word(value)) {
        Ok(())
    } else {
        Err(format!(
            "label value `{value}` is invalid: expected at most {MAX_NAME} letters, digits, `-`, `_` or `.`, \
             starting and ending with a letter or digit"
        ))
    }
}

/// Checks an annotation value: at most 5000 characters.
pub fn annotation_value(value: &str) -> Result<(), String> {
    let len = value.chars().count();
    if len <= MAX_ANNOTATION_VALUE {
        Ok(())
    } else {
        Err(format!(
            "annotation value is {len} characters long; expected at most {MAX_ANNOTATION_VALUE}"
        ))
    }
}

fn is_metadata_word(text: &str) -> bool {
    let alnum = |c: char| c.is_ascii_alphanumeric();
    text.starts_with(alnum)
        && text.ends_with(alnum)
        && text
            .chars()
            .all(|c| alnum(c) || matches!(c, '-' | '_' | '.'))
}

fn is_dns_subdomain(text: &str) -> bool {
    text.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && label.starts_with(|c: char| c.is_ascii_alphanumeric())
            && label.ends_with(|c: char| c.is_ascii_alphanumeric())
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    })
}

/// Checks an environment variable name the way the Cloud Controller does.
pub fn env_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("environment variable name is empty".to_owned());
    }
    if name == "PORT" {
        return Err(
            "environment variable `PORT` cannot be set: Cloud Foundry assigns it".to_owned(),
        );
    }
    for reserved in ["VCAP_", "VMW_"] {
        if name.starts_with(reserved) {
            return Err(format!(
                "environment variable `{name}` cannot be set: names starting with `{reserved}` are reserved by Cloud Foundry"
            ));
        }
    }
    Ok(())
}

/// Whether an env var name looks like it holds a secret (its value is then never shown).
pub fn is_sensitive_env_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ["PASSWORD", "SECRET", "TOKEN", "KEY", "CREDENTIAL"]
        .iter()
        .any(|word| upper.contains(word))
}

/// Whether an env value carries URL credentials (`scheme://user:password@host...`, as in a
/// `DATABASE_URL`): shown as sensitive whatever its key is called.
pub fn has_url_credentials(value: &str) -> bool {
    value.split("://").skip(1).any(|rest| {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        authority
            .rsplit_once('@')
            .is_some_and(|(userinfo, _)| userinfo.contains(':'))
    })
}

/// Checks and normalises a route: `host.domain[:port][/path]`, lowercased host and domain.
pub fn route(text: &str) -> Result<String, String> {
    let expected = "expected `host.domain[:port][/path]`";
    if text.contains("://") {
        return Err(format!("route `{text}` has a URL scheme; {expected}"));
    }
    if text.is_empty() || text.contains(char::is_whitespace) {
        return Err(format!("route `{text}` is invalid; {expected}"));
    }
    let (authority, path) = match text.find('/') {
        Some(i) => text.split_at(i),
        None => (text, ""),
    };
    let host = match authority.rsplit_once(':') {
        Some((host, port)) => {
            if port.parse::<u16>().is_err() {
                return Err(format!(
                    "route `{text}` has an invalid port `{port}`; {expected}"
                ));
            }
            host
        }
        None => authority,
    };
    let host_ok = host.contains('.')
        && host.split('.').enumerate().all(|(i, label)| {
            // The first label may be a wildcard host (`*.example.com`).
            (i == 0 && label == "*")
                || (!label.is_empty()
                    && label.len() <= 63
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    && !label.starts_with('-')
                    && !label.ends_with('-'))
        });
    if !host_ok {
        return Err(format!(
            "route `{text}` has an invalid host or domain `{host}`; {expected}"
        ));
    }
    Ok(format!("{}{path}", authority.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_credentials_are_found_in_any_value() {
        assert!(has_url_credentials(
            "postgres://app:s3cret@db.internal:5432/app"
        ));
        assert!(has_url_credentials("amqp://u:p@mq/vhost?x=1"));
        assert!(!has_url_credentials("https://example.com/a@b"));
        assert!(!has_url_credentials("https://user@example.com"));
        assert!(!has_url_credentials("hello from driftless"));
    }

    #[test]
    fn sizes_normalise_to_megabytes() {
        for (text, mb) in [
            ("512M", 512),
            ("1G", 1024),
            ("1024MB", 1024),
            ("1g", 1024),
            ("2048k", 2),
            ("1 GB", 1024),
            ("1T", 1 << 20),
        ] {
            assert_eq!(size_mb(text, "memory"), Ok(mb), "{text}");
        }
        assert_eq!(size_mb("512", "memory"), Err("`memory: 512` has no unit; expected a whole number with a unit: B, K, KB, M, MB, G, GB, T or TB (such as `512M` or `1G`)".into()));
        assert_eq!(size_mb("1Q", "memory"), Err("`memory: 1Q` has an unknown unit `Q`; expected a whole number with a unit: B, K, KB, M, MB, G, GB, T or TB (such as `512M` or `1G`)".into()));
        assert_eq!(size_mb("1.5G", "memory"), Err("`memory: 1.5G` has an unknown unit `.5G`; expected a whole number with a unit: B, K, KB, M, MB, G, GB, T or TB (such as `512M` or `1G`)".into()));
        assert_eq!(
            size_mb("100K", "disk_quota"),
            Err("`disk_quota: 100K` is not a whole number of megabytes".into())
        );
        assert_eq!(
            size_mb("0M", "memory"),
            Err("`memory` must be more than 0 megabytes".into())
        );
        assert!(size_mb("99999999999999T", "memory").is_err());
    }

    #[test]
    fn metadata_keys_and_values_follow_cloud_controller() {
        assert_eq!(metadata_key("team", "label"), Ok(()));
        assert_eq!(metadata_key("example.com/team-name", "label"), Ok(()));
        assert!(
            metadata_key("a/b/c", "label")
                .unwrap_err()
                .contains("more than one `/`")
        );
        assert!(
            metadata_key("-team", "label")
                .unwrap_err()
                .contains("key name `-team` is invalid")
        );
        assert!(metadata_key(&"x".repeat(64), "label").is_err());
        assert!(
            metadata_key("bad_prefix/x", "annotation")
                .unwrap_err()
                .contains("prefix `bad_prefix` is invalid")
        );
        assert!(
            metadata_key("cloudfoundry.org/x", "label")
                .unwrap_err()
                .contains("reserved by Cloud Foundry")
        );
        assert!(
            metadata_key("driftless.dev/managed", "label")
                .unwrap_err()
                .contains("reserved for driftless")
        );
        assert_eq!(label_value(""), Ok(()));
        assert_eq!(label_value("v1.2_x-y"), Ok(()));
        assert!(label_value("has space").is_err());
        assert!(label_value(&"v".repeat(64)).is_err());
        assert_eq!(annotation_value(&"v".repeat(5000)), Ok(()));
        assert!(annotation_value(&"v".repeat(5001)).is_err());
    }

    #[test]
    fn env_names_cloud_foundry_rejects() {
        assert_eq!(env_name("DATABASE_URL"), Ok(()));
        assert!(env_name("PORT").is_err());
        assert!(env_name("VCAP_SERVICES").is_err());
        assert!(env_name("VMW_X").is_err());
        assert!(env_name("").is_err());
        assert!(
            is_sensitive_env_name("db_password")
                && is_sensitive_env_name("API_KEY")
                && !is_sensitive_env_name("LOG_LEVEL")
        );
    }

    #[test]
    fn routes_are_checked_and_lowercased() {
        assert_eq!(
            route("Web.Apps.Example.com/api").as_deref(),
            Ok("web.apps.example.com/api")
        );
        assert_eq!(
            route("tcp.example.com:1024").as_deref(),
            Ok("tcp.example.com:1024")
        );
        assert_eq!(
            route("*.apps.example.com").as_deref(),
            Ok("*.apps.example.com")
        );
        assert!(
            route("https://web.example.com")
                .unwrap_err()
                .contains("URL scheme")
        );
        assert!(
            route("localhost")
                .unwrap_err()
                .contains("invalid host or domain")
        );
        assert!(
            route("a.example.com:http")
                .unwrap_err()
                .contains("invalid port")
        );
    }

    #[test]
    fn counts_and_seconds() {
        assert_eq!(count("3", "instances"), Ok(3));
        assert_eq!(
            count("-1", "instances"),
            Err("`instances` must be a whole number of 0 or more, found `-1`".into())
        );
        assert!(count("1.5", "instances").is_err());
        assert_eq!(seconds("10", "timeout"), Ok(10));
        assert!(seconds("0", "timeout").is_err());
    }
}
