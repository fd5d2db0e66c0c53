//! Queries through `/pyroscope/render` and `/pyroscope/label-values`.

use serde_json::json;

use crate::util::{FlameletServer, T0, WORKED_EXAMPLE, server::encode};

#[test]
fn worked_example_exactly_for_alloc_objects() {
    let s = FlameletServer::start();
    s.ingest("app.alloc_objects", T0, WORKED_EXAMPLE);
    let r = s.render("app.alloc_objects{}", T0 - 60, T0 + 60, "");
    let keys: Vec<&String> = r.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["flamebearer", "groups", "metadata", "timeline", "version"]
    );
    assert_eq!(r["version"], 1);
    assert_eq!(
        r["flamebearer"],
        json!({
            "names": ["total", "a", "c", "d", "b", "e"],
            "levels": [[0, 4, 0, 0], [0, 4, 0, 1], [0, 1, 0, 4, 0, 3, 2, 2], [0, 1, 1, 5, 2, 1, 1, 3]],
            "numTicks": 4,
            "maxSelf": 2
        })
    );
    assert_eq!(
        r["metadata"],
        json!({"format": "single", "spyName": "", "sampleRate": 100, "units": "objects", "name": "alloc_objects"})
    );
    assert_eq!(r["groups"], json!(null));
}

#[test]
fn worked_example_exactly_for_cpu_scaled_by_sample_rate() {
    let s = FlameletServer::start();
    let r = s.post(
        &format!("/ingest?name=app.cpu&from={T0}&sampleRate=100"),
        WORKED_EXAMPLE.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.render("app.cpu{}", T0 - 60, T0 + 60, "");
    let u = 10_000_000i64; // 1e9 / sampleRate
    assert_eq!(
        r["flamebearer"],
        json!({
            "names": ["total", "a", "c", "d", "b", "e"],
            "levels": [[0, 4 * u, 0, 0], [0, 4 * u, 0, 1], [0, u, 0, 4, 0, 3 * u, 2 * u, 2], [0, u, u, 5, 2 * u, u, u, 3]],
            "numTicks": 4 * u,
            "maxSelf": 2 * u
        })
    );
    assert_eq!(
        r["metadata"],
        json!({"format": "single", "spyName": "", "sampleRate": 1_000_000_000u64, "units": "samples", "name": "cpu"})
    );
    // The current selector form names the same series.
    let r2 = s.render(
        "process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name=\"app\"}",
        T0 - 60,
        T0 + 60,
        "",
    );
    assert_eq!(r2["flamebearer"], r["flamebearer"]);
}

/// Four uploads: app in three environments and regions at T0, T0+10, T0+20, and `other`.
fn selector_fixture() -> FlameletServer {
    let s = FlameletServer::start();
    s.ingest("app.alloc_objects{env=prod,region=us-east}", T0, "f;g 1\n");
    s.ingest(
        "app.alloc_objects{env=staging,region=us-west}",
        T0 + 10,
        "f;g 2\n",
    );
    s.ingest(
        "app.alloc_objects{env=dev,region=eu-west}",
        T0 + 20,
        "f;h 4\n",
    );
    s.ingest("other.alloc_objects{env=prod}", T0, "x 8\n");
    s
}

fn total(s: &FlameletServer, query: &str, from: i64, until: i64) -> i64 {
    s.render(query, from, until, "")["flamebearer"]["numTicks"]
        .as_i64()
        .unwrap()
}

#[test]
fn selectors_with_every_operator() {
    let s = selector_fixture();
    let (from, until) = (T0 - 60, T0 + 60);
    for (query, expected) in [
        ("app.alloc_objects{}", 7),
        ("app.alloc_objects", 7),
        ("app.alloc_objects{env=\"prod\"}", 1),
        ("app.alloc_objects{env!=\"prod\"}", 6),
        ("app.alloc_objects{region=~\"us-.*\"}", 3),
        ("app.alloc_objects{region!~\"us-.*\"}", 4),
        ("app.alloc_objects{region=~\"us\"}", 0),
        (
            "app.alloc_objects{region=~\"us-.*\",region!=\"us-west\"}",
            1,
        ),
        (
            "app.alloc_objects{env=~\"prod|staging\",env!~\"stag.*\"}",
            1,
        ),
        ("app.alloc_objects{missing=\"\"}", 7),
        (
            "memory:alloc_objects:count::{service_name=\"app\",env=\"dev\"}",
            4,
        ),
        ("memory:alloc_objects:count::{}", 15),
        (
            "memory:alloc_objects:count::{service_name=~\"app|other\",env=\"prod\"}",
            9,
        ),
        ("app.cpu{}", 0),
    ] {
        assert_eq!(total(&s, query, from, until), expected, "{query}");
    }
    // Time ranges: [from, until] inclusive.
    assert_eq!(total(&s, "app.alloc_objects{}", T0 + 5, T0 + 60), 6);
    assert_eq!(total(&s, "app.alloc_objects{}", T0 + 10, T0 + 11), 2);
    assert_eq!(total(&s, "app.alloc_objects{}", T0 + 21, T0 + 60), 0);
}

#[test]
fn relative_and_date_times() {
    let s = FlameletServer::start();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    s.ingest("app.alloc_objects", now - 600, "a 5\n");
    let r = s.get("/pyroscope/render?query=app.alloc_objects%7B%7D&from=now-1h&until=now");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["flamebearer"]["numTicks"], 5);
    let r = s.get("/pyroscope/render?query=app.alloc_objects%7B%7D&from=now-5m");
    assert_eq!(r.json()["flamebearer"]["numTicks"], 0);
    // YYYYMMDD: the whole of 2023-11-14 UTC holds T0.
    let old = FlameletServer::start();
    old.ingest("app.alloc_objects", T0, "a 2\n");
    let r = old.get("/pyroscope/render?query=app.alloc_objects%7B%7D&from=20231114&until=20231115");
    assert_eq!(r.json()["flamebearer"]["numTicks"], 2, "{}", r.body);
}

#[test]
fn timeline_values_and_step_for_a_known_layout() {
    let s = selector_fixture();
    // One hour: raw step 2.4 s → 15 s; start = T0 rounded down to 15 s; 240 steps.
    let r = s.render("app.alloc_objects{}", T0, T0 + 3600, "");
    let t = &r["timeline"];
    assert_eq!(t["durationDelta"], 15);
    assert_eq!(t["startTime"], 1_699_999_995);
    let samples: Vec<i64> = t["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(samples.len(), 240);
    // T0 is 5 s into step 0; T0+10 and T0+20 fall in step 1.
    assert_eq!(&samples[..3], &[1, 6, 0]);
    assert_eq!(samples.iter().sum::<i64>(), 7);
    // avg: the mean of the profiles in each step.
    let r = s.render("app.alloc_objects{}", T0, T0 + 3600, "&aggregation=avg");
    assert_eq!(r["timeline"]["samples"][1], 3);
    // One day: raw 57.6 s → 1 m.
    let r = s.render("app.alloc_objects{}", T0 - 86_400 + 60, T0 + 60, "");
    assert_eq!(r["timeline"]["durationDelta"], 60);
    assert_eq!(r["timeline"]["samples"].as_array().unwrap().len(), 1440);
}

#[test]
fn group_by_gives_one_timeline_per_value() {
    let s = selector_fixture();
    let r = s.render("app.alloc_objects{}", T0, T0 + 3600, "&groupBy=env");
    let groups = r["groups"].as_object().unwrap();
    assert_eq!(
        groups.keys().collect::<Vec<_>>(),
        ["dev", "prod", "staging"]
    );
    let first = |g: &str| {
        let samples = groups[g]["samples"].as_array().unwrap();
        (
            samples[0].as_i64().unwrap(),
            samples[1].as_i64().unwrap(),
            samples.len(),
        )
    };
    assert_eq!(first("prod"), (1, 0, 240));
    assert_eq!(first("staging"), (0, 2, 240));
    assert_eq!(first("dev"), (0, 4, 240));
    assert_eq!(groups["dev"]["durationDelta"], 15);
    // The flame graph is still the whole selection.
    assert_eq!(r["flamebearer"]["numTicks"], 7);
}

#[test]
fn max_nodes_folds_small_nodes_into_other() {
    let s = FlameletServer::start();
    s.ingest("app.alloc_objects", T0, WORKED_EXAMPLE);
    for param in ["maxNodes", "max-nodes"] {
        let r = s.render(
            "app.alloc_objects{}",
            T0 - 1,
            T0 + 1,
            &format!("&{param}=2"),
        );
        assert_eq!(
            r["flamebearer"]["names"],
            json!(["total", "a", "other", "c"])
        );
        assert_eq!(
            r["flamebearer"]["levels"],
            json!([
                [0, 4, 0, 0],
                [0, 4, 0, 1],
                [0, 3, 2, 3, 0, 1, 1, 2],
                [2, 1, 1, 2]
            ])
        );
    }
}

#[test]
fn dot_format_and_label_values() {
    let s = selector_fixture();
    let r = s.get(&format!(
        "/pyroscope/render?query={}&from={}&until={}&format=dot",
        encode("app.alloc_objects{}"),
        T0 - 60,
        T0 + 60
    ));
    assert_eq!(r.status, 200);
    assert!(r.body.starts_with("digraph \"unnamed\" {"), "{}", r.body);
    assert!(
        r.body.contains("label=\"f\\n0 (0.00%)\\nof 7 (100.00%)\""),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("label=\"h\\n4 (57.14%)\\nof 4 (57.14%)\""),
        "{}",
        r.body
    );

    let lv = |q: &str| {
        let r = s.get(&format!(
            "/pyroscope/label-values?{q}&from={}&until={}",
            T0 - 60,
            T0 + 60
        ));
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()
    };
    assert_eq!(lv("label=service_name"), json!(["app", "other"]));
    assert_eq!(
        lv(&format!(
            "label=env&query={}",
            encode("app.alloc_objects{}")
        )),
        json!(["dev", "prod", "staging"])
    );
    assert_eq!(
        lv(&format!(
            "label=env&query={}",
            encode("{region=~\"us-.*\"}")
        )),
        json!(["prod", "staging"])
    );
    assert_eq!(
        lv("label=__name__"),
        json!(["memory:alloc_objects:count::"])
    );
    assert_eq!(lv("label=nothing"), json!([]));
}

#[test]
fn bad_queries_are_400_with_one_line() {
    let s = selector_fixture();
    for (what, q) in [
        (
            "bad selector",
            format!(
                "query={}&from={T0}&until={}",
                encode("app.alloc_objects{env=prod}"),
                T0 + 1
            ),
        ),
        (
            "bad regex",
            format!(
                "query={}&from={T0}&until={}",
                encode("app.alloc_objects{env=~\"(\"}"),
                T0 + 1
            ),
        ),
        (
            "missing type",
            format!(
                "query={}&from={T0}&until={}",
                encode("{service_name=\"app\"}"),
                T0 + 1
            ),
        ),
        (
            "unknown suffix",
            format!("query={}&from={T0}&until={}", encode("app.nope{}"), T0 + 1),
        ),
        (
            "bad time",
            format!(
                "query={}&from=yesterday&until={}",
                encode("app.cpu{}"),
                T0 + 1
            ),
        ),
        (
            "zero time",
            format!("query={}&from=0&until={}", encode("app.cpu{}"), T0 + 1),
        ),
        (
            "empty range",
            format!("query={}&from={}&until={T0}", encode("app.cpu{}"), T0 + 1),
        ),
        (
            "too many nodes",
            format!(
                "query={}&from={T0}&until={}&maxNodes=1048577",
                encode("app.cpu{}"),
                T0 + 1
            ),
        ),
        ("missing query", format!("from={T0}&until={}", T0 + 1)),
    ] {
        let r = s.get(&format!("/pyroscope/render?{q}"));
        assert_eq!(r.status, 400, "{what}: {}", r.body);
        assert_eq!(r.body.trim_end().lines().count(), 1, "{what}: {:?}", r.body);
    }
    let r = s.get_as(
        "a/b",
        &format!("/pyroscope/render?query=app.cpu&from={T0}&until={}", T0 + 1),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    let r = s.post("/pyroscope/render?query=app.cpu", b"");
    assert_eq!(r.status, 405, "{}", r.body);
    let r = s.get("/pyroscope/label-values");
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(s.get("/no/such/route").status, 404);
}

#[test]
fn tenants_never_see_each_other() {
    let s = FlameletServer::start();
    for (tenant, value) in [("team-a", "1"), ("team-b", "10")] {
        let r = s.post_as(
            tenant,
            &format!("/ingest?name=app.alloc_objects&from={T0}"),
            format!("{tenant};f {value}\n").as_bytes(),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    s.ingest("anon.alloc_objects", T0, "g 100\n");
    let q = |tenant: &str, query: &str| {
        let r = s.get_as(
            tenant,
            &format!(
                "/pyroscope/render?query={}&from={}&until={}",
                encode(query),
                T0 - 1,
                T0 + 1
            ),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["flamebearer"].clone()
    };
    assert_eq!(q("team-a", "app.alloc_objects{}")["numTicks"], 1);
    assert_eq!(
        q("team-a", "app.alloc_objects{}")["names"],
        json!(["total", "team-a", "f"])
    );
    assert_eq!(q("team-b", "app.alloc_objects{}")["numTicks"], 10);
    assert_eq!(
        q("team-b", "memory:alloc_objects:count::{}")["numTicks"],
        10
    );
    assert_eq!(q("", "memory:alloc_objects:count::{}")["numTicks"], 100);
    assert_eq!(
        q("anonymous", "memory:alloc_objects:count::{}")["numTicks"],
        100
    );
    let lv = s.get_as(
        "team-a",
        &format!(
            "/pyroscope/label-values?label=service_name&from={}&until={}",
            T0 - 1,
            T0 + 1
        ),
    );
    assert_eq!(lv.json(), json!(["app"]));
    // Every object sits under its tenant's prefix.
    let files = s.stored_files();
    assert_eq!(files.len(), 3);
    for prefix in ["tenants/team-a/", "tenants/team-b/", "tenants/anonymous/"] {
        assert_eq!(
            files.iter().filter(|f| f.starts_with(prefix)).count(),
            1,
            "{files:?}"
        );
    }
}
