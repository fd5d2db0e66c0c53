//! A scrape target on a free loopback port, for pull mode's tests and benchmarks: each
//! request's path goes to a closure that decides the answer, or to none (the target hangs).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flamelet::wire::proto::google::v1::Profile;
use prost::Message;

/// What a target does with a request for `path`.
pub type Answer = Box<dyn Fn(&str) -> Option<(u16, Vec<u8>)> + Send + Sync>;

/// A target on a free port; `answer` decides each response (`None`: never answer).
pub fn target(answer: Answer) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a target");
    let address = listener.local_addr().expect("its address").to_string();
    let asked = Arc::new(Mutex::new(Vec::new()));
    let (answer, log) = (Arc::new(answer), asked.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let (answer, log) = (answer.clone(), log.clone());
            std::thread::spawn(move || serve(stream, &answer, &log));
        }
    });
    (address, asked)
}

fn serve(mut stream: TcpStream, answer: &Answer, log: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().expect("a stream"));
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split(' ').nth(1).unwrap_or("").to_string();
    // The headers, to the blank line.
    let mut header = String::new();
    while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
        header.clear();
    }
    log.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(path.clone());
    match answer(&path) {
        Some((status, body)) => {
            let head = format!(
                "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
        // Hangs: holds the connection well past any scrape timeout.
        None => {
            let mut rest = [0u8; 1];
            let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
            let _ = stream.read(&mut rest);
        }
    }
}

/// A `scrape_configs` file of one job that scrapes only `memory` of `targets`.
pub fn memory_job(job: &str, timeout: &str, targets: &[String]) -> String {
    let list = targets
        .iter()
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "scrape_configs:
  - job_name: {job}
    scrape_interval: 15s
    scrape_timeout: {timeout}
    static_configs:
      - targets: [{list}]
    profiling_config:
      pprof_config:
        process_cpu: {{enabled: false}}
        goroutine: {{enabled: false}}
        mutex: {{enabled: false}}
        block: {{enabled: false}}
"
    )
}

/// `corpus/pprof/heap.pb.gz`: a real Go heap profile.
pub fn corpus_go_heap() -> Profile {
    let raw = super::corpus("pprof/heap.pb.gz");
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(&raw[..])
        .read_to_end(&mut decoded)
        .expect("corpus/pprof/heap.pb.gz is gzip");
    Profile::decode(&decoded[..]).expect("corpus/pprof/heap.pb.gz is pprof")
}

/// The heap profile with its `alloc_*` values multiplied by `k` (the in-use ones as they are),
/// gzipped as Go's `/debug/pprof/heap` serves it; and its `alloc_space` total.
pub fn grown(base: &Profile, k: i64) -> (Vec<u8>, i64) {
    let mut p = base.clone();
    let name = |i: i64| p.string_table.get(i as usize).cloned().unwrap_or_default();
    let alloc: Vec<bool> = p
        .sample_type
        .iter()
        .map(|t| name(t.r#type).starts_with("alloc_"))
        .collect();
    let space = p
        .sample_type
        .iter()
        .position(|t| name(t.r#type) == "alloc_space")
        .expect("a Go heap profile has alloc_space");
    let mut total = 0;
    for s in &mut p.sample {
        for (v, cumulative) in s.value.iter_mut().zip(&alloc) {
            if *cumulative {
                *v *= k;
            }
        }
        total += s.value[space];
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&p.encode_to_vec()).expect("gzip in memory");
    (gz.finish().expect("gzip in memory"), total)
}
