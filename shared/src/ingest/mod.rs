//! Ingest: an upload becomes normalised [`Profile`]s, then one immutable L0 segment, written
//! with one create-only put. The caller answers 200 only after [`ingest`] returns `Ok`, so an
//! acknowledged upload is durable; on any error nothing is written.
//!
//! Formats are chosen as api.md says: `format=trie`, `tree`, `lines`, `jfr`, `pprof`,
//! `speedscope`, then any `multipart/form-data`, else folded.

pub mod folded;
pub mod jfr;
pub mod legacy;
pub mod multipart;
pub mod name;
pub mod otlp;
pub mod pprof;
pub mod push;
pub mod speedscope;

use speedscope::Values;

use std::io::Read;

use bytes::Bytes;
use ulid::Ulid;

use crate::keys::{HOUR_NANOS, Level, SegmentKey};
use crate::profile::{
    Labels, METRIC_NAME, NamedSample, Profile, SERVICE_NAME, Series, validate_labels,
};
use crate::segment::{self, SegmentBuilder};
use crate::store::{ObjectStore, PutMode, StoreError};
use crate::tenant::Tenant;
use crate::time::parse_ingest_time;
use crate::{Error, Result};

/// Largest request body accepted (raw bytes on the wire).
pub const MAX_BODY_BYTES: usize = 256 << 20;
/// Largest decoded (decompressed) profile: bounds what a gzip bomb can make us allocate.
pub const MAX_PROFILE_DECODED_BYTES: usize = 4 << 20;
/// Most samples (distinct stacks) in one profile.
pub const MAX_SAMPLES_PER_PROFILE: usize = 16_000;
/// Deeper stacks keep their 1000 root-most frames.
pub const MAX_STACK_DEPTH: usize = 1000;
pub use crate::profile::MAX_SYMBOL_BYTES;
/// The profiles of one request must lie within this span, so that a query reading the L0 day
/// of `from − MAX_REQUEST_SPAN` finds every segment overlapping its range.
pub const MAX_REQUEST_SPAN_NANOS: i64 = HOUR_NANOS;
/// Default `sampleRate` of the text formats (Hz).
pub const DEFAULT_SAMPLE_RATE: u32 = 100;

/// An ingest request as the HTTP adapter hands it over.
#[derive(Debug, Clone, Copy)]
pub struct IngestRequest<'a> {
    /// Query parameters, in order.
    pub params: &'a [(String, String)],
    /// The `Content-Type` header, if any.
    pub content_type: Option<&'a str>,
    /// The raw body.
    pub body: &'a [u8],
}

impl IngestRequest<'_> {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What an accepted request stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestOutcome {
    /// The key of the segment written, `None` if the upload held no samples.
    pub key: Option<String>,
    /// Profiles stored.
    pub profiles: usize,
    /// Sample rows stored.
    pub samples: usize,
}

/// Parses an upload and stores it as one L0 segment.
pub fn ingest(
    store: &dyn ObjectStore,
    tenant: &Tenant,
    req: &IngestRequest<'_>,
    now_nanos: i64,
) -> Result<IngestOutcome> {
    let profiles = parse(req, now_nanos)?;
    store_profiles(store, tenant, &profiles)
}

/// Handles a push request (`/push.v1.PusherService/Push`): decodes it and stores all its
/// profiles as one L0 segment.
pub fn push(
    store: &dyn ObjectStore,
    tenant: &Tenant,
    codec: push::Codec,
    content_encoding: Option<&str>,
    body: &[u8],
    now_nanos: i64,
) -> Result<IngestOutcome> {
    let req: crate::proto::push::v1::PushRequest =
        crate::connect::decode(codec, content_encoding, body)?;
    let profiles = push::to_profiles(&req, now_nanos)?;
    store_profiles(store, tenant, &profiles)
}

/// Handles an OTLP profiles export (`/v1development/profiles`): decodes it and stores all its
/// profiles as one L0 segment.
pub fn export_otlp(
    store: &dyn ObjectStore,
    tenant: &Tenant,
    codec: push::Codec,
    content_encoding: Option<&str>,
    body: &[u8],
    now_nanos: i64,
) -> Result<IngestOutcome> {
    let req = otlp::decode_request(codec, content_encoding, body)?;
    let profiles = otlp::to_profiles(&req, now_nanos)?;
    store_profiles(store, tenant, &profiles)
}

/// Parses an upload into profiles without storing anything.
pub fn parse(req: &IngestRequest<'_>, now_nanos: i64) -> Result<Vec<Profile>> {
    if req.body.len() > MAX_BODY_BYTES {
        return Err(Error::TooLarge(format!(
            "request body is {} bytes, more than {MAX_BODY_BYTES}",
            req.body.len()
        )));
    }
    let format = req.param("format").unwrap_or("");
    let multipart = req.content_type.is_some_and(|c| {
        c.trim_start()
            .to_ascii_lowercase()
            .starts_with("multipart/form-data")
    });
    match format {
        "folded" | "lines" | "trie" | "tree" | "speedscope" if multipart => {
            return Err(unsupported(&format!(
                "multipart/form-data with format `{format}`"
            )));
        }
        "" | "folded" | "lines" | "trie" | "tree" | "speedscope" | "pprof" | "jfr" => {}
        other => return Err(Error::bad_input(format!("unknown format `{other}`"))),
    }
    let name = req
        .param("name")
        .ok_or_else(|| Error::bad_input("missing `name` parameter"))?;
    let name = name::parse(name)?;
    let from = match req.param("from") {
        Some(v) => parse_ingest_time("from", v)?,
        None => now_nanos,
    };
    if let Some(v) = req.param("until") {
        parse_ingest_time("until", v)?;
    }
    if format == "jfr" {
        return parse_jfr(req, &name, from, multipart);
    }
    if format == "pprof" || multipart {
        return parse_pprof(req, &name, from, multipart);
    }
    let (profile_type, scaled) = crate::profile::ProfileType::from_legacy_suffix(
        name.suffix.as_deref(),
    )
    .ok_or_else(|| {
        Error::bad_input(format!(
            "unknown profile type suffix `{}` in name `{}`",
            name.suffix.as_deref().unwrap_or(""),
            name.full
        ))
    })?;
    let sample_rate = sample_rate(req)?;

    let body = decode_body(req.body)?;
    let text = || {
        std::str::from_utf8(&body)
            .map_err(|e| Error::bad_input(format!("body is not UTF-8 text: {e}")))
    };
    // Each part becomes one profile: (extra labels, samples, how values are expressed).
    let parts: Vec<(Labels, Vec<NamedSample>, Values)> = match format {
        "lines" => vec![(
            Labels::new(),
            folded::parse_lines(text()?)?,
            Values::Samples,
        )],
        "trie" => vec![(Labels::new(), legacy::parse_trie(&body)?, Values::Samples)],
        "tree" => vec![(Labels::new(), legacy::parse_tree(&body)?, Values::Samples)],
        "speedscope" => speedscope::parse(&body)?
            .into_iter()
            .map(|p| {
                (
                    Labels::from([("profile_name".to_string(), p.name)]),
                    p.samples,
                    p.values,
                )
            })
            .collect(),
        _ => vec![(
            Labels::new(),
            folded::parse_folded(text()?)?,
            Values::Samples,
        )],
    };

    let mut labels: Labels = name.tags.clone();
    labels.insert(SERVICE_NAME.to_string(), name.app.clone());
    labels.insert(METRIC_NAME.to_string(), profile_type.name.clone());
    if let Some(spy) = req.param("spyName").filter(|s| !s.is_empty()) {
        labels.insert("pyroscope_spy".to_string(), spy.to_string());
    }
    let mut profiles = Vec::with_capacity(parts.len());
    for (extra, mut samples, values) in parts {
        match values {
            Values::Samples if scaled => {
                let factor = 1e9 / sample_rate as f64;
                for s in &mut samples {
                    s.value = (s.value as f64 * factor).round() as i64;
                }
            }
            Values::Samples => {}
            Values::Nanoseconds | Values::Bytes => {
                let unit = if values == Values::Bytes {
                    "bytes"
                } else {
                    "nanoseconds"
                };
                if profile_type.sample_unit != unit {
                    return Err(Error::bad_input(format!(
                        "values in {unit} do not fit profile type `{profile_type}` of name `{}`: choose a suffix with unit {unit}",
                        name.full
                    )));
                }
            }
        }
        let mut labels = labels.clone();
        labels.extend(extra);
        validate_labels(&labels)?;
        let series = Series {
            profile_type: profile_type.clone(),
            labels,
        };
        let mut profile = Profile::from_named(series, from, samples);
        if scaled {
            // Samples were taken `sampleRate` times a second.
            profile.period = 1_000_000_000 / i64::from(sample_rate.max(1));
        }
        profiles.push(normalize(profile)?);
    }
    Ok(profiles)
}

/// Parses a pprof upload: a raw body, or a multipart form with `profile`, optional
/// `sample_type_config` and `prev_profile` (from old clients that send cumulative profiles:
/// rejected). `service_name` is the whole name before `{`.
fn parse_pprof(
    req: &IngestRequest<'_>,
    name: &name::AppName,
    from: i64,
    multipart: bool,
) -> Result<Vec<Profile>> {
    let (profile_bytes, config) = match req.content_type {
        Some(ct) if multipart => {
            let mut fields = multipart::fields(ct, req.body)?;
            if fields.get("prev_profile").is_some_and(|p| !p.is_empty()) {
                return Err(Error::Rejected(
                    "prev_profile (cumulative profiles from old clients) is not supported: update the client".into(),
                ));
            }
            let config = fields
                .get("sample_type_config")
                .map(|c| pprof::parse_config(c))
                .transpose()?;
            let profile = fields
                .remove("profile")
                .ok_or_else(|| Error::bad_input("multipart body has no `profile` field"))?;
            (profile, config)
        }
        _ => (req.body.to_vec(), None),
    };
    let spy = req.param("spyName").unwrap_or("");
    // Not protobuf at all: 400; protobuf with rejected content (invalid UTF-8): 422.
    let mut profile = crate::pprof::decode(&profile_bytes).map_err(|e| match e {
        Error::Pprof(e @ crate::pprof::PprofError::InvalidUtf8(_)) => {
            Error::Rejected(e.to_string())
        }
        other => other,
    })?;
    pprof::repair(&mut profile, spy);
    pprof::to_profiles(
        &profile,
        &full_name_labels(req, name),
        config.as_ref(),
        from,
    )
}

/// The `sampleRate` parameter (Hz), default [`DEFAULT_SAMPLE_RATE`].
fn sample_rate(req: &IngestRequest<'_>) -> Result<u32> {
    match req.param("sampleRate") {
        None | Some("") => Ok(DEFAULT_SAMPLE_RATE),
        Some(v) => v.parse::<u32>().ok().filter(|r| *r > 0).ok_or_else(|| {
            Error::bad_input(format!(
                "invalid sampleRate `{v}`: expected a positive integer"
            ))
        }),
    }
}

/// Parses a JFR upload: the recording as the raw body, or a multipart form with `jfr` and
/// optional `labels` (a LabelsSnapshot); either may be gzipped. `service_name` is the whole
/// name before `{`, as the Java client sends the bare application name.
fn parse_jfr(
    req: &IngestRequest<'_>,
    name: &name::AppName,
    from: i64,
    multipart: bool,
) -> Result<Vec<Profile>> {
    let (recording, labels) = match req.content_type {
        Some(ct) if multipart => {
            let mut fields = multipart::fields(ct, req.body)?;
            let recording = fields
                .remove("jfr")
                .ok_or_else(|| Error::bad_input("multipart body has no `jfr` field"))?;
            let labels = fields
                .get("labels")
                .filter(|l| !l.is_empty())
                .map(|l| jfr::decode_labels(l))
                .transpose()?;
            (decode_body(&recording)?, labels)
        }
        _ => (decode_body(req.body)?, None),
    };
    let base = full_name_labels(req, name);
    jfr::to_profiles(&recording, labels.as_ref(), &base, sample_rate(req)?, from)
}

/// The series labels of binary formats (pprof, JFR): the name's tags, `service_name` = the
/// whole name before `{`, and the spy name if given.
fn full_name_labels(req: &IngestRequest<'_>, name: &name::AppName) -> Labels {
    let mut base: Labels = name.tags.clone();
    base.insert(SERVICE_NAME.to_string(), name.full.clone());
    if let Some(spy) = req.param("spyName").filter(|s| !s.is_empty()) {
        base.insert("pyroscope_spy".to_string(), spy.to_string());
    }
    base
}

fn unsupported(what: &str) -> Error {
    Error::Unsupported(format!("{what} uploads are not supported"))
}

/// Tells whether bytes start with the gzip magic number.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// Decompresses gzip (possibly several members), stopping past `limit` bytes of output so
/// that a gzip bomb costs at most `limit` bytes: over it is a 413 naming `what`.
pub fn gunzip(gz: &[u8], limit: usize, what: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(gz)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| Error::bad_input(format!("invalid gzip body: {e}")))?;
    if out.len() > limit {
        return Err(Error::TooLarge(format!(
            "{what} is larger than {limit} bytes"
        )));
    }
    Ok(out)
}

/// Decompresses a request body that is gzipped as a whole (`Content-Encoding: gzip`, or by
/// its magic bytes), bounded by [`MAX_BODY_BYTES`]; anything else is borrowed as is.
pub fn decode_request_body<'a>(
    content_encoding: Option<&str>,
    body: &'a [u8],
) -> Result<std::borrow::Cow<'a, [u8]>> {
    let gzipped =
        content_encoding.is_some_and(|e| e.trim().eq_ignore_ascii_case("gzip")) || is_gzip(body);
    if gzipped {
        gunzip(body, MAX_BODY_BYTES, "decompressed request body").map(std::borrow::Cow::Owned)
    } else {
        Ok(std::borrow::Cow::Borrowed(body))
    }
}

/// Decompresses a gzip body (sniffed by its magic bytes), bounded by
/// [`MAX_PROFILE_DECODED_BYTES`]; anything else is returned as is.
pub fn decode_body(body: &[u8]) -> Result<Bytes> {
    if is_gzip(body) {
        return gunzip(body, MAX_PROFILE_DECODED_BYTES, "decoded profile").map(Bytes::from);
    }
    if body.len() > MAX_PROFILE_DECODED_BYTES {
        return Err(too_large_decoded());
    }
    Ok(Bytes::copy_from_slice(body))
}

fn too_large_decoded() -> Error {
    Error::TooLarge(format!(
        "decoded profile is larger than {MAX_PROFILE_DECODED_BYTES} bytes"
    ))
}

/// Applies the per-profile limits: drops zero values, truncates deep stacks and long names,
/// and rejects profiles with too many samples.
pub fn normalize(mut profile: Profile) -> Result<Profile> {
    profile
        .samples
        .retain(|s| s.value != 0 && !s.stack.is_empty());
    if profile.samples.len() > MAX_SAMPLES_PER_PROFILE {
        return Err(Error::TooLarge(format!(
            "profile has {} samples, more than {MAX_SAMPLES_PER_PROFILE}",
            profile.samples.len()
        )));
    }
    // Symbols were cut to MAX_SYMBOL_BYTES when they entered the dictionary.
    for s in &mut profile.samples {
        s.stack.truncate(MAX_STACK_DEPTH);
    }
    Ok(profile)
}

/// Writes profiles as one L0 segment with one create-only put; `key: None` when there are no
/// samples (nothing is written).
pub fn store_profiles(
    store: &dyn ObjectStore,
    tenant: &Tenant,
    profiles: &[Profile],
) -> Result<IngestOutcome> {
    let mut builder = SegmentBuilder::new(tenant.as_str());
    for p in profiles {
        builder.add_profile(p);
    }
    let data = builder.finish();
    let Some((min, max)) = data.time_range() else {
        return Ok(IngestOutcome {
            key: None,
            profiles: 0,
            samples: 0,
        });
    };
    if max - min > MAX_REQUEST_SPAN_NANOS {
        return Err(Error::bad_input(
            "profiles in one request span more than 1h: send them separately",
        ));
    }
    let bytes = Bytes::from(segment::encode(&data)?);
    // A fresh ULID cannot collide in practice; retrying keeps create-only honest if it does.
    let mut attempts = 0;
    loop {
        let key = SegmentKey::new(tenant, Level::L0, min, Ulid::new()).to_string();
        match store.put(&key, bytes.clone(), PutMode::Create) {
            Ok(()) => {
                return Ok(IngestOutcome {
                    key: Some(key),
                    profiles: profiles.len(),
                    samples: data.samples.len(),
                });
            }
            Err(StoreError::AlreadyExists { .. }) if attempts < 3 => attempts += 1,
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    fn params(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn folded_cpu_is_scaled() {
        let p = params(&[
            ("name", "app.cpu{env=prod}"),
            ("from", "1700000000"),
            ("sampleRate", "100"),
        ]);
        let req = IngestRequest {
            params: &p,
            content_type: None,
            body: b"a;b 2\n",
        };
        let profiles = parse(&req, 0).unwrap();
        assert_eq!(profiles[0].samples[0].value, 20_000_000);
        assert_eq!(profiles[0].series.labels["service_name"], "app");
        assert_eq!(profiles[0].series.labels["__name__"], "process_cpu");
        assert_eq!(profiles[0].series.labels["env"], "prod");
        assert_eq!(profiles[0].time_nanos, 1_700_000_000_000_000_000);
    }

    #[test]
    fn errors_store_nothing() {
        let store = MemoryStore::default();
        let tenant = Tenant::from_header(None).unwrap();
        for (p, body) in [
            (params(&[("name", "app.bogus")]), &b"a 1"[..]),
            (params(&[("name", "app.cpu")]), b"a;b"),
            (
                params(&[("name", "app.cpu"), ("from", "yesterday")]),
                b"a 1",
            ),
            (params(&[]), b"a 1"),
            (params(&[("name", "app.cpu"), ("sampleRate", "0")]), b"a 1"),
        ] {
            let req = IngestRequest {
                params: &p,
                content_type: None,
                body,
            };
            assert_eq!(
                ingest(&store, &tenant, &req, 1).unwrap_err().kind(),
                crate::ErrorKind::BadInput
            );
        }
        assert!(store.keys().is_empty());
    }

    #[test]
    fn gzip_is_sniffed_and_bounded() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(b"a;b 1\n").unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(&decode_body(&gz).unwrap()[..], b"a;b 1\n");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&vec![b'a'; MAX_PROFILE_DECODED_BYTES + 10])
            .unwrap();
        let bomb = enc.finish().unwrap();
        assert_eq!(
            decode_body(&bomb).unwrap_err().kind(),
            crate::ErrorKind::TooLarge
        );
    }

    #[test]
    fn one_segment_per_request() {
        let store = MemoryStore::default();
        let tenant = Tenant::from_header(Some("t")).unwrap();
        let p = params(&[("name", "app.alloc_objects"), ("from", "1700000000")]);
        let req = IngestRequest {
            params: &p,
            content_type: None,
            body: b"a;b 1\na;c 2\n",
        };
        let out = ingest(&store, &tenant, &req, 0).unwrap();
        assert_eq!(store.keys(), vec![out.key.unwrap()]);
        assert!(store.keys()[0].starts_with("tenants/t/l0/2023-11-14/22-"));
    }
}
