//! Benchmarks of the trace tools: synthesising a monorepo CI day, parsing and writing it.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use stampede_sim::trace::synth::{synth_monorepo, SynthProfile};
use stampede_sim::trace::{parse_jsonl, TraceReader};

fn trace(c: &mut Criterion) {
    let p = SynthProfile::monorepo();
    let day = synth_monorepo(&p, 1, 1);
    let mut text = Vec::new();
    day.write_jsonl(&mut text).unwrap();
    let text = String::from_utf8(text).unwrap();

    let mut g = c.benchmark_group("trace");
    g.sample_size(10);
    g.throughput(Throughput::Elements(day.jobs.len() as u64));
    g.bench_function("synth_monorepo_1_day", |b| {
        b.iter(|| synth_monorepo(&p, 1, 1))
    });
    g.bench_function("write_jsonl_1_day", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(text.len());
            day.write_jsonl(&mut out).unwrap();
            out
        })
    });
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("parse_jsonl_1_day", |b| {
        b.iter(|| parse_jsonl(&text).unwrap())
    });
    g.bench_function("stream_jsonl_1_day", |b| {
        b.iter(|| {
            TraceReader::new(text.as_bytes(), "bench")
                .unwrap()
                .map(|j| j.unwrap().groups.len())
                .sum::<usize>()
        })
    });
    g.finish();
}

criterion_group!(benches, trace);
criterion_main!(benches);
