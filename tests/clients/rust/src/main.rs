//! Profiles itself for a few seconds with the `pyroscope` crate's pprof-rs backend and pushes
//! to the server given as the first argument, as application `$2`, tagged `env=ci`.

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

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .ok_or("usage: flamelet-rust-client URL APP [SECONDS]")?;
    let app = args
        .next()
        .ok_or("usage: flamelet-rust-client URL APP [SECONDS]")?;
    let seconds: u64 = args.next().map_or(Ok(4), |s| s.parse())?;
    let agent = PyroscopeAgentBuilder::new(
        url,
        app,
        100,
        "pyroscope-rs",
        env!("CARGO_PKG_VERSION"),
        pprof_backend(PprofConfig::default(), BackendConfig::default()),
    )
    .tags(vec![("env", "ci")])
    .build()?;
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
