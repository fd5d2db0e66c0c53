//! Hostile tenants and hostile profiles (issue #17, "Tenants and browsers"): tenant ids built
//! to climb out of their storage prefix are refused on every route before anything is stored;
//! every route answers only from the caller's tenant; names and label values that are markup,
//! quotes or escapes stay data in JSON, Graphviz and Prometheus output; error answers carry
//! no stack traces or internal paths. (The browser side is in `ui.rs`.)

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;

use serde_json::{Value, json};

use crate::util::{FlameletServer, T0, server::encode};

const CPU: &str = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";
const Q: &str = "/querier.v1.QuerierService";
const START_MS: i64 = (T0 - 60) * 1000;
const END_MS: i64 = (T0 + 60) * 1000;

/// Sends one HTTP/1.1 request with `X-Scope-OrgID` given as raw bytes (what a client library
/// would refuse to send: NUL, control characters, non-ASCII); the status and body.
fn raw(s: &FlameletServer, method: &str, path: &str, tenant: &[u8], body: &[u8]) -> (u16, String) {
    let addr = s.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).expect("connecting");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\nX-Scope-OrgID: ",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(tenant);
    request.extend_from_slice(b"\r\n\r\n");
    request.extend_from_slice(body);
    stream.write_all(&request).expect("sending");
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).expect("reading");
    let reply = String::from_utf8_lossy(&reply).to_string();
    let status = reply
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {reply:?}"));
    let body = reply
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

/// Every route a client can call with a tenant, with a body it accepts: (method, path, body).
fn routes() -> Vec<(&'static str, String, String)> {
    let select = json!({"profileTypeID": CPU, "labelSelector": "{}",
        "start": START_MS.to_string(), "end": END_MS.to_string()})
    .to_string();
    let range = json!({"start": START_MS.to_string(), "end": END_MS.to_string()}).to_string();
    let q = encode(&format!("{CPU}{{}}"));
    let (from, until) = (T0 - 60, T0 + 60);
    let mut out = vec![
        (
            "POST",
            format!("/ingest?name=app.cpu&from={T0}"),
            "a;b 1\n".to_string(),
        ),
        (
            "POST",
            format!("/pyroscope/ingest?name=app.cpu&from={T0}"),
            "a;b 1\n".to_string(),
        ),
        (
            "POST",
            "/push.v1.PusherService/Push".to_string(),
            "{}".to_string(),
        ),
        (
            "POST",
            "/v1development/profiles".to_string(),
            "{}".to_string(),
        ),
        (
            "GET",
            format!("/pyroscope/render?query={q}&from={from}&until={until}"),
            String::new(),
        ),
        (
            "GET",
            format!(
                "/pyroscope/render-diff?leftQuery={q}&leftFrom={from}&leftUntil={until}&rightQuery={q}&rightFrom={from}&rightUntil={until}"
            ),
            String::new(),
        ),
        (
            "GET",
            format!("/pyroscope/label-values?label=service_name&from={from}&until={until}"),
            String::new(),
        ),
        ("GET", "/exported-metrics".to_string(), String::new()),
        (
            "POST",
            "/settings.v1.SettingsService/Get".to_string(),
            "{}".to_string(),
        ),
        (
            "POST",
            "/settings.v1.RecordingRulesService/ListRecordingRules".to_string(),
            "{}".to_string(),
        ),
    ];
    out.push(("POST", format!("{Q}/ProfileTypes"), range));
    out.push(("POST", format!("{Q}/GetProfileStats"), "{}".to_string()));
    let matchers = json!({"matchers": ["{}"], "start": START_MS.to_string(),
        "end": END_MS.to_string()});
    out.push(("POST", format!("{Q}/LabelNames"), matchers.to_string()));
    out.push(("POST", format!("{Q}/Series"), matchers.to_string()));
    let mut values = matchers.clone();
    values["name"] = json!("service_name");
    out.push(("POST", format!("{Q}/LabelValues"), values.to_string()));
    for method in [
        "SelectMergeStacktraces",
        "SelectMergeProfile",
        "SelectMergeSpanProfile",
    ] {
        out.push(("POST", format!("{Q}/{method}"), select.clone()));
    }
    let mut series: Value = serde_json::from_str(&select).expect("JSON");
    series["step"] = json!(15.0);
    out.push(("POST", format!("{Q}/SelectSeries"), series.to_string()));
    out.push((
        "POST",
        format!("{Q}/Diff"),
        json!({"left": serde_json::from_str::<Value>(&select).expect("JSON"),
               "right": serde_json::from_str::<Value>(&select).expect("JSON")})
        .to_string(),
    ));
    out.push((
        "POST",
        format!("{Q}/AnalyzeQuery"),
        json!({"query": format!("{CPU}{{}}"), "start": START_MS.to_string(),
               "end": END_MS.to_string()})
        .to_string(),
    ));
    out
}

#[test]
fn tenant_ids_that_could_leave_their_prefix_are_refused_on_every_route_before_anything_is_stored() {
    let s = FlameletServer::start();
    let long = "x".repeat(151);
    let bad: Vec<&[u8]> = vec![
        b"../x",
        b"..",
        b".",
        b"%2e%2e",
        b"a/b",
        b"a\\b",
        b"a\x00b",
        b"a\x01b",
        b"a\x7fb",
        long.as_bytes(),
        "ｔｅａｍ".as_bytes(),         // fullwidth letters
        "tеam".as_bytes(),             // a Cyrillic е
        "a\u{2215}b".as_bytes(),       // a division slash
        "\u{202e}maet".as_bytes(),     // a right-to-left override
        "\u{ff0e}\u{ff0e}".as_bytes(), // fullwidth dots
    ];
    for (method, path, body) in routes() {
        for tenant in &bad {
            let (status, reply) = raw(&s, method, &path, tenant, body.as_bytes());
            assert_eq!(
                status,
                400,
                "{method} {path} as {:?}: {reply}",
                String::from_utf8_lossy(tenant)
            );
            // Those that reach the server's check (the HTTP parser refuses NUL and control
            // bytes in a header by itself) are named in a one-line reason.
            if tenant.iter().all(|b| *b >= 0x20 && *b != 0x7f) {
                let reason = reply.trim();
                assert!(reason.contains("tenant id"), "{method} {path}: {reply}");
                assert_eq!(reason.lines().count(), 1, "{reply}");
            }
        }
    }
    assert_eq!(s.stored_files(), Vec::<String>::new());
    // The same routes with a good tenant work, so the 400s above were the tenant's.
    for (method, path, body) in routes() {
        let (status, reply) = raw(&s, method, &path, b"team-a", body.as_bytes());
        assert!(status == 200, "{method} {path}: {status} {reply}");
    }
}

#[test]
fn every_route_answers_only_from_the_callers_tenant() {
    let s = FlameletServer::start();
    let r = s.post_as(
        "team-a",
        &format!(
            "/ingest?name={}&from={T0}",
            encode("secretsvc.cpu{env=hiddenenv}")
        ),
        b"secret_main;secret_leaf 5\n",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let leaks = |reply: &str| {
        ["secret", "hiddenenv"]
            .iter()
            .any(|word| reply.contains(word))
    };
    let mut seen_by_owner = 0;
    for (method, path, body) in routes() {
        if method == "POST" && path.contains("ingest") {
            continue;
        }
        let (status, owner) = raw(&s, method, &path, b"team-a", body.as_bytes());
        assert_eq!(status, 200, "{method} {path} as team-a: {owner}");
        seen_by_owner += usize::from(leaks(&owner));
        for other in [&b"team-b"[..], b"anonymous", b"team-a-"] {
            let (status, reply) = raw(&s, method, &path, other, body.as_bytes());
            assert_eq!(status, 200, "{method} {path}: {reply}");
            assert!(
                !leaks(&reply),
                "{method} {path} as {}: {reply}",
                String::from_utf8_lossy(other)
            );
        }
    }
    // The owner sees its data on the nine routes that return names or label values (render,
    // render-diff, label-values, Series, LabelValues, SelectMergeStacktraces,
    // SelectMergeProfile, SelectSeries, Diff), so the test can fail.
    assert_eq!(seen_by_owner, 9);
    // Nothing but the owner's prefix was written.
    for f in s.stored_files() {
        assert!(f.starts_with("tenants/team-a/"), "{f}");
    }
}

/// Function names and a label value that are markup, script, quotes and escapes.
pub const HOSTILE: [&str; 6] = [
    "<img src=x onerror=\"window.__pwned=1\">",
    "</script><script>window.__pwned=2</script>",
    "javascript:window.__pwned=3",
    "\"><svg onload=window.__pwned=4> \\N \\\" \\l",
    "\u{202e}gnp.exe",
    "a'b\"c\\d&amp<b>bold</b>&lt", // no `;`: folded stacks split frames there
];

/// Ingests the hostile names, each a leaf under `main`, with a hostile `env` value.
pub fn ingest_hostile(s: &FlameletServer, service: &str, from: i64) {
    let long = format!("long_{}", "x".repeat(5000));
    let mut folded = String::new();
    for (i, name) in HOSTILE.iter().chain([&long.as_str()]).enumerate() {
        folded.push_str(&format!("main;{name} {}\n", i + 1));
    }
    let name = format!("{service}.cpu{{env=<b>\"x\\y</b>'z}}");
    let r = s.post(
        &format!("/ingest?name={}&from={from}", encode(&name)),
        folded.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn hostile_names_stay_data_in_json_graphviz_and_prometheus_output() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("flamelet.yaml");
    std::fs::write(
        &config,
        "metrics-export-rules:\n  h_total:\n    expr: shop.cpu\n    node: total\n    labels: [env]\n",
    )
    .expect("config");
    let s = FlameletServer::start_on(
        &dir.path().join("data"),
        &["--no-cron", "--config", config.to_str().expect("UTF-8")],
    );
    ingest_hostile(&s, "shop", T0);
    let query = format!("{CPU}{{service_name=\"shop\"}}");
    // JSON: valid, and each name exactly as sent.
    let fb = s.render(&query, T0 - 60, T0 + 60, "");
    let names: Vec<String> =
        serde_json::from_value(fb["flamebearer"]["names"].clone()).expect("names");
    for name in HOSTILE {
        assert!(names.iter().any(|n| n == name), "{name:?} in {names:?}");
    }
    // Graphviz: every name is one quoted string, its quotes and backslashes escaped, so the
    // graph has one node per function (the browser test lays it out with Graphviz itself).
    let r = s.get(&format!(
        "/pyroscope/render?query={}&from={}&until={}&format=dot",
        encode(&query),
        T0 - 60,
        T0 + 60
    ));
    assert_eq!(r.status, 200, "{}", r.body);
    let label_of = |line: &str| -> Option<String> {
        // `N1 [label="NAME\n…` up to the first unescaped quote.
        let rest = line.split_once("[label=\"")?.1;
        let (mut out, mut chars) = (String::new(), rest.chars());
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next()? {
                    'n' => break, // where the node's values start
                    other => out.push(other),
                },
                '"' => return None, // the label ended before its values: unescaped
                c => out.push(c),
            }
        }
        Some(out)
    };
    let labels: Vec<String> = r
        .body
        .lines()
        .filter(|l| l.starts_with('N') && !l.contains("->"))
        .map(|l| label_of(l).unwrap_or_else(|| panic!("unescaped label: {l}")))
        .collect();
    for name in HOSTILE {
        assert!(labels.iter().any(|l| l == name), "{name:?} in {labels:?}");
    }
    // Prometheus: the label value escaped as the text format says; promtool reads it.
    let r = s.get("/exported-metrics");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains("h_total{env=\"<b>\\\"x\\\\y</b>'z\"} "),
        "{}",
        r.body
    );
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("running promtool (scripts/test-deps.sh installs prometheus)");
    promtool
        .stdin
        .take()
        .expect("stdin")
        .write_all(r.body.as_bytes())
        .expect("writing to promtool");
    let out = promtool.wait_with_output().expect("promtool");
    let said =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    // promtool's lint may suggest names; a parse error is what would fail here.
    assert!(!said.contains("error while linting"), "{said}\n{}", r.body);
    assert!(!said.to_lowercase().contains("parse"), "{said}\n{}", r.body);
}

#[test]
fn error_answers_carry_no_stack_traces_or_internal_paths() {
    let s = FlameletServer::start();
    let q = encode(&format!("{CPU}{{}}"));
    let bad: Vec<(&str, String, Vec<u8>)> = vec![
        (
            "GET",
            "/pyroscope/render?query=%7B%7D%7D&from=1&until=2".into(),
            vec![],
        ),
        (
            "GET",
            format!("/pyroscope/render?query={q}&from=yesterday-ish"),
            vec![],
        ),
        (
            "POST",
            "/ingest?name=app.cpu&format=pprof".into(),
            b"\x1f\x8b\x08garbage".to_vec(),
        ),
        (
            "POST",
            "/ingest?name=app.cpu&format=jfr".into(),
            b"FLR\0\x00\x02".to_vec(),
        ),
        (
            "POST",
            "/ingest?name=app.cpu&format=speedscope".into(),
            b"{\"shared\":".to_vec(),
        ),
        ("POST", "/ingest?name=%7B&from=1".into(), b"a 1\n".to_vec()),
        (
            "POST",
            "/push.v1.PusherService/Push".into(),
            b"{\"series\": 5}".to_vec(),
        ),
        (
            "POST",
            format!("{Q}/SelectMergeStacktraces"),
            b"{\"start\": \"x\"}".to_vec(),
        ),
        ("POST", format!("{Q}/NoSuchMethod"), b"{}".to_vec()),
        ("POST", "/flamelet/adhoc".into(), b"\x00\x01\x02".to_vec()),
    ];
    for (method, path, body) in bad {
        let (status, reply) = raw(&s, method, &path, b"team-a", &body);
        assert!(
            (400..500).contains(&status),
            "{method} {path}: {status} {reply}"
        );
        for internal in [
            "panicked",
            ".rs:",
            "/src/",
            "/root/",
            "/home/",
            "/work/",
            "backtrace",
            "wasm trap",
            "RUST_",
            "stack backtrace",
        ] {
            assert!(!reply.contains(internal), "{method} {path}: {reply}");
        }
    }
}

/// The server's resident memory (kB), from /proc.
fn rss_kb(pid: u32) -> u64 {
    proc_status_kb(pid, "VmRSS:")
}

/// A memory figure (kB) of /proc/PID/status.
fn proc_status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// Sends `len` bytes of body (declared up front), 1 MiB at a time, until the server answers
/// or closes; its status.
fn send_huge(s: &FlameletServer, path: &str, len: u64) -> u16 {
    let addr = s.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).expect("connecting");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nX-Scope-OrgID: poison\r\nContent-Length: {len}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).expect("sending");
    let chunk = vec![b'a'; 1 << 20];
    let mut sent = 0;
    while sent < len && stream.write_all(&chunk).is_ok() {
        sent += chunk.len() as u64;
    }
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    let reply = String::from_utf8_lossy(&reply);
    reply
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status after {sent} bytes: {reply:?}"))
}

/// A CPU pprof whose one sample's stack has `depth` distinct locations (functions `f0`, …),
/// or one location `depth` times if `repeated`; encoded, not compressed.
fn deep_pprof(depth: u64, repeated: bool) -> Vec<u8> {
    use flamelet::wire::proto::google::v1::{Function, Line, Location, Profile, Sample, ValueType};
    use prost::Message;
    let distinct = if repeated { 1 } else { depth };
    let mut strings = vec!["".to_string(), "cpu".into(), "nanoseconds".into()];
    strings.extend((0..distinct).map(|i| format!("f{i}")));
    let profile = Profile {
        sample_type: vec![ValueType { r#type: 1, unit: 2 }],
        sample: vec![Sample {
            location_id: (0..depth)
                .map(|i| if repeated { 1 } else { i + 1 })
                .collect(),
            value: vec![1],
            ..Default::default()
        }],
        location: (1..=distinct)
            .map(|id| Location {
                id,
                line: vec![Line {
                    function_id: id,
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
        function: (1..=distinct)
            .map(|id| Function {
                id,
                name: id as i64 + 2,
                ..Default::default()
            })
            .collect(),
        string_table: strings,
        // A CPU profile as Go writes it: the period's type and unit are the sample's.
        period_type: Some(ValueType { r#type: 1, unit: 2 }),
        period: 10_000_000,
        ..Default::default()
    };
    profile.encode_to_vec()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).expect("gzip");
    gz.finish().expect("gzip")
}

#[test]
fn poison_inputs_are_refused_counted_by_reason_and_leave_the_server_as_it_was() {
    let s = FlameletServer::start();
    // Warm up, then the baseline.
    s.ingest("steady.cpu", T0, "main;work 1\n");
    let before = rss_kb(s.pid());
    // Another tenant's uploads and queries go on all along, and must all succeed.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let steady = {
        let (base, stop) = (s.base.clone(), stop.clone());
        std::thread::spawn(move || {
            let http = crate::util::server::Http::new(&base);
            let mut rounds = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r = http.post_as(
                    "steady",
                    &format!("/ingest?name=steady.cpu&from={}", T0 + rounds),
                    b"main;work 1\n",
                );
                assert_eq!(r.status, 200, "{}", r.body);
                let r = http.get_as(
                    "steady",
                    &format!(
                        "/pyroscope/render?query={}&from={}&until={}",
                        encode("steady.cpu{}"),
                        T0 - 60,
                        T0 + 100_000
                    ),
                );
                assert_eq!(r.status, 200, "{}", r.body);
                rounds += 1;
            }
            rounds
        })
    };
    let post = |path: &str, body: &[u8]| {
        let (status, reply) = raw(&s, "POST", path, b"poison", body);
        assert!(reply.trim().lines().count() <= 1, "{path}: {reply}");
        (status, reply)
    };
    let ingest = format!("/ingest?name=app.cpu&from={T0}");
    let mut expected: Vec<(&str, u16)> = Vec::new();
    // A gzip bomb: 256 MiB of zeros in 256 KiB.
    let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    bomb.write_all(&vec![0u8; 256 << 20]).expect("gzip");
    let (status, reply) = post(&ingest, &bomb.finish().expect("gzip"));
    assert_eq!(status, 413, "{reply}");
    expected.push(("max_profile_size_bytes", status));
    // 16 001 distinct stacks: one more sample than a profile may have.
    let many: String = (0..16_001).map(|i| format!("main;f{i} 1\n")).collect();
    let (status, reply) = post(&ingest, many.as_bytes());
    assert!(reply.contains("16001"), "{reply}");
    expected.push(("max_profile_stacktrace_samples", status));
    // A pprof whose one sample has 10^6 locations: 13 MB once decompressed (171 KB sent).
    let deep = deep_pprof(1_000_000, false);
    assert!(deep.len() > 4 << 20);
    let (status, reply) = post(
        &format!("/ingest?name=app&from={T0}&format=pprof"),
        &gzip(&deep),
    );
    assert_eq!(status, 413, "{reply}");
    expected.push(("max_profile_size_bytes", status));
    // One location 10^6 times (a runaway recursion) fits the size limit: stored with the
    // root-most 1000 frames, as the reference truncates.
    let path = format!("/ingest?name=deep&from={T0}&format=pprof");
    let (status, reply) = raw(
        &s,
        "POST",
        &path,
        b"recursive",
        &gzip(&deep_pprof(1_000_000, true)),
    );
    assert_eq!(status, 200, "{reply}");
    let r = s.get_as(
        "recursive",
        &format!(
            "/pyroscope/render?query={}&from={}&until={}",
            encode(&format!("{CPU}{{}}")),
            T0 - 60,
            T0 + 60
        ),
    );
    let levels = r.json()["flamebearer"]["levels"].as_array().map(Vec::len);
    assert_eq!(levels, Some(1001), "total and 1000 frames");
    // 100 000 series in one Push, each with a small profile of its own.
    let tiny = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        deep_pprof(3, false),
    );
    let series: Vec<Value> = (0..100_000)
        .map(|i| {
            json!({"labels": [{"name": "service_name", "value": "app"},
                {"name": "pod", "value": format!("pod-{i}")}],
                "samples": [{"rawProfile": tiny}]})
        })
        .collect();
    let push = json!({ "series": series }).to_string();
    let (status, reply) = post("/push.v1.PusherService/Push", push.as_bytes());
    assert_eq!(status, 429, "{reply}");
    assert!(
        reply.contains("100000 series, more than the tenant's 5000"),
        "{reply}"
    );
    expected.push(("max_global_series_per_tenant", status));
    // A Push series' one sample: a real Go CPU profile.
    let samples = json!([{"rawProfile": base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        crate::util::corpus("pprof/cpu.pb.gz"),
    )}]);
    // 100 000 label names on one series (a Push).
    let labels: Vec<Value> = (0..100_000)
        .map(|i| json!({"name": format!("l{i}"), "value": "v"}))
        .chain([json!({"name": "service_name", "value": "app"})])
        .collect();
    let push = json!({"series": [{"labels": labels, "samples": samples}]}).to_string();
    let (status, reply) = post("/push.v1.PusherService/Push", push.as_bytes());
    assert!(reply.contains("labels, more than 30"), "{reply}");
    expected.push(("max_label_names_per_series", status));
    // A label value of 10 MB.
    let value = "v".repeat(10 << 20);
    let push = json!({"series": [{"labels": [{"name": "service_name", "value": value}],
        "samples": samples}]})
    .to_string();
    let (status, reply) = post("/push.v1.PusherService/Push", push.as_bytes());
    assert!(
        reply.contains("10485760"),
        "{}",
        &reply[..reply.len().min(300)]
    );
    expected.push(("max_label_value_length", status));
    // A body over the 256 MiB limit.
    let status = send_huge(&s, &ingest, 300 << 20);
    expected.push(("body_size_limit", status));
    // A tenant id that would climb out of its prefix.
    let (status, reply) = raw(&s, "POST", &ingest, b"../steady", b"main 1\n");
    assert_eq!(status, 400, "{reply}");
    // A selector regex built to be slow elsewhere (Rust's regexes run in linear time), and
    // one of 100 000 alternatives: answered, not refused.
    let slow = format!("{CPU}{{service_name=~\"(a+)+$\"}}");
    let r = s.get_as(
        "poison",
        &format!(
            "/pyroscope/render?query={}&from={}&until={}",
            encode(&slow),
            T0 - 60,
            T0 + 60
        ),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let alternatives: Vec<String> = (0..100_000).map(|i| format!("v{i}")).collect();
    let body = json!({"name": "service_name",
        "matchers": [format!("{{service_name=~\"{}\"}}", alternatives.join("|"))],
        "start": START_MS.to_string(), "end": END_MS.to_string()})
    .to_string();
    let (status, reply) = post(&format!("{Q}/LabelValues"), body.as_bytes());
    assert!(status == 200 || status == 400, "{status} {reply}");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let rounds = steady
        .join()
        .expect("the steady tenant's requests all succeeded");
    assert!(rounds > 0);
    let after = rss_kb(s.pid());
    let peak = proc_status_kb(s.pid(), "VmHWM:");
    eprintln!(
        "host RSS {before} kB before, {after} kB after, peak {peak} kB; {rounds} steady rounds"
    );
    // Nothing of the poison tenant stored.
    let files = s.stored_files();
    assert!(!files.iter().any(|f| f.contains("poison")), "{files:?}");
    // Each refusal counted by reason, under its tenant (the bad id under none).
    let metrics = s.get("/metrics").body;
    for (reason, status) in &expected {
        assert!((400..500).contains(status), "{reason}: {status}");
        let times = expected.iter().filter(|(r, _)| r == reason).count();
        let line = format!("tenant=\"poison\",reason=\"{reason}\"}} {times}");
        assert!(metrics.contains(&line), "{line} in\n{metrics}");
    }
    assert!(
        metrics.contains("tenant=\"\",reason=\"invalid_tenant\"} 1"),
        "{metrics}"
    );
    // Memory: the baseline plus the instances' reuse, not the poisons' sizes (256 MiB bodies
    // and bombs); recorded in docs/reliability.md.
    assert!(after < before + (192 << 10), "{before} kB → {after} kB");
}

#[test]
fn limits_are_pyroscopes_configurable_per_tenant() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("flamelet.yaml");
    std::fs::write(
        &config,
        "limits:\n  max_label_names_per_series: 4\n  ingestion_rate_mb: 4\noverrides:\n  big:\n    max_profile_stacktrace_samples: 20000\n  deep:\n    max_profile_stacktrace_depth: 2\n  tight:\n    max_profile_size_bytes: 100\n    max_profile_symbol_value_length: 4\n    max_label_name_length: 12\n  narrow:\n    max_query_length: 1h\n    max_flamegraph_nodes_max: 10\n",
    )
    .expect("config");
    let s = FlameletServer::start_on(
        &dir.path().join("data"),
        &["--no-cron", "--config", config.to_str().expect("UTF-8")],
    );
    let many: String = (0..16_001).map(|i| format!("main;f{i} 1\n")).collect();
    let ingest = |tenant: &str, name: &str, body: &[u8]| {
        let path = format!("/ingest?name={}&from={T0}", encode(name));
        raw(&s, "POST", &path, tenant.as_bytes(), body)
    };
    // The default (Pyroscope's 16 000) for one tenant, raised for another.
    let (status, reply) = ingest("small", "app.cpu", many.as_bytes());
    assert_eq!(status, 413, "{reply}");
    assert_eq!(reply.trim(), "profile has 16001 samples, more than 16000");
    let (status, reply) = ingest("big", "app.cpu", many.as_bytes());
    assert_eq!(status, 200, "{reply}");
    // Label names per series lowered for all (service_name, __name__ and the name's tags).
    let (status, reply) = ingest("small", "app.cpu{a=1,b=2,c=3}", b"main 1\n");
    assert_eq!(status, 400, "{reply}");
    assert_eq!(reply.trim(), "series has 5 labels, more than 4");
    let (status, reply) = ingest("small", "app.cpu{a=1,b=2}", b"main 1\n");
    assert_eq!(status, 200, "{reply}");
    // Stack depth: the root-most frames kept.
    let (status, reply) = ingest("deep", "app.cpu", b"main;work;leaf 1\n");
    assert_eq!(status, 200, "{reply}");
    let r = s.get_as(
        "deep",
        &format!(
            "/pyroscope/render?query={}&from={}&until={}",
            encode("app.cpu{}"),
            T0 - 60,
            T0 + 60
        ),
    );
    assert_eq!(
        r.json()["flamebearer"]["names"],
        json!(["total", "main", "work"])
    );
    // Decoded profile size, symbol length (the last bytes kept, as the reference does) and
    // label name length (`service_name` is 12 bytes).
    let (status, reply) = ingest("tight", "app.cpu", &[b'x'; 101]);
    assert_eq!(status, 413, "{reply}");
    assert_eq!(reply.trim(), "decoded profile is larger than 100 bytes");
    let (status, reply) = ingest("tight", "app.cpu{twelve_bytes=1}", b"main;abcdefgh 1\n");
    assert_eq!(status, 200, "{reply}");
    let (status, reply) = ingest("tight", "app.cpu{thirteen_byte=1}", b"main 1\n");
    assert_eq!(status, 400, "{reply}");
    assert_eq!(
        reply.trim(),
        "label name `thirteen_byte` is 13 bytes, more than 12"
    );
    let render = |tenant: &str, from: i64, until: i64, nodes: usize| {
        s.get_as(
            tenant,
            &format!(
                "/pyroscope/render?query={}&from={from}&until={until}&maxNodes={nodes}",
                encode("app.cpu{}")
            ),
        )
    };
    let r = render("tight", T0 - 60, T0 + 60, 100);
    assert_eq!(
        r.json()["flamebearer"]["names"],
        json!(["total", "main", "efgh"])
    );
    // Query length and flame-graph nodes, for one tenant only.
    let (hour, day) = (3600, 86_400);
    let r = render("narrow", T0 - hour - 1, T0, 10);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("max_query_length"), "{}", r.body);
    assert_eq!(render("narrow", T0 - hour, T0, 10).status, 200);
    let r = render("narrow", T0 - 60, T0, 11);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("11"), "{}", r.body);
    assert_eq!(render("other", T0 - day, T0, 11).status, 200);
    // Counted by tenant and the limit's name.
    let metrics = s.get("/metrics").body;
    for line in [
        "tenant=\"small\",reason=\"max_profile_stacktrace_samples\"} 1",
        "tenant=\"small\",reason=\"max_label_names_per_series\"} 1",
        "tenant=\"tight\",reason=\"max_profile_size_bytes\"} 1",
        "tenant=\"tight\",reason=\"max_label_name_length\"} 1",
        "tenant=\"narrow\",reason=\"max_query_length\"} 1",
        "tenant=\"narrow\",reason=\"max_flamegraph_nodes_max\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
}

/// Sends a request declaring `declared` body bytes, then `chunk` bytes every `every` until the
/// server answers or `give_up` passes; the status and how long the answer took.
fn send_slowly(
    base: &str,
    path: &str,
    declared: u64,
    chunk: usize,
    every: std::time::Duration,
    give_up: std::time::Duration,
) -> (u16, std::time::Duration) {
    let addr = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).expect("connecting");
    stream.set_read_timeout(Some(every)).expect("read timeout");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nX-Scope-OrgID: slow\r\nContent-Length: {declared}\r\n\r\n"
    );
    let started = std::time::Instant::now();
    stream.write_all(head.as_bytes()).expect("sending");
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    while started.elapsed() < give_up {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                reply.extend_from_slice(&buf[..n]);
                if reply.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            // Nothing yet: send a little more.
            Err(_) => {
                if stream.write_all(&vec![b'a'; chunk]).is_err() {
                    let _ = stream.read_to_end(&mut reply);
                    break;
                }
            }
        }
    }
    let elapsed = started.elapsed();
    let reply = String::from_utf8_lossy(&reply);
    let status = reply
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no answer in {elapsed:?}: {reply:?}"));
    (status, elapsed)
}

#[test]
fn a_body_sent_slowly_costs_its_sender_one_instance_for_the_time_limit_and_no_one_else() {
    let dir = tempfile::tempdir().expect("temp dir");
    // One request computes at a time: one whose body is still arriving holds no turn.
    let s = FlameletServer::start_on(
        &dir.path().join("data"),
        &[
            "--no-cron",
            "--timeout-secs",
            "3",
            "--take-turns",
            "ingest,query",
            "--concurrent-requests",
            "1",
        ],
    );
    s.ingest("steady.cpu", T0, "main;work 1\n");
    let before = rss_kb(s.pid());
    let ingest = format!("/ingest?name=app.cpu&from={T0}");
    let second = std::time::Duration::from_secs(1);
    // 1 GiB declared, a kilobyte a tenth of a second: refused before any of it is read.
    let (status, took) = send_slowly(&s.base, &ingest, 1 << 30, 1024, second / 10, 20 * second);
    assert_eq!(status, 413);
    assert!(took < 2 * second, "{took:?}");
    // 1 MiB declared (within the limit) at the same pace: answered 408 at the time limit,
    // while another tenant's uploads and queries are answered as usual.
    let slow = {
        let (base, ingest) = (s.base.clone(), ingest.clone());
        std::thread::spawn(move || {
            send_slowly(&base, &ingest, 1 << 20, 1024, second / 10, 20 * second)
        })
    };
    let mut answered = 0;
    while !slow.is_finished() {
        let r = s.post_as(
            "steady",
            &format!("/ingest?name=steady.cpu&from={T0}"),
            b"main 1\n",
        );
        assert_eq!(r.status, 200, "{}", r.body);
        answered += 1;
    }
    let (status, took) = slow.join().expect("slow sender");
    assert_eq!(status, 408);
    assert!(took >= 3 * second && took < 10 * second, "{took:?}");
    assert!(answered > 3, "{answered}");
    let metrics = s.get("/metrics").body;
    assert!(
        metrics.contains("tenant=\"slow\",reason=\"body_timeout\"} 1"),
        "{metrics}"
    );
    assert!(!s.stored_files().iter().any(|f| f.contains("slow")));
    let after = rss_kb(s.pid());
    eprintln!("host RSS {before} kB before, {after} kB after; {answered} uploads meanwhile");
    assert!(after < before + (64 << 10), "{before} kB → {after} kB");
}

/// A query whose body is still arriving holds an instance slot and, at its body's end, waits
/// for a turn; a query that came whole waits for a slot and then a turn. Taken the other way
/// round by the second, one slot and one turn would each wait for the other until the time
/// limit.
#[test]
fn a_query_waiting_for_an_instance_slot_holds_no_turn() {
    let dir = tempfile::tempdir().expect("temp dir");
    let s = FlameletServer::start_on(
        &dir.path().join("data"),
        &[
            "--no-cron",
            "--timeout-secs",
            "5",
            "--max-instances",
            "1",
            "--concurrent-requests",
            "1",
        ],
    );
    s.ingest("app.cpu", T0, "main;work 1\n");
    let body = br#"{"start":"0","end":"9999999999999"}"#;
    let addr = s.base.trim_start_matches("http://").to_string();
    let mut post = TcpStream::connect(&addr).expect("connecting");
    let head = format!(
        "POST /querier.v1.QuerierService/LabelNames HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    post.write_all(head.as_bytes()).expect("sending");
    post.write_all(&body[..4]).expect("sending");
    // The POST now holds the only slot; this GET waits for it.
    let get = {
        let base = s.base.clone();
        std::thread::spawn(move || {
            ureq::get(format!("{base}/pyroscope/label-values?label=service_name"))
                .call()
                .map(|r| r.status().as_u16())
                .unwrap_or_else(|e| match e {
                    ureq::Error::StatusCode(code) => code,
                    other => panic!("{other}"),
                })
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(500));
    post.write_all(&body[4..]).expect("sending");
    let mut reply = String::new();
    post.read_to_string(&mut reply).expect("reading");
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert_eq!(get.join().expect("GET"), 200);
}

#[test]
fn jfr_recordings_that_nest_without_end_or_refer_to_themselves_are_bounded() {
    use crate::util::jfr::{self, CLASS, METHOD, STRING, SYMBOL, THREAD_STATE, TRACE, refs};
    let s = FlameletServer::start();
    let path = format!("/ingest?name=loop&from={T0}&format=jfr");
    let mut name = Vec::new();
    jfr::string(&mut name, "Loop");
    let mut runnable = Vec::new();
    jfr::string(&mut runnable, "STATE_RUNNABLE");
    // A string constant that is a reference to itself, named by a symbol: followed a few
    // hops, then read as missing.
    let mut itself = vec![2];
    jfr::varint(&mut itself, 7);
    // A stack of one frame 10^6 times (a runaway recursion): 1 MB.
    let mut frames = Vec::new();
    jfr::varint(&mut frames, 1_000_000);
    frames.extend(std::iter::repeat_n(1u8, 1_000_000));
    let pools = vec![
        (STRING, vec![(7, itself.clone())]),
        (SYMBOL, vec![(1, name), (2, itself)]),
        (CLASS, vec![(1, refs(&[1]))]),
        (METHOD, vec![(1, refs(&[1, 2]))]),
        (TRACE, vec![(1, frames)]),
        (THREAD_STATE, vec![(1, runnable)]),
    ];
    let recording = jfr::recording(&jfr::sample_classes(), &pools, &[refs(&[0, 1, 1])]);
    let (status, reply) = raw(&s, "POST", &path, b"loops", &recording);
    assert_eq!(status, 200, "{reply}");
    let r = s.get_as(
        "loops",
        &format!(
            "/pyroscope/render?query={}&from={}&until={}",
            encode(&format!("{CPU}{{}}")),
            T0 - 60,
            T0 + 60
        ),
    );
    let fg = &r.json()["flamebearer"];
    assert_eq!(fg["names"], json!(["total", "Loop."]), "{}", r.body);
    assert_eq!(fg["levels"].as_array().map(Vec::len), Some(1001));
    // A type that holds itself in place: its constants would nest for ever.
    let mut classes = jfr::sample_classes();
    classes.push((30, "flamelet.Nest", vec![("inner", 30, false, false)]));
    let recording = jfr::recording(&classes, &[(30, vec![(1, Vec::new())])], &[]);
    let (status, reply) = raw(&s, "POST", &path, b"nests", &recording);
    assert_eq!(status, 422, "{reply}");
    assert_eq!(reply.trim(), "invalid JFR: values nest too deep");
    assert!(!s.stored_files().iter().any(|f| f.contains("nests")));
    let metrics = s.get("/metrics").body;
    assert!(
        metrics.contains("tenant=\"nests\",reason=\"invalid_profile\"} 1"),
        "{metrics}"
    );
}
