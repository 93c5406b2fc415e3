"""An Android app's telemetry sent with the real OpenTelemetry SDK, for otel.test.mjs (issue 14).

The Kotlin agent cannot run here, so this sends, through the Python SDK's OTLP/HTTP protobuf
exporters, what opentelemetry-android sends: its resource (AndroidResource), an `AppStart` span
with `start.type`, an activity's `Created` span, an OkHttp client span, and `app.crash` and
`device.anr` events (log records with an event name, from CrashReporter and AnrWatcher), each
with the `session.id`, `app.screen.name` and network attributes the agent's processors add.

Exports to OTEL_EXPORTER_OTLP_ENDPOINT with OTEL_EXPORTER_OTLP_HEADERS (x-vigil-key=pk_…),
then prints one JSON line: the session id, the request's trace id and the times it used.
"""

import json
import os
import time

from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

SESSION = os.environ.get("APP_SESSION_ID", "9a8b7c6d5e4f40312a1b2c3d4e5f6a7b")

resource = Resource.create(
    {
        "service.name": "Vigil Shop",
        "service.version": "3.5.1",
        "telemetry.sdk.language": "java",
        "rum.sdk.version": "0.11.0",
        "device.model.name": "Galaxy S23",
        "device.model.identifier": "SM-S911B",
        "device.manufacturer": "samsung",
        "os.name": "Android",
        "android.os.api_level": "34",
        "os.type": "linux",
        "os.version": "14",
        "app.installation.id": "5d1c2e0a-8d2b-4e5f-9a7c-1b2d3e4f5a6b",
    }
)


def record_attributes(screen):
    return {
        "session.id": SESSION,
        "app.screen.name": screen,
        "network.connection.type": "wifi",
        "network.carrier.name": "Vodafone",
    }


tracer_provider = TracerProvider(resource=resource)
tracer_provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter()))
logger_provider = LoggerProvider(resource=resource)
logger_provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter()))

t0 = time.time_ns() - 60_000_000_000  # a minute ago, in ns
ms = 1_000_000

lifecycle = tracer_provider.get_tracer("io.opentelemetry.lifecycle")
start = lifecycle.start_span(
    "AppStart",
    start_time=t0,
    attributes={**record_attributes("HomeActivity"), "start.type": "cold"},
)
created = lifecycle.start_span(
    "Created",
    start_time=t0 + 150 * ms,
    attributes={**record_attributes("HomeActivity"), "activity.name": "HomeActivity"},
)
created.end(end_time=t0 + 150 * ms + 987_600_000)
start.end(end_time=t0 + 1_523_400_000)

okhttp = tracer_provider.get_tracer("io.opentelemetry.okhttp-3.0")
request = okhttp.start_span(
    "GET",
    kind=SpanKind.CLIENT,
    start_time=t0 + 2_000 * ms,
    attributes={
        **record_attributes("HomeActivity"),
        "http.request.method": "GET",
        "url.full": "https://api.vigilshop.example/api/products?page=2",
        "http.response.status_code": 200,
    },
)
request.end(end_time=t0 + 2_000 * ms + 345_600_000)

crashes = logger_provider.get_logger("io.opentelemetry.crash")
crashes.emit(
    timestamp=t0 + 5_000 * ms,
    event_name="app.crash",
    severity_number=SeverityNumber.UNSPECIFIED,
    attributes={
        **record_attributes("CartActivity"),
        "thread.id": 2,
        "thread.name": "main",
        "exception.type": "java.lang.IndexOutOfBoundsException",
        "exception.message": "Index 3 out of bounds for length 3",
        "exception.stacktrace": "java.lang.IndexOutOfBoundsException: Index 3 out of bounds for length 3\n"
        "\tat java.util.ArrayList.get(ArrayList.java:437)\n"
        "\tat com.vigil.shop.cart.CartAdapter.onBindViewHolder(CartAdapter.kt:52)\n"
        "\tat androidx.recyclerview.widget.RecyclerView$Adapter.bindViewHolder(RecyclerView.java:7254)\n",
    },
)
anrs = logger_provider.get_logger("io.opentelemetry.anr")
anrs.emit(
    timestamp=t0 + 8_000 * ms,
    event_name="device.anr",
    attributes={
        **record_attributes("HomeActivity"),
        "exception.stacktrace": "java.lang.Thread.sleep(Native Method)\n"
        "com.vigil.shop.home.HomeActivity.loadBanner(HomeActivity.kt:88)\n",
    },
)

tracer_provider.shutdown()
logger_provider.shutdown()
print(
    json.dumps(
        {
            "session": SESSION,
            "trace_id": format(request.get_span_context().trace_id, "032x"),
            "t0_ms": t0 // ms,
        }
    ),
    flush=True,
)
