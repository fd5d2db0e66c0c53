//! `FlameletServer`: runs `flamelet serve` on 127.0.0.1:0, reads the bound address from its
//! log, waits for `/ready`, and on drop kills it and (if the test failed) prints its log.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// The `flamelet` binary Cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_flamelet");

/// Where compiled components are cached across tests (compiling them takes seconds).
pub fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("component-cache")
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Body as text.
    pub body: String,
}

impl Reply {
    /// Parses the body as JSON, panicking with the body if it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// An HTTP answer as bytes, with the headers a Connect client reads.
#[derive(Debug)]
pub struct RawReply {
    /// Status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `Content-Encoding`.
    pub content_encoding: Option<String>,
    /// Body.
    pub body: Vec<u8>,
}

/// An HTTP client of one server at `base`.
pub struct Http {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    agent: ureq::Agent,
}

/// A running `flamelet serve`; its [`Http`] methods talk to it.
pub struct FlameletServer {
    child: Child,
    http: Http,
    /// The `--storage` argument: a directory, or a URL.
    pub storage: String,
    log: Arc<Mutex<String>>,
    _tmp: Option<tempfile::TempDir>,
}

impl std::ops::Deref for FlameletServer {
    type Target = Http;

    fn deref(&self) -> &Http {
        &self.http
    }
}

impl FlameletServer {
    /// Starts a server on a fresh temporary data directory, cron disabled so that tests decide
    /// when compaction runs.
    pub fn start() -> Self {
        let tmp = tempfile::tempdir().expect("temp dir");
        let data = tmp.path().join("data");
        let mut s = Self::start_on(&data, &["--no-cron"]);
        s._tmp = Some(tmp);
        s
    }

    /// Starts a server on the directory `data` with extra arguments.
    pub fn start_on(data: &Path, extra: &[&str]) -> Self {
        Self::start_with(&data.to_string_lossy(), extra)
    }

    /// Starts a server on any `--storage` (directory or URL) with extra arguments.
    pub fn start_with(storage: &str, extra: &[&str]) -> Self {
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--storage", storage])
            .arg("--cache-dir")
            .arg(cache_dir())
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting flamelet");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().expect("piped stderr");
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("flamelet listening on ").nth(1) {
                    let _ = tx.send(addr.trim().to_string());
                }
                let mut l = sink.lock().unwrap_or_else(|e| e.into_inner());
                l.push_str(&line);
                l.push('\n');
            }
        });
        let agent = agent(120);
        let base = match rx.recv_timeout(Duration::from_secs(300)) {
            Ok(base) => base,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "flamelet did not start:\n{}",
                    log.lock().unwrap_or_else(|e| e.into_inner())
                );
            }
        };
        let server = FlameletServer {
            child,
            http: Http { base, agent },
            storage: storage.to_string(),
            log,
            _tmp: None,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while server.get("/ready").status != 200 {
            assert!(Instant::now() < deadline, "flamelet never became ready");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// Waits up to `secs` for each answer (default 120 s), for benchmarks' long queries.
    pub fn with_timeout(mut self, secs: u64) -> Self {
        self.http.agent = agent(secs);
        self
    }

    /// The server's process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Returns what the server has logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Runs `flamelet compact` on this server's storage; returns its report (JSON).
    pub fn compact(&self) -> serde_json::Value {
        compact(&self.storage)
    }

    /// Lists every file under the data directory (relative paths, sorted); local storage only.
    pub fn stored_files(&self) -> Vec<String> {
        let mut out = Vec::new();
        let root = Path::new(&self.storage);
        walk(root, root, &mut out);
        out.sort();
        out
    }
}

impl Http {
    /// A client of the server at `base`, waiting up to 120 s for each answer.
    pub fn new(base: &str) -> Http {
        Http {
            base: base.to_string(),
            agent: agent(120),
        }
    }

    fn reply(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
        let mut r = r.expect("HTTP request failed");
        let status = r.status().as_u16();
        let body = r
            .body_mut()
            .with_config()
            .limit(256 << 20)
            .read_to_string()
            .expect("reading body");
        Reply { status, body }
    }

    /// `POST path` with headers; the answer's bytes and headers, as a binary client reads them.
    pub fn post_raw(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> RawReply {
        let mut r = self.agent.post(format!("{}{path}", self.base));
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        let mut r = r.send(body).expect("HTTP request failed");
        let header = |name: &str| {
            r.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(String::from)
        };
        let (content_type, content_encoding) = (header("content-type"), header("content-encoding"));
        let body = r
            .body_mut()
            .with_config()
            .limit(256 << 20)
            .read_to_vec()
            .expect("reading body");
        RawReply {
            status: r.status().as_u16(),
            content_type,
            content_encoding,
            body,
        }
    }

    /// `GET path` (with query string).
    pub fn get(&self, path: &str) -> Reply {
        Self::reply(self.agent.get(format!("{}{path}", self.base)).call())
    }

    /// `GET path` with extra headers.
    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut r = self.agent.get(format!("{}{path}", self.base));
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        Self::reply(r.call())
    }

    /// `GET path` as tenant `tenant`.
    pub fn get_as(&self, tenant: &str, path: &str) -> Reply {
        Self::reply(
            self.agent
                .get(format!("{}{path}", self.base))
                .header("X-Scope-OrgID", tenant)
                .call(),
        )
    }

    /// `POST path` with a body; `None` when no answer came (the server died, say).
    pub fn try_post(&self, path: &str, body: &[u8]) -> Option<Reply> {
        let mut r = self
            .agent
            .post(format!("{}{path}", self.base))
            .send(body)
            .ok()?;
        let status = r.status().as_u16();
        let body = r.body_mut().read_to_string().ok()?;
        Some(Reply { status, body })
    }

    /// `POST path` with a body.
    pub fn post(&self, path: &str, body: &[u8]) -> Reply {
        Self::reply(self.agent.post(format!("{}{path}", self.base)).send(body))
    }

    /// `POST path` with a body and extra headers.
    pub fn post_with(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        let mut r = self.agent.post(format!("{}{path}", self.base));
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        Self::reply(r.send(body))
    }

    /// `POST path` with a body, as tenant `tenant`.
    pub fn post_as(&self, tenant: &str, path: &str, body: &[u8]) -> Reply {
        Self::reply(
            self.agent
                .post(format!("{}{path}", self.base))
                .header("X-Scope-OrgID", tenant)
                .send(body),
        )
    }

    /// Ingests folded stacks under `name` at unix second `from`; asserts 200.
    pub fn ingest(&self, name: &str, from: i64, folded: &str) {
        let r = self.post(
            &format!("/ingest?name={}&from={from}", encode(name)),
            folded.as_bytes(),
        );
        assert_eq!(r.status, 200, "ingest {name}: {}", r.body);
    }

    /// `GET /pyroscope/render` with `query`, `from`, `until` (unix seconds) and extra params;
    /// asserts 200 and returns the JSON.
    pub fn render(&self, query: &str, from: i64, until: i64, extra: &str) -> serde_json::Value {
        let r = self.get(&format!(
            "/pyroscope/render?query={}&from={from}&until={until}{extra}",
            encode(query)
        ));
        assert_eq!(r.status, 200, "render {query}: {}", r.body);
        r.json()
    }
}

/// An HTTP client that returns error statuses as answers and waits up to `secs` for each.
fn agent(secs: u64) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(secs)))
        .build()
        .into()
}

/// Runs `flamelet compact --storage …` and parses the report it prints.
pub fn compact(storage: &str) -> serde_json::Value {
    compact_with(storage, &[])
}

/// [`compact`] with more arguments.
pub fn compact_with(storage: &str, extra: &[&str]) -> serde_json::Value {
    let out = run(&[&["compact", "--storage", storage][..], extra].concat());
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("compact report ({e}): {out}"))
}

/// Runs `flamelet ARGS --cache-dir …` to its end; its stdout, or a panic with its stderr.
pub fn run(args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .arg("--cache-dir")
        .arg(cache_dir())
        .output()
        .expect("running flamelet");
    assert!(
        out.status.success(),
        "flamelet {} failed: {}",
        args.first().unwrap_or(&""),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(root, &p, out);
        } else if let Ok(rel) = p.strip_prefix(root) {
            out.push(rel.to_string_lossy().into_owned());
        }
    }
}

/// Percent-encodes a query parameter value.
pub fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Drop for FlameletServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- flamelet log ----\n{}", self.log());
        }
    }
}
