#!/usr/bin/env bash
# Long fuzzing of stampede's parsers with cargo-fuzz (libFuzzer). A tool, not a CI test: CI replays the
# committed corpora with the stable toolchain (`cargo test -p stampede --test it fuzz_corpora`).
#
#   tools/fuzz.sh [TARGET|all|list] [SECONDS]      default: all, 600 s per target
#
# Needs the nightly toolchain and cargo-fuzz (`rustup toolchain install nightly`, `cargo install
# cargo-fuzz`). Targets run one at a time, single process, under `nice -n 19`, with a 2 GiB RSS limit and a
# 10 s per-input timeout (a slow input is a finding, like a crash). New inputs go to fuzz/corpus/TARGET,
# which is minimised afterwards (libFuzzer `-merge=1` on edge coverage); hand-written seeds stay in
# fuzz/seeds/TARGET.
# A crash leaves its input in fuzz/artifacts/TARGET/; reproduce it with
#   "$CARGO_TARGET_DIR"/x86_64-unknown-linux-gnu/release/TARGET fuzz/artifacts/TARGET/crash-...
# then fix the parser, and copy the input to fuzz/regressions/TARGET/ (replayed by CI).
#
# Prints seconds, executions, corpus size and the outcome per target; exits 1 if any target crashed,
# leaked past the RSS limit or timed out, 2 on a usage or build error.
#
# Environment: CARGO_TARGET_DIR (default fuzz/target), FUZZ_NO_CMIN=1 keeps the corpus unminimised,
# FUZZ_ARGS adds libFuzzer flags.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
fuzz_dir="$root/fuzz"
target_dir=${CARGO_TARGET_DIR:-$fuzz_dir/target}
bin_dir="$target_dir/x86_64-unknown-linux-gnu/release"

all_targets() {
    # The [[bin]] names of fuzz/Cargo.toml, in file order.
    sed -n 's/^name = "\(.*\)"$/\1/p' "$fuzz_dir/Cargo.toml" | grep -v '^stampede-fuzz$'
}

what=${1:-all}
secs=${2:-600}
if ! [[ $secs =~ ^[0-9]+$ ]] || [ "$secs" -lt 1 ]; then
    echo "fuzz.sh: SECONDS must be a positive integer, got \`$secs\`" >&2
    exit 2
fi
case $what in
list)
    all_targets
    exit 0
    ;;
all) targets=$(all_targets) ;;
*)
    if ! all_targets | grep -qx -- "$what"; then
        echo "fuzz.sh: unknown target \`$what\`; targets: $(all_targets | tr '\n' ' ')" >&2
        exit 2
    fi
    targets=$what
    ;;
esac

# -O (release) with debug assertions and overflow checks (-a): an arithmetic overflow is a finding.
# No sanitizer: the parsers are safe Rust; panics, aborts, OOM and hangs are what we look for.
echo "building fuzz targets (nightly, release + debug assertions) into $target_dir" >&2
if ! cargo +nightly fuzz build --fuzz-dir "$fuzz_dir" -O -a -s none --target-dir "$target_dir" >&2; then
    echo "fuzz.sh: build failed" >&2
    exit 2
fi

failed=0
summary=()
for t in $targets; do
    corpus="$fuzz_dir/corpus/$t"
    seeds="$fuzz_dir/seeds/$t"
    art="$fuzz_dir/artifacts/$t"
    mkdir -p "$corpus" "$art"
    [ -d "$seeds" ] || mkdir -p "$seeds"
    log=$(mktemp "${TMPDIR:-/tmp}/fuzz-$t.XXXXXX.log")
    echo "== $t: ${secs}s" >&2
    start=$(date +%s)
    rc=0
    # shellcheck disable=SC2086
    nice -n 19 "$bin_dir/$t" "$corpus" "$seeds" \
        -max_total_time="$secs" -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 \
        -print_final_stats=1 -artifact_prefix="$art/" ${FUZZ_ARGS:-} >"$log" 2>&1 || rc=$?
    took=$(($(date +%s) - start))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    if [ $rc -eq 0 ]; then
        outcome="0 crashes"
    else
        failed=1
        reason=$(grep -m1 -oE 'ERROR: libFuzzer: [a-z -]+|panicked at [^:]+:[0-9]+' "$log" || true)
        outcome="CRASH (${reason:-exit $rc}), input in $art/, log $log"
        tail -40 "$log" >&2
    fi
    if [ $rc -eq 0 ] && [ "${FUZZ_NO_CMIN:-0}" != 1 ]; then
        # Minimise (as `cargo fuzz cmin`, on edges only: -use_counters=0 ignores hit-count buckets, which
        # keeps every covered edge with a fraction of the files): smallest inputs first.
        tmp="$fuzz_dir/corpus/.$t.min"
        rm -rf "$tmp"
        mkdir -p "$tmp"
        if nice -n 19 "$bin_dir/$t" -merge=1 -use_counters=0 -rss_limit_mb=2048 -timeout=10 \
            "$tmp" "$corpus" >>"$log" 2>&1; then
            rm -rf "$corpus"
            mv "$tmp" "$corpus"
        else
            rm -rf "$tmp"
            echo "fuzz.sh: $t: corpus minimisation failed (corpus kept as is), log $log" >&2
        fi
    fi
    files=$(find "$corpus" -type f | wc -l)
    kib=$(( $(du -sb "$corpus" | cut -f1) / 1024 ))
    line=$(printf '%-18s %5ss  %12s execs  corpus %4s files %6s KiB  %s' \
        "$t" "$took" "${execs:-?}" "$files" "$kib" "$outcome")
    echo "$line" >&2
    summary+=("$line")
done

echo
printf '%s\n' "${summary[@]}"
exit $failed
