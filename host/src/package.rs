//! `flamelet package`: the deployable artefact in `dist/`. Each function component is
//! composed with a storage provider component (its `flamelet:host/store` import plugged with the
//! provider's export, as `wac plug` does), so that what is deployed imports only `wasi:*` and
//! runs on Spin, SpinKube or `wasmtime serve`; `dist/spin.toml` is the repository's manifest
//! pointing at those files, with the provider's settings and the outbound destination it needs.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use wac_graph::types::Package;
use wac_graph::{CompositionGraph, EncodeOptions};

/// The file name a component is packaged under.
pub fn file_name(component: &str) -> String {
    format!("flamelet-{component}.wasm")
}

/// Plugs `provider`'s exports into `function`'s matching imports.
pub fn compose(function: &[u8], provider: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut graph = CompositionGraph::new();
    let socket = Package::from_bytes(
        "flamelet:function",
        None,
        function.to_vec(),
        graph.types_mut(),
    )
    .context("reading the function component")?;
    let socket = graph.register_package(socket)?;
    let plug = Package::from_bytes(
        "flamelet:provider",
        None,
        provider.to_vec(),
        graph.types_mut(),
    )
    .context("reading the provider component")?;
    let plug = graph.register_package(plug)?;
    wac_graph::plug(&mut graph, vec![plug], socket)
        .context("plugging the provider into the function")?;
    Ok(graph.encode(EncodeOptions::default())?)
}

/// Whether a function imports the storage capability (the UI component does not: it is
/// packaged as it is).
pub fn needs_store(component: &[u8]) -> anyhow::Result<bool> {
    Ok(imports(component)?
        .iter()
        .any(|name| name.starts_with("flamelet:host/store")))
}

/// Spin's cron world: a types-only interface (no functions) that the cron trigger provides
/// with the call of the export; the compact component imports it with its two types.
pub const SPIN_CRON_TYPES: &str = "fermyon:spin-cron/cron-types@2.0.0";

/// The instances and functions a component imports (`wasi:http/types@0.2.4`, …): its
/// capabilities. Imported type names (a world's `use` of an interface's types) are left out.
pub fn imports(component: &[u8]) -> anyhow::Result<Vec<String>> {
    top_level_names(component, Side::Imports)
}

/// The names a component exports (`wasi:http/incoming-handler@0.2.4`, …).
pub fn exports(component: &[u8]) -> anyhow::Result<Vec<String>> {
    top_level_names(component, Side::Exports)
}

enum Side {
    Imports,
    Exports,
}

/// Names in the outermost component's import or export sections: nested modules' and
/// components' own imports are satisfied inside the composition.
fn top_level_names(component: &[u8], side: Side) -> anyhow::Result<Vec<String>> {
    use wasmparser::Payload;
    let mut names = Vec::new();
    let mut depth = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(component) {
        match (payload.context("parsing the component")?, &side) {
            (Payload::ModuleSection { .. } | Payload::ComponentSection { .. }, _) => depth += 1,
            (Payload::End(_), _) => depth = depth.saturating_sub(1),
            (Payload::ComponentImportSection(reader), Side::Imports) if depth == 0 => {
                for import in reader {
                    let import = import.context("reading an import")?;
                    if !matches!(import.ty, wasmparser::ComponentTypeRef::Type(_)) {
                        names.push(import.name.name.to_string());
                    }
                }
            }
            (Payload::ComponentExportSection(reader), Side::Exports) if depth == 0 => {
                for export in reader {
                    names.push(export.context("reading an export")?.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    Ok(names)
}

/// Fails unless every import of `component` is a `wasi:*` interface (or Spin's cron types).
pub fn check_only_wasi(id: &str, component: &[u8]) -> anyhow::Result<()> {
    let stray: Vec<String> = imports(component)?
        .into_iter()
        .filter(|name| !name.starts_with("wasi:") && name != SPIN_CRON_TYPES)
        .collect();
    if !stray.is_empty() {
        bail!(
            "packaged component `{id}` imports {} besides wasi:*",
            stray.join(", ")
        );
    }
    Ok(())
}

/// Settings written into every packaged component's `environment`.
#[derive(Debug, Clone, Default)]
pub struct Deployment {
    /// Environment variables (the provider's `FLAMELET_S3_*`, the functions' tunables).
    pub environment: BTreeMap<String, String>,
    /// Destinations the components may reach (the bucket's endpoint).
    pub allowed_outbound_hosts: Vec<String>,
    /// Destinations only some components may reach besides, by component ID (the
    /// remote-write receiver for compaction, the scrape targets for scraping).
    pub component_outbound_hosts: BTreeMap<String, Vec<String>>,
}

/// `dist/spin.toml`: `manifest` (the repository's) with each component's `source` pointing at
/// its packaged file, no build section, and `deployment`'s settings.
pub fn dist_manifest(manifest: &str, deployment: &Deployment) -> anyhow::Result<String> {
    let mut doc: toml::Table = toml::from_str(manifest).context("parsing spin.toml")?;
    let Some(toml::Value::Table(components)) = doc.get_mut("component") else {
        bail!("spin.toml has no [component] tables");
    };
    for (id, def) in components.iter_mut() {
        let toml::Value::Table(def) = def else {
            bail!("spin.toml: [component.{id}] is not a table");
        };
        def.insert("source".into(), toml::Value::String(file_name(id)));
        def.remove("build");
        let env = def
            .entry("environment")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let toml::Value::Table(env) = env else {
            bail!("spin.toml: [component.{id}.environment] is not a table");
        };
        for (k, v) in &deployment.environment {
            env.insert(k.clone(), toml::Value::String(v.clone()));
        }
        let allowed = deployment.allowed_outbound_hosts.iter().chain(
            deployment
                .component_outbound_hosts
                .get(id.as_str())
                .into_iter()
                .flatten(),
        );
        def.insert(
            "allowed_outbound_hosts".into(),
            toml::Value::Array(allowed.cloned().map(toml::Value::String).collect()),
        );
    }
    let body = toml::to_string_pretty(&doc).context("writing dist/spin.toml")?;
    Ok(format!(
        "# Made by `flamelet package` from the repository's spin.toml: each component is a function\n\
         # composed with the S3 storage provider and imports only wasi:*. Credentials are\n\
         # written here only when `flamelet package --env` named them: else pass\n\
         # AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY at deploy time (`spin up --env …`).\n{body}"
    ))
}

/// The outbound destination (`scheme://host:port`) of an S3 endpoint URL, or of AWS's regional
/// endpoint when there is none.
pub fn s3_destination(endpoint: Option<&str>, region: &str) -> anyhow::Result<String> {
    let Some(endpoint) = endpoint else {
        return Ok(format!("https://s3.{region}.amazonaws.com"));
    };
    let url = url::Url::parse(endpoint).with_context(|| format!("S3 endpoint `{endpoint}`"))?;
    let host = url
        .host_str()
        .with_context(|| format!("S3 endpoint `{endpoint}` has no host"))?;
    Ok(match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dist_manifest_points_at_the_packaged_files() {
        let deployment = Deployment {
            environment: [("FLAMELET_S3_BUCKET".to_string(), "profiles".to_string())].into(),
            allowed_outbound_hosts: vec!["http://127.0.0.1:5000".into()],
            component_outbound_hosts: [
                ("compact".to_string(), vec!["http://127.0.0.1:9090".into()]),
                ("scrape".to_string(), vec!["http://10.0.0.7:6060".into()]),
            ]
            .into(),
        };
        let text = dist_manifest(include_str!("../../spin.toml"), &deployment).unwrap();
        let m = crate::spin::SpinManifest::parse(&text).unwrap();
        let original = crate::spin::SpinManifest::parse(include_str!("../../spin.toml")).unwrap();
        assert_eq!(m.component.len(), original.component.len());
        for (id, def) in &m.component {
            assert_eq!(def.source, file_name(id));
            assert_eq!(def.environment["FLAMELET_S3_BUCKET"], "profiles");
            // The compact component may also reach the remote-write receiver, the scrape
            // component its targets.
            let want: &[&str] = match id.as_str() {
                "compact" => &["http://127.0.0.1:5000", "http://127.0.0.1:9090"],
                "scrape" => &["http://127.0.0.1:5000", "http://10.0.0.7:6060"],
                _ => &["http://127.0.0.1:5000"],
            };
            assert_eq!(def.allowed_outbound_hosts, want, "{id}");
            for (k, v) in &original.component[id].environment {
                assert_eq!(&def.environment[k], v, "the repository's settings stay");
            }
        }
        let routes = |m: &crate::spin::SpinManifest| {
            m.http_triggers()
                .iter()
                .map(|t| (t.route.clone(), t.component.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(routes(&m), routes(&original));
        assert_eq!(
            m.cron_triggers()[0].cron_expression,
            original.cron_triggers()[0].cron_expression
        );
        assert!(!text.contains("[component.ingest.build]"));
    }

    #[test]
    fn destinations() {
        assert_eq!(
            s3_destination(Some("http://127.0.0.1:5000"), "x").unwrap(),
            "http://127.0.0.1:5000"
        );
        assert_eq!(
            s3_destination(Some("https://minio.example.com/"), "x").unwrap(),
            "https://minio.example.com"
        );
        assert_eq!(
            s3_destination(None, "eu-west-1").unwrap(),
            "https://s3.eu-west-1.amazonaws.com"
        );
    }
}
