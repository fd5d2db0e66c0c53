//! A fault-injecting HTTP proxy in front of the S3 server (issue #17, "Storage faults"): a
//! chosen fraction of the calls that pass through it fail in one of the ways a bucket and the
//! network between fail — 500 and 503 SlowDown answers, connections reset before or after the
//! bucket carried the call out, answers that never come, answers cut off halfway.
//!
//! One request per client connection (each answer says `Connection: close`), so a fault never
//! leaks into the next call. Which calls fail is decided by a counter, not a clock: the n-th
//! call fails or not the same way in every run, and the faults injected take the chosen kinds
//! in turn, so a run of more than a few faulted calls has met every kind. Or a test scripts
//! the faults of the next calls.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::s3::S3Server;

/// How long a stalled call is held before the proxy closes its connection unanswered: longer
/// than [`CLIENT_TIMEOUT`], so that the client gives up first.
const STALL: Duration = Duration::from_secs(4);
/// The storage client's time limit per call, set in the storage URL (object_store's default,
/// 30 s, would make a stalled call cost half a minute).
pub const CLIENT_TIMEOUT: &str = "2s";

/// One way a call fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// `500 InternalError`, the bucket never sees the call.
    InternalError,
    /// The bucket carries the call out; the client gets `500 InternalError` instead of its
    /// answer (a write that happened, reported as failed).
    InternalErrorAfterWrite,
    /// `503 SlowDown`, the bucket never sees the call (throttling).
    SlowDown,
    /// The connection is reset before the call is forwarded.
    ResetBefore,
    /// The bucket carries the call out; the connection is reset instead of the answer.
    ResetAfter,
    /// The bucket carries the call out; no answer comes until the client gives up.
    Stall,
    /// The bucket carries the call out; its answer is cut off halfway and the connection
    /// closed.
    Truncated,
}

/// Every kind of fault.
pub const ALL: [Fault; 7] = [
    Fault::InternalError,
    Fault::InternalErrorAfterWrite,
    Fault::SlowDown,
    Fault::ResetBefore,
    Fault::ResetAfter,
    Fault::Stall,
    Fault::Truncated,
];

struct Shared {
    upstream: String,
    /// Faulted calls per 1000.
    per_mille: AtomicU32,
    kinds: Mutex<Vec<Fault>>,
    /// Faults for the next calls, in order, before any drawn by `per_mille`.
    script: Mutex<std::collections::VecDeque<Fault>>,
    /// Which calls may fail, by their request line (`PUT /bucket/key HTTP/1.1`).
    target: Mutex<fn(&str) -> bool>,
    calls: AtomicU64,
    faulted: AtomicUsize,
    injected: Mutex<BTreeMap<Fault, usize>>,
}

/// A running proxy; its threads live as long as the test process.
pub struct FaultProxy {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    shared: Arc<Shared>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (`http://host:port`), passing every call through until
    /// [`FaultProxy::inject`] is called.
    pub fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the proxy");
        let endpoint = format!("http://{}", listener.local_addr().expect("an address"));
        let shared = Arc::new(Shared {
            upstream: upstream.trim_start_matches("http://").to_string(),
            per_mille: AtomicU32::new(0),
            kinds: Mutex::new(ALL.to_vec()),
            script: Mutex::new(Default::default()),
            target: Mutex::new(|_| true),
            calls: AtomicU64::new(0),
            faulted: AtomicUsize::new(0),
            injected: Mutex::new(BTreeMap::new()),
        });
        let state = shared.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let state = state.clone();
                std::thread::spawn(move || serve(&state, client));
            }
        });
        FaultProxy { endpoint, shared }
    }

    /// The `--storage` URL of `prefix` in `bucket` of `s3`, through this proxy.
    pub fn storage_url(&self, s3: &S3Server, bucket: &str, prefix: &str) -> String {
        format!(
            "{}&timeout={CLIENT_TIMEOUT}",
            s3.bucket_url(bucket, prefix)
                .replace(&s3.endpoint, &self.endpoint)
        )
    }

    /// From now on fails `fraction` of the calls, taking `kinds` in turn.
    pub fn inject(&self, fraction: f64, kinds: &[Fault]) {
        self.inject_into(fraction, kinds, |_| true);
    }

    /// From now on fails `fraction` of the calls whose request line passes `target`, taking
    /// `kinds` in turn.
    pub fn inject_into(&self, fraction: f64, kinds: &[Fault], target: fn(&str) -> bool) {
        *self.shared.kinds.lock().unwrap() = kinds.to_vec();
        *self.shared.target.lock().unwrap() = target;
        self.shared
            .per_mille
            .store((fraction * 1000.0).round() as u32, Ordering::SeqCst);
    }

    /// Fails the next calls with `faults`, one each, in order.
    pub fn script(&self, faults: &[Fault]) {
        self.shared.script.lock().unwrap().extend(faults);
    }

    /// Passes every call through again.
    pub fn stop(&self) {
        self.shared.per_mille.store(0, Ordering::SeqCst);
    }

    /// How many faults of each kind were injected so far.
    pub fn injected(&self) -> BTreeMap<Fault, usize> {
        self.shared.injected.lock().unwrap().clone()
    }

    /// How many calls that could fail came through so far.
    pub fn calls(&self) -> u64 {
        self.shared.calls.load(Ordering::SeqCst)
    }
}

/// splitmix64: a well-spread hash of a counter.
fn spread(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Shared {
    /// Whether the call of `request` fails, and how.
    fn decide(&self, request: &[u8]) -> Option<Fault> {
        let line = request.split(|&b| b == b'\r').next().unwrap_or_default();
        if !(self.target.lock().unwrap())(&String::from_utf8_lossy(line)) {
            return None;
        }
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if let Some(fault) = self.script.lock().unwrap().pop_front() {
            *self.injected.lock().unwrap().entry(fault).or_default() += 1;
            return Some(fault);
        }
        if spread(n) % 1000 >= u64::from(self.per_mille.load(Ordering::SeqCst)) {
            return None;
        }
        let kinds = self.kinds.lock().unwrap();
        let fault = *kinds.get(self.faulted.fetch_add(1, Ordering::SeqCst) % kinds.len().max(1))?;
        *self.injected.lock().unwrap().entry(fault).or_default() += 1;
        Some(fault)
    }
}

/// An S3 error answer.
fn s3_error(status: &str, code: &str) -> Vec<u8> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>injected by the test proxy</Message></Error>"
    );
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Serves one request of one client connection.
fn serve(state: &Shared, client: TcpStream) {
    let mut reader = BufReader::new(match client.try_clone() {
        Ok(c) => c,
        Err(_) => return,
    });
    let Some(request) = read_request(&mut reader) else {
        return;
    };
    let mut client = client;
    let fault = state.decide(&request);
    match fault {
        Some(Fault::InternalError) => {
            let _ = client.write_all(&s3_error("500 Internal Server Error", "InternalError"));
            return;
        }
        Some(Fault::SlowDown) => {
            let _ = client.write_all(&s3_error("503 Service Unavailable", "SlowDown"));
            return;
        }
        Some(Fault::ResetBefore) => return reset(client),
        _ => {}
    }
    let Some(answer) = forward(&state.upstream, &request) else {
        return reset(client);
    };
    match fault {
        Some(Fault::InternalErrorAfterWrite) => {
            let _ = client.write_all(&s3_error("500 Internal Server Error", "InternalError"));
        }
        Some(Fault::ResetAfter) => reset(client),
        Some(Fault::Stall) => {
            std::thread::sleep(STALL);
        }
        Some(Fault::Truncated) => {
            // Half the body after the whole head (half the head when there is no body), so the
            // client sees the connection close before the length it was promised.
            let head_end = find(&answer, b"\r\n\r\n").map_or(answer.len(), |i| i + 4);
            let cut = if answer.len() > head_end {
                head_end + (answer.len() - head_end) / 2
            } else {
                head_end / 2
            };
            let _ = client.write_all(&answer[..cut]);
        }
        _ => {
            let _ = client.write_all(&answer);
        }
    }
}

/// Closes a connection with a TCP reset.
fn reset(client: TcpStream) {
    let _ = socket2::SockRef::from(&client).set_linger(Some(Duration::ZERO));
    drop(client);
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Reads one request (head and body, by `Content-Length` or chunked) and returns it
/// re-framed for a one-request connection: `Connection: close`, the body by length.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut length = 0usize;
    let mut chunked = false;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().ok()?;
            continue;
        }
        if lower.starts_with("transfer-encoding:") {
            chunked = lower.contains("chunked");
            continue;
        }
        if lower.starts_with("connection:") {
            continue;
        }
        head.extend_from_slice(line.as_bytes());
    }
    let mut body = vec![0; length];
    if chunked {
        body.clear();
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else {
        reader.read_exact(&mut body).ok()?;
    }
    head.extend_from_slice(
        format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    head.extend_from_slice(&body);
    Some(head)
}

/// Sends one request to the bucket and reads its whole answer (the bucket closes the
/// connection after it, as asked), with `Connection: close` for the client too.
fn forward(upstream: &str, request: &[u8]) -> Option<Vec<u8>> {
    let mut bucket = TcpStream::connect(upstream).ok()?;
    bucket.write_all(request).ok()?;
    let mut answer = Vec::new();
    bucket.read_to_end(&mut answer).ok()?;
    let head_end = find(&answer, b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&answer[..head_end]);
    let mut out: Vec<u8> = head
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect::<Vec<_>>()
        .join("\r\n")
        .into_bytes();
    out.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
    out.extend_from_slice(&answer[head_end + 4..]);
    Some(out)
}
