#!/bin/bash
# `make bench-clickhouse`: fills a data folder with the demo's page views (PAGE_VIEWS, default
# 100,000), times the p75-LCP-by-country query on the embedded store, starts Debian's clickhouse-server on
# 127.0.0.1:18123, serves the folder with `[storage] backend = "clickhouse"`, times until every
# flushed segment is shipped, and times the same query answered from ClickHouse (and checks
# the answers are equal). Prints the figures; leaves nothing running.
set -u
V=${VIGIL_RELEASE:-${CARGO_TARGET_DIR:-$HOME/.cache/vigil-target}/release/vigil}
B=$(mktemp -d /tmp/vigil-bench-clickhouse.XXXXXX)
trap 'pkill -f "listen 127.0.0.1:18096"; pkill -f "$B/ch/config.xml"; rm -rf "$B"' EXIT
mkdir -p $B/ch
PAGE_VIEWS=${PAGE_VIEWS:-100000}
$V demo --page-views $PAGE_VIEWS --mobile-sessions 0 --data $B/data > $B/demo.out 2>&1
TOKEN=$(grep "api token" $B/demo.out | awk '{print $3}')
grep "events over" $B/demo.out
python3 -c "import json;m=json.load(open('$B/data/store/manifest.json'));print('segments',len(m['files']),'rows',sum(f['rows'] for f in m['files']))"
. "$(dirname "$0")/clickhouse_server.sh"
start_clickhouse $B/ch 18123 19000 || exit 1
NOW=$(date +%s%3N)
Q='{"metric":"lcp","aggregations":["count","p75"],"group_by":["country"],"from":'$((NOW-8*86400000))',"to":'$NOW'}'
query_times() {
  for i in 1 2 3 4 5; do
    curl -s -o $B/answer.json -w "%{time_total}\n" localhost:18096/api/v1/query -H "Authorization: Bearer $TOKEN" -d "$Q"
  done
}
($V serve --data $B/data --listen 127.0.0.1:18096 > $B/serve1.log 2>&1 &); sleep 3
echo "embedded query seconds:"; query_times; cp $B/answer.json $B/answer-embedded.json
pkill -f "listen 127.0.0.1:18096"; sleep 2
printf '[storage]\nbackend = "clickhouse"\nclickhouse_urls = ["http://127.0.0.1:18123"]\nclickhouse_database = "bench"\n' > $B/ch.toml
T0=$(date +%s%3N)
(RUST_LOG=info $V serve --data $B/data --listen 127.0.0.1:18096 --config $B/ch.toml > $B/serve2.log 2>&1 &)
while true; do
  n=$(python3 -c "import json;print(len(json.load(open('$B/data/store/manifest.json'))['files']))")
  [ "$n" = "0" ] && break
  sleep 0.2
done
T1=$(date +%s%3N)
echo "shipped all segments in $((T1-T0)) ms (including start-up)"
curl -s 'http://127.0.0.1:18123/' --data-binary "SELECT sum(rows), sum(bytes) FROM system.parts WHERE database='bench' AND active"
curl -s 'http://127.0.0.1:18123/' --data-binary "SELECT count() FROM bench.views"
echo "clickhouse query seconds:"; query_times; cp $B/answer.json $B/answer-clickhouse.json
python3 - $B/answer-embedded.json $B/answer-clickhouse.json <<'PY'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
print('same answer:', a == b, len(a['rows']), 'rows')
if a != b:
    print('columns', a['columns'], b['columns'])
    for x, y in zip(a['rows'], b['rows']):
        if x != y:
            print('embedded', x, 'clickhouse', y)
PY
echo "shipping rounds: $(grep -c "shipped to ClickHouse" $B/serve2.log)"
echo "queries ClickHouse answered alone (compiled): $(curl -s localhost:18096/metrics | grep '^vigil_queries_in_clickhouse_total' | awk '{print $2}')"
