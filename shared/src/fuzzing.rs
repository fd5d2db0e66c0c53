//! What the fuzz targets (`fuzz/`, `cargo fuzz`) run, and what the regression test
//! (`shared/tests/fuzz_regressions.rs`) replays every input they ever crashed on through: each
//! function feeds arbitrary bytes to one parser that sees a client's or the bucket's bytes, the
//! way the server does, and must come back with an answer or an error, never a panic. Where a
//! parser has variants (formats, codecs, methods), the first byte picks one.

use std::sync::{Arc, OnceLock};

use crate::ingest::{IngestRequest, push::Codec};
use crate::query::QueryContext;
use crate::query::connect::{Call, call};
use crate::storage::store::{MemoryStore, SharedStore};
use crate::tenant::Tenant;
use crate::time::TimeRange;

/// One target's function: arbitrary bytes in, nothing out (it must only return).
pub type Target = fn(&[u8]);

/// Every target: its name (as `cargo fuzz run NAME` and the regression corpus's folder know
/// it) and its function.
pub const TARGETS: [(&str, Target); 13] = [
    ("upload", upload),
    ("multipart", multipart),
    ("jfr_labels", jfr_labels),
    ("pprof", pprof),
    ("push", push),
    ("otlp", otlp),
    ("selector", selector),
    ("time_params", time_params),
    ("connect_query", connect_query),
    ("segment", segment),
    ("segment_query", segment_query),
    ("manifest", manifest),
    ("tenant", tenant_id),
];

/// A fixed time, so that runs repeat (2023-11-14T22:13:20Z).
const NOW: i64 = 1_700_000_000_000_000_000;

/// Bytes a profile may decompress to, as by default (`max_profile_size_bytes`).
fn max_profile_bytes() -> usize {
    crate::limits::IngestLimits::default().max_profile_bytes()
}

fn tenant() -> Option<Tenant> {
    Tenant::from_header(Some("fuzz")).ok()
}

fn split(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((first, rest)) => (*first, rest),
        None => (0, data),
    }
}

/// `/ingest` of the body in a format the first byte picks (folded, lines, trie, tree,
/// speedscope, pprof and JFR raw or as a multipart form), stored in memory.
pub fn upload(data: &[u8]) {
    let (pick, body) = split(data);
    let formats = [
        "folded",
        "lines",
        "trie",
        "tree",
        "speedscope",
        "pprof",
        "jfr",
    ];
    let format = formats[pick as usize % formats.len()];
    let multipart = pick as usize / formats.len() % 2 == 1;
    let params = vec![
        ("name".to_string(), "app.cpu{env=fuzz}".to_string()),
        ("format".to_string(), format.to_string()),
        ("from".to_string(), "1700000000".to_string()),
    ];
    let req = IngestRequest {
        params: &params,
        content_type: multipart.then_some("multipart/form-data; boundary=B"),
        body,
    };
    let Some(tenant) = tenant() else { return };
    let _ = crate::ingest::ingest(
        &MemoryStore::default(),
        &tenant,
        &Default::default(),
        &req,
        NOW,
    );
}

/// A `multipart/form-data` body: the content type is the first line (its boundary among
/// other parameters), the body the rest.
pub fn multipart(data: &[u8]) {
    let text_end = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let content_type = String::from_utf8_lossy(&data[..text_end]);
    let body = data.get(text_end + 1..).unwrap_or_default();
    let _ = crate::ingest::multipart::fields(&content_type, body);
}

/// A JFR upload's labels snapshot with its recording, as a multipart JFR upload hands them
/// over: the first two bytes are the snapshot's length (little-endian), then the snapshot
/// (gzipped or not), then the recording (gzipped or not).
pub fn jfr_labels(data: &[u8]) {
    let Some((len, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let (labels, recording) = rest.split_at(usize::from(u16::from_le_bytes(*len)).min(rest.len()));
    let Ok(labels) = crate::ingest::jfr::decode_labels(labels, max_profile_bytes()) else {
        return;
    };
    let Ok(recording) = crate::wire::body::decode_body(recording, max_profile_bytes()) else {
        return;
    };
    let mut base = crate::profile::Labels::new();
    base.insert("service_name".to_string(), "fuzz".to_string());
    let _ = crate::ingest::jfr::to_profiles(&recording, Some(&labels), &base, 100, NOW);
}

/// A pprof profile, raw or gzipped, read as ingest reads it; where the streaming reader
/// answers, its answer must be prost's.
pub fn pprof(data: &[u8]) {
    let _ = crate::wire::pprof::read(data, max_profile_bytes());
    if let Ok(bytes) = crate::wire::body::decode_body(data, max_profile_bytes()) {
        crate::wire::pprof::check_reader_against_prost(&bytes);
    }
}

fn codec(pick: u8) -> (Codec, Option<&'static str>) {
    match pick % 4 {
        0 => (Codec::Proto, None),
        1 => (Codec::Json, None),
        2 => (Codec::Proto, Some("gzip")),
        _ => (Codec::Json, Some("gzip")),
    }
}

/// The signature `ingest_push` and `ingest_otlp` share.
type Decoded = fn(
    &dyn crate::storage::store::ObjectStore,
    &Tenant,
    &crate::limits::IngestLimits,
    Codec,
    Option<&str>,
    &[u8],
    i64,
) -> crate::Result<crate::ingest::IngestOutcome>;

/// A Connect-style body in the codec and encoding the first byte picks, stored in memory.
fn decoded(data: &[u8], ingest: Decoded) {
    let (pick, body) = split(data);
    let (codec, encoding) = codec(pick);
    let Some(tenant) = tenant() else { return };
    let limits = Default::default();
    let _ = ingest(
        &MemoryStore::default(),
        &tenant,
        &limits,
        codec,
        encoding,
        body,
        NOW,
    );
}

/// A Push request in the codec and encoding the first byte picks, stored in memory.
pub fn push(data: &[u8]) {
    decoded(data, crate::ingest::ingest_push);
}

/// An OTLP profiles export in the codec and encoding the first byte picks, stored in memory.
pub fn otlp(data: &[u8]) {
    decoded(data, crate::ingest::ingest_otlp);
}

/// A FlameQL selector, in both the legacy and the current form.
pub fn selector(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = crate::selector::Selector::parse(&text);
    let _ = crate::selector::Selector::parse_with_type(&text);
}

/// `from` and `until` parameters (split at the first NUL), as `/render` reads them.
pub fn time_params(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (from, until) = text.split_once('\0').unwrap_or((&text, "now"));
    let _ = crate::time::TimeRange::from_params(Some(from), Some(until), NOW);
    let _ = QueryContext::at(NOW).range_params(Some(from), Some(until));
}

/// A store holding a little data, so that queries get past their listing.
fn query_store() -> SharedStore {
    static STORE: OnceLock<SharedStore> = OnceLock::new();
    STORE
        .get_or_init(|| {
            let store: SharedStore = Arc::new(MemoryStore::default());
            let params = vec![
                ("name".to_string(), "app.cpu{env=a}".to_string()),
                ("from".to_string(), "1699999000".to_string()),
            ];
            let req = IngestRequest {
                params: &params,
                content_type: None,
                body: b"main;work;deep 3\nmain;idle 1\nmain;work 2\n",
            };
            if let Some(tenant) = tenant() {
                let _ =
                    crate::ingest::ingest(store.as_ref(), &tenant, &Default::default(), &req, NOW);
            }
            store
        })
        .clone()
}

/// A Connect query call: the method and codec from the first byte, the body from the rest.
pub fn connect_query(data: &[u8]) {
    const METHODS: [&str; 14] = [
        "ProfileTypes",
        "LabelNames",
        "LabelValues",
        "Series",
        "GetProfileStats",
        "AnalyzeQuery",
        "SelectMergeStacktraces",
        "SelectSeries",
        "SelectMergeSpanProfile",
        "SelectMergeProfile",
        "SelectHeatmap",
        "Diff",
        "Unknown",
        "",
    ];
    let (pick, body) = split(data);
    let method = METHODS[pick as usize % METHODS.len()];
    let path = format!("/querier.v1.QuerierService/{method}");
    let json = pick as usize / METHODS.len() % 2 == 1;
    let c = Call {
        path: &path,
        content_type: Some(if json {
            "application/json"
        } else {
            "application/proto"
        }),
        content_encoding: None,
        accept_encoding: None,
        body,
    };
    let Some(tenant) = tenant() else { return };
    let _ = call(&query_store(), &tenant, &c, &QueryContext::at(NOW));
}

/// A stored segment's bytes, decoded whole: on its own, and as a scan decodes it after
/// another L0 segment (its footer cache then knows that layout's schema, whose bytes a
/// footer may skip, and a series list), which must come to the same answer.
pub fn segment(data: &[u8]) {
    use crate::storage::segment::{FooterCache, decode, decode_cached};
    static PRIMED: OnceLock<FooterCache> = OnceLock::new();
    let bytes = bytes::Bytes::copy_from_slice(data);
    let alone = decode(bytes.clone());
    let mut cache = PRIMED
        .get_or_init(|| {
            let mut cache = FooterCache::default();
            use crate::profile::{NamedSample, Profile, ProfileType, Series};
            let mut b = crate::storage::segment::SegmentBuilder::new("t");
            if let Ok(profile_type) =
                ProfileType::parse("process_cpu:cpu:nanoseconds:cpu:nanoseconds")
            {
                let series = Series {
                    profile_type,
                    labels: [("service_name".to_string(), "a".to_string())].into(),
                };
                let sample = NamedSample {
                    stack: vec!["x".into(), "y".into()],
                    value: 1,
                };
                b.add_profile(&Profile::from_named(series, 10, vec![sample]));
            }
            if let Ok(l0) = crate::storage::segment::encode(&b.finish()) {
                let _ = decode_cached(l0.into(), &mut cache);
            }
            cache
        })
        .clone();
    let after = decode_cached(bytes, &mut cache);
    match (alone, after) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "a footer cache changed a segment's content"),
        (Err(_), Err(_)) => {}
        (a, b) => panic!("a footer cache changed whether a segment reads: {a:?} / {b:?}"),
    }
}

/// A stored segment read the ways queries read one: by ranges from where a manifest says its
/// hot part or its day sums start (bytes 1–4 and 5–8, little-endian, each used or not as
/// the first byte says), over whole days, whole hours or exactly its own span (the first
/// byte again), merged into a flame graph with totals, and scanned with its symbols.
pub fn segment_query(data: &[u8]) {
    use crate::query::{Reads, SampleFilter, Source, merge};
    use crate::storage::{manifest::SegmentRef, segment::SegmentReader};
    const HOUR: i64 = 3_600_000_000_000;
    const DAY: i64 = 24 * HOUR;
    let (pick, rest) = split(data);
    let Some((offsets, object)) = rest.split_first_chunk::<8>() else {
        return;
    };
    let offset = |at: usize| {
        let bytes = [
            offsets[at],
            offsets[at + 1],
            offsets[at + 2],
            offsets[at + 3],
        ];
        u64::from(u32::from_le_bytes(bytes))
    };
    let object = bytes::Bytes::copy_from_slice(object);
    let Ok(reader) = SegmentReader::open(object.clone()) else {
        return;
    };
    let (lo, hi) = (reader.meta().min_time, reader.meta().max_time);
    // Whole units around the segment's span, as far as they can be counted.
    let around = |unit: i64| {
        let from = lo.checked_div_euclid(unit)?.checked_mul(unit)?;
        let until = hi
            .checked_div_euclid(unit)?
            .checked_add(1)?
            .checked_mul(unit)?;
        Some(TimeRange {
            from,
            until: until.checked_sub(1)?,
        })
    };
    let range = match pick >> 2 & 3 {
        0 => around(DAY),
        1 => around(HOUR),
        _ => Some(TimeRange {
            from: lo,
            until: hi,
        }),
    };
    let (Some(range), Some(tenant)) = (range, tenant()) else {
        return;
    };
    let store: SharedStore = Arc::new(MemoryStore::default());
    let key = "fuzz/segment";
    let put = store.put(
        key,
        object.clone(),
        crate::storage::store::PutMode::Overwrite,
    );
    if put.is_err() {
        return;
    }
    let refs = [SegmentRef {
        key: key.to_string(),
        size: object.len() as u64,
        hot_start: (pick & 1 != 0).then(|| offset(0)),
        time: Some((lo, hi)),
        day_sums_start: (pick & 2 != 0).then(|| offset(4)),
    }];
    let everything = crate::selector::Selector {
        profile_type: None,
        matchers: Vec::new(),
    };
    let filter = SampleFilter::default();
    let source = Source::Segments(&refs);
    let _ = merge::select_from(
        &store,
        &tenant,
        source,
        &everything,
        &range,
        &filter,
        merge::Wanted::ALL,
    );
    let symbols = Reads {
        symbols: true,
        ..Reads::default()
    };
    let _ = crate::query::scan_from(
        &store,
        &tenant,
        source,
        &everything,
        &range,
        &filter,
        symbols,
        |_| Ok(()),
    );
}

/// A stored manifest's bytes, parsed.
pub fn manifest(data: &[u8]) {
    let _ = serde_json::from_slice::<crate::storage::manifest::Manifest>(data);
}

/// An `X-Scope-OrgID` value (and, after a NUL, a scrape's `tenant` parameter): what is
/// accepted must become one storage path segment that cannot climb out of its prefix, and
/// read back as the same tenant. Panics (a finding) if not.
pub fn tenant_id(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (header, param) = match text.split_once('\0') {
        Some((h, p)) => (h, Some(p)),
        None => (&*text, None),
    };
    for accepted in [
        Tenant::from_header(Some(header)),
        Tenant::for_scrape(Some(header), param),
    ]
    .into_iter()
    .flatten()
    {
        let segment = accepted.key_segment();
        assert!(
            !segment.is_empty() && segment != "." && segment != "..",
            "{segment:?}"
        );
        assert!(
            segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-~".contains(&b)),
            "{segment:?}"
        );
        assert_eq!(Tenant::from_key_segment(&segment).as_ref(), Some(&accepted));
    }
}
