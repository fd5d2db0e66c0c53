//! Application names as the legacy `/ingest` endpoint takes them: `app.suffix{k=v,…}`.

use crate::profile::{Labels, sanitize_label_name};
use crate::{Error, Result};

use super::IngestError;

/// A parsed `name` parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppName {
    /// Everything before `{`.
    pub full: String,
    /// The application name (before the last `.`).
    pub app: String,
    /// The suffix after the last `.`, if any.
    pub suffix: Option<String>,
    /// The tags between braces.
    pub tags: Labels,
}

/// Parses `app.suffix{k=v,k2=v2}`. Application names are letters, digits, `_`, `-`, `.`. Tag
/// keys are letters, digits, `_` and `.` (as FlameQL allows; SDKs send OpenTelemetry keys such
/// as `otel.scope.name`), stored with `.` as `_`; keys starting with `__` are reserved.
pub fn parse(name: &str) -> Result<AppName> {
    let bad = |reason: &str| -> Error {
        IngestError::InvalidName {
            name: name.escape_default().to_string(),
            reason: reason.to_string(),
        }
        .into()
    };
    let name = name.trim();
    let (full, tags_text) = match name.find('{') {
        Some(open) => {
            let inner = name[open + 1..]
                .strip_suffix('}')
                .ok_or_else(|| bad("tags must end with `}`"))?;
            (&name[..open], Some(inner))
        }
        None => (name, None),
    };
    if full.is_empty() {
        return Err(bad("empty application name"));
    }
    if !full
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        return Err(bad(
            "application names may contain only letters, digits, `_`, `-` and `.`",
        ));
    }
    let (app, suffix) = match full.rsplit_once('.') {
        Some((app, suffix)) => (app, Some(suffix.to_string())),
        None => (full, None),
    };
    if app.is_empty() {
        return Err(bad("empty application name"));
    }
    let mut tags = Labels::new();
    for pair in tags_text.unwrap_or("").split(',') {
        let pair = pair.trim();
        if pair.is_empty() {
            continue;
        }
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| bad(&format!("tag `{pair}` is not key=value")))?;
        let (k, v) = (k.trim(), v.trim());
        let key_ok = !k.is_empty()
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.'));
        if !key_ok {
            return Err(bad(&format!("invalid tag name `{k}`")));
        }
        if k.starts_with("__") {
            return Err(bad(&format!("tag name `{k}` is reserved")));
        }
        if v.contains('{') || v.contains('}') {
            return Err(bad(&format!("tag value `{v}` contains a brace")));
        }
        tags.insert(sanitize_label_name(k), v.to_string());
    }
    Ok(AppName {
        full: full.to_string(),
        app: app.to_string(),
        suffix,
        tags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let n = parse("my-app.cpu{env=staging, region = us-east}").unwrap();
        assert_eq!(
            (n.app.as_str(), n.suffix.as_deref()),
            ("my-app", Some("cpu"))
        );
        assert_eq!(n.tags.get("env").map(String::as_str), Some("staging"));
        assert_eq!(n.tags.get("region").map(String::as_str), Some("us-east"));
        let n = parse("a.b.alloc_objects").unwrap();
        assert_eq!(
            (n.app.as_str(), n.suffix.as_deref()),
            ("a.b", Some("alloc_objects"))
        );
        let n = parse("node{otel.scope.name=com.grafana.pyroscope/nodejs,1x=y}").unwrap();
        assert_eq!(
            n.tags.get("otel_scope_name").map(String::as_str),
            Some("com.grafana.pyroscope/nodejs")
        );
        assert_eq!(n.tags.get("_1x").map(String::as_str), Some("y"));
        let n = parse("plain{}").unwrap();
        assert_eq!((n.app.as_str(), n.suffix), ("plain", None));
    }

    #[test]
    fn errors() {
        for bad in [
            "",
            "{a=b}",
            "app.cpu{env=x",
            "app cpu",
            "app.cpu{a-b=y}",
            "app.cpu{__name__=x}",
            "app.cpu{novalue}",
            ".cpu",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
