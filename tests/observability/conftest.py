"""Helpers for the observability tests: read a Prometheus exposition into samples."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """`{(sample name, labels): value}` of one `/metrics` answer."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def families(text: str) -> dict[str, str]:
    """Family name -> type, as the exposition declares them (`# TYPE` lines)."""
    return {f.name: f.type for f in text_string_to_metric_families(text)}
