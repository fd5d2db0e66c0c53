//! Ingest through `/ingest`: formats, naming, scaling, and what bad input answers.

use crate::util::{FlameletServer, T0, WORKED_EXAMPLE, corpus, server::encode};

fn one_line(body: &str) -> bool {
    !body.trim().is_empty() && body.trim_end().lines().count() == 1
}

#[test]
fn folded_and_lines_formats_and_aliases() {
    let s = FlameletServer::start();
    s.ingest("app.alloc_objects", T0, WORKED_EXAMPLE);
    // The same stacks as `lines` (one per line, worth 1 each), through the /pyroscope alias.
    let r = s.post(
        &format!(
            "/pyroscope/ingest?name=app.alloc_objects&from={}&format=lines",
            T0 + 1
        ),
        b"a;b;e\na;c\na;c\na;c;d\n",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let fg = s.render("app.alloc_objects{}", T0 - 10, T0 + 10, "");
    assert_eq!(fg["flamebearer"]["numTicks"], 8);
    assert_eq!(
        fg["flamebearer"]["levels"][2],
        serde_json::json!([0, 2, 0, 4, 0, 6, 4, 2])
    );
}

#[test]
fn gzip_bodies_are_sniffed_with_or_without_content_encoding() {
    use std::io::Write;
    let s = FlameletServer::start();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(WORKED_EXAMPLE.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    let r = s.post(&format!("/ingest?name=app.alloc_objects&from={T0}"), &gz);
    assert_eq!(r.status, 200, "{}", r.body);
    let fg = s.render("app.alloc_objects{}", T0 - 1, T0 + 1, "");
    assert_eq!(
        fg["flamebearer"]["names"],
        serde_json::json!(["total", "a", "c", "d", "b", "e"])
    );
    // A gzip bomb (64 MiB of zeros in ~64 KiB) stops at the decoded-size limit: 413.
    let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    bomb.write_all(&vec![0u8; 64 << 20]).unwrap();
    let r = s.post(
        &format!("/ingest?name=app.cpu&from={T0}"),
        &bomb.finish().unwrap(),
    );
    assert_eq!(r.status, 413, "{}", r.body);
    assert_eq!(s.stored_files().len(), 1);
}

#[test]
fn time_units_are_told_apart_by_magnitude() {
    let s = FlameletServer::start();
    for (i, from) in [
        T0.to_string(),
        (T0 * 1000).to_string(),
        (T0 * 1_000_000).to_string(),
        (T0 * 1_000_000_000).to_string(),
    ]
    .iter()
    .enumerate()
    {
        let r = s.post(
            &format!("/ingest?name=app.alloc_objects&from={from}&until={from}"),
            format!("f{i} 1").as_bytes(),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    // All four land in the same second.
    let fg = s.render("app.alloc_objects{}", T0, T0 + 1, "");
    assert_eq!(fg["flamebearer"]["numTicks"], 4);
}

#[test]
fn sample_rate_scales_cpu_and_wall_only() {
    let s = FlameletServer::start();
    for (name, rate) in [
        ("app.cpu", 100),
        ("app.wall", 20),
        ("app.goroutines", 100),
        ("app", 10),
    ] {
        let r = s.post(
            &format!("/ingest?name={name}&from={T0}&sampleRate={rate}"),
            b"main;work 3\n",
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let total = |q: &str| {
        s.render(q, T0 - 1, T0 + 1, "")["flamebearer"]["numTicks"]
            .as_i64()
            .unwrap()
    };
    // `app.cpu` (rate 100) and `app` (no suffix = cpu, rate 10) share one series.
    assert_eq!(total("app.cpu{}"), 3 * 10_000_000 + 3 * 100_000_000);
    assert_eq!(
        total("wall:wall:nanoseconds:cpu:nanoseconds{service_name=\"app\"}"),
        3 * 50_000_000
    );
    assert_eq!(total("app.goroutines{}"), 3);
}

#[test]
fn tags_become_labels_and_spy_name_is_kept() {
    let s = FlameletServer::start();
    let r = s.post(
        &format!(
            "/ingest?name={}&from={T0}&spyName=gospy",
            encode("svc.cpu{env=prod,region=eu}")
        ),
        b"x 1\n",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let values = |label: &str| {
        s.get(&format!(
            "/pyroscope/label-values?label={label}&from={}&until={}",
            T0 - 1,
            T0 + 1
        ))
        .json()
    };
    assert_eq!(values("env"), serde_json::json!(["prod"]));
    assert_eq!(values("region"), serde_json::json!(["eu"]));
    assert_eq!(values("service_name"), serde_json::json!(["svc"]));
    assert_eq!(values("pyroscope_spy"), serde_json::json!(["gospy"]));
    assert_eq!(
        values("__name__"),
        serde_json::json!(["process_cpu:cpu:nanoseconds:cpu:nanoseconds"])
    );
}

#[test]
fn bad_input_is_a_400_with_one_line_and_stores_nothing() {
    let s = FlameletServer::start();
    let cases: Vec<(&str, String, Vec<u8>, &str)> = vec![
        (
            "malformed folded line",
            format!("/ingest?name=app.cpu&from={T0}"),
            b"a;b 1\na;b\n".to_vec(),
            "folded line 2",
        ),
        (
            "non-numeric count",
            format!("/ingest?name=app.cpu&from={T0}"),
            b"a;b x\n".to_vec(),
            "count",
        ),
        (
            "unknown suffix",
            format!("/ingest?name=app.bogus&from={T0}"),
            b"a 1\n".to_vec(),
            "bogus",
        ),
        (
            "bad time",
            "/ingest?name=app.cpu&from=yesterday".into(),
            b"a 1\n".to_vec(),
            "yesterday",
        ),
        (
            "missing name",
            format!("/ingest?from={T0}"),
            b"a 1\n".to_vec(),
            "name",
        ),
        (
            "bad name",
            format!("/ingest?name={}&from={T0}", encode("app.cpu{env}")),
            b"a 1\n".to_vec(),
            "env",
        ),
        (
            "reserved tag",
            format!("/ingest?name={}&from={T0}", encode("app.cpu{__x=1}")),
            b"a 1\n".to_vec(),
            "reserved",
        ),
        (
            "bad sampleRate",
            format!("/ingest?name=app.cpu&from={T0}&sampleRate=0"),
            b"a 1\n".to_vec(),
            "sampleRate",
        ),
        (
            "unknown format",
            format!("/ingest?name=app.cpu&from={T0}&format=xml"),
            b"a 1\n".to_vec(),
            "xml",
        ),
    ];
    for (what, path, body, needle) in &cases {
        let r = s.post(path, body);
        assert_eq!(r.status, 400, "{what}: {}", r.body);
        assert!(one_line(&r.body), "{what}: {:?}", r.body);
        assert!(
            r.body.contains(needle),
            "{what}: {:?} should mention {needle}",
            r.body
        );
    }
    for tenant in ["a/b", "..", "x\ty", &"t".repeat(151)] {
        let r = s.post_as(tenant, &format!("/ingest?name=app.cpu&from={T0}"), b"a 1\n");
        assert_eq!(r.status, 400, "tenant {tenant:?}: {}", r.body);
        assert!(one_line(&r.body), "{:?}", r.body);
        assert!(r.body.contains("tenant"), "{:?}", r.body);
    }
    let r = s.get(&format!("/ingest?name=app.cpu&from={T0}"));
    assert_eq!(r.status, 405, "{}", r.body);
    assert!(s.stored_files().is_empty(), "{:?}", s.stored_files());
    // Still serving, and a good upload still works.
    s.ingest("app.cpu", T0, "a 1\n");
    assert_eq!(s.stored_files().len(), 1);
}

/// A multipart/form-data body with boundary `BOUNDARY`, as the SDKs send.
fn form(fields: &[(&str, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, data) in fields {
        body.extend_from_slice(
            format!("--BOUNDARY\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"--BOUNDARY--\r\n");
    body
}

const MULTIPART: (&str, &str) = ("Content-Type", "multipart/form-data; boundary=BOUNDARY");

#[test]
fn jfr_multipart_with_labels_and_raw() {
    let s = FlameletServer::start();
    // As pyroscope-java sends it: multipart `jfr` (gzipped) + `labels` (LabelsSnapshot).
    let r = s.post_with(
        &format!("/ingest?name=javaapp%7Benv%3Dprod%7D&from={T0}&format=jfr&sampleRate=100&spyName=javaspy"),
        &[MULTIPART],
        &form(&[
            ("jfr", &corpus("jfr/dump1.jfr.gz")),
            ("labels", &corpus("jfr/dump1.labels.pb.gz")),
        ]),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let cpu = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";
    let total = |q: &str| {
        s.render(q, T0 - 60, T0 + 60, "")["flamebearer"]["numTicks"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(
        total(&format!("{cpu}{{service_name=\"javaapp\",env=\"prod\"}}")),
        21_880_000_000
    );
    let threads = s.get(&format!(
        "/pyroscope/label-values?label=thread_name&query={}&from={}&until={}",
        encode(&format!("{cpu}{{service_name=\"javaapp\"}}")),
        T0 - 60,
        T0 + 60
    ));
    let threads: Vec<String> = serde_json::from_value(threads.json()).unwrap();
    assert_eq!(threads.len(), 4, "{threads:?}");
    let mut sums: Vec<i64> = threads
        .iter()
        .map(|t| {
            total(&format!(
                "{cpu}{{service_name=\"javaapp\",thread_name=\"{t}\"}}"
            ))
        })
        .collect();
    sums.sort();
    assert_eq!(
        sums,
        [1_040_000_000, 1_680_000_000, 2_150_000_000, 4_710_000_000]
    );

    // A raw (gzipped) body: every profile type of the recording, each total as expected.
    let r = s.post(
        &format!("/ingest?name=rawjava&from={T0}&format=jfr"),
        &corpus("jfr/dump2.jfr.gz"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    for id in crate::util::DUMP2_PROFILE_TYPES {
        let (_, want) = pprof_totals(&corpus(&crate::util::dump2_golden(id)));
        let want: i64 = want.values().sum();
        assert_eq!(
            total(&format!("{id}{{service_name=\"rawjava\"}}")),
            want,
            "{id}"
        );
    }
}

#[test]
fn corrupt_jfr_is_a_422_and_stores_nothing() {
    let s = FlameletServer::start();
    let jfr = flamelet::wire::body::gunzip(&corpus("jfr/dump1.jfr.gz"), 1 << 30, "test").unwrap();
    for body in [&b"not a recording"[..], &jfr[..jfr.len() / 2], &jfr[..100]] {
        let r = s.post(&format!("/ingest?name=app&from={T0}&format=jfr"), body);
        assert_eq!(r.status, 422, "{}", r.body);
        assert!(one_line(&r.body), "{}", r.body);
    }
    // Labels that are not a LabelsSnapshot: 400; no `jfr` field: 400.
    for fields in [
        vec![("jfr", &jfr[..]), ("labels", &b"\xff\xff\xff"[..])],
        vec![("profile", &jfr[..])],
    ] {
        let r = s.post_with(
            &format!("/ingest?name=app&from={T0}&format=jfr"),
            &[MULTIPART],
            &form(&fields),
        );
        assert_eq!(r.status, 400, "{}", r.body);
    }
    assert!(s.stored_files().is_empty());
}

#[test]
fn legacy_trie_and_tree_bodies() {
    use flamelet::ingest::{folded::parse_folded, legacy};
    let s = FlameletServer::start();
    let samples = parse_folded(WORKED_EXAMPLE).unwrap();
    for (format, body) in [
        ("trie", legacy::encode_trie(&samples)),
        ("tree", legacy::encode_tree(&samples)),
    ] {
        let r = s.post(
            &format!("/ingest?name={format}.alloc_objects&from={T0}&format={format}"),
            &body,
        );
        assert_eq!(r.status, 200, "{format}: {}", r.body);
        let fg = s.render(&format!("{format}.alloc_objects{{}}"), T0 - 1, T0 + 1, "");
        assert_eq!(
            fg["flamebearer"]["names"],
            serde_json::json!(["total", "a", "c", "d", "b", "e"]),
            "{format}"
        );
        assert_eq!(
            fg["flamebearer"]["levels"],
            serde_json::json!([
                [0, 4, 0, 0],
                [0, 4, 0, 1],
                [0, 1, 0, 4, 0, 3, 2, 2],
                [0, 1, 1, 5, 2, 1, 1, 3]
            ]),
            "{format}"
        );
        // CPU trees count samples: scaled by 1e9/sampleRate like folded stacks.
        let r = s.post(
            &format!("/ingest?name={format}.cpu&from={T0}&format={format}&sampleRate=50"),
            &body,
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            s.render(&format!("{format}.cpu{{}}"), T0 - 1, T0 + 1, "")["flamebearer"]["numTicks"],
            4 * 20_000_000
        );
    }
    let r = s.post(
        &format!("/ingest?name=x.cpu&from={T0}&format=tree"),
        &[0x80, 0x80],
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("invalid tree body"), "{}", r.body);
}

#[test]
fn speedscope_profiles_become_series_by_profile_name() {
    let s = FlameletServer::start();
    let r = s.post(
        &format!("/ingest?name=sp.cpu&from={T0}&format=speedscope"),
        &corpus("speedscope/two-sampled.speedscope.json"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let sec = 1_000_000_000i64;
    assert_eq!(
        s.render("sp.cpu{}", T0 - 1, T0 + 1, "")["flamebearer"]["numTicks"],
        28 * sec
    );
    let one = s.render("sp.cpu{profile_name=\"one\"}", T0 - 1, T0 + 1, "");
    assert_eq!(one["flamebearer"]["numTicks"], 14 * sec);
    assert_eq!(
        one["flamebearer"]["names"],
        serde_json::json!(["total", "a", "b", "d", "c"])
    );
    let lv = s.get(&format!(
        "/pyroscope/label-values?label=profile_name&from={}&until={}",
        T0 - 1,
        T0 + 1
    ));
    assert_eq!(lv.json(), serde_json::json!(["one", "two"]));

    // Evented, unit none: sample counts, scaled like folded stacks (default 100 Hz).
    let r = s.post(
        &format!("/ingest?name=ev&from={T0}&format=speedscope"),
        &corpus("speedscope/simple.speedscope.json"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        s.render("ev.cpu{}", T0 - 1, T0 + 1, "")["flamebearer"]["numTicks"],
        14 * 10_000_000
    );

    // Bytes need a bytes type.
    let bytes = corpus("speedscope/two-sampled-bytes.speedscope.json");
    let r = s.post(
        &format!("/ingest?name=mem.alloc_space&from={T0}&format=speedscope"),
        &bytes,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        s.render("mem.alloc_space{}", T0 - 1, T0 + 1, "")["flamebearer"]["numTicks"],
        28
    );
    let before = s.stored_files().len();
    let r = s.post(
        &format!("/ingest?name=mem.cpu&from={T0}&format=speedscope"),
        &bytes,
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("bytes"), "{}", r.body);
    let r = s.post(
        &format!("/ingest?name=bad.cpu&from={T0}&format=speedscope"),
        b"{\"not\": \"speedscope\"}",
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(s.stored_files().len(), before);
}

/// Sums each sample type's values in a pprof file, keyed by profile type ID.
fn pprof_totals(file: &[u8]) -> (i64, std::collections::BTreeMap<String, i64>) {
    let p =
        flamelet::wire::pprof::decode(file, flamelet::limits::DEFAULT_MAX_PROFILE_BYTES).unwrap();
    let s = |i: i64| p.string_table[i as usize].clone();
    let mut totals = std::collections::BTreeMap::new();
    for (i, t) in p.sample_type.iter().enumerate() {
        let total: i64 = p.sample.iter().map(|x| x.value[i]).sum();
        totals.insert(format!("{}:{}", s(t.r#type), s(t.unit)), total);
    }
    (p.time_nanos / 1_000_000_000, totals)
}

#[test]
fn pprof_raw_bodies_become_one_series_per_sample_type() {
    let s = FlameletServer::start();
    let file = corpus("pprof/cpu.pb.gz");
    let r = s.post(
        "/ingest?name=goapp%7Benv%3Dprod%7D&format=pprof&spyName=gospy",
        &file,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let (at, totals) = pprof_totals(&file);
    let lv = s.get(&format!(
        "/pyroscope/label-values?label=__name__&query={}&from={}&until={}",
        encode("{service_name=\"goapp\"}"),
        at - 60,
        at + 60
    ));
    assert_eq!(
        lv.json(),
        serde_json::json!([
            "process_cpu:cpu:nanoseconds:cpu:nanoseconds",
            "process_cpu:samples:count:cpu:nanoseconds"
        ])
    );
    let total = |q: &str| {
        s.render(q, at - 60, at + 60, "")["flamebearer"]["numTicks"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(
        total("process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name=\"goapp\",env=\"prod\"}"),
        totals["cpu:nanoseconds"]
    );
    assert_eq!(
        total("process_cpu:samples:count:cpu:nanoseconds{service_name=\"goapp\"}"),
        totals["samples:count"]
    );
}

#[test]
fn pprof_multipart_uploads_as_the_go_sdk_sends_them() {
    let s = FlameletServer::start();
    let post = |path: &str, body: &[u8]| {
        let r = s.post_with(path, &[MULTIPART], body);
        (r.status, r.body)
    };
    let profile = corpus("pprof/heap.pb.gz");
    let (status, body) = post(
        &format!("/ingest?name=heapapp&from={T0}"),
        &form(&[("profile", &profile)]),
    );
    assert_eq!(status, 200, "{body}");
    let (at, totals) = pprof_totals(&profile);
    let at = if at > 31_536_000 { at } else { T0 };
    let q = "memory:inuse_space:bytes:space:bytes{service_name=\"heapapp\"}";
    assert_eq!(
        s.render(q, at - 60, at + 60, "")["flamebearer"]["numTicks"],
        totals["inuse_space:bytes"]
    );

    // With a sample type config, as the Go SDK sends (req_2), and with format=pprof.
    let (status, body) = post(
        &format!("/ingest?name=sdk&from={T0}&format=pprof"),
        &form(&[
            ("profile", &corpus("pprof/req_2.pprof")),
            ("sample_type_config", &corpus("pprof/req_2.st.json")),
        ]),
    );
    assert_eq!(status, 200, "{body}");

    // Cumulative uploads from old clients are rejected.
    let (status, body) = post(
        &format!("/ingest?name=old&from={T0}"),
        &form(&[("profile", &profile), ("prev_profile", &profile)]),
    );
    assert_eq!(status, 422, "{body}");
    let (status, body) = post(
        &format!("/ingest?name=none&from={T0}"),
        &form(&[("other", b"x")]),
    );
    assert_eq!(status, 400, "{body}");
}

#[test]
fn pprof_errors() {
    let s = FlameletServer::start();
    let r = s.post(
        &format!("/ingest?name=bad&from={T0}&format=pprof"),
        &corpus("pprof/invalid_utf8.pb.gz"),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.body.trim_end().lines().count(), 1);
    let r = s.post(
        &format!("/ingest?name=bad&from={T0}&format=pprof"),
        b"\x0a\xff\xff\xff\xff",
    );
    assert_eq!(r.status, 400, "{}", r.body);
    let r = s.post(
        &format!("/ingest?name=bad&from={T0}&format=pprof"),
        &corpus("pprof/malformed_no_addr_no_line.pb.gz"),
    );
    assert_eq!(
        r.status, 200,
        "locations without lines must not crash: {}",
        r.body
    );
    assert_eq!(s.stored_files().len(), 1);
}

#[test]
fn push_api_binary_json_and_gzip() {
    use base64::Engine;
    use flamelet::wire::proto::push::v1::{PushRequest, RawProfileSeries, RawSample};
    use flamelet::wire::proto::types::v1::LabelPair;
    use prost::Message;
    use std::io::Write;

    let s = FlameletServer::start();
    let file = corpus("pprof/cpu.pb.gz");
    let (at, totals) = pprof_totals(&file);
    let send = |content_type: &str, encoding: Option<&str>, body: &[u8]| {
        let mut headers = vec![("Content-Type", content_type)];
        headers.extend(encoding.map(|e| ("Content-Encoding", e)));
        let r = s.post_with("/push.v1.PusherService/Push", &headers, body);
        (r.status, r.body)
    };
    let request = |service: &str, raw: &[u8]| PushRequest {
        series: vec![RawProfileSeries {
            labels: vec![
                LabelPair {
                    name: "service_name".into(),
                    value: service.into(),
                },
                LabelPair {
                    name: "__name__".into(),
                    value: "process_cpu".into(),
                },
                LabelPair {
                    name: "env".into(),
                    value: "prod".into(),
                },
            ],
            samples: vec![RawSample {
                raw_profile: raw.to_vec(),
                id: String::new(),
            }],
            annotations: vec![],
        }],
    };
    let json = |service: &str| {
        format!(
            r#"{{"series":[{{"labels":[{{"name":"service_name","value":"{service}"}},{{"name":"__name__","value":"process_cpu"}}],"samples":[{{"rawProfile":"{}"}}]}}]}}"#,
            base64::engine::general_purpose::STANDARD.encode(&file)
        )
    };
    assert_eq!(
        send(
            "application/proto",
            None,
            &request("bin", &file).encode_to_vec()
        ),
        (200, String::new())
    );
    assert_eq!(
        send("application/json", None, json("js").as_bytes()),
        (200, "{}".into())
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(json("gz").as_bytes()).unwrap();
    assert_eq!(
        send("application/json", Some("gzip"), &gz.finish().unwrap()),
        (200, "{}".into())
    );
    for service in ["bin", "js", "gz"] {
        let q =
            format!("process_cpu:cpu:nanoseconds:cpu:nanoseconds{{service_name=\"{service}\"}}");
        assert_eq!(
            s.render(&q, at - 60, at + 60, "")["flamebearer"]["numTicks"],
            totals["cpu:nanoseconds"],
            "{service}"
        );
    }
    assert_eq!(s.stored_files().len(), 3, "one segment per push");

    // Errors come as Connect JSON with the matching status.
    let (status, body) = send(
        "application/proto",
        None,
        &request("bad", &corpus("pprof/invalid_utf8.pb.gz")).encode_to_vec(),
    );
    assert_eq!(status, 400, "{body}");
    let err: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(err["code"], "invalid_argument");
    assert!(err["message"].as_str().unwrap().contains("UTF-8"), "{body}");
    let (status, body) = send("text/plain", None, b"x");
    assert_eq!(status, 415, "{body}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["code"],
        "unimplemented"
    );
    let (status, _) = send("application/proto", None, b"\xff\xff");
    assert_eq!(status, 400);
    assert_eq!(s.get("/push.v1.PusherService/Push").status, 405);
    assert_eq!(s.stored_files().len(), 3, "errors store nothing");
}

#[test]
fn otlp_profiles_protobuf_json_and_errors() {
    use flamelet::ingest::{otlp, push::Codec};
    let s = FlameletServer::start();
    let body = corpus("otlp/otel-ebpf-profile.pb.bin");
    let req = otlp::decode_request(Codec::Proto, None, &body).unwrap();
    let times: Vec<i64> = req
        .resource_profiles
        .iter()
        .flat_map(|r| &r.scope_profiles)
        .flat_map(|s| &s.profiles)
        .map(|p| p.time_unix_nano as i64 / 1_000_000_000)
        .collect();
    let (from, until) = (
        times.iter().min().unwrap() - 60,
        times.iter().max().unwrap() + 60,
    );
    let r = s.post_with(
        "/v1development/profiles",
        &[("Content-Type", "application/x-protobuf")],
        &body,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let total = |q: &str| {
        s.render(q, from, until, "")["flamebearer"]["numTicks"]
            .as_i64()
            .unwrap()
    };
    // The expected outputs of the corpus are the kernel threads' (`unknown_service`) series.
    let sum = |file: &str| -> i64 {
        let v: serde_json::Value = serde_json::from_slice(&corpus(file)).unwrap();
        v["samples"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["values"].as_str().unwrap().parse::<i64>().unwrap())
            .sum()
    };
    assert_eq!(
        total("off_cpu:off_cpu:nanoseconds::{service_name=\"unknown_service\"}"),
        sum("otlp/otel-ebpf-profile-offcpu.out.json")
    );
    assert_eq!(
        total("process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name=\"unknown_service\"}"),
        sum("otlp/otel-ebpf-profile-cpu.out.json")
    );
    let services = s.get(&format!(
        "/pyroscope/label-values?label=service_name&from={from}&until={until}"
    ));
    assert!(
        services.body.contains("unknown_service:containerd"),
        "{}",
        services.body
    );

    // OTLP/JSON on the gRPC method path, gzipped.
    let json = br#"{"resourceProfiles": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "otel-json"}}]},
      "scopeProfiles": [{"profiles": [{"sampleType": {"typeStrindex": 1, "unitStrindex": 2},
        "periodType": {"typeStrindex": 3, "unitStrindex": 4}, "period": "10000000",
        "timeUnixNano": "1700000000000000000",
        "samples": [{"stackIndex": 1, "values": ["7"]}]}]}]}],
      "dictionary": {"stringTable": ["", "samples", "count", "cpu", "nanoseconds", "main"],
        "functionTable": [{}, {"nameStrindex": 5}],
        "locationTable": [{}, {"lines": [{"functionIndex": 1}]}],
        "stackTable": [{}, {"locationIndices": [1]}]}}"#;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, json).unwrap();
    let r = s.post_with(
        "/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export",
        &[
            ("Content-Type", "application/json"),
            ("Content-Encoding", "gzip"),
        ],
        &gz.finish().unwrap(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, "{}");
    let t = 1_700_000_000;
    assert_eq!(
        s.render(
            "process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name=\"otel-json\"}",
            t - 60,
            t + 60,
            ""
        )["flamebearer"]["numTicks"],
        70_000_000
    );

    // Errors: one line, the right status, nothing stored.
    let before = s.stored_files().len();
    for (ct, body, status) in [
        ("text/plain", &b"x"[..], 415),
        ("application/x-protobuf", b"\xff\xff\xff", 400),
        ("application/json", b"{\"resourceProfiles\": 1}", 400),
    ] {
        let r = s.post_with("/v1development/profiles", &[("Content-Type", ct)], body);
        assert_eq!(r.status, status, "{ct}: {}", r.body);
        assert!(one_line(&r.body), "{}", r.body);
    }
    assert_eq!(s.stored_files().len(), before);
}
