//! The server configuration file (`--config`, `FLAMELET_CONFIG`): Pyroscope's YAML format, of
//! which Flamelet reads `metrics-export-rules`, and `recording-rules` (rules of
//! `settings.v1.RecordingRulesService` provisioned for every tenant, read-only through the
//! API) with `max-recording-rules` (per tenant, default 25), and `remote-write` (where the
//! compact component sends the recording rules' samples), and `limits` with per-tenant
//! `overrides`: `retention_period` (how long profiles are kept) and the ingest and query
//! limits by Pyroscope's names (`max_profile_stacktrace_samples`, `max_query_length`, …);
//! other keys of a Pyroscope server file are ignored, so an existing one can be pointed at
//! unchanged. Flamelet's own: `auth` (credentials; see [`flamelet::auth`]).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use flamelet::auth::{AUTH_ENV, Auth, AuthSpec};
use flamelet::limits::{Limits as LimitNames, TenantLimits};
use flamelet::metrics::recording::{self, MAX_RULES_ENV, RECORDING_RULES_ENV};
use flamelet::metrics::remote_write::{
    DELAY_ENV, RemoteWriteConfig, TENANT_LABEL_ENV, URL_ENV, WINDOW_ENV,
};
use flamelet::metrics::{ExportRules, RULES_ENV, RuleSpec};
use flamelet::retention::Retention;
use flamelet::scrape::config::JobSpec;
use flamelet::scrape::{Jobs, SCRAPE_CONFIGS_ENV};
use flamelet::wire::proto::settings::v1::RecordingRule;
use serde::Deserialize;

use crate::spin::Router;

/// The route of the compaction component (which sends remote-write).
pub const COMPACT_PATH: &str = "/flamelet/compact";
/// The route of the scrape component (which reaches the scrape targets).
pub const SCRAPE_PATH: &str = "/flamelet/scrape";

#[derive(Debug, Default, Deserialize)]
struct ConfigFile {
    #[serde(rename = "metrics-export-rules", default)]
    metrics_export_rules: BTreeMap<String, RuleSpec>,
    /// In the API's JSON form (`metric_name` or `metricName`, …).
    #[serde(rename = "recording-rules", default)]
    recording_rules: Vec<RecordingRule>,
    #[serde(rename = "max-recording-rules")]
    max_recording_rules: Option<usize>,
    #[serde(rename = "remote-write")]
    remote_write: Option<RemoteWrite>,
    /// Defaults of the per-tenant limits (`retention_period`).
    #[serde(default)]
    limits: Limits,
    /// Per-tenant limits by tenant ID.
    #[serde(default)]
    overrides: BTreeMap<String, Limits>,
    /// Credentials; none means authentication is off.
    auth: Option<AuthSpec>,
    /// Pull mode's jobs, as Prometheus writes them.
    #[serde(default)]
    scrape_configs: Vec<JobSpec>,
}

/// Per-tenant limits, in the shape of Pyroscope's `limits` and `overrides`.
#[derive(Debug, Default, Deserialize)]
struct Limits {
    /// How long profiles are kept (`31d`; `0` keeps everything).
    retention_period: Option<String>,
    /// Every other key: the limits Flamelet applies ([`LimitNames::names`]) are kept,
    /// checked by [`TenantLimits::from_config`]; the rest are Pyroscope's own.
    #[serde(flatten)]
    others: serde_json::Map<String, serde_json::Value>,
}

impl Limits {
    /// The limits Flamelet applies among the keys.
    fn applied(&self) -> serde_json::Map<String, serde_json::Value> {
        let names = LimitNames::names();
        self.others
            .iter()
            .filter(|(k, _)| names.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// Limits by name (JSON values), as the command line sets them.
pub type LimitFlags = serde_json::Map<String, serde_json::Value>;

/// Where the recording rules' samples go.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RemoteWrite {
    url: String,
    #[serde(rename = "window-seconds")]
    window_seconds: Option<u64>,
    #[serde(rename = "delay-seconds")]
    delay_seconds: Option<u64>,
    #[serde(rename = "tenant-label")]
    tenant_label: Option<String>,
}

/// The file's settings, checked: what the components get through their environment.
#[derive(Debug, Default)]
pub struct Config {
    /// How many export rules there are.
    pub rules: usize,
    /// How many recording rules are provisioned.
    pub recording_rules: usize,
    /// The remote-write receiver's `scheme://host[:port]`, which the scheduled components may
    /// reach.
    pub remote_write_destination: Option<String>,
    /// The scrape targets' `scheme://host:port`, which the scrape component may reach.
    pub scrape_destinations: Vec<String>,
    /// How many scrape targets there are.
    pub scrape_targets: usize,
    /// The components' environment: the rules as JSON ([`RULES_ENV`],
    /// [`RECORDING_RULES_ENV`]), the limit, the remote-write settings.
    env: Vec<(String, String)>,
    /// The credentials, when authentication is on: the native host checks them itself; a
    /// packaged app's components get them as [`AUTH_ENV`] ([`Config::packaged_env`]).
    pub auth: Option<Auth>,
    auth_json: Option<String>,
}

impl Config {
    /// Reads and checks the file; a bad rule is an error naming the file, the rule and the
    /// value.
    /// `flags`: limits set on the command line, by name, laid over the file's defaults.
    pub fn load(path: Option<&Path>, flags: &LimitFlags) -> anyhow::Result<Self> {
        let Some(path) = path else {
            return Self::parse_with("", flags).context("command-line limits");
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the configuration file {}", path.display()))?;
        Self::parse_with(&text, flags).with_context(|| path.display().to_string())
    }

    #[cfg(test)]
    fn parse(text: &str) -> anyhow::Result<Self> {
        Self::parse_with(text, &LimitFlags::new())
    }

    fn parse_with(text: &str, flags: &LimitFlags) -> anyhow::Result<Self> {
        // An empty file is an empty configuration.
        let file: ConfigFile = if text.trim().is_empty() {
            ConfigFile::default()
        } else {
            yaml_serde::from_str(text)?
        };
        let mut env: Vec<(String, String)> = Vec::new();
        let rules = ExportRules::new(&file.metrics_export_rules)?;
        if !rules.is_empty() {
            let json = serde_json::to_string(&file.metrics_export_rules)?;
            env.push((RULES_ENV.to_string(), json));
        }
        let recording_rules = file.recording_rules.len();
        if recording_rules > 0 {
            let json = serde_json::to_string(&file.recording_rules)?;
            env.push((RECORDING_RULES_ENV.to_string(), json));
        }
        // Checked here so that a bad rule stops the server instead of failing every call.
        recording::provisioned(file.recording_rules).context("recording-rules")?;
        if let Some(max) = file.max_recording_rules {
            env.push((MAX_RULES_ENV.to_string(), max.to_string()));
        }
        if let Some(period) = &file.limits.retention_period {
            env.push((Retention::ENV.to_string(), period.clone()));
        }
        let overrides: BTreeMap<&String, &String> = file
            .overrides
            .iter()
            .filter_map(|(tenant, l)| Some((tenant, l.retention_period.as_ref()?)))
            .collect();
        if !overrides.is_empty() {
            env.push((
                Retention::ENV_OVERRIDES.to_string(),
                serde_json::to_string(&overrides)?,
            ));
        }
        // The components' own check, so that a bad period stops the server here.
        Retention::from_config(|name| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
            .context("limits")?;
        let mut defaults = file.limits.applied();
        defaults.extend(flags.iter().map(|(k, v)| (k.clone(), v.clone())));
        if !defaults.is_empty() {
            env.push((
                TenantLimits::ENV.to_string(),
                serde_json::to_string(&defaults)?,
            ));
        }
        let overrides: BTreeMap<&String, serde_json::Map<String, serde_json::Value>> = file
            .overrides
            .iter()
            .map(|(tenant, l)| (tenant, l.applied()))
            .filter(|(_, l)| !l.is_empty())
            .collect();
        if !overrides.is_empty() {
            env.push((
                TenantLimits::ENV_OVERRIDES.to_string(),
                serde_json::to_string(&overrides)?,
            ));
        }
        // The components' own check, so that a bad limit stops the server here.
        TenantLimits::from_config(|name| {
            env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
        .context("limits")?;
        let mut remote_write_destination = None;
        if let Some(rw) = file.remote_write {
            for (name, value) in [
                (URL_ENV, Some(rw.url.clone())),
                (WINDOW_ENV, rw.window_seconds.map(|s| s.to_string())),
                (DELAY_ENV, rw.delay_seconds.map(|s| s.to_string())),
                (TENANT_LABEL_ENV, rw.tenant_label.clone()),
            ] {
                if let Some(v) = value {
                    env.push((name.to_string(), v));
                }
            }
            // The component's own check, so that a bad value stops the server here.
            RemoteWriteConfig::from_env(|name| {
                env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
            })
            .context("remote-write")?;
            let (scheme, rest) = rw.url.split_once("://").unwrap_or(("http", &rw.url));
            let authority = rest.split('/').next().unwrap_or(rest);
            remote_write_destination = Some(format!("{scheme}://{authority}"));
        }
        // The component's own check, so that a bad job stops the server here.
        let jobs = Jobs::new(&file.scrape_configs)?;
        if !jobs.jobs.is_empty() {
            env.push((
                SCRAPE_CONFIGS_ENV.to_string(),
                serde_json::to_string(&file.scrape_configs)?,
            ));
        }
        let auth = file.auth.as_ref().map(Auth::from_spec).transpose()?;
        let auth_json = file.auth.as_ref().map(serde_json::to_string).transpose()?;
        Ok(Config {
            rules: rules.rules.len(),
            recording_rules,
            remote_write_destination,
            scrape_destinations: jobs.destinations(),
            scrape_targets: jobs.targets().count(),
            env,
            auth,
            auth_json,
        })
    }

    /// What components may reach besides their manifest's destinations, by component ID: the
    /// one routed at `/flamelet/compact` the remote-write receiver, the one routed at
    /// `/flamelet/scrape` the scrape targets.
    pub fn outbound_hosts(&self, router: &Router) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let wanted = [
            (
                COMPACT_PATH,
                self.remote_write_destination.iter().cloned().collect(),
            ),
            (SCRAPE_PATH, self.scrape_destinations.clone()),
        ];
        for (path, destinations) in wanted {
            if let Some(component) = router.route(path) {
                out.entry(component.to_string())
                    .or_default()
                    .extend(destinations);
            }
        }
        out.retain(|_, d| !d.is_empty());
        out
    }

    /// The environment the components get from the file under the native host (which checks
    /// credentials before a component runs).
    pub fn env(&self) -> Vec<(String, String)> {
        self.env.clone()
    }

    /// The environment of a packaged app's components, which check credentials themselves.
    pub fn packaged_env(&self) -> Vec<(String, String)> {
        let mut env = self.env();
        env.extend(
            self.auth_json
                .as_ref()
                .map(|json| (AUTH_ENV.to_string(), json.clone())),
        );
        env
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pyroscope_s_file_with_its_other_keys() {
        let c = Config::parse(
            "storage-path: /var/lib/pyroscope\nmetrics-export-rules:\n  a_slow:\n    expr: app.cpu\n    node: slowFunction\n    labels: [env]\n",
        )
        .unwrap();
        assert_eq!(c.rules, 1);
        let (name, json) = &c.env()[0];
        assert_eq!(name, RULES_ENV);
        let back = ExportRules::from_env(|_| Some(json.clone())).unwrap();
        assert_eq!(back.rules[0].group_by, ["env"]);
        assert!(Config::parse("").unwrap().env().is_empty());
    }

    #[test]
    fn recording_rules_are_provisioned_through_the_environment() {
        let c = Config::parse(
            "recording-rules:\n  - metric_name: profiles_recorded_cpu\n    matchers: ['{__profile_type__=\"process_cpu:cpu:nanoseconds:cpu:nanoseconds\"}']\n    group_by: [env]\n    external_labels: [{name: team, value: pay}]\n    stacktrace_filter: {function_name: {function_name: main.slow}}\nmax-recording-rules: 5\n",
        )
        .unwrap();
        let env: BTreeMap<String, String> = c.env().into_iter().collect();
        let rules = recording::provisioned_from_env(|n| env.get(n).cloned()).unwrap();
        assert_eq!(rules[0].metric_name, "profiles_recorded_cpu");
        assert_eq!(rules[0].group_by, ["env"]);
        assert_eq!(rules[0].external_labels, [("team".into(), "pay".into())]);
        assert_eq!(rules[0].function_name.as_deref(), Some("main.slow"));
        assert_eq!(
            recording::max_rules_from_env(|n| env.get(n).cloned()).unwrap(),
            5
        );
        let e = Config::parse("recording-rules:\n  - metric_name: cpu\n    matchers: ['{}']\n")
            .unwrap_err();
        let line = format!("{e:#}");
        assert!(
            line.contains("recording-rules: invalid recording rule: metric_name `cpu`"),
            "{line}"
        );
    }

    #[test]
    fn remote_write_names_the_receiver_the_scheduled_components_may_reach() {
        let c = Config::parse(
            "remote-write:\n  url: http://127.0.0.1:9090/api/v1/write\n  window-seconds: 10\n",
        )
        .unwrap();
        assert_eq!(
            c.remote_write_destination.as_deref(),
            Some("http://127.0.0.1:9090")
        );
        let env: BTreeMap<String, String> = c.env().into_iter().collect();
        let rw = RemoteWriteConfig::from_env(|n| env.get(n).cloned())
            .unwrap()
            .unwrap();
        assert_eq!((rw.window, rw.delay), (10_000_000_000, 300_000_000_000));
        let e = Config::parse("remote-write:\n  url: localhost:9090\n").unwrap_err();
        assert!(format!("{e:#}").contains("remote-write: FLAMELET_REMOTE_WRITE_URL=`localhost:9090` is not an http:// or https:// URL"), "{e:#}");
    }

    #[test]
    fn limits_have_pyroscopes_names_defaults_and_per_tenant_overrides() {
        let file = "limits:\n  max_label_names_per_series: 40\n  ingestion_rate_mb: 4\n  max_query_length: 24h\n  max_flamegraph_nodes_default: 100\noverrides:\n  big:\n    max_profile_stacktrace_samples: 100000\n    max_query_length: 0\n";
        let flags: LimitFlags = [("max_flamegraph_nodes_default".into(), 50.into())]
            .into_iter()
            .collect();
        let c = Config::parse_with(file, &flags).unwrap();
        let env: BTreeMap<String, String> = c.env().into_iter().collect();
        let limits = TenantLimits::from_config(|n| env.get(n).cloned()).unwrap();
        let of = |id| limits.of(&flamelet::tenant::Tenant::from_header(Some(id)).unwrap());
        assert_eq!(of("big").ingest.max_profile_stacktrace_samples, 100_000);
        assert_eq!(of("big").ingest.max_label_names_per_series, 40);
        assert_eq!(of("other").ingest.max_profile_stacktrace_samples, 16_000);
        let day = 86_400 * flamelet::time::NANOS_PER_SECOND;
        assert_eq!(of("other").query.max_query_length, Some(day));
        assert_eq!(of("big").query.max_query_length, None);
        // The command line's value wins over the file's default, for overridden tenants too.
        assert_eq!(of("other").query.max_flamegraph_nodes_default, 50);
        assert_eq!(of("big").query.max_flamegraph_nodes_default, 50);
        // Without a file, the command line's limits alone.
        let c = Config::parse_with("", &flags).unwrap();
        let env: BTreeMap<String, String> = c.env().into_iter().collect();
        let limits = TenantLimits::from_config(|n| env.get(n).cloned()).unwrap();
        assert_eq!(limits.defaults().query.max_flamegraph_nodes_default, 50);
        // A limit of the wrong type stops the server, naming it.
        let e = Config::parse("limits:\n  max_label_value_length: lots\n").unwrap_err();
        assert!(
            format!("{e:#}").contains("limits: FLAMELET_LIMITS="),
            "{e:#}"
        );
    }

    #[test]
    fn retention_has_a_default_and_per_tenant_overrides() {
        let c = Config::parse(
            "limits:\n  retention_period: 31d\noverrides:\n  team-a:\n    retention_period: 7d\n  team-b:\n    retention_period: \"0\"\n",
        )
        .unwrap();
        let env: BTreeMap<String, String> = c.env().into_iter().collect();
        let r = Retention::from_config(|n| env.get(n).cloned()).unwrap();
        let day = 86_400 * flamelet::time::NANOS_PER_SECOND;
        let tenant = |id| flamelet::tenant::Tenant::from_header(Some(id)).unwrap();
        assert_eq!(r.period(&tenant("other")), Some(31 * day));
        assert_eq!(r.period(&tenant("team-a")), Some(7 * day));
        assert_eq!(r.period(&tenant("team-b")), None, "0 keeps everything");
        let e = Config::parse("overrides:\n  t:\n    retention_period: soon\n").unwrap_err();
        assert!(format!("{e:#}").contains("`soon` for `t`"), "{e:#}");
        assert!(!format!("{e:#}").contains('\n'));
    }

    #[test]
    fn a_bad_rule_is_one_line_naming_it() {
        let e = Config::parse("metrics-export-rules:\n  a:\n    expr: app.cpu\n    node: \"(\"\n")
            .unwrap_err();
        let line = format!("{e:#}");
        assert!(line.contains("a: node `(`"), "{line}");
        assert!(!line.contains('\n'), "{line}");
    }

    #[test]
    fn credentials_stay_with_the_host_and_go_to_packaged_components() {
        let hash = crate::auth::hash_secret("s").unwrap();
        let c = Config::parse(&format!(
            "auth:\n  credentials:\n    - name: agents\n      secret_hash: {hash}\n      tenant: team-a\n      scopes: [write]\n"
        ))
        .unwrap();
        assert_eq!(c.auth.as_ref().map(Auth::len), Some(1));
        assert!(
            c.env().iter().all(|(k, _)| k != AUTH_ENV),
            "the host checks"
        );
        let packaged: BTreeMap<String, String> = c.packaged_env().into_iter().collect();
        let back = Auth::from_json(&packaged[AUTH_ENV]).unwrap();
        assert_eq!(
            back.verify("agents", "s").unwrap().tenant.unwrap().as_str(),
            "team-a"
        );
        let e = Config::parse(
            "auth:\n  credentials:\n    - name: x\n      secret_hash: nope\n      scopes: [metrics]\n",
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("credential `x`: secret_hash is not an argon2 PHC string"),
            "{e}"
        );
        assert!(Config::parse("").unwrap().auth.is_none(), "off by default");
    }

    #[test]
    fn scrape_jobs_go_to_the_scrape_component_which_alone_may_reach_their_targets() {
        let c = Config::parse(
            "scrape_configs:\n  - job_name: go\n    static_configs:\n      - targets: ['127.0.0.1:6060']\nremote-write:\n  url: http://127.0.0.1:9090/api/v1/write\n",
        )
        .unwrap();
        let env: BTreeMap<String, String> = c.env().into_iter().collect();
        let jobs = Jobs::from_env(|n| env.get(n).cloned()).unwrap();
        assert_eq!(jobs.jobs[0].name, "go");
        let manifest = crate::spin::SpinManifest::parse(include_str!("../../spin.toml")).unwrap();
        let outbound = c.outbound_hosts(&Router::new(manifest.http_triggers()));
        assert_eq!(outbound["scrape"], ["http://127.0.0.1:6060"]);
        assert_eq!(outbound["compact"], ["http://127.0.0.1:9090"]);
        assert_eq!(outbound.len(), 2);
        let e = Config::parse("scrape_configs:\n  - job_name: go\n    scrape_interval: soon\n")
            .unwrap_err();
        assert!(
            format!("{e:#}").contains("job `go`: scrape_interval `soon`"),
            "{e:#}"
        );
    }

    #[test]
    fn the_documented_example_file_loads_with_every_section() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/flamelet.example.yaml");
        let c = Config::load(Some(&path), &LimitFlags::new()).unwrap();
        assert_eq!((c.rules, c.recording_rules), (2, 1));
        assert_eq!(
            c.remote_write_destination.as_deref(),
            Some("http://127.0.0.1:9090")
        );
        assert_eq!(c.auth.as_ref().map(Auth::len), Some(3));
        assert_eq!(
            c.scrape_destinations,
            ["http://10.0.0.7:6060", "http://10.0.0.8:6060"]
        );
        let env: BTreeMap<String, String> = c.env().into_iter().collect();
        let limits = TenantLimits::from_config(|k| env.get(k).cloned()).unwrap();
        let big =
            limits.of(&flamelet::tenant::Tenant::from_header(Some("big-java-service")).unwrap());
        assert_eq!(big.ingest.max_profile_stacktrace_samples, 100_000);
        let retention = Retention::from_config(|k| env.get(k).cloned()).unwrap();
        let team_a = flamelet::tenant::Tenant::from_header(Some("team-a")).unwrap();
        assert_ne!(retention.period(&team_a), retention.default_period());
    }
}
