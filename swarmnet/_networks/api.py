"""Networks on one engine: create, get, list, ensure, connect, disconnect, remove, prune.

Every input is a typed spec validated before a request is sent; every answer is a
model from :mod:`swarmnet._networks.models`; every engine error comes back as one of
swarmnet's, with the network and the engine named.

Names: API 1.41 engines let two local networks share a name unless ``CheckDuplicate``
is sent, and even then two creates racing each other can both pass the engine's check.
swarmnet sends ``CheckDuplicate``, serialises its own creates of one name in this
process, and resolves duplicates made by anyone else: the oldest network of a name
(by creation time, then id) is kept, so every resolver picks the same one, and the
newer ones are removed when nothing is attached to them.
"""

from __future__ import annotations

import builtins
import ipaddress
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

from pydantic import TypeAdapter

from swarmnet._core.concurrency import run_all
from swarmnet._core.errors import (
    AmbiguousNetwork,
    AttachmentConflict,
    Conflict,
    EngineAPIError,
    InvalidSpec,
    NetworkInUse,
    NetworkNotFound,
    NotASwarmManager,
    NotFound,
)
from swarmnet._core.filters import label_filter
from swarmnet._core.log import get_logger
from swarmnet._networks.attach import ContainerNetworking, EndpointConfig
from swarmnet._networks.drift import Drift, EnsureResult
from swarmnet._networks.ensure import (
    NAME_LOCKS,
    Ensurer,
    describe_cluster_users,
    overlaps,
    same_address_space,
    swarm_spec,
)
from swarmnet._networks.models import (
    Endpoint,
    EndpointSettings,
    Network,
    NetworkPruneReport,
    NetworkScope,
    attachment_in,
    endpoint_from,
    link_key,
    user_aliases,
)
from swarmnet._networks.specs import AnyNetworkSpec, network_spec_from

if TYPE_CHECKING:
    from swarmnet._core.engine import Engine

_log = get_logger("swarmnet.networks")

SpecInput = AnyNetworkSpec | Mapping[str, Any]
_TIME: TypeAdapter[datetime] = TypeAdapter(datetime)
_IN_USE_BY_TASK = re.compile(r"in use by task (\w+)")


class NetworksAPI:
    """Networks on one engine (``engine.networks``).

    Example::

        async with swarmnet.Engine() as engine:
            result = await engine.networks.ensure(
                swarmnet.OverlaySpec(name="app", attachable=True)
            )
            print(result.outcome, result.network.id)
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._log = _log.bind(engine=engine.name)
        # Until when (anyio clock) this engine is known to be a swarm manager.
        self._manager_until = float("-inf")

    # -- reading -----------------------------------------------------------------------

    async def get(
        self,
        name_or_id: str,
        *,
        verbose: bool = False,
        scope: NetworkScope | Literal["local", "swarm", "global"] | None = None,
    ) -> Network:
        """Inspect one network by name, id or id prefix.

        Args:
            name_or_id: the network's name, full id or a unique id prefix.
            verbose: for overlays, also read the peers (nodes) and the services and
                standalone containers on it (``Network.peers``/``Network.services``).
            scope: only look at networks of this scope.

        Raises:
            NetworkNotFound: no such network. On a swarm worker the message explains
                that attachable overlays appear there only once something attaches.
            AmbiguousNetwork: several networks share that name; ``ids`` lists them.
        """
        params: dict[str, Any] = {}
        if verbose:
            params["verbose"] = "true"
        if scope is not None:
            params["scope"] = NetworkScope(scope).value
        try:
            payload = await self._engine._request(
                "GET", f"networks/{name_or_id}", params=params or None
            )
        except NotFound as exc:
            raise await self._not_found(name_or_id, exc) from exc
        except EngineAPIError as exc:
            if "ambiguous" in exc.explanation:
                ids = tuple(n.id for n in await self.list(name=name_or_id))
                raise AmbiguousNetwork.refine(
                    exc,
                    f"{len(ids)} networks are named {name_or_id!r}: {', '.join(ids)}; "
                    "use an id, or remove the extra ones (ensure() resolves duplicates)",
                    ids=ids,
                ) from exc
            raise
        return Network.model_validate(payload)

    async def list(
        self,
        *,
        name: str | None = None,
        driver: str | None = None,
        scope: NetworkScope | Literal["local", "swarm", "global"] | None = None,
        labels: Mapping[str, str | None] | Iterable[str] | None = None,
        kind: Literal["custom", "builtin"] | None = None,
        dangling: bool | None = None,
        id_prefix: str | None = None,
    ) -> tuple[Network, ...]:
        """List this engine's networks, filtered by the engine, in one request.

        Args:
            name: only the networks with exactly this name (the engine matches name
                parts; swarmnet keeps exact matches).
            driver: only networks of this driver (``"overlay"``, ``"bridge"``…).
            scope: only networks of this scope.
            labels: ``{"key": "value"}`` or ``{"key": None}`` (has the label), or
                ``["key", "key=value"]``; all must match.
            kind: ``"custom"`` for user-defined networks, ``"builtin"`` for the
                engine's own.
            dangling: True for networks no container uses, False for used ones.
            id_prefix: only networks whose id starts with this.

        The engine's list leaves out each network's ``containers``; use :meth:`get`
        or :meth:`endpoints` for those.
        """
        filters: dict[str, builtins.list[str]] = {}
        if name is not None:
            filters["name"] = [name]
        if driver is not None:
            filters["driver"] = [driver]
        if scope is not None:
            filters["scope"] = [NetworkScope(scope).value]
        if labels:
            filters["label"] = label_filter(labels)
        if kind is not None:
            filters["type"] = [kind]
        if dangling is not None:
            filters["dangling"] = ["true" if dangling else "false"]
        if id_prefix is not None:
            filters["id"] = [id_prefix]
        params = {"filters": json.dumps(filters)} if filters else None
        payload = await self._engine._request("GET", "networks", params=params)
        networks = tuple(Network.model_validate(item) for item in payload or ())
        if name is not None:
            networks = tuple(n for n in networks if n.name == name)
        return networks

    async def endpoints(self, network: str) -> tuple[Endpoint, ...]:
        """The containers attached to ``network`` on this engine, typed.

        Reads the network and each attached container (for aliases and requested
        addresses). For an overlay, only this engine's containers are listed.

        Raises:
            NetworkNotFound, AmbiguousNetwork: as :meth:`get`.
        """
        current = await self.get(network)
        found: dict[str, Endpoint] = {}

        async def read(container_id: str) -> None:
            endpoint = await self._endpoint_of(container_id, current)
            if endpoint is not None:
                found[container_id] = endpoint

        await run_all([partial(read, cid) for cid in current.container_ids], limit=8)
        return tuple(found[cid] for cid in current.container_ids if cid in found)

    # -- writing -----------------------------------------------------------------------

    async def create(self, spec: SpecInput) -> Network:
        """Create a network from a spec (or a mapping with a ``driver`` key).

        Sends ``CheckDuplicate``; an existing network of that name is an error (use
        :meth:`ensure` to accept it).

        Raises:
            InvalidSpec: the spec is invalid; nothing was sent.
            Conflict: a network of that name exists, or a requested subnet overlaps a
                network this engine already has (the message names it).
            NotASwarmManager, NotInSwarm: a swarm-scoped network (an overlay) on an
                engine that is not a swarm manager; nothing was sent.
            NotFound: the engine has no such network driver or IPAM driver (says which).
            EngineAPIError: anything else the engine refused.
        """
        checked = network_spec_from(spec)
        ensurer = Ensurer(self)
        if swarm_spec(checked):
            await ensurer._require_manager(checked)
        async with NAME_LOCKS.hold(self._engine.url, checked.name):
            try:
                network_id = await self._send_create(checked)
            except EngineAPIError as exc:
                raise await self._create_error(checked, exc) from exc
        return await ensurer.settle(await self.get(network_id))

    async def remove(self, name_or_id: str, *, force: bool = False) -> None:
        """Remove a network.

        Args:
            name_or_id: the network.
            force: first disconnect (forcibly) every container attached on this engine.

        Raises:
            NetworkInUse: containers are attached (and ``force`` is False, or the engine
                still sees endpoints elsewhere, like tasks on other nodes);
                ``containers`` lists them (a task the swarm names as ``task <id>:
                container <short id> on <node>`` or ``task <id> of service …``).
            NetworkNotFound, AmbiguousNetwork: as :meth:`get`.
            EngineAPIError: the engine refused (its own networks cannot be removed).
        """
        network = await self.get(name_or_id)
        attached = network.container_ids
        if attached and not force:
            names = tuple(network.containers[c].name or c for c in attached)
            raise NetworkInUse(
                f"network {network.name} still has {len(names)} container(s) attached: "
                f"{', '.join(names)}; disconnect them or remove with force=True",
                containers=names,
                engine=self._engine.url,
                status=409,
            )
        for container_id in attached:
            await self.disconnect(network.id, container_id, force=True)
        await self._delete(network)

    async def prune(
        self,
        *,
        until: str | None = None,
        labels: Mapping[str, str | None] | Iterable[str] | None = None,
    ) -> NetworkPruneReport:
        """Remove every unused user-defined network (``POST /networks/prune``).

        Args:
            until: only networks created before this (a timestamp or a Go duration
                such as ``"10m"``).
            labels: only networks with these labels (``{"key": "value"}``, ``["k=v"]``).
        """
        filters: dict[str, builtins.list[str]] = {}
        if until is not None:
            filters["until"] = [until]
        if labels:
            filters["label"] = label_filter(labels)
        params = {"filters": json.dumps(filters)} if filters else None
        payload = await self._engine._request("POST", "networks/prune", params=params)
        report = NetworkPruneReport.model_validate(payload or {})
        self._log.info("network.pruned", removed=list(report.networks_deleted))
        return report

    # -- ensure ------------------------------------------------------------------------

    async def ensure(self, spec: SpecInput, *, on_drift: Drift = Drift.RAISE) -> EnsureResult:
        """Make sure a network matching ``spec`` exists; idempotent, also across processes.

        Creates it when missing. When a network of that name exists, compares it with
        the spec after normalising what the engine fills in (see ``NetworkDiff``) and,
        if it differs, does what ``on_drift`` says: raise, leave it, or recreate it
        (reconnecting every container that was attached, with its aliases and the
        static addresses that still fit the new pools). For an overlay, only the
        containers attached on this engine can be reconnected, so a recreate of one
        that services or other nodes' containers use is refused before any change; a
        recreate that fails later puts the old network and its containers back.

        Writers in other processes may ensure the same name at once: each ends with
        the one network of the name, exactly one reports ``created``, and a writer
        whose spec differs from the network that won gets ``DriftDetected`` (never
        another spec's network). Duplicates of the name, made by anyone, are resolved
        (the oldest is kept). A swarm network that the swarm has just removed, while
        its tasks still stop, is not taken for an existing one: ensure waits for it to
        go (up to 30 s) and creates a new one.

        Returns:
            :class:`EnsureResult` with the network, the outcome (created, unchanged,
            drifted, recreated) and the diff.

        Raises:
            InvalidSpec: invalid spec; nothing was sent.
            NotASwarmManager, NotInSwarm: a swarm-scoped spec on an engine that is not a
                swarm manager; nothing was sent.
            Conflict: a subnet overlaps another network's (the message names it); for a
                swarm network nothing is left behind.
            DriftDetected: the network differs and ``on_drift`` is ``Drift.RAISE``;
                ``.diff`` is the :class:`NetworkDiff`.
            NetworkInUse: ``Drift.RECREATE`` of a swarm network used beyond this engine
                (services, containers on other nodes; all listed); nothing was changed.
            AmbiguousNetwork: duplicates exist and the extra ones still have containers.
        """
        checked = network_spec_from(spec)
        return await Ensurer(self).ensure(checked, Drift(on_drift))

    async def ensure_many(
        self,
        specs: Iterable[SpecInput],
        *,
        on_drift: Drift = Drift.RAISE,
        concurrency: int = 16,
    ) -> tuple[EnsureResult, ...]:
        """:meth:`ensure` a batch of networks, reading the engine's networks only once.

        Lists the engine's networks in one request, compares each spec with what is
        there and creates the missing ones (``concurrency`` at a time). When every
        network already matches, the whole batch costs one request and writes nothing.

        Returns:
            One :class:`EnsureResult` per spec, in order.

        Raises:
            InvalidSpec: a spec is invalid, or two specs share
                a name; nothing was sent.
            DriftDetected: as :meth:`ensure`, after the rest of the batch is done (so
                do the other errors of :meth:`ensure`).
        """
        checked = [network_spec_from(s) for s in specs]
        # Counted once: names.count() per name made a 1,000-spec batch cost 20 ms (issue #16).
        repeated = sorted(n for n, times in Counter(s.name for s in checked).items() if times > 1)
        if repeated:
            raise InvalidSpec(f"network names appear twice in one batch: {', '.join(repeated)}")
        on_drift = Drift(on_drift)
        if not checked:
            return ()
        return await Ensurer(self).ensure_many(checked, on_drift, concurrency)

    # -- attachments -------------------------------------------------------------------

    async def connect(
        self,
        network: str,
        container: str,
        *,
        aliases: Sequence[str] = (),
        ipv4: str | ipaddress.IPv4Address | None = None,
        ipv6: str | ipaddress.IPv6Address | None = None,
        links: Sequence[str] = (),
        driver_opts: Mapping[str, str] | None = None,
    ) -> Endpoint:
        """Attach a created or running container to a network (no restart needed).

        Connecting a container that is already attached with the same settings does
        nothing and returns its endpoint. On a swarm worker, an attachable overlay
        created on a manager is found by name even though the worker does not list it
        yet.

        Args:
            network: the network's name or id.
            container: the container's name or id.
            aliases: extra DNS names on this network.
            ipv4: a static IPv4 address (inside the network's pools).
            ipv6: a static IPv6 address (inside the network's pools).
            links: legacy links, ``"container"`` or ``"container:alias"``.
            driver_opts: endpoint options for the driver.

        Raises:
            InvalidSpec: invalid alias, address or name; nothing was sent.
            AttachmentConflict: already attached with other settings (says which).
            NetworkNotFound: no such network; NotFound: no such container.
            EngineAPIError: the engine refused (an address outside the pools, taken…).
        """
        config = EndpointConfig(
            network=network,
            aliases=tuple(aliases),
            ipv4=ipv4,
            ipv6=ipv6,
            links=tuple(links),
            driver_opts=dict(driver_opts or {}),
        )
        return await self._connect(container, config)

    async def connect_deferred(
        self, container: str, networking: ContainerNetworking
    ) -> tuple[Endpoint, ...]:
        """Connect the networks a container create could not carry on this engine.

        Call it after ``POST /containers/create`` with a body built from
        ``networking.create_fields(engine.api_version)`` and before starting the
        container. From API 1.44 every network goes in the create and this does nothing.
        """
        return tuple(
            [
                await self._connect(container, endpoint)
                for endpoint in networking.deferred(self._engine.api_version)
            ]
        )

    async def disconnect(self, network: str, container: str, *, force: bool = False) -> bool:
        """Detach a container from a network (running or not; no restart).

        Args:
            network: the network's name or id.
            container: the container's name or id.
            force: also when the engine cannot reach the container's sandbox.

        Returns:
            True if it was attached, False if it was not (nothing to do).

        Raises:
            NetworkNotFound: no such network; NotFound: no such container.
        """
        try:
            await self._engine._request(
                "POST",
                f"networks/{network}/disconnect",
                json_body={"Container": container, "Force": force},
            )
        except EngineAPIError as exc:
            if "is not connected" in exc.explanation:
                return False
            raise self._attachment_error(exc, network, container) from exc
        self._log.info("network.disconnected", network=network, container=container)
        return True

    # -- internals: create, delete (the ensure workflow builds on these) ------------------

    async def _send_create(self, spec: AnyNetworkSpec) -> str:
        """One create request; the engine's error comes back unmapped."""
        return await self._send_body(spec.name, spec.create_body(), driver=spec.driver)

    async def _send_body(self, name: str, body: Mapping[str, Any], *, driver: str = "") -> str:
        answer = await self._engine._request("POST", "networks/create", json_body=dict(body))
        log = self._log.bind(network=name)
        if answer.get("Warning"):
            log.warning("network.create_warning", warning=answer["Warning"])
        log.info("network.created", id=answer["Id"], driver=driver or body.get("Driver"))
        return str(answer["Id"])

    async def _create_error(self, spec: AnyNetworkSpec, exc: EngineAPIError) -> EngineAPIError:
        text = exc.explanation
        if "already exists" in text or "name conflicts with an existing object" in text:
            return Conflict.refine(
                exc, f"a network named {spec.name} already exists; use ensure() to accept it"
            )
        if "overlaps" in text:
            clashes = overlaps(spec, same_address_space(spec, await self.list()))
            detail = "; ".join(clashes) if clashes else "a pool already in use on this engine"
            return Conflict.refine(
                exc,
                f"network {spec.name}: its subnet overlaps another network's: {detail}; "
                "pick a free subnet",
            )
        if exc.status == 403 and "worker node" in text:
            return NotASwarmManager.refine(
                exc,
                f"network {spec.name} is swarm-scoped: create it on a swarm manager; this "
                "engine is a worker",
            )
        missing = self._missing_plugin(spec, text)
        if missing is not None:
            return NotFound.refine(exc, missing)
        exc.args = (f"creating network {spec.name} failed: {exc}",)
        return exc

    @staticmethod
    def _missing_plugin(spec: AnyNetworkSpec, text: str) -> str | None:
        """Which driver the engine could not find, named as such, or None."""
        if "plugin" not in text or ("not found" not in text and "lookup" not in text):
            return None
        # The engine names the plugin it looked for; the spec says which role it has.
        if spec.ipam_driver != "default" and f"{spec.ipam_driver}" in text:
            return (
                f"network {spec.name}: the engine has no IPAM driver {spec.ipam_driver!r} "
                f"({text}); leave ipam_driver out for the engine's 'default', or install "
                "the IPAM plugin"
            )
        return f"network {spec.name}: the engine has no {spec.driver!r} network driver ({text})"

    async def _delete(self, network: Network) -> None:
        try:
            await self._engine._request("DELETE", f"networks/{network.id}")
        except NotFound as exc:
            raise NetworkNotFound.refine(
                exc, f"network {network.name} ({network.id}) is gone already"
            ) from exc
        except EngineAPIError as exc:
            text = exc.explanation
            if "active endpoints" in text or "in use" in text:
                users = tuple(network.containers[c].name for c in network.container_ids)
                task = _IN_USE_BY_TASK.search(text)
                if task is not None:
                    # The swarm names one task; say whose it is and where it runs.
                    users += (await self._describe_task(task.group(1)),)
                raise NetworkInUse.refine(
                    exc,
                    f"network {network.name} is still in use ({text}"
                    f"{'; ' + users[-1] if task is not None else ''}); disconnect its "
                    "containers or remove the services that use it",
                    containers=users,
                ) from exc
            raise
        self._log.info("network.removed", network=network.name, id=network.id)

    async def _describe_task(self, task_id: str) -> str:
        """``task <id>: container <short id> on <node>`` (or ``of service <name>``)."""
        try:
            task = await self._engine._request("GET", f"tasks/{task_id}")
            nodes = {n.id: n.hostname for n in await self._engine.nodes.list()}
        except EngineAPIError:
            return f"task {task_id}"
        where = nodes.get(str(task.get("NodeID", "")), str(task.get("NodeID", "?")))
        spec = task.get("Spec") or {}
        container = (spec.get("NetworkAttachmentSpec") or {}).get("ContainerID")
        if container:
            return f"task {task_id}: container {str(container)[:12]} on {where}"
        service = str(task.get("ServiceID", ""))
        return f"task {task_id} of service {service[:12]} on {where}"

    async def _engine_time(self) -> datetime:
        """The engine's clock now (``/info``'s ``SystemTime``), to compare creation times."""
        payload = await self._engine._request("GET", "info")
        return _TIME.validate_python(payload.get("SystemTime"))

    async def _cluster_users(self, network: Network) -> builtins.list[str]:
        """What uses a swarm network beyond this engine (services, other nodes' endpoints)."""
        verbose = await self.get(network.id, verbose=True)
        services = await self._engine._request("GET", "services")
        swarm = (await self._engine.info()).swarm
        node_names = {n.status.addr: n.hostname for n in await self._engine.nodes.list()}
        return describe_cluster_users(verbose, services or (), swarm.node_addr, node_names)

    # -- internals: attachments --------------------------------------------------------

    async def _container(self, container: str) -> dict[str, Any]:
        try:
            payload: dict[str, Any] = await self._engine._request(
                "GET", f"containers/{container}/json"
            )
        except NotFound as exc:
            raise NotFound.refine(exc, f"no container {container!r} on this engine") from exc
        return payload

    async def _endpoint_of(self, container_id: str, network: Network) -> Endpoint | None:
        try:
            payload = await self._container(container_id)
        except NotFound:
            return None  # removed since the network was read
        found = attachment_in(payload, network.id)
        if found is None:
            return None
        return endpoint_from(payload, found[0], found[1])

    async def _connect(self, container: str, config: EndpointConfig) -> Endpoint:
        log = self._log.bind(network=config.network, container=container)
        payload = await self._container(container)
        existing = attachment_in(payload, config.network)
        if existing is None:
            try:
                await self._engine._request(
                    "POST",
                    f"networks/{config.network}/connect",
                    json_body={
                        "Container": container,
                        "EndpointConfig": config.endpoint_settings(),
                    },
                )
            except EngineAPIError as exc:
                if "already" not in exc.explanation:
                    raise self._attachment_error(exc, config.network, container) from exc
                # A concurrent connect won the race; compare with what it made.
            else:
                log.info("network.connected", aliases=list(config.aliases))
            payload = await self._container(container)
            existing = attachment_in(payload, config.network)
            if existing is None:
                raise NetworkNotFound(
                    f"container {container} was connected to {config.network} but the "
                    "engine does not show the attachment",
                    engine=self._engine.url,
                )
            return self._check_same(payload, existing, config)
        return self._check_same(payload, existing, config)

    def _check_same(
        self,
        payload: Mapping[str, Any],
        existing: tuple[str, EndpointSettings],
        config: EndpointConfig,
    ) -> Endpoint:
        name, settings = existing
        endpoint = endpoint_from(payload, name, settings)
        problems: builtins.list[str] = []
        # The engine adds the container's short id (newer ones its name too) by itself,
        # and an alias equal to either adds nothing: compare without them.
        wanted_aliases = user_aliases(payload, config.aliases)
        if set(endpoint.aliases) != set(wanted_aliases):
            # Say what was asked as it was asked, and what counts as none of it.
            problems.append(
                f"aliases {sorted(endpoint.aliases)} besides its name and short id "
                f"(asked for {sorted(config.aliases)})"
            )
        for version, wanted in ((4, config.ipv4), (6, config.ipv6)):
            if wanted is None:
                continue
            have = endpoint.ipv4_address if version == 4 else endpoint.ipv6_address
            if have is None or have.ip != wanted:
                problems.append(f"IPv{version} {have.ip if have else None} (asked for {wanted})")
        wanted_links = {link_key(link) for link in config.links}
        have_links = {link_key(link) for link in endpoint.links}
        if wanted_links != have_links:
            problems.append(f"links {sorted(have_links)} (asked for {sorted(wanted_links)})")
        if problems:
            raise AttachmentConflict(
                f"container {endpoint.container_name or endpoint.container_id} is already on "
                f"network {name} with other settings: {'; '.join(problems)}; disconnect it "
                "first to change them",
                engine=self._engine.url,
                status=409,
            )
        return endpoint

    def _attachment_error(
        self, exc: EngineAPIError, network: str, container: str
    ) -> EngineAPIError:
        lowered = exc.explanation.lower()
        if "ipvlan" in lowered and "not supported" in lowered:
            return EngineAPIError.refine(
                exc,
                f"attaching {container} to {network}: this engine's kernel has no ipvlan "
                "support (CONFIG_IPVLAN), so no container can join an ipvlan network here; "
                "use macvlan or a bridge",
            )
        if "no such container" in lowered:
            return NotFound.refine(exc, f"no container {container!r} on this engine")
        if "not found" in lowered and "network" in lowered:
            return NetworkNotFound.refine(
                exc,
                f"no network {network!r} here (for an overlay: create it on a manager, "
                "attachable=True)",
            )
        if "attaching to network failed" in lowered and "context deadline exceeded" in lowered:
            # What a full overlay looks like: the managers' allocator keeps trying for
            # an address and the engine gives up after 20 s, naming neither cause.
            return EngineAPIError.refine(
                exc,
                f"attaching {container} to {network}: the swarm's managers gave no address "
                "within the engine's 20 s. The network's subnet may be full (every node "
                "with a container on an overlay also takes one address for its load "
                "balancer: a /24 holds about 250 containers on 3 nodes); give the overlay "
                "a larger subnet, or check that the managers are reachable and not "
                f"overloaded. The engine said: {exc.explanation}",
            )
        exc.args = (f"attaching {container} to {network}: {exc}",)
        return exc

    async def _not_found(self, name_or_id: str, exc: NotFound) -> NetworkNotFound:
        message = f"no network {name_or_id!r} on this engine"
        try:
            info = await self._engine.info()
        except EngineAPIError:
            info = None
        if (
            info is not None
            and info.swarm.local_node_state.value == "active"
            and not info.swarm.control_available
        ):
            message += (
                "; this engine is a swarm worker, and an attachable overlay created on "
                "a manager appears on a worker only once a container here attaches to "
                "it: connect() or create a container on it by name, or look it up on "
                "a manager"
            )
        return NetworkNotFound.refine(exc, message)
