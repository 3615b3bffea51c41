"""Counters, gauges and histograms rendered in the Prometheus text exposition format."""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Callable, Iterable

Labels = tuple[tuple[str, str], ...]
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Labels, extra: Labels = ()) -> str:
    pairs = labels + extra
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}"


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class _Metric:
    kind = "untyped"

    def __init__(self, name: str, help_text: str) -> None:
        self.name = name
        self.help = help_text
        self._lock = threading.Lock()

    def samples(self) -> Iterable[str]:
        raise NotImplementedError

    def render(self) -> str:
        head = f"# HELP {self.name} {self.help}\n# TYPE {self.name} {self.kind}\n"
        return head + "".join(line + "\n" for line in self.samples())


class Counter(_Metric):
    """A monotonically increasing count per label set."""

    kind = "counter"

    def __init__(self, name: str, help_text: str) -> None:
        super().__init__(name, help_text)
        self._values: dict[Labels, float] = {}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        return self._values.get(tuple(sorted(labels.items())), 0.0)

    def samples(self) -> Iterable[str]:
        with self._lock:
            items = sorted(self._values.items())
        return [f"{self.name}{_labels(k)} {_number(v)}" for k, v in items]


class Gauge(_Metric):
    """A value read when the metrics are rendered."""

    kind = "gauge"

    def __init__(self, name: str, help_text: str,
                 read: Callable[[], dict[Labels, float]]) -> None:
        super().__init__(name, help_text)
        self._read = read

    def samples(self) -> Iterable[str]:
        return [f"{self.name}{_labels(k)} {_number(v)}" for k, v in sorted(self._read().items())]


class Histogram(_Metric):
    """Observations counted into cumulative buckets, per label set."""

    kind = "histogram"

    def __init__(self, name: str, help_text: str,
                 buckets: tuple[float, ...] = DURATION_BUCKETS) -> None:
        super().__init__(name, help_text)
        self.buckets = buckets
        self._series: dict[Labels, list[float]] = {}

    def observe(self, value: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            # counts per bucket, then +Inf, then sum
            series = self._series.setdefault(key, [0.0] * (len(self.buckets) + 2))
            series[bisect.bisect_left(self.buckets, value)] += 1
            series[-1] += value

    def samples(self) -> Iterable[str]:
        with self._lock:
            items = sorted((k, list(v)) for k, v in self._series.items())
        lines = []
        for key, series in items:
            running = 0.0
            for bound, count in zip((*self.buckets, math.inf), series[:-1], strict=True):
                running += count
                lines.append(f"{self.name}_bucket{_labels(key, (('le', _number(bound)),))} "
                             f"{_number(running)}")
            lines.append(f"{self.name}_count{_labels(key)} {_number(running)}")
            lines.append(f"{self.name}_sum{_labels(key)} {_number(series[-1])}")
        return lines


class Registry:
    """The metrics of one app."""

    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}
        #: How many times the metrics were rendered: gauges read together can share a read.
        self.renders = 0

    def add(self, metric: _Metric) -> _Metric:
        if metric.name in self._metrics:
            raise ValueError(f"metric {metric.name} is already registered")
        self._metrics[metric.name] = metric
        return metric

    def counter(self, name: str, help_text: str) -> Counter:
        metric = Counter(name, help_text)
        self.add(metric)
        return metric

    def histogram(self, name: str, help_text: str) -> Histogram:
        metric = Histogram(name, help_text)
        self.add(metric)
        return metric

    def gauge(self, name: str, help_text: str, read: Callable[[], dict[Labels, float]]) -> Gauge:
        metric = Gauge(name, help_text, read)
        self.add(metric)
        return metric

    def render(self) -> str:
        self.renders += 1
        return "".join(metric.render() for metric in self._metrics.values())
