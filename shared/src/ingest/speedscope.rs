//! speedscope JSON (`format=speedscope`): sampled and evented profiles over shared frames.
//!
//! Profiles with the same name, type, unit and start are merged (as Pyroscope does); each
//! resulting profile is its own series with the label `profile_name`. Values: time units
//! (`seconds`, `milliseconds`, `microseconds`, `nanoseconds`) become nanoseconds; `none`
//! counts samples (scaled by `sampleRate` like folded stacks); `bytes` stay bytes.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::profile::NamedSample;
use crate::{Error, Result};

use super::IngestError;

/// The `$schema` every speedscope file names.
pub const SCHEMA: &str = "https://www.speedscope.app/file-format-schema.json";

#[derive(Deserialize)]
struct File {
    #[serde(rename = "$schema")]
    schema: String,
    shared: Shared,
    profiles: Vec<ProfileJson>,
}

#[derive(Deserialize)]
struct Shared {
    frames: Vec<Frame>,
}

#[derive(Deserialize)]
struct Frame {
    name: String,
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct ProfileJson {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    unit: String,
    start_value: f64,
    #[serde(default)]
    samples: Vec<Vec<i64>>,
    #[serde(default)]
    weights: Vec<f64>,
    #[serde(default)]
    events: Vec<Event>,
}

#[derive(Deserialize, Clone)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    frame: i64,
    at: f64,
}

/// How a profile's values are expressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Values {
    /// Sample counts: scaled by 1e9/sampleRate for CPU and wall types.
    Samples,
    /// Nanoseconds, ready to store.
    Nanoseconds,
    /// Bytes, stored as they are.
    Bytes,
}

/// One speedscope profile, ready to become a series.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// Its `name` (becomes the `profile_name` label).
    pub name: String,
    /// How its values are expressed.
    pub values: Values,
    /// Stacks with values.
    pub samples: Vec<NamedSample>,
}

fn bad(why: impl std::fmt::Display) -> Error {
    IngestError::InvalidSpeedscope {
        reason: why.to_string(),
    }
    .into()
}

/// Parses a speedscope file into one [`Parsed`] per (merged) profile.
pub fn parse(body: &[u8]) -> Result<Vec<Parsed>> {
    let file: File = serde_json::from_slice(body).map_err(bad)?;
    if file.schema != SCHEMA {
        return Err(bad(format!("unknown $schema `{}`", file.schema)));
    }
    // Merge profiles that only a speedscope viewer tells apart.
    let mut merged: BTreeMap<(String, String, String, u64), ProfileJson> = BTreeMap::new();
    for p in file.profiles {
        let key = (
            p.name.clone(),
            p.kind.clone(),
            p.unit.clone(),
            p.start_value.to_bits(),
        );
        match merged.get_mut(&key) {
            Some(m) => {
                m.samples.extend(p.samples);
                m.weights.extend(p.weights);
                m.events.extend(p.events);
            }
            None => {
                merged.insert(key, p);
            }
        }
    }
    let names: Vec<&str> = file.shared.frames.iter().map(|f| f.name.as_str()).collect();
    merged.into_values().map(|p| one(&p, &names)).collect()
}

fn one(p: &ProfileJson, frames: &[&str]) -> Result<Parsed> {
    let (values, to_value): (Values, f64) = match p.unit.as_str() {
        "none" => (Values::Samples, 1.0),
        "nanoseconds" => (Values::Nanoseconds, 1.0),
        "microseconds" => (Values::Nanoseconds, 1e3),
        "milliseconds" => (Values::Nanoseconds, 1e6),
        "seconds" => (Values::Nanoseconds, 1e9),
        "bytes" => (Values::Bytes, 1.0),
        other => return Err(bad(format!("unknown unit `{other}`"))),
    };
    let frame = |id: i64| -> Result<String> {
        usize::try_from(id)
            .ok()
            .and_then(|i| frames.get(i))
            .map(|s| s.to_string())
            .ok_or_else(|| bad(format!("frame {id} does not exist")))
    };
    let value = |w: f64| -> Result<i64> {
        if !w.is_finite() || w < 0.0 {
            return Err(bad(format!("weight {w} is not a non-negative number")));
        }
        Ok((w * to_value).round() as i64)
    };
    let mut samples = Vec::new();
    match p.kind.as_str() {
        "sampled" => {
            if p.samples.len() != p.weights.len() {
                return Err(bad(format!(
                    "{} samples but {} weights",
                    p.samples.len(),
                    p.weights.len()
                )));
            }
            for (stack, w) in p.samples.iter().zip(&p.weights) {
                let stack = stack
                    .iter()
                    .map(|id| frame(*id))
                    .collect::<Result<Vec<_>>>()?;
                samples.push(NamedSample {
                    stack,
                    value: value(*w)?,
                });
            }
        }
        "evented" => {
            let mut open: Vec<i64> = Vec::new();
            let mut last = p.start_value;
            for e in &p.events {
                if e.at < last {
                    return Err(bad(format!("events out of order at {}", e.at)));
                }
                frame(e.frame)?;
                // Time since the previous event belongs to the stack open until now.
                if !open.is_empty() && e.at > last {
                    let stack = open
                        .iter()
                        .map(|id| frame(*id))
                        .collect::<Result<Vec<_>>>()?;
                    samples.push(NamedSample {
                        stack,
                        value: value(e.at - last)?,
                    });
                }
                match e.kind.as_str() {
                    "O" => open.push(e.frame),
                    "C" => {
                        if open.pop() != Some(e.frame) {
                            return Err(bad(format!("closing frame {} that is not open", e.frame)));
                        }
                    }
                    other => return Err(bad(format!("unknown event type `{other}`"))),
                }
                last = e.at;
            }
        }
        other => return Err(bad(format!("unknown profile type `{other}`"))),
    }
    Ok(Parsed {
        name: p.name.clone(),
        values,
        samples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    fn corpus(name: &str) -> Vec<u8> {
        crate::testing::corpus(&format!("speedscope/{name}"))
    }

    fn folded(p: &Parsed) -> Vec<(String, i64)> {
        let mut m: BTreeMap<String, i64> = BTreeMap::new();
        for s in &p.samples {
            *m.entry(s.stack.join(";")).or_default() += s.value;
        }
        m.into_iter().collect()
    }

    #[test]
    fn sampled_in_seconds() {
        let parsed = parse(&corpus("two-sampled.speedscope.json")).unwrap();
        assert_eq!(
            parsed.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            ["one", "two"]
        );
        for p in &parsed {
            assert_eq!(p.values, Values::Nanoseconds);
            let s = 1_000_000_000;
            assert_eq!(
                folded(p),
                [
                    ("a;b".into(), 5 * s),
                    ("a;b;c".into(), 5 * s),
                    ("a;b;d".into(), 4 * s)
                ]
            );
        }
    }

    #[test]
    fn duplicates_are_merged() {
        // All three share name, type, unit and start: one profile, three times the values.
        let parsed = parse(&corpus("duplicates.speedscope.json")).unwrap();
        assert_eq!(parsed.len(), 1);
        let s = 1_000_000_000;
        assert_eq!(
            folded(&parsed[0]),
            [
                ("a;b".into(), 15 * s),
                ("a;b;c".into(), 15 * s),
                ("a;b;d".into(), 12 * s)
            ]
        );
    }

    #[test]
    fn bytes_and_evented() {
        let parsed = parse(&corpus("two-sampled-bytes.speedscope.json")).unwrap();
        assert!(parsed.iter().all(|p| p.values == Values::Bytes));
        assert_eq!(
            folded(&parsed[0]),
            [("a;b".into(), 5), ("a;b;c".into(), 5), ("a;b;d".into(), 4)]
        );
        let simple = parse(&corpus("simple.speedscope.json")).unwrap();
        assert_eq!(simple.len(), 1);
        assert_eq!(simple[0].name, "simple.txt");
        assert_eq!(simple[0].values, Values::Samples);
        assert_eq!(
            folded(&simple[0]),
            [("a;b".into(), 5), ("a;b;c".into(), 5), ("a;b;d".into(), 4)]
        );
    }

    #[test]
    fn errors() {
        let wrap = |profile: &str| {
            format!(
                r#"{{"$schema":"{SCHEMA}","shared":{{"frames":[{{"name":"a"}}]}},"profiles":[{profile}]}}"#
            )
        };
        for bad in [
            r#"{"type":"sampled","name":"x","unit":"parsecs","startValue":0,"samples":[[0]],"weights":[1]}"#,
            r#"{"type":"sampled","name":"x","unit":"none","startValue":0,"samples":[[1]],"weights":[1]}"#,
            r#"{"type":"sampled","name":"x","unit":"none","startValue":0,"samples":[[0]],"weights":[]}"#,
            r#"{"type":"sampled","name":"x","unit":"none","startValue":0,"samples":[[0]],"weights":[-1]}"#,
            r#"{"type":"evented","name":"x","unit":"none","startValue":0,"events":[{"type":"C","frame":0,"at":1}]}"#,
            r#"{"type":"evented","name":"x","unit":"none","startValue":5,"events":[{"type":"O","frame":0,"at":1}]}"#,
            r#"{"type":"weird","name":"x","unit":"none","startValue":0}"#,
        ] {
            assert!(parse(wrap(bad).as_bytes()).is_err(), "{bad}");
        }
        assert!(parse(b"{}").is_err());
        assert!(parse(br#"{"$schema":"other","shared":{"frames":[]},"profiles":[]}"#).is_err());
    }
}
