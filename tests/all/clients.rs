//! Real clients, as users install them, profiling real programs against the real server.

use crate::util::{FlameletServer, server::encode, test_deps};

/// Runs a client program against the server (its address is the first argument) and checks
/// that it exited well and that the server accepted its uploads (`accepted` in the log).
fn run_client(s: &FlameletServer, program: &mut std::process::Command, accepted: &str) {
    let out = program
        .output()
        .unwrap_or_else(|e| panic!("running {program:?}: {e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(s.log().contains(accepted), "{}", s.log());
}

/// The values of a label over the last ten minutes.
fn recent_values(s: &FlameletServer, label: &str) -> serde_json::Value {
    s.get(&format!(
        "/pyroscope/label-values?label={label}&from=now-10m"
    ))
    .json()
}

/// The summed total of every flame-graph node whose name `matches`.
fn node_total(flamebearer: &serde_json::Value, matches: impl Fn(&str) -> bool) -> i64 {
    let names = flamebearer["names"].as_array().unwrap();
    flamebearer["levels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| l.as_array().unwrap().chunks(4))
        .filter(|g| matches(names[g[3].as_u64().unwrap() as usize].as_str().unwrap()))
        .map(|g| g[1].as_i64().unwrap())
        .sum()
}

/// A Python program that profiles itself with pyroscope-io (PyPI), which uses the push API.
const PYTHON_PROGRAM: &str = r#"
import os, sys, time, pyroscope
# Basic auth when the test gives a credential (pyroscope-io's own options).
pyroscope.configure(application_name="pyclient", server_address=sys.argv[1], tags={"env": "ci"},
    basic_auth_username=os.environ.get("FLAMELET_USER", ""),
    basic_auth_password=os.environ.get("FLAMELET_PASSWORD", ""),
    enable_logging=True)
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
    run_client(
        &s,
        std::process::Command::new("python3")
            .arg(&program)
            .arg(&s.base)
            .arg("3"),
        "POST /push.v1.PusherService/Push 200",
    );
    let values = |label: &str| recent_values(&s, label);
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
    let (slow, fast) = (
        node_total(&fg, |n| n == "slow"),
        node_total(&fg, |n| n == "fast"),
    );
    assert!(slow > fast, "slow {slow} fast {fast}");
    assert!(fg["numTicks"].as_i64().unwrap() > 0);
}

#[test]
fn pyroscope_nodejs_client() {
    test_deps();
    let s = FlameletServer::start();
    let program =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/clients/node/busy.js");
    run_client(
        &s,
        std::process::Command::new("node")
            .arg(&program)
            .arg(&s.base)
            .arg("4"),
        "POST /ingest 200",
    );
    let values = |label: &str| recent_values(&s, label);
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

/// A Rust program profiled by the `pyroscope` crate (crates.io) with its pprof-rs backend, which
/// pushes gzipped protobuf to the Push API; built by scripts/test-deps.sh.
#[test]
fn pyroscope_rust_client() {
    test_deps();
    let s = FlameletServer::start();
    let program = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/clients/rust/release/flamelet-rust-client");
    run_client(
        &s,
        std::process::Command::new(&program)
            .arg(&s.base)
            .arg("rustclient")
            .arg("3"),
        "POST /push.v1.PusherService/Push 200",
    );
    let values = |label: &str| recent_values(&s, label);
    assert_eq!(values("service_name"), serde_json::json!(["rustclient"]));
    assert_eq!(values("env"), serde_json::json!(["ci"]));
    assert_eq!(
        values("__name__"),
        serde_json::json!(["process_cpu:cpu:nanoseconds:cpu:nanoseconds"])
    );
    let r = s.get(&format!(
        "/pyroscope/render?query={}&from=now-10m&until=now",
        encode("process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name=\"rustclient\"}")
    ));
    assert_eq!(r.status, 200, "{}", r.body);
    let fg = r.json()["flamebearer"].clone();
    // Inlined frames are named by the debug info (`slow_function`), others by the symbol
    // table (`flamelet_rust_client::slow_function`).
    let named = |f: &'static str| move |n: &str| n == f || n.ends_with(&format!("::{f}"));
    let slow = node_total(&fg, named("slow_function"));
    let fast = node_total(&fg, named("fast_function"));
    assert!(slow > fast && fast > 0, "slow {slow} fast {fast}");

    // The stored segment keeps what pprof-rs said about the code: file names and lines.
    let mut found = false;
    for file in s.stored_files() {
        let bytes = std::fs::read(std::path::Path::new(&s.storage).join(&file)).unwrap();
        let d = flamelet::storage::segment::decode(bytes.into()).unwrap();
        for (node, frame) in d.nodes.iter().zip(&d.node_frames) {
            let f = d.functions[frame.function as usize];
            if named("slow_function")(&d.strings[node.name as usize]) {
                assert!(
                    d.string(f.filename).ends_with("main.rs"),
                    "{}",
                    d.string(f.filename)
                );
                assert!(frame.line > 0);
                found = true;
            }
        }
    }
    assert!(found, "slow_function is in a stored segment");
}

/// The three clients with authentication on, each with its own options: pyroscope-io's and the
/// crate's basic auth, @pyroscope/nodejs's bearer `authToken`. Their uploads land in the
/// credential's tenant; with a wrong secret each reports the refusal in its own way.
#[test]
fn real_clients_push_with_their_own_auth_options() {
    use crate::auth::{Credential, server_with};
    test_deps();
    let agents = Credential::new("agents", Some("team-a"), "write");
    let grafana = Credential::new("grafana", Some("team-a"), "read");
    let (dir, s) = server_with(&[&agents, &grafana]);
    let python = dir.path().join("busy.py");
    std::fs::write(&python, PYTHON_PROGRAM).unwrap();
    let node =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/clients/node/busy.js");
    let rust = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/clients/rust/release/flamelet-rust-client");
    // Each client, given `secret`: its command.
    let clients = |secret: &str| {
        let mut py = std::process::Command::new("python3");
        py.arg(&python).arg(&s.base).arg("2");
        py.env("FLAMELET_USER", "agents")
            .env("FLAMELET_PASSWORD", secret);
        let mut js = std::process::Command::new("node");
        js.arg(&node).arg(&s.base).arg("2");
        js.env("FLAMELET_TOKEN", format!("agents.{secret}"))
            .env("DEBUG", "pyroscope");
        let mut rs = std::process::Command::new(&rust);
        rs.arg(&s.base).arg("rustclient").arg("2");
        rs.env("FLAMELET_USER", "agents")
            .env("FLAMELET_PASSWORD", secret);
        [
            (
                "pyroscope-io",
                py,
                "POST /push.v1.PusherService/Push 200",
                "Sending Session failed 401 {\"code\":\"unauthenticated\",\"message\":\"invalid credentials for `agents`\"}",
            ),
            (
                "@pyroscope/nodejs",
                js,
                "POST /ingest 200",
                "Server rejected data ingest: HTTP 401",
            ),
            (
                "pyroscope crate",
                rs,
                "POST /push.v1.PusherService/Push 200",
                "Sending Session failed 401 {\"code\":\"unauthenticated\",\"message\":\"invalid credentials for `agents`\"}",
            ),
        ]
    };
    for (client, mut cmd, accepted, _) in clients(&agents.secret) {
        let out = cmd.output().unwrap_or_else(|e| panic!("{client}: {e}"));
        assert!(
            out.status.success(),
            "{client}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(s.log().contains(accepted), "{client}: {}", s.log());
    }
    let services = s.get_with(
        "/pyroscope/label-values?label=service_name&from=now-10m",
        &[("Authorization", &grafana.bearer())],
    );
    assert_eq!(services.status, 200, "{}", services.body);
    assert_eq!(
        services.json(),
        serde_json::json!(["nodeclient", "pyclient", "rustclient"]),
        "all three in the credential's tenant"
    );
    for (client, mut cmd, _, report) in clients("wrong") {
        let out = cmd.output().unwrap_or_else(|e| panic!("{client}: {e}"));
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            said.contains(report),
            "{client} reports the refusal: {said}"
        );
    }
}
