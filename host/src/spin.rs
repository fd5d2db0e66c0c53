//! Reading `spin.toml` (Spin manifest v2): the HTTP routes, cron triggers and components the
//! host serves. Only the fields the host needs are read; the rest is Spin's business.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use serde::Deserialize;

/// The parts of a Spin manifest the host uses.
#[derive(Debug, Clone, Deserialize)]
pub struct SpinManifest {
    spin_manifest_version: u32,
    #[serde(default)]
    trigger: Triggers,
    #[serde(default)]
    pub component: BTreeMap<String, ComponentDef>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct Triggers {
    #[serde(default)]
    http: Vec<HttpTrigger>,
    #[serde(default)]
    cron: Vec<CronTrigger>,
}

/// `[[trigger.http]]`.
#[derive(Debug, Clone, Deserialize)]
pub struct HttpTrigger {
    /// `/exact` or `/prefix/...` (wildcard).
    pub route: String,
    /// The component ID.
    pub component: String,
}

/// `[[trigger.cron]]`.
#[derive(Debug, Clone, Deserialize)]
pub struct CronTrigger {
    /// The component ID.
    pub component: String,
    /// Six or seven fields, seconds first.
    pub cron_expression: String,
}

/// `[component.NAME]`.
#[derive(Debug, Clone, Deserialize)]
pub struct ComponentDef {
    /// Path of the `.wasm`, relative to the manifest.
    pub source: String,
    /// Environment variables given to the component.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// Destinations the component may send HTTP requests to (`scheme://host[:port]`).
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
}

impl SpinManifest {
    /// Parses and checks a manifest: version 2, every trigger names a defined component.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let m: SpinManifest = toml::from_str(text).context("parsing spin.toml")?;
        if m.spin_manifest_version != 2 {
            bail!("spin.toml: spin_manifest_version must be 2");
        }
        for c in m
            .trigger
            .http
            .iter()
            .map(|t| &t.component)
            .chain(m.trigger.cron.iter().map(|t| &t.component))
        {
            if !m.component.contains_key(c) {
                bail!("spin.toml: a trigger names component `{c}`, which is not defined");
            }
        }
        for t in &m.trigger.http {
            if !t.route.starts_with('/') {
                bail!("spin.toml: route `{}` must start with `/`", t.route);
            }
        }
        Ok(m)
    }

    /// Returns the HTTP triggers.
    pub fn http_triggers(&self) -> &[HttpTrigger] {
        &self.trigger.http
    }

    /// Returns the cron triggers.
    pub fn cron_triggers(&self) -> &[CronTrigger] {
        &self.trigger.cron
    }

    /// Lets `component` reach `destination` (`scheme://host[:port]`) besides what its
    /// manifest lists.
    pub fn allow(&mut self, component: &str, destination: &str) {
        if let Some(def) = self.component.get_mut(component) {
            def.allowed_outbound_hosts.push(destination.to_string());
        }
    }
}

/// HTTP routes, most specific first, as Spin matches them: an exact route, or a wildcard
/// `/prefix/...` that matches the prefix and anything below it.
#[derive(Debug, Clone)]
pub struct Router {
    routes: Vec<(String, bool, String)>,
}

impl Router {
    /// Builds the router from the HTTP triggers.
    pub fn new(triggers: &[HttpTrigger]) -> Self {
        let mut routes: Vec<(String, bool, String)> = triggers
            .iter()
            .map(|t| match t.route.strip_suffix("/...") {
                Some(prefix) => (prefix.to_string(), true, t.component.clone()),
                None => {
                    let route = match t.route.trim_end_matches('/') {
                        "" => "/",
                        r => r,
                    };
                    (route.to_string(), false, t.component.clone())
                }
            })
            .collect();
        // Exact before wildcard, longer before shorter.
        routes.sort_by(|a, b| a.1.cmp(&b.1).then(b.0.len().cmp(&a.0.len())));
        Router { routes }
    }

    /// Returns the component serving `path`, if any.
    pub fn route(&self, path: &str) -> Option<&str> {
        self.matched(path).map(|(_, component)| component)
    }

    /// The route `path` matches (a wildcard route ending in `/...`) and its component.
    pub fn matched(&self, path: &str) -> Option<(String, &str)> {
        let path = match path.trim_end_matches('/') {
            "" => "/",
            p => p,
        };
        self.routes
            .iter()
            .find(|(route, wildcard, _)| {
                if *wildcard {
                    path == route || path.starts_with(&format!("{route}/"))
                } else {
                    path == route
                }
            })
            .map(|(route, wildcard, c)| {
                let route = if *wildcard {
                    format!("{route}/...")
                } else {
                    route.clone()
                };
                (route, c.as_str())
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_manifest_is_valid() {
        let m = SpinManifest::parse(include_str!("../../spin.toml")).unwrap();
        let r = Router::new(m.http_triggers());
        assert_eq!(r.route("/ingest"), Some("ingest"));
        assert_eq!(r.route("/pyroscope/ingest"), Some("ingest"));
        assert_eq!(r.route("/pyroscope/render"), Some("query"));
        assert_eq!(r.route("/pyroscope/render/"), Some("query"));
        assert_eq!(r.route("/nope"), None);
        // The UI: its page at the root (an exact route, so unknown paths stay 404s) and its
        // files below.
        assert_eq!(r.route("/"), Some("ui"));
        assert_eq!(r.route(""), Some("ui"));
        assert_eq!(r.route("/comparison-diff"), Some("ui"));
        assert_eq!(r.route("/explore"), Some("ui"));
        assert_eq!(r.route("/call-graph"), Some("ui"));
        assert_eq!(r.route("/adhoc"), Some("ui"));
        assert_eq!(r.route("/status"), Some("ui"));
        assert_eq!(r.route("/flamelet/adhoc"), Some("query"));
        assert_eq!(r.route("/flamelet/status"), Some("query"));
        assert_eq!(r.route("/exported-metrics"), Some("query"));
        assert_eq!(r.route("/assets/index-abc.js"), Some("ui"));
        assert_eq!(r.route("/img/icons/unicons/search.svg"), Some("ui"));
        assert_eq!(r.route("/flamelet/scrape"), Some("scrape"));
        assert_eq!(r.route("/targets"), Some("scrape"));
        let cron: Vec<&str> = m
            .cron_triggers()
            .iter()
            .map(|t| t.component.as_str())
            .collect();
        assert_eq!(cron, ["compact", "scrape"]);
    }

    #[test]
    fn wildcards() {
        let t = |route: &str, c: &str| HttpTrigger {
            route: route.into(),
            component: c.into(),
        };
        let r = Router::new(&[t("/a/...", "w"), t("/a/b", "e")]);
        assert_eq!(r.route("/a/b"), Some("e"));
        assert_eq!(r.route("/a/c/d"), Some("w"));
        assert_eq!(r.route("/a"), Some("w"));
        assert_eq!(r.route("/ab"), None);
    }

    #[test]
    fn rejects_unknown_components() {
        let text =
            "spin_manifest_version = 2\n[[trigger.http]]\nroute = \"/x\"\ncomponent = \"nope\"\n";
        assert!(SpinManifest::parse(text).is_err());
    }
}
