"""A small shop backend traced with the real OpenTelemetry SDK, for otel.test.mjs.

GET /api/cart?cart=<id> reads a cart from SQLite under a `SELECT cart` span (the query waits
SHOP_QUERY_DELAY_MS in SQL, so it is the trace's slowest span) and logs through Python
`logging`, bridged to OTel logs, once inside that span and once in the request's span.
Spans and logs go to Vigil's OTLP/HTTP intake in protobuf, configured as any service would be:
OTEL_EXPORTER_OTLP_ENDPOINT (the base URL: the exporters add /v1/traces and /v1/logs),
OTEL_EXPORTER_OTLP_HEADERS (x-vigil-key=pk_…), OTEL_EXPORTER_OTLP_TRACES_COMPRESSION (gzip).
Batches leave every 100 ms, from the processors' threads: the test need not wait long, and no
export runs inside a request (a Simple processor's synchronous POSTs gave the browser span more
time of its own than the query). SHOP_ALLOW_ORIGIN is the page origin answered to CORS,
preflight included. The logging bridge is opentelemetry-instrumentation-logging's handler (the
SDK's own LoggingHandler is deprecated).

Prints `shop-api listening on http://127.0.0.1:PORT` once it serves (port 0 picks a free one),
and exits, flushing, on SIGTERM or when its stdin closes (the test process went away).
"""

import logging
import os
import signal
import sqlite3
import sys
import tempfile
import threading
import time

from flask import Flask, jsonify, request
from opentelemetry import trace
from opentelemetry._logs import set_logger_provider
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from werkzeug.serving import make_server

SERVICE = "shop-api"
ALLOW_ORIGIN = os.environ.get("SHOP_ALLOW_ORIGIN", "")
QUERY_DELAY_MS = int(os.environ.get("SHOP_QUERY_DELAY_MS", "400"))

resource = Resource.create(
    {"service.name": SERVICE, "service.version": "1.4.2", "deployment.environment.name": "test"}
)
tracer_provider = TracerProvider(resource=resource)
tracer_provider.add_span_processor(
    BatchSpanProcessor(OTLPSpanExporter(), schedule_delay_millis=100)
)
trace.set_tracer_provider(tracer_provider)
tracer = trace.get_tracer("shop.cart", "1.4.2")

logger_provider = LoggerProvider(resource=resource)
logger_provider.add_log_record_processor(
    BatchLogRecordProcessor(OTLPLogExporter(), schedule_delay_millis=100)
)
set_logger_provider(logger_provider)
# Only the application's logger is bridged: the exporters' own warnings (a refused export)
# stay on stderr, where the test shows them, instead of looping back into OTLP.
log = logging.getLogger("shop.cart")
log.setLevel(logging.INFO)
log.addHandler(LoggingHandler(logger_provider=logger_provider))
log.propagate = False

DB_DIR = tempfile.mkdtemp(prefix="vigil-otel-shop-")
DB = os.path.join(DB_DIR, "shop.db")


def pause(ms):
    """SQL `pause(ms)`: the stand-in for a slow query plan, inside the real statement."""
    time.sleep(ms / 1000)
    return ms


def connect():
    db = sqlite3.connect(DB)
    db.create_function("pause", 1, pause)
    return db


def seed():
    with connect() as db:
        db.executescript(
            """
            CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT, price_cents INTEGER);
            CREATE TABLE cart_items (cart_id INTEGER, product_id INTEGER, qty INTEGER);
            INSERT INTO products VALUES (1, 'teapot', 2400), (2, 'cup', 600), (3, 'tray', 1500);
            INSERT INTO cart_items VALUES (7, 1, 1), (7, 2, 4), (8, 3, 1);
            """
        )


# The delay is evaluated once (a materialized CTE), whatever the number of rows.
CART_SQL = """
WITH slow AS MATERIALIZED (SELECT pause(?) AS ms)
SELECT p.name, i.qty, p.price_cents
FROM cart_items i JOIN products p ON p.id = i.product_id, slow
WHERE i.cart_id = ?
ORDER BY p.name
""".strip()

app = Flask(__name__)
FlaskInstrumentor().instrument_app(app)


@app.after_request
def cors(response):
    if ALLOW_ORIGIN and request.headers.get("Origin") == ALLOW_ORIGIN:
        response.headers["Access-Control-Allow-Origin"] = ALLOW_ORIGIN
        response.headers["Access-Control-Allow-Methods"] = "GET, POST"
        response.headers["Access-Control-Allow-Headers"] = "traceparent, tracestate, content-type"
        response.headers["Timing-Allow-Origin"] = ALLOW_ORIGIN
        response.headers["Vary"] = "Origin"
    return response


@app.get("/api/cart")
def cart():
    cart_id = int(request.args.get("cart", "7"))
    server = trace.get_current_span().get_span_context()
    with tracer.start_as_current_span(
        "SELECT cart",
        kind=trace.SpanKind.CLIENT,
        attributes={
            "db.system.name": "sqlite",
            "db.namespace": "shop",
            "db.operation.name": "SELECT",
            "db.collection.name": "cart_items",
            "db.query.text": CART_SQL,
        },
    ) as span:
        started = time.monotonic()
        with connect() as db:
            rows = db.execute(CART_SQL, (QUERY_DELAY_MS, cart_id)).fetchall()
        took = round((time.monotonic() - started) * 1000)
        span.set_attribute("db.response.returned_rows", len(rows))
        log.warning("slow query: %d ms for cart %d", took, cart_id, extra={"cart.id": cart_id})
        db_span = span.get_span_context()
    items = [{"name": n, "qty": q, "price_cents": p} for n, q, p in rows]
    total = sum(i["qty"] * i["price_cents"] for i in items)
    log.info("cart %d loaded: %d items", cart_id, len(items), extra={"cart.total_cents": total})
    return jsonify(
        items=items,
        total_cents=total,
        # What the backend saw and made, for the test to check against Vigil's waterfall.
        traceparent=request.headers.get("traceparent"),
        trace_id=format(server.trace_id, "032x"),
        span_id=format(server.span_id, "016x"),
        db_span_id=format(db_span.span_id, "016x"),
    )


def main():
    seed()
    srv = make_server("127.0.0.1", int(os.environ.get("SHOP_PORT", "0")), app, threaded=True)

    def stop(*_):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)

    def watch_stdin():
        sys.stdin.read()
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch_stdin, daemon=True).start()
    print(f"{SERVICE} listening on http://127.0.0.1:{srv.server_port}", flush=True)
    try:
        srv.serve_forever()
    finally:
        srv.server_close()
        tracer_provider.shutdown()
        logger_provider.shutdown()
        for f in os.listdir(DB_DIR):
            os.remove(os.path.join(DB_DIR, f))
        os.rmdir(DB_DIR)


if __name__ == "__main__":
    main()
