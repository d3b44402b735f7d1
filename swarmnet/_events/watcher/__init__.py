"""Network events to user callbacks: :class:`Watcher` and what it is made of.

One idea per module: ``settings`` (the knobs, :class:`Retry`), ``handlers`` (callback
records and their dispatch), ``cache`` (:class:`NetworkCache`), ``objects``
(:class:`ObjectCache`: containers, services, nodes), ``stats``
(:class:`WatcherStats`), ``watcher`` (the :class:`Watcher` that runs them).
"""

from swarmnet._events.watcher.cache import CachedEndpoint, CachedNetwork, NetworkCache
from swarmnet._events.watcher.handlers import Handler
from swarmnet._events.watcher.objects import (
    CachedContainer,
    CachedNode,
    CachedService,
    ObjectCache,
)
from swarmnet._events.watcher.settings import (
    DispatchSettings,
    Overflow,
    ResyncSettings,
    Retry,
    RetrySettings,
    WatcherSettings,
)
from swarmnet._events.watcher.stats import HandlerStats, NodeStats, WatcherStats
from swarmnet._events.watcher.watcher import Watcher

__all__ = [
    "CachedContainer",
    "CachedEndpoint",
    "CachedNetwork",
    "CachedNode",
    "CachedService",
    "DispatchSettings",
    "Handler",
    "HandlerStats",
    "NetworkCache",
    "NodeStats",
    "ObjectCache",
    "Overflow",
    "ResyncSettings",
    "Retry",
    "RetrySettings",
    "Watcher",
    "WatcherSettings",
    "WatcherStats",
]
