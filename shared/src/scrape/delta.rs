//! Deltas of cumulative pprof profiles between consecutive scrapes.
//!
//! Go's `/debug/pprof/heap` counts allocations (`alloc_objects`, `alloc_space`) and
//! `/debug/pprof/mutex` and `/debug/pprof/block` count contention (`contentions`, `delay`) since
//! the process started; `inuse_*` values are a snapshot. A scrape stores what the target said and
//! the next one keeps, per stack and labels, the growth of the cumulative values and the
//! snapshot values as they are.
//!
//! - The first scrape of a target is the baseline: it says nothing about any interval, so
//!   nothing is stored for it.
//! - A value that went down means the process restarted after the previous scrape (its counters
//!   only grow): everything the new process counted happened since that scrape, so the current
//!   profile is the delta, and the new baseline.
//! - Samples are matched by what they mean, not by ids: each location's address and its lines'
//!   function names, file names and line numbers, and the labels, since every scrape numbers its
//!   own tables.

use crate::FastMap;
use crate::wire::proto::google::v1::{Profile, Sample};

/// Sample types that count since the process started.
const CUMULATIVE: [&str; 4] = ["alloc_objects", "alloc_space", "contentions", "delay"];

/// What a scrape of a cumulative profile yields.
#[derive(Debug, Clone, PartialEq)]
pub enum Delta {
    /// The first scrape: keep it as the baseline, store nothing.
    Baseline,
    /// The target restarted since the previous scrape: the current profile is what it did
    /// since.
    Restarted(Profile),
    /// What happened between the two scrapes.
    Between(Profile),
}

impl Delta {
    /// The profile to store, if any.
    pub fn profile(self) -> Option<Profile> {
        match self {
            Delta::Baseline => None,
            Delta::Restarted(p) | Delta::Between(p) => Some(p),
        }
    }
}

/// Which of `p`'s sample types are cumulative.
pub fn cumulative_types(p: &Profile) -> Vec<bool> {
    p.sample_type
        .iter()
        .map(|t| CUMULATIVE.contains(&string(p, t.r#type)))
        .collect()
}

/// Whether `p` has a cumulative sample type: such a profile needs the previous scrape.
pub fn is_cumulative(p: &Profile) -> bool {
    cumulative_types(p).contains(&true)
}

/// The delta of `current` since `previous` (the last scrape of the same target and path).
/// A profile with no cumulative sample type is its own delta. `current` is taken by value: the
/// delta is it with other samples, and a profile is large to copy.
pub fn delta(previous: Option<&Profile>, current: Profile) -> Delta {
    let cumulative = cumulative_types(&current);
    if !cumulative.contains(&true) {
        return Delta::Between(current);
    }
    let Some(previous) = previous else {
        return Delta::Baseline;
    };
    // The previous scrape's sample types must be the same, in the same order.
    let same_types = previous.sample_type.len() == current.sample_type.len()
        && previous
            .sample_type
            .iter()
            .zip(&current.sample_type)
            .all(|(a, b)| {
                string(previous, a.r#type) == string(&current, b.r#type)
                    && string(previous, a.unit) == string(&current, b.unit)
            });
    if !same_types {
        return Delta::Baseline;
    }
    // One interner for both, so that a frame or label set means the same id in each.
    let mut meanings = Meanings::default();
    let before = sums(previous, &mut meanings);
    let now = sums(&current, &mut meanings);
    let mut samples = Vec::with_capacity(now.len());
    let mut restarted = false;
    'samples: for key in &now.order {
        let Some((sample, values)) = now.by_key.get(key) else {
            continue;
        };
        let was = before.by_key.get(key).map(|(_, v)| v.as_slice());
        let mut grown = values.clone();
        for (i, v) in grown.iter_mut().enumerate() {
            if !cumulative.get(i).copied().unwrap_or(false) {
                continue;
            }
            let old = was.and_then(|w| w.get(i)).copied().unwrap_or(0);
            if *v < old {
                restarted = true;
                break 'samples;
            }
            *v -= old;
        }
        if grown.iter().any(|v| *v != 0) {
            samples.push(Sample {
                location_id: sample.location_id.clone(),
                value: grown,
                label: sample.label.clone(),
            });
        }
    }
    drop(now);
    if restarted {
        return Delta::Restarted(current);
    }
    let mut out = current;
    out.sample = samples;
    if previous.time_nanos > 0 && out.time_nanos > previous.time_nanos {
        out.duration_nanos = out.time_nanos - previous.time_nanos;
    }
    Delta::Between(out)
}

/// Ids of what frames and label sets mean, shared by the two profiles compared: a sample's key
/// is then a few integers, and each location is spelled out once, not once per sample that
/// passes through it (a Go heap profile has ~30 frames per sample).
#[derive(Default)]
struct Meanings {
    ids: FastMap<Vec<u8>, u32>,
}

impl Meanings {
    fn id(&mut self, meaning: Vec<u8>) -> u32 {
        let next = u32::try_from(self.ids.len()).unwrap_or(u32::MAX);
        *self.ids.entry(meaning).or_insert(next)
    }
}

/// A sample's meaning: its frames' ids, then its label set's.
type SampleKey = Vec<u32>;

/// A profile's samples summed per meaning, in first-seen order.
struct Sums<'a> {
    by_key: FastMap<SampleKey, (&'a Sample, Vec<i64>)>,
    order: Vec<SampleKey>,
}

impl Sums<'_> {
    fn len(&self) -> usize {
        self.order.len()
    }
}

fn sums<'a>(p: &'a Profile, meanings: &mut Meanings) -> Sums<'a> {
    let functions: FastMap<u64, usize> = p
        .function
        .iter()
        .enumerate()
        .map(|(i, f)| (f.id, i))
        .collect();
    let locations: FastMap<u64, u32> = p
        .location
        .iter()
        .map(|l| (l.id, meanings.id(location_meaning(p, l, &functions))))
        .collect();
    let unknown = meanings.id(Meaning::default().put(b"?").0);
    let mut sums = Sums {
        by_key: FastMap::default(),
        order: Vec::new(),
    };
    for sample in &p.sample {
        let mut key: SampleKey = Vec::with_capacity(sample.location_id.len() + 1);
        key.extend(
            sample
                .location_id
                .iter()
                .map(|id| locations.get(id).copied().unwrap_or(unknown)),
        );
        key.push(meanings.id(labels_meaning(p, sample)));
        match sums.by_key.get_mut(&key) {
            Some((_, values)) => {
                for (sum, v) in values.iter_mut().zip(&sample.value) {
                    *sum = sum.saturating_add(*v);
                }
            }
            None => {
                sums.order.push(key.clone());
                sums.by_key.insert(key, (sample, sample.value.clone()));
            }
        }
    }
    sums
}

/// Length-prefixed parts, so that no two different sequences spell the same bytes.
#[derive(Default)]
struct Meaning(Vec<u8>);

impl Meaning {
    fn put(mut self, bytes: &[u8]) -> Self {
        self.0
            .extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        self.0.extend_from_slice(bytes);
        self
    }
}

/// What a location means, independent of the profile's ids: its address, then each line's
/// function, file and line number. A frame marker keeps it apart from any label set.
fn location_meaning(
    p: &Profile,
    location: &crate::wire::proto::google::v1::Location,
    functions: &FastMap<u64, usize>,
) -> Vec<u8> {
    let mut m = Meaning::default()
        .put(b"frame")
        .put(&location.address.to_le_bytes());
    for line in &location.line {
        m = match functions.get(&line.function_id).map(|&i| &p.function[i]) {
            Some(f) => m
                .put(string(p, f.name).as_bytes())
                .put(string(p, f.filename).as_bytes()),
            None => m.put(b"?"),
        };
        m = m.put(&line.line.to_le_bytes());
    }
    m.0
}

/// What a sample's labels mean: each label's key, string, number and unit, sorted.
fn labels_meaning(p: &Profile, sample: &Sample) -> Vec<u8> {
    let mut labels: Vec<(&str, &str, i64, &str)> = sample
        .label
        .iter()
        .map(|l| {
            (
                string(p, l.key),
                string(p, l.str),
                l.num,
                string(p, l.num_unit),
            )
        })
        .collect();
    labels.sort();
    let mut m = Meaning::default().put(b"labels");
    for (k, s, n, u) in labels {
        m = m
            .put(k.as_bytes())
            .put(s.as_bytes())
            .put(&n.to_le_bytes())
            .put(u.as_bytes());
    }
    m.0
}

fn string(p: &Profile, i: i64) -> &str {
    usize::try_from(i)
        .ok()
        .and_then(|i| p.string_table.get(i))
        .map_or("", String::as_str)
}

#[cfg(test)]
pub(crate) mod tests;
