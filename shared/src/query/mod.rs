//! Queries: which segments a range reads, which of their samples a selection keeps, and the
//! merged answers.
//!
//! Path: a validated request ([`request`]) → [`manifest::live_segments`] → per segment, the
//! footer's series matched by the selector → only the sample columns of row groups in range
//! (links and symbols only when asked) → [`SampleFilter`] → the caller's merge ([`merge`]:
//! one call tree by function name, or one pprof) → an answer ([`pyroscope`] for the HTTP API,
//! [`connect`] for the Connect API).

pub mod connect;
mod error;
pub mod filter;
pub mod merge;
pub mod pyroscope;
pub mod request;
mod stack_paths;

pub use error::QueryError;
pub use filter::{LeafLocations, SampleFilter};
pub use merge::{
    Merged, Wanted, footers, matching_series, select, select_filtered, select_from, select_profile,
};
pub use request::{DiffRequest, LabelValuesRequest, QueryContext, RenderFormat, RenderRequest};

use std::sync::Arc;

use crate::Result;
use crate::profile::Series;
use crate::selector::Selector;
use crate::storage::chunks::ReadAhead;
use crate::storage::keys::{DAY_NANOS, HOUR_NANOS};
use crate::storage::manifest;
use crate::storage::segment::{
    CACHED_SERIES_LISTS, FooterCache, FunctionRow, MappingRow, NodeFrame, PathFingerprint, Samples,
    SegmentError, SegmentMeta, SegmentReader, StackNode,
};
use crate::storage::store::SharedStore;
use crate::tenant::Tenant;
use crate::time::TimeRange;

/// A segment's functions, mappings and node frames: what pprof export needs beyond names.
pub struct PartSymbols {
    /// Functions.
    pub functions: Vec<FunctionRow>,
    /// Mappings.
    pub mappings: Vec<MappingRow>,
    /// Each trie node's frame.
    pub frames: Vec<NodeFrame>,
}

/// What a scan reads beyond names and samples.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reads {
    /// Functions, mappings and frames (pprof export).
    pub symbols: bool,
    /// For the whole hours of the range, when the filter keeps every sample: a compacted
    /// segment's per-(series, hour, stack) sums instead of its per-profile rows, and a day
    /// segment's per-(series, day, stack) sums for the whole days ([`Part::summed`]).
    pub sums: bool,
    /// With sums: the stacks' sums of those hours (leading [`Part::samples`]); without it
    /// only their totals are wanted and the stack sums are not read.
    pub stacks: bool,
    /// With sums: the per-profile totals of those hours ([`Part::profile_totals`]).
    pub profile_totals: bool,
    /// With sums and stacks: a day segment within the whole days of the range may be handed
    /// over as its stacks' fingerprints, its trie unread ([`Part::fingerprints`]).
    pub fingerprints: bool,
}

/// One segment's selected samples and the tables they refer to.
pub struct Part<'a> {
    /// The segment's footer (its series).
    pub meta: &'a SegmentMeta,
    /// Its strings.
    pub strings: Vec<String>,
    /// Its stack trie.
    pub nodes: Vec<StackNode>,
    /// Its symbols, when asked for.
    pub symbols: Option<PartSymbols>,
    /// The selected samples.
    pub samples: Samples,
    /// The samples' links (index 0 the empty link; only that one unless links were read).
    pub links: Vec<crate::profile::Link>,
    /// The first `summed` samples are the segment's per-stack sums over the whole days (from a
    /// day segment) and hours of the range (their time is the day's or hour's start); the
    /// rest are one row per profile, stack and link.
    pub summed: usize,
    /// With [`Reads::profile_totals`]: (series, time, total) of each profile in those whole
    /// hours (the other profiles' totals are in their rows).
    pub profile_totals: Vec<(u32, i64, i64)>,
    /// With [`Reads::fingerprints`], for a day segment that stores them: the path fingerprint
    /// of each sample's stack (all samples are day sums then). `strings` and `nodes` are
    /// empty until [`Part::read_trie`].
    pub fingerprints: Vec<PathFingerprint>,
    unread_trie: Option<&'a SegmentReader>,
}

impl Part<'_> {
    /// Reads `strings` and `nodes` if they were left unread ([`Part::fingerprints`]).
    pub fn read_trie(&mut self) -> Result<()> {
        if let Some(reader) = self.unread_trie.take() {
            self.strings = reader.read_strings()?;
            self.nodes = reader.read_nodes(self.strings.len())?;
            if self
                .samples
                .stack
                .iter()
                .any(|s| *s as usize >= self.nodes.len())
            {
                return Err(
                    SegmentError::Invalid("a day sum refers outside the trie".into()).into(),
                );
            }
        }
        Ok(())
    }
}

/// Reads every live segment of the range and hands each one's matching samples, filtered, to
/// `visit`. Only the columns needed are read: names and samples always, links only when the
/// filter selects by ids, symbols only when asked or for `go_pgo`; a segment's sums instead
/// of its samples when asked and exact (see [`Reads::sums`]).
pub fn scan(
    store: &SharedStore,
    tenant: &Tenant,
    selector: &Selector,
    range: &TimeRange,
    filter: &SampleFilter,
    reads: Reads,
    visit: impl FnMut(Part<'_>) -> Result<()>,
) -> Result<()> {
    scan_from(
        store,
        tenant,
        Source::Live,
        selector,
        range,
        filter,
        reads,
        visit,
    )
}

/// Something worked out once per series list rather than once per segment: a
/// [`FooterCache`] hands segments with the same series list (an agent's uploads) the same
/// `Arc`, which is the key here (and is kept, so its address is not reused).
pub(crate) struct PerSeriesList<T>(crate::FastMap<usize, (Arc<[Series]>, T)>);

impl<T> Default for PerSeriesList<T> {
    fn default() -> Self {
        PerSeriesList(crate::FastMap::default())
    }
}

impl<T> PerSeriesList<T> {
    /// The value for `series`, made by `make` the first time.
    pub(crate) fn get(&mut self, series: &Arc<[Series]>, make: impl FnOnce(&[Series]) -> T) -> &T {
        let key = Arc::as_ptr(series) as *const Series as usize;
        if self.0.len() >= CACHED_SERIES_LISTS && !self.0.contains_key(&key) {
            self.0.clear();
        }
        &self
            .0
            .entry(key)
            .or_insert_with(|| (series.clone(), make(series)))
            .1
    }
}

/// Which segments a query reads.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// The live segments of its range (what every API query reads).
    Live,
    /// These, for a caller that has listed them (each sample in exactly one): a filing day's
    /// segments, whose counters retention keeps when it deletes them.
    Segments(&'a [manifest::SegmentRef]),
}

/// [`scan`] over the segments `source` names.
#[allow(clippy::too_many_arguments)]
pub fn scan_from(
    store: &SharedStore,
    tenant: &Tenant,
    source: Source<'_>,
    selector: &Selector,
    range: &TimeRange,
    filter: &SampleFilter,
    reads: Reads,
    mut visit: impl FnMut(Part<'_>) -> Result<()>,
) -> Result<()> {
    let segments = match source {
        Source::Live => manifest::live_segments(store.as_ref(), tenant, range)?,
        Source::Segments(refs) => refs.to_vec(),
    };
    // Sums stand in for rows only when no sample can be dropped by its link or call site.
    let summable = reads.sums && !filter.reads_links() && filter.call_site.is_empty();
    let range_whole = whole_hours(range).filter(|_| summable);
    let mut ahead = ReadAhead::new(store, &segments);
    let mut footers = FooterCache::default();
    let mut matching_of = PerSeriesList::default();
    for (i, r) in segments.iter().enumerate() {
        let within =
            |(first, end): (i64, i64)| matches!(r.time, Some((lo, hi)) if first <= lo && hi < end);
        // A compacted segment whose samples all lie in the range is answered from the sums of
        // its own days, even where the range cuts them: those sums hold only its samples, all
        // wanted. (A fresh hour's segment, which a "last hour" query cuts, is read this way.)
        let inside = match r.time {
            Some((lo, hi)) if summable && range.from <= lo && hi <= range.until => {
                let first = crate::storage::segment::day_bucket(lo);
                let end = crate::storage::segment::day_bucket(hi).checked_add(DAY_NANOS);
                end.map(|end| (first, end))
            }
            _ => None,
        };
        let whole = match range_whole {
            Some(w) if within(w) => Some(w),
            _ => inside.or(range_whole),
        };
        let inside = inside.filter(|i| whole == Some(*i));
        let days = whole.and_then(|(first, end)| whole_days(first, end));
        // A compacted segment within the whole hours is answered from its hot part alone: a
        // day segment's rows are two thirds of its bytes, not worth copying for nothing.
        let hot_only = !reads.symbols && filter.go_pgo.is_none() && whole.is_some_and(within);
        // A day segment within the whole days, for a caller that knows stacks by their
        // fingerprints: its fingerprinted day sums alone, the trie only if asked for.
        let by_fingerprint = hot_only
            && reads.stacks
            && reads.fingerprints
            && r.day_sums_start.is_some()
            && days.is_some_and(within);
        let start = match (by_fingerprint, hot_only) {
            (true, _) => r.day_sums_start,
            (false, true) => r.hot_start,
            (false, false) => None,
        };
        let mut reader = SegmentReader::open_cached(ahead.open(i, r, start)?, &mut footers)?;
        let meta = reader.meta();
        if !range.overlaps(meta.min_time, meta.max_time) {
            continue;
        }
        let matching: &[bool] = matching_of.get(&meta.series, |series| {
            series
                .iter()
                .map(|s| selector.matches(s))
                .collect::<Vec<_>>()
        });
        if !matching.contains(&true) {
            continue;
        }
        let keep = |s: u32| matching[s as usize];
        // One service's series: decode that service's tables only.
        reader.focus(&keep)?;
        if let (true, true, Some((first_day, end_day)), Some((first, end))) =
            (by_fingerprint, reader.has_fingerprints(), days, whole)
        {
            let (samples, fingerprints) = reader.read_fingerprinted_day_sums(
                &keep,
                reader.node_count(),
                first_day,
                end_day - DAY_NANOS,
            )?;
            let profile_totals = if reads.profile_totals {
                reader.read_profile_totals(&keep, first, end - 1)?
            } else {
                Vec::new()
            };
            if !samples.is_empty() || !profile_totals.is_empty() {
                visit(Part {
                    meta: reader.meta(),
                    strings: Vec::new(),
                    nodes: Vec::new(),
                    symbols: None,
                    summed: samples.len(),
                    samples,
                    links: vec![crate::profile::Link::default()],
                    profile_totals,
                    fingerprints,
                    unread_trie: Some(&reader),
                })?;
            }
            continue;
        }
        let meta = reader.meta();
        let strings = reader.read_strings()?;
        let nodes = reader.read_nodes(strings.len())?;
        let mut links = vec![crate::profile::Link::default()];
        // The whole hours of the range, answered from the segment's sums when it has them.
        let hours = whole.filter(|_| reader.has_sums());
        let (samples, summed, profile_totals) = match hours {
            Some((first, end)) => {
                let mut sums = Samples::default();
                if reads.stacks {
                    // The whole days among those hours from a day segment's day sums, the
                    // other hours from its hour sums.
                    let days = whole_days(first, end).filter(|_| reader.has_day_sums());
                    let hours = match days {
                        Some((first_day, end_day)) => {
                            sums = reader.read_day_sums(
                                &keep,
                                nodes.len(),
                                first_day,
                                end_day - DAY_NANOS,
                            )?;
                            [(first, first_day), (end_day, end)]
                        }
                        None => [(first, end), (end, end)],
                    };
                    for (from, until) in hours.into_iter().filter(|(a, b)| a < b) {
                        let n = nodes.len();
                        sums.append(reader.read_stack_sums(&keep, n, from, until - HOUR_NANOS)?);
                    }
                }
                let totals = if reads.profile_totals {
                    reader.read_profile_totals(&keep, first, end - 1)?
                } else {
                    Vec::new()
                };
                let summed = sums.len();
                let mut samples = sums;
                // The rest of the range, before and after those hours, from the rows (none
                // when the segment lies inside the range).
                for (from, until) in [(range.from, first - 1), (end, range.until)] {
                    if from <= until && inside.is_none() {
                        samples.append(reader.read_samples(
                            from,
                            until,
                            &keep,
                            nodes.len(),
                            None,
                        )?);
                    }
                }
                (samples, summed, totals)
            }
            None => {
                let samples = reader.read_samples(
                    range.from,
                    range.until,
                    &keep,
                    nodes.len(),
                    filter.reads_links().then_some(&mut links),
                )?;
                (samples, 0, Vec::new())
            }
        };
        if samples.is_empty() && profile_totals.is_empty() {
            continue;
        }
        let symbols = if reads.symbols || filter.go_pgo.is_some() {
            let (functions, mappings) = reader.read_symbols(strings.len())?;
            let frames = reader.read_node_frames(&nodes, &functions, mappings.len())?;
            Some(PartSymbols {
                functions,
                mappings,
                frames,
            })
        } else {
            None
        };
        let mut part = Part {
            meta,
            strings,
            nodes,
            symbols,
            samples,
            links,
            summed,
            profile_totals,
            fingerprints: Vec::new(),
            unread_trie: None,
        };
        filter.apply(&mut part);
        if !part.samples.is_empty() || !part.profile_totals.is_empty() {
            visit(part)?;
        }
    }
    Ok(())
}

/// The whole UTC days within the hours `[first, end)` (hour starts) as `[first_day, end_day)`;
/// `None` if there is none.
fn whole_days(first: i64, end: i64) -> Option<(i64, i64)> {
    let first_day = crate::storage::segment::day_bucket(first.checked_add(DAY_NANOS - 1)?);
    let end_day = crate::storage::segment::day_bucket(end);
    (first_day < end_day).then_some((first_day, end_day))
}

/// The whole UTC hours within `range` (`[from, until]`, inclusive) as `[first, end)`: hour
/// starts from `first` to `end - 1 h`; `None` if there is none.
fn whole_hours(range: &TimeRange) -> Option<(i64, i64)> {
    let first = crate::storage::segment::hour_bucket(range.from.checked_add(HOUR_NANOS - 1)?);
    let end = crate::storage::segment::hour_bucket(range.until.checked_add(1)?);
    (first < end).then_some((first, end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{IngestRequest, ingest};
    use crate::storage::store::MemoryStore;
    use crate::time::NANOS_PER_SECOND;
    use std::sync::Arc;

    const T0: i64 = 1_700_000_000;

    /// Uploads folded stacks for `name` at second `at`.
    fn upload(store: &SharedStore, tenant: &Tenant, name: &str, at: i64, body: &str) {
        let params: Vec<(String, String)> = [("name", name.to_string()), ("from", at.to_string())]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        let req = IngestRequest {
            params: &params,
            content_type: None,
            body: body.as_bytes(),
        };
        ingest(store.as_ref(), tenant, &Default::default(), &req, 0).unwrap();
    }

    /// Every (series label `env`, time, stack, value) a scan hands over.
    fn scanned(
        store: &SharedStore,
        tenant: &Tenant,
        selector: &str,
        range: TimeRange,
        filter: &SampleFilter,
    ) -> Vec<(String, i64, String, i64)> {
        let selector = Selector::parse(selector).unwrap();
        let mut out = Vec::new();
        scan(
            store,
            tenant,
            &selector,
            &range,
            filter,
            Reads::default(),
            |part| {
                let s = &part.samples;
                for i in 0..s.len() {
                    let mut stack = Vec::new();
                    let mut n = s.stack[i] as i32;
                    while n >= 0 {
                        stack.push(part.strings[part.nodes[n as usize].name as usize].clone());
                        n = part.nodes[n as usize].parent;
                    }
                    stack.reverse();
                    let env = part.meta.series[s.series[i] as usize]
                        .label("env")
                        .unwrap_or_default();
                    out.push((
                        env,
                        s.time[i] / NANOS_PER_SECOND,
                        stack.join(";"),
                        s.value[i],
                    ));
                }
                assert!(part.symbols.is_none(), "symbols are read only when asked");
                assert_eq!(part.links.len(), 1, "links are read only when selected");
                Ok(())
            },
        )
        .unwrap();
        out.sort();
        out
    }

    fn data() -> (SharedStore, Tenant) {
        let store: SharedStore = Arc::new(MemoryStore::default());
        let tenant = Tenant::from_header(None).unwrap();
        upload(
            &store,
            &tenant,
            "app.alloc_objects{env=prod}",
            T0,
            "main;work 3\nmain;idle 1\n",
        );
        upload(
            &store,
            &tenant,
            "app.alloc_objects{env=dev}",
            T0 + 10,
            "main;work 2\n",
        );
        upload(
            &store,
            &tenant,
            "app.alloc_objects{env=prod}",
            T0 + 7200,
            "main;late 5\n",
        );
        upload(&store, &tenant, "other.alloc_objects", T0, "x 9\n");
        (store, tenant)
    }

    fn range(from: i64, until: i64) -> TimeRange {
        TimeRange {
            from: from * NANOS_PER_SECOND,
            until: until * NANOS_PER_SECOND,
        }
    }

    #[test]
    fn scan_selects_series_and_range() {
        let (store, tenant) = data();
        let all = SampleFilter::default();
        let row =
            |env: &str, t: i64, stack: &str, v: i64| (env.to_string(), t, stack.to_string(), v);
        assert_eq!(
            scanned(
                &store,
                &tenant,
                "{service_name=\"app\"}",
                range(T0, T0 + 60),
                &all
            ),
            [
                row("dev", T0 + 10, "main;work", 2),
                row("prod", T0, "main;idle", 1),
                row("prod", T0, "main;work", 3),
            ]
        );
        assert_eq!(
            scanned(
                &store,
                &tenant,
                "{env=\"prod\"}",
                range(T0 + 1, T0 + 7200),
                &all
            ),
            [row("prod", T0 + 7200, "main;late", 5)],
            "samples outside the range are left out, the range's ends included"
        );
        assert!(
            scanned(
                &store,
                &tenant,
                "{env=\"none\"}",
                range(T0, T0 + 7200),
                &all
            )
            .is_empty()
        );
    }

    #[test]
    fn scan_applies_the_call_site_filter() {
        let (store, tenant) = data();
        let site = |frames: &[&str]| SampleFilter {
            call_site: frames.iter().map(|f| f.to_string()).collect(),
            ..SampleFilter::default()
        };
        let stacks = |f: &SampleFilter| -> Vec<String> {
            scanned(
                &store,
                &tenant,
                "{service_name=\"app\"}",
                range(T0, T0 + 60),
                f,
            )
            .into_iter()
            .map(|r| r.2)
            .collect()
        };
        assert_eq!(stacks(&site(&["main", "work"])), ["main;work", "main;work"]);
        assert_eq!(stacks(&site(&["main"])).len(), 3);
        assert!(stacks(&site(&["work"])).is_empty());
        assert!(stacks(&site(&["main", "work", "deeper"])).is_empty());
    }
}
