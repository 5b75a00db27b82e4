//! Placements/s the emulator sustains in real time: `cargo bench -p stampede --bench emulator`
//! (options via env: `STAMPEDE_BENCH_SCENARIO` (default scenarios/c2m.toml), `STAMPEDE_BENCH_SECONDS`
//! (default 20), `STAMPEDE_BENCH_COUNT` (default 1000), `STAMPEDE_BENCH_SPEED` (default 1)).

use std::path::PathBuf;
use std::time::Duration;

use stampede::emulator::bench::{run, BenchConfig};

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing and only wants a smoke check.
    if !std::env::args().any(|a| a == "--bench") {
        println!("emulator bench: skipped (run with `cargo bench -p stampede --bench emulator`)");
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let scenario = std::env::var("STAMPEDE_BENCH_SCENARIO")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("scenarios/c2m.toml"));
    let secs: u64 = std::env::var("STAMPEDE_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let count: u32 = std::env::var("STAMPEDE_BENCH_COUNT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let speed: f64 = std::env::var("STAMPEDE_BENCH_SPEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let bc = BenchConfig {
        window: Duration::from_secs(secs),
        count,
        speed,
        ..Default::default()
    };
    match run(&scenario, bc) {
        Ok(r) => {
            println!(
                "emulator/{} at {}x: {} nodes, {} jobs registered, {} placements in {:.0} s = {:.0} placements/s (sim/real {:.2})",
                r.scenario, speed, r.nodes, r.jobs_registered, r.placements, r.window_s, r.placements_per_s, r.realtime_ratio
            );
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}
