"""Prometheus metrics: request counts and latency by route template and outcome."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "authd_requests", "HTTP requests by route and status",
            ["route", "method", "status"], registry=self.registry,
        )
        self.latency = Histogram(
            "authd_request_seconds", "HTTP request latency by route",
            ["route", "method"], registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.auth_outcomes = Counter(
            "authd_authentications", "Authentication decisions by factor and outcome",
            ["factor", "outcome"], registry=self.registry,
        )

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
