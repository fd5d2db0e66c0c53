//! The web UI as a person sees it: Debian's Chromium, driven by playwright-core
//! (`tests/browser/page.mjs`), opens pages of the real server and its ui component. Screenshots
//! go to `target/ui-screenshots/`.

use std::path::PathBuf;
use std::process::Command;

use crate::util::{FlameletServer, T0, server::encode, test_deps};

const CPU: &str = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";

/// Opens `path` in Chromium, waits for the top table (`table`) or an error (`alert`), and
/// returns what the page showed.
pub(crate) fn open(
    s: &FlameletServer,
    path: &str,
    screenshot: &str,
    wait_for: &str,
) -> serde_json::Value {
    open_with(s, path, screenshot, wait_for, "")
}

/// [`open`] with the mode's extra argument (see `tests/browser/page.mjs`).
fn open_with(
    s: &FlameletServer,
    path: &str,
    screenshot: &str,
    wait_for: &str,
    extra: &str,
) -> serde_json::Value {
    open_in(s, path, screenshot, wait_for, extra, "light")
}

/// [`open_with`] in a browser whose system colour scheme is `scheme` (`light`, `dark`).
fn open_in(
    s: &FlameletServer,
    path: &str,
    screenshot: &str,
    wait_for: &str,
    extra: &str,
    scheme: &str,
) -> serde_json::Value {
    test_deps();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let shots = root.join("target/ui-screenshots");
    std::fs::create_dir_all(&shots).expect("screenshot directory");
    let out = Command::new("node")
        .arg(root.join("tests/browser/page.mjs"))
        .arg(format!("{}{path}", s.base))
        .arg(shots.join(screenshot))
        .arg(wait_for)
        .arg(extra)
        .env("FLAMELET_COLOR_SCHEME", scheme)
        .output()
        .expect("running node tests/browser/page.mjs");
    assert!(
        out.status.success(),
        "the browser run failed: {}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        s.log()
    );
    let page: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the page's JSON");
    assert_eq!(page["pageErrors"], serde_json::json!([]), "{page}");
    assert_eq!(page["title"], "Flamelet");
    page
}

/// The top table's function rows (symbol, self, total), sorted by symbol.
fn table(page: &serde_json::Value) -> Vec<Vec<String>> {
    table_with(page, ["Symbol", "Self", "Total"])
}

/// The top table's rows under `header`, sorted.
fn table_with<const N: usize>(page: &serde_json::Value, header: [&str; N]) -> Vec<Vec<String>> {
    let rows: Vec<Vec<String>> = serde_json::from_value(page["rows"].clone()).expect("rows");
    assert_eq!(
        rows.first().map(Vec::as_slice),
        Some(&header.map(String::from)[..]),
        "{page}"
    );
    let mut rows = rows[1..].to_vec();
    rows.sort();
    rows
}

/// `view` with `shop`'s CPU profiles two minutes around T0 as the baseline and an hour later
/// as the comparison (Pyroscope's `leftQuery`, `leftFrom`, … parameters).
fn around_t0_and_an_hour_later(view: &str) -> String {
    let query = encode(&format!("{CPU}{{service_name=\"shop\"}}"));
    let (left, right) = ((T0 - 60, T0 + 60), (T0 + 3540, T0 + 3660));
    format!(
        "{view}?leftQuery={query}&leftFrom={}&leftUntil={}&rightQuery={query}&rightFrom={}&rightUntil={}",
        left.0, left.1, right.0, right.1
    )
}

fn row(cells: [&str; 3]) -> Vec<String> {
    cells.map(String::from).to_vec()
}

#[test]
fn the_single_view_shows_the_ingested_functions_with_their_values() {
    let s = FlameletServer::start();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    // `.cpu` counts are samples at 100 Hz: 30 samples are 300 ms.
    s.ingest(
        "shop.cpu",
        now - 60,
        "main;work;compute 30\nmain;work;io 10\nmain;idle 5\n",
    );
    // Opening `/` picks the service and the CPU type with data in the last hour.
    let page = open(&s, "/", "single.png", "table");
    assert_eq!(page["service"], "shop");
    assert_eq!(
        table(&page),
        [
            row(["compute", "300 ms", "300 ms"]),
            row(["idle", "50 ms", "50 ms"]),
            row(["io", "100 ms", "100 ms"]),
            row(["main", "0 ns", "450 ms"]),
            row(["total", "0 ns", "450 ms"]),
            row(["work", "0 ns", "400 ms"]),
        ]
    );
}

/// The top table of one upload of `main;billing 6` to `shop.cpu`.
fn shop_rows() -> [Vec<String>; 3] {
    [
        row(["billing", "60 ms", "60 ms"]),
        row(["main", "0 ns", "60 ms"]),
        row(["total", "0 ns", "60 ms"]),
    ]
}

/// With authentication on, the page's data needs a token: the page says so, takes one, and
/// shows the token's tenant's data; the page itself loads without one.
#[test]
fn the_page_asks_for_a_token_and_shows_its_tenants_data() {
    use crate::auth::{Credential, server_with};
    let agents = Credential::new("agents", Some("team-b"), "write");
    let viewer = Credential::new("viewer", Some("team-b"), "read");
    let (_dir, s) = server_with(&[&agents, &viewer]);
    let r = s.post_with(
        &format!("/ingest?name=shop.cpu&from={T0}"),
        &[("Authorization", &agents.bearer())],
        b"main;billing 6\n",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let query = encode(&format!("{CPU}{{service_name=\"shop\"}}"));
    let page = open_with(
        &s,
        &format!("/?query={query}&from={}&until={}", T0 - 60, T0 + 60),
        "sign-in.png",
        "sign-in",
        &viewer.token,
    );
    assert!(
        page["alert"]
            .as_str()
            .is_some_and(|a| a.starts_with("401: authentication required")),
        "{page}"
    );
    assert_eq!(table(&page), shop_rows());
    assert_eq!(page["signOut"], true);
}

#[test]
fn the_organisation_field_sends_the_tenant_and_is_remembered() {
    let s = FlameletServer::start();
    // Only team-b has data; the page starts as the default tenant.
    let r = s.post_as(
        "team-b",
        &format!("/ingest?name=shop.cpu&from={T0}"),
        b"main;billing 6\n",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let query = encode(&format!("{CPU}{{service_name=\"shop\"}}"));
    let page = open_with(
        &s,
        &format!("/?query={query}&from={}&until={}", T0 - 60, T0 + 60),
        "organisation.png",
        "org",
        "team-b",
    );
    assert_eq!(page["org"], "team-b");
    assert_eq!(table(&page), shop_rows());
}

#[test]
fn a_flame_graph_node_becomes_a_recording_rule_counted_at_exported_metrics() {
    let s = FlameletServer::start();
    // Level 1: idle (50 ms), then main (150 ms); level 2 under main: fastFunction (30 ms),
    // then slowFunction (120 ms), from 40 % of the width to its end.
    s.ingest(
        "shop.cpu{env=prod}",
        T0,
        "main;slowFunction 12\nmain;fastFunction 3\nidle 5\n",
    );
    let query = encode(&format!("{CPU}{{service_name=\"shop\"}}"));
    let page = open_with(
        &s,
        &format!("/?query={query}&from={}&until={}", T0 - 60, T0 + 60),
        "create-metric.png",
        "metric",
        "env",
    );
    let metric = &page["metric"];
    assert_eq!(metric["function"], "slowFunction", "{page}");
    assert_eq!(
        metric["name"], "profiles_recorded_shop_slowfunction",
        "{page}"
    );
    let created = metric["created"].as_str().expect("the dialog's answer");
    assert!(
        created.starts_with("Created recording rule ")
            && created.ends_with(": profiles_recorded_shop_slowfunction."),
        "{created}"
    );
    // The rule as the API keeps it, and its counter: the stacks through slowFunction.
    let r = s.post_raw(
        "/settings.v1.RecordingRulesService/ListRecordingRules",
        &[("Content-Type", "application/json")],
        b"{}",
    );
    let list: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON");
    let rule = &list["rules"][0];
    assert_eq!(
        rule["matchers"][0],
        format!("{{__profile_type__=\"{CPU}\", service_name=\"shop\"}}")
    );
    assert_eq!(rule["groupBy"], serde_json::json!(["env"]));
    assert_eq!(
        rule["stacktraceFilter"]["functionName"]["functionName"],
        "slowFunction"
    );
    let text = s.get("/exported-metrics").body;
    assert!(
        text.contains("profiles_recorded_shop_slowfunction{env=\"prod\"} 120000000\n"),
        "{text}"
    );
}

#[test]
fn the_page_follows_the_systems_dark_theme() {
    let s = FlameletServer::start();
    s.ingest("shop.cpu", T0, "main;work 3\n");
    let query = encode(&format!("{CPU}{{service_name=\"shop\"}}"));
    let path = format!("/?query={query}&from={}&until={}", T0 - 60, T0 + 60);
    let dark = open_in(&s, &path, "single-dark.png", "table", "", "dark");
    // The page's dark background (#111217, Grafana's), and the same table as in light.
    assert_eq!(dark["background"], "rgb(17, 18, 23)", "{dark}");
    let light = open(&s, &path, "single-light.png", "table");
    assert_eq!(light["background"], "rgb(244, 245, 245)", "{light}");
    assert_eq!(table(&dark), table(&light));
}

#[test]
fn a_shared_url_opens_its_view_and_an_api_error_shows_its_reason() {
    let s = FlameletServer::start();
    s.ingest("a.cpu", T0, "x;y 7\n");
    s.ingest("b.cpu", T0, "main;z 3\n");
    let range = format!("&from={}&until={}", T0 - 60, T0 + 60);
    // Pyroscope's URL shape: the query and an absolute range.
    let query = encode(&format!("{CPU}{{service_name=\"b\"}}"));
    let page = open(
        &s,
        &format!("/?query={query}{range}"),
        "shared-url.png",
        "table",
    );
    assert_eq!(page["service"], "b");
    assert_eq!(
        table(&page),
        [
            row(["main", "0 ns", "30 ms"]),
            row(["total", "0 ns", "30 ms"]),
            row(["z", "30 ms", "30 ms"])
        ]
    );
    // An absolute start typed as a date and time (UTC): the URL holds it as Unix seconds.
    let page = open_with(
        &s,
        &format!("/?query={query}{range}"),
        "typed-range.png",
        "typed-range",
        "2023-11-14 22:12:00",
    );
    let opened = page["opened"].as_str().expect("the URL");
    assert!(opened.contains("from=1699999920&"), "{opened}");
    assert_eq!(page["fromShown"], "2023-11-14 22:12:00 UTC");
    // A selector the server rejects: its one-line reason in the page, not a blank screen.
    let bad = encode(&format!("{CPU}{{service_name=\"b\""));
    let page = open(
        &s,
        &format!("/?query={bad}{range}"),
        "api-error.png",
        "alert",
    );
    let alert = page["alert"].as_str().expect("an error message");
    assert!(alert.starts_with("400: "), "{alert}");
    assert!(alert.contains("service_name"), "{alert}");
}

#[test]
fn the_diff_view_shows_what_grew() {
    let s = FlameletServer::start();
    // Baseline: work and idle half each. An hour later: work 60 %, idle 20 %, gc (new) 20 %.
    s.ingest("shop.cpu", T0, "main;work 10\nmain;idle 10\n");
    s.ingest(
        "shop.cpu",
        T0 + 3600,
        "main;work 30\nmain;idle 10\nmain;gc 10\n",
    );
    let path = around_t0_and_an_hour_later("/comparison-diff");
    let page = open(&s, &path, "diff.png", "changes");
    let changes: Vec<Vec<String>> = serde_json::from_value(page["changes"].clone()).unwrap();
    let want = [
        ["idle", "50.00 %", "20.00 %", "-30.00 pp"],
        ["gc", "0.00 %", "20.00 %", "+20.00 pp"],
        ["work", "50.00 %", "60.00 %", "+10.00 pp"],
    ];
    assert_eq!(
        changes,
        want.map(|r| r.map(String::from).to_vec()),
        "{page}"
    );
    // The diff flame graph's own table: both sides per function,
    // each side as a share of its own total.
    let rows = table_with(&page, ["Symbol", "Baseline", "Comparison", "Diff"]);
    let shares: Vec<[&str; 3]> = rows
        .iter()
        .map(|r| [r[0].as_str(), r[1].as_str(), r[2].as_str()])
        .collect();
    assert_eq!(
        shares,
        [
            ["gc", "0%", "20%"],
            ["idle", "50%", "20%"],
            ["main", "100%", "100%"],
            ["total", "100%", "100%"],
            ["work", "50%", "60%"]
        ],
        "{rows:?}"
    );
}

#[test]
fn the_comparison_view_shows_each_side_with_its_own_range() {
    let s = FlameletServer::start();
    s.ingest("shop.cpu", T0, "main;before 4\n");
    s.ingest("shop.cpu", T0 + 3600, "main;after 2\n");
    let path = around_t0_and_an_hour_later("/comparison");
    let page = open(&s, &path, "comparison.png", "panes");
    let side = |name: &str| -> Vec<Vec<String>> {
        let mut rows: Vec<Vec<String>> =
            serde_json::from_value(page["panes"][name].clone()).unwrap();
        rows.remove(0);
        rows.sort();
        rows
    };
    assert_eq!(
        side("Baseline"),
        [
            row(["before", "40 ms", "40 ms"]),
            row(["main", "0 ns", "40 ms"]),
            row(["total", "0 ns", "40 ms"])
        ]
    );
    assert_eq!(
        side("Comparison"),
        [
            row(["after", "20 ms", "20 ms"]),
            row(["main", "0 ns", "20 ms"]),
            row(["total", "0 ns", "20 ms"])
        ]
    );
    // The search typed into the baseline is the comparison's search too.
    assert_eq!(page["synced"], "ma", "{page}");
}

#[test]
fn the_single_view_exports_pprof_flamebearer_folded_and_png() {
    let s = FlameletServer::start();
    // 100 Hz samples: 30 are 300 ms.
    s.ingest("shop.cpu", T0, "main;work;compute 30\nmain;io 10\n");
    let query = encode(&format!("{CPU}{{service_name=\"shop\"}}"));
    let dir = tempfile::tempdir().expect("download directory");
    let page = open_with(
        &s,
        &format!("/?query={query}&from={}&until={}", T0 - 60, T0 + 60),
        "export.png",
        "export",
        dir.path().to_str().expect("a UTF-8 path"),
    );
    let file = |format: &str| {
        let path = page["downloads"][format].as_str().expect("a download");
        PathBuf::from(path)
    };
    let ms = 1_000_000;
    let want = std::collections::BTreeMap::from([
        ("main;io".to_string(), 100 * ms),
        ("main;work;compute".to_string(), 300 * ms),
    ]);
    // pprof from SelectMergeProfile, read by the independent decoder.
    let (_, types) = crate::corpus::independent(&file("pprof"));
    assert_eq!(types.get("cpu:nanoseconds"), Some(&want), "{types:?}");
    assert!(
        file("pprof")
            .to_string_lossy()
            .ends_with("shop-process_cpu.pb")
    );
    // Folded stacks: one line per stack, root frame first.
    let folded = std::fs::read_to_string(file("folded")).expect("folded file");
    assert_eq!(folded, "main;io 100000000\nmain;work;compute 300000000\n");
    // The render answer as it was drawn.
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(file("json")).expect("json file")).expect("JSON");
    assert_eq!(json["flamebearer"]["numTicks"], 400 * ms);
    assert_eq!(json["metadata"]["name"], "cpu");
    // The drawn graph as a PNG image.
    let png = std::fs::read(file("png")).expect("png file");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 1000,
        "{} bytes",
        png.len()
    );
}

#[test]
fn the_query_field_suggests_label_names_and_values() {
    let s = FlameletServer::start();
    s.ingest("shop.cpu{region=eu-west}", T0, "main;a 1\n");
    s.ingest("shop.cpu{region=us-east}", T0, "main;b 1\n");
    // Another service's region is not offered while the query names shop.
    s.ingest("cart.cpu{region=ap-south}", T0, "main;c 1\n");
    let query = encode(&format!("{CPU}{{service_name=\"shop\"}}"));
    let typed = format!("{CPU}{{service_name=\"shop\", ");
    let page = open_with(
        &s,
        &format!("/?query={query}&from={}&until={}", T0 - 60, T0 + 60),
        "suggest.png",
        "suggest",
        &typed,
    );
    assert_eq!(
        page["suggestions"],
        serde_json::json!([["region"], ["eu-west", "us-east"]]),
        "{page}"
    );
    assert_eq!(
        page["query"],
        format!("{CPU}{{service_name=\"shop\", region=\"us-east\"")
    );
}

#[test]
fn the_tag_explorer_shows_each_values_total_and_opens_its_flame_graph() {
    let s = FlameletServer::start();
    s.ingest("shop.cpu{region=eu-west}", T0, "main;a 30\n");
    s.ingest("shop.cpu{region=us-east}", T0, "main;b 10\n");
    let query = encode(&format!("{CPU}{{service_name=\"shop\"}}"));
    let page = open(
        &s,
        &format!(
            "/explore?query={query}&groupBy=region&from={}&until={}",
            T0 - 60,
            T0 + 60
        ),
        "explore.png",
        "explore",
    );
    // 8 steps of 15 s (T0 − 65 s to T0 + 55 s); each value in one of them: 300 ms is a mean
    // of 37.5 ms and a deviation of √(300²/8 − 37.5²) = 99.2 ms per step.
    assert_eq!(
        page["explore"],
        serde_json::json!([
            ["eu-west", "300 ms", "75.00 %", "37.5 ms", "99.2 ms"],
            ["us-east", "100 ms", "25.00 %", "12.5 ms", "33.1 ms"]
        ]),
        "{page}"
    );
    // The value's link: the single view of its series only.
    let opened = page["opened"].as_str().expect("the opened URL");
    assert!(opened.contains("region%3D%22eu-west%22"), "{opened}");
    assert_eq!(
        table(&page),
        [
            row(["a", "300 ms", "300 ms"]),
            row(["main", "0 ns", "300 ms"]),
            row(["total", "0 ns", "300 ms"])
        ]
    );
}

#[test]
fn the_call_graph_lays_out_the_functions_and_finds_them() {
    let s = FlameletServer::start();
    s.ingest(
        "shop.cpu",
        T0,
        "main;work;compute 30\nmain;work;io 10\nmain;gc 5\n",
    );
    let query = encode(&format!("{CPU}{{service_name=\"shop\"}}"));
    let page = open_with(
        &s,
        &format!(
            "/call-graph?query={query}&from={}&until={}",
            T0 - 60,
            T0 + 60
        ),
        "call-graph.png",
        "callgraph",
        "o",
    );
    // One node per function, laid out by Graphviz in the page (and the legend's box).
    assert_eq!(
        page["nodes"],
        serde_json::json!(["Type: cpu", "compute", "gc", "io", "main", "work"]),
        "{page}"
    );
    // The search marks the functions whose names contain it.
    assert_eq!(
        page["matches"],
        serde_json::json!(["compute", "io", "work"]),
        "{page}"
    );
    // Of the five functions (the legend is not one).
    assert_eq!(page["matchCount"], "3 of 5 match");
}

#[test]
fn an_ad_hoc_upload_shows_its_flame_graph_without_storing_it() {
    let s = FlameletServer::start();
    let file = crate::corpus::corpus_dir().join("cpu.pb.gz");
    let page = open_with(
        &s,
        "/adhoc",
        "adhoc.png",
        "adhoc",
        file.to_str().expect("a UTF-8 path"),
    );
    // The file's CPU time first; the table's first rows are its functions with the most self
    // time, as the independent decoder reads them (all whole milliseconds).
    assert_eq!(page["profileType"], CPU);
    let (_, types) = crate::corpus::independent(&file);
    let mut selfs = std::collections::BTreeMap::<String, i64>::new();
    for (stack, v) in &types["cpu:nanoseconds"] {
        let leaf = stack.rsplit(';').next().expect("a frame");
        *selfs.entry(leaf.to_string()).or_default() += v;
    }
    let mut want: Vec<(i64, String)> = selfs.into_iter().map(|(f, v)| (-v, f)).collect();
    want.sort();
    let rows: Vec<Vec<String>> = serde_json::from_value(page["rows"].clone()).expect("rows");
    let mut shown: Vec<(i64, String)> = rows[1..=want.len()]
        .iter()
        .map(|r| {
            let ms: i64 = r[1]
                .trim_end_matches(" ms")
                .parse()
                .expect("a self time in ms");
            (-ms * 1_000_000, r[0].clone())
        })
        .collect();
    shown.sort();
    assert_eq!(shown, want, "{page}");
    // Nothing was stored.
    let stored = s.get("/pyroscope/label-values?label=service_name&from=946684800&until=now");
    assert_eq!(stored.body.trim(), "[]", "{}", stored.body);

    // A file that is not a profile: the server's reason in the page.
    let dir = tempfile::tempdir().expect("a directory");
    let bad = dir.path().join("broken.pb");
    std::fs::write(&bad, b"this is not a pprof").expect("writing the file");
    let page = open_with(
        &s,
        "/adhoc",
        "adhoc-error.png",
        "adhoc-alert",
        bad.to_str().expect("a UTF-8 path"),
    );
    let alert = page["alert"].as_str().expect("an error message");
    assert!(
        alert.starts_with("broken.pb: 400: invalid pprof"),
        "{alert}"
    );
}

#[test]
fn the_ui_unit_tests_pass() {
    // Vitest: the converters and the URL state (ui/src/*.test.ts); the host's build script
    // installed ui/node_modules.
    let ui = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ui");
    let out = Command::new("npm")
        .current_dir(&ui)
        .args(["test", "--silent"])
        .output()
        .expect("running npm test in ui/");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("Tests") && text.contains("passed"), "{text}");
}

#[test]
fn hostile_names_are_shown_as_text_and_no_script_runs() {
    use crate::hostile::{HOSTILE, ingest_hostile};
    let s = FlameletServer::start();
    ingest_hostile(&s, "shop", T0);
    let query = encode(&format!("{CPU}{{service_name=\"shop\"}}"));
    let range = format!("query={query}&from={}&until={}", T0 - 60, T0 + 60);
    // The single view, the pointer moved over the flame graph so that tooltips show.
    let page = open(&s, &format!("/?{range}"), "hostile.png", "hover");
    assert_eq!(page["pwned"], serde_json::Value::Null, "{page}");
    assert_eq!(page["dialogs"], serde_json::json!([]), "{page}");
    let symbols: Vec<String> = table(&page).into_iter().map(|r| r[0].clone()).collect();
    for name in HOSTILE {
        assert!(symbols.iter().any(|s| s == name), "{name:?} in {symbols:?}");
    }
    // The call graph, laid out by Graphviz in the page from the server's dot output.
    let page = open_with(
        &s,
        &format!("/call-graph?{range}"),
        "hostile-call-graph.png",
        "callgraph",
        "main",
    );
    assert_eq!(page["pwned"], serde_json::Value::Null, "{page}");
    assert_eq!(page["dialogs"], serde_json::json!([]), "{page}");
    let nodes: Vec<String> = serde_json::from_value(page["nodes"].clone()).expect("nodes");
    for name in HOSTILE {
        assert!(nodes.iter().any(|n| n == name), "{name:?} in {nodes:?}");
    }
}
