"""Network events to callbacks, on one engine or many: a watcher and its cache.

What it shows:
  * ``swarmnet.Watcher`` over every engine given, each tagged with its node name.
  * Callbacks registered with a decorator, one for everything and one filtered by
    action; both take ``**kwargs`` so arguments added later never break them.
  * ``async with watcher`` returns once every engine is subscribed and its networks
    read into ``watcher.cache``.
  * A bridge made and removed on the first engine, its events as they come, and the
    watcher's statistics at the end (callback lag in seconds and in events).

Run it against a lab node (or any engines)::

    SWARMNET_EXAMPLE_HOSTS=unix:///run/swarmnet-lab/demo/node1/docker.sock \
        python examples/04_watch_networks.py

or give docker hosts as arguments (comma-separated in the variable). Without either it
uses ``DOCKER_HOST``. The bridge it makes is removed before it exits.
"""

from __future__ import annotations

import logging
import os
import sys
import uuid
from contextlib import AsyncExitStack
from typing import Any

import anyio
import structlog

import swarmnet


async def open_named(stack: AsyncExitStack, url: str | None) -> swarmnet.Engine:
    """An open engine named after its host, so events say which node they are from."""
    async with swarmnet.Engine(url) as probe:
        hostname = (await probe.info()).name
    return await stack.enter_async_context(swarmnet.Engine(url, name=hostname))


async def main(hosts: list[str | None]) -> int:
    async with AsyncExitStack() as stack:
        engines = [await open_named(stack, host) for host in hosts]
        watcher = swarmnet.Watcher(*engines)
        done = anyio.Event()
        name = f"swarmnet-example-watch-{uuid.uuid4().hex[:6]}"

        @watcher.on()
        def show(event: swarmnet.models.NetworkEvent, **kwargs: Any) -> None:
            container = f" container={event.container_id[:12]}" if event.container_id else ""
            print(
                f"{event.time:%H:%M:%S.%f} {event.node:<8} {event.scope:<5} "
                f"{event.action:<10} {event.name} ({event.driver or '-'}){container}"
            )

        @watcher.on("destroy", network=name)
        async def finished(event: swarmnet.models.NetworkEvent, **kwargs: Any) -> None:
            done.set()

        async with watcher:
            print(f"subscribed to {len(engines)} engine(s): {', '.join(e.name for e in engines)}")
            for engine in engines:
                print(f"  {engine.name}: {len(watcher.cache.networks(node=engine.name))} networks")
            first = engines[0]
            await first.networks.create(swarmnet.BridgeSpec(name=name))
            await first.networks.remove(name)
            with anyio.fail_after(30):
                await done.wait()
            still = watcher.cache.get(name, node=first.name)
            print(f"cache: {name} {'still there' if still else 'gone again'}")
            stats = watcher.stats()
            # Lag: the age of the oldest event a callback has not finished, and how many.
            print(f"lag now: {stats.lag_seconds:.3f} s, {stats.lag_events} events")
        stats = watcher.stats()
        print(f"received {stats.received} events, delivered {stats.delivered} callback calls")
    return 0


if __name__ == "__main__":
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    argv = sys.argv[1:]
    env = os.environ.get("SWARMNET_EXAMPLE_HOSTS", "")
    hosts: list[str | None] = list(argv) or [h for h in env.split(",") if h] or [None]
    sys.exit(anyio.run(main, hosts))
