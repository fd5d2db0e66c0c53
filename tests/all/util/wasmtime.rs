//! `wasmtime serve` (wasmtime-cli, installed by scripts/test-deps.sh) running one packaged
//! component on a free loopback port; killed on drop, its log printed if the test failed.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::server::Http;

/// The `wasmtime` binary: cargo's bin directory, where test-deps.sh installs it.
pub fn wasmtime_bin() -> PathBuf {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .expect("CARGO_HOME or HOME");
    cargo_home.join("bin").join("wasmtime")
}

/// A running `wasmtime serve`.
pub struct WasmtimeServe {
    child: Child,
    http: Http,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for WasmtimeServe {
    type Target = Http;

    fn deref(&self) -> &Http {
        &self.http
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl WasmtimeServe {
    /// Serves `component` with `-Scli -Shttp` and `env` as its environment.
    pub fn start(component: &Path, env: &[(&str, &str)]) -> WasmtimeServe {
        super::test_deps();
        let port = free_port();
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("wasmtime.log");
        let mut cmd = Command::new(wasmtime_bin());
        cmd.args(["serve", "-Scli", "-Shttp", "--addr"])
            .arg(format!("127.0.0.1:{port}"));
        for (k, v) in env {
            cmd.arg("--env").arg(format!("{k}={v}"));
        }
        let child = cmd
            .arg(component)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("starting wasmtime serve");
        let mut serve = WasmtimeServe {
            child,
            http: Http::new(&format!("http://127.0.0.1:{port}")),
            log,
            _dir: dir,
        };
        // wasmtime compiles the component before it listens.
        let deadline = Instant::now() + Duration::from_secs(300);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = serve.child.try_wait() {
                panic!("wasmtime serve exited ({status}):\n{}", serve.log());
            }
            assert!(
                Instant::now() < deadline,
                "wasmtime serve did not listen:\n{}",
                serve.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        serve
    }

    /// What wasmtime and the component wrote to stderr.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for WasmtimeServe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- wasmtime serve log ----\n{}", self.log());
        }
    }
}
