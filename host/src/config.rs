//! The server configuration file (`--config`, `FLAMELET_CONFIG`): Pyroscope's YAML format, of
//! which Flamelet reads `metrics-export-rules`; other keys of a Pyroscope server file are
//! ignored, so an existing one can be pointed at unchanged.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use flamelet::metrics::{ExportRules, RULES_ENV, RuleSpec};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
struct ConfigFile {
    #[serde(rename = "metrics-export-rules", default)]
    metrics_export_rules: BTreeMap<String, RuleSpec>,
}

/// The file's settings, checked: what the components get through their environment.
#[derive(Debug, Default)]
pub struct Config {
    /// The rules as the components read them ([`RULES_ENV`]), if there are any.
    pub rules_json: Option<String>,
    /// How many rules there are.
    pub rules: usize,
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
        Ok(Config {
            rules: rules.rules.len(),
            rules_json: (!rules.is_empty())
                .then(|| serde_json::to_string(&file.metrics_export_rules))
                .transpose()?,
        })
    }

    /// The environment the components get from the file.
    pub fn env(&self) -> Vec<(String, String)> {
        self.rules_json
            .iter()
            .map(|json| (RULES_ENV.to_string(), json.clone()))
            .collect()
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
    fn a_bad_rule_is_one_line_naming_it() {
        let e = Config::parse("metrics-export-rules:\n  a:\n    expr: app.cpu\n    node: \"(\"\n")
            .unwrap_err();
        let line = format!("{e:#}");
        assert!(line.contains("a: node `(`"), "{line}");
        assert!(!line.contains('\n'), "{line}");
    }
}
