//! The push API, `POST /push.v1.PusherService/Push` (Connect unary): a `PushRequest` of series
//! (labels + raw pprof samples), as binary protobuf (`application/proto`) or protojson
//! (`application/json`, `rawProfile` base64), the whole body optionally gzipped. Used by
//! `pyroscope-io`, the `pyroscope` crate, Grafana Alloy and the .NET SDK.
//!
//! Every profile of a request goes into one segment, like any other upload. Unlike `/ingest`,
//! an unparseable or rejected pprof is a 400 (Connect `invalid_argument`).

use base64::Engine;
use prost::Message;
use serde::Deserialize;

use crate::profile::{Labels, Profile, SERVICE_NAME, sanitize_label_name};
use crate::proto::push::v1::{PushRequest, RawProfileSeries, RawSample};
use crate::proto::types::v1::LabelPair;
use crate::{Error, Result};

use super::pprof;

pub use crate::connect::Codec;

#[derive(Deserialize)]
struct JsonRequest {
    #[serde(default)]
    series: Vec<JsonSeries>,
}

#[derive(Deserialize)]
struct JsonSeries {
    #[serde(default)]
    labels: Vec<JsonLabel>,
    #[serde(default)]
    samples: Vec<JsonSample>,
}

#[derive(Deserialize)]
struct JsonLabel {
    #[serde(default)]
    name: String,
    #[serde(default)]
    value: String,
}

#[derive(Deserialize)]
struct JsonSample {
    #[serde(default, rename = "rawProfile", alias = "raw_profile")]
    raw_profile: String,
    #[serde(default, rename = "ID")]
    id: String,
}

/// protojson's bytes: standard or URL-safe base64, padded or not.
fn base64_bytes(s: &str) -> Result<Vec<u8>> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    GeneralPurpose::new(&base64::alphabet::STANDARD, config)
        .decode(s)
        .or_else(|_| GeneralPurpose::new(&base64::alphabet::URL_SAFE, config).decode(s))
        .map_err(|e| Error::bad_input(format!("rawProfile is not base64: {e}")))
}

/// Decodes a push body: un-gzips it if `Content-Encoding: gzip` or the magic bytes say so
/// (bounded by [`super::MAX_BODY_BYTES`]), then parses it in `codec`.
pub fn decode_request(
    codec: Codec,
    content_encoding: Option<&str>,
    body: &[u8],
) -> Result<PushRequest> {
    let body = &super::decode_request_body(content_encoding, body)?[..];
    match codec {
        Codec::Proto => PushRequest::decode(body)
            .map_err(|e| Error::bad_input(format!("invalid PushRequest: {e}"))),
        Codec::Json => {
            let json: JsonRequest = serde_json::from_slice(body)
                .map_err(|e| Error::bad_input(format!("invalid PushRequest JSON: {e}")))?;
            let series = json
                .series
                .into_iter()
                .map(|s| {
                    Ok(RawProfileSeries {
                        labels: s
                            .labels
                            .into_iter()
                            .map(|l| LabelPair {
                                name: l.name,
                                value: l.value,
                            })
                            .collect(),
                        samples: s
                            .samples
                            .into_iter()
                            .map(|x| {
                                Ok(RawSample {
                                    raw_profile: base64_bytes(&x.raw_profile)?,
                                    id: x.id,
                                })
                            })
                            .collect::<Result<Vec<_>>>()?,
                        annotations: Vec::new(),
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(PushRequest { series })
        }
    }
}

/// Converts a push request into profiles: each series' labels (which must name
/// `service_name`) apply to every profile of its samples; a `__name__` label overrides the
/// metric name derived from the sample types.
pub fn to_profiles(req: &PushRequest, now_nanos: i64) -> Result<Vec<Profile>> {
    let mut out = Vec::new();
    for series in &req.series {
        let labels: Labels = series
            .labels
            .iter()
            .map(|l| (sanitize_label_name(&l.name), l.value.clone()))
            .collect();
        if !labels.contains_key(SERVICE_NAME) {
            return Err(Error::bad_input("a series has no `service_name` label"));
        }
        let spy = labels.get("pyroscope_spy").cloned().unwrap_or_default();
        for sample in &series.samples {
            if sample.raw_profile.is_empty() {
                continue;
            }
            let mut profile = crate::pprof::decode(&sample.raw_profile)?;
            pprof::repair(&mut profile, &spy);
            out.extend(pprof::to_profiles(&profile, &labels, None, now_nanos)?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let binary = decode_request(Codec::Proto, None, &req.encode_to_vec()).unwrap();
        assert_eq!(binary, req);
        let json = format!(
            r#"{{"series":[{{"labels":[{{"name":"service_name","value":"app"}},{{"name":"__name__","value":"process_cpu"}}],"samples":[{{"rawProfile":"{}"}}]}}]}}"#,
            base64::engine::general_purpose::STANDARD.encode(&raw)
        );
        assert_eq!(
            decode_request(Codec::Json, None, json.as_bytes()).unwrap(),
            req
        );
        let profiles = to_profiles(&req, 1).unwrap();
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
            decode_request(
                Codec::Json,
                None,
                b"{\"series\":[{\"samples\":[{\"rawProfile\":\"@@\"}]}]}"
            )
            .is_err()
        );
        assert!(decode_request(Codec::Proto, Some("gzip"), b"not gzip").is_err());
        let bad = request(crate::testing::corpus("pprof/invalid_utf8.pb.gz"));
        assert_eq!(
            to_profiles(&bad, 1).unwrap_err().kind(),
            crate::ErrorKind::BadInput
        );
        let mut nameless = request(crate::testing::corpus("pprof/cpu.pb.gz"));
        nameless.series[0].labels.remove(0);
        assert!(to_profiles(&nameless, 1).is_err());
    }
}
