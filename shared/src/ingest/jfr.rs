//! JFR uploads (`format=jfr`): the events of a recording become profiles, one per profile
//! type and label set, as the reference server maps them.
//!
//! | event | profile types |
//! |---|---|
//! | `jdk.ExecutionSample` (thread not sleeping) | `process_cpu:cpu:nanoseconds:cpu:nanoseconds` |
//! | `jdk.ExecutionSample` when the recording's `event` setting is `wall`, `profiler.WallClockSample` | `wall:wall:nanoseconds:wall:nanoseconds` |
//! | `jdk.ObjectAllocationInNewTLAB` / `OutsideTLAB` | `memory:alloc_{in_new,outside}_tlab_{objects:count,bytes:bytes}:space:bytes` |
//! | `jdk.ObjectAllocationSample` | `memory:alloc_sample_{objects:count,bytes:bytes}:space:bytes` |
//! | `profiler.LiveObject` | `memory:live:count:objects:count` |
//! | `jdk.JavaMonitorEnter` | `mutex:{contentions:count,delay:nanoseconds}:mutex:count` |
//! | `jdk.ThreadPark` | `block:{contentions:count,delay:nanoseconds}:block:count` |
//! | `profiler.Malloc` | `memory:malloc_{objects:count,bytes:bytes}::` |
//!
//! CPU and wall samples weigh `1e9 / sampleRate` ns. An event's `contextId` picks its labels
//! from the LabelsSnapshot sent beside the recording (`thread_name`, span names…). Frames are
//! `class.method` (JVM-generated class numbers merged, as the reference server does), leaf
//! first in the file and stored root first.

use std::collections::BTreeMap;

use crate::FastMap;
use std::rc::Rc;
use std::sync::LazyLock;

use prost::Message;
use regex::Regex;

use crate::Result;
use crate::profile::{Labels, METRIC_NAME, NamedSample, Profile, ProfileType, Series};
use crate::profile::{sanitize_label_name, validate_labels};
use crate::wire::jfr::{self, Chunk, Value};
use crate::wire::proto::jfr::v1::LabelsSnapshot;

use super::IngestError;

/// What a group of events measures: which profile types its one or two values feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Kind {
    Cpu,
    Wall,
    InNewTlab,
    OutsideTlab,
    AllocSample,
    Live,
    Lock,
    Park,
    Malloc,
}

impl Kind {
    /// The profile types of the event's values, in order.
    fn profile_types(self) -> Vec<ProfileType> {
        let t = ProfileType::new;
        match self {
            Kind::Cpu => vec![t("process_cpu", "cpu", "nanoseconds", "cpu", "nanoseconds")],
            Kind::Wall => vec![t("wall", "wall", "nanoseconds", "wall", "nanoseconds")],
            Kind::InNewTlab => vec![
                t(
                    "memory",
                    "alloc_in_new_tlab_objects",
                    "count",
                    "space",
                    "bytes",
                ),
                t(
                    "memory",
                    "alloc_in_new_tlab_bytes",
                    "bytes",
                    "space",
                    "bytes",
                ),
            ],
            Kind::OutsideTlab => vec![
                t(
                    "memory",
                    "alloc_outside_tlab_objects",
                    "count",
                    "space",
                    "bytes",
                ),
                t(
                    "memory",
                    "alloc_outside_tlab_bytes",
                    "bytes",
                    "space",
                    "bytes",
                ),
            ],
            Kind::AllocSample => vec![
                t("memory", "alloc_sample_objects", "count", "space", "bytes"),
                t("memory", "alloc_sample_bytes", "bytes", "space", "bytes"),
            ],
            Kind::Live => vec![t("memory", "live", "count", "objects", "count")],
            Kind::Lock => vec![
                t("mutex", "contentions", "count", "mutex", "count"),
                t("mutex", "delay", "nanoseconds", "mutex", "count"),
            ],
            Kind::Park => vec![
                t("block", "contentions", "count", "block", "count"),
                t("block", "delay", "nanoseconds", "block", "count"),
            ],
            Kind::Malloc => vec![
                t("memory", "malloc_objects", "count", "", ""),
                t("memory", "malloc_bytes", "bytes", "", ""),
            ],
        }
    }
}

/// The events read, by name; everything else in a recording is skipped unread.
const EVENTS: [&str; 10] = [
    "jdk.ExecutionSample",
    "profiler.WallClockSample",
    "jdk.ObjectAllocationInNewTLAB",
    "jdk.ObjectAllocationOutsideTLAB",
    "jdk.ObjectAllocationSample",
    "profiler.LiveObject",
    "jdk.JavaMonitorEnter",
    "jdk.ThreadPark",
    "profiler.Malloc",
    "jdk.ActiveSetting",
];

/// Decodes a LabelsSnapshot (gzip sniffed) of at most `limit` bytes once decompressed.
pub fn decode_labels(bytes: &[u8], limit: usize) -> Result<LabelsSnapshot> {
    let bytes = crate::wire::body::decode_body(bytes, limit)?;
    LabelsSnapshot::decode(bytes).map_err(|e| {
        IngestError::InvalidJfrLabels {
            reason: e.to_string(),
        }
        .into()
    })
}

/// Stack of one stack-trace constant, root first; shared by every event that uses it.
type Stack = Rc<[String]>;

/// Per (kind, context id): stack → the event's values summed.
type Totals = FastMap<(Kind, i64), FastMap<Stack, [i64; 2]>>;

/// Turns a decoded recording into profiles. `base` holds `service_name` and the name's
/// tags; `sample_rate` (Hz) weighs CPU and wall samples.
pub fn to_profiles(
    recording: &[u8],
    labels: Option<&LabelsSnapshot>,
    base: &Labels,
    sample_rate: u32,
    time_nanos: i64,
) -> Result<Vec<Profile>> {
    let period = 1_000_000_000 / i64::from(sample_rate.max(1));
    let totals = read_events(recording, period)?;
    let series = series_of(totals, labels);
    let mut out = Vec::new();
    for ((kind, extra), stacks) in series {
        for (i, profile_type) in kind.profile_types().into_iter().enumerate() {
            let mut labels = base.clone();
            labels.extend(extra.clone());
            labels.insert(METRIC_NAME.to_string(), profile_type.name.clone());
            validate_labels(&labels)?;
            let mut samples: Vec<NamedSample> = stacks
                .iter()
                .filter(|(_, v)| v[i] != 0)
                .map(|(stack, v)| NamedSample {
                    stack: stack.to_vec(),
                    value: v[i],
                })
                .collect();
            samples.sort_by(|a, b| a.stack.cmp(&b.stack));
            let series = Series {
                profile_type,
                labels,
            };
            let mut profile = Profile::from_named(series, time_nanos, samples);
            // CPU and wall samples are taken every `period` ns; other events are not periodic.
            if matches!(kind, Kind::Cpu | Kind::Wall) {
                profile.period = period;
            }
            out.push(super::normalize(profile)?);
        }
    }
    Ok(out)
}

/// Reads a recording's events into totals per (kind, context) and stack: CPU and wall samples
/// count `period` ns each; allocation, lock, park and malloc events count 1 and their size or
/// duration.
fn read_events(recording: &[u8], period: i64) -> Result<Totals> {
    let mut totals = Totals::default();
    let mut event_setting = String::new();
    let mut stacks = Stacks::default();
    jfr::read(
        recording,
        |name| EVENTS.contains(&name),
        |chunk, event| {
            let Some(class) = chunk.class(event.class) else {
                return;
            };
            let e = &event.value;
            let int = |name| chunk.int_field(e, name).unwrap_or(0);
            let mut add = |kind: Kind, values: [i64; 2]| {
                let Some(stack) = stack(chunk, e, event.chunk, &mut stacks) else {
                    return;
                };
                let entry = totals
                    .entry((kind, int("contextId")))
                    .or_default()
                    .entry(stack)
                    .or_default();
                add_values(entry, values);
            };
            match class.name.as_str() {
                "jdk.ExecutionSample" => {
                    let state = chunk
                        .field(e, "state")
                        .and_then(|s| chunk.str_field(s, "name"));
                    if state.is_some_and(|s| s != "STATE_SLEEPING") {
                        add(Kind::Cpu, [period, 0]);
                    }
                    if event_setting == "wall" {
                        add(Kind::Wall, [period, 0]);
                    }
                }
                "profiler.WallClockSample" => {
                    add(Kind::Wall, [int("samples").saturating_mul(period), 0]);
                }
                "jdk.ObjectAllocationInNewTLAB" => add(Kind::InNewTlab, [1, int("tlabSize")]),
                "jdk.ObjectAllocationOutsideTLAB" => {
                    add(Kind::OutsideTlab, [1, int("allocationSize")])
                }
                "jdk.ObjectAllocationSample" => add(Kind::AllocSample, [1, int("weight")]),
                "profiler.LiveObject" => add(Kind::Live, [1, 0]),
                "jdk.JavaMonitorEnter" => add(Kind::Lock, [1, int("duration")]),
                "jdk.ThreadPark" => add(Kind::Park, [1, int("duration")]),
                "profiler.Malloc" => add(Kind::Malloc, [1, int("size")]),
                "jdk.ActiveSetting" if chunk.str_field(e, "name") == Some("event") => {
                    event_setting = chunk.str_field(e, "value").unwrap_or("").to_string();
                }
                _ => {}
            }
        },
    )?;
    Ok(totals)
}

/// Merges contexts with the same labels into one series.
fn series_of(
    totals: Totals,
    labels: Option<&LabelsSnapshot>,
) -> BTreeMap<(Kind, Labels), FastMap<Stack, [i64; 2]>> {
    let mut series: BTreeMap<(Kind, Labels), FastMap<Stack, [i64; 2]>> = BTreeMap::new();
    for ((kind, context), stacks) in totals {
        let merged = series
            .entry((kind, context_labels(labels, context)))
            .or_default();
        for (stack, v) in stacks {
            add_values(merged.entry(stack).or_default(), v);
        }
    }
    series
}

fn add_values(to: &mut [i64; 2], values: [i64; 2]) {
    to[0] = to[0].saturating_add(values[0]);
    to[1] = to[1].saturating_add(values[1]);
}

/// The labels of a context id (none for 0 or an unknown id); ids of missing strings are
/// skipped.
fn context_labels(snapshot: Option<&LabelsSnapshot>, context: i64) -> Labels {
    let mut out = Labels::new();
    let Some(s) = snapshot.filter(|_| context != 0) else {
        return out;
    };
    if let Some(ctx) = s.contexts.get(&context) {
        for (k, v) in &ctx.labels {
            if let (Some(k), Some(v)) = (s.strings.get(k), s.strings.get(v)) {
                out.insert(sanitize_label_name(k), v.clone());
            }
        }
    }
    out
}

/// The stack of an event's `stackTrace`, root first, cached per constant; `None` if the
/// event has none.
/// What has been named already, by (chunk, constant pool, index): stacks, which events share,
/// and frames' methods, which stacks share (a recording's stacks repeat the same methods, so
/// naming each once keeps decoding linear in the recording, not in its stacks' depths).
#[derive(Default)]
struct Stacks {
    stacks: FastMap<(usize, i64), Stack>,
    methods: FastMap<(usize, i64, i64), Option<String>>,
}

fn stack(chunk: &Chunk, event: &Value, chunk_no: usize, cache: &mut Stacks) -> Option<Stack> {
    let key = match chunk.raw_field(event, "stackTrace")? {
        Value::Ref { index, .. } => Some((chunk_no, *index)),
        _ => None,
    };
    if let Some(s) = key.and_then(|k| cache.stacks.get(&k)) {
        return Some(s.clone());
    }
    let trace = chunk.field(event, "stackTrace")?;
    let Some(Value::Array(frames)) = chunk.field(trace, "frames") else {
        return None;
    };
    let mut names: Vec<String> = frames
        .iter()
        .filter_map(|f| {
            let method = match chunk.raw_field(f, "method")? {
                Value::Ref { class, index } => Some((chunk_no, *class, *index)),
                _ => None,
            };
            match method {
                Some(m) => cache
                    .methods
                    .entry(m)
                    .or_insert_with(|| frame_name(chunk, chunk.field(f, "method")?))
                    .clone(),
                None => frame_name(chunk, chunk.field(f, "method")?),
            }
        })
        .collect();
    names.reverse();
    let stack: Stack = names.into();
    if let Some(k) = key {
        cache.stacks.insert(k, stack.clone());
    }
    Some(stack)
}

/// `class.method`; `None` (frame skipped) when the method's class is missing.
fn frame_name(chunk: &Chunk, method: &Value) -> Option<String> {
    let class = chunk.field(method, "type")?;
    let symbol = |v: &Value, field| {
        chunk
            .field(v, field)
            .and_then(|s| chunk.str_field(s, "string"))
            .map(merge_generated)
            .unwrap_or_default()
    };
    Some(format!(
        "{}.{}",
        symbol(class, "name"),
        symbol(method, "name")
    ))
}

/// Names the JVM numbers per run (lambdas, reflection accessors, extracted native
/// libraries) would make every upload's frames different: the numbers become `_`. The rules
/// are the reference server's, to the letter (its async-profiler rule knows one build only),
/// so that the same recording gives the same frames on both.
fn merge_generated(symbol: &str) -> String {
    static RULES: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
        [
            (
                r"^(jdk/internal/reflect/GeneratedMethodAccessor)(\d+)$",
                "${1}_",
            ),
            (r"^(.+\$\$Lambda)\$?\d+[./](0x[\da-f]+|\d+)$", "${1}_"),
            (
                r"^(\.?/tmp/)?(libzstd-jni-\d+\.\d+\.\d+-)(\d+)(\.so)( \(deleted\))?$",
                "libzstd-jni-_.so",
            ),
            (
                r"^(\.?/tmp/)?(lib)?(amazonCorrettoCryptoProvider)(NativeLibraries\.)?([0-9a-f]{16})(/libcrypto|/libamazonCorrettoCryptoProvider)?(\.so)( \(deleted\))?$",
                "libamazonCorrettoCryptoProvider_.so",
            ),
            (
                r"^(\.?/tmp/)?(libasyncProfiler)-(linux-arm64|linux-musl-x64|linux-x64|macos)-(17b9a1d8156277a98ccc871afa9a8f69215f92)(\.so)( \(deleted\))?$",
                "libasyncProfiler-_.so",
            ),
        ]
        .into_iter()
        .filter_map(|(re, to)| Regex::new(re).ok().map(|re| (re, to)))
        .collect()
    });
    let mut out = symbol.to_string();
    for (re, to) in RULES.iter() {
        if re.is_match(&out) {
            out = re.replace(&out, *to).into_owned();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::corpus;
    use crate::wire::proto::google::v1::Profile as Pprof;

    fn decoded(name: &str) -> Vec<u8> {
        crate::wire::body::gunzip(&corpus(name), 64 << 20, "test").unwrap()
    }

    fn profiles(dump: &str) -> Vec<Profile> {
        let labels = decode_labels(
            &corpus(&format!("jfr/{dump}.labels.pb.gz")),
            crate::limits::DEFAULT_MAX_PROFILE_BYTES,
        )
        .unwrap();
        let base = Labels::from([("service_name".to_string(), "app".to_string())]);
        to_profiles(
            &decoded(&format!("jfr/{dump}.jfr.gz")),
            Some(&labels),
            &base,
            100,
            1,
        )
        .unwrap()
    }

    /// Per-stack totals (root-first `;`-joined function names) of a golden pprof.
    fn golden(name: &str) -> BTreeMap<String, i64> {
        let p: Pprof = crate::wire::pprof::decode(
            &corpus(&format!("jfr/{name}")),
            crate::limits::DEFAULT_MAX_PROFILE_BYTES,
        )
        .unwrap();
        let flat = crate::wire::pprof::Flat::from(&p);
        let symbols = crate::wire::pprof::Symbols::new(&flat);
        let mut out = BTreeMap::new();
        for s in &p.sample {
            *out.entry(symbols.stack(&s.location_id).join(";"))
                .or_insert(0) += s.value[0];
        }
        out.retain(|_, v| *v != 0);
        out
    }

    fn totals<'a>(ps: impl Iterator<Item = &'a Profile>) -> BTreeMap<String, i64> {
        let mut out = BTreeMap::new();
        for p in ps {
            for (stack, value) in p.folded() {
                *out.entry(stack).or_insert(0) += value;
            }
        }
        out
    }

    fn assert_same(got: &BTreeMap<String, i64>, want: &BTreeMap<String, i64>, what: &str) {
        let diff: Vec<_> = got
            .iter()
            .filter(|(k, v)| want.get(*k) != Some(v))
            .map(|(k, v)| (k.as_str(), *v, want.get(k).copied()))
            .chain(
                want.iter()
                    .filter(|(k, _)| !got.contains_key(*k))
                    .map(|(k, v)| (k.as_str(), 0, Some(*v))),
            )
            .collect();
        assert!(diff.is_empty(), "{what}: (stack, got, want) {diff:?}");
    }

    /// Every expected pprof of the corpus: `dumpN.jfr.gz.<type id, : as _>.<label set>.pb.gz`.
    /// The set 17241709254077376921 is the whole profile; any other is one `thread_name`,
    /// matched by content against the per-label-set profiles.
    #[test]
    fn every_golden_is_reproduced() {
        let dir = std::path::Path::new(crate::testing::CORPUS_DIR).join("jfr");
        let mut checked = 0;
        for dump in ["dump1", "dump2"] {
            let ps = profiles(dump);
            let prefix = format!("{dump}.jfr.gz.");
            let mut files: Vec<String> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|f| f.starts_with(&prefix))
                .collect();
            files.sort();
            for file in files {
                let rest = &file[prefix.len()..];
                let (type_part, set) = rest.split_once('.').unwrap();
                let of_type: Vec<&Profile> = ps
                    .iter()
                    .filter(|p| p.series.profile_type.id().replace(':', "_") == type_part)
                    .collect();
                assert!(!of_type.is_empty(), "{file}: no profile of that type");
                let want = golden(&file);
                assert!(!want.is_empty());
                if set.starts_with("17241709254077376921.") {
                    assert_same(&totals(of_type.into_iter()), &want, &file);
                } else {
                    let threads: std::collections::BTreeSet<&String> = of_type
                        .iter()
                        .filter_map(|p| p.series.labels.get("thread_name"))
                        .collect();
                    let matched = threads.iter().any(|t| {
                        totals(
                            of_type
                                .iter()
                                .copied()
                                .filter(|p| p.series.labels.get("thread_name") == Some(*t)),
                        ) == want
                    });
                    assert!(
                        matched,
                        "{file} matches no thread_name subset of {threads:?}"
                    );
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 26);
    }

    #[test]
    fn dump1_totals_are_the_documented_ones() {
        let ps = profiles("dump1");
        let cpu = |p: &&Profile| p.series.profile_type.name == "process_cpu";
        let mut sums: Vec<i64> = [
            "pool-2-thread-3",
            "pool-2-thread-1",
            "pool-2-thread-7",
            "pool-2-thread-5",
        ]
        .iter()
        .map(|t| {
            totals(
                ps.iter()
                    .filter(cpu)
                    .filter(|p| p.series.labels.get("thread_name").map(String::as_str) == Some(*t)),
            )
            .values()
            .sum()
        })
        .collect();
        sums.sort();
        assert_eq!(
            sums,
            [1_040_000_000, 1_680_000_000, 2_150_000_000, 4_710_000_000]
        );
        assert_eq!(
            totals(ps.iter().filter(cpu)).values().sum::<i64>(),
            21_880_000_000
        );
    }

    #[test]
    fn generated_names_are_merged() {
        assert_eq!(
            merge_generated("App$$Lambda$15/0x0000000800c03000"),
            "App$$Lambda_"
        );
        assert_eq!(
            merge_generated("jdk/internal/reflect/GeneratedMethodAccessor31"),
            "jdk/internal/reflect/GeneratedMethodAccessor_"
        );
        assert_eq!(merge_generated("App.fib"), "App.fib");
    }
}
