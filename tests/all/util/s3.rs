//! A real S3 server for tests: moto's, from PyPI (installed by scripts/test-deps.sh), on a
//! free loopback port; killed on drop.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running moto S3 server.
pub struct S3Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// moto's request log (werkzeug writes one line per request answered).
    log: tempfile::NamedTempFile,
}

impl S3Server {
    /// Installs moto if needed and starts it.
    pub fn start() -> Self {
        super::test_deps();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = tempfile::NamedTempFile::new().expect("a log file");
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(log.reopen().expect("the log file"))
            .spawn()
            .expect("starting moto");
        let server = S3Server {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while ureq::get(&server.endpoint).call().is_err() {
            assert!(
                Instant::now() < deadline,
                "moto did not start on {}",
                server.endpoint
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    /// Creates a bucket and returns the `--storage` URL of `prefix` in it.
    pub fn bucket(&self, bucket: &str, prefix: &str) -> String {
        let r = ureq::put(&format!("{}/{bucket}", self.endpoint))
            .send_empty()
            .expect("creating bucket");
        assert_eq!(r.status().as_u16(), 200);
        self.bucket_url(bucket, prefix)
    }

    /// The `--storage` URL of `prefix` in an existing bucket.
    pub fn bucket_url(&self, bucket: &str, prefix: &str) -> String {
        format!(
            "s3://{bucket}/{prefix}?endpoint={}&allow_http=true&region=us-east-1&access_key_id=test&secret_access_key=test",
            self.endpoint
        )
    }

    /// HTTP requests moto has answered so far, from its log: what a bucket bills, whoever
    /// made them. werkzeug writes a request's line just after answering it.
    pub fn requests(&self) -> usize {
        std::thread::sleep(Duration::from_millis(200));
        std::fs::read_to_string(self.log.path())
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("] \"") && l.contains(" HTTP/1.1\" "))
            .count()
    }

    /// Reads an object straight from the bucket. moto refuses anonymous reads of objects
    /// (not listings) and checks no signature, so any SigV4-shaped credential passes.
    pub fn get(&self, bucket: &str, key: &str) -> Vec<u8> {
        let mut r = ureq::get(&format!("{}/{bucket}/{key}", self.endpoint))
            .header(
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/aws4_request, \
                 SignedHeaders=host, Signature=0",
            )
            .call()
            .unwrap_or_else(|e| panic!("reading {key}: {e}"));
        r.body_mut().read_to_vec().expect("an object's bytes")
    }

    /// Lists the keys in a bucket (raw S3 ListObjectsV2), to check where objects went.
    pub fn keys(&self, bucket: &str) -> Vec<String> {
        let mut r = ureq::get(&format!("{}/{bucket}?list-type=2", self.endpoint))
            .call()
            .expect("listing");
        let xml = r.body_mut().read_to_string().unwrap();
        xml.split("<Key>")
            .skip(1)
            .filter_map(|s| s.split("</Key>").next())
            .map(String::from)
            .collect()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A failing test shows what moto last did (its tracebacks, the requests it answered),
        // since the log file goes with the server.
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.log.path()).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(60)..];
            eprintln!("---- moto log (last {} lines) ----", tail.len());
            for line in tail {
                eprintln!("{line}");
            }
        }
    }
}
