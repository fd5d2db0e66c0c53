//! The server configuration file (`--config`, `FLAMELET_CONFIG`): Pyroscope's YAML format, of
//! which Flamelet reads `metrics-export-rules`, and `recording-rules` (rules of
//! `settings.v1.RecordingRulesService` provisioned for every tenant, read-only through the
//! API) with `max-recording-rules` (per tenant, default 25); other keys of a Pyroscope server
//! file are ignored, so an existing one can be pointed at unchanged.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use flamelet::metrics::recording::{self, MAX_RULES_ENV, RECORDING_RULES_ENV};
use flamelet::metrics::{ExportRules, RULES_ENV, RuleSpec};
use flamelet::wire::proto::settings::v1::RecordingRule;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
struct ConfigFile {
    #[serde(rename = "metrics-export-rules", default)]
    metrics_export_rules: BTreeMap<String, RuleSpec>,
    /// In the API's JSON form (`metric_name` or `metricName`, …).
    #[serde(rename = "recording-rules", default)]
    recording_rules: Vec<RecordingRule>,
    #[serde(rename = "max-recording-rules")]
    max_recording_rules: Option<usize>,
}

/// The file's settings, checked: what the components get through their environment.
#[derive(Debug, Default)]
pub struct Config {
    /// The rules as the components read them ([`RULES_ENV`]), if there are any.
    pub rules_json: Option<String>,
    /// How many rules there are.
    pub rules: usize,
    /// The provisioned recording rules as the components read them
    /// ([`RECORDING_RULES_ENV`]), if there are any.
    pub recording_json: Option<String>,
    /// How many recording rules are provisioned.
    pub recording_rules: usize,
    /// How many recording rules a tenant may store.
    pub max_recording_rules: Option<usize>,
}

impl Config {
    /// Reads and checks the file; a bad rule is an error naming the file, the rule and the
    /// value.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the configuration file {}", path.display()))?;
        Self::parse(&text).with_context(|| path.display().to_string())
    }

    fn parse(text: &str) -> anyhow::Result<Self> {
        // An empty file is an empty configuration.
        let file: ConfigFile = if text.trim().is_empty() {
            ConfigFile::default()
        } else {
            yaml_serde::from_str(text)?
        };
        let rules = ExportRules::new(&file.metrics_export_rules)?;
        let recording_rules = file.recording_rules.len();
        let recording_json = (recording_rules > 0)
            .then(|| serde_json::to_string(&file.recording_rules))
            .transpose()?;
        // Checked here so that a bad rule stops the server instead of failing every call.
        recording::provisioned(file.recording_rules).context("recording-rules")?;
        Ok(Config {
            rules: rules.rules.len(),
            rules_json: (!rules.is_empty())
                .then(|| serde_json::to_string(&file.metrics_export_rules))
                .transpose()?,
            recording_json,
            recording_rules,
            max_recording_rules: file.max_recording_rules,
        })
    }

    /// The environment the components get from the file.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = Vec::new();
        if let Some(json) = &self.rules_json {
            env.push((RULES_ENV.to_string(), json.clone()));
        }
        if let Some(json) = &self.recording_json {
            env.push((RECORDING_RULES_ENV.to_string(), json.clone()));
        }
        if let Some(max) = self.max_recording_rules {
            env.push((MAX_RULES_ENV.to_string(), max.to_string()));
        }
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
    fn a_bad_rule_is_one_line_naming_it() {
        let e = Config::parse("metrics-export-rules:\n  a:\n    expr: app.cpu\n    node: \"(\"\n")
            .unwrap_err();
        let line = format!("{e:#}");
        assert!(line.contains("a: node `(`"), "{line}");
        assert!(!line.contains('\n'), "{line}");
    }
}
