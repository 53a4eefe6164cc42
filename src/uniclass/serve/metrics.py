"""Prometheus metrics of the service, in a registry of its own (two apps in one process do not collide)."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

_PATHS = ("/v1/classify", "/v1/explain", "/v1/label-sets", "/healthz", "/metrics", "/", "/openapi.json", "/docs")


class Metrics:
    """Request counts by status, request latency, batch sizes (requests and texts per model call), texts
    classified, and the queue: what an operator needs to see whether micro-batching pays and where time goes."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "uniclass_http_requests",
            "HTTP requests by path and status code",
            ["path", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "uniclass_http_request_duration_seconds",
            "HTTP request latency",
            ["path"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.batch_requests = Histogram(
            "uniclass_batch_requests",
            "requests merged into one model call",
            registry=self.registry,
            buckets=(1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64, 128),
        )
        self.batch_texts = Histogram(
            "uniclass_batch_texts",
            "texts in one model call",
            registry=self.registry,
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
        )
        self.model_seconds = Histogram(
            "uniclass_model_call_seconds",
            "duration of one model call",
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.texts = Counter("uniclass_texts_classified", "texts classified", registry=self.registry)
        self.queue_texts = Gauge("uniclass_queue_texts", "texts accepted and not yet answered", registry=self.registry)

    def observe_request(self, path: str, status: int, seconds: float) -> None:
        """Unknown paths are counted as 'other' so scanners cannot grow the label set without bound."""
        if path.startswith("/v1/label-sets/"):
            path = "/v1/label-sets/{name}"  # one series for every set's name (names are client-chosen)
        path = path if path in _PATHS or path == "/v1/label-sets/{name}" else "other"
        self.requests.labels(path=path, status=str(status)).inc()
        self.latency.labels(path=path).observe(seconds)

    def observe_batch(self, requests: int, texts: int, seconds: float) -> None:
        self.batch_requests.observe(requests)
        self.batch_texts.observe(texts)
        self.model_seconds.observe(seconds)
        self.texts.inc(texts)

    def render(self) -> bytes:
        return generate_latest(self.registry)
