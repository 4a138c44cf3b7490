#!/usr/bin/env bash
# serversync benchmarks (issue 11, DESIGN.md §6): the analysis 1,000,000 x 1,000,000 against a
# plain hash join, one 100,000-account cPanel server end to end against the plain HTTP
# transfer, the fleet scan (500 servers x 1,000 accounts) against concurrency 1, and the bytes
# stored per run — then one summary table of every figure with its target.
#
#   bench/run.sh            full run
#   bench/run.sh --quick    100k x 100k analysis, 10,000-account e2e (BENCH_QUICK=1), and a
#                           100-server fleet (BENCH_SERVERS=100, BENCH_SERIAL_SERVERS=10)
#                           unless those are set
#   bench/run.sh --summary  only the table, from the logs of the last run
#
# Each bench prints its own figures (their full output is shown and kept in
# target/bench-logs/); the table takes its lines from them. A figure no bench printed shows
# "not measured". The bytes stored per run are taken from a line of any bench of the form
#   bytes stored per run: <bytes> bytes ...
# Never fails on a missed target (nor on a failed bench: its figures show "not measured");
# exits 2 only when a required tool is missing.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

quick=0
summary_only=0
if [[ "${1:-}" == "--summary" ]]; then
    summary_only=1
elif [[ "${1:-}" == "--quick" ]]; then
    quick=1
    export BENCH_QUICK=1
    export BENCH_SERVERS="${BENCH_SERVERS:-100}"
    export BENCH_SERIAL_SERVERS="${BENCH_SERIAL_SERVERS:-10}"
fi

for tool in cargo curl awk; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "bench/run.sh: $tool is required but not found in PATH" >&2
        exit 2
    fi
done

logs=target/bench-logs
mkdir -p "$logs"
if ((summary_only)) && [[ -f "$logs/quick" ]]; then
    quick=1
fi

if ((!summary_only)); then
if ((quick)); then touch "$logs/quick"; else rm -f "$logs/quick"; fi
echo "== machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.1f GB", $2/1e6}' /proc/meminfo) RAM; $(rustc --version) =="
echo "== load average at start: $(cut -d' ' -f1-3 /proc/loadavg) =="

echo "== building release binaries (panel-sim, serversync) =="
cargo build --release -p panel-sim -p serversync || echo "bench/run.sh: the release build failed"

# run NAME CARGO-ARGS...: runs one bench, shows its output and keeps it in $logs/NAME.log.
run() {
    local name=$1
    shift
    echo
    echo "== $name benchmark =="
    if ! "$@" 2>&1 | tee "$logs/$name.log"; then
        echo "bench/run.sh: the $name benchmark failed (its figures show \"not measured\")"
    fi
}

run analysis cargo bench -p serversync-core --bench analysis
run e2e cargo bench -p serversync --bench e2e
run fleet cargo bench -p serversync --bench fleet
fi

# first FILE SED-SCRIPT: the first value the sed script prints from FILE (empty if none).
first() {
    [[ -f "$1" ]] || return 0
    sed -n "$2" "$1" | head -n 1
}

a="$logs/analysis.log"
e="$logs/e2e.log"
f="$logs/fleet.log"
an_secs=$(first "$a" 's/^analysis [0-9,]* x [0-9,]*: \([0-9.]*\) s median (2 threads).*/\1/p')
an_secs1=$(first "$a" 's/^analysis [0-9,]* x [0-9,]*, one thread: \([0-9.]*\) s median.*/\1/p')
an_ratio=$(first "$a" 's/^vs the plain hash join ([0-9.]* s): 2 threads \([0-9.]*\)×.*/\1/p')
an_ratio1=$(first "$a" 's/^vs the plain hash join .*, one thread \([0-9.]*\)×.*/\1/p')
an_join=$(first "$a" 's/^vs the plain hash join (\([0-9.]*\) s).*/\1/p')
an_rss=$(first "$a" 's/^peak RSS \([0-9.]*\) GB (target.*/\1/p')
an_size=$(first "$a" 's/^analysis \([0-9,]* x [0-9,]*\): .*/\1/p')
e2e_ratio=$(first "$e" 's/^end to end (c)\/(a) = \([0-9.]*\) x the plain transfer.*/\1/p')
fl_secs=$(first "$f" 's/^scan --all --concurrency [0-9]*: \([0-9.]*\) s wall.*/\1/p')
fl_rss=$(first "$f" 's/^scan --all --concurrency [0-9]*: .*peak RSS \([0-9.]*\) MB.*/\1/p')
fl_ratio=$(first "$f" 's/^ratio concurrency 1 \/ concurrency [0-9]* (whole fleet, extrapolated): \([0-9.]*\)x.*/\1/p')
fl_size=$(first "$f" 's/^== fleet scan benchmark: \([0-9]*\) simulated cPanel servers x \([0-9]*\) accounts.*/\1 x \2/p')
bytes=""
for log in "$a" "$e" "$f"; do
    [[ -n "$bytes" ]] || bytes=$(first "$log" 's/^bytes stored per run: \([0-9]*\) bytes.*/\1/p')
done

# row FIGURE VALUE UNIT OP TARGET: one line of the table; OP is <= or >= (or - for none).
row() {
    local figure=$1 value=$2 unit=$3 op=$4 target=$5
    local shown="$op $target$unit"
    [[ "$op" == "-" ]] && shown="-"
    if [[ -z "$value" ]]; then
        printf '%-52s %16s   %-14s %s\n' "$figure" "not measured" "$shown" "-"
        return
    fi
    local verdict
    verdict=$(awk -v v="$value" -v t="$target" -v op="$op" 'BEGIN {
        if (op == "-") { print "(informative)"; exit }
        ok = (op == "<=") ? (v <= t) : (v >= t)
        printf "%s (%.2fx the target)", ok ? "MEETS" : "MISSES", (t == 0 ? 0 : v / t)
    }')
    printf '%-52s %16s   %-14s %s\n' "$figure" "$value$unit" "$shown" "$verdict"
}

echo
echo "== summary (issue 11; $( ((quick)) && echo "QUICK sizes: not the targets' sizes" || echo "full sizes"); load average now $(cut -d' ' -f1-3 /proc/loadavg)) =="
printf '%-52s %16s   %-14s %s\n' "figure" "measured" "target" "verdict"
row "analysis ${an_size:-?}, 2 threads (median)" "$an_secs" " s" "<=" 1
row "analysis ${an_size:-?}, one thread (median)" "$an_secs1" " s" "<=" 1
row "analysis / plain hash join (${an_join:-?} s), 2 threads" "$an_ratio" "x" "<=" 2
row "analysis / plain hash join, one thread" "$an_ratio1" "x" "<=" 2
row "analysis peak RSS" "$an_rss" " GB" "<=" 1.5
row "end to end analyse --json / plain HTTP transfer" "$e2e_ratio" "x" "<=" 3
row "fleet scan ${fl_size:-?}, wall" "$fl_secs" " s" "<=" 30
row "fleet scan peak RSS" "$fl_rss" " MB" "<=" 512
row "fleet scan: concurrency 1 / default (extrapolated)" "$fl_ratio" "x" "-" ""
row "bytes stored per run (100,000-account server)" "$bytes" " B" "<=" 7400000
echo "(bytes per run target: 10 % of a full JSON snapshot, ≈ 74 MB; logs in $logs/)"
exit 0
