//! pprof uploads (`/ingest?format=pprof`, multipart forms) → one profile per sample type and
//! per set of string sample labels.
//!
//! Naming follows the reference server: the metric name (`__name__`) is `wall` if any sample
//! type is `wall`; otherwise it comes from the first sample type whose display name (from the
//! upload's `sample_type_config`, else [`default_display_name`]) contains `cpu`
//! (`process_cpu`), `alloc_`/`inuse_` (`memory`), `mutex_` (`mutex`), `block_` (`block`) or
//! `goroutine` (`goroutine`). Each sample type then becomes the series of profile type
//! `metric:sample_type:sample_unit:period_type:period_unit`. String sample labels become series
//! labels, except `span_id`, `trace_id` and `profile_id`, which belong to samples.
//!
//! Frames keep their functions (name, system name, file, start line), line numbers, mappings
//! and addresses; `span_id`, `trace_id` and `profile_id` become the samples' [`Link`]s.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::Deserialize;

use crate::Result;
use crate::profile::{
    Dictionary, Labels, Link, METRIC_NAME, Profile, ProfileType, Sample, Series, Stack,
    sanitize_label_name, validate_labels,
};
use crate::wire::pprof::{Converted, Flat as Pprof, Symbols};

use super::IngestError;

/// Profiles stamped before this (one year after the epoch) take the upload's `from` instead.
const MIN_PROFILE_TIME_NANOS: i64 = 365 * 86_400 * crate::time::NANOS_PER_SECOND;

/// One entry of a `sample_type_config` form field.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SampleTypeConfig {
    /// Display units (`samples`, `objects`, `bytes`, …).
    #[serde(default)]
    pub units: String,
    /// The name the sample type is shown as (`alloc_objects`, `mutex_count`, …).
    #[serde(default, rename = "display-name")]
    pub display_name: String,
    /// `sum` or `average`.
    #[serde(default)]
    pub aggregation: String,
    /// Whether values are cumulative since process start.
    #[serde(default)]
    pub cumulative: bool,
    /// Whether values are sampled.
    #[serde(default)]
    pub sampled: bool,
}

/// The `sample_type_config` of an upload: sample type → settings.
pub type SampleTypeConfigs = HashMap<String, SampleTypeConfig>;

/// Parses a `sample_type_config` form field.
pub fn parse_config(json: &[u8]) -> Result<SampleTypeConfigs> {
    serde_json::from_slice(json).map_err(|e| {
        IngestError::InvalidSampleTypeConfig {
            reason: e.to_string(),
        }
        .into()
    })
}

/// The reference server's display names for common Go sample types.
pub fn default_display_name(sample_type: &str) -> Option<&'static str> {
    match sample_type {
        "samples" => Some("cpu"),
        "goroutine" => Some("goroutines"),
        "contentions" => Some("mutex_count"),
        "delay" => Some("mutex_duration"),
        _ => None,
    }
}

/// Returns the metric name (`__name__`) of a profile with these sample types.
pub fn metric_name(
    sample_types: &[&str],
    config: Option<&SampleTypeConfigs>,
) -> Option<&'static str> {
    if sample_types.contains(&"wall") {
        return Some("wall");
    }
    for st in sample_types {
        let configured = config
            .and_then(|c| c.get(*st))
            .map(|c| c.display_name.as_str())
            .filter(|d| !d.is_empty());
        let shown = configured
            .or_else(|| default_display_name(st))
            .unwrap_or(st);
        if shown.contains("cpu") {
            return Some("process_cpu");
        }
        if shown.contains("alloc_")
            || shown.contains("inuse_")
            || shown == "space"
            || shown == "objects"
        {
            return Some("memory");
        }
        if shown.contains("mutex_") {
            return Some("mutex");
        }
        if shown.contains("block_") {
            return Some("block");
        }
        if shown.contains("goroutine") {
            return Some("goroutine");
        }
    }
    None
}

/// Repairs what some profilers get wrong, as the reference server does: .NET profiles whose
/// functions all have id 0 (one per location, in order), and `-` in .NET sample type names.
pub fn repair(p: &mut Pprof, spy_name: &str) {
    let t = &mut p.tables;
    if !t.function.is_empty()
        && t.function.iter().all(|f| f.id == 0)
        && t.function.len() == t.location.len()
    {
        for (f, l) in t.function.iter_mut().zip(&t.location) {
            f.id = l.id;
        }
    }
    if spy_name == "dotnetspy" {
        for st in &p.sample_type {
            if let Some(s) = t.string(st.r#type).filter(|s| s.contains('-')) {
                let repaired = s.replace('-', "_");
                t.replace_string(st.r#type as usize, &repaired);
            }
        }
    }
}

/// A sample's stack, its value per sample type and its link.
type StackValues<'a> = (Stack, &'a [i64], u32);

/// Samples grouped by their string labels (the series labels), over one dictionary for all;
/// `span_id`, `trace_id` and `profile_id` labels become the samples' links.
fn group_samples<'a>(
    p: &'a Pprof,
    symbols: &Symbols<'a>,
    dict: &mut Dictionary,
    converted: &mut Converted,
) -> BTreeMap<Labels, Vec<StackValues<'a>>> {
    let mut groups: BTreeMap<Labels, Vec<StackValues<'_>>> = BTreeMap::new();
    for s in p.samples() {
        let mut labels = Labels::new();
        let mut link = Link::default();
        for l in s.label {
            let key = symbols.string(l.key);
            let value = symbols.string(l.str);
            match key {
                _ if l.str == 0 => {}
                "span_id" => link.span_id = value.to_string(),
                "trace_id" => link.trace_id = value.to_string(),
                "profile_id" => link.profile_id = value.to_string(),
                _ => {
                    labels.insert(sanitize_label_name(key), value.to_string());
                }
            }
        }
        let stack = symbols.walk(dict, converted, s.location_id);
        let link = dict.link(link);
        groups
            .entry(labels)
            .or_default()
            .push((stack, s.value, link));
    }
    groups
}

/// Converts a decoded, repaired pprof upload into profiles. `base` holds the series labels
/// every profile gets (`service_name`, tags, `pyroscope_spy`).
pub fn to_profiles(
    p: &Pprof,
    base: &Labels,
    config: Option<&SampleTypeConfigs>,
    default_time: i64,
) -> Result<Vec<Profile>> {
    let mut run = Run::default();
    run.add(p, base, config, default_time)?;
    Ok(run.finish())
}

/// Profiles converted over one dictionary: those of one pprof upload, or of several whose
/// symbol tables are the same ([`crate::wire::pprof::Batch`] tells), each table item
/// converted once for all of them.
#[derive(Debug, Default)]
pub struct Run {
    dict: Dictionary,
    converted: Converted,
    /// The profiles so far; their dictionary is set by [`Run::finish`].
    profiles: Vec<Profile>,
    placeholder: Arc<Dictionary>,
}

impl Run {
    /// Converts a decoded, repaired pprof upload, as [`to_profiles`] does; its symbol tables
    /// must be those of the uploads added before.
    pub fn add(
        &mut self,
        p: &Pprof,
        base: &Labels,
        config: Option<&SampleTypeConfigs>,
        default_time: i64,
    ) -> Result<()> {
        let profiles = convert(
            p,
            base,
            config,
            default_time,
            &mut self.dict,
            &mut self.converted,
            &self.placeholder,
        )?;
        self.profiles.extend(profiles);
        Ok(())
    }

    /// The profiles, sharing the dictionary.
    pub fn finish(self) -> Vec<Profile> {
        let dict = Arc::new(self.dict);
        let mut profiles = self.profiles;
        for p in &mut profiles {
            p.dict = dict.clone();
        }
        profiles
    }
}

/// The profiles of one pprof upload over `dict`, their dictionary still `placeholder`.
fn convert(
    p: &Pprof,
    base: &Labels,
    config: Option<&SampleTypeConfigs>,
    default_time: i64,
    dict: &mut Dictionary,
    converted: &mut Converted,
    placeholder: &Arc<Dictionary>,
) -> Result<Vec<Profile>> {
    let symbols = Symbols::new(p);
    let type_names: Vec<&str> = p
        .sample_type
        .iter()
        .map(|t| symbols.string(t.r#type))
        .collect();
    // A metric name the client set (Push labels) wins over the one derived from sample types.
    let derived = || metric_name(&type_names, config).map(String::from);
    let metric = base
        .get(METRIC_NAME)
        .cloned()
        .or_else(derived)
        .ok_or_else(|| IngestError::NoKnownProfileType {
            sample_types: type_names.iter().map(|t| t.to_string()).collect(),
        })?;
    let (period_type, period_unit) = p
        .period_type
        .as_ref()
        .map(|t| (symbols.string(t.r#type), symbols.string(t.unit)))
        .unwrap_or(("", ""));
    let time = if p.time_nanos >= MIN_PROFILE_TIME_NANOS {
        p.time_nanos
    } else {
        default_time
    };

    let groups = group_samples(p, &symbols, dict, converted);

    let mut out = Vec::new();
    for (group, samples) in groups {
        let mut labels = base.clone();
        labels.extend(group);
        labels.insert(METRIC_NAME.to_string(), metric.clone());
        validate_labels(&labels)?;
        for (i, t) in p.sample_type.iter().enumerate() {
            let profile_type = ProfileType::new(
                &metric,
                type_names[i],
                symbols.string(t.unit),
                period_type,
                period_unit,
            );
            let samples: Vec<Sample> = samples
                .iter()
                .filter_map(|&(stack, values, link)| {
                    let value = values.get(i).copied().unwrap_or(0);
                    (value != 0).then_some(Sample { stack, value, link })
                })
                .collect();
            out.push(super::normalize(Profile {
                series: Series {
                    profile_type,
                    labels: labels.clone(),
                },
                time_nanos: time,
                period: if p.period_type.is_some() { p.period } else { 0 },
                dict: placeholder.clone(),
                samples,
            })?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    fn corpus(name: &str) -> Vec<u8> {
        crate::testing::corpus(&format!("pprof/{name}"))
    }

    const LIMIT: usize = crate::limits::DEFAULT_MAX_PROFILE_BYTES;

    /// A corpus file as ingest reads it.
    fn read(name: &str) -> Pprof {
        crate::wire::pprof::read(&corpus(name), LIMIT).unwrap()
    }

    /// A corpus file decoded by prost: what the file says, independently of ingest's reader.
    fn decoded(name: &str) -> crate::wire::proto::google::v1::Profile {
        crate::wire::pprof::decode(&corpus(name), LIMIT).unwrap()
    }

    fn ids(name: &str, spy: &str) -> Vec<String> {
        let mut p = read(name);
        repair(&mut p, spy);
        let base = Labels::from([("service_name".to_string(), "app".to_string())]);
        let mut ids: Vec<String> = to_profiles(&p, &base, None, 1)
            .unwrap()
            .iter()
            .map(|p| p.series.profile_type.id())
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    #[test]
    fn reference_profile_type_ids() {
        assert_eq!(
            ids("cpu.pb.gz", ""),
            [
                "process_cpu:cpu:nanoseconds:cpu:nanoseconds",
                "process_cpu:samples:count:cpu:nanoseconds"
            ]
        );
        assert_eq!(
            ids("heap.pb.gz", ""),
            [
                "memory:alloc_objects:count:space:bytes",
                "memory:alloc_space:bytes:space:bytes",
                "memory:inuse_objects:count:space:bytes",
                "memory:inuse_space:bytes:space:bytes"
            ]
        );
        assert_eq!(
            ids("nodejs-wall.pb.gz", ""),
            // Every sample type is a series; the reference ID is among them.
            [
                "wall:samples:count:wall:microseconds",
                "wall:wall:microseconds:wall:microseconds"
            ]
        );
        assert_eq!(
            ids("pyspy-1.pb.gz", ""),
            ["process_cpu:samples:count::milliseconds"]
        );
    }

    #[test]
    fn string_labels_split_series_but_span_ids_do_not() {
        let p = read("single_group_with_optional_span_id.pb.gz");
        let profiles = to_profiles(&p, &Labels::new(), None, 1).unwrap();
        assert!(
            profiles
                .iter()
                .all(|p| !p.series.labels.contains_key("span_id"))
        );
        let p = read("go.cpu.labels.pprof");
        let profiles = to_profiles(&p, &Labels::new(), None, 1).unwrap();
        let series: std::collections::BTreeSet<&Labels> =
            profiles.iter().map(|p| &p.series.labels).collect();
        assert!(series.len() > 1, "labelled samples make several series");
    }

    #[test]
    fn totals_match_the_file_per_sample_type() {
        let p = read("cpu.pb.gz");
        let file = decoded("cpu.pb.gz");
        let profiles = to_profiles(&p, &Labels::new(), None, 1).unwrap();
        for (i, t) in ["samples", "cpu"].iter().enumerate() {
            let expected: i64 = file.sample.iter().map(|s| s.value[i]).sum();
            let got: i64 = profiles
                .iter()
                .filter(|p| p.series.profile_type.sample_type == *t)
                .flat_map(|p| p.samples.iter().map(|s| s.value))
                .sum();
            assert_eq!(got, expected, "{t}");
        }
    }

    /// A frame as the file has it: (function, system name, file, line, address, inlined).
    type Detail = (String, String, String, i64, u64, bool);

    /// Per-stack totals of sample type `index`, with every frame's detail, read straight from
    /// the protobuf (root first; a location's lines innermost first, so reversed).
    fn file_details(
        p: &crate::wire::proto::google::v1::Profile,
        index: usize,
    ) -> BTreeMap<Vec<Detail>, i64> {
        let s = |i: i64| p.string_table[i as usize].clone();
        let mut out = BTreeMap::new();
        for sample in &p.sample {
            let mut stack = Vec::new();
            for id in sample.location_id.iter().rev() {
                let l = p.location.iter().find(|l| l.id == *id).unwrap();
                for (k, line) in l.line.iter().rev().enumerate() {
                    let f = p
                        .function
                        .iter()
                        .find(|f| f.id == line.function_id)
                        .unwrap();
                    let (name, system, file) = (s(f.name), s(f.system_name), s(f.filename));
                    stack.push((name, system, file, line.line, l.address, k > 0));
                }
            }
            *out.entry(stack).or_insert(0) += sample.value[index];
        }
        out.retain(|_, v| *v != 0);
        out
    }

    /// The same, read back from a segment.
    fn segment_details(
        d: &crate::storage::segment::SegmentData,
        type_id: &str,
    ) -> BTreeMap<Vec<Detail>, i64> {
        let mut out = BTreeMap::new();
        for i in 0..d.samples.len() {
            if d.series[d.samples.series[i] as usize].profile_type.id() != type_id {
                continue;
            }
            let stack = d
                .stack_nodes(d.samples.stack[i])
                .into_iter()
                .map(|n| {
                    let fr = d.node_frames[n as usize];
                    let f = d.functions[fr.function as usize];
                    (
                        d.strings[f.name as usize].clone(),
                        d.string(f.system_name).to_string(),
                        d.string(f.filename).to_string(),
                        fr.line,
                        fr.address,
                        fr.inlined,
                    )
                })
                .collect();
            *out.entry(stack).or_insert(0) += d.samples.value[i];
        }
        out
    }

    fn through_segment(p: &Pprof) -> crate::storage::segment::SegmentData {
        let profiles = to_profiles(p, &Labels::new(), None, 1).unwrap();
        let mut b = crate::storage::segment::SegmentBuilder::new("t");
        for profile in &profiles {
            b.add_profile(profile);
        }
        let bytes = crate::storage::segment::encode(&b.finish()).unwrap();
        crate::storage::segment::decode(bytes.into()).unwrap()
    }

    #[test]
    fn functions_files_lines_and_addresses_survive_the_segment() {
        let p = read("cpu.pb.gz");
        let file = decoded("cpu.pb.gz");
        let d = through_segment(&p);
        let want = file_details(&file, 1);
        assert!(want.keys().flatten().any(|f| !f.2.is_empty() && f.3 > 0));
        assert_eq!(
            segment_details(&d, "process_cpu:cpu:nanoseconds:cpu:nanoseconds"),
            want
        );
        // Mappings: every frame of this Go binary has one, with the binary's path.
        assert_eq!(d.mappings.len(), file.mapping.len());
        let main = &file.mapping[0];
        let m = d.mappings[d.node_frames[0].mapping as usize];
        assert_eq!(
            (m.memory_start, m.memory_limit, d.string(m.filename)),
            (
                main.memory_start,
                main.memory_limit,
                file.string_table[main.filename as usize].as_str()
            )
        );
        assert!(
            d.node_frames
                .iter()
                .all(|f| f.mapping >= 0 && f.address != 0)
        );
    }

    #[test]
    fn inlined_frames_keep_their_location() {
        // Go CPU profiles have locations with inlined lines.
        let p = read("cpu.pb.gz");
        assert!(
            decoded("cpu.pb.gz")
                .location
                .iter()
                .any(|l| l.line.len() > 1)
        );
        let d = through_segment(&p);
        let inlined = d.node_frames.iter().filter(|f| f.inlined).count();
        assert!(inlined > 0);
        // An inlined frame shares its parent's address: they were one location.
        for (n, f) in d.nodes.iter().zip(&d.node_frames) {
            if f.inlined {
                assert_eq!(d.node_frames[n.parent as usize].address, f.address);
            }
        }
    }

    #[test]
    fn span_ids_stay_on_samples() {
        let p = read("single_group_with_optional_span_id.pb.gz");
        let file = decoded("single_group_with_optional_span_id.pb.gz");
        let s = |i: i64| file.string_table[i as usize].as_str();
        let d = through_segment(&p);
        // Totals per span id (empty: none) of each sample type, from the file.
        for (index, t) in p.sample_type.iter().enumerate() {
            let mut want: BTreeMap<String, i64> = BTreeMap::new();
            for sample in &file.sample {
                let span = sample
                    .label
                    .iter()
                    .find(|l| s(l.key) == "span_id")
                    .map_or("", |l| s(l.str));
                *want.entry(span.to_string()).or_insert(0) += sample.value[index];
            }
            want.retain(|_, v| *v != 0);
            assert!(want.len() > 1, "samples with and without span ids");
            let mut got: BTreeMap<String, i64> = BTreeMap::new();
            for i in 0..d.samples.len() {
                let series = &d.series[d.samples.series[i] as usize];
                if series.profile_type.sample_type == s(t.r#type) {
                    let link = &d.links[d.samples.link[i] as usize];
                    *got.entry(link.span_id.clone()).or_insert(0) += d.samples.value[i];
                }
            }
            assert_eq!(got, want, "{}", s(t.r#type));
        }
    }

    #[test]
    fn metric_names() {
        assert_eq!(metric_name(&["samples", "cpu"], None), Some("process_cpu"));
        assert_eq!(metric_name(&["cpu", "wall"], None), Some("wall"));
        assert_eq!(metric_name(&["contentions", "delay"], None), Some("mutex"));
        assert_eq!(metric_name(&["goroutine"], None), Some("goroutine"));
        let config: SampleTypeConfigs =
            parse_config(br#"{"contentions": {"display-name": "block_count"}, "delay": {"display-name": "block_duration"}}"#).unwrap();
        assert_eq!(
            metric_name(&["contentions", "delay"], Some(&config)),
            Some("block")
        );
        assert_eq!(metric_name(&["exceptions"], None), None);
    }

    #[test]
    fn dotnet_function_ids_are_repaired() {
        let mut p = read("dotnet-pprof-73.pb.gz");
        let first = decoded("dotnet-pprof-73.pb.gz").sample[0]
            .location_id
            .clone();
        let before = Symbols::new(&p)
            .stack(&first)
            .iter()
            .filter(|f| **f == "unknown")
            .count();
        repair(&mut p, "dotnetspy");
        let after = Symbols::new(&p)
            .stack(&first)
            .iter()
            .filter(|f| **f == "unknown")
            .count();
        assert!(before > 0 && after == 0, "{before} → {after}");
    }
}
