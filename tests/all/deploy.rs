//! The deployable artefact on hosts the project did not write: `flamelet package` composes
//! each function with the S3 provider; `wasmtime serve` runs the results against moto's S3
//! server and answers as `flamelet serve` does on the same bucket; `flamelet serve --manifest
//! dist/spin.toml` runs them too, letting them reach only the destinations the manifest lists.

use std::path::Path;

use base64::Engine;
use serde_json::{Value, json};

use crate::util::dist;
use crate::util::s3::S3Server;
use crate::util::server::Http;
use crate::util::wasmtime::WasmtimeServe;
use crate::util::{FlameletServer, T0, WORKED_EXAMPLE, corpus};

const CONNECT_JSON: (&str, &str) = ("Content-Type", "application/json");

#[test]
fn packaged_components_import_only_wasi() {
    let tmp = tempfile::tempdir().unwrap();
    // Packaging only writes the endpoint down; nothing listens there.
    let out = dist::package(tmp.path(), "http://127.0.0.1:9", "b", "");
    for id in ["ingest", "query", "compact", "scrape"] {
        let scheduled = id == "compact" || id == "scrape";
        let wasm = std::fs::read(out.join(format!("flamelet-{id}.wasm"))).unwrap();
        let imports = flamelet_host::package::imports(&wasm).unwrap();
        assert!(
            imports
                .iter()
                .any(|i| i.starts_with("wasi:http/outgoing-handler@")),
            "{id}: {imports:?}"
        );
        for import in &imports {
            let cron_types = scheduled && import == flamelet_host::package::SPIN_CRON_TYPES;
            assert!(
                import.starts_with("wasi:") || cron_types,
                "{id} imports {import}"
            );
        }
        let exports = flamelet_host::package::exports(&wasm).unwrap();
        assert!(
            exports
                .iter()
                .any(|e| e.starts_with("wasi:http/incoming-handler@")),
            "{id}: {exports:?}"
        );
        assert_eq!(
            exports.iter().any(|e| e == "handle-cron-event"),
            scheduled,
            "{id}: {exports:?}"
        );
    }
    // The UI needs no storage: packaged as built, it imports wasi:* only and serves HTTP.
    let ui = std::fs::read(out.join("flamelet-ui.wasm")).unwrap();
    let imports = flamelet_host::package::imports(&ui).unwrap();
    assert!(
        imports.iter().all(|i| i.starts_with("wasi:")),
        "{imports:?}"
    );
    let exports = flamelet_host::package::exports(&ui).unwrap();
    assert!(
        exports
            .iter()
            .any(|e| e.starts_with("wasi:http/incoming-handler@")),
        "{exports:?}"
    );
    // The unpackaged function imports the storage capability: the check above can fail.
    let raw = flamelet_host::package::imports(
        &std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../target/components/wasm32-wasip2/component/flamelet_ingest.wasm"),
        )
        .unwrap(),
    )
    .unwrap();
    assert!(
        raw.iter().any(|i| i.starts_with("flamelet:host/store")),
        "{raw:?}"
    );
}

/// The same uploads through `ingest`: folded, pprof (raw body) and Push (Connect JSON).
fn ingest_everything(ingest: &Http) {
    let r = ingest.post(
        &format!("/ingest?name=app.cpu%7Benv%3Dprod%7D&from={T0}"),
        WORKED_EXAMPLE.as_bytes(),
    );
    assert_eq!(r.status, 200, "folded: {}", r.body);
    let pprof = corpus("pprof/cpu.pb.gz");
    let r = ingest.post(
        &format!("/ingest?name=goapp&from={T0}&format=pprof"),
        &pprof,
    );
    assert_eq!(r.status, 200, "pprof: {}", r.body);
    let push = json!({"series": [{
        "labels": [{"name": "service_name", "value": "pushed"}, {"name": "__name__", "value": "process_cpu"}],
        "samples": [{"rawProfile": base64::engine::general_purpose::STANDARD.encode(&pprof)}],
    }]});
    let r = ingest.post_with(
        "/push.v1.PusherService/Push",
        &[CONNECT_JSON],
        push.to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "Push: {}", r.body);
}

/// `corpus/pprof/cpu.pb.gz` is stamped 2021-04-25 03:xx UTC: 02:00 to 05:00 that day.
const PPROF_HOURS: (i64, i64) = (1_619_316_000, 1_619_326_800);

/// What a client sees of the data: renders and Connect queries.
fn answers(query: &Http) -> Vec<Value> {
    let range = format!("from={}&until={}", T0 - 600, T0 + 600);
    let mut out = Vec::new();
    for q in ["app.cpu%7B%7D", "app.cpu%7Benv%3D%22prod%22%7D"] {
        let r = query.get(&format!("/pyroscope/render?query={q}&{range}&format=json"));
        assert_eq!(r.status, 200, "{}", r.body);
        out.push(r.json());
    }
    let r = query.get(&format!(
        "/pyroscope/label-values?label=service_name&{range}"
    ));
    assert_eq!(r.status, 200, "{}", r.body);
    out.push(r.json());
    let (start, end) = (PPROF_HOURS.0 * 1000, PPROF_HOURS.1 * 1000);
    for (method, body) in [
        (
            "ProfileTypes",
            json!({"start": start.to_string(), "end": end.to_string()}),
        ),
        (
            "LabelValues",
            json!({"name": "service_name", "start": start.to_string(), "end": end.to_string()}),
        ),
        (
            "SelectMergeStacktraces",
            json!({
                "profileTypeID": "process_cpu:cpu:nanoseconds:cpu:nanoseconds",
                "labelSelector": "{service_name=\"goapp\"}",
                "start": start.to_string(), "end": end.to_string(), "maxNodes": "100",
            }),
        ),
        (
            "SelectSeries",
            json!({
                "profileTypeID": "process_cpu:cpu:nanoseconds:cpu:nanoseconds",
                "labelSelector": "{}", "groupBy": ["service_name"], "step": 60.0,
                "start": start.to_string(), "end": end.to_string(),
            }),
        ),
    ] {
        let r = query.post_with(
            &format!("/querier.v1.QuerierService/{method}"),
            &[CONNECT_JSON],
            body.to_string().as_bytes(),
        );
        assert_eq!(r.status, 200, "{method}: {}", r.body);
        out.push(r.json());
    }
    out
}

#[test]
fn wasmtime_serve_runs_the_packaged_app_with_the_answers_of_flamelet_serve() {
    let s3 = S3Server::start();
    let native_storage = s3.bucket("flamelet", "native");
    let tmp = tempfile::tempdir().unwrap();
    let out = dist::package(tmp.path(), &s3.endpoint, "flamelet", "wasm");
    let env = dist::provider_env(&s3.endpoint, "flamelet", "wasm");
    // Compaction deletes what it replaced at its next pass; queries keep the default.
    let no_grace = [&env[..], &[("FLAMELET_COMPACTION_GRACE_SECONDS", "0")]].concat();
    let serve = |id: &str, env: &[(&str, &str)]| {
        WasmtimeServe::start(&out.join(format!("flamelet-{id}.wasm")), env)
    };
    let (ingest, query, compact) = (
        serve("ingest", &env),
        serve("query", &env),
        serve("compact", &no_grace),
    );
    // The UI's page and its files from the packaged ui component.
    let ui = serve("ui", &[]);
    let page = ui.get("/");
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("<title>Flamelet</title>"),
        "{}",
        page.body
    );
    let script = page
        .body
        .split("src=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the page's script");
    let r = ui.get(script);
    assert_eq!(r.status, 200, "{script}");
    // The small entry loads the views' chunk (React and the flame graph).
    let views = r
        .body
        .split("boot-")
        .nth(1)
        .and_then(|s| s.split(".js").next())
        .map(|hash| format!("/assets/boot-{hash}.js"))
        .unwrap_or_else(|| panic!("{script} names no views' chunk: {}", r.body));
    let r = ui.get(&views);
    assert_eq!(r.status, 200, "{views}");
    assert!(r.body.len() > 100_000, "{views}: {} bytes", r.body.len());
    // The reference: flamelet serve with its native S3 client, on another prefix.
    let native = FlameletServer::start_with(&native_storage, &["--no-cron"]);

    ingest_everything(&ingest);
    ingest_everything(&native);
    let before = answers(&query);
    assert_eq!(before, answers(&native));
    assert_eq!(before[0]["flamebearer"]["numTicks"], 40_000_000);
    let stacks = &before[5]["flamegraph"];
    assert!(
        stacks["total"].as_str().is_some_and(|t| t != "0"),
        "{stacks}"
    );

    // A compaction pass through the compact component's HTTP route.
    let r = compact.post("/flamelet/compact", b"");
    assert_eq!(r.status, 200, "{}", r.body);
    let report = r.json();
    let merged = report["merged"].as_array().unwrap();
    let inputs: i64 = merged
        .iter()
        .map(|m| m["l0_inputs"].as_i64().unwrap())
        .sum();
    assert_eq!(
        (merged.len(), inputs),
        (2, 3),
        "two hours, three uploads: {report}"
    );
    assert_eq!(answers(&query), before, "compaction changes no answer");

    // With no host time limit, the query component itself refuses to read past the grace
    // period (here 0: at once), rather than answer from objects a pass may have deleted.
    let hasty = serve("query", &no_grace);
    let r = hasty.get(&format!(
        "/pyroscope/render?query=app.cpu%7B%7D&from={}&until={}",
        T0 - 60,
        T0 + 60
    ));
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(
        r.body
            .contains("the query has run longer than the compaction grace period (0 s)"),
        "{}",
        r.body
    );

    // flamelet serve on the same prefix reads what the packaged components wrote.
    let same = FlameletServer::start_with(&s3.bucket_url("flamelet", "wasm"), &["--no-cron"]);
    assert_eq!(answers(&same), before);
    let keys = s3.keys("flamelet");
    assert!(
        keys.iter()
            .any(|k| k.starts_with("wasm/tenants/anonymous/"))
            && keys
                .iter()
                .any(|k| k.starts_with("native/tenants/anonymous/")),
        "{keys:?}"
    );
}

#[test]
fn flamelet_serve_runs_the_packaged_app_and_refuses_unlisted_destinations() {
    let s3 = S3Server::start();
    s3.bucket("composed", "");
    let tmp = tempfile::tempdir().unwrap();
    let out = dist::package(tmp.path(), &s3.endpoint, "composed", "");
    let manifest = out.join("spin.toml");
    let creds = [
        "--env",
        "AWS_ACCESS_KEY_ID=test",
        "--env",
        "AWS_SECRET_ACCESS_KEY=test",
    ];
    let s = FlameletServer::start_with(
        "memory://",
        &[
            &["--no-cron", "--manifest", manifest.to_str().unwrap()],
            &creds[..],
        ]
        .concat(),
    );
    ingest_everything(&s);
    let got = answers(&s);
    assert_eq!(got[0]["flamebearer"]["numTicks"], 40_000_000);
    let keys = s3.keys("composed");
    assert!(
        keys.iter().any(|k| k.starts_with("tenants/anonymous/")),
        "the composed components wrote to the bucket, not the host's storage: {keys:?}"
    );
    drop(s);

    // The same app with a manifest that lists another destination: the bucket is out of reach.
    let text = std::fs::read_to_string(&manifest).unwrap();
    let listed = |host: &str| format!("allowed_outbound_hosts = [\"{host}\"]");
    let elsewhere = text.replace(&listed(&s3.endpoint), &listed("http://127.0.0.1:1"));
    assert_ne!(elsewhere, text);
    // Only allowed_outbound_hosts changed; the components still aim at moto.
    assert!(elsewhere.contains(&format!("FLAMELET_S3_ENDPOINT = \"{}\"", s3.endpoint)));
    let fenced = out.join("fenced.toml");
    std::fs::write(&fenced, &elsewhere).unwrap();
    let s = FlameletServer::start_with(
        "memory://",
        &[
            &["--no-cron", "--manifest", fenced.to_str().unwrap()],
            &creds[..],
        ]
        .concat(),
    );
    let r = s.post(&format!("/ingest?name=x&from={T0}"), b"a;b 1\n");
    assert!(r.status >= 500, "{} {}", r.status, r.body);
    let metrics = s.get("/metrics").body;
    assert!(
        metrics
            .contains("flamelet_outbound_requests_total{component=\"ingest\",allowed=\"false\"}"),
        "{metrics}"
    );
    assert!(
        s.log()
            .contains("may not send a request to http://127.0.0.1"),
        "{}",
        s.log()
    );
}

/// Under `wasmtime serve` no host checks credentials: the packaged components do, from the
/// `auth` section `flamelet package --config` wrote into their environment.
#[test]
fn wasmtime_serve_components_check_credentials_themselves() {
    use crate::auth::{Credential, config_file};
    let s3 = S3Server::start();
    s3.bucket("guarded", "");
    let tmp = tempfile::tempdir().unwrap();
    let agents = Credential::new("agents", Some("team-a"), "write");
    let grafana = Credential::new("grafana", Some("team-a"), "read");
    let config = config_file(tmp.path(), &[&agents, &grafana]);
    let out = dist::package_with(
        &tmp.path().join("dist"),
        &s3.endpoint,
        "guarded",
        "",
        &["--config", config.to_str().unwrap()],
    );
    let manifest: toml::Value =
        toml::from_str(&std::fs::read_to_string(out.join("spin.toml")).unwrap()).unwrap();
    let auth = |id: &str| {
        manifest["component"][id]["environment"]["FLAMELET_AUTH"]
            .as_str()
            .unwrap_or_else(|| panic!("{id} has FLAMELET_AUTH"))
            .to_string()
    };
    let (ingest_auth, query_auth) = (auth("ingest"), auth("query"));
    let env = dist::provider_env(&s3.endpoint, "guarded", "");
    let ingest = WasmtimeServe::start(
        &out.join("flamelet-ingest.wasm"),
        &[&env[..], &[("FLAMELET_AUTH", ingest_auth.as_str())]].concat(),
    );
    let query = WasmtimeServe::start(
        &out.join("flamelet-query.wasm"),
        &[&env[..], &[("FLAMELET_AUTH", query_auth.as_str())]].concat(),
    );

    let path = format!("/ingest?name=app.alloc_objects&from={T0}");
    let r = ingest.post(&path, b"a;b 3\n");
    assert_eq!(
        (r.status, r.body.trim_end()),
        (
            401,
            "authentication required: send `Authorization: Bearer NAME.SECRET` or HTTP basic credentials"
        )
    );
    let r = ingest.post_with(&path, &[("Authorization", &grafana.bearer())], b"a;b 3\n");
    assert_eq!(r.status, 403, "{}", r.body);
    let r = ingest.post_with(&path, &[("Authorization", &agents.basic())], b"a;b 3\n");
    assert_eq!(r.status, 200, "{}", r.body);
    let render = format!(
        "/pyroscope/render?query=app.alloc_objects%7B%7D&from={}&until={}",
        T0 - 60,
        T0 + 60
    );
    let r = query.get_with(&render, &[("Authorization", &grafana.bearer())]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["flamebearer"]["numTicks"], 3);
    let r = query.get_with(
        &render,
        &[
            ("Authorization", &grafana.bearer()),
            ("X-Scope-OrgID", "team-b"),
        ],
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        s3.keys("guarded")
            .iter()
            .all(|k| k.starts_with("tenants/team-a/")),
        "{:?}",
        s3.keys("guarded")
    );
    drop((ingest, query));

    // The same packaged app under `flamelet serve --manifest`: the host checks the credential
    // from its configuration and passes it on, and the components accept it again.
    let manifest = out.join("spin.toml");
    let s = FlameletServer::start_with(
        "memory://",
        &[
            "--no-cron",
            "--manifest",
            manifest.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
            "--env",
            "AWS_ACCESS_KEY_ID=test",
            "--env",
            "AWS_SECRET_ACCESS_KEY=test",
        ],
    );
    let r = s.post(&path, b"a;b 3\n");
    assert_eq!(r.status, 401, "{}", r.body);
    let r = s.post_with(&path, &[("Authorization", &agents.bearer())], b"a;b 4\n");
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.get_with(&render, &[("Authorization", &grafana.basic())]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["flamebearer"]["numTicks"], 7);
}
