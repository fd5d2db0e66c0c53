use std::collections::HashMap;

use prost::Message;

use super::*;
use crate::scrape::SCRAPE_CONFIGS_ENV;
use crate::scrape::delta::tests::heap;
use crate::scrape::testsuite::pprof;
use crate::storage::segment;
use crate::storage::store::MemoryStore;

/// Answers each URL with the next of its queued outcomes, in request order.
#[derive(Default)]
struct Canned {
    answers: HashMap<String, Vec<Outcome>>,
    asked: Vec<String>,
}

impl Canned {
    fn answer(&mut self, url: &str, result: Result<Fetched, FetchError>) {
        self.answers
            .entry(url.to_string())
            .or_default()
            .push(Outcome {
                result,
                elapsed_nanos: 5_000_000,
            });
    }

    fn ok(&mut self, url: &str, body: Vec<u8>) {
        self.answer(url, Ok(Fetched { status: 200, body }));
    }
}

impl Fetcher for Canned {
    fn fetch_all(&mut self, requests: &[FetchRequest], done: &mut dyn FnMut(usize, Outcome)) {
        // Reported last to first: the order of completion is the fetcher's.
        for (i, r) in requests.iter().enumerate().rev() {
            self.asked.push(r.url.clone());
            let queue = self.answers.entry(r.url.clone()).or_default();
            if !queue.is_empty() {
                done(i, queue.remove(0));
            }
        }
    }
}

fn jobs(json: &str) -> Jobs {
    Jobs::from_env(|n| (n == SCRAPE_CONFIGS_ENV).then(|| json.to_string())).unwrap()
}

const HEAP_JOB: &str = r#"[{"job_name":"go","tenant":"t1","static_configs":[{"targets":["a:1"],"labels":{"env":"ci"}}],
    "profiling_config":{"pprof_config":{"process_cpu":{"enabled":false},"goroutine":{"enabled":false},
    "mutex":{"enabled":false},"block":{"enabled":false}}}}]"#;

/// Every stored sample as (profile type, labels' env, stack, value), sorted.
fn stored(store: &MemoryStore) -> Vec<(String, String, String, i64)> {
    let mut out = Vec::new();
    for key in store.keys() {
        if crate::storage::keys::SegmentKey::parse(&key).is_none() {
            continue;
        }
        let data = segment::decode(store.get(&key).unwrap()).unwrap();
        for row in 0..data.samples.len() {
            let series = &data.series[data.samples.series[row] as usize];
            out.push((
                series.profile_type.to_string(),
                series.labels.get("env").cloned().unwrap_or_default(),
                data.stack_names(data.samples.stack[row]).join(";"),
                data.samples.value[row],
            ));
        }
    }
    out.sort();
    out
}

fn pass(store: &MemoryStore, jobs: &Jobs, fetcher: &mut Canned, now: i64) -> ScrapeReport {
    run(
        store,
        jobs,
        &TenantLimits::default(),
        &|_, _| true,
        fetcher,
        &|| now,
    )
}

#[test]
fn cumulative_heap_profiles_become_exact_deltas_and_a_restart_a_new_baseline() {
    let store = MemoryStore::default();
    let jobs = jobs(HEAP_JOB);
    let url = "http://a:1/debug/pprof/heap";
    let mut f = Canned::default();
    let t0 = 1_700_000_000_000_000_000;
    let scrape = |samples: &[(&[&str], [i64; 4], &str)], base, time| {
        heap(samples, base, time).encode_to_vec()
    };
    f.ok(
        url,
        scrape(&[(&["main", "alloc"], [10, 1000, 2, 200], "x")], 0, t0),
    );
    f.ok(
        url,
        scrape(
            &[
                (&["main", "alloc"], [15, 1500, 3, 300], "x"),
                (&["main", "grow"], [4, 400, 4, 400], "x"),
            ],
            50,
            t0 + 15_000_000_000,
        ),
    );
    // The process restarted: its counters start again.
    f.ok(
        url,
        scrape(
            &[(&["main", "alloc"], [3, 300, 1, 100], "x")],
            90,
            t0 + 30_000_000_000,
        ),
    );

    let first = pass(&store, &jobs, &mut f, t0);
    let h = &first.targets[0];
    assert_eq!(
        (h.health, h.profiles[0].kind.as_str()),
        (Health::Up, "baseline")
    );
    assert!(stored(&store).is_empty(), "the baseline is not stored");

    let second = pass(&store, &jobs, &mut f, t0 + 15_000_000_000);
    assert_eq!(second.targets[0].profiles[0].kind, "delta");
    let expected = |stack: &str, values: [i64; 4]| {
        [
            ("memory:alloc_objects:count:space:bytes", values[0]),
            ("memory:alloc_space:bytes:space:bytes", values[1]),
            ("memory:inuse_objects:count:space:bytes", values[2]),
            ("memory:inuse_space:bytes:space:bytes", values[3]),
        ]
        .into_iter()
        .filter(|(_, v)| *v != 0)
        .map(|(t, v)| (t.to_string(), "ci".to_string(), stack.to_string(), v))
        .collect::<Vec<_>>()
    };
    let mut want = expected("main;alloc", [5, 500, 3, 300]);
    want.extend(expected("main;grow", [4, 400, 4, 400]));
    want.sort();
    assert_eq!(stored(&store), want);

    let third = pass(&store, &jobs, &mut f, t0 + 30_000_000_000);
    assert_eq!(third.targets[0].profiles[0].kind, "restarted");
    want.extend(expected("main;alloc", [3, 300, 1, 100]));
    want.sort();
    assert_eq!(stored(&store), want, "no negative values after the reset");

    let listed = targets(&store, &jobs).unwrap();
    assert_eq!((listed[0].scrapes, listed[0].failures), (3, 0));
    assert_eq!(listed[0].labels["service_name"], "go");
    assert_eq!(listed[0].tenant, "t1");
}

#[test]
fn failed_targets_are_recorded_store_nothing_and_hold_up_no_other() {
    let store = MemoryStore::default();
    let jobs = jobs(
        r#"[{"job_name":"j","scrape_interval":"5s","static_configs":[{"targets":["ok:1","down:1","slow:1","html:1","big:1","gone:1"]}],
        "profiling_config":{"pprof_config":{"process_cpu":{"enabled":false},"memory":{"enabled":false},"mutex":{"enabled":false},"block":{"enabled":false}}}}]"#,
    );
    let goroutine = [("goroutine", "count")];
    let snapshot = pprof(
        &goroutine,
        goroutine[0],
        1,
        &[(&["main", "wait"], &[1], &[])],
        0,
        0,
    );
    let mut f = Canned::default();
    let path = "/debug/pprof/goroutine";
    f.ok(&format!("http://ok:1{path}"), snapshot.encode_to_vec());
    f.answer(
        &format!("http://down:1{path}"),
        Err(FetchError::Failed {
            reason: "connection refused".into(),
        }),
    );
    f.answer(
        &format!("http://slow:1{path}"),
        Err(FetchError::TimedOut { seconds: 5.0 }),
    );
    f.ok(
        &format!("http://html:1{path}"),
        b"<html>hello</html>".to_vec(),
    );
    f.answer(
        &format!("http://big:1{path}"),
        Err(FetchError::TooLarge { limit: 16 << 20 }),
    );
    f.answer(
        &format!("http://gone:1{path}"),
        Ok(Fetched {
            status: 404,
            body: b"404 page not found".to_vec(),
        }),
    );
    let report = pass(&store, &jobs, &mut f, 1_700_000_000_000_000_000);
    let by_instance: HashMap<&str, &TargetHealth> = report
        .targets
        .iter()
        .map(|t| (t.instance.as_str(), t))
        .collect();
    assert_eq!(by_instance["ok:1"].health, Health::Up);
    for (instance, error) in [
        (
            "down:1",
            "http://down:1/debug/pprof/goroutine: connection refused",
        ),
        ("slow:1", "no answer within 5 s"),
        ("html:1", "not a pprof profile"),
        ("big:1", "over body_size_limit"),
        ("gone:1", "http://gone:1/debug/pprof/goroutine answered 404"),
    ] {
        let h = by_instance[instance];
        assert_eq!(h.health, Health::Down, "{instance}");
        assert!(h.last_error.contains(error), "{instance}: {}", h.last_error);
        assert_eq!(h.failures, 1);
    }
    let rows = stored(&store);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].0, "goroutine:goroutine:count:goroutine:count");
    assert_eq!(rows[0].2, "main;wait");
    // Before any scrape a target is listed as unknown.
    let other = super::super::config::Jobs::from_env(|n| {
        (n == SCRAPE_CONFIGS_ENV)
            .then(|| r#"[{"job_name":"new","static_configs":[{"targets":["n:1"]}]}]"#.to_string())
    })
    .unwrap();
    assert_eq!(targets(&store, &other).unwrap()[0].health, Health::Unknown);
}

#[test]
fn a_baseline_that_cannot_be_written_takes_its_segment_back() {
    /// Refuses puts of baselines.
    struct NoBaselines(MemoryStore);
    impl ObjectStore for NoBaselines {
        fn get(&self, key: &str) -> Result<Bytes, StoreError> {
            self.0.get(key)
        }
        fn get_range(&self, key: &str, range: std::ops::Range<u64>) -> Result<Bytes, StoreError> {
            self.0.get_range(key, range)
        }
        fn put(&self, key: &str, data: Bytes, mode: PutMode) -> Result<(), StoreError> {
            if key.contains("/baselines/") && self.0.get(key).is_ok() {
                return Err(StoreError::Other {
                    message: "disk full".into(),
                });
            }
            self.0.put(key, data, mode)
        }
        fn list(
            &self,
            prefix: &str,
            token: Option<&str>,
            limit: u32,
            delimited: bool,
        ) -> Result<crate::storage::store::ListPage, StoreError> {
            self.0.list(prefix, token, limit, delimited)
        }
        fn delete(&self, key: &str) -> Result<(), StoreError> {
            self.0.delete(key)
        }
    }
    let store = NoBaselines(MemoryStore::default());
    let jobs = jobs(HEAP_JOB);
    let url = "http://a:1/debug/pprof/heap";
    let mut f = Canned::default();
    f.ok(
        url,
        heap(&[(&["m"], [1, 10, 1, 10], "x")], 0, 1).encode_to_vec(),
    );
    f.ok(
        url,
        heap(&[(&["m"], [2, 20, 1, 10], "x")], 0, 2).encode_to_vec(),
    );
    run(
        &store,
        &jobs,
        &TenantLimits::default(),
        &|_, _| true,
        &mut f,
        &|| 1,
    );
    let report = run(
        &store,
        &jobs,
        &TenantLimits::default(),
        &|_, _| true,
        &mut f,
        &|| 2,
    );
    let h = &report.targets[0];
    assert_eq!(h.health, Health::Down);
    assert!(h.last_error.contains("disk full"), "{}", h.last_error);
    assert!(
        stored(&store.0).is_empty(),
        "the delta's segment was taken back"
    );
}

#[test]
fn a_fetcher_that_reports_a_request_twice_counts_it_once() {
    struct Twice;
    impl Fetcher for Twice {
        fn fetch_all(&mut self, requests: &[FetchRequest], done: &mut dyn FnMut(usize, Outcome)) {
            for i in 0..requests.len() {
                for _ in 0..2 {
                    done(
                        i,
                        Outcome {
                            result: Ok(Fetched {
                                status: 404,
                                body: Vec::new(),
                            }),
                            elapsed_nanos: 1,
                        },
                    );
                }
            }
        }
    }
    let store = MemoryStore::default();
    let jobs = jobs(HEAP_JOB);
    let report = run(
        &store,
        &jobs,
        &TenantLimits::default(),
        &|_, _| true,
        &mut Twice,
        &|| 1,
    );
    assert_eq!(report.targets.len(), 1);
    assert_eq!(report.targets[0].scrapes, 1);
    assert!(report.targets[0].last_error.contains("answered 404"));
}
