#!/bin/bash
# `make bench-query-clickhouse`: `vigil bench query` (PAGE_VIEWS page views with their LCP,
# default 10M, over 7 days) on the embedded store, then every segment shipped to Debian's
# clickhouse-server (started here on 127.0.0.1:18123 with a folder of its own) and the same
# p75-LCP-by-country query answered there, side by side. Leaves nothing running.
set -u
V=${VIGIL_RELEASE:-${CARGO_TARGET_DIR:-$HOME/.cache/vigil-target}/release/vigil}
B=$(mktemp -d /tmp/vigil-bench-query-clickhouse.XXXXXX)
trap 'pkill -f "$B/ch/config.xml"; rm -rf "$B"' EXIT
. "$(dirname "$0")/clickhouse_server.sh"
start_clickhouse $B/ch 18123 19000 || exit 1
$V bench query --page-views "${PAGE_VIEWS:-10000000}" --runs "${RUNS:-7}" --data $B/data \
  --clickhouse http://127.0.0.1:18123
curl -s 'http://127.0.0.1:18123/' --data-binary \
  "SELECT table, sum(rows), round(sum(bytes) / 1048576, 1) AS mib FROM system.parts WHERE database = 'bench' AND active GROUP BY table ORDER BY table FORMAT PrettyCompact"
