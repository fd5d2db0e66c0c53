//! Ingest: an upload becomes normalised [`Profile`]s, then one immutable L0 segment, written
//! with one create-only put. The caller answers 200 only after [`ingest`] returns `Ok`, so an
//! acknowledged upload is durable; on any error nothing is written.
//!
//! Entry points: [`ingest`] (`/ingest`, its format decided once by [`Format::of`]),
//! [`ingest_push`] (the Push API) and [`ingest_otlp`] (OTLP profiles). Each format's parser
//! lives in its own module; the readers of the binary formats are in `crate::wire`.

mod error;
pub mod folded;
pub mod format;
pub mod jfr;
pub mod legacy;
pub mod multipart;
pub mod name;
pub mod otlp;
pub mod pprof;
pub mod push;
pub mod speedscope;

pub use error::IngestError;
pub use format::Format;

use speedscope::Values;

use bytes::Bytes;
use ulid::Ulid;

use crate::Result;
use crate::limits::IngestLimits;
use crate::profile::{
    Labels, METRIC_NAME, NamedSample, Profile, ProfileType, SERVICE_NAME, Series, validate_labels,
};
use crate::storage::keys::{Level, MAX_REQUEST_SPAN_NANOS, SegmentKey};
use crate::storage::segment::{self, SegmentBuilder};
use crate::storage::store::{ObjectStore, PutMode, StoreError};
use crate::tenant::Tenant;
use crate::time::{NANOS_PER_SECOND, parse_ingest_time};
use crate::wire::body::{self, decode_body};

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

/// Response header by which the ingest component tells the host what an accepted request
/// held ([`Ingested`]), for its per-tenant counters; `flamelet serve` takes it off the answer.
pub const INGESTED_HEADER: &str = "flamelet-ingested";

/// What an accepted ingest request held, as the [`INGESTED_HEADER`] carries it
/// (`profiles=N,samples=N,bytes=N`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ingested {
    /// Profiles stored.
    pub profiles: u64,
    /// Sample rows stored.
    pub samples: u64,
    /// Bytes of the request body, as sent (compressed if it was).
    pub bytes: u64,
}

impl Ingested {
    /// What `outcome` stored from a request body of `bytes` bytes.
    pub fn of(outcome: &IngestOutcome, bytes: usize) -> Self {
        Ingested {
            profiles: outcome.profiles as u64,
            samples: outcome.samples as u64,
            bytes: bytes as u64,
        }
    }

    /// Reads a header value; `None` unless it has exactly the three counts.
    pub fn parse(value: &str) -> Option<Self> {
        let mut out = Ingested::default();
        let mut seen = 0;
        for part in value.split(',') {
            let (name, n) = part.split_once('=')?;
            let n: u64 = n.parse().ok()?;
            match name {
                "profiles" => out.profiles = n,
                "samples" => out.samples = n,
                "bytes" => out.bytes = n,
                _ => return None,
            }
            seen += 1;
        }
        (seen == 3).then_some(out)
    }
}

impl std::fmt::Display for Ingested {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "profiles={},samples={},bytes={}",
            self.profiles, self.samples, self.bytes
        )
    }
}

/// Parses an upload and stores it as one L0 segment.
pub fn ingest(
    store: &dyn ObjectStore,
    tenant: &Tenant,
    limits: &IngestLimits,
    req: &IngestRequest<'_>,
    now_nanos: i64,
) -> Result<IngestOutcome> {
    let profiles = limits.apply(parse(req, limits, now_nanos)?)?;
    store_profiles(store, tenant, &profiles)
}

/// Handles a push request (`/push.v1.PusherService/Push`): decodes it and stores all its
/// profiles as one L0 segment.
pub fn ingest_push(
    store: &dyn ObjectStore,
    tenant: &Tenant,
    limits: &IngestLimits,
    codec: push::Codec,
    content_encoding: Option<&str>,
    body: &[u8],
    now_nanos: i64,
) -> Result<IngestOutcome> {
    let req: crate::wire::proto::push::v1::PushRequest =
        crate::wire::connect::decode(codec, content_encoding, body)?;
    // Each distinct label set is at least one series: too many is refused before decoding.
    limits.check_series(push::label_sets(&req))?;
    let profiles = limits.apply(push::to_profiles(&req, limits, now_nanos)?)?;
    store_profiles(store, tenant, &profiles)
}

/// Handles an OTLP profiles export (`/v1development/profiles`): decodes it and stores all its
/// profiles as one L0 segment.
pub fn ingest_otlp(
    store: &dyn ObjectStore,
    tenant: &Tenant,
    limits: &IngestLimits,
    codec: push::Codec,
    content_encoding: Option<&str>,
    body: &[u8],
    now_nanos: i64,
) -> Result<IngestOutcome> {
    let req = otlp::decode_request(codec, content_encoding, body)?;
    let profiles = limits.apply(otlp::to_profiles(&req, now_nanos)?)?;
    store_profiles(store, tenant, &profiles)
}

/// Parses an upload into profiles without storing anything; only decompression is bounded
/// by `limits` (the rest is [`IngestLimits::apply`]'s).
pub fn parse(
    req: &IngestRequest<'_>,
    limits: &IngestLimits,
    now_nanos: i64,
) -> Result<Vec<Profile>> {
    body::check_size(req.body)?;
    let format = Format::of(req.param("format"), req.content_type)?;
    let name = req
        .param("name")
        .ok_or(IngestError::MissingParameter { name: "name" })?;
    let name = name::parse(name)?;
    let from = match req.param("from") {
        Some(v) => parse_ingest_time("from", v)?,
        None => now_nanos,
    };
    if let Some(v) = req.param("until") {
        parse_ingest_time("until", v)?;
    }
    let max_bytes = limits.max_profile_bytes();
    match format {
        Format::Jfr { multipart } => parse_jfr(req, &name, from, multipart, max_bytes),
        Format::Pprof { multipart } => parse_pprof(req, &name, from, multipart, max_bytes),
        text => parse_text(req, text, &name, from, max_bytes),
    }
}

/// One part of a text upload: extra labels, samples, and how its values are expressed.
type TextPart = (Labels, Vec<NamedSample>, Values);

/// Parses a text upload (folded, lines, trie, tree, speedscope): the profile type comes from
/// the name's suffix; `.cpu`-like sample counts are scaled to nanoseconds by `sampleRate`.
fn parse_text(
    req: &IngestRequest<'_>,
    format: Format,
    name: &name::AppName,
    from: i64,
    max_bytes: usize,
) -> Result<Vec<Profile>> {
    let (profile_type, scaled) = ProfileType::from_legacy_suffix(name.suffix.as_deref())
        .ok_or_else(|| IngestError::UnknownSuffix {
            suffix: name.suffix.clone().unwrap_or_default(),
            name: name.full.clone(),
        })?;
    let sample_rate = sample_rate(req)?;
    let body = decode_body(req.body, max_bytes)?;
    let labels = text_labels(req, name, &profile_type);
    let mut profiles = Vec::new();
    for (extra, mut samples, values) in text_parts(format, &body)? {
        if scaled && values == Values::Samples {
            // Samples were taken `sampleRate` times a second.
            let factor = 1e9 / sample_rate as f64;
            for s in &mut samples {
                s.value = (s.value as f64 * factor).round() as i64;
            }
        }
        check_unit(values, &profile_type, name)?;
        let mut labels = labels.clone();
        labels.extend(extra);
        validate_labels(&labels)?;
        let series = Series {
            profile_type: profile_type.clone(),
            labels,
        };
        let mut profile = Profile::from_named(series, from, samples);
        if scaled {
            profile.period = NANOS_PER_SECOND / i64::from(sample_rate.max(1));
        }
        profiles.push(normalize(profile)?);
    }
    Ok(profiles)
}

/// Splits a text upload into its parts: one, or one per speedscope profile.
fn text_parts(format: Format, body: &[u8]) -> Result<Vec<TextPart>> {
    let text = || {
        std::str::from_utf8(body).map_err(|e| IngestError::NotText {
            reason: e.to_string(),
        })
    };
    let one = |samples| Ok(vec![(Labels::new(), samples, Values::Samples)]);
    match format {
        Format::Lines => one(folded::parse_lines(text()?)?),
        Format::Trie => one(legacy::parse_trie(body)?),
        Format::Tree => one(legacy::parse_tree(body)?),
        Format::Speedscope => Ok(speedscope::parse(body)?
            .into_iter()
            .map(|p| {
                (
                    Labels::from([("profile_name".to_string(), p.name)]),
                    p.samples,
                    p.values,
                )
            })
            .collect()),
        _ => one(folded::parse_folded(text()?)?),
    }
}

/// The series labels of a text upload: the name's tags, `service_name` = the application
/// name, `__name__` = the profile type's, and the spy name if given.
fn text_labels(
    req: &IngestRequest<'_>,
    name: &name::AppName,
    profile_type: &ProfileType,
) -> Labels {
    let mut labels: Labels = name.tags.clone();
    labels.insert(SERVICE_NAME.to_string(), name.app.clone());
    labels.insert(METRIC_NAME.to_string(), profile_type.name.clone());
    add_spy_label(req, &mut labels);
    labels
}

/// Values in time or bytes (speedscope) must fit the unit of the name's profile type.
fn check_unit(values: Values, profile_type: &ProfileType, name: &name::AppName) -> Result<()> {
    let unit = match values {
        Values::Samples => return Ok(()),
        Values::Nanoseconds => "nanoseconds",
        Values::Bytes => "bytes",
    };
    if profile_type.sample_unit != unit {
        return Err(IngestError::UnitMismatch {
            unit,
            profile_type: profile_type.to_string(),
            name: name.full.clone(),
        }
        .into());
    }
    Ok(())
}

/// Parses a pprof upload: a raw body, or a multipart form with `profile`, optional
/// `sample_type_config` and `prev_profile` (from old clients that send cumulative profiles:
/// rejected). `service_name` is the whole name before `{`.
fn parse_pprof(
    req: &IngestRequest<'_>,
    name: &name::AppName,
    from: i64,
    multipart: bool,
    max_bytes: usize,
) -> Result<Vec<Profile>> {
    let (profile_bytes, config) = match req.content_type {
        Some(ct) if multipart => {
            let mut fields = multipart::fields(ct, req.body)?;
            if fields.get("prev_profile").is_some_and(|p| !p.is_empty()) {
                return Err(IngestError::CumulativeProfile.into());
            }
            let config = fields
                .get("sample_type_config")
                .map(|c| pprof::parse_config(c))
                .transpose()?;
            let profile = fields
                .remove("profile")
                .ok_or(IngestError::MissingField { field: "profile" })?;
            (profile, config)
        }
        _ => (req.body.to_vec(), None),
    };
    let spy = req.param("spyName").unwrap_or("");
    let mut profile = crate::wire::pprof::read(&profile_bytes, max_bytes)?;
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
            IngestError::InvalidSampleRate {
                value: v.to_string(),
            }
            .into()
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
    max_bytes: usize,
) -> Result<Vec<Profile>> {
    let (recording, labels) = match req.content_type {
        Some(ct) if multipart => {
            let mut fields = multipart::fields(ct, req.body)?;
            let recording = fields
                .remove("jfr")
                .ok_or(IngestError::MissingField { field: "jfr" })?;
            let labels = fields
                .get("labels")
                .filter(|l| !l.is_empty())
                .map(|l| jfr::decode_labels(l, max_bytes))
                .transpose()?;
            (decode_body(&recording, max_bytes)?, labels)
        }
        _ => (decode_body(req.body, max_bytes)?, None),
    };
    let base = full_name_labels(req, name);
    jfr::to_profiles(&recording, labels.as_ref(), &base, sample_rate(req)?, from)
}

/// The series labels of binary formats (pprof, JFR): the name's tags, `service_name` = the
/// whole name before `{`, and the spy name if given.
fn full_name_labels(req: &IngestRequest<'_>, name: &name::AppName) -> Labels {
    let mut base: Labels = name.tags.clone();
    base.insert(SERVICE_NAME.to_string(), name.full.clone());
    add_spy_label(req, &mut base);
    base
}

/// The client's `spyName`, when it sent one, as the `pyroscope_spy` label.
fn add_spy_label(req: &IngestRequest<'_>, labels: &mut Labels) {
    if let Some(spy) = req.param("spyName").filter(|s| !s.is_empty()) {
        labels.insert("pyroscope_spy".to_string(), spy.to_string());
    }
}

/// Drops samples that hold nothing (zero values, empty stacks). The per-tenant limits come
/// after parsing ([`crate::limits::IngestLimits::apply`]).
pub fn normalize(mut profile: Profile) -> Result<Profile> {
    profile
        .samples
        .retain(|s| s.value != 0 && !s.stack.is_empty());
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
    builder.add_profiles(profiles);
    let data = builder.finish();
    let Some((min, max)) = data.time_range() else {
        return Ok(IngestOutcome {
            key: None,
            profiles: 0,
            samples: 0,
        });
    };
    if max - min > MAX_REQUEST_SPAN_NANOS {
        return Err(IngestError::SpanTooLong {
            seconds: (max - min) / NANOS_PER_SECOND,
        }
        .into());
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
            Err(e) => {
                // The put may have reached the store although it failed. The client, told to
                // try again, must not find this copy too; the key is this request's alone.
                if let Err(d) = store.delete(&key) {
                    tracing::warn!("removing {key} after a failed put: {d}");
                }
                return Err(e.into());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::store::MemoryStore;

    fn params(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_ingested_header_reads_back_what_it_says_and_nothing_else() {
        let i = Ingested {
            profiles: 3,
            samples: 120,
            bytes: 4096,
        };
        assert_eq!(i.to_string(), "profiles=3,samples=120,bytes=4096");
        assert_eq!(Ingested::parse(&i.to_string()), Some(i));
        for bad in [
            "",
            "profiles=3",
            "profiles=3,samples=1,bytes=-1",
            "a=1,b=2,c=3",
        ] {
            assert_eq!(Ingested::parse(bad), None, "{bad}");
        }
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
        let profiles = parse(&req, &IngestLimits::default(), 0).unwrap();
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
                ingest(&store, &tenant, &Default::default(), &req, 1)
                    .unwrap_err()
                    .kind(),
                crate::ErrorKind::BadInput
            );
        }
        assert!(store.keys().is_empty());
    }

    #[test]
    fn errors_name_the_bad_value() {
        let parse_err = |p: &[(&str, &str)], body: &[u8]| {
            let p = params(p);
            let req = IngestRequest {
                params: &p,
                content_type: None,
                body,
            };
            parse(&req, &IngestLimits::default(), 0).unwrap_err()
        };
        assert!(matches!(
            parse_err(&[("name", "app.cpu"), ("format", "csv")], b"a 1"),
            crate::Error::Ingest(IngestError::UnknownFormat { format }) if format == "csv"
        ));
        assert!(matches!(
            parse_err(&[("name", "app.bogus")], b"a 1"),
            crate::Error::Ingest(IngestError::UnknownSuffix { suffix, name })
                if suffix == "bogus" && name == "app.bogus"
        ));
        assert!(matches!(
            parse_err(&[("name", "app.cpu"), ("sampleRate", "-3")], b"a 1"),
            crate::Error::Ingest(IngestError::InvalidSampleRate { value }) if value == "-3"
        ));
        let e = parse_err(&[("name", "app.cpu")], b"a;b x");
        assert_eq!(
            e.to_string(),
            "folded line 1: count `x` is not a whole number: `a;b x`"
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
        let out = ingest(&store, &tenant, &Default::default(), &req, 0).unwrap();
        assert_eq!(store.keys(), vec![out.key.unwrap()]);
        assert!(store.keys()[0].starts_with("tenants/t/l0/2023-11-14/22-"));
    }
}
