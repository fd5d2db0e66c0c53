//! The host itself: restarts, limits, and failures that must stay inside one request.

use crate::util::{FlameletServer, T0, WORKED_EXAMPLE};

#[test]
fn a_restart_keeps_all_data() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let first = FlameletServer::start_on(&data, &["--no-cron"]);
    first.ingest("app.alloc_objects{env=prod}", T0, WORKED_EXAMPLE);
    first.ingest("app.alloc_objects{env=dev}", T0 + 30, "x;y 9\n");
    let before = first.render("app.alloc_objects{}", T0 - 60, T0 + 60, "&groupBy=env");
    drop(first);
    let second = FlameletServer::start_on(&data, &["--no-cron"]);
    assert_eq!(
        second.render("app.alloc_objects{}", T0 - 60, T0 + 60, "&groupBy=env"),
        before
    );
    assert_eq!(before["flamebearer"]["numTicks"], 13);
}

#[test]
fn a_request_over_its_memory_cap_fails_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let s = FlameletServer::start_on(
        &tmp.path().join("data"),
        &["--no-cron", "--memory-limit-mib", "48"],
    );
    // The guest reads the body into its own memory: 64 MiB cannot fit under a 48 MiB cap.
    let body = vec![b'a'; 64 << 20];
    let r = s.post(&format!("/ingest?name=app.cpu&from={T0}"), &body);
    assert_eq!(r.status, 413, "{}", r.body);
    assert_eq!(r.body.trim_end().lines().count(), 1);
    assert!(s.stored_files().is_empty());
    // The host keeps serving.
    s.ingest("app.alloc_objects", T0, "a 1\n");
    assert_eq!(
        s.render("app.alloc_objects{}", T0 - 1, T0 + 1, "")["flamebearer"]["numTicks"],
        1
    );
    assert!(s.log().contains("memory limit"), "{}", s.log());
}

#[test]
fn ready_and_unknown_routes() {
    let s = FlameletServer::start();
    let r = s.get("/ready");
    assert_eq!((r.status, r.body.as_str()), (200, "ready\n"));
    let r = s.get("/no/such/route");
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(
        r.body.contains("no route for `/no/such/route`"),
        "{}",
        r.body
    );
    // `/` is the UI's page.
    let page = s.get("/");
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("<title>Flamelet</title>"),
        "{}",
        page.body
    );
}

#[test]
fn a_request_over_its_time_cap_fails_alone() {
    use std::io::{Read, Write};
    let tmp = tempfile::tempdir().unwrap();
    let s = FlameletServer::start_on(
        &tmp.path().join("data"),
        &["--no-cron", "--timeout-secs", "1"],
    );
    // Promise 100 bytes, send 3, then stall: the guest waits on its body past the cap.
    let addr = s.base.trim_start_matches("http://").to_string();
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    conn.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(conn, "POST /ingest?name=app.cpu&from={T0} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 100\r\n\r\na 1").unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&answer).contains("time limit") {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    let answer = String::from_utf8_lossy(&answer);
    // The client's slowness, not the server's failure.
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains("request body not received within the time limit"),
        "{answer}"
    );
    drop(conn);
    // Only that request failed.
    s.ingest("app.alloc_objects", T0, "a 1\n");
    assert_eq!(
        s.render("app.alloc_objects{}", T0 - 1, T0 + 1, "")["flamebearer"]["numTicks"],
        1
    );
    assert!(
        s.log().contains("request body not received in time"),
        "{}",
        s.log()
    );
}

#[test]
fn requests_wait_for_a_free_instance_slot() {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let s = FlameletServer::start_on(
        &tmp.path().join("data"),
        &["--no-cron", "--max-instances", "1", "--timeout-secs", "2"],
    );
    // Occupy the only slot with a request whose body never completes.
    let addr = s.base.trim_start_matches("http://").to_string();
    let mut stalled = std::net::TcpStream::connect(&addr).unwrap();
    write!(stalled, "POST /ingest?name=app.cpu&from={T0} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 100\r\n\r\na").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    // This one waits until the stalled request times out, then succeeds (without waiting, the
    // pooling allocator would have no instance for it and it would fail).
    s.ingest("app.alloc_objects", T0, "a 1\n");
    assert_eq!(
        s.render("app.alloc_objects{}", T0 - 1, T0 + 1, "")["flamebearer"]["numTicks"],
        1
    );
    drop(stalled);
}

#[test]
fn a_grace_period_shorter_than_two_query_timeouts_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let serve = |extra: &[&str]| {
        std::process::Command::new(crate::util::server::BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--storage"])
            .arg(dir.path())
            .args(extra)
            .output()
            .unwrap()
    };
    // The embedded manifest's grace period (600 s) against a 400 s time limit.
    let out = serve(&["--timeout-secs", "400"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the manifest's FLAMELET_COMPACTION_GRACE_SECONDS (600 s) must be at least twice --timeout-secs (400 s)"),
        "{err}"
    );
    let out = serve(&["--timeout-secs", "60", "--compaction-grace-secs", "100"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "--compaction-grace-secs (100 s) must be at least twice --timeout-secs (60 s)"
        ),
        "{err}"
    );
    let out = serve(&["--env", "FLAMELET_COMPACTION_GRACE_SECONDS=soon"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "--env FLAMELET_COMPACTION_GRACE_SECONDS `soon` is not a whole number of seconds"
        ),
        "{err}"
    );
}

/// `--log-format json`: one JSON object per request line, with the request's id, tenant,
/// status and component as fields, for a log collector to index.
#[test]
fn json_logs_carry_request_ids_tenants_and_statuses() {
    let tmp = tempfile::tempdir().unwrap();
    let s = FlameletServer::start_on(
        &tmp.path().join("data"),
        &["--no-cron", "--log-format", "json"],
    );
    s.post_as(
        "team-a",
        &format!("/ingest?name=app.cpu&from={T0}"),
        b"a;b 1\n",
    );
    let bad = s.post_as("team-a", "/ingest?name=app.cpu&from=yesterday", b"a;b 1\n");
    assert_eq!(bad.status, 400);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let requests = loop {
        let requests: Vec<serde_json::Value> = s
            .log()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["path"] == "/ingest")
            .collect();
        if requests.len() == 2 || std::time::Instant::now() > deadline {
            break requests;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let fields = |v: &serde_json::Value| {
        (
            v["tenant"].clone(),
            v["component"].clone(),
            v["method"].clone(),
            v["status"].clone(),
            v["level"].clone(),
        )
    };
    assert_eq!(requests.len(), 2, "{}", s.log());
    for (v, status) in requests.iter().zip([200, 400]) {
        assert_eq!(
            fields(v),
            (
                "team-a".into(),
                "ingest".into(),
                "POST".into(),
                status.into(),
                "INFO".into()
            ),
            "{v}"
        );
        assert!(v["ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{v}");
    }
    let ids: Vec<u64> = requests
        .iter()
        .filter_map(|v| v["request"].as_u64())
        .collect();
    assert!(ids.len() == 2 && ids[0] < ids[1], "{ids:?}");
}

/// `/metrics` counts what each tenant's accepted uploads held (refusals add nothing), and
/// times each request by component and method; a made-up method is timed under its route.
#[test]
fn metrics_count_each_tenants_uploads_and_time_each_method() {
    let tmp = tempfile::tempdir().unwrap();
    let s = FlameletServer::start_on(&tmp.path().join("data"), &["--no-cron"]);
    let ingest = format!("/ingest?name=app.cpu&from={T0}");
    assert_eq!(s.post_as("team-a", &ingest, b"a;b 1\na;c 2\n").status, 200);
    assert_eq!(s.post_as("team-a", &ingest, b"x 5\n").status, 200);
    assert_eq!(s.post_as("team-b", &ingest, b"y 1\n").status, 200);
    let refused = s.post_as("team-a", "/ingest?name=app.cpu&from=yesterday", b"z 1\n");
    assert_eq!(refused.status, 400);
    let until = T0 + 60;
    let render = s.get_as(
        "team-a",
        &format!("/pyroscope/render?query=app.cpu{{}}&from={T0}&until={until}"),
    );
    assert_eq!(render.status, 200);
    let unknown = s.post_with(
        "/querier.v1.QuerierService/NoSuchMethod",
        &[
            ("X-Scope-OrgID", "team-a"),
            ("Content-Type", "application/json"),
        ],
        b"{}",
    );
    assert_eq!(unknown.status, 404);
    let metrics = s.get("/metrics").body;
    for line in [
        "flamelet_ingested_profiles_total{tenant=\"team-a\"} 2",
        "flamelet_ingested_samples_total{tenant=\"team-a\"} 3",
        "flamelet_ingested_bytes_total{tenant=\"team-a\"} 16",
        "flamelet_ingested_profiles_total{tenant=\"team-b\"} 1",
        "flamelet_ingested_bytes_total{tenant=\"team-b\"} 4",
        "flamelet_request_duration_seconds_count{component=\"ingest\",method=\"/ingest\"} 4",
        "flamelet_request_duration_seconds_count{component=\"query\",method=\"/pyroscope/render\"} 1",
        "flamelet_request_duration_seconds_count{component=\"query\",method=\"/querier.v1.QuerierService/...\"} 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line}\n{metrics}");
    }
    assert!(!metrics.contains("NoSuchMethod"), "{metrics}");
}

/// Minor page faults of a process so far (`/proc/PID/stat`, field 10).
fn minor_faults(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // Fields after the command (in parentheses, which may hold spaces): state is field 3.
    let after = &stat[stat.rfind(')').expect("command") + 2..];
    after
        .split(' ')
        .nth(7)
        .and_then(|f| f.parse().ok())
        .expect("minflt")
}

#[test]
fn kept_instance_memory_spares_each_upload_its_page_faults() {
    let body = crate::util::corpus("pprof/heap.pb.gz");
    let faults_per_upload = |extra: &[&str]| {
        let tmp = tempfile::tempdir().unwrap();
        let mut args = vec!["--no-cron"];
        args.extend_from_slice(extra);
        let s = FlameletServer::start_on(&tmp.path().join("data"), &args);
        let upload = || {
            let r = s.post(&format!("/ingest?name=app&from={T0}&format=pprof"), &body);
            assert_eq!(r.status, 200, "{}", r.body);
        };
        (0..10).for_each(|_| upload());
        let before = minor_faults(s.pid());
        (0..60).for_each(|_| upload());
        let faults = (minor_faults(s.pid()) - before) / 60;
        (faults, s.log())
    };
    let (kept, log) = faults_per_upload(&[]);
    let (none, none_log) = faults_per_upload(&["--keep-resident-mib", "0"]);
    eprintln!("page faults per upload: {kept} kept resident, {none} not");
    assert!(
        none_log.contains("none kept resident (--keep-resident-mib 0)"),
        "{none_log}"
    );
    if log.contains("no PAGEMAP_SCAN") {
        // Older kernels: nothing is kept, and that is said at start.
        return;
    }
    assert!(log.contains("8 MiB kept resident per slot"), "{log}");
    assert!(
        kept * 3 < none,
        "{kept} page faults per upload kept, {none} not"
    );
}
