#!/usr/bin/env bash
# Fleet scan benchmark (issue 11): 500 simulated cPanel servers x 1,000 accounts, 20 ms per
# panel request, one `serversync scan --all`: wall time (target <= 30 s) and peak RSS
# (target <= 512 MB), and the same work at --concurrency 1 (50 servers, extrapolated).
#
#   bench/fleet.sh                         the full fleet
#   BENCH_SERVERS=100 bench/fleet.sh       a smaller one (also BENCH_ACCOUNTS, BENCH_DELAY_MS,
#                                          BENCH_CONCURRENCY, BENCH_SERIAL_SERVERS)
#
# Prints figures and the ratio; never fails on a missed target.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
echo "== machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.1f GB", $2/1e6}' /proc/meminfo) RAM; $(rustc --version) =="
cargo build --release -p serversync
cargo bench -p serversync --bench fleet
