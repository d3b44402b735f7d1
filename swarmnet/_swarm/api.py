"""Swarm lifecycle on one engine (``engine.swarm``) and the nodes it manages (``engine.nodes``).

Every call checks its input first (see :mod:`swarmnet._swarm_models`), reads the engine's
swarm state where the answer depends on it, and only then writes. Updates of the swarm
and of nodes are read-modify-write: the current spec is read with its version, only
the fields the caller named are changed, and the whole spec goes back with that version
(retried when another writer got there first), so nothing the caller did not mention is
ever dropped.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, overload

import anyio

from swarmnet._core.engine_models import LocalNodeState
from swarmnet._core.errors import (
    AlreadyInSwarm,
    EngineAPIError,
    EngineTimeout,
    InvalidJoinToken,
    InvalidSpec,
    JoinFailed,
    NotASwarmManager,
    NotFound,
    NotInSwarm,
    SwarmError,
    SwarmLocked,
)
from swarmnet._core.log import get_logger
from swarmnet._core.secret import Secret
from swarmnet._swarm.models import (
    JoinTokens,
    Node,
    NodeAvailability,
    NodeRole,
    Swarm,
    SwarmInitSpec,
    SwarmJoinSpec,
    SwarmSettings,
    SwarmStatus,
    build_spec,
    check_unlock_key,
    normalise_remote_addr,
)

if TYPE_CHECKING:
    from swarmnet._core.engine import Engine

_log = get_logger("swarmnet.swarm")
_nodes_log = get_logger("swarmnet.nodes")

#: How often state is polled while waiting (seconds); engines answer /info in ~1 ms.
_POLL = 0.05
#: Attempts at a read-modify-write before giving up on a busy object.
_UPDATE_ATTEMPTS = 5


async def manager_request(engine: Engine, method: str, path: str, **kwargs: Any) -> Any:
    """A request that needs a manager, with the engine's swarm-state answers typed.

    An engine in no swarm answers these with "This node is not a swarm manager. Use
    "docker swarm init" or "docker swarm join"…", which reads as a worker's refusal;
    it is :class:`NotInSwarm` here, with a message that says what to do.
    """
    engine._require_open()
    try:
        return await engine._request(method, path, **kwargs)
    except (NotASwarmManager, NotInSwarm) as exc:
        # The transport already maps that answer to NotInSwarm, but with the engine's
        # misleading text; NotASwarmManager is kept for engines that word it otherwise.
        if "swarm init" not in exc.explanation:
            raise
        raise NotInSwarm.refine(
            exc, f"{method} /{path}: the engine is in no swarm; init one or join one first"
        ) from exc


def _out_of_sequence(exc: EngineAPIError) -> bool:
    return "out of sequence" in exc.explanation.lower()


def _deep_merge(base: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``patch`` laid over it; nested maps merge, other values replace."""
    merged = copy.deepcopy(base)
    for key, value in patch.items():
        current = merged.get(key)
        if isinstance(value, Mapping) and isinstance(current, dict) and key != "Labels":
            merged[key] = _deep_merge(current, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


class SwarmAPI:
    """Swarm lifecycle on one engine: ``engine.swarm``.

    Idempotent where automation expects it: ``init`` on an engine that already manages
    a swarm returns that swarm, ``join`` on an engine already in the swarm it is asked
    to join does nothing, ``leave`` on an engine in no swarm does nothing. An engine in
    another swarm raises :class:`swarmnet.AlreadyInSwarm`; calls that need a manager
    raise :class:`swarmnet.NotASwarmManager` on a worker.

    Example::

        async with swarmnet.Engine("unix:///run/node1.sock") as manager:
            swarm = await manager.swarm.init(advertise_addr="198.18.0.2")
            tokens = await manager.swarm.join_tokens()
        async with swarmnet.Engine("unix:///run/node2.sock") as worker:
            await worker.swarm.join("198.18.0.2", tokens.worker)
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._log = _log.bind(engine=engine.name)

    def __repr__(self) -> str:
        return f"<SwarmAPI of {self._engine.name!r}>"

    # -- state -----------------------------------------------------------------------

    async def status(self) -> SwarmStatus:
        """This engine's own view of its membership (``/info``), manager or not."""
        self._engine._require_open()
        info = await self._engine._request("GET", "info")
        return SwarmStatus.model_validate(info.get("Swarm") or {})

    async def probe(self) -> SwarmStatus:
        """This engine's status, read cheaply when it is in no swarm (else as :meth:`status`).

        ``/info`` makes the engine run helper programs (tens of ms, more when many
        engines are asked at once), while ``GET /swarm`` answers at once. When that says
        "not part of a swarm" the engine is taken as inactive; an engine stuck in
        ``error`` reads the same, and the init or join that follows learns otherwise
        from the engine's answer, reads the full status and decides again.
        """
        try:
            await manager_request(self._engine, "GET", "swarm")
        except NotInSwarm:
            return SwarmStatus(local_node_state=LocalNodeState.INACTIVE)
        except EngineAPIError:
            # A worker, a locked or pending engine, or a manager in the middle of a role
            # change (its control socket comes and goes): the full status tells which.
            pass
        return await self.status()

    async def state(self) -> LocalNodeState:
        """``inactive``, ``pending``, ``active``, ``error`` or ``locked``."""
        return (await self.status()).local_node_state

    # A timeout argument rather than the caller's fail_after: running out of time here
    # is a typed swarm error naming the state the engine is stuck in, not a cancellation.
    async def wait_active(self, timeout: float = 30.0) -> SwarmStatus:  # noqa: ASYNC109
        """Wait until this engine is an active swarm member, and return its status.

        Raises:
            SwarmLocked: the engine is locked (it will not become active on its own).
            JoinFailed: the engine reports ``error``, or is still not active after
                ``timeout`` seconds (the message says which state it is stuck in).
        """
        status = await self.status()
        with anyio.move_on_after(timeout):
            while True:
                state = status.local_node_state
                if state is LocalNodeState.ACTIVE:
                    return status
                if state is LocalNodeState.LOCKED:
                    raise self._locked("it cannot become active until it is unlocked")
                if state is LocalNodeState.ERROR:
                    raise JoinFailed(
                        f"the engine reports swarm state 'error': {status.error or 'no detail'}; "
                        "leave(force=True) and join again",
                        engine=self._engine.url,
                    )
                await anyio.sleep(_POLL)
                status = await self.status()
        raise JoinFailed(
            f"the engine is still {status.local_node_state.value!r}, not active, after "
            f"{timeout:g} s"
            + (f" ({status.error})" if status.error else "")
            + "; check that its managers are reachable, or leave(force=True) and join again",
            engine=self._engine.url,
        )

    # -- init / join / leave ---------------------------------------------------------

    async def init(
        self, spec: SwarmInitSpec | None = None, /, *, recover: bool = True, **options: Any
    ) -> Swarm:
        """Make this engine the first manager of a new swarm, and return the swarm.

        Takes a :class:`SwarmInitSpec` or its fields as keywords (``advertise_addr``,
        ``listen_addr``, ``data_path_addr``, ``data_path_port``, ``default_addr_pool``,
        ``subnet_size``, ``force_new_cluster``, ``availability``, ``spec``)::

            swarm = await engine.swarm.init(
                advertise_addr="198.18.0.2", default_addr_pool=["10.60.0.0/16"],
                data_path_port=7789, spec=SwarmSettings(autolock=True))

        On an engine that already manages a swarm, that swarm is returned and nothing is
        sent (unless ``force_new_cluster``). ``recover`` lets an engine stuck in
        ``pending`` or ``error`` (after a failed join) leave with force first.

        Raises:
            InvalidSpec: a bad option, before anything is sent.
            AlreadyInSwarm: the engine is a worker of a swarm.
            SwarmLocked: the engine is a locked manager.
        """
        init = build_spec(SwarmInitSpec, spec, options, "swarm init")
        status = await self.probe()
        if status.is_manager and not init.force_new_cluster:
            swarm = await self.inspect()
            self._log.info("swarm.init.existing", swarm_id=swarm.id, node_id=status.node_id)
            return swarm
        node_id = await self.init_node(init, status=status, recover=recover)
        swarm = await self.inspect()
        self._log.info(
            "swarm.initialised", swarm_id=swarm.id, node_id=node_id, forced=init.force_new_cluster
        )
        return swarm

    async def init_node(
        self, spec: SwarmInitSpec, *, status: SwarmStatus | None = None, recover: bool = True
    ) -> str:
        """The init step alone: send the init and return the new manager's node id.

        :meth:`init` is this plus reading the swarm back. Pass ``status`` when it was
        just read (:meth:`probe`), as ``form_cluster`` does for many engines at once, to
        save a request. Raises as :meth:`init` does; an engine that already manages a
        swarm is not special-cased here.
        """
        status = status if status is not None else await self.probe()
        return await self._init_from(status, spec, recover=recover)

    async def _init_from(
        self, status: SwarmStatus, init: SwarmInitSpec, *, recover: bool, again: bool = False
    ) -> str:
        state = status.local_node_state
        if state is LocalNodeState.ACTIVE and not status.control_available:
            raise self._already_member(status, "init a new swarm")
        if state is LocalNodeState.LOCKED:
            raise self._locked("init needs it unlocked, or left with leave(force=True)")
        if state in (LocalNodeState.PENDING, LocalNodeState.ERROR):
            await self._recover(status, recover, "init")
        try:
            node_id = await self._engine._request(
                "POST", "swarm/init", json_body=init.to_engine(), secrets=init.spec.secrets()
            )
        except AlreadyInSwarm:
            if state is not LocalNodeState.INACTIVE or again:
                raise
            # Taken for inactive by the cheap probe, but in a swarm after all: decide
            # again on the full status (an engine stuck in "error" reads like this).
            return await self._init_from(await self.status(), init, recover=recover, again=True)
        return str(node_id or "").strip()

    async def join(
        self,
        remote_addrs: str | Sequence[str] | SwarmJoinSpec,
        token: Secret | str | None = None,
        *,
        advertise_addr: str | None = None,
        listen_addr: str | None = None,
        data_path_addr: str | None = None,
        availability: NodeAvailability | str | None = None,
        timeout: float | None = 30.0,  # noqa: ASYNC109 (becomes the engine request's limit)
        recover: bool = True,
    ) -> SwarmStatus:
        """Join the swarm that ``remote_addrs`` manage, with a worker or manager token.

        ``remote_addrs`` is one manager address or several (``ip``/``host``, optional
        port), or a whole :class:`SwarmJoinSpec` (then ``token`` and the address options
        stay unset). The token decides the role. Returns this engine's status once it
        is an active member.

        Idempotent: an engine already in that swarm (it knows one of ``remote_addrs``
        as a manager) is left as it is, and one still joining those same managers (an
        earlier call was cut short) is waited for. ``recover`` lets an engine stuck in
        ``pending`` or ``error`` after an earlier failed join leave with force and join
        again.

        ``timeout`` bounds the wait for the managers (the engine itself gives up after
        about 20 s); after it the engine keeps trying in the background and stays
        ``pending`` until a later ``join`` (with ``recover``) or ``leave(force=True)``.

        Raises:
            InvalidSpec: a bad address or a malformed token, before anything is sent.
            AlreadyInSwarm: the engine is in another swarm (``cluster_id`` names it
                when the engine is a manager).
            InvalidJoinToken: the managers refused the token (wrong, rotated, other swarm).
            JoinFailed: the managers could not be reached in time, or the join failed.
            SwarmLocked: the engine is a locked manager.
        """
        spec = self._join_spec(
            remote_addrs,
            token,
            advertise_addr=advertise_addr,
            listen_addr=listen_addr,
            data_path_addr=data_path_addr,
            availability=availability,
        )
        return await self.join_node(spec, timeout=timeout, recover=recover)

    @overload
    async def join_node(
        self,
        spec: SwarmJoinSpec,
        *,
        status: SwarmStatus | None = None,
        timeout: float | None = 30.0,  # noqa: ASYNC109
        recover: bool = True,
        read_back: Literal[True] = True,
    ) -> SwarmStatus: ...

    @overload
    async def join_node(
        self,
        spec: SwarmJoinSpec,
        *,
        status: SwarmStatus | None = None,
        timeout: float | None = 30.0,  # noqa: ASYNC109
        recover: bool = True,
        read_back: bool,
    ) -> SwarmStatus | None: ...

    async def join_node(
        self,
        spec: SwarmJoinSpec,
        *,
        status: SwarmStatus | None = None,
        timeout: float | None = 30.0,  # noqa: ASYNC109 (becomes the engine request's limit)
        recover: bool = True,
        read_back: bool = True,
    ) -> SwarmStatus | None:
        """:meth:`join` with a ready :class:`SwarmJoinSpec`, and the status if just read.

        ``form_cluster`` probes many engines at once and passes each one's ``status`` to
        save a request; otherwise this is :meth:`join`. With ``read_back=False`` a join
        the engine accepted returns None instead of the engine's status read after it
        (``/info``, which runs helper programs: up to seconds on a host busy with many
        joins); the engine answers a join once the node is an active member, and the
        caller can find the node in a manager's node list. A node that was a member
        already still returns its status.
        """
        status = status if status is not None else await self.probe()
        return await self._join_from(
            status, spec, timeout=timeout, recover=recover, read_back=read_back
        )

    async def _join_from(
        self,
        status: SwarmStatus,
        spec: SwarmJoinSpec,
        *,
        timeout: float | None,  # noqa: ASYNC109
        recover: bool,
        again: bool = False,
        read_back: bool = True,
    ) -> SwarmStatus | None:
        """Join, given the status just read (``form_cluster`` has it already)."""
        state = status.local_node_state
        if state is LocalNodeState.ACTIVE:
            if self._same_swarm(status, spec.remote_addrs):
                self._log.info("swarm.join.already_member", node_id=status.node_id)
                return status
            raise self._already_member(status, "join another swarm")
        if state is LocalNodeState.LOCKED:
            raise self._locked("join needs it unlocked, or left with leave(force=True)")
        if state is LocalNodeState.PENDING and self._same_swarm(status, spec.remote_addrs):
            # A join to these same managers is under way (an earlier call was cut
            # short): let it finish rather than start over as a second node.
            finished = await self._finish_pending(timeout)
            if finished is not None:
                return finished
            status = await self.status()
            state = status.local_node_state
        if state in (LocalNodeState.PENDING, LocalNodeState.ERROR):
            await self._recover(status, recover, "join")
        try:
            await self._send_join(spec, timeout)
        except AlreadyInSwarm:
            if state is not LocalNodeState.INACTIVE or again:
                raise
            # Taken for inactive by the cheap probe, but in a swarm after all: decide
            # again on the full status (an engine stuck in "error" reads like this).
            return await self._join_from(
                await self.status(),
                spec,
                timeout=timeout,
                recover=recover,
                again=True,
                read_back=read_back,
            )
        if not read_back:
            self._log.info("swarm.joined", node_id=None, manager=None)
            return None
        # The engine answers once the node is up, so this is normally active already.
        joined = await self.status()
        if joined.local_node_state is not LocalNodeState.ACTIVE:
            joined = await self.wait_active(timeout=timeout or 30.0)
        self._log.info("swarm.joined", node_id=joined.node_id, manager=joined.control_available)
        return joined

    async def _finish_pending(self, timeout: float | None) -> SwarmStatus | None:  # noqa: ASYNC109
        """Wait for a join already under way; its status, or None if it did not finish."""
        try:
            joined = await self.wait_active(timeout=min(timeout or 20.0, 20.0))
        except (JoinFailed, SwarmLocked):
            return None
        self._log.info("swarm.joined", node_id=joined.node_id, manager=joined.control_available)
        return joined

    async def leave(self, *, force: bool = False) -> None:
        """Leave the swarm. Does nothing on an engine in no swarm.

        ``force`` is needed for a manager (the last one erases the swarm; another one
        may cost the raft quorum), for a locked engine, and for one stuck in ``pending``.

        Raises:
            SwarmError: the engine refused to leave without ``force``, or could not leave
                at all (the message says why and what to do).
        """
        status = await self.probe()
        if status.local_node_state is LocalNodeState.INACTIVE:
            self._log.debug("swarm.leave.not_member")
            return
        try:
            await self._engine._request(
                "POST", "swarm/leave", params={"force": force}, timeout=None
            )
        except NotInSwarm:
            return
        except EngineAPIError as exc:
            if isinstance(exc, SwarmError) and not isinstance(exc, SwarmLocked):
                raise
            hint = (
                "its swarm component is stuck: restart its daemon, then leave again"
                if force
                else "pass force=True to leave anyway"
            )
            raise SwarmError.refine(
                exc, f"the engine could not leave: {exc.explanation.strip()} ({hint})"
            ) from exc
        self._log.info("swarm.left", node_id=status.node_id, forced=force)

    # -- manager calls ---------------------------------------------------------------

    async def inspect(self) -> Swarm:
        """The swarm this engine manages (``GET /swarm``), without its join tokens.

        Raises:
            NotInSwarm: the engine is in no swarm.
            NotASwarmManager: the engine is a worker.
            SwarmLocked: the engine is a locked manager.
        """
        return Swarm.model_validate(await manager_request(self._engine, "GET", "swarm"))

    async def join_tokens(self) -> JoinTokens:
        """The worker and manager join tokens, as :class:`swarmnet.Secret` values."""
        payload = await manager_request(self._engine, "GET", "swarm")
        return JoinTokens.model_validate(payload.get("JoinTokens") or {})

    async def rotate(
        self, *, worker_token: bool = False, manager_token: bool = False, unlock_key: bool = False
    ) -> JoinTokens:
        """Replace the worker token, the manager token and/or the unlock key.

        Engines that already joined are not affected; the old token is refused from now
        on. Returns the tokens in force afterwards (read a new unlock key with
        :meth:`unlock_key`, and keep it: a restarted manager needs it).

        Raises:
            InvalidSpec: nothing was asked to rotate.
        """
        if not (worker_token or manager_token or unlock_key):
            raise InvalidSpec(
                "rotate: name at least one of worker_token, manager_token, unlock_key"
            )
        await self._update_spec(
            {},
            flags={
                "rotateWorkerToken": worker_token,
                "rotateManagerToken": manager_token,
                "rotateManagerUnlockKey": unlock_key,
            },
        )
        self._log.info(
            "swarm.rotated",
            worker_token=worker_token,
            manager_token=manager_token,
            unlock_key=unlock_key,
        )
        return await self.join_tokens()

    async def unlock_key(self) -> Secret | None:
        """The key that unlocks a restarted manager, or ``None`` when autolock is off."""
        payload = await manager_request(self._engine, "GET", "swarm/unlockkey")
        key = str((payload or {}).get("UnlockKey") or "")
        return Secret(key) if key else None

    async def unlock(
        self,
        key: Secret | str,
        *,
        timeout: float = 30.0,  # noqa: ASYNC109 (becomes the engine request's limit)
    ) -> SwarmStatus:
        """Unlock this locked manager with the swarm's unlock key; returns its status.

        Does nothing on an engine that is not locked.

        Raises:
            InvalidSpec: the key is not shaped like an unlock key (nothing is sent).
            SwarmLocked: the engine refused the key; it stays locked.
        """
        try:
            secret = check_unlock_key(key if isinstance(key, Secret) else Secret(key))
        except ValueError as exc:
            raise InvalidSpec(str(exc)) from None
        status = await self.status()
        if status.local_node_state is not LocalNodeState.LOCKED:
            self._log.debug("swarm.unlock.not_locked", state=status.local_node_state.value)
            return status
        try:
            await self._engine._request(
                "POST",
                "swarm/unlock",
                json_body={"UnlockKey": secret.reveal()},
                secrets=(secret,),
                timeout=timeout,
            )
        except EngineAPIError as exc:
            if "not locked" in exc.explanation:
                return await self.status()
            raise SwarmLocked.refine(
                exc,
                "the engine refused the unlock key and stays locked; check that it is the "
                f"current key of this swarm ({exc.explanation})",
            ) from exc
        unlocked = await self.wait_active(timeout)
        self._log.info("swarm.unlocked", node_id=unlocked.node_id)
        return unlocked

    async def update(self, settings: SwarmSettings | None = None, /, **changes: Any) -> Swarm:
        """Change swarm settings; what is not mentioned stays as the engine has it.

        Takes a :class:`SwarmSettings` or its fields as keywords::

            await engine.swarm.update(task_history_retention_limit=2, autolock=True)

        The current spec is read with its version and sent back whole with the
        changes laid over it (retried if another writer updated the swarm meanwhile).

        Raises:
            InvalidSpec: a bad value, before anything is sent.
        """
        wanted = build_spec(SwarmSettings, settings, changes, "swarm update")
        patch = wanted.to_patch()
        if not patch:
            return await self.inspect()

        def check(merged: dict[str, Any]) -> None:
            raft = merged.get("Raft") or {}
            election, heartbeat = raft.get("ElectionTick"), raft.get("HeartbeatTick")
            if election and heartbeat and election <= heartbeat:
                raise InvalidSpec(
                    f"swarm update: election_tick ({election}) must be greater than "
                    f"heartbeat_tick ({heartbeat})"
                )

        await self._update_spec(patch, check=check, secrets=wanted.secrets())
        swarm = await self.inspect()
        self._log.info("swarm.updated", swarm_id=swarm.id, fields=sorted(patch))
        return swarm

    # -- internals -------------------------------------------------------------------

    async def _update_spec(
        self,
        patch: Mapping[str, Any],
        *,
        flags: Mapping[str, bool] | None = None,
        check: Callable[[dict[str, Any]], None] | None = None,
        secrets: tuple[Secret, ...] = (),
    ) -> None:
        self._engine._require_open()
        for attempt in range(_UPDATE_ATTEMPTS):
            current = await manager_request(self._engine, "GET", "swarm")
            merged = _deep_merge(current.get("Spec") or {}, patch)
            if check is not None:
                check(merged)
            params: dict[str, Any] = {"version": int(current["Version"]["Index"])}
            params.update({name: True for name, on in (flags or {}).items() if on})
            try:
                await manager_request(
                    self._engine,
                    "POST",
                    "swarm/update",
                    params=params,
                    json_body=merged,
                    secrets=secrets,
                )
                return
            except EngineAPIError as exc:
                if not _out_of_sequence(exc) or attempt == _UPDATE_ATTEMPTS - 1:
                    raise
                self._log.debug("swarm.update.retry", attempt=attempt + 1)

    def _join_spec(
        self,
        remote_addrs: str | Sequence[str] | SwarmJoinSpec,
        token: Secret | str | None,
        **options: Any,
    ) -> SwarmJoinSpec:
        given = {name: value for name, value in options.items() if value is not None}
        if isinstance(remote_addrs, SwarmJoinSpec):
            if token is not None:
                given["token"] = token
            return build_spec(SwarmJoinSpec, remote_addrs, given, "swarm join")
        if token is None:
            raise InvalidSpec("swarm join: a join token is needed (worker or manager)")
        given["remote_addrs"] = remote_addrs
        given["join_token"] = Secret(token) if isinstance(token, str) else token
        return build_spec(SwarmJoinSpec, None, given, "swarm join")

    async def _send_join(self, spec: SwarmJoinSpec, timeout: float | None) -> None:  # noqa: ASYNC109
        remotes = ", ".join(spec.remote_addrs)
        pending_hint = (
            "the engine keeps trying in the background and stays 'pending'; join again "
            "(recover=True) or leave(force=True) to stop it"
        )
        try:
            await self._engine._request(
                "POST",
                "swarm/join",
                json_body=spec.to_engine(),
                secrets=(spec.join_token,),
                # The engine answers within ~20 s on its own; None lets it.
                timeout=timeout,
            )
        except EngineTimeout as exc:
            raise JoinFailed(
                f"could not join through {remotes} within {timeout:g} s; {pending_hint}",
                engine=self._engine.url,
            ) from exc
        except AlreadyInSwarm:
            raise
        except EngineAPIError as exc:
            text = exc.explanation
            lowered = text.lower()
            if "join token" in lowered or ("token" in lowered and "invalid" in lowered):
                raise InvalidJoinToken.refine(
                    exc,
                    f"the managers at {remotes} refused the join token ({text}); it may be "
                    "rotated or belong to another swarm: read the current one with "
                    "join_tokens() on a manager",
                ) from exc
            if "timeout was reached" in lowered:
                raise JoinFailed.refine(
                    exc,
                    f"no manager answered at {remotes} before the engine gave up; "
                    f"check the addresses and that port 2377 is reachable; {pending_hint}",
                ) from exc
            raise JoinFailed.refine(exc, f"joining through {remotes} failed: {text}") from exc

    @staticmethod
    def _same_swarm(status: SwarmStatus, remote_addrs: Iterable[str]) -> bool:
        known = {normalise_remote_addr(addr) for addr in status.manager_addrs}
        if status.control_available and status.node_addr:
            known.add(normalise_remote_addr(status.node_addr))
        return any(normalise_remote_addr(addr) in known for addr in remote_addrs)

    def _already_member(self, status: SwarmStatus, doing: str) -> AlreadyInSwarm:
        if status.cluster_id:
            which = f"swarm {status.cluster_id} (as a manager)"
        else:
            managers = ", ".join(status.manager_addrs) or "unknown managers"
            which = f"a swarm managed at {managers} (as a worker)"
        return AlreadyInSwarm(
            f"cannot {doing}: the engine is already in {which}; "
            "leave it first (leave(force=True) for a manager)",
            engine=self._engine.url,
            cluster_id=status.cluster_id,
        )

    def _locked(self, what: str) -> SwarmLocked:
        return SwarmLocked(
            f"the engine is a locked swarm manager: {what} "
            "(unlock it with engine.swarm.unlock(key))",
            engine=self._engine.url,
        )

    async def _recover(self, status: SwarmStatus, recover: bool, doing: str) -> None:
        state = status.local_node_state.value
        detail = f" ({status.error})" if status.error else ""
        if not recover:
            raise JoinFailed(
                f"cannot {doing}: the engine is stuck in swarm state {state!r}{detail}; "
                "call leave(force=True) first, or pass recover=True",
                engine=self._engine.url,
            )
        self._log.warning("swarm.recovering", state=state, error=status.error)
        try:
            await self._engine._request("POST", "swarm/leave", params={"force": True}, timeout=None)
        except NotInSwarm:
            pass
        except EngineAPIError as exc:
            raise JoinFailed.refine(
                exc,
                f"cannot {doing}: the engine is stuck in swarm state {state!r}{detail} and "
                f"leaving with force failed ({exc.explanation}); restart its daemon",
            ) from exc


NodeRef = str | Node


class NodesAPI:
    """The nodes of the swarm this engine manages: ``engine.nodes``.

    Every call needs a manager (a worker raises :class:`swarmnet.NotASwarmManager`).
    Nodes are named by id, by hostname, or by a :class:`Node` already read. Changes
    are read-modify-write of the node's spec with its version: what a call does not
    mention (labels, availability, role, name) is kept as it is.

    Example::

        for node in await engine.nodes.list():
            print(node.hostname, node.role.value, node.state.value)
        await engine.nodes.set_availability("node3", "drain")
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._log = _nodes_log.bind(engine=engine.name)

    def __repr__(self) -> str:
        return f"<NodesAPI of {self._engine.name!r}>"

    async def list(
        self,
        *,
        role: NodeRole | str | None = None,
        name: str | None = None,
        labels: Mapping[str, str] | Iterable[str] | None = None,
    ) -> tuple[Node, ...]:
        """The swarm's nodes, optionally filtered by role, name/hostname, or node labels."""
        self._engine._require_open()
        filters: dict[str, list[str]] = {}
        if role is not None:
            filters["role"] = [NodeRole(role).value]
        if name is not None:
            filters["name"] = [name]
        if labels is not None:
            if isinstance(labels, Mapping):
                filters["node.label"] = [f"{key}={value}" for key, value in labels.items()]
            else:
                filters["node.label"] = list(labels)
        params = {"filters": json.dumps(filters)} if filters else None
        payload = await manager_request(self._engine, "GET", "nodes", params=params)
        return tuple(Node.model_validate(item) for item in payload or ())

    async def get(self, node: NodeRef) -> Node:
        """One node, by id, hostname or a :class:`Node` (re-read).

        Raises:
            NotFound: no such node in the swarm.
        """
        return Node.model_validate(await self._read(self._ref(node)))

    async def promote(self, node: NodeRef) -> Node:
        """Make a node a manager; returns the node as updated."""
        return await self._update(node, "promoted", role=NodeRole.MANAGER)

    async def demote(self, node: NodeRef) -> Node:
        """Make a manager a worker; returns the node as updated.

        Raises:
            SwarmError: the engine refused (the last manager cannot be demoted).
        """
        return await self._update(node, "demoted", role=NodeRole.WORKER)

    async def set_availability(self, node: NodeRef, availability: NodeAvailability | str) -> Node:
        """Set ``active``, ``pause`` or ``drain``; returns the node as updated."""
        try:
            wanted = NodeAvailability(availability)
        except ValueError:
            raise InvalidSpec(
                f"availability {availability!r}: use one of "
                + ", ".join(item.value for item in NodeAvailability)
            ) from None
        return await self._update(node, "availability_set", availability=wanted)

    async def add_labels(self, node: NodeRef, labels: Mapping[str, str]) -> Node:
        """Add or overwrite node labels; other labels stay. Returns the node as updated."""
        for key in labels:
            if not key or "=" in key:
                raise InvalidSpec(f"node label key {key!r}: must be non-empty and without '='")
        return await self._update(node, "labels_added", add_labels=dict(labels))

    async def remove_labels(self, node: NodeRef, keys: Iterable[str]) -> Node:
        """Remove node labels by key (missing keys are fine). Returns the node as updated."""
        return await self._update(node, "labels_removed", remove_labels=tuple(keys))

    async def remove(self, node: NodeRef, *, force: bool = False) -> None:
        """Remove a node from the swarm's node list.

        A node must have left (and be ``down``) unless ``force``; a manager must be
        demoted first.

        Raises:
            NotFound: no such node.
            SwarmError: the engine refused (the message says what to do).
        """
        self._engine._require_open()
        ref = self._ref(node)
        try:
            await manager_request(self._engine, "DELETE", f"nodes/{ref}", params={"force": force})
        except NotFound:
            raise
        except SwarmError:
            raise
        except EngineAPIError as exc:
            hint = (
                "demote it first"
                if "manager" in exc.explanation.lower()
                else "let it leave the swarm first, or pass force=True"
            )
            raise SwarmError.refine(
                exc, f"cannot remove node {ref!r}: {exc.explanation} ({hint})"
            ) from exc
        self._log.info("node.removed", node=ref, forced=force)

    # -- internals -------------------------------------------------------------------

    async def _read(self, ref: str) -> dict[str, Any]:
        try:
            payload: dict[str, Any] = await manager_request(self._engine, "GET", f"nodes/{ref}")
        except NotFound as exc:
            raise NotFound.refine(
                exc, f"no node {ref!r} in this swarm (list them with engine.nodes.list())"
            ) from exc
        return payload

    @staticmethod
    def _ref(node: NodeRef) -> str:
        ref = node.id if isinstance(node, Node) else str(node).strip()
        if not ref or "/" in ref:
            raise InvalidSpec(f"node reference {ref!r}: give a node id or hostname")
        return ref

    async def _update(
        self,
        node: NodeRef,
        event: str,
        *,
        role: NodeRole | None = None,
        availability: NodeAvailability | None = None,
        add_labels: Mapping[str, str] | None = None,
        remove_labels: Iterable[str] = (),
    ) -> Node:
        self._engine._require_open()
        ref = self._ref(node)
        removing = tuple(remove_labels)
        node_id = ref
        for attempt in range(_UPDATE_ATTEMPTS):
            raw = await self._read(node_id)
            node_id = str(raw["ID"])
            spec = copy.deepcopy(raw.get("Spec") or {})
            if role is not None:
                spec["Role"] = role.value
            if availability is not None:
                spec["Availability"] = availability.value
            if add_labels or removing:
                labels = dict(spec.get("Labels") or {})
                labels.update(add_labels or {})
                for key in removing:
                    labels.pop(key, None)
                spec["Labels"] = labels
            try:
                await manager_request(
                    self._engine,
                    "POST",
                    f"nodes/{node_id}/update",
                    params={"version": int(raw["Version"]["Index"])},
                    json_body=spec,
                )
                break
            except EngineAPIError as exc:
                if _out_of_sequence(exc) and attempt < _UPDATE_ATTEMPTS - 1:
                    self._log.debug("node.update.retry", node=ref, attempt=attempt + 1)
                    continue
                if isinstance(exc, SwarmError):
                    raise
                raise SwarmError.refine(
                    exc, f"cannot update node {ref!r}: {exc.explanation}"
                ) from exc
        updated = Node.model_validate(await self._read(node_id))
        self._log.info(f"node.{event}", node=updated.id, hostname=updated.hostname)
        return updated
