//! A real Prometheus for tests: Debian's `prometheus` package (installed by
//! scripts/test-deps.sh) on a free loopback port, scraping targets listed in a file (file
//! service discovery, so a restarted server on a new port is picked up), with the
//! remote-write receiver on; killed on drop.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One scrape job: its name, path and query parameters.
pub struct Job<'a> {
    /// `job_name`.
    pub name: &'a str,
    /// `metrics_path`.
    pub path: &'a str,
    /// `params`, each with one value.
    pub params: &'a [(&'a str, &'a str)],
}

/// A running Prometheus.
pub struct Prometheus {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus scraping `jobs` every second from the targets of
    /// [`Prometheus::set_targets`] (none at first).
    pub fn start(jobs: &[Job<'_>]) -> Self {
        super::test_deps();
        let dir = tempfile::tempdir().expect("temp dir");
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut config =
            String::from("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n");
        for job in jobs {
            config.push_str(&format!(
                "  - job_name: {}\n    metrics_path: {}\n    file_sd_configs:\n      - files: [{}]\n",
                job.name,
                job.path,
                dir.path().join("targets.json").display()
            ));
            if !job.params.is_empty() {
                config.push_str("    params:\n");
                for (k, v) in job.params {
                    config.push_str(&format!("      {k}: [\"{v}\"]\n"));
                }
            }
        }
        std::fs::write(dir.path().join("prometheus.yml"), config).expect("writing the config");
        std::fs::write(dir.path().join("targets.json"), "[]").expect("writing the targets");
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("a log file");
        let child = Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--web.enable-remote-write-receiver")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting prometheus");
        let p = Prometheus {
            child,
            base: format!("http://127.0.0.1:{port}"),
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ureq::get(&format!("{}/-/ready", p.base))
            .call()
            .is_ok_and(|r| r.status() == 200)
        {
            assert!(
                Instant::now() < deadline,
                "prometheus did not get ready:\n{}",
                p.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        p
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// Replaces the scrape targets (`host:port`) of every job.
    pub fn set_targets(&self, targets: &[&str]) {
        let json = serde_json::json!([{ "targets": targets }]).to_string();
        // Written beside it and renamed, so Prometheus never reads half a file.
        let tmp: PathBuf = self.dir.path().join("targets.json.tmp");
        std::fs::write(&tmp, json).expect("writing the targets");
        std::fs::rename(&tmp, self.dir.path().join("targets.json")).expect("renaming");
    }

    /// An instant PromQL query: each series' labels and value.
    pub fn query(&self, promql: &str) -> Vec<(serde_json::Value, f64)> {
        let mut r = ureq::get(&format!("{}/api/v1/query", self.base))
            .query("query", promql)
            .call()
            .expect("querying prometheus");
        let answer: serde_json::Value =
            serde_json::from_str(&r.body_mut().read_to_string().expect("a body")).expect("JSON");
        assert_eq!(answer["status"], "success", "{promql}: {answer}");
        answer["data"]["result"]
            .as_array()
            .expect("a vector")
            .iter()
            .map(|s| {
                let value = s["value"][1]
                    .as_str()
                    .expect("a value")
                    .parse()
                    .expect("a number");
                (s["metric"].clone(), value)
            })
            .collect()
    }

    /// Waits (up to 60 s) until `promql` gives exactly `want` (one series, one value); panics
    /// with the last answer otherwise.
    pub fn wait_for(&self, promql: &str, want: f64) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let got = self.query(promql);
            if got.len() == 1 && got[0].1 == want {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "{promql}: {got:?}, want {want}\ntargets: {}\n{}",
                    self.targets(),
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// The scrape targets' state, for failure messages.
    fn targets(&self) -> String {
        ureq::get(&format!("{}/api/v1/targets", self.base))
            .call()
            .ok()
            .and_then(|mut r| r.body_mut().read_to_string().ok())
            .unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
