//! Issue #15's figures: the web UI's bundle size, the ui component's cold and warm responses,
//! and the time from navigation to a drawn 8192-node flame graph of the benchmark's 24 h range
//! in Debian's Chromium (`tests/browser/bench.mjs`), against the compacted data set.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use super::server::FlameletServer;
use super::{CPU, DAY, END, SERVE_ARGS, Stat, timed};

/// What the browser leg measured.
#[derive(Debug, Clone, Default)]
pub struct Browser {
    /// Gzipped bytes of everything the build emits, and the bytes of assets the single view
    /// fetched in the browser (sent gzipped; Graphviz's chunk loads only in the call graph).
    pub bundle_gzip: u64,
    pub single_view_gzip: u64,
    /// The largest asset (gzipped) and its name.
    pub largest: (String, u64),
    /// The first `GET /` after the server started, and later ones.
    pub cold_ui_ms: f64,
    pub warm_ui_ms: Stat,
    /// The render call alone (`GET /pyroscope/render`, 24 h, 8192 nodes).
    pub render_ms: Stat,
    /// Navigation to the drawn flame graph, each a first visit (empty cache).
    pub drawn_ms: Stat,
}

fn gzipped(bytes: &[u8]) -> u64 {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).expect("gzip to memory");
    gz.finish().expect("gzip to memory").len() as u64
}

/// The built UI (the host's build script writes it here).
fn dist() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/ui/dist")
}

pub fn measure(dir: &Path, rounds: usize) -> Browser {
    // Chromium and playwright-core.
    super::super::test_deps();
    let mut b = Browser::default();
    let assets = dist().join("assets");
    for entry in std::fs::read_dir(&assets).expect("the UI's assets") {
        let path = entry.expect("an asset").path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let size = gzipped(&std::fs::read(&path).expect("an asset"));
        let name = name.unwrap_or_default();
        b.bundle_gzip += size;
        if size > b.largest.1 {
            b.largest = (name, size);
        }
    }

    let server = FlameletServer::start_on(dir, &SERVE_ARGS).with_timeout(1800);
    let t = Instant::now();
    assert_eq!(server.get("/").status, 200);
    b.cold_ui_ms = t.elapsed().as_secs_f64() * 1e3;
    b.warm_ui_ms = Stat::of(timed(rounds.max(10), || {
        assert_eq!(server.get("/").status, 200);
    }))
    .scaled(1e3);

    let query = format!("{CPU}{{service_name=\"checkout\"}}");
    let (from, until) = (END - DAY, END);
    let render = format!(
        "/pyroscope/render?query={}&from={from}&until={until}&max-nodes=8192",
        super::server::encode(&query)
    );
    // One render first, so the query component is warm as on a serving host.
    assert_eq!(server.get(&render).status, 200);
    b.render_ms = Stat::of(timed(rounds, || {
        assert_eq!(server.get(&render).status, 200);
    }))
    .scaled(1e3);

    let page = format!(
        "{}/?query={}&from={from}&until={until}",
        server.base,
        super::server::encode(&query)
    );
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/browser/bench.mjs");
    let out = Command::new("node")
        .arg(&script)
        .arg(&page)
        .arg(rounds.to_string())
        .output()
        .expect("running node tests/browser/bench.mjs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the bench's JSON");
    let drawn: Vec<f64> = serde_json::from_value(v["drawnMs"].clone()).expect("times");
    b.drawn_ms = Stat::of(drawn);
    b.single_view_gzip = v["assetBytes"].as_u64().expect("asset bytes");
    b
}

impl Browser {
    pub fn markdown(&self) -> String {
        let kb = |n: u64| n as f64 / 1024.0;
        format!(
            "### Web UI in Chromium (24 h of `checkout`, 8192 nodes, after compaction)\n\n\
             | figure | value |\n|---|---|\n\
             | bundle, all assets gzipped | {:.0} KiB |\n\
             | what the single view fetched, as sent (gzip) | {:.0} KiB |\n\
             | largest asset, gzipped | {} ({:.0} KiB) |\n\
             | ui component, first `GET /` after start | {:.1} ms |\n\
             | ui component, later `GET /` | {} ms |\n\
             | `GET /pyroscope/render` alone | {} ms |\n\
             | navigation → flame graph drawn (first visit, empty cache) | {} ms |\n",
            kb(self.bundle_gzip),
            kb(self.single_view_gzip),
            self.largest.0,
            kb(self.largest.1),
            self.cold_ui_ms,
            self.warm_ui_ms.show(1),
            self.render_ms.show(0),
            self.drawn_ms.show(0),
        )
    }
}
