//! Outbound HTTP for components, as Spin allows it: a component may reach exactly the
//! destinations its manifest lists in `allowed_outbound_hosts`, and nothing when it lists none.
//!
//! A destination is `scheme://host[:port]`: the scheme `http`, `https` or `*`; the host exact,
//! `*` or `*.suffix`; the port a number, `*`, or left out for the scheme's default.

/// Why an `allowed_outbound_hosts` entry cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("allowed_outbound_hosts entry `{entry}` {reason}")]
pub struct BadDestination {
    /// The entry as written.
    pub entry: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Any,
    Exact(String),
}

/// One allowed destination.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Destination {
    scheme: Pattern,
    /// `*.example.com` is kept as the suffix `.example.com`.
    host: HostPattern,
    /// `None` for any port.
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    Exact(String),
    Suffix(String),
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

impl Destination {
    fn parse(entry: &str) -> Result<Self, BadDestination> {
        let bad = |reason| BadDestination {
            entry: entry.to_string(),
            reason,
        };
        let (scheme, rest) = entry
            .split_once("://")
            .ok_or_else(|| bad("has no scheme (write e.g. https://example.com)"))?;
        let scheme = match scheme {
            "*" => Pattern::Any,
            "http" | "https" => Pattern::Exact(scheme.to_string()),
            _ => return Err(bad("has a scheme other than http, https or *")),
        };
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') {
            return Err(bad("has a path; give only scheme://host[:port]"));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, "*")) => (host, None),
            Some((host, port)) => (
                host,
                Some(port.parse::<u16>().map_err(|_| bad("has a bad port"))?),
            ),
            None => match &scheme {
                Pattern::Exact(s) => (rest, default_port(s)),
                Pattern::Any => return Err(bad("needs a port when the scheme is *")),
            },
        };
        let host = host.to_ascii_lowercase();
        let host = if host == "*" {
            HostPattern::Any
        } else if let Some(suffix) = host.strip_prefix("*.") {
            HostPattern::Suffix(format!(".{suffix}"))
        } else if host.is_empty() || host.contains('*') {
            return Err(bad("has a bad host"));
        } else {
            HostPattern::Exact(host)
        };
        Ok(Destination { scheme, host, port })
    }

    fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        let scheme_ok = match &self.scheme {
            Pattern::Any => true,
            Pattern::Exact(s) => s == scheme,
        };
        let host_ok = match &self.host {
            HostPattern::Any => true,
            HostPattern::Exact(h) => h == host,
            HostPattern::Suffix(s) => host.ends_with(s.as_str()),
        };
        scheme_ok && host_ok && self.port.is_none_or(|p| p == port)
    }
}

/// The destinations one component may reach.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts {
    destinations: Vec<Destination>,
}

impl AllowedHosts {
    /// Parses a manifest's `allowed_outbound_hosts`.
    pub fn parse(entries: &[String]) -> Result<Self, BadDestination> {
        Ok(AllowedHosts {
            destinations: entries
                .iter()
                .map(|e| Destination::parse(e))
                .collect::<Result<_, _>>()?,
        })
    }

    /// Whether the list is empty: the component may reach nothing.
    pub fn is_empty(&self) -> bool {
        self.destinations.is_empty()
    }

    /// Whether a request to `uri` may go out.
    pub fn allows(&self, uri: &http::Uri) -> bool {
        let (Some(scheme), Some(host)) = (uri.scheme_str(), uri.host()) else {
            return false;
        };
        let Some(port) = uri.port_u16().or_else(|| default_port(scheme)) else {
            return false;
        };
        let host = host.to_ascii_lowercase();
        self.destinations
            .iter()
            .any(|d| d.allows(scheme, &host, port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(entries: &[&str]) -> AllowedHosts {
        AllowedHosts::parse(&entries.iter().map(|e| e.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn uri(s: &str) -> http::Uri {
        s.parse().unwrap()
    }

    #[test]
    fn exact_destinations_with_default_and_explicit_ports() {
        let a = allowed(&[
            "http://127.0.0.1:5000",
            "https://s3.eu-west-1.amazonaws.com",
        ]);
        assert!(a.allows(&uri("http://127.0.0.1:5000/bucket/key")));
        assert!(!a.allows(&uri("http://127.0.0.1:5001/bucket/key")));
        assert!(
            !a.allows(&uri("https://127.0.0.1:5000/")),
            "the scheme counts"
        );
        assert!(a.allows(&uri("https://s3.eu-west-1.amazonaws.com/b")));
        assert!(a.allows(&uri("https://S3.eu-west-1.amazonaws.com:443/b")));
        assert!(!a.allows(&uri("https://s3.eu-west-1.amazonaws.com:8443/b")));
        assert!(!a.allows(&uri("http://169.254.169.254/latest/meta-data")));
    }

    #[test]
    fn wildcards() {
        let a = allowed(&["https://*.amazonaws.com", "*://localhost:*"]);
        assert!(a.allows(&uri("https://bucket.s3.amazonaws.com/k")));
        assert!(!a.allows(&uri("https://amazonaws.com.evil.example/k")));
        assert!(a.allows(&uri("http://localhost:9000/")));
        assert!(a.allows(&uri("https://localhost:1/")));
        assert!(!AllowedHosts::default().allows(&uri("http://localhost:9000/")));
    }

    #[test]
    fn bad_entries_are_named() {
        for (entry, reason) in [
            ("example.com", "has no scheme"),
            ("ftp://example.com", "has a scheme other than"),
            ("https://example.com/path", "has a path"),
            ("http://example.com:http", "has a bad port"),
            ("*://example.com", "needs a port"),
            ("https://ex*ample.com", "has a bad host"),
        ] {
            let e = AllowedHosts::parse(&[entry.to_string()]).unwrap_err();
            assert_eq!(e.entry, entry);
            assert!(e.to_string().contains(reason), "{e}");
        }
    }
}
