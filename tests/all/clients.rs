//! Real clients, as users install them, profiling real programs against the real server.

use crate::util::{FlameletServer, server::encode, test_deps};

/// A Python program that profiles itself with pyroscope-io (PyPI), which uses the push API.
const PYTHON_PROGRAM: &str = r#"
import sys, time, pyroscope
pyroscope.configure(application_name="pyclient", server_address=sys.argv[1], tags={"env": "ci"})
def work(n):
    s = 0
    for i in range(n):
        s += i * i
    return s
def slow():
    return work(300000)
def fast():
    return work(50000)
end = time.time() + float(sys.argv[2])
while time.time() < end:
    slow()
    fast()
pyroscope.shutdown()
"#;

#[test]
fn pyroscope_io_python_client() {
    test_deps();
    let s = FlameletServer::start();
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("busy.py");
    std::fs::write(&program, PYTHON_PROGRAM).unwrap();
    let out = std::process::Command::new("python3")
        .arg(&program)
        .arg(&s.base)
        .arg("3")
        .output()
        .expect("running python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        s.log().contains("POST /push.v1.PusherService/Push 200"),
        "{}",
        s.log()
    );

    let values = |label: &str| {
        s.get(&format!(
            "/pyroscope/label-values?label={label}&from=now-10m"
        ))
        .json()
    };
    assert_eq!(values("service_name"), serde_json::json!(["pyclient"]));
    assert_eq!(values("env"), serde_json::json!(["ci"]));
    assert_eq!(
        values("__name__"),
        serde_json::json!(["process_cpu:cpu:nanoseconds:cpu:nanoseconds"])
    );
    // OpenTelemetry-style label names arrive with dots and are stored with underscores.
    assert_eq!(
        values("otel_scope_name"),
        serde_json::json!(["com.grafana.pyroscope/python"])
    );

    let r = s.get(&format!(
        "/pyroscope/render?query={}&from=now-10m&until=now",
        encode("process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name=\"pyclient\"}")
    ));
    assert_eq!(r.status, 200, "{}", r.body);
    let fg = r.json()["flamebearer"].clone();
    let names: Vec<&str> = fg["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    for f in ["slow", "fast", "work"] {
        assert!(names.contains(&f), "{f} missing from {names:?}");
    }
    // slow() does six times the work of fast(): its node must be the larger one.
    let total_of = |name: &str| -> i64 {
        let index = names.iter().position(|n| *n == name).unwrap() as i64;
        fg["levels"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|l| {
                l.as_array()
                    .unwrap()
                    .chunks(4)
                    .map(|g| (g[1].as_i64().unwrap(), g[3].as_i64().unwrap()))
                    .collect::<Vec<_>>()
            })
            .filter(|(_, n)| *n == index)
            .map(|(t, _)| t)
            .sum()
    };
    assert!(
        total_of("slow") > total_of("fast"),
        "slow {} fast {}",
        total_of("slow"),
        total_of("fast")
    );
    assert!(fg["numTicks"].as_i64().unwrap() > 0);
}

#[test]
fn pyroscope_nodejs_client() {
    test_deps();
    let s = FlameletServer::start();
    let program =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/clients/node/busy.js");
    let out = std::process::Command::new("node")
        .arg(&program)
        .arg(&s.base)
        .arg("4")
        .output()
        .expect("running node");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(s.log().contains("POST /ingest 200"), "{}", s.log());

    let values = |label: &str| {
        s.get(&format!(
            "/pyroscope/label-values?label={label}&from=now-10m"
        ))
        .json()
    };
    assert_eq!(values("service_name"), serde_json::json!(["nodeclient"]));
    assert_eq!(values("env"), serde_json::json!(["ci"]));
    let types = values("__name__");
    assert!(
        types
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("wall:wall:nanoseconds:wall:nanoseconds")),
        "{types}"
    );
    assert!(
        types
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t.as_str().unwrap().starts_with("memory:inuse_space")),
        "{types}"
    );

    let r = s.get(&format!(
        "/pyroscope/render?query={}&from=now-10m&until=now",
        encode("wall:wall:nanoseconds:wall:nanoseconds{service_name=\"nodeclient\"}")
    ));
    assert_eq!(r.status, 200, "{}", r.body);
    let names = r.json()["flamebearer"]["names"].clone();
    for f in [":slow:", ":fast:", ":work:"] {
        assert!(
            names
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n.as_str().unwrap().contains(f)),
            "{f} missing from {names}"
        );
    }
}
