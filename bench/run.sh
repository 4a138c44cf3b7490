#!/usr/bin/env bash
# serversync benchmarks (DESIGN.md §6): analysis 1,000,000 x 1,000,000 and one
# 100,000-account cPanel server end to end vs the plain HTTP transfer.
#
#   bench/run.sh            full run
#   bench/run.sh --quick    100k x 100k analysis, 10,000-account e2e (BENCH_QUICK=1)
#
# Prints figures and ratios against the targets; never fails on a missed target.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ "${1:-}" == "--quick" ]]; then
    export BENCH_QUICK=1
fi

for tool in cargo curl; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "bench/run.sh: $tool is required but not found in PATH" >&2
        exit 2
    fi
done

echo "== machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.1f GB", $2/1e6}' /proc/meminfo) RAM; $(rustc --version) =="

echo "== building release binaries (panel-sim, serversync) =="
cargo build --release -p panel-sim -p serversync

echo
echo "== analysis benchmark =="
cargo bench -p serversync-core --bench analysis

echo
echo "== end-to-end benchmark =="
cargo bench -p serversync --bench e2e

echo
echo "== fleet scan benchmark =="
cargo bench -p serversync --bench fleet
