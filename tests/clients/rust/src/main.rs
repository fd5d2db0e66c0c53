//! Profiles itself for a few seconds with the `pyroscope` crate's pprof-rs backend and pushes
//! to the server given as the first argument, as application `$2`, tagged `env=ci`; with
//! `FLAMELET_USER` and `FLAMELET_PASSWORD`, as that basic-auth user.

use std::time::{Duration, Instant};

use pyroscope::backend::{pprof_backend, BackendConfig, PprofConfig};
use pyroscope::pyroscope::PyroscopeAgentBuilder;

#[inline(never)]
fn work(n: u64) -> u64 {
    (0..n).fold(0u64, |a, i| a.wrapping_mul(31).wrapping_add(i ^ (a >> 3)))
}

#[inline(never)]
fn slow_function() -> u64 {
    work(std::hint::black_box(4_000_000))
}

#[inline(never)]
fn fast_function() -> u64 {
    work(std::hint::black_box(1_000_000))
}

/// Prints the agent's warnings and errors (a refused upload, say) to stderr.
struct Stderr;

impl log::Log for Stderr {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::Level::Warn
    }

    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            eprintln!("{} {}: {}", record.level(), record.target(), record.args());
        }
    }

    fn flush(&self) {}
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    log::set_logger(&Stderr).map_err(|e| e.to_string())?;
    log::set_max_level(log::LevelFilter::Warn);
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .ok_or("usage: flamelet-rust-client URL APP [SECONDS]")?;
    let app = args
        .next()
        .ok_or("usage: flamelet-rust-client URL APP [SECONDS]")?;
    let seconds: u64 = args.next().map_or(Ok(4), |s| s.parse())?;
    let builder = PyroscopeAgentBuilder::new(
        url,
        app,
        100,
        "pyroscope-rs",
        env!("CARGO_PKG_VERSION"),
        pprof_backend(PprofConfig::default(), BackendConfig::default()),
    )
    .tags(vec![("env", "ci")]);
    // Basic auth when the test gives a credential (the crate's own option).
    let builder = match (
        std::env::var("FLAMELET_USER"),
        std::env::var("FLAMELET_PASSWORD"),
    ) {
        (Ok(user), Ok(password)) => builder.basic_auth(user, password),
        _ => builder,
    };
    let agent = builder.build()?;
    let running = agent.start()?;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut sink = 0u64;
    while Instant::now() < deadline {
        sink = sink
            .wrapping_add(slow_function())
            .wrapping_add(fast_function());
    }
    let ready = running.stop()?;
    ready.shutdown();
    println!("{sink}");
    Ok(())
}
