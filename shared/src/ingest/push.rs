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
            let mut profile =
                crate::wire::pprof::decode(&sample.raw_profile, limits.max_profile_bytes())?;
            pprof::repair(&mut profile, &spy);
            out.extend(pprof::to_profiles(&profile, &labels, None, now_nanos)?);
        }
    }
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
