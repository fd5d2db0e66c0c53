//! Ad hoc rendering: the flame graphs of an uploaded file (pprof, JFR, folded, speedscope, …)
//! without storing anything. The upload goes through the same parse as `/ingest` (its formats,
//! size limit, per-profile limits and errors) and the same flame-graph encoding as
//! `/pyroscope/render`, one graph per profile type the file holds.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::Result;
use crate::ingest::{IngestRequest, parse};
use crate::limits::IngestLimits;
use crate::profile::ProfileType;
use crate::render::flamebearer::{self, FlameGraph, RenderMetadata};
use crate::tree::Tree;

/// The name an upload gets when it names none: the text formats read the profile type from
/// the name's suffix, and an upload is most often a CPU profile.
const DEFAULT_NAME: &str = "upload.cpu";

/// One profile type of the file, as `/pyroscope/render` answers a flame graph.
#[derive(Debug, Clone, Serialize)]
pub struct AdhocProfile {
    /// The profile type ID (`process_cpu:cpu:nanoseconds:cpu:nanoseconds`).
    #[serde(rename = "profileType")]
    pub profile_type: String,
    /// The flame graph.
    pub flamebearer: FlameGraph,
    /// Units and names.
    pub metadata: RenderMetadata,
}

/// The answer: every profile type of the file, by type ID.
#[derive(Debug, Clone, Serialize)]
pub struct AdhocResponse {
    /// One entry per profile type; empty when the file holds no samples.
    pub profiles: Vec<AdhocProfile>,
}

/// Renders an upload: `params` as for `/ingest` (`format`, `name`, `sampleRate`, …; `name`
/// defaults to [`DEFAULT_NAME`]), held to the tenant's ingest `limits`, `max_nodes` as for
/// render.
pub fn render_upload(
    req: &IngestRequest<'_>,
    limits: &IngestLimits,
    max_nodes: usize,
    now_nanos: i64,
) -> Result<AdhocResponse> {
    let mut params = req.params.to_vec();
    if !params.iter().any(|(k, _)| k == "name") {
        params.push(("name".to_string(), DEFAULT_NAME.to_string()));
    }
    let upload = IngestRequest {
        params: &params,
        ..*req
    };
    let profiles = limits.apply(parse(&upload, limits, now_nanos)?)?;
    let mut trees: BTreeMap<String, (ProfileType, Tree)> = BTreeMap::new();
    for p in profiles.iter().filter(|p| !p.samples.is_empty()) {
        let (_, tree) = trees
            .entry(p.series.profile_type.id())
            .or_insert_with(|| (p.series.profile_type.clone(), Tree::new()));
        for s in &p.samples {
            let stack: Vec<&str> = p.names(s).collect();
            tree.add_stack(&stack, s.value);
        }
    }
    Ok(AdhocResponse {
        profiles: trees
            .into_iter()
            .map(|(id, (profile_type, tree))| AdhocProfile {
                profile_type: id,
                flamebearer: flamebearer::encode(&tree, max_nodes),
                metadata: RenderMetadata::of(&profile_type, "single"),
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(params: &[(&str, &str)], body: &[u8]) -> Result<AdhocResponse> {
        let params: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let req = IngestRequest {
            params: &params,
            content_type: None,
            body,
        };
        render_upload(
            &req,
            &IngestLimits::default(),
            8192,
            1_700_000_000_000_000_000,
        )
    }

    #[test]
    fn a_folded_file_renders_as_the_same_graph_ingest_would_store() {
        let r = upload(&[], b"main;work 3\nmain;idle 1\n").unwrap();
        assert_eq!(r.profiles.len(), 1);
        let p = &r.profiles[0];
        assert_eq!(
            p.profile_type,
            "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
        );
        // 100 Hz samples as nanoseconds, as /ingest stores them.
        assert_eq!(p.flamebearer.total, 40_000_000);
        assert_eq!(p.metadata.name, "cpu");
    }

    #[test]
    fn a_pprof_with_two_sample_types_gives_two_graphs() {
        let file = crate::testing::corpus("pprof/cpu.pb.gz");
        let r = upload(&[("format", "pprof")], &file).unwrap();
        let types: Vec<&str> = r.profiles.iter().map(|p| p.profile_type.as_str()).collect();
        assert_eq!(types.len(), 2, "{types:?}");
        assert!(r.profiles.iter().all(|p| p.flamebearer.total > 0));
    }

    #[test]
    fn bad_files_are_ingest_errors_naming_the_problem() {
        let e = upload(&[("format", "pprof")], b"not a profile").unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::BadInput, "{e}");
        assert!(e.to_string().starts_with("invalid pprof"), "{e}");
        let e = upload(&[("format", "csv")], b"x").unwrap_err();
        assert!(e.to_string().contains("csv"), "{e}");
        // An empty file holds no samples: no graphs, not an error.
        assert!(upload(&[], b"").unwrap().profiles.is_empty());
    }
}
