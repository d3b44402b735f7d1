"""Prometheus metrics for a :class:`swarmnet.Watcher`, a :class:`swarmnet.Controller`
and its :class:`swarmnet.Lease` (the ``swarmnet[metrics]`` extra: prometheus-client).

:func:`register` adds one collector to a registry; every scrape reads the objects'
``stats()`` snapshots then and there, so nothing runs in the background and nothing
is counted twice::

    import prometheus_client
    import swarmnet.metrics

    swarmnet.metrics.register(watcher=watcher, controller=controller)
    prometheus_client.start_http_server(9100)

What it exports (``swarmnet_`` names; counters end in ``_total``):

=====================================================  =================================
``watcher_events_received_total{node}``                 events read from each engine
``watcher_events_delivered_total{node}``                of those, handed to callbacks
``watcher_events_dropped_total{node}``                  lost to a full buffer
``watcher_reconnects_total{node}``, ``…_gaps_total``    streams re-opened, events lost
``watcher_resyncs_total{node}``                         re-reads after a gap
``watcher_events_synthesized_total{node}``              made up by re-reads and sweeps
``watcher_connected{node}``                             1 while the stream is open
``watcher_handler_calls_total{handler,outcome}``        delivered, failed, retried, dropped
``watcher_handler_queued{handler}``                     events waiting for the callback
``watcher_handler_lag_seconds{handler}``                age of its oldest unfinished event
``controller_active``                                   1 while it acts (holds the lease)
``controller_reconcile_runs_total{outcome}``            succeeded, failed
``controller_reconcile_retries_total``, ``…_gave_up``   runs queued again, objects left
``controller_reconcile_duration_seconds``               a summary: count and sum of runs
``controller_events_total``, ``…_resyncs``, ``…_gaps``  what queued work
``controller_queue{state}``                             queued, running, delayed
``lease_held{lease,identity}``                          1 while this replica holds it
``lease_holder{lease,holder}``                          1 for the holder last seen
``lease_acquisitions_total{lease}``, ``…_losses``       terms taken and lost
=====================================================  =================================
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from swarmnet._core.errors import InvalidSpec, MissingExtra

if TYPE_CHECKING:
    from prometheus_client.registry import CollectorRegistry

    from swarmnet._controllers.controller import Controller
    from swarmnet._controllers.lease import Lease
    from swarmnet._events.watcher.watcher import Watcher

__all__ = ["SwarmnetCollector", "register"]


def _client() -> Any:
    try:
        import prometheus_client
        import prometheus_client.core
    except ImportError as exc:
        raise MissingExtra(
            "swarmnet.metrics needs prometheus-client: pip install 'swarmnet[metrics]'"
        ) from exc
    return prometheus_client


class SwarmnetCollector:
    """A Prometheus collector reading a watcher's, a controller's and a lease's
    statistics at every scrape (made and registered by :func:`register`).

    Args:
        watcher, controller, lease: what to export (any of them).
        prefix: the metric names' prefix.

    Raises:
        MissingExtra: prometheus-client is not installed.
    """

    def __init__(
        self,
        *,
        watcher: Watcher | None = None,
        controller: Controller | None = None,
        lease: Lease | None = None,
        prefix: str = "swarmnet",
    ) -> None:
        self._core = _client().core
        self.watcher = watcher
        self.controller = controller
        self.lease = lease
        self.prefix = prefix

    def describe(self) -> list[Any]:
        """Nothing up front: the registry then calls :meth:`collect` to learn the names."""
        return list(self.collect())

    def collect(self) -> Iterator[Any]:
        """The metric families now (prometheus_client calls this at every scrape)."""
        if self.watcher is not None:
            yield from self._watcher(self.watcher)
        if self.controller is not None:
            yield from self._controller(self.controller)
        if self.lease is not None:
            yield from self._lease(self.lease)

    def _counter(self, name: str, doc: str, labels: list[str] | None = None) -> Any:
        return self._core.CounterMetricFamily(f"{self.prefix}_{name}", doc, labels=labels)

    def _gauge(self, name: str, doc: str, labels: list[str] | None = None) -> Any:
        return self._core.GaugeMetricFamily(f"{self.prefix}_{name}", doc, labels=labels)

    def _watcher(self, watcher: Watcher) -> Iterator[Any]:
        stats = watcher.stats()
        per_node = [
            ("watcher_events_received", "Events read from each engine.", "received"),
            ("watcher_events_delivered", "Events handed to the callbacks.", "dispatched"),
            ("watcher_events_dropped", "Events lost to a full buffer.", "dropped"),
            ("watcher_reconnects", "Event streams re-opened after a loss.", "reconnects"),
            ("watcher_gaps", "Times events were found lost.", "gaps"),
            ("watcher_resyncs", "Re-reads of a node's state after a gap.", "resyncs"),
            (
                "watcher_events_synthesized",
                "Events made up by re-reads and sweeps.",
                "synthesized",
            ),
        ]
        for name, doc, field in per_node:
            family = self._counter(name, doc, ["node"])
            for node in stats.nodes:
                family.add_metric([node.node], getattr(node, field))
            yield family
        connected = self._gauge("watcher_connected", "1 while the stream is open.", ["node"])
        for node in stats.nodes:
            connected.add_metric([node.node], 1.0 if node.connected else 0.0)
        yield connected
        calls = self._counter(
            "watcher_handler_calls", "Callback calls by outcome.", ["handler", "outcome"]
        )
        queued = self._gauge("watcher_handler_queued", "Events waiting.", ["handler"])
        lag = self._gauge(
            "watcher_handler_lag_seconds",
            "Age of the oldest event handed to the callback and not finished.",
            ["handler"],
        )
        for handler in stats.handlers:
            for outcome in ("delivered", "failed", "retried", "dropped"):
                calls.add_metric([handler.name, outcome], getattr(handler, outcome))
            queued.add_metric([handler.name], handler.queued)
            lag.add_metric([handler.name], handler.lag_seconds)
        yield from (calls, queued, lag)

    def _controller(self, controller: Controller) -> Iterator[Any]:
        stats = controller.stats()
        active = self._gauge("controller_active", "1 while the controller acts.")
        active.add_metric([], 1.0 if stats.active else 0.0)
        runs = self._counter("controller_reconcile_runs", "Reconcile runs by outcome.", ["outcome"])
        runs.add_metric(["succeeded"], stats.succeeded)
        runs.add_metric(["failed"], stats.failed)
        duration = self._core.SummaryMetricFamily(
            f"{self.prefix}_controller_reconcile_duration_seconds",
            "Time spent in reconcile runs.",
            count_value=stats.runs,
            sum_value=stats.run_seconds,
        )
        yield from (active, runs, duration)
        for name, doc, value in (
            ("controller_reconcile_retries", "Runs queued again.", stats.retries),
            ("controller_reconcile_gave_up", "Objects given up on.", stats.gave_up),
            ("controller_events", "Engine events that queued an object.", stats.events),
            ("controller_resyncs", "Full re-reads of one engine.", stats.resyncs),
            ("controller_gaps", "Times an engine's events were lost.", stats.gaps),
            ("controller_activations", "Times the controller started acting.", stats.activations),
        ):
            family = self._counter(name, doc)
            family.add_metric([], value)
            yield family
        queue = self._gauge("controller_queue", "Objects in the work queue.", ["state"])
        for state in ("queued", "running", "delayed"):
            queue.add_metric([state], getattr(stats, state))
        yield queue

    def _lease(self, lease: Lease) -> Iterator[Any]:
        stats = lease.stats()
        held = self._gauge(
            "lease_held", "1 while this replica holds the lease.", ["lease", "identity"]
        )
        held.add_metric([stats.name, stats.identity], 1.0 if stats.held else 0.0)
        holder = self._gauge("lease_holder", "1 for the holder last seen.", ["lease", "holder"])
        if stats.holder:
            holder.add_metric([stats.name, stats.holder], 1.0)
        yield from (held, holder)
        for name, doc, value in (
            ("lease_acquisitions", "Terms this replica took.", stats.acquisitions),
            ("lease_losses", "Terms this replica lost.", stats.losses),
            ("lease_renewals", "Renewals this replica wrote.", stats.renewals),
        ):
            family = self._counter(name, doc, ["lease"])
            family.add_metric([stats.name], value)
            yield family


def register(
    *,
    watcher: Watcher | None = None,
    controller: Controller | None = None,
    lease: Lease | None = None,
    registry: CollectorRegistry | None = None,
    prefix: str = "swarmnet",
) -> SwarmnetCollector:
    """Export the statistics of a watcher, a controller and a lease as Prometheus metrics.

    Args:
        watcher: a :class:`swarmnet.Watcher` (per node and per callback).
        controller: a :class:`swarmnet.Controller`; its lease too, unless ``lease``
            is given.
        lease: a :class:`swarmnet.Lease` (holder, terms).
        registry: where to register; by default prometheus_client's global ``REGISTRY``.
        prefix: the metric names' prefix.

    Returns:
        The collector (``registry.unregister(collector)`` removes it).

    Raises:
        MissingExtra: prometheus-client is not installed (``swarmnet[metrics]``).
        InvalidSpec: nothing to export, or a prefix that is no metric name.

    Example::

        registry = prometheus_client.CollectorRegistry()
        swarmnet.metrics.register(watcher=watcher, registry=registry)
        print(prometheus_client.generate_latest(registry).decode())
    """
    client = _client()
    if watcher is None and controller is None and lease is None:
        raise InvalidSpec("metrics.register needs a watcher, a controller or a lease")
    if not prefix or not prefix.replace("_", "a").isalnum() or prefix[0].isdigit():
        raise InvalidSpec(f"prefix {prefix!r} is not a metric name (letters, digits, _)")
    if lease is None and controller is not None:
        lease = controller.lease
    collector = SwarmnetCollector(
        watcher=watcher, controller=controller, lease=lease, prefix=prefix
    )
    (registry if registry is not None else client.REGISTRY).register(collector)
    return collector
