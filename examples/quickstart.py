"""swarmnet in one run: form a swarm, look at its built-in networks, put containers on
two nodes on an attachable overlay, run a service on it, let a controller connect a
labelled container to it, apply a compose stack, and print the network events callbacks
receive.

    python examples/quickstart.py                      # a local lab of 3 engines
    python examples/quickstart.py --hosts unix:///a.sock,tcp://b:2375,…

With no ``--hosts`` (or ``SWARMNET_DEMO_HOSTS``) it brings up a local lab named
``demo`` (root needed) and takes it down at the end unless ``--keep`` is given. On
engines you pass it, it forms a swarm only if they are not in one, and it removes
everything it made (containers, the overlay, the swarm it formed).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import anyio
import structlog

import swarmnet
from swarmnet.lab import LAB_IMAGE, Lab

#: The stack of step 6: two services on a network of their own, as `docker stack` reads it.
STACK_FILE = """\
services:
  api:
    image: swarmnet-lab/busybox
    command: ["sh", "-c", "hostname > /tmp/index.html; exec httpd -f -p 80 -h /tmp"]
    networks: [back]
    stop_grace_period: 0s
    deploy: {replicas: 2, endpoint_mode: dnsrr}
  probe:
    image: swarmnet-lab/busybox
    command: ["sleep", "600"]
    networks: [back]
    stop_grace_period: 0s
networks:
  back: {driver: overlay}
"""


def say(text: str) -> None:
    print(text, flush=True)


@contextlib.asynccontextmanager
async def engines_for_demo(hosts: Sequence[str], keep: bool) -> AsyncIterator[list[str]]:
    """The engines' addresses: the ones given, or a local lab's (brought up here)."""
    if hosts:
        yield list(hosts)
        return
    lab = Lab("demo", nodes=3)
    say("No engines given: bringing up a local lab of 3 engines (swarmnet lab up)…")
    status = await lab.up()
    say(f"  lab up: {', '.join(f'{n.name}={n.address}' for n in status.nodes)}")
    try:
        yield [node.docker_host for node in lab.nodes]
    finally:
        if keep:
            say("Lab kept: `swarmnet lab status --name demo`, `swarmnet lab down --name demo`.")
        else:
            with anyio.CancelScope(shield=True):
                await lab.down()
            say("Lab down.")


async def demo(hosts: Sequence[str], keep: bool) -> None:
    async with engines_for_demo(hosts, keep) as addresses:
        engines = [
            swarmnet.Engine(address, name=f"node{i}") for i, address in enumerate(addresses, 1)
        ]
        async with swarmnet.open_engines(engines):
            await show_the_mission(engines)


async def show_the_mission(engines: list[swarmnet.Engine]) -> None:
    manager, worker = engines[0], engines[1]
    infos = [await engine.info() for engine in engines]
    formed_here = all(
        info.swarm.local_node_state is swarmnet.models.LocalNodeState.INACTIVE for info in infos
    )
    # The engine keeps docker_gwbridge after a swarm leave; remove the ones this demo made.
    had_gwbridge = [(await swarmnet.gwbridge(engine)).created for engine in engines]

    # 1. Form a swarm: one manager, the rest workers.
    def progress(step: swarmnet.models.ClusterProgress) -> None:
        say(f"  {step.message}")

    say(f"\n1. Forming a swarm of {len(engines)} engines (1 manager)…")
    cluster = await swarmnet.form_cluster(engines, managers=1, on_progress=progress)
    say(
        f"  swarm {cluster.id[:12]}: "
        + ", ".join(
            f"{node.description.hostname}={node.spec.role.value}/{node.status.state.value}"
            for node in cluster.nodes
        )
    )

    suffix = uuid.uuid4().hex[:6]
    overlay_name = f"demo-overlay-{suffix}"
    seen: list[swarmnet.models.NetworkEvent] = []
    removed = anyio.Event()
    overlay_removed = False
    services_made: list[str] = []
    stack_name = f"demo{suffix}"
    late = f"late-{suffix}"
    late_id: list[str] = []
    late_connected = anyio.Event()
    try:
        # 2. The networks swarm mode made on its own.
        say("\n2. Built-in networks")
        ingress = await swarmnet.ingress(manager)
        pools = ", ".join(str(pool.subnet) for pool in ingress.pools)
        say(
            f"  ingress on {manager.name}: subnet {pools}, vxlan {list(ingress.vxlan_ids)}, "
            f"peers {sorted(str(peer.ip) for peer in ingress.peers)}"
        )
        bridge = await swarmnet.gwbridge(worker)
        if bridge.created:
            say(f"  docker_gwbridge on {worker.name}: {bridge.subnet}")
        else:
            say(f"  docker_gwbridge on {worker.name}: not created yet ({bridge.reason})")

        # 7 (first, so nothing is missed). Watch network events on every node.
        watcher = swarmnet.Watcher(*engines)

        @watcher.on(["create", "connect", "disconnect", "destroy", "remove"], network=overlay_name)
        def print_event(event: swarmnet.models.NetworkEvent, **kwargs: Any) -> None:
            seen.append(event)
            if event.action == "remove":
                removed.set()
            if event.action == "connect" and event.container_id in late_id:
                late_connected.set()
            who = f" container {event.container_id[:12]}" if event.container_id else ""
            say(f"  event  {event.node:<6} {event.scope:<5} {event.action:<10} {event.name}{who}")

        async with watcher:
            # 3. An attachable overlay, and containers on two nodes that talk over it.
            say(
                f"\n3. Attachable overlay {overlay_name}, containers on {manager.name} "
                f"and {worker.name}"
            )
            result = await manager.networks.ensure(
                swarmnet.OverlaySpec(name=overlay_name, attachable=True)
            )
            say(f"  ensure: {result.outcome.value} ({result.network.id[:12]})")
            web = await manager.containers.run(
                LAB_IMAGE, ["sleep", "600"], name=f"web-{suffix}", networks=[overlay_name]
            )
            client = await worker.containers.run(
                LAB_IMAGE, ["sleep", "600"], name=f"client-{suffix}"
            )
            await worker.networks.connect(overlay_name, client.id, aliases=("client",))
            ping = await worker.containers.exec(
                client.id, "ping", "-c", "2", "-W", "2", f"web-{suffix}"
            )
            say(
                f"  {worker.name} -> web-{suffix} on {manager.name} by name: "
                + ("reachable" if ping.ok else f"NOT reachable\n{ping.output}")
            )
            bridge = await swarmnet.gwbridge(worker)
            if bridge.created:
                say(
                    f"  docker_gwbridge on {worker.name} now exists: {bridge.subnet}, "
                    f"icc={bridge.icc}, masquerade={bridge.ip_masquerade}"
                )

            # 4. A service on the same overlay: one task per node, reached by name.
            service_name = f"hello-{suffix}"
            say(f"\n4. Service {service_name} on {overlay_name}, one task per node (dnsrr)")
            spec = swarmnet.ServiceSpec(
                name=service_name,
                image=LAB_IMAGE,
                args=("sh", "-c", "hostname > /tmp/index.html; exec httpd -f -p 80 -h /tmp"),
                mode="global",
                networks=(overlay_name,),
                # This kernel has no IPVS: a VIP would resolve but carry nothing.
                endpoint_mode="dnsrr",
                # httpd as PID 1 ignores SIGTERM: removing it would wait 10 s.
                stop_grace_period=0,
            )
            await manager.services.ensure(spec)
            services_made.append(service_name)
            await manager.services.wait_converged(
                service_name, on_progress=lambda p: say(f"  {p}"), timeout=60
            )
            names = {node.id: node.description.hostname for node in cluster.nodes}
            for task in await manager.services.tasks(service_name, desired_state="running"):
                addresses = ", ".join(str(a) for a in task.addresses_on(overlay_name))
                say(f"  task on {names.get(task.node_id, task.node_id)}: {addresses}")
            answers = set()
            for _ in range(6):  # dnsrr: each lookup may pick another task
                fetched = await worker.containers.exec(
                    client.id, "wget", "-T", "3", "-qO-", f"http://{service_name}/"
                )
                if fetched.ok:
                    answers.add(fetched.output.strip()[:12])
            say(f"  {worker.name} -> http://{service_name}/ answered from {sorted(answers)}")
            await manager.services.remove(service_name)

            # 5. A controller: every container labelled for the overlay, on any node,
            # is connected to it with its name as alias (level-triggered, retried).
            last = engines[-1]
            say(f"\n5. A controller keeps containers labelled demo.join={suffix} on the overlay")
            controller = swarmnet.Controller(*engines)
            swarmnet.keep_connected(controller, overlay_name, labels={"demo.join": suffix})
            async with controller:
                started = time.monotonic()
                box = await last.containers.run(
                    LAB_IMAGE, ["sleep", "600"], name=late, labels={"demo.join": suffix}
                )
                late_id.append(box.id)
                if overlay_name in (await last.containers.get(box.id)).networks:
                    late_connected.set()  # connected before its id was known here
                with anyio.fail_after(30):
                    await late_connected.wait()  # its connect event, printed above
                took = time.monotonic() - started
            say(f"  {late} started on {last.name} with no network: on the overlay in {took:.1f} s")
            ping = await worker.containers.exec(client.id, "ping", "-c", "1", "-W", "2", late)
            say(
                f"  {worker.name} -> {late} by name: "
                + ("reachable" if ping.ok else "NOT reachable")
            )
            await last.containers.remove(late)

            # 6. A compose stack, planned then applied (docker stack ls/ps/rm see it too).
            say(f"\n6. Stack {stack_name} from a compose file: plan, apply, plan again")
            with tempfile.TemporaryDirectory() as folder:
                compose = anyio.Path(folder) / "stack.yaml"
                await compose.write_text(STACK_FILE)
                stack = swarmnet.Stack.from_compose(str(compose), name=stack_name)
            plan = await stack.plan(manager)
            for line in str(plan).splitlines():
                say(f"  {line}")
            applied = await stack.apply(manager)
            say(f"  applied: {len(applied.done)} steps")
            say(f"  plan again: {'no changes' if not await stack.plan(manager) else 'changes!'}")
            probe = next(
                t
                for t in await manager.services.tasks(
                    f"{stack_name}_probe", desired_state="running"
                )
            )
            probe_engine = {e.name: e for e in engines}.get(names.get(probe.node_id, ""), manager)
            fetched = await probe_engine.containers.exec(
                probe.container_id, "wget", "-T", "3", "-qO-", "http://api/"
            )
            say(
                "  probe -> http://api/ on the stack's own network: "
                + (f"answered by {fetched.output.strip()[:12]}" if fetched.ok else "no answer")
            )
            await swarmnet.remove_stack(manager, stack_name)

            await worker.networks.disconnect(overlay_name, client.id)
            await worker.containers.remove(client.id)
            await manager.containers.remove(web.id)
            # The service's tasks leave the overlay as they stop (their grace period).
            with anyio.fail_after(30):
                while True:
                    try:
                        await manager.networks.remove(overlay_name)
                        break
                    except swarmnet.NetworkInUse:
                        await anyio.sleep(0.5)
            overlay_removed = True
            # Give the last events time to arrive before the watcher stops.
            with anyio.move_on_after(5):
                await removed.wait()
            stats = watcher.stats()
        say(
            f"\n7. Callbacks received {len(seen)} events from "
            f"{len({e.node for e in seen})} nodes; dropped {stats.dropped}, "
            f"reconnects {stats.reconnects}"
        )
    finally:
        with anyio.CancelScope(shield=True):
            for name in services_made:
                await manager.services.remove(name, missing_ok=True)
            await swarmnet.remove_stack(manager, stack_name)
            for engine in engines:
                for name in (f"client-{suffix}", f"web-{suffix}", late):
                    await engine.containers.remove(name)
            if not overlay_removed:
                with contextlib.suppress(swarmnet.NotFound, swarmnet.NetworkInUse):
                    await manager.networks.remove(overlay_name)
            if formed_here:
                await swarmnet.dissolve(engines)
                for engine, had in zip(engines, had_gwbridge, strict=True):
                    if not had:
                        await swarmnet.remove_gwbridge(engine)
                say("Swarm dissolved.")


def main(argv: Sequence[str] | None = None) -> int:
    # An application decides how to log (swarmnet never does): show warnings and errors.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--hosts",
        default=os.environ.get("SWARMNET_DEMO_HOSTS", ""),
        help="comma-separated docker hosts (at least 2); default: a local lab",
    )
    parser.add_argument("--keep", action="store_true", help="leave the lab up")
    args = parser.parse_args(argv)
    hosts = [h for h in args.hosts.split(",") if h]
    if len(hosts) == 1:
        parser.error("the demo needs at least two engines (overlays span hosts)")
    try:
        anyio.run(demo, hosts, args.keep)
    except swarmnet.SwarmnetError as exc:
        print(f"quickstart: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
