"""What ``workflow.contrib.otel`` costs per object, measured in one run.

Runs the same definition (three empty tasks) over the same objects without
instrumentation, with :func:`workflow.contrib.otel.instrument` and with
``tasks=True``, then uninstrumented again. The SDK's tracer provider records
every span and exports none, so the numbers are the engine's signals plus
the SDK's own work per span and per measurement, not an exporter's. Reports
microseconds per object and the ratio to the plain run; it asserts nothing.

Usage: ``python benchmarks/bench_otel.py [--objects N] [--repeat R]``
(needs the ``otel`` extra and ``opentelemetry-sdk``).
"""

from __future__ import annotations

import argparse
import time

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider

from workflow.contrib import otel
from workflow.engine import GenericWorkflowEngine


def first(obj, eng):
    pass


def second(obj, eng):
    pass


def third(obj, eng):
    pass


def best_time(objects: int, repeat: int) -> float:
    """The fastest of ``repeat`` runs over ``objects`` objects, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        eng = GenericWorkflowEngine()
        eng.callbacks.replace([first, second, third])
        data = list(range(objects))
        start = time.perf_counter()
        eng.process(data)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    tracer_provider = TracerProvider()
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    rows = [("plain", best_time(args.objects, args.repeat))]
    for label, tasks in (("instrumented", False), ("instrumented, tasks", True)):
        otel.instrument(
            tracer_provider=tracer_provider, meter_provider=meter_provider, tasks=tasks
        )
        try:
            rows.append((label, best_time(args.objects, args.repeat)))
        finally:
            otel.uninstrument()
    rows.append(("uninstrumented again", best_time(args.objects, args.repeat)))
    plain = rows[0][1]
    print(f"{args.objects} objects, 3 tasks each, best of {args.repeat}")
    for label, seconds in rows:
        per_object = seconds * 1e6 / args.objects
        print(f"{label:<22}{per_object:9.2f} us/object  x{seconds / plain:.2f}")


if __name__ == "__main__":
    main()
