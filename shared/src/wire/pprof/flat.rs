//! A pprof profile held flat: every repeated field of every sample and location in one
//! vector for the whole profile, and the strings in one buffer. Decoding one costs a handful
//! of allocations instead of prost's `String` per string and `Vec` per sample, location and
//! line (most of an upload's decode, then freed right after conversion).

use std::ops::Range;

use crate::wire::proto::google::v1::{Function, Label, Line, Mapping, Profile, ValueType};

/// A pprof profile as ingest reads it: what [`Profile`] holds except the fields no ingest
/// reads (`drop_frames`, `keep_frames`, `duration_nanos`, `comment`, `default_sample_type`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Flat {
    /// The sample types, in order.
    pub sample_type: Vec<ValueType>,
    pub(super) samples: Vec<SampleSpan>,
    pub(super) location_ids: Vec<u64>,
    pub(super) values: Vec<i64>,
    pub(super) labels: Vec<Label>,
    /// When the profile was taken.
    pub time_nanos: i64,
    /// The period's type, if any.
    pub period_type: Option<ValueType>,
    /// The sampling period.
    pub period: i64,
    /// The symbol tables.
    pub tables: Tables,
}

/// Where a sample's repeated fields are in its profile's vectors.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct SampleSpan {
    pub(super) location_ids: Range<usize>,
    pub(super) values: Range<usize>,
    pub(super) labels: Range<usize>,
}

/// A sample of a [`Flat`] profile.
#[derive(Debug, Clone, Copy)]
pub struct SampleRef<'a> {
    /// Its locations' ids, leaf first.
    pub location_id: &'a [u64],
    /// One value per sample type.
    pub value: &'a [i64],
    /// Its labels.
    pub label: &'a [Label],
}

/// A location of a [`Flat`] profile; its lines are a range of [`Tables::lines`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Location {
    /// Its id.
    pub id: u64,
    /// Its mapping's id.
    pub mapping_id: u64,
    /// Its address.
    pub address: u64,
    pub(super) lines: Range<usize>,
    pub(super) is_folded: bool,
}

/// A profile's symbol tables: mappings, locations (with their lines), functions, strings.
/// Owned, so that a batch's next profile with the same tables can take them over.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tables {
    /// The mappings.
    pub mapping: Vec<Mapping>,
    /// The locations.
    pub location: Vec<Location>,
    /// Every location's lines, innermost first within each.
    pub(super) lines: Vec<Line>,
    /// The functions.
    pub function: Vec<Function>,
    /// Every string of the table, one after the other.
    pub(super) text: String,
    /// Each string's place in `text`.
    pub(super) strings: Vec<Range<usize>>,
}

impl Flat {
    /// Its samples, in order.
    pub fn samples(&self) -> impl ExactSizeIterator<Item = SampleRef<'_>> + '_ {
        self.samples.iter().map(|s| SampleRef {
            location_id: &self.location_ids[s.location_ids.clone()],
            value: &self.values[s.values.clone()],
            label: &self.labels[s.labels.clone()],
        })
    }

    /// Appends a sample.
    pub(super) fn push_sample(&mut self, s: SampleRef<'_>) {
        let span = SampleSpan {
            location_ids: extend(&mut self.location_ids, s.location_id),
            values: extend(&mut self.values, s.value),
            labels: extend(&mut self.labels, s.label),
        };
        self.samples.push(span);
    }

    /// Appends the sample whose location ids, values and labels start at these positions of
    /// their vectors and run to their ends.
    pub(super) fn push_span(&mut self, location_ids: usize, values: usize, labels: usize) {
        self.samples.push(SampleSpan {
            location_ids: location_ids..self.location_ids.len(),
            values: values..self.values.len(),
            labels: labels..self.labels.len(),
        });
    }
}

/// Appends `items`; returns where they went.
fn extend<T: Clone>(to: &mut Vec<T>, items: &[T]) -> Range<usize> {
    let start = to.len();
    to.extend_from_slice(items);
    start..to.len()
}

impl Tables {
    /// How many strings the string table has.
    pub fn string_count(&self) -> usize {
        self.strings.len()
    }

    /// A string of the table, `None` for an index out of range.
    pub fn string(&self, index: i64) -> Option<&str> {
        let range = self.strings.get(usize::try_from(index).ok()?)?;
        self.text.get(range.clone())
    }

    /// Appends a string to the table.
    pub(super) fn push_string(&mut self, s: &str) {
        let start = self.text.len();
        self.text.push_str(s);
        self.strings.push(start..self.text.len());
    }

    /// Replaces the string at `index` (in range).
    pub fn replace_string(&mut self, index: usize, s: &str) {
        if index < self.strings.len() {
            let start = self.text.len();
            self.text.push_str(s);
            self.strings[index] = start..self.text.len();
        }
    }

    /// A location's lines, innermost first.
    pub fn lines(&self, location: &Location) -> &[Line] {
        self.lines.get(location.lines.clone()).unwrap_or(&[])
    }

    /// Appends a location with its lines.
    pub(super) fn push_location(&mut self, mut location: Location, lines: &[Line]) {
        location.lines = extend(&mut self.lines, lines);
        self.location.push(location);
    }
}

impl From<&Profile> for Flat {
    fn from(p: &Profile) -> Self {
        let mut flat = Flat {
            sample_type: p.sample_type.clone(),
            time_nanos: p.time_nanos,
            period_type: p.period_type,
            period: p.period,
            tables: Tables {
                mapping: p.mapping.clone(),
                function: p.function.clone(),
                ..Tables::default()
            },
            ..Flat::default()
        };
        for s in &p.sample {
            flat.push_sample(SampleRef {
                location_id: &s.location_id,
                value: &s.value,
                label: &s.label,
            });
        }
        for l in &p.location {
            let location = Location {
                id: l.id,
                mapping_id: l.mapping_id,
                address: l.address,
                lines: 0..0,
                is_folded: l.is_folded,
            };
            flat.tables.push_location(location, &l.line);
        }
        for s in &p.string_table {
            flat.tables.push_string(s);
        }
        flat
    }
}
