//! Criterion benchmarks of the simulator's hot paths: the `(time, seq)` event queue at different pending
//! sizes, the ranking of one placement, and whole small scenarios.
//!
//! `cargo bench -p stampede-sim --bench event_loop`. The full C2M scenario is timed as a whole by
//! `stampede bench sim` (too long for criterion's repetitions).

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::Rng;
use stampede_sim::engine::EventQueue;
use stampede_sim::ranking;
use stampede_sim::rng::stream;
use stampede_sim::runner::{self, RunOptions};
use stampede_sim::scenario::{Algorithm, Scenario};

fn queue(c: &mut Criterion) {
    let mut g = c.benchmark_group("event_queue");
    for pending in [1_000usize, 100_000] {
        g.throughput(Throughput::Elements(100_000));
        g.bench_with_input(
            BenchmarkId::new("pop_push", pending),
            &pending,
            |b, &pending| {
                let mut rng = stream(1, "bench");
                let mut q = EventQueue::new();
                for i in 0..pending {
                    q.push(rng.random_range(0..1_000_000_000u64), i as u32);
                }
                b.iter(|| {
                    for _ in 0..100_000 {
                        let (t, e) = q.pop().unwrap();
                        q.push(t + rng.random_range(1..1_000_000u64), black_box(e));
                    }
                })
            },
        );
    }
    g.finish();
}

fn ranking_bench(c: &mut Criterion) {
    let scores: Vec<(f64, f64)> = {
        let mut r = stream(2, "bench");
        (0..6_100)
            .map(|_| (r.random::<f64>(), r.random::<f64>()))
            .collect()
    };
    c.bench_function("select_13_of_6100_spread", |b| {
        let mut cursor = 0;
        b.iter(|| {
            ranking::select(scores.len(), &mut cursor, 13, |p| {
                let (fc, fm) = scores[p];
                ranking::Candidate {
                    fits: true,
                    score: ranking::fit_score(Algorithm::Spread, fc, fm),
                }
            })
        })
    });
}

fn scenarios(c: &mut Criterion) {
    let mut g = c.benchmark_group("scenario");
    g.sample_size(10);
    for (name, scale) in [("smoke", 1.0), ("c2m", 0.01), ("ci-burst", 0.2)] {
        let path = format!("{}/../scenarios/{name}.toml", env!("CARGO_MANIFEST_DIR"));
        let sc = Scenario::from_toml(&path, &std::fs::read_to_string(&path).unwrap())
            .unwrap()
            .scaled(scale)
            .unwrap();
        g.bench_function(format!("{name}@{scale}"), |b| {
            b.iter(|| {
                let src = runner::synthetic_source(&sc, 1).unwrap();
                let opts = RunOptions {
                    seed: 1,
                    ..Default::default()
                };
                runner::run_scenario(&sc, src, &opts, &mut |_| {})
                    .unwrap()
                    .1
                    .events
            })
        });
    }
    g.finish();
}

criterion_group!(benches, queue, ranking_bench, scenarios);
criterion_main!(benches);
