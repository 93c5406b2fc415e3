#!/usr/bin/env python3
"""Concurrent heavy queries against a fresh `vigil serve`: by default 32 at once, each a
4-dimension group-by (page_path, effective_type, user_id, session_id) with count and
p50-p99 over 20,000 LCP rows in as many groups (hardening issue 8).

usage: concurrent_queries.py <vigil binary> [concurrency] [rows] [--retry]
Prints the wall time, the statuses (`--retry` retries `503 busy` after 2 s), the server's
RSS before and at its peak during the queries (sampled every 50 ms), and intake latency
(one small batch every 200 ms) while the queries run. Uses a temporary data folder.
"""
import json, os, re, shutil, subprocess, sys, tempfile, threading, time, urllib.request, urllib.error

binary = sys.argv[1]
concurrency = int(sys.argv[2]) if len(sys.argv) > 2 else 32
rows = int(sys.argv[3]) if len(sys.argv) > 3 else 20000
retry = "--retry" in sys.argv  # a 503 busy is retried after its Retry-After
data = tempfile.mkdtemp(prefix="vigil-measure-")
keys = json.loads(subprocess.check_output([binary, "project", "create", "shop", "--json", "--data", data]))
server = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--data", data],
                          stdout=subprocess.PIPE, env={**os.environ, "VIGIL_LOG": "error"})
addr = server.stdout.readline().decode().strip().rsplit("http://", 1)[1]


def post(path, body, headers, timeout=900):
    req = urllib.request.Request(f"http://{addr}{path}", data=json.dumps(body).encode(),
                                 headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def ingest(batch):
    return post(f"/api/v1/ingest?key={keys['public_key']}", batch, {"content-type": "text/plain"})


def query(q):
    return post("/api/v1/query", q, {"authorization": f"Bearer {keys['api_token']}",
                                     "content-type": "application/json"})


def rss_kib():
    status = open(f"/proc/{server.pid}/status").read()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1))


now = int(time.time() * 1000)
per = 10
for b in range(rows // per):
    events = [{"type": "vital", "ts": now - 600_000 - b * per - i, "name": "LCP",
               "value": 300 + (b * 7919 + i * 104729) % 9000,
               "page_url": f"https://shop.example.com/p/{b * per + i}"} for i in range(per)]
    status, _ = ingest({"v": 1, "context": {
        "session_id": f"s{b}", "agent": {"name": "m", "version": "1"}, "user_id": f"u{b % 300}",
        "connection": {"type": "cellular", "effective_type": ["4g", "3g", "wifi"][b % 3]}},
        "events": events})
    assert status == 202, status
heavy = {"metric": "lcp", "aggregations": ["count", "p50", "p75", "p90", "p99"],
         "group_by": ["page_path", "effective_type", "user_id", "session_id"],
         "from": now - 3_600_000, "to": now + 60_000, "limit": 10000}
status, body = query({**heavy, "group_by": [], "aggregations": ["count"]})
print("rows:", json.loads(body)["rows"])
base = rss_kib()
peak = [base]
done = threading.Event()
lat = []


def sample():
    while not done.is_set():
        peak[0] = max(peak[0], rss_kib())
        time.sleep(0.05)


def intake():
    n = 0
    while not done.is_set():
        t = time.monotonic()
        s, _ = ingest({"v": 1, "context": {"session_id": f"probe{n}", "agent": {"name": "m", "version": "1"}},
                       "events": [{"type": "view", "ts": int(time.time() * 1000)}]})
        lat.append((time.monotonic() - t, s))
        n += 1
        time.sleep(0.2)


results = [None] * concurrency


def one(i):
    t = time.monotonic()
    while True:
        try:
            s, _ = query(heavy)
        except Exception as e:  # noqa: BLE001 - a timeout is a result here
            s = repr(e)
        if not (retry and s == 503):
            break
        time.sleep(2)
    results[i] = (s, time.monotonic() - t)


threads = [threading.Thread(target=sample), threading.Thread(target=intake)]
for t in threads:
    t.start()
start = time.monotonic()
workers = [threading.Thread(target=one, args=(i,)) for i in range(concurrency)]
for w in workers:
    w.start()
for w in workers:
    w.join()
wall = time.monotonic() - start
done.set()
for t in threads:
    t.join()
statuses = {}
for s, _ in results:
    statuses[s] = statuses.get(s, 0) + 1
ok_times = sorted(d for s, d in results if s == 200)
lats = sorted(l for l, _ in lat)
print(f"{concurrency} concurrent queries{' (busy retried)' if retry else ''} over {rows} rows: wall {wall:.1f} s, statuses {statuses}")
if ok_times:
    print(f"  answered in {ok_times[0]:.2f}–{ok_times[-1]:.2f} s")
print(f"  server RSS {base / 1024:.0f} MiB before, peak {peak[0] / 1024:.0f} MiB during the queries")
print(f"  intake during the queries: {len(lats)} batches, median {lats[len(lats) // 2] * 1000:.0f} ms, "
      f"max {lats[-1] * 1000:.0f} ms, statuses {sorted(set(s for _, s in lat))}")
with urllib.request.urlopen(f"http://{addr}/healthz") as r:
    print("  healthz after:", r.status)
server.terminate()
server.wait()
shutil.rmtree(data)
