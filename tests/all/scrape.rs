//! Pull mode (issue #20) through the real server and scrape component: a Node service with
//! `@pyroscope/nodejs`'s express middleware scraped on the cron schedule, and test targets
//! that serve fixed cumulative heap profiles (exact deltas, a counter reset), hang, answer
//! HTML, answer too much, or are not there.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flamelet::scrape::testsuite::{GO_MUTEX, go_heap, pprof};
use prost::Message;

use crate::util::target::{corpus_go_heap, grown, memory_job, target};
use crate::util::{FlameletServer, test_deps};

/// A Go heap profile as a target serves it: each sample's stack (root first) and its four
/// values; ids start at `base`, so that consecutive scrapes share none.
fn heap(samples: &[(&[&str], [i64; 4])], base: u64) -> Vec<u8> {
    go_heap(samples, base, 0).encode_to_vec()
}

fn write_config(dir: &Path, yaml: &str) -> String {
    let path = dir.join("flamelet.yaml");
    std::fs::write(&path, yaml).expect("writing the configuration");
    path.to_string_lossy().into_owned()
}

fn targets(s: &FlameletServer) -> Vec<serde_json::Value> {
    let r = s.get("/targets");
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["targets"].as_array().cloned().unwrap_or_default()
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

/// The flame graph's total of `query` over the last hour.
fn total(s: &FlameletServer, query: &str) -> i64 {
    let now = now_secs();
    s.render(query, now - 3600, now + 60, "&format=json")["flamebearer"]["numTicks"]
        .as_i64()
        .unwrap_or(0)
}

#[test]
fn cumulative_heap_profiles_are_stored_as_exact_deltas_and_failing_targets_hold_up_none() {
    let scrapes = [
        heap(&[(&["main", "alloc"], [10, 1000, 2, 200])], 0),
        heap(
            &[
                (&["main", "alloc"], [15, 1500, 3, 300]),
                (&["main", "grow"], [4, 400, 4, 400]),
            ],
            50,
        ),
        // The service restarted: its counters begin again.
        heap(&[(&["main", "alloc"], [3, 300, 1, 100])], 90),
    ];
    let served = Arc::new(Mutex::new(0usize));
    let count = served.clone();
    let (go, _) = target(Box::new(move |path| {
        if path != "/debug/pprof/heap" {
            return Some((404, b"404 page not found".to_vec()));
        }
        let mut n = count.lock().unwrap_or_else(|e| e.into_inner());
        let body = scrapes[(*n).min(scrapes.len() - 1)].clone();
        *n += 1;
        Some((200, body))
    }));
    let (slow, _) = target(Box::new(|_| None));
    let (html, _) = target(Box::new(|_| Some((200, b"<html>hello</html>".to_vec()))));
    let (big, _) = target(Box::new(|_| Some((200, vec![7u8; 2 << 20]))));
    // A port nothing listens on.
    let gone = {
        let l = TcpListener::bind("127.0.0.1:0").expect("a free port");
        l.local_addr().expect("its address").to_string()
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(
        dir.path(),
        &format!(
            "scrape_configs:
  - job_name: heapjob
    tenant: team-a
    scrape_interval: 5s
    scrape_timeout: 2s
    body_size_limit: 1MiB
    static_configs:
      - targets: ['{go}']
        labels: {{env: ci}}
      - targets: ['{slow}', '{html}', '{big}', '{gone}']
    profiling_config:
      pprof_config:
        process_cpu: {{enabled: false}}
        goroutine: {{enabled: false}}
        mutex: {{enabled: false}}
        block: {{enabled: false}}
"
        ),
    );
    let s = FlameletServer::start_on(
        &dir.path().join("data"),
        &["--no-cron", "--config", &config],
    );
    let listed = targets(&s);
    assert_eq!(listed.len(), 5);
    assert!(
        listed.iter().all(|t| t["health"] == "unknown"),
        "{listed:?}"
    );

    let alloc =
        "memory:alloc_space:bytes:space:bytes{service_name=\"heapjob\",env=\"ci\",job=\"heapjob\"}";
    let inuse = "memory:inuse_space:bytes:space:bytes{service_name=\"heapjob\"}";
    let team_a = |query: &str| {
        let now = now_secs();
        let r = s.get_as(
            "team-a",
            &format!(
                "/pyroscope/render?query={}&from={}&until={}&format=json",
                crate::util::server::encode(query),
                now - 3600,
                now + 60
            ),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["flamebearer"]["numTicks"].as_i64().unwrap_or(0)
    };
    let pass = || {
        let started = Instant::now();
        let r = s.post("/flamelet/scrape", b"");
        assert_eq!(r.status, 200, "{}", r.body);
        (r.json(), started.elapsed())
    };
    // 1: the baseline, kept and not stored.
    let (report, took) = pass();
    let by = |report: &serde_json::Value, instance: &str| {
        report["targets"]
            .as_array()
            .and_then(|a| a.iter().find(|t| t["instance"] == instance).cloned())
            .unwrap_or_else(|| panic!("no {instance} in {report}"))
    };
    let first = by(&report, &go);
    assert_eq!(first["health"], "up", "{first}");
    assert_eq!(first["profiles"][0]["kind"], "baseline");
    assert_eq!(team_a(alloc), 0);
    // The hanging target took the pass to its 2 s timeout, the Go target's answer not.
    assert!(took >= Duration::from_secs(2), "{took:?}");
    assert!(
        first["last_scrape_duration_seconds"].as_f64().unwrap() < 1.5,
        "{first}"
    );
    for (instance, error) in [
        (&slow, "no answer within 2 s"),
        (&html, "not a pprof profile"),
        (&big, "over body_size_limit (1048576 bytes)"),
        (&gone, "connection refused"),
    ] {
        let t = by(&report, instance);
        assert_eq!(t["health"], "down", "{t}");
        let e = t["last_error"].as_str().unwrap();
        assert!(e.contains(error), "{instance}: {e}");
        assert!(e.contains(instance.as_str()), "names the URL: {e}");
    }
    // 2: the growth since the baseline, exactly; in-use memory as it is.
    let (report, _) = pass();
    assert_eq!(by(&report, &go)["profiles"][0]["kind"], "delta");
    assert_eq!(team_a(alloc), 500 + 400);
    assert_eq!(team_a(inuse), 300 + 400);
    // 3: counters went down: the new process's profile, no negative values.
    let (report, _) = pass();
    assert_eq!(by(&report, &go)["profiles"][0]["kind"], "restarted");
    assert_eq!(team_a(alloc), 900 + 300);
    assert_eq!(team_a(inuse), 700 + 100);
    // Nothing was stored for the failing targets, nor for another tenant.
    assert_eq!(total(&s, alloc), 0, "the anonymous tenant has nothing");
    let now = now_secs();
    let services = s.get_as(
        "team-a",
        &format!(
            "/pyroscope/label-values?label=instance&from={}&until={}",
            now - 3600,
            now + 60
        ),
    );
    assert_eq!(
        services.json(),
        serde_json::json!([go]),
        "{}",
        services.body
    );

    // /targets and /metrics say the same.
    let listed = targets(&s);
    let go_now = listed
        .iter()
        .find(|t| t["instance"] == go.as_str())
        .expect("listed");
    assert_eq!(
        (go_now["scrapes"].as_u64(), go_now["failures"].as_u64()),
        (Some(3), Some(0))
    );
    let metrics = s.get("/metrics").body;
    for (series, value) in [
        (
            format!("flamelet_scrape_target_up{{job=\"heapjob\",instance=\"{go}\"}}"),
            "1",
        ),
        (
            format!("flamelet_scrape_target_up{{job=\"heapjob\",instance=\"{slow}\"}}"),
            "0",
        ),
        (
            format!("flamelet_scrape_target_scrapes_total{{job=\"heapjob\",instance=\"{go}\"}}"),
            "3",
        ),
        (
            format!("flamelet_scrape_target_failures_total{{job=\"heapjob\",instance=\"{big}\"}}"),
            "3",
        ),
    ] {
        let line = metrics
            .lines()
            .find(|l| l.starts_with(&format!("{series} ")))
            .unwrap_or_else(|| panic!("no {series} in\n{metrics}"));
        let got: f64 = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .expect("a value");
        assert_eq!(got, value.parse::<f64>().expect("a number"), "{line}");
    }

    // The status page lists the targets, as a person opens it.
    let page = crate::ui::open(&s, "/status", "scrape-targets.png", "status");
    let rows = page["targets"]["rows"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(rows.len(), 5, "{page}");
    let row = |instance: &str| {
        rows.iter()
            .find(|r| r[1].as_str().is_some_and(|c| c.starts_with(instance)))
            .unwrap_or_else(|| panic!("no {instance} row: {page}"))
    };
    let go_row = row(&go);
    assert_eq!(
        (&go_row[0], &go_row[1], &go_row[2], &go_row[3]),
        (
            &serde_json::json!("heapjob"),
            &serde_json::json!(format!("{go}env=ci")),
            &serde_json::json!("team-a"),
            &serde_json::json!("up")
        ),
        "{page}"
    );
    assert_eq!(go_row[6], "3 / 0", "{page}");
    assert_eq!(go_row[7], "memory", "{page}");
    let big_row = row(&big);
    assert_eq!(big_row[3], "down", "{page}");
    assert!(
        big_row[8]
            .as_str()
            .is_some_and(|e| e.contains("over body_size_limit")),
        "{page}"
    );
}

/// The Node service, stopped however the test ends.
struct Service(std::process::Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_node_service_with_the_express_middleware_is_scraped_on_schedule_into_the_flame_graph() {
    test_deps();
    let program = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/clients/node/pull.js");
    let mut node = Service(
        std::process::Command::new("node")
            .arg(&program)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("starting node"),
    );
    let mut line = String::new();
    BufReader::new(node.0.stdout.take().expect("piped stdout"))
        .read_line(&mut line)
        .expect("its port");
    let port = line
        .trim()
        .strip_prefix("listening ")
        .expect("listening PORT")
        .to_string();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(
        dir.path(),
        &format!(
            "scrape_configs:
  - job_name: nodepull
    scrape_interval: 2s
    scrape_timeout: 2s
    static_configs:
      - targets: ['127.0.0.1:{port}']
        labels: {{env: ci}}
    profiling_config:
      pprof_config:
        goroutine: {{enabled: false}}
        mutex: {{enabled: false}}
        block: {{enabled: false}}
"
        ),
    );
    // The cron trigger on: the scrape component runs every second and scrapes when due.
    let s = FlameletServer::start_on(&dir.path().join("data"), &["--config", &config]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let up = loop {
        let t = targets(&s).pop().expect("one target");
        if t["scrapes"].as_u64().unwrap_or(0) >= 3 {
            break t;
        }
        assert!(
            Instant::now() < deadline,
            "not scraped three times in 60 s: {t}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    drop(node);
    assert_eq!(up["health"], "up", "{up}");
    assert_eq!(up["failures"], 0, "{up}");
    // One scrape per interval, each taking the CPU profile's second.
    let cpu = &up["profiles"][0];
    assert_eq!(
        cpu["url"],
        format!("http://127.0.0.1:{port}/debug/pprof/profile?seconds=1")
    );
    let query = "process_cpu:wall:nanoseconds:wall:nanoseconds{service_name=\"nodepull\",env=\"ci\",job=\"nodepull\"}";
    let now = now_secs();
    let fg = s.render(query, now - 3600, now + 60, "&format=json");
    let names = fg["flamebearer"]["names"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        names.contains(&serde_json::json!("pulledSlowly")),
        "{names:?}"
    );
    let instances = s.get(&format!(
        "/pyroscope/label-values?label=instance&from={}&until={}",
        now - 3600,
        now + 60
    ));
    assert_eq!(
        instances.json(),
        serde_json::json!([format!("127.0.0.1:{port}")])
    );
    assert_eq!(up["profiles"][1]["name"], "memory");
    assert_eq!(up["profiles"][1]["health"], "up", "{up}");
}

/// The same pull under `wasmtime serve`: the packaged scrape component, its jobs in its
/// environment as `flamelet package --config` writes them, scrapes a Go-style target (heap,
/// mutex, a custom path) into moto's bucket; the packaged query component answers the deltas.
#[test]
fn wasmtime_serve_runs_the_packaged_scrape_component_against_a_go_style_target() {
    let step = Arc::new(Mutex::new(0i64));
    let at = step.clone();
    let (go, asked) = target(Box::new(move |path| {
        let n = *at.lock().unwrap_or_else(|e| e.into_inner());
        let body = match path {
            // Allocations grow by 500 bytes a step; in use: 200, 300, 400.
            "/debug/pprof/heap" => heap(
                &[(
                    &["main", "alloc"],
                    [10 + 5 * n, 1000 + 500 * n, 2 + n, 200 + 100 * n],
                )],
                10 * n as u64,
            ),
            // Contentions grow, then the service restarts at step 2.
            "/debug/pprof/mutex" => {
                let values: [i64; 2] = [[5, 7000], [8, 10_000], [1, 500]][n.min(2) as usize];
                let samples = [(&["main", "lock"][..], &values[..], &[][..])];
                pprof(&GO_MUTEX, ("contentions", "count"), 1, &samples, 100, 0).encode_to_vec()
            }
            // A custom profile: a snapshot each time.
            "/debug/queue" => {
                let samples = [(&["main", "wait"][..], &[3][..], &[][..])];
                let goroutine = [("goroutine", "count")];
                pprof(&goroutine, goroutine[0], 1, &samples, 200, 0).encode_to_vec()
            }
            _ => return Some((404, b"404 page not found".to_vec())),
        };
        Some((200, body))
    }));
    let (slow, _) = target(Box::new(|_| None));
    let jobs = serde_json::json!([{
        "job_name": "gojob",
        "scrape_interval": "15s",
        "scrape_timeout": "2s",
        "static_configs": [{"targets": [go, slow], "labels": {"env": "wasm"}}],
        "profiling_config": {"pprof_config": {
            "process_cpu": {"enabled": false},
            "goroutine": {"enabled": false},
            "block": {"enabled": false},
            "queue": {"path": "/debug/queue"},
        }},
    }])
    .to_string();

    let s3 = crate::util::s3::S3Server::start();
    s3.bucket("pull", "");
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = crate::util::dist::package(tmp.path(), &s3.endpoint, "pull", "");
    let env = crate::util::dist::provider_env(&s3.endpoint, "pull", "");
    let with_jobs = [&env[..], &[("FLAMELET_SCRAPE_CONFIGS", jobs.as_str())]].concat();
    let serve = |id: &str, env: &[(&str, &str)]| {
        crate::util::wasmtime::WasmtimeServe::start(&out.join(format!("flamelet-{id}.wasm")), env)
    };
    let (scrape, query) = (serve("scrape", &with_jobs), serve("query", &env));

    let listed = scrape.get("/targets");
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.json()["targets"].as_array().map(Vec::len), Some(2));
    let total = |q: &str| {
        let now = now_secs();
        query.render(q, now - 3600, now + 60, "&format=json")["flamebearer"]["numTicks"]
            .as_i64()
            .unwrap_or(0)
    };
    let by = |report: &serde_json::Value, instance: &str| {
        report["targets"]
            .as_array()
            .and_then(|a| a.iter().find(|t| t["instance"] == instance).cloned())
            .unwrap_or_else(|| panic!("no {instance} in {report}"))
    };
    let alloc = "memory:alloc_space:bytes:space:bytes{service_name=\"gojob\",env=\"wasm\"}";
    let inuse = "memory:inuse_space:bytes:space:bytes{service_name=\"gojob\"}";
    let delay = "mutex:delay:nanoseconds:contentions:count{service_name=\"gojob\",job=\"gojob\"}";
    let queue = "queue:goroutine:count:goroutine:count{service_name=\"gojob\"}";
    let mut seen = Vec::new();
    for n in 0..3 {
        *step.lock().unwrap_or_else(|e| e.into_inner()) = n;
        let r = scrape.post("/flamelet/scrape", b"");
        assert_eq!(r.status, 200, "{}", r.body);
        let report = r.json();
        let t = by(&report, &go);
        assert_eq!(t["health"], "up", "{t}");
        // The hanging target is cut off at its 2 s deadline: the guest's timer, or the request
        // options it gave wasmtime, whichever fires first.
        let hung = by(&report, &slow);
        assert_eq!(hung["health"], "down", "{hung}");
        let e = hung["last_error"].as_str().unwrap_or_default();
        assert!(e.contains("no answer within 2 s"), "{e}");
        seen.push((total(alloc), total(inuse), total(delay), total(queue)));
    }
    assert_eq!(
        seen,
        [
            // The first scrape of a cumulative profile is the baseline; the custom one is stored.
            (0, 0, 0, 3),
            (500, 300, 3000, 6),
            // The mutex counters went down: the new process's profile as it is.
            (1000, 300 + 400, 3000 + 500, 9),
        ]
    );
    let paths = asked.lock().unwrap_or_else(|e| e.into_inner()).clone();
    for path in ["/debug/pprof/heap", "/debug/pprof/mutex", "/debug/queue"] {
        assert_eq!(paths.iter().filter(|p| *p == path).count(), 3, "{paths:?}");
    }
    // The health records are in the bucket: a fresh instance lists them.
    let listed = scrape.get("/targets").json();
    let t = by(&listed, &go);
    assert_eq!(
        (t["scrapes"].as_u64(), t["failures"].as_u64()),
        (Some(3), Some(0)),
        "{t}"
    );
    assert!(
        s3.keys("pull")
            .iter()
            .any(|k| k.starts_with("tenants/anonymous/scrape/")),
        "baselines and health in the bucket"
    );
}

/// The scrape component is one thread: while it decodes and stores one target's answer it
/// reads no other. A hundred real Go heap profiles take it well over the 1 s timeout to work
/// through; the targets all answered at once, so none of them may time out, and each one's
/// duration is its own answer's, not the wait behind the others.
#[test]
fn targets_that_answer_at_once_do_not_time_out_behind_the_others_work() {
    // Enough targets that the delta pass's work outlasts the 1 s timeout (about 9 ms each
    // here; 100 were enough before ingest got faster).
    const TARGETS: usize = 200;
    let base = corpus_go_heap();
    let answers = Arc::new([grown(&base, 1), grown(&base, 2)]);
    let per_scrape = answers[1].1 - answers[0].1;
    let addresses: Vec<String> = (0..TARGETS)
        .map(|_| {
            let (answers, served) = (answers.clone(), Mutex::new(0usize));
            target(Box::new(move |_| {
                let mut n = served.lock().unwrap_or_else(|e| e.into_inner());
                let body = answers[(*n).min(1)].0.clone();
                *n += 1;
                Some((200, body))
            }))
            .0
        })
        .collect();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), &memory_job("many", "1s", &addresses));
    let s = FlameletServer::start_on(
        &dir.path().join("data"),
        &["--no-cron", "--config", &config],
    );
    for pass in ["baseline", "delta"] {
        let started = Instant::now();
        let r = s.post("/flamelet/scrape", b"");
        let took = started.elapsed();
        assert_eq!(r.status, 200, "{}", r.body);
        let report = r.json();
        let targets = report["targets"].as_array().cloned().unwrap_or_default();
        assert_eq!(targets.len(), TARGETS);
        for t in &targets {
            assert_eq!(t["health"], "up", "{pass} pass of {took:?}: {t}");
            assert_eq!(t["profiles"][0]["kind"], pass, "{t}");
            let own = t["last_scrape_duration_seconds"]
                .as_f64()
                .unwrap_or(f64::MAX);
            assert!(own < 1.0, "{pass}: {t}");
        }
        if pass == "delta" {
            // Worth checking only if the work did outlast the timeout.
            assert!(took > Duration::from_secs(1), "{took:?}");
        }
    }
    let alloc = "memory:alloc_space:bytes:space:bytes{service_name=\"many\"}";
    assert_eq!(total(&s, alloc), TARGETS as i64 * per_scrape);
}
