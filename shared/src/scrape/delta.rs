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
/// A profile with no cumulative sample type is its own delta.
pub fn delta(previous: Option<&Profile>, current: &Profile) -> Delta {
    let cumulative = cumulative_types(current);
    if !cumulative.contains(&true) {
        return Delta::Between(current.clone());
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
                string(previous, a.r#type) == string(current, b.r#type)
                    && string(previous, a.unit) == string(current, b.unit)
            });
    if !same_types {
        return Delta::Baseline;
    }
    let before = sums(previous);
    let now = sums(current);
    let mut samples = Vec::with_capacity(now.len());
    for key in &now.order {
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
                return Delta::Restarted(current.clone());
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
    let mut out = current.clone();
    out.sample = samples;
    if previous.time_nanos > 0 && current.time_nanos > previous.time_nanos {
        out.duration_nanos = current.time_nanos - previous.time_nanos;
    }
    Delta::Between(out)
}

/// A profile's samples summed per meaning, in first-seen order.
struct Sums<'a> {
    by_key: FastMap<Vec<u8>, (&'a Sample, Vec<i64>)>,
    order: Vec<Vec<u8>>,
}

impl Sums<'_> {
    fn len(&self) -> usize {
        self.order.len()
    }
}

fn sums(p: &Profile) -> Sums<'_> {
    let locations: FastMap<u64, usize> = p
        .location
        .iter()
        .enumerate()
        .map(|(i, l)| (l.id, i))
        .collect();
    let functions: FastMap<u64, usize> = p
        .function
        .iter()
        .enumerate()
        .map(|(i, f)| (f.id, i))
        .collect();
    let mut sums = Sums {
        by_key: FastMap::default(),
        order: Vec::new(),
    };
    for sample in &p.sample {
        let key = sample_key(p, sample, &locations, &functions);
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

/// What a sample means, independent of the profile's ids: its frames (address, then each
/// line's function, file and line number) and its labels, sorted.
fn sample_key(
    p: &Profile,
    sample: &Sample,
    locations: &FastMap<u64, usize>,
    functions: &FastMap<u64, usize>,
) -> Vec<u8> {
    let mut key = Vec::new();
    let mut put = |bytes: &[u8]| {
        key.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        key.extend_from_slice(bytes);
    };
    for id in &sample.location_id {
        let Some(location) = locations.get(id).map(|&i| &p.location[i]) else {
            put(b"?");
            continue;
        };
        put(&location.address.to_le_bytes());
        for line in &location.line {
            match functions.get(&line.function_id).map(|&i| &p.function[i]) {
                Some(f) => {
                    put(string(p, f.name).as_bytes());
                    put(string(p, f.filename).as_bytes());
                }
                None => put(b"?"),
            }
            put(&line.line.to_le_bytes());
        }
        put(b"|");
    }
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
    for (k, s, n, u) in labels {
        put(k.as_bytes());
        put(s.as_bytes());
        put(&n.to_le_bytes());
        put(u.as_bytes());
    }
    key
}

fn string(p: &Profile, i: i64) -> &str {
    usize::try_from(i)
        .ok()
        .and_then(|i| p.string_table.get(i))
        .map_or("", String::as_str)
}

#[cfg(test)]
pub(crate) mod tests;
