//! Event-stream ingest benchmark (NDJSON framing + decode + timeline bookkeeping) and a measured (not
//! estimated) heap footprint per tracked allocation, via a counting global allocator.
//!
//! `cargo bench -p stampede --bench ingest`

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use criterion::{criterion_group, Criterion, Throughput};
use stampede::load::ingest::{ingest, synthetic_stream};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        LIVE.fetch_add(n as isize - l.size() as isize, Ordering::Relaxed);
        System.realloc(p, l, n)
    }
}

#[global_allocator]
static A: Counting = Counting;

fn bench_ingest(c: &mut Criterion) {
    let allocs = 20_000u32;
    let body = synthetic_stream(allocs, 100);
    let mut g = c.benchmark_group("event_stream");
    g.throughput(Throughput::Elements(allocs as u64 * 3));
    g.sample_size(20);
    g.bench_function("ingest_alloc_events", |b| {
        b.iter(|| {
            let (events, tl) = ingest(&body);
            assert_eq!(events, allocs as u64 * 3);
            tl.len()
        })
    });
    g.finish();
}

fn memory_per_alloc() {
    for allocs in [10_000u32, 100_000, 1_000_000] {
        let body = synthetic_stream(allocs, 100);
        let before = LIVE.load(Ordering::Relaxed);
        let (_, tl) = ingest(&body);
        let after = LIVE.load(Ordering::Relaxed);
        let per = (after - before) as f64 / tl.len() as f64;
        println!("memory: {allocs} tracked allocations → {per:.1} heap bytes per allocation (measured; estimate {:.1})", tl.heap_bytes_estimate() as f64 / tl.len() as f64);
        assert!(
            per <= 150.0,
            "timeline uses {per:.1} bytes per allocation (> 150)"
        );
    }
}

criterion_group!(benches, bench_ingest);

fn main() {
    memory_per_alloc();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
