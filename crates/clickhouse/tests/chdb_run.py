"""Runs SQL statements in chdb (ClickHouse's engine as a library, a current release) for
tests/modern_dialect.rs: a JSON array of statements on stdin, a JSON array of
{"ok", "out", "error"} on stdout, one per statement, in one session (one data folder)."""

import json
import sys
import tempfile

from chdb import session

statements = json.load(sys.stdin)
results = []
with tempfile.TemporaryDirectory() as path:
    s = session.Session(path)
    for statement in statements:
        try:
            out = s.query(statement, "CSV")
            results.append({"ok": True, "out": str(out), "error": ""})
        except Exception as e:  # every failure is reported, the next statement still runs
            results.append({"ok": False, "out": "", "error": str(e)})
    s.close()
json.dump(results, sys.stdout)
