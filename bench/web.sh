#!/usr/bin/env bash
# Web benchmarks (DESIGN.md §6): one page of a 100,000-item analysis (p50/p95 of the page
# /runs/{id}?page=N and of the API /api/runs/{id}/items?page=N, random pages, some with a
# category filter or a search), and "Sync accounts" → first run page for a 100,000-account
# simulated cPanel server. Everything runs in one process (crates/serversync-web/benches/web.rs);
# figures are printed, nothing is asserted.
#
#   bench/web.sh                          # 100,000 accounts, 200 requests, 3 syncs per kind
#   BENCH_ACCOUNTS=20000 bench/web.sh     # smaller
#   BENCH_REQUESTS=500 BENCH_SYNCS=1 bench/web.sh
set -euo pipefail
cd "$(dirname "$0")/.."
echo "bench/web.sh: $(nproc) cores, $(rustc --version)"
exec cargo bench --locked -p serversync-web --bench web "$@"
