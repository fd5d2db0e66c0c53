//! OTLP profiles: `POST /v1development/profiles` and
//! `/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export`, an
//! `ExportProfilesServiceRequest` as protobuf or OTLP/JSON, the body optionally gzipped.
//!
//! Each OTLP profile has one sample type; the reference server's conversions apply:
//! `samples:count` with a `cpu:nanoseconds` period becomes
//! `process_cpu:cpu:nanoseconds:cpu:nanoseconds` (counts × period); `off_cpu:nanoseconds` and
//! `events:nanoseconds` become `off_cpu:<type>:nanoseconds::`; anything else keeps its type
//! under `process_cpu`. A sample's several values (one per timestamp) are summed; a sample
//! with only timestamps counts them. `service_name` is the sample's `service.name`, else the
//! resource's, else `unknown_service[:<process.executable.name>]`; string attributes of the
//! resource, scope and sample become labels (dots as `_`).

use std::collections::BTreeMap;
use std::sync::Arc;

use prost::Message;

use crate::profile::{
    Dictionary, Function, Labels, Link, METRIC_NAME, Mapping, Profile, ProfileType, SERVICE_NAME,
    Sample, Series, Stack, sanitize_label_name, validate_labels,
};
use crate::wire::proto::opentelemetry::proto::collector::profiles::v1development::ExportProfilesServiceRequest;
use crate::wire::proto::opentelemetry::proto::common::v1::{KeyValue, any_value};
use crate::wire::proto::opentelemetry::proto::profiles::v1development::{
    Profile as OtlpProfile, ProfilesDictionary, Sample as OtlpSample,
};
use crate::{Error, Result};

use super::IngestError;

use super::push::Codec;

const SERVICE_NAME_ATTR: &str = "service.name";
const EXECUTABLE_ATTR: &str = "process.executable.name";

/// Decodes a request body: gzip (by `Content-Encoding` or the magic bytes, bounded), then
/// protobuf or OTLP/JSON. Not decodable: 400.
pub fn decode_request(
    codec: Codec,
    content_encoding: Option<&str>,
    body: &[u8],
) -> Result<ExportProfilesServiceRequest> {
    let body = &crate::wire::body::decode_request_body(content_encoding, body)?[..];
    match codec {
        Codec::Proto => {
            ExportProfilesServiceRequest::decode(body).map_err(|e| invalid_otlp("OTLP", e))
        }
        Codec::Json => serde_json::from_slice(body).map_err(|e| invalid_otlp("OTLP/JSON", e)),
    }
}

fn invalid_otlp(encoding: &'static str, e: impl std::fmt::Display) -> Error {
    IngestError::InvalidOtlp {
        encoding,
        reason: e.to_string(),
    }
    .into()
}

/// Converts every profile of a request.
pub fn to_profiles(req: &ExportProfilesServiceRequest, now_nanos: i64) -> Result<Vec<Profile>> {
    if req.resource_profiles.is_empty() {
        return Ok(Vec::new());
    }
    let dict = req
        .dictionary
        .as_ref()
        .ok_or(IngestError::OtlpNoDictionary)?;
    let mut out = Vec::new();
    for rp in &req.resource_profiles {
        let resource_attrs = rp.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
        let service = service_name(resource_attrs);
        for sp in &rp.scope_profiles {
            // Resource attributes first: the first value of a key wins.
            let mut labels = Labels::new();
            let scope_attrs = sp.scope.as_ref().map_or(&[][..], |s| &s.attributes[..]);
            for kv in resource_attrs.iter().chain(scope_attrs) {
                if let Some(any_value::Value::StringValue(v)) =
                    kv.value.as_ref().and_then(|v| v.value.as_ref())
                    && !v.is_empty()
                    && kv.key != SERVICE_NAME_ATTR
                {
                    labels
                        .entry(sanitize_label_name(&kv.key))
                        .or_insert_with(|| v.clone());
                }
            }
            for p in &sp.profiles {
                out.extend(convert(p, dict, &labels, &service, now_nanos)?);
            }
        }
    }
    Ok(out)
}

/// `service.name`, else `unknown_service` (with `:<process.executable.name>` if known).
fn service_name(attrs: &[KeyValue]) -> String {
    let string = |key: &str| {
        attrs
            .iter()
            .find_map(|kv| match kv.value.as_ref()?.value.as_ref()? {
                any_value::Value::StringValue(s) if kv.key == key && !s.is_empty() => {
                    Some(s.clone())
                }
                _ => None,
            })
    };
    string(SERVICE_NAME_ATTR).unwrap_or_else(|| match string(EXECUTABLE_ATTR) {
        Some(exe) => format!("unknown_service:{exe}"),
        None => "unknown_service".to_string(),
    })
}

fn at<'a, T>(table: &'a [T], index: i32, what: &'static str) -> Result<&'a T> {
    usize::try_from(index)
        .ok()
        .and_then(|i| table.get(i))
        .ok_or_else(|| {
            IngestError::OtlpIndex {
                table: what,
                index,
                len: table.len(),
            }
            .into()
        })
}

fn string(dict: &ProfilesDictionary, index: i32) -> Result<&str> {
    at(&dict.string_table, index, "string").map(String::as_str)
}

/// How a profile's values are turned into stored values.
#[derive(Debug, Clone, Copy)]
enum Conversion {
    /// Counts × period.
    SamplesToNanos(i64),
    /// Summed as they are.
    Sum,
}

fn convert(
    p: &OtlpProfile,
    dict: &ProfilesDictionary,
    base: &Labels,
    service: &str,
    now_nanos: i64,
) -> Result<Vec<Profile>> {
    let (profile_type, conversion, has_period) = profile_type(p, dict)?;
    let time = i64::try_from(p.time_unix_nano)
        .ok()
        .filter(|t| *t > 0)
        .unwrap_or(now_nanos);

    // Samples grouped by their series labels; one dictionary for all of them.
    let mut symbols = Dictionary::default();
    let mut stacks: crate::FastMap<i32, Stack> = crate::FastMap::default();
    let mut groups: BTreeMap<Labels, Vec<Sample>> = BTreeMap::new();
    for s in &p.samples {
        let value = sample_value(s, conversion)?;
        let mut labels = sample_labels(s, dict, base, service)?;
        labels.insert(METRIC_NAME.to_string(), profile_type.name.clone());
        let stack = match stacks.get(&s.stack_index) {
            Some(stack) => *stack,
            None => {
                let frames = frames(dict, &mut symbols, s.stack_index)?;
                let stack = symbols.stack(frames);
                stacks.insert(s.stack_index, stack);
                stack
            }
        };
        let link = link(dict, &mut symbols, s.link_index)?;
        groups
            .entry(labels)
            .or_default()
            .push(Sample { stack, value, link });
    }
    let symbols = Arc::new(symbols);
    let mut out = Vec::with_capacity(groups.len());
    for (labels, samples) in groups {
        validate_labels(&labels)?;
        out.push(super::normalize(Profile {
            series: Series {
                profile_type: profile_type.clone(),
                labels,
            },
            time_nanos: time,
            period: if has_period { p.period } else { 0 },
            dict: symbols.clone(),
            samples,
        })?);
    }
    Ok(out)
}

/// The profile type of an OTLP profile by the reference server's conversions, how its values
/// convert, and whether it has a period.
fn profile_type(
    p: &OtlpProfile,
    dict: &ProfilesDictionary,
) -> Result<(ProfileType, Conversion, bool)> {
    let st = p
        .sample_type
        .as_ref()
        .ok_or(IngestError::OtlpNoSampleType)?;
    let (ty, unit) = (
        string(dict, st.type_strindex)?,
        string(dict, st.unit_strindex)?,
    );
    let (pt, pu) = match &p.period_type {
        Some(v) if p.period != 0 => (
            string(dict, v.type_strindex)?,
            string(dict, v.unit_strindex)?,
        ),
        _ => ("", ""),
    };
    let (profile_type, conversion) = match (ty, unit, pt, pu) {
        ("samples", "count", "cpu", "nanoseconds") => (
            ProfileType::new("process_cpu", "cpu", "nanoseconds", "cpu", "nanoseconds"),
            Conversion::SamplesToNanos(p.period),
        ),
        ("off_cpu" | "events", "nanoseconds", _, _) => (
            ProfileType::new("off_cpu", ty, unit, "", ""),
            Conversion::Sum,
        ),
        _ => (
            ProfileType::new("process_cpu", ty, unit, pt, pu),
            Conversion::Sum,
        ),
    };
    Ok((profile_type, conversion, !pt.is_empty()))
}

/// A sample's value: its values summed, or its timestamps counted; converted.
fn sample_value(s: &OtlpSample, conversion: Conversion) -> Result<i64> {
    if s.values.is_empty() && s.timestamps_unix_nano.is_empty() {
        return Err(IngestError::OtlpEmptySample.into());
    }
    let value: i64 = if s.values.is_empty() {
        i64::try_from(s.timestamps_unix_nano.len()).unwrap_or(i64::MAX)
    } else {
        s.values.iter().fold(0i64, |a, v| a.saturating_add(*v))
    };
    Ok(match conversion {
        Conversion::SamplesToNanos(period) => value.saturating_mul(period),
        Conversion::Sum => value,
    })
}

/// A sample's series labels: the resource's and scope's, its own string attributes (dots as
/// `_`), and `service_name` from its `service.name` or the resource's.
fn sample_labels(
    s: &OtlpSample,
    dict: &ProfilesDictionary,
    base: &Labels,
    service: &str,
) -> Result<Labels> {
    let mut labels = base.clone();
    let mut svc = service.to_string();
    for &i in &s.attribute_indices {
        let attr = at(&dict.attribute_table, i, "attribute")?;
        let key = string(dict, attr.key_strindex)?;
        if let Some(any_value::Value::StringValue(v)) =
            attr.value.as_ref().and_then(|v| v.value.as_ref())
            && !v.is_empty()
        {
            if key == SERVICE_NAME_ATTR {
                svc = v.clone();
            } else {
                labels.insert(sanitize_label_name(key), v.clone());
            }
        }
    }
    labels.insert(SERVICE_NAME.to_string(), svc);
    Ok(labels)
}

/// The trace and span of a sample (`link_index` 0 is OTLP's empty link).
fn link(dict: &ProfilesDictionary, symbols: &mut Dictionary, index: i32) -> Result<u32> {
    if index == 0 {
        return Ok(0);
    }
    let l = at(&dict.link_table, index, "link")?;
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    Ok(symbols.link(Link {
        span_id: hex(&l.span_id),
        trace_id: hex(&l.trace_id),
        profile_id: String::new(),
    }))
}

/// Root-first frames of a stack, by pprof's rule for locations ([`Dictionary::location`]).
fn frames(dict: &ProfilesDictionary, symbols: &mut Dictionary, index: i32) -> Result<Vec<u32>> {
    let stack = at(&dict.stack_table, index, "stack")?;
    let mut out = Vec::with_capacity(stack.location_indices.len());
    // OTLP lists a stack's locations leaf first.
    for &l in stack.location_indices.iter().rev() {
        let location = at(&dict.location_table, l, "location")?;
        // Index 0 of every OTLP table is the empty entry.
        let mapping = match location.mapping_index {
            0 => None,
            i => {
                let m = at(&dict.mapping_table, i, "mapping")?;
                Some(symbols.mapping(Mapping {
                    memory_start: m.memory_start,
                    memory_limit: m.memory_limit,
                    file_offset: m.file_offset,
                    filename: string(dict, m.filename_strindex)?.to_string(),
                    ..Mapping::default()
                }))
            }
        };
        let lines = location
            .lines
            .iter()
            .map(|line| {
                let f = at(&dict.function_table, line.function_index, "function")?;
                Ok((
                    Function {
                        name: string(dict, f.name_strindex)?.to_string(),
                        system_name: string(dict, f.system_name_strindex)?.to_string(),
                        filename: string(dict, f.filename_strindex)?.to_string(),
                        start_line: f.start_line,
                    },
                    line.line,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        out.extend(symbols.location(mapping, location.address, lines));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::corpus;

    /// Per-stack totals (root-first `;`-joined function names) of an expected output file (the
    /// merged `unknown_service` profile of one type): a JSON list of samples with leaf-first locations whose lines read `name[system]@file:line`.
    fn expected(name: &str) -> BTreeMap<String, i64> {
        let v: serde_json::Value =
            serde_json::from_slice(&corpus(&format!("otlp/{name}"))).unwrap();
        let mut out = BTreeMap::new();
        for s in v["samples"].as_array().unwrap() {
            let mut frames: Vec<String> = Vec::new();
            for l in s["locations"].as_array().unwrap() {
                for line in l["lines"].as_array().unwrap() {
                    let line = line.as_str().unwrap();
                    let (name_sys, _) = line.rsplit_once("]@").unwrap();
                    let (name, _) = name_sys.rsplit_once('[').unwrap();
                    frames.push(name.to_string());
                }
            }
            frames.reverse();
            let value: i64 = s["values"].as_str().unwrap().parse().unwrap();
            *out.entry(frames.join(";")).or_insert(0) += value;
        }
        out
    }

    /// Per-stack totals of one metric of the `unknown_service` series.
    fn totals(ps: &[Profile], name: &str) -> BTreeMap<String, i64> {
        let mut out = BTreeMap::new();
        for p in ps.iter().filter(|p| {
            p.series.profile_type.name == name && p.series.labels[SERVICE_NAME] == "unknown_service"
        }) {
            for (stack, value) in p.folded() {
                *out.entry(stack).or_insert(0) += value;
            }
        }
        out
    }

    #[test]
    fn ebpf_profiler_export_matches_the_expected_outputs() {
        let body = corpus("otlp/otel-ebpf-profile.pb.bin");
        let req = decode_request(Codec::Proto, None, &body).unwrap();
        let ps = to_profiles(&req, 1).unwrap();
        assert_eq!(
            totals(&ps, "process_cpu"),
            expected("otel-ebpf-profile-cpu.out.json")
        );
        assert_eq!(
            totals(&ps, "off_cpu"),
            expected("otel-ebpf-profile-offcpu.out.json")
        );
        // Thread names are series labels; the service falls back as the reference does.
        assert!(
            ps.iter()
                .all(|p| p.series.labels.contains_key("thread_name"))
        );
        assert!(
            ps.iter()
                .all(|p| p.series.labels[SERVICE_NAME].starts_with("unknown_service"))
        );
    }

    #[test]
    fn otlp_json_is_read_like_protobuf() {
        let json = br#"{
          "resourceProfiles": [{
            "resource": {"attributes": [
              {"key": "service.name", "value": {"stringValue": "checkout"}},
              {"key": "host.name", "value": {"stringValue": "h1"}},
              {"key": "process.pid", "value": {"intValue": "42"}}
            ]},
            "scopeProfiles": [{"profiles": [{
              "sampleType": {"typeStrindex": 1, "unitStrindex": 2},
              "periodType": {"typeStrindex": 3, "unitStrindex": 4},
              "period": "10000000",
              "timeUnixNano": "1700000000000000000",
              "samples": [
                {"stackIndex": 1, "values": ["3"]},
                {"stackIndex": 1, "timestampsUnixNano": ["1700000000000000001", "1700000000000000002"]}
              ]
            }]}]
          }],
          "dictionary": {
            "stringTable": ["", "samples", "count", "cpu", "nanoseconds", "main", "work"],
            "functionTable": [{}, {"nameStrindex": 5}, {"nameStrindex": 6}],
            "locationTable": [{}, {"lines": [{"functionIndex": 2}]}, {"lines": [{"functionIndex": 1, "line": "12"}]}],
            "stackTable": [{}, {"locationIndices": [1, 2]}],
            "linkTable": [{}, {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174"}]
          }
        }"#;
        let req = decode_request(Codec::Json, None, json).unwrap();
        let ps = to_profiles(&req, 1).unwrap();
        assert_eq!(ps.len(), 1);
        let p = &ps[0];
        assert_eq!(
            p.series.profile_type.id(),
            "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
        );
        assert_eq!(p.series.labels[SERVICE_NAME], "checkout");
        assert_eq!(p.series.labels["host_name"], "h1");
        assert_eq!(p.time_nanos, 1_700_000_000_000_000_000);
        let total: i64 = p.samples.iter().map(|s| s.value).sum();
        assert_eq!(total, 50_000_000);
        assert_eq!(p.names(&p.samples[0]).collect::<Vec<_>>(), ["main", "work"]);
    }

    #[test]
    fn bad_requests_are_400s() {
        let e = decode_request(Codec::Proto, None, b"\xff\xff\xff").unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::BadInput);
        let e = decode_request(Codec::Json, None, b"{\"resourceProfiles\": 3}").unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::BadInput);
        // A stack index pointing nowhere.
        let json = br#"{"resourceProfiles": [{"scopeProfiles": [{"profiles": [{
            "sampleType": {"typeStrindex": 1, "unitStrindex": 1},
            "samples": [{"stackIndex": 9, "values": ["1"]}]}]}]}],
          "dictionary": {"stringTable": ["", "x"]}}"#;
        let req = decode_request(Codec::Json, None, json).unwrap();
        let e = to_profiles(&req, 1).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::BadInput);
        assert!(e.to_string().contains("stack index 9"), "{e}");
    }
}
