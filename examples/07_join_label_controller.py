"""The join-label controller: labelled containers on any node join one overlay, by name.

What it shows:
  * ``swarmnet.Controller`` over several engines, level-triggered: events only say
    which container or network to look at, and the current state decides.
  * Two desired-state helpers: ``keep_network`` (the attachable overlay exists on the
    manager, recreated if someone removes it) and ``keep_connected`` (every running
    container labelled ``swarmnet.join=<network>`` is connected to it, with its name as
    a DNS alias, again after someone disconnects it).
  * With ``--lease NAME``: several replicas, one acts (``swarmnet.Lease`` in a swarm
    config on the first host, which must be a manager).

Run it with the first host a swarm manager::

    python examples/07_join_label_controller.py \\
        unix:///run/swarmnet-lab/demo/node1/docker.sock \\
        unix:///run/swarmnet-lab/demo/node2/docker.sock

then ``docker run -d --label swarmnet.join=app busybox sleep 1d`` on any node. It
prints ``ready`` once it has read every engine (or, with a lease, once it is running
as a replica), its counters on SIGUSR1, and again when stopped (Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from contextlib import AsyncExitStack

import anyio
import structlog

import swarmnet


async def open_named(stack: AsyncExitStack, url: str) -> swarmnet.Engine:
    """An open engine named after its host, so the controller's refs say which node."""
    async with swarmnet.Engine(url) as probe:
        hostname = (await probe.info()).name
    return await stack.enter_async_context(swarmnet.Engine(url, name=hostname))


async def main(args: argparse.Namespace) -> int:
    async with AsyncExitStack() as stack:
        engines = [await open_named(stack, host) for host in args.hosts]
        manager = engines[0]
        lease = None
        if args.lease:
            lease = swarmnet.Lease(
                manager, args.lease, identity=args.identity, duration=args.lease_duration
            )
            await stack.enter_async_context(lease)

        # The whole controller: a network kept on the manager, labelled containers on it.
        controller = swarmnet.Controller(
            *engines, lease=lease, settings=swarmnet.ControllerSettings(resync_interval=args.resync)
        )
        overlay = swarmnet.OverlaySpec(name=args.network, attachable=True)
        swarmnet.keep_network(controller, overlay, engine=manager)
        swarmnet.keep_connected(controller, args.network, labels={"swarmnet.join": args.network})

        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGUSR1) as signals:
            async with controller:
                print(f"ready: {len(engines)} engines, network {args.network}", flush=True)
                async for signum in signals:
                    if signum != signal.SIGUSR1:
                        break
                    report("status", controller)  # kill -USR1: the counters, and go on
        report("stopped", controller)
    return 0


def report(what: str, controller: swarmnet.Controller) -> None:
    """One line of the controller's counters."""
    s = controller.stats()
    print(
        f"{what}: active={s.active} runs={s.runs} failed={s.failed} events={s.events} "
        f"resyncs={s.resyncs} gaps={s.gaps} activations={s.activations}",
        flush=True,
    )


def parse(argv: list[str]) -> argparse.Namespace:
    """The command line: hosts (the first a manager), the network, an optional lease."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("hosts", nargs="+", help="docker hosts; the first is a swarm manager")
    parser.add_argument("--network", default="app", help="the overlay (default: app)")
    parser.add_argument("--lease", help="act only while holding this lease (several replicas)")
    parser.add_argument("--identity", help="this replica's name in the lease")
    parser.add_argument("--lease-duration", type=float, default=15.0, help="seconds")
    parser.add_argument("--resync", type=float, default=30.0, help="seconds between re-reads")
    return parser.parse_args(argv)


if __name__ == "__main__":
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    sys.exit(anyio.run(main, parse(sys.argv[1:])))
