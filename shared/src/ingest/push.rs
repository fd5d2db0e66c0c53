//! The push API, `POST /push.v1.PusherService/Push` (Connect unary): a `PushRequest` of series
//! (labels + raw pprof samples), as binary protobuf (`application/proto`) or protojson
//! (`application/json`, `rawProfile` base64), the whole body optionally gzipped, decoded by
//! [`crate::wire::connect::decode`]. Used by `pyroscope-io`, the `pyroscope` crate, Grafana Alloy
//! and the .NET SDK.
//!
//! Every profile of a request goes into one segment, like any other upload. Unlike `/ingest`,
//! an unparseable or rejected pprof is a 400 (Connect `invalid_argument`).

use crate::Result;
use crate::limits::IngestLimits;
use crate::profile::{Labels, Profile, SERVICE_NAME, sanitize_label_name};
use crate::wire::proto::push::v1::PushRequest;

use super::IngestError;

use super::pprof;

pub use crate::wire::connect::Codec;

/// How many distinct label sets the request's series have.
pub fn label_sets(req: &PushRequest) -> usize {
    let sets: std::collections::HashSet<Vec<(&str, &str)>> = req
        .series
        .iter()
        .map(|s| {
            let mut set: Vec<_> = s
                .labels
                .iter()
                .map(|l| (l.name.as_str(), l.value.as_str()))
                .collect();
            set.sort_unstable();
            set
        })
        .collect();
    sets.len()
}

/// Converts a push request into profiles: each series' labels (which must name
/// `service_name`) apply to every profile of its samples; a `__name__` label overrides the
/// metric name derived from the sample types.
pub fn to_profiles(
    req: &PushRequest,
    limits: &IngestLimits,
    now_nanos: i64,
) -> Result<Vec<Profile>> {
    let mut out = Vec::new();
    // Profiles whose symbol tables repeat the last one's are converted over its dictionary.
    let mut batch = crate::wire::pprof::Batch::default();
    let mut run = pprof::Run::default();
    for series in &req.series {
        let labels: Labels = series
            .labels
            .iter()
            .map(|l| (sanitize_label_name(&l.name), l.value.clone()))
            .collect();
        if !labels.contains_key(SERVICE_NAME) {
            return Err(IngestError::MissingServiceName.into());
        }
        let spy = labels.get("pyroscope_spy").cloned().unwrap_or_default();
        for sample in &series.samples {
            if sample.raw_profile.is_empty() {
                continue;
            }
            // Repairs depend on the spy: tables are shared only under the same one.
            let (mut profile, same_tables) =
                batch.decode(&sample.raw_profile, limits.max_profile_bytes(), &spy)?;
            if !same_tables {
                out.extend(std::mem::take(&mut run).finish());
            }
            pprof::repair(&mut profile, &spy);
            run.add(&profile, &labels, None, now_nanos)?;
            batch.give_back(profile);
        }
    }
    out.extend(run.finish());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::connect::decode;
    use crate::wire::proto::push::v1::{RawProfileSeries, RawSample};
    use crate::wire::proto::types::v1::LabelPair;
    use base64::Engine;
    use prost::Message;

    fn request(raw: Vec<u8>) -> PushRequest {
        PushRequest {
            series: vec![RawProfileSeries {
                labels: vec![
                    LabelPair {
                        name: "service_name".into(),
                        value: "app".into(),
                    },
                    LabelPair {
                        name: "__name__".into(),
                        value: "process_cpu".into(),
                    },
                ],
                samples: vec![RawSample {
                    raw_profile: raw,
                    id: String::new(),
                }],
                annotations: vec![],
            }],
        }
    }

    #[test]
    fn binary_and_json_decode_to_the_same_request() {
        let raw = crate::testing::corpus("pprof/cpu.pb.gz");
        let req = request(raw.clone());
        let binary = decode::<PushRequest>(Codec::Proto, None, &req.encode_to_vec()).unwrap();
        assert_eq!(binary, req);
        let json = format!(
            r#"{{"series":[{{"labels":[{{"name":"service_name","value":"app"}},{{"name":"__name__","value":"process_cpu"}}],"samples":[{{"rawProfile":"{}"}}]}}]}}"#,
            base64::engine::general_purpose::STANDARD.encode(&raw)
        );
        assert_eq!(
            decode::<PushRequest>(Codec::Json, None, json.as_bytes()).unwrap(),
            req
        );
        let profiles = to_profiles(&req, &IngestLimits::default(), 1).unwrap();
        assert!(
            profiles
                .iter()
                .all(|p| p.series.labels["__name__"] == "process_cpu")
        );
        assert_eq!(profiles.len(), 2, "two sample types");
    }

    /// A profile as stored: its series, time, period and folded stacks.
    type Seen = (crate::profile::Series, i64, i64, Vec<(String, i64)>);

    fn seen(profiles: &[Profile]) -> Vec<Seen> {
        profiles
            .iter()
            .map(|p| {
                let mut folded: Vec<_> = p.folded().collect();
                folded.sort();
                (p.series.clone(), p.time_nanos, p.period, folded)
            })
            .collect()
    }

    #[test]
    fn profiles_with_repeated_tables_convert_as_they_do_one_by_one() {
        // Go resends its tables with every profile: the same tables, other samples.
        let cpu = crate::wire::pprof::decode(
            &crate::testing::corpus("pprof/go.cpu.labels.pprof"),
            crate::limits::DEFAULT_MAX_PROFILE_BYTES,
        )
        .unwrap();
        let mut later = cpu.clone();
        later.sample.retain(|s| s.value[0] % 2 == 0);
        later.time_nanos += 10_000_000_000;
        let raw =
            |p: &crate::wire::proto::google::v1::Profile| crate::testing::gzip(&p.encode_to_vec());
        let heap = crate::testing::corpus("pprof/heap.pb.gz");
        let mut req = request(raw(&cpu));
        let samples = [raw(&later), raw(&cpu), heap.clone(), heap, raw(&later)];
        for raw_profile in samples {
            req.series[0].samples.push(RawSample {
                raw_profile,
                id: String::new(),
            });
        }
        req.series.push(req.series[0].clone());
        req.series[1].labels.push(LabelPair {
            name: "pod".into(),
            value: "b".into(),
        });
        let together = to_profiles(&req, &IngestLimits::default(), 1).unwrap();
        let mut alone = Vec::new();
        for series in &req.series {
            let mut one = req.clone();
            one.series = vec![series.clone()];
            for sample in &series.samples {
                one.series[0].samples = vec![sample.clone()];
                alone.extend(to_profiles(&one, &IngestLimits::default(), 1).unwrap());
            }
        }
        assert_eq!(seen(&together), seen(&alone));
        // Runs of equal tables share a dictionary, across series too: cpu ×3, heap ×2,
        // then cpu (the last of the first series, the first three of the second), heap ×2,
        // cpu.
        let mut dicts = 0;
        for (k, p) in together.iter().enumerate() {
            if k == 0 || !std::sync::Arc::ptr_eq(&p.dict, &together[k - 1].dict) {
                dicts += 1;
            }
        }
        assert_eq!(dicts, 5);
        // And make the same segment.
        let segment = |profiles: &[Profile]| {
            let mut b = crate::storage::segment::SegmentBuilder::new("t");
            b.add_profiles(profiles);
            b.finish()
        };
        assert_eq!(segment(&together), segment(&alone));
    }

    #[test]
    fn errors() {
        assert_eq!(
            Codec::from_content_type(Some("text/plain"))
                .unwrap_err()
                .kind(),
            crate::ErrorKind::Unsupported
        );
        assert_eq!(
            Codec::from_content_type(Some("application/json; charset=utf-8")).unwrap(),
            Codec::Json
        );
        assert!(
            decode::<PushRequest>(
                Codec::Json,
                None,
                b"{\"series\":[{\"samples\":[{\"rawProfile\":\"@@\"}]}]}"
            )
            .is_err()
        );
        assert!(decode::<PushRequest>(Codec::Proto, Some("gzip"), b"not gzip").is_err());
        let bad = request(crate::testing::corpus("pprof/invalid_utf8.pb.gz"));
        // Rejected content (422 at /ingest) is a Connect invalid_argument (400) on Push.
        assert_eq!(
            crate::wire::connect::error_code(
                to_profiles(&bad, &IngestLimits::default(), 1)
                    .unwrap_err()
                    .kind()
            ),
            ("invalid_argument", 400)
        );
        let mut nameless = request(crate::testing::corpus("pprof/cpu.pb.gz"));
        nameless.series[0].labels.remove(0);
        assert!(to_profiles(&nameless, &IngestLimits::default(), 1).is_err());
    }
}
