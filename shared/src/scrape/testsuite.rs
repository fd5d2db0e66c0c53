//! pprof profiles for pull mode's tests, here and end to end (feature `testsuite`): written
//! from root-first stacks of function names, their tables numbered from a base so that two
//! scrapes of one target share no ids, as two real ones need not.

use crate::wire::proto::google::v1::{Function, Label, Line, Location, Profile, Sample, ValueType};

/// Go's `/debug/pprof/heap` sample types.
pub const GO_HEAP: [(&str, &str); 4] = [
    ("alloc_objects", "count"),
    ("alloc_space", "bytes"),
    ("inuse_objects", "count"),
    ("inuse_space", "bytes"),
];

/// Go's `/debug/pprof/mutex` sample types: cumulative, as Go serves them.
pub const GO_MUTEX: [(&str, &str); 2] = [("contentions", "count"), ("delay", "nanoseconds")];

/// A sample: its stack (root first), its values and its string labels.
pub type TestSample<'a> = (&'a [&'a str], &'a [i64], &'a [(&'a str, &'a str)]);

/// A profile of sample types `types` (type, unit) with `period_type` and `period`, stamped
/// `time` (ns); function and location ids start after `base`.
pub fn pprof(
    types: &[(&str, &str)],
    period_type: (&str, &str),
    period: i64,
    samples: &[TestSample<'_>],
    base: u64,
    time: i64,
) -> Profile {
    let mut strings = vec![String::new()];
    let mut intern = |s: &str| -> i64 {
        match strings.iter().position(|x| x == s) {
            Some(i) => i as i64,
            None => {
                strings.push(s.to_string());
                strings.len() as i64 - 1
            }
        }
    };
    let sample_type = types
        .iter()
        .map(|(t, u)| ValueType {
            r#type: intern(t),
            unit: intern(u),
        })
        .collect();
    let period_type = Some(ValueType {
        r#type: intern(period_type.0),
        unit: intern(period_type.1),
    });
    let (mut function, mut location) = (Vec::<Function>::new(), Vec::<Location>::new());
    let mut sample = Vec::new();
    for (stack, values, labels) in samples {
        // pprof lists a sample's locations leaf first.
        let mut ids = Vec::new();
        for name in stack.iter().rev() {
            let name = intern(name);
            let id = match function.iter().find(|f| f.name == name) {
                Some(f) => f.id,
                None => {
                    let id = base + function.len() as u64 + 1;
                    function.push(Function {
                        id,
                        name,
                        system_name: name,
                        filename: intern("main.go"),
                        ..Function::default()
                    });
                    location.push(Location {
                        id,
                        line: vec![Line {
                            function_id: id,
                            line: 7,
                        }],
                        ..Location::default()
                    });
                    id
                }
            };
            ids.push(id);
        }
        let label = labels
            .iter()
            .map(|(k, v)| Label {
                key: intern(k),
                str: intern(v),
                ..Label::default()
            })
            .collect();
        sample.push(Sample {
            location_id: ids,
            value: values.to_vec(),
            label,
        });
    }
    Profile {
        sample_type,
        sample,
        function,
        location,
        string_table: strings,
        period_type,
        period,
        time_nanos: time,
        ..Profile::default()
    }
}

/// A Go heap profile: each sample's stack (root first) and its four values.
pub fn go_heap(samples: &[(&[&str], [i64; 4])], base: u64, time: i64) -> Profile {
    let samples: Vec<TestSample<'_>> = samples.iter().map(|(s, v)| (*s, &v[..], &[][..])).collect();
    pprof(&GO_HEAP, ("space", "bytes"), 524_288, &samples, base, time)
}
