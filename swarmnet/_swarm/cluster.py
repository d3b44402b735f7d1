"""A whole swarm at once: ``form_cluster`` turns engines into a swarm, ``dissolve`` undoes it.

``form_cluster`` is convergent: it reads every engine's state first, refuses before any
write when an engine belongs to another swarm, and then does only what is missing (init,
joins, promotions, demotions). Re-running it after a failure completes the cluster; on a
formed cluster it changes nothing.
"""

from __future__ import annotations

import enum
import inspect
import ipaddress
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectSendStream
from pydantic import BaseModel, ConfigDict

from swarmnet._core.engine import Engine
from swarmnet._core.engine_models import LocalNodeState
from swarmnet._core.errors import (
    AlreadyInSwarm,
    EngineAPIError,
    EngineTimeout,
    InvalidSpec,
    JoinFailed,
    NotFound,
    SwarmError,
    SwarmLocked,
    SwarmnetError,
)
from swarmnet._core.log import get_logger
from swarmnet._core.secret import Secret
from swarmnet._swarm.models import (
    JoinTokens,
    Node,
    NodeRole,
    NodeState,
    Reachability,
    Swarm,
    SwarmInitSpec,
    SwarmJoinSpec,
    SwarmStatus,
    check_node_addr,
    normalise_remote_addr,
)

_log = get_logger("swarmnet.cluster")


@dataclass(frozen=True)
class _Step:
    """One member's step, sent to the caller's task to be reported (or its failure)."""

    index: int
    outcome: tuple[MemberAction, str] | Exception
    #: Set once reported; the manager sequence waits for it before its next step.
    reported: anyio.Event | None = None
    #: A step of the manager sequence (joins, promotions, demotions), not a worker join.
    raft: bool = False


#: How often the node list is polled while waiting for readiness (seconds).
_POLL = 0.02
#: How many node-list reads look for a joined worker before its own /info is read.
_FIND_READS = 10
#: How long joins wait for a new manager's gossip to listen before going ahead (seconds).
_GOSSIP_START = 15.0
#: How often the nodes' gossip peers are polled after they are ready (seconds).
_GOSSIP_POLL = 0.25


class MemberAction(str, enum.Enum):
    """What ``form_cluster`` did to one engine."""

    INITIALISED = "initialised"
    JOINED = "joined"
    PROMOTED = "promoted"
    DEMOTED = "demoted"
    UNCHANGED = "unchanged"


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class ClusterMember(_View):
    """One engine of a cluster: its node id, its role, and what ``form_cluster`` did to it."""

    engine: str
    url: str
    node_id: str
    role: NodeRole
    action: MemberAction


class ClusterProgress(_View):
    """One step of ``form_cluster`` or ``dissolve``, as given to ``on_progress``.

    ``step`` is one of ``initialised``, ``joined``, ``promoted``, ``demoted``,
    ``unchanged``, ``ready`` (form) or ``left``, ``removed``, ``dissolved`` (dissolve).
    """

    step: str
    engine: str | None = None
    node_id: str = ""
    role: NodeRole | None = None
    done: int = 0
    total: int = 0
    elapsed: float = 0.0
    message: str = ""


class Cluster(_View):
    """A formed swarm: the swarm, what each engine is in it, and the node list.

    ``members`` follow the order of the engines given to ``form_cluster``; ``nodes`` is
    the managers' node list (it may hold nodes of engines that were not given).
    """

    swarm: Swarm
    members: tuple[ClusterMember, ...]
    nodes: tuple[Node, ...]

    @property
    def id(self) -> str:
        """The swarm's id."""
        return self.swarm.id

    @property
    def managers(self) -> tuple[ClusterMember, ...]:
        """The members that are managers."""
        return tuple(m for m in self.members if m.role is NodeRole.MANAGER)

    @property
    def workers(self) -> tuple[ClusterMember, ...]:
        """The members that are workers."""
        return tuple(m for m in self.members if m.role is NodeRole.WORKER)

    @property
    def leader(self) -> Node | None:
        """The raft leader's node."""
        return next((n for n in self.nodes if n.is_leader), None)

    @property
    def changed(self) -> bool:
        """False when ``form_cluster`` found everything already in place."""
        return any(m.action is not MemberAction.UNCHANGED for m in self.members)

    def node(self, member: ClusterMember | str) -> Node:
        """The node of a member (or of a node id).

        Raises:
            KeyError: no such node in the view.
        """
        node_id = member.node_id if isinstance(member, ClusterMember) else member
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)


#: ``on_progress`` callbacks; a callback may also be ``async``. Its result is ignored.
ProgressCallback = Callable[[ClusterProgress], Awaitable[None] | None]


class _Reporter:
    """Sends each step to the log (``swarmnet.cluster``) and to the caller's callback."""

    def __init__(self, callback: ProgressCallback | None, total: int, **context: Any) -> None:
        self._callback = callback
        self._started = time.monotonic()
        self.total = total
        self.done = 0
        self.log = _log.bind(**context)

    async def __call__(
        self,
        step: str,
        message: str,
        *,
        engine: Engine | None = None,
        node_id: str = "",
        role: NodeRole | None = None,
        count: bool = True,
    ) -> None:
        if count:
            self.done += 1
        elapsed = round(time.monotonic() - self._started, 3)
        self.log.info(
            f"cluster.{step}",
            member=engine.name if engine else None,
            node_id=node_id or None,
            role=role.value if role else None,
            done=self.done,
            total=self.total,
            elapsed=elapsed,
        )
        if self._callback is None:
            return
        result = self._callback(
            ClusterProgress(
                step=step,
                engine=engine.name if engine else None,
                node_id=node_id,
                role=role,
                done=self.done,
                total=self.total,
                elapsed=elapsed,
                message=message,
            )
        )
        if inspect.isawaitable(result):
            await result


async def _statuses(engines: Sequence[Engine]) -> list[SwarmStatus]:
    results: dict[int, SwarmStatus] = {}

    async def one(index: int) -> None:
        results[index] = await engines[index].swarm.probe()

    errors = await _each(range(len(engines)), one)
    if errors:
        raise errors[min(errors)]
    return [results[index] for index in range(len(engines))]


async def _each(
    items: Iterable[int], step: Callable[[int], Awaitable[None]]
) -> dict[int, SwarmnetError]:
    """Run ``step`` for every item at once; return the swarmnet errors by item.

    Errors are collected rather than raised from inside the task group, so that one
    engine's failure neither cancels the others nor reaches the caller wrapped in an
    exception group.
    """
    errors: dict[int, SwarmnetError] = {}

    async def guarded(item: int) -> None:
        try:
            await step(item)
        except SwarmnetError as exc:
            errors[item] = exc

    async with anyio.create_task_group() as tg:
        for item in items:
            tg.start_soon(guarded, item)
    return errors


def _check_engines(engines: Sequence[Engine]) -> None:
    if not engines:
        raise InvalidSpec("form_cluster: give at least one engine")
    urls = [engine.url for engine in engines]
    duplicates = sorted({url for url in urls if urls.count(url) > 1})
    if duplicates:
        raise InvalidSpec(f"the same engine was given twice: {', '.join(duplicates)}")


async def form_cluster(
    engines: Sequence[Engine],
    managers: int = 1,
    *,
    advertise_addrs: Sequence[str | None] | None = None,
    init: SwarmInitSpec | None = None,
    timeout: float = 60.0,  # noqa: ASYNC109 (a typed JoinFailed naming the laggards, not a cancel)
    on_progress: ProgressCallback | None = None,
    wait_for_gossip: bool = True,
) -> Cluster:
    """Make a swarm of ``engines``: the first ``managers`` are managers, the rest workers.

    Inits on the first engine, joins the other managers one after another (raft takes
    members one at a time) and, meanwhile, every worker at once (workers do not wait
    for the manager joins), then waits until every node is ``ready`` and every
    manager ``reachable``, and then until every engine's overlay gossip knows every
    node (service names and overlay traffic between nodes work from then on; usually
    a second or two, up to a minute when a node's first gossip join failed and the
    engine retries it). Engines already in place are left as they are, a worker that
    should be a manager is promoted and a manager that should be a worker demoted
    (after the manager joins), and an engine stuck in ``pending`` or ``error`` after
    an earlier failed join is recovered. So a re-run completes an interrupted run,
    and on a formed cluster it changes nothing (``cluster.changed`` is False).

    Args:
        engines: open engines, in order; engines[0] is where a new swarm is initialised.
        managers: how many of the first engines are managers (1 to len(engines)).
        advertise_addrs: for each engine, the address the others reach it at (``None``
            lets that engine pick); needed when engines have several addresses.
        init: options for a new swarm (address pools, data path port, settings…); its
            ``advertise_addr`` wins over ``advertise_addrs[0]``.
        timeout: seconds to wait for every node to be ready (and for each join).
        on_progress: called with a :class:`ClusterProgress` after each step (may be async),
            one step at a time, in the order the steps end; each step is also logged
            as a ``cluster.<step>`` event. An exception it raises stops the joins
            still running and reaches the caller as itself.
        wait_for_gossip: False returns as soon as the nodes are ready, before the
            overlays' gossip has reached every node.

    Returns:
        the :class:`Cluster` view.

    Raises:
        InvalidSpec: bad arguments, before anything is sent.
        AlreadyInSwarm: an engine is in a swarm other than the one being formed
            (checked on every engine before any change).
        SwarmLocked: an engine is a locked manager.
        InvalidJoinToken, JoinFailed: a join failed (the worker joins were still
            attempted, a manager's failure ends the managers' sequence; a re-run
            retries the failed ones), or nodes were not ready (or their gossip not
            complete) within ``timeout`` seconds.

    Example::

        cluster = await swarmnet.form_cluster(
            [e1, e2, e3], managers=1, advertise_addrs=["198.18.0.2", "198.18.0.3", "198.18.0.4"]
        )
        print(cluster.id, [m.role.value for m in cluster.members])
    """
    _check_engines(engines)
    if not 1 <= managers <= len(engines):
        raise InvalidSpec(f"managers must be from 1 to {len(engines)} (the number of engines)")
    addrs: list[str | None] = list(advertise_addrs or [None] * len(engines))
    if len(addrs) != len(engines):
        raise InvalidSpec(
            f"advertise_addrs has {len(addrs)} entries for {len(engines)} engines; give one each"
        )
    try:
        addrs = [None if a is None else check_node_addr(a, "advertise address") for a in addrs]
    except ValueError as exc:
        raise InvalidSpec(str(exc)) from None
    init_spec = init or SwarmInitSpec()
    if init_spec.advertise_addr is None and addrs[0] is not None:
        init_spec = init_spec.model_copy(update={"advertise_addr": addrs[0]})

    report = _Reporter(on_progress, len(engines), engines=len(engines), managers=managers)
    report.log.info("cluster.forming", members=[engine.name for engine in engines])
    statuses = await _statuses(engines)
    anchor = _pick_anchor(engines, statuses)
    _check_membership(engines, statuses, anchor)
    formation = _Formation(engines, statuses, managers, addrs, timeout, report, wait_for_gossip)
    return await formation.run(anchor, init_spec)


class _Formation:
    """One run of ``form_cluster``: what each engine was found as, and what was done."""

    def __init__(
        self,
        engines: Sequence[Engine],
        statuses: list[SwarmStatus],
        managers: int,
        addrs: list[str | None],
        timeout: float,
        report: _Reporter,
        wait_for_gossip: bool,
    ) -> None:
        self.engines = engines
        self.wait_for_gossip = wait_for_gossip
        self.statuses = statuses
        self.managers = managers
        self.addrs = addrs
        self.timeout = timeout
        self.report = report
        self.actions: dict[int, MemberAction] = {}
        self.node_ids: dict[int, str] = {}
        self.remotes: list[str] = []
        self.listed: dict[str, Node] = {}
        hosts = [_ip_host(addr) for addr in addrs]
        #: IP addresses advertised by several engines here: their nodes cannot be told
        #: apart by address in a node list.
        self._shared_hosts = {h for h in hosts if h is not None and hosts.count(h) > 1}
        #: Set when an init that joins overlap has ended (see ``_init_and_join``).
        self._initialised: anyio.Event | None = None
        self._init_failure: list[Exception] = []

    async def run(self, anchor: int | None, init_spec: SwarmInitSpec) -> Cluster:
        engines = self.engines
        if anchor is None:
            anchor = 0
            await self._init_and_join(init_spec)
        else:
            await self._join_all(anchor, await self._survey(engines[anchor], anchor))
        # The engine that made the swarm may have been asked to be a worker: it handed
        # over to engines[0] then.
        leader = engines[anchor] if anchor < self.managers else engines[0]
        nodes = await _wait_ready(leader, self._wanted(), self.timeout)
        if self.wait_for_gossip:
            await _wait_gossip(leader, engines, nodes, self.timeout, self.report)
        members = tuple(
            ClusterMember(
                engine=engine.name,
                url=engine.url,
                node_id=self.node_ids[index],
                role=self._role(index),
                action=self.actions[index],
            )
            for index, engine in enumerate(engines)
        )
        swarm = await leader.swarm.inspect()
        workers = len(engines) - self.managers
        await self.report(
            "ready",
            f"swarm {swarm.id}: {self.managers} manager{'s' * (self.managers != 1)}, "
            f"{workers} worker{'s' * (workers != 1)}, all ready",
            count=False,
        )
        self.report.log.info(
            "cluster.formed",
            swarm_id=swarm.id,
            changed=[m.engine for m in members if m.action is not MemberAction.UNCHANGED],
        )
        return Cluster(swarm=swarm, members=members, nodes=nodes)

    def _manages(self, status: SwarmStatus) -> bool:
        """Whether the swarm wants this member to be a manager (as of the start)."""
        node = self.listed.get(status.node_id)
        if node is None:
            return status.control_available
        return node.spec.role is NodeRole.MANAGER

    def _role(self, index: int) -> NodeRole:
        return NodeRole.MANAGER if index < self.managers else NodeRole.WORKER

    def _wanted(self) -> dict[str, tuple[str, bool]]:
        return {
            self.node_ids[i]: (engine.name, i < self.managers)
            for i, engine in enumerate(self.engines)
        }

    async def _done(self, index: int, action: MemberAction, node_id: str) -> None:
        if index != 0 and self._initialised is not None:
            # Joins that overlap the init are reported after it, one step at a time, and
            # not at all once it failed (a progress callback that raised included).
            await self._initialised.wait()
            if self._init_failure:
                raise self._init_failure[0]
        self.actions[index], self.node_ids[index] = action, node_id
        engine, role = self.engines[index], self._role(index)
        await self.report(
            action.value,
            f"{engine.name}: {role.value} ({action.value})",
            engine=engine,
            node_id=node_id,
            role=role,
        )

    async def _survey(self, leader: Engine, anchor: int) -> JoinTokens:
        """Read the tokens and the node list from the engine that drives the swarm."""
        tokens = await leader.swarm.join_tokens()
        # Roles come from the managers' node list: an engine's own /info lags behind a
        # promotion or demotion for a moment.
        listed = await leader.nodes.list()
        self.listed = {node.id: node for node in listed}
        self.remotes = [n.manager_status.addr for n in listed if n.manager_status is not None]
        self.remotes = self.remotes or _manager_addrs(self.statuses[anchor])
        return tokens

    async def _join_all(self, anchor: int, tokens: JoinTokens) -> None:
        """Managers one by one, then the extra managers demoted; workers at once meanwhile.

        Worker joins do not wait for the manager joins: the leader hands out certificates
        to both, and only raft needs its members to arrive one at a time. Every step is
        reported here, in the caller's task, one at a time, in the order the steps end.
        """
        if any(i not in self.actions and not self._active(i) for i in range(len(self.engines))):
            await self._gossip_started(self.engines[anchor])
        workers = [
            i
            for i in range(self.managers, len(self.engines))
            if i not in self.actions and not self._active(i)
        ]
        # One step per engine at most: senders never wait for room.
        send, receive = anyio.create_memory_object_stream[_Step](len(self.engines))
        failures: list[tuple[int, Exception]] = []
        raft_failure: Exception | None = None
        interrupted: Exception | None = None
        async with anyio.create_task_group() as tg:
            async with send:
                tg.start_soon(self._raft_members, anchor, tokens, send.clone())
                # Nodes listed before any join are never a joining worker.
                finder = _NodeFinder(self.engines[anchor], known=self.listed)
                for index in workers:
                    tg.start_soon(self._join_worker, index, tokens, finder, send.clone())
            async with receive:
                async for step in receive:
                    if isinstance(step.outcome, Exception):
                        if step.raft:
                            # The remaining manager steps are off; the worker joins in
                            # flight still finish (nothing of theirs depends on them).
                            raft_failure = step.outcome
                        else:
                            failures.append((step.index, step.outcome))
                            self.report.log.warning(
                                "cluster.join_failed",
                                member=self.engines[step.index].name,
                                error=str(step.outcome),
                            )
                        continue
                    action, node_id = step.outcome
                    try:
                        await self._done(step.index, action, node_id)
                    except Exception as exc:  # noqa: BLE001 (the caller's callback; re-raised)
                        # Stop the joins still running and hand the caller its own
                        # exception, not an exception group.
                        interrupted = exc
                        tg.cancel_scope.cancel()
                        break
                    if step.reported is not None:
                        step.reported.set()
        if interrupted is not None:
            raise interrupted
        if raft_failure is not None:
            raise raft_failure
        if len(failures) == 1:
            raise failures[0][1]
        if failures:
            names = "; ".join(f"{self.engines[i].name}: {error}" for i, error in failures)
            raise JoinFailed(
                f"{len(failures)} of {len(workers)} workers did not join ({names}); "
                "run form_cluster again to retry them"
            ) from failures[0][1]

    async def _raft_members(
        self, anchor: int, tokens: JoinTokens, outbox: MemoryObjectSendStream[_Step]
    ) -> None:
        """The managers' steps, one at a time, then the demotions; a failure ends them."""
        async with outbox:
            try:
                await self._managers(self.engines[anchor], tokens, outbox)
                # The engine that made the swarm may be asked to be a worker: it hands
                # over to engines[0] first.
                leader = self.engines[anchor if anchor < self.managers else 0]
                await self._demote_extra_managers(leader, outbox)
            except Exception as exc:  # noqa: BLE001 (sent to the caller's task, raised there)
                await outbox.send(_Step(-1, exc, raft=True))

    async def _join_worker(
        self,
        index: int,
        tokens: JoinTokens,
        finder: _NodeFinder,
        outbox: MemoryObjectSendStream[_Step],
    ) -> None:
        async with outbox:
            outcome: tuple[MemberAction, str] | SwarmnetError
            try:
                node_id = await self._join_worker_node(index, tokens.worker, finder)
            except SwarmnetError as exc:
                # Kept, not raised: the other joins go on, and a re-run retries this one.
                outcome = exc
            else:
                outcome = (MemberAction.JOINED, node_id)
            await outbox.send(_Step(index, outcome))

    async def _join_worker_node(self, index: int, token: Secret, finder: _NodeFinder) -> str:
        """Join engines[index] as a worker; its node id.

        With an IP advertise address that no other engine here shares, the node is found
        in the leader's node list (one read shared by the joins that end together), not by
        the worker's own ``/info``: at 32 engines, 31 of those at once, each running helper
        programs on the same host, slowed the joins still running from 0.7-0.9 s to 1.4 s.
        """
        host = _ip_host(self.addrs[index])
        if host in self._shared_hosts:
            host = None
        # The state read at the start is reused: no second /info per engine.
        joined = await self.engines[index].swarm.join_node(
            self._spec(index, token),
            status=self.statuses[index],
            timeout=self.timeout,
            read_back=host is None,
        )
        if joined is not None:
            return joined.node_id
        assert host is not None  # read_back was False
        node_id = await finder.find(host)
        if node_id is None:
            # Not listed yet, or not at the address it advertised (NAT): ask the engine.
            return (await self.engines[index].swarm.status()).node_id
        return node_id

    async def _init(self, init_spec: SwarmInitSpec) -> None:
        engine = self.engines[0]
        node_id = await engine.swarm.init_node(init_spec, status=self.statuses[0])
        await self._done(0, MemberAction.INITIALISED, node_id)

    async def _init_and_join(self, init_spec: SwarmInitSpec) -> None:
        """Init a new swarm on engines[0], and join the others as early as it allows.

        The engine answers ``POST /swarm/init`` only after it has applied the swarm
        settings, which it retries every 200 ms until raft has stored the cluster; it is
        an active manager that hands out join tokens 0.05-0.2 s before that. Joins start
        then, so they overlap the end of the init instead of queueing behind it. Settings
        that change what joining nodes get (the CA, certificate expiry, autolock) are
        applied before anyone joins: then the joins wait for the init's answer.
        """
        if not _joins_may_overlap_init(init_spec):
            await self._init(init_spec)
            await self._join_all(0, await self._survey(self.engines[0], 0))
            return
        initialised = self._initialised = anyio.Event()
        init_failure = self._init_failure
        join_failure: list[Exception] = []

        async def init() -> None:
            try:
                await self._init(init_spec)
            except Exception as exc:  # noqa: BLE001 (re-raised below, not in a group)
                init_failure.append(exc)
                # Joins to a swarm whose settings were never applied are not wanted: stop
                # them (a re-run recovers an engine left pending).
                tg.cancel_scope.cancel()
            finally:
                initialised.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(init)
            try:
                tokens = await self._survey_early(initialised, init_failure)
                if tokens is not None:
                    await self._join_all(0, tokens)
            except Exception as exc:  # noqa: BLE001 (re-raised below, not in a group)
                join_failure.append(exc)
        # The init's failure explains the joins' failures, so it comes first.
        if init_failure or join_failure:
            raise (init_failure + join_failure)[0]

    async def _survey_early(
        self, initialised: anyio.Event, init_failure: list[Exception]
    ) -> JoinTokens | None:
        """The tokens as soon as the initialising engine manages a swarm; None if init failed."""
        leader = self.engines[0]
        while not initialised.is_set():
            try:
                tokens = await self._survey(leader, 0)
            except (EngineAPIError, EngineTimeout):
                # Not a manager yet, raft has no leader or has not stored the cluster
                # yet, or the engine is too busy starting it: the init's own answer says
                # whether it failed; until then, ask again.
                tokens = None
            if tokens is not None and self.remotes:
                return tokens
            await anyio.sleep(_POLL)
        return None if init_failure else await self._survey(leader, 0)

    async def _managers(
        self, leader: Engine, tokens: JoinTokens, outbox: MemoryObjectSendStream[_Step]
    ) -> None:
        # One at a time, so raft never has two members joining at once.
        for index in range(self.managers):
            if index in self.actions or (index == 0 and self._initialised is not None):
                # Done already, or the engine being initialised.
                continue
            status = self.statuses[index]
            if status.local_node_state is LocalNodeState.ACTIVE and self._manages(status):
                await _step_reported(outbox, index, MemberAction.UNCHANGED, status.node_id)
            elif status.local_node_state is LocalNodeState.ACTIVE:
                await leader.nodes.promote(status.node_id)
                await _step_reported(outbox, index, MemberAction.PROMOTED, status.node_id)
            else:
                node_id = await self._join_manager(leader, index, tokens.manager)
                await _step_reported(outbox, index, MemberAction.JOINED, node_id)

    def _active(self, index: int) -> bool:
        return self.statuses[index].local_node_state is LocalNodeState.ACTIVE

    async def _gossip_started(self, leader: Engine) -> None:
        """Wait until the leader's overlay gossip listens, before anyone joins.

        A new manager starts its gossip (networkdb, TCP/UDP 7946) about a second after
        the init, once its own agent has its network keys. A node that joins before then
        finds nobody listening, and its engine retries only a minute later: for that
        minute service names and overlay traffic between it and the others fail. The
        leader's gossip is up once it counts itself among the peers of ``ingress``.
        """
        started = time.monotonic()
        with anyio.move_on_after(_GOSSIP_START):
            while True:
                try:
                    ingress = await leader.networks.get("ingress", verbose=True)
                except NotFound:
                    if self._initialised is None:
                        return  # a swarm whose ingress was removed: nothing to wait for
                    ingress = None
                except (EngineAPIError, EngineTimeout):
                    ingress = None  # a manager still being made
                if ingress is not None and ingress.peers:
                    self.report.log.debug(
                        "cluster.gossip_started", elapsed=round(time.monotonic() - started, 3)
                    )
                    return
                await anyio.sleep(_POLL)
        self.report.log.warning("cluster.gossip_not_started", waited=_GOSSIP_START)

    def _spec(self, index: int, token: Secret) -> SwarmJoinSpec:
        return SwarmJoinSpec(
            remote_addrs=tuple(self.remotes), join_token=token, advertise_addr=self.addrs[index]
        )

    async def _join_manager(self, leader: Engine, index: int, token: Secret) -> str:
        """Join engines[index] as a manager; its node id, and its address added to the
        remotes the next joins use.

        Manager joins run one at a time, so whatever follows a join delays the next. With
        an IP advertise address the new manager is found in the leader's node list (one
        read of the leader's store) instead of by its own ``/info``, which runs helper
        programs: up to 1.7 s each, measured at 32 engines with the workers joining.
        """
        host = _ip_host(self.addrs[index])
        joined = await self.engines[index].swarm.join_node(
            self._spec(index, token),
            status=self.statuses[index],
            timeout=self.timeout,
            read_back=host is None,
        )
        if joined is None:
            listed = await leader.nodes.list(role=NodeRole.MANAGER)
            addrs = [n.manager_status.addr for n in listed if n.manager_status is not None]
            mine = [
                n.id
                for n in listed
                if n.manager_status is not None and _ip_host(n.manager_status.addr) == host
            ]
            if len(mine) == 1:
                known = {normalise_remote_addr(a) for a in self.remotes}
                self.remotes += [a for a in addrs if normalise_remote_addr(a) not in known]
                return mine[0]
            # Not listed yet, or two managers at that address (NAT): ask the engine.
            joined = await self.engines[index].swarm.status()
        self.remotes = _merge(self.remotes, joined)
        return joined.node_id

    async def _demote_extra_managers(
        self, leader: Engine, outbox: MemoryObjectSendStream[_Step]
    ) -> None:
        for index in range(self.managers, len(self.engines)):
            status = self.statuses[index]
            if status.local_node_state is not LocalNodeState.ACTIVE:
                continue
            if self._manages(status):
                await leader.nodes.demote(status.node_id)
                await _step_reported(outbox, index, MemberAction.DEMOTED, status.node_id)
            else:
                await _step_reported(outbox, index, MemberAction.UNCHANGED, status.node_id)


class _NodeFinder:
    """Finds joined nodes in a manager's node list by IP address, one read for many joins.

    A join that ends while a read is in flight waits for it and takes the next read if
    that one started too early to show its node. Nodes listed before the joins began
    (``known``: a node that left and still shows as ``down``, say) are never taken.
    """

    def __init__(self, leader: Engine, known: Iterable[str]) -> None:
        self._leader = leader
        self._known = set(known)
        self._lock = anyio.Lock()
        self._started = 0  # reads started; one runs at a time
        self._by_host: dict[str, list[str]] = {}
        self._taken: set[str] = set()

    async def find(self, host: str) -> str | None:
        """The id of the one new node at ``host``, or None if none or several are listed.

        A join can end a moment before the leader lists the node's address (swarmkit
        writes node registrations in batches): a few more reads are tried first.
        """
        for _ in range(_FIND_READS):
            useful = self._started + 1  # a read that starts from now on can show the node
            async with self._lock:
                if self._started < useful:
                    self._started += 1
                    try:
                        listed = await self._leader.nodes.list()
                    except (EngineAPIError, EngineTimeout):
                        return None  # the caller asks the node itself
                    by_host: dict[str, list[str]] = {}
                    for node in listed:
                        node_host = _ip_host(node.addr)
                        if node.id not in self._known and node_host is not None:
                            by_host.setdefault(node_host, []).append(node.id)
                    self._by_host = by_host
            found = [i for i in self._by_host.get(host, ()) if i not in self._taken]
            if len(found) > 1:
                return None
            if found:
                self._taken.add(found[0])
                return found[0]
            await anyio.sleep(_POLL)
        return None


async def _step_reported(
    outbox: MemoryObjectSendStream[_Step], index: int, action: MemberAction, node_id: str
) -> None:
    """Hand a raft step to the caller's task and wait until it has been reported.

    The next manager step starts only then, so a progress callback that raises stops
    the manager sequence before its next write, as it would inline.
    """
    reported = anyio.Event()
    await outbox.send(_Step(index, (action, node_id), reported=reported, raft=True))
    await reported.wait()


def _joins_may_overlap_init(init_spec: SwarmInitSpec) -> bool:
    """Whether nodes may join before the engine has applied ``init_spec``'s settings.

    The settings are applied at the end of the init. These ones change what a joining
    node gets (its certificate, the CA that signs it, a manager's key encryption), so
    nodes that joined before them would miss them.
    """
    settings = init_spec.spec
    return (
        settings.node_cert_expiry is None
        and settings.external_cas is None
        and settings.signing_ca_cert is None
        and settings.signing_ca_key is None
        and settings.force_rotate is None
        and not settings.autolock
    )


def _pick_anchor(engines: Sequence[Engine], statuses: list[SwarmStatus]) -> int | None:
    """The engine to drive the swarm from: an active manager, engines[0] first."""
    for index, status in enumerate(statuses):
        if status.local_node_state is LocalNodeState.LOCKED:
            raise SwarmLocked(
                "the engine is a locked swarm manager; unlock it (engine.swarm.unlock(key)) "
                "before forming the cluster",
                engine=engines[index].url,
            )
    for index, status in enumerate(statuses):
        if status.local_node_state is LocalNodeState.ACTIVE and status.control_available:
            return index
    return None


def _check_membership(
    engines: Sequence[Engine], statuses: list[SwarmStatus], anchor: int | None
) -> None:
    """Refuse, before any change, engines that are in a swarm other than the anchor's."""
    if anchor is None:
        for engine, status in zip(engines, statuses, strict=True):
            if status.local_node_state is LocalNodeState.ACTIVE:
                managers = ", ".join(status.manager_addrs) or "unknown managers"
                raise AlreadyInSwarm(
                    f"the engine is a worker of a swarm managed at {managers}, and none of "
                    "the engines given manages it; leave that swarm first, or include "
                    "one of its managers",
                    engine=engine.url,
                )
        return
    cluster_id = statuses[anchor].cluster_id
    known = {normalise_remote_addr(a) for a in _manager_addrs(statuses[anchor])}
    for engine, status in zip(engines, statuses, strict=True):
        if status.local_node_state is not LocalNodeState.ACTIVE:
            continue
        if status.control_available:
            same = status.cluster_id == cluster_id
        else:
            same = any(normalise_remote_addr(a) in known for a in status.manager_addrs)
        if not same:
            which = status.cluster_id or "managed at " + ", ".join(status.manager_addrs)
            raise AlreadyInSwarm(
                f"the engine is in another swarm ({which}) than {engines[anchor].name}'s "
                f"({cluster_id}); leave it first",
                engine=engine.url,
                cluster_id=status.cluster_id,
            )


def _manager_addrs(status: SwarmStatus) -> list[str]:
    addrs = list(status.manager_addrs)
    if not addrs and status.node_addr:
        addrs = [status.node_addr]
    return addrs


def _ip_host(addr: str | None) -> str | None:
    """The IP address of an advertise or manager address (``ip[:port]``), else None."""
    if addr is None:
        return None
    host = addr[1:].partition("]")[0] if addr.startswith("[") else addr
    if not addr.startswith("[") and host.count(":") == 1:
        host = host.partition(":")[0]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None  # an interface name


def _merge(remotes: list[str], joined: SwarmStatus) -> list[str]:
    known = {normalise_remote_addr(a) for a in remotes}
    return remotes + [a for a in joined.manager_addrs if normalise_remote_addr(a) not in known]


async def _wait_ready(
    leader: Engine,
    wanted: dict[str, tuple[str, bool]],
    timeout: float,  # noqa: ASYNC109
) -> tuple[Node, ...]:
    """Poll the node list until every member is ready and in its role.

    ``wanted`` maps node ids to (engine name, should be a manager).
    """
    lagging: list[str] = []
    with anyio.move_on_after(timeout):
        while True:
            nodes = await leader.nodes.list()
            by_id = {node.id: node for node in nodes}
            lagging = [
                name
                for node_id, (name, manager) in wanted.items()
                if not _in_place(by_id.get(node_id), manager)
            ]
            if not lagging:
                return nodes
            await anyio.sleep(_POLL)
    raise JoinFailed(
        f"the swarm was formed but {', '.join(lagging)} did not become ready in their role "
        f"within {timeout:g} s; check `engine.nodes.list()` on {leader.name}",
        engine=leader.url,
    )


async def _wait_gossip(
    leader: Engine,
    engines: Sequence[Engine],
    nodes: Sequence[Node],
    timeout: float,  # noqa: ASYNC109
    report: _Reporter,
) -> None:
    """Poll until every engine's overlay gossip (networkdb) knows every ready node.

    A node that swarm reports ``ready`` may not have joined the other nodes' gossip yet:
    until it has, service names and overlay traffic between it and the others fail. It
    normally takes a second or two; a gossip join that failed is retried by the engine
    only once a minute. The peers of ``ingress`` (which every node joins) are the
    measure; a swarm whose ingress network was removed is not checked.
    """
    ingress = next((n for n in await leader.networks.list() if n.ingress), None)
    if ingress is None:
        return
    wanted = sum(node.state is NodeState.READY for node in nodes)
    started = time.monotonic()
    seen: dict[str, int] = {}

    async def peers(engine: Engine) -> None:
        try:
            network = await engine.networks.get(ingress.id, verbose=True)
        except NotFound:  # a worker makes its ingress a moment after it joined
            seen[engine.name] = 0
            return
        seen[engine.name] = len(network.peers)

    with anyio.move_on_after(timeout):
        while True:
            async with anyio.create_task_group() as tg:
                for engine in engines:
                    tg.start_soon(peers, engine)
            if all(count >= wanted for count in seen.values()):
                report.log.info("cluster.gossip", elapsed=round(time.monotonic() - started, 3))
                return
            await anyio.sleep(_GOSSIP_POLL)
    lagging = ", ".join(
        f"{name} sees {count} of {wanted}" for name, count in seen.items() if count < wanted
    )
    raise JoinFailed(
        f"the swarm was formed and its nodes are ready, but after {timeout:g} s the overlay "
        f"gossip has not reached every node ({lagging}); service names and overlay traffic "
        "between those nodes fail until it does. Check that the nodes reach each other on "
        "TCP and UDP 7946 (`swarmnet doctor`)",
        engine=leader.url,
    )


def _in_place(node: Node | None, manager: bool) -> bool:
    if node is None or node.state is not NodeState.READY:
        return False
    if manager:
        return node.reachability is Reachability.REACHABLE
    return node.manager_status is None


# -- dissolve ----------------------------------------------------------------------------


async def dissolve(
    engines: Sequence[Engine],
    *,
    timeout: float = 60.0,  # noqa: ASYNC109 (bounds waiting for demotions; typed error)
    on_progress: ProgressCallback | None = None,
) -> tuple[str, ...]:
    """Take ``engines`` out of their swarm: workers leave, then managers, one by one.

    Workers leave concurrently and their nodes are removed from the managers' node
    list; then each manager but one is demoted, leaves and is removed; the last manager
    leaves with force, which ends the swarm if no manager outside ``engines`` remains.
    Engines in no swarm are skipped; engines stuck in ``pending``, ``error`` or
    ``locked`` leave with force. Every engine ends ``inactive``.

    Returns:
        the names of the engines that left.

    Raises:
        InvalidSpec: the same engine given twice.
        SwarmError: an engine could not leave (the message says which and why).
    """
    _check_engines(engines)
    report = _Reporter(on_progress, len(engines), engines=len(engines))
    statuses = await _statuses(engines)
    members = [
        i for i, s in enumerate(statuses) if s.local_node_state is not LocalNodeState.INACTIVE
    ]
    report.total = len(members)
    failures: list[SwarmnetError] = []
    # Engines may belong to different swarms (a test or a crash left them so); each
    # swarm is taken apart on its own.
    for group in _group_by_swarm(statuses, members):
        try:
            await _dissolve_group(engines, statuses, group, timeout, report)
        except SwarmnetError as exc:
            # Kept, not raised at once: the other swarms still get dissolved.
            failures.append(exc)
    if failures:
        raise failures[0]
    left = tuple(engines[i].name for i in members)
    await report("dissolved", f"{len(left)} engines left their swarm", count=False)
    return left


class _Group:
    """Engines of one swarm: the manager that stays to the end, other managers, workers."""

    def __init__(self, anchor: int | None) -> None:
        self.anchor = anchor
        self.managers: list[int] = []
        self.workers: list[int] = []


def _group_by_swarm(statuses: list[SwarmStatus], members: list[int]) -> list[_Group]:
    groups: dict[str, _Group] = {}
    by_addr: dict[str, _Group] = {}
    for i in members:
        status = statuses[i]
        if status.local_node_state is not LocalNodeState.ACTIVE or not status.control_available:
            continue
        key = status.cluster_id or f"manager-{i}"
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group(i)
        else:
            group.managers.append(i)
        for addr in _manager_addrs(status):
            by_addr[normalise_remote_addr(addr)] = group
    orphans = _Group(None)
    for i in members:
        status = statuses[i]
        if status.local_node_state is LocalNodeState.ACTIVE and status.control_available:
            continue
        known = (by_addr.get(normalise_remote_addr(a)) for a in status.manager_addrs)
        group = next((g for g in known if g is not None), orphans)
        group.workers.append(i)
    return [*groups.values(), orphans]


async def _dissolve_group(
    engines: Sequence[Engine],
    statuses: list[SwarmStatus],
    group: _Group,
    timeout: float,  # noqa: ASYNC109
    report: _Reporter,
) -> None:
    async def leave(index: int) -> None:
        await engines[index].swarm.leave(force=True)
        await report("left", f"{engines[index].name} left", engine=engines[index])

    leader = engines[group.anchor] if group.anchor is not None else None
    if leader is not None:
        # Roles as raft has them: an engine's own /info lags behind a promotion, and a
        # manager leaving as if it were a worker could cost the quorum.
        listed = {node.id: node for node in await leader.nodes.list()}

        def manages(index: int) -> bool:
            node = listed.get(statuses[index].node_id)
            return node is not None and (
                node.spec.role is NodeRole.MANAGER or node.manager_status is not None
            )

        members = group.workers + group.managers
        group.workers = [i for i in members if not manages(i)]
        group.managers = [i for i in members if manages(i)]

    async def leave_quietly(index: int) -> None:
        await engines[index].swarm.leave(force=True)

    # Workers leave all at once; progress is reported from here, not from their tasks.
    errors = await _each(group.workers, leave_quietly)
    left = [index for index in group.workers if index not in errors]
    for index in left:
        await report("left", f"{engines[index].name} left", engine=engines[index])
    if leader is not None and group.anchor is not None:
        for index in left:
            await _remove(leader, statuses[index].node_id, report, engines[index])
        await _dissolve_managers(engines, statuses, group, leader, timeout, leave, report)
    if errors:
        raise errors[min(errors)]


async def _dissolve_managers(
    engines: Sequence[Engine],
    statuses: list[SwarmStatus],
    group: _Group,
    leader: Engine,
    timeout: float,  # noqa: ASYNC109
    leave: Callable[[int], Awaitable[None]],
    report: _Reporter,
) -> None:
    assert group.anchor is not None
    for index in group.managers:
        node_id = statuses[index].node_id
        await _demote_and_wait(leader, node_id, timeout)
        await leave(index)
        await _remove(leader, node_id, report, engines[index])
    await leave(group.anchor)


async def _remove(leader: Engine, node_id: str, report: _Reporter, engine: Engine) -> None:
    if not node_id:
        return
    try:
        await leader.nodes.remove(node_id, force=True)
    except NotFound:
        return
    await report("removed", f"node {node_id} removed", engine=engine, node_id=node_id, count=False)


async def _demote_and_wait(leader: Engine, node_id: str, timeout: float) -> None:  # noqa: ASYNC109
    try:
        await leader.nodes.demote(node_id)
    except NotFound:
        return
    with anyio.move_on_after(timeout):
        # The engine has no event for "left raft" to wait on; polling is what there is.
        while (await leader.nodes.get(node_id)).manager_status is not None:  # noqa: ASYNC110
            await anyio.sleep(_POLL)
        return
    raise SwarmError(
        f"node {node_id} was demoted but is still a raft member after {timeout:g} s",
        engine=leader.url,
    )
