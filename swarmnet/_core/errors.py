"""swarmnet's exception tree: one root, errors named for what went wrong.

    SwarmnetError
    ├── InvalidSpec (also ValueError)       bad input, refused before anything is sent
    │   └── TLSConfigError                   certificate files missing or unreadable
    ├── MissingExtra (also ImportError)      an optional extra is not installed
    ├── EngineError                          something about one engine
    │   ├── EngineUnreachable                no connection; says where and what to check
    │   │   ├── EngineTimeout                connected, but no answer in time
    │   │   ├── NotAnEngine                  something answers there, but not Docker
    │   │   ├── TLSError                     the TLS connection could not be made
    │   │   │   ├── TLSRequired              plain HTTP sent to a TLS port
    │   │   │   ├── TLSNotOffered            TLS sent to a plain HTTP port
    │   │   │   ├── ClientCertificateRefused the engine wants (another) client certificate
    │   │   │   └── CertificateError         the engine's certificate failed verification
    │   │   │       ├── UnknownCertificateAuthority
    │   │   │       ├── CertificateHostnameMismatch
    │   │   │       └── CertificateExpired
    │   │   └── SSHError                     the ssh:// connection could not be made
    │   │       ├── SSHAuthFailed            the server refused our keys/password
    │   │       ├── SSHHostKeyUnknown        the server's host key is not trusted
    │   │       └── RemoteDockerMissing      no usable `docker` CLI on the remote side
    │   ├── UnsupportedEngine                the engine's API is older than swarmnet needs
    │   ├── EventStreamError                 the event stream could not be read as events
    │   │   └── EventsLost                   events were lost while away; re-read state
    │   ├── ServiceUpdateFailed              a service's tasks failed, or its update paused
    │   │                                    or rolled back; carries the tasks' errors
    │   └── EngineAPIError                   the engine answered with an error status
    │       ├── NotFound
    │       │   ├── NetworkNotFound
    │       │   └── ServiceNotFound
    │       ├── Conflict
    │       │   ├── OutOfSequence            a versioned update raced another writer
    │       │   ├── NetworkInUse
    │       │   │   └── IngressInUse             services publish ports through ingress
    │       │   ├── AmbiguousNetwork
    │       │   └── AttachmentConflict
    │       ├── SwarmError
    │       │   ├── NotInSwarm
    │       │   ├── NotASwarmManager
    │       │   ├── AlreadyInSwarm
    │       │   ├── SwarmLocked
    │       │   ├── InvalidJoinToken
    │       │   └── JoinFailed
    │       └── DriftDetected
    └── LabError                             the local lab of engines could not do its job

Every error raised by a public call is one of these. Engine errors carry the engine's
address; none of them ever carries a secret (join tokens and unlock keys are redacted
before a message is built, see ``swarmnet.Secret``).
"""

from __future__ import annotations

from typing import Any, TypeVar

_APIError = TypeVar("_APIError", bound="EngineAPIError")


class SwarmnetError(Exception):
    """Root of every error swarmnet raises."""


class InvalidSpec(SwarmnetError, ValueError):
    """Input was refused before anything reached the engine.

    Also a ``ValueError``, so code that validates input generically still catches it.
    """


class LabError(SwarmnetError):
    """The local lab of engines could not be brought up, inspected or torn down."""


class EngineError(SwarmnetError):
    """Something went wrong while talking to one engine.

    Attributes:
        engine: the address of the engine (``unix:///var/run/docker.sock``, ``tcp://…``).
    """

    def __init__(self, message: str, *, engine: str = "") -> None:
        self.engine = engine
        self.message = message
        super().__init__(f"{message} (engine {engine})" if engine else message)


class EngineUnreachable(EngineError):
    """No connection to the engine could be made.

    The message names the address that was tried and what to check.
    """


class EngineTimeout(EngineUnreachable):
    """The engine did not answer within the timeout."""


class NotAnEngine(EngineUnreachable):
    """Something answers at the address, but it is not a Docker engine.

    Raised on open, when ``/version`` is missing (404) or its answer is not the
    engine's. Check the host and port: another service may hold that port.
    """


class TLSError(EngineUnreachable):
    """The TLS connection to the engine could not be made.

    The subclasses name the cause; the message says what to change (certificates,
    ``DOCKER_TLS_VERIFY``, ``DOCKER_CERT_PATH``, the address's port or scheme).
    """


class TLSRequired(TLSError):
    """The engine speaks TLS at that port, and the client sent plain HTTP.

    Turn TLS on: ``tls=True``/a :class:`swarmnet.TLSConfig`, ``https://``, or
    ``DOCKER_TLS_VERIFY=1`` with ``DOCKER_CERT_PATH``.
    """


class TLSNotOffered(TLSError):
    """The client spoke TLS to a port where the engine answers plain HTTP.

    Turn TLS off for that address (``tls=False``, unset ``DOCKER_TLS_VERIFY``), or use
    the engine's TLS port (2376 by convention).
    """


class ClientCertificateRefused(TLSError):
    """The engine demands a client certificate (``--tlsverify``) and refused ours.

    Give a client certificate and key signed by the CA the engine trusts
    (``cert.pem``/``key.pem`` in ``DOCKER_CERT_PATH``).
    """


class CertificateError(TLSError):
    """The engine's certificate failed verification; see the subclasses."""


class UnknownCertificateAuthority(CertificateError):
    """The engine's certificate is not signed by a CA the client trusts (``ca.pem``)."""


class CertificateHostnameMismatch(CertificateError):
    """The engine's certificate does not name the host or IP address that was dialled."""


class CertificateExpired(CertificateError):
    """The engine's certificate (or one in its chain) has expired or is not valid yet."""


class SSHError(EngineUnreachable):
    """An ``ssh://`` engine could not be reached through SSH."""


class SSHAuthFailed(SSHError):
    """The SSH server refused the login (no key it accepts, or a wrong user)."""


class SSHHostKeyUnknown(SSHError):
    """The SSH server's host key is not in ``~/.ssh/known_hosts``, or does not match it."""


class RemoteDockerMissing(SSHError):
    """SSH works, but the remote side has no ``docker`` CLI to run ``docker system dial-stdio``."""


class TLSConfigError(InvalidSpec):
    """TLS settings were refused before connecting: a certificate file or directory is
    missing or unreadable, or the files do not form a key pair.

    Attributes:
        path: the file or directory at fault (empty when none is).
    """

    def __init__(self, message: str, *, path: str = "") -> None:
        self.path = path
        super().__init__(message)


class MissingExtra(SwarmnetError, ImportError):
    """An optional part of swarmnet needs a package that is not installed.

    The message says which extra to install (``pip install 'swarmnet[ssh]'``).
    """


class UnsupportedEngine(EngineError):
    """The engine speaks an API version older than swarmnet supports."""


class EngineAPIError(EngineError):
    """The engine answered a request with an error status.

    Attributes:
        status: the HTTP status the engine sent.
        explanation: the engine's own message.
    """

    def __init__(
        self, message: str, *, engine: str = "", status: int = 0, explanation: str = ""
    ) -> None:
        self.status = status
        self.explanation = explanation
        super().__init__(message, engine=engine)

    @classmethod
    def refine(cls: type[_APIError], exc: EngineAPIError, message: str, **extra: Any) -> _APIError:
        """This error class for ``exc`` with a clearer message, as ``raise … from exc`` wants.

        Keeps ``exc``'s engine, status and explanation; ``extra`` goes to the class
        (``ids=``, ``containers=``…). Example::

            except NotFound as exc:
                raise NetworkNotFound.refine(exc, f"no network {ref!r} here") from exc
        """
        return cls(
            message, engine=exc.engine, status=exc.status, explanation=exc.explanation, **extra
        )


class NotFound(EngineAPIError):
    """The object asked for does not exist on this engine (HTTP 404)."""


class NetworkNotFound(NotFound):
    """No network with that name or id on this engine."""


class Conflict(EngineAPIError):
    """The request conflicts with the engine's current state (HTTP 409)."""


class OutOfSequence(Conflict):
    """A versioned update lost a race: the object changed since it was read.

    Swarm objects (services, nodes, configs, the swarm itself) are updated with the
    version they were read at; the engine refuses a stale one ("update out of
    sequence", HTTP 500 on 20.10). Read the object again and retry, or, for a lease,
    take it as "someone else wrote first".
    """


class NetworkInUse(Conflict):
    """The network still has endpoints; ``containers`` lists their names or ids."""

    def __init__(self, message: str, *, containers: tuple[str, ...] = (), **kw: Any) -> None:
        self.containers = containers
        super().__init__(message, **kw)


class AmbiguousNetwork(Conflict):
    """Several networks share the name asked for; ``ids`` lists them."""

    def __init__(self, message: str, *, ids: tuple[str, ...] = (), **kw: Any) -> None:
        self.ids = ids
        super().__init__(message, **kw)


class AttachmentConflict(Conflict):
    """A container is already attached to the network with different settings."""


class DriftDetected(EngineAPIError):
    """An existing network differs from the spec asked for; ``diff`` says how."""

    def __init__(self, message: str, *, diff: Any = None, **kw: Any) -> None:
        self.diff = diff
        super().__init__(message, **kw)


class SwarmError(EngineAPIError):
    """A swarm operation could not be done in the engine's current swarm state."""


class NotInSwarm(SwarmError):
    """The engine is not part of a swarm; init or join one first."""


class NotASwarmManager(SwarmError):
    """The operation needs a manager, and this engine is a worker (or not in a swarm)."""


class AlreadyInSwarm(SwarmError):
    """The engine is already part of a (different) swarm; ``cluster_id`` names it."""

    def __init__(self, message: str, *, cluster_id: str = "", **kw: Any) -> None:
        self.cluster_id = cluster_id
        super().__init__(message, **kw)


class SwarmLocked(SwarmError):
    """The swarm on this manager is locked; unlock it with the unlock key."""


class InvalidJoinToken(SwarmError):
    """The manager refused the join token (wrong, rotated, or for another swarm)."""


class JoinFailed(SwarmError):
    """A join did not complete (manager unreachable, timed out, or the node is stuck)."""


class IngressInUse(NetworkInUse):
    """``ingress`` cannot be re-created: services publish ports through it.

    ``services`` names them (``containers`` lists task containers still attached).
    Remove those services, or switch them to host-mode publishing, first.
    """

    def __init__(self, message: str, *, services: tuple[str, ...] = (), **kw: Any) -> None:
        self.services = services
        super().__init__(message, **kw)


class EventStreamError(EngineError):
    """The engine's event stream could not be read (it is not a sequence of JSON events)."""


class EventsLost(EventStreamError):
    """Events were lost: the stream was away longer than the engine remembers.

    The engine keeps only its last 256 events, and none across a daemon restart; a
    reader that falls a whole buffer behind loses events too. Re-read the state you
    track (``swarmnet.Watcher`` does this for networks by itself).

    Attributes:
        since_nano: the time (ns) of the last event received before the loss (0 when
            the loss was a buffer overflow).
    """

    def __init__(self, message: str, *, since_nano: int = 0, **kw: Any) -> None:
        self.since_nano = since_nano
        super().__init__(message, **kw)


class ServiceNotFound(NotFound):
    """No service with that name or id in this swarm."""


class ServiceUpdateFailed(EngineError):
    """A service did not converge: its tasks failed, or its update paused or rolled back.

    Attributes:
        service: the service's name.
        update_state: the rolling update's state (``paused``, ``rollback_completed``…),
            or ``""`` when there was none (a create).
        task_errors: the tasks' own error messages, one per failed task
            (``"<task id> on <node id>: <error>"``).
        progress: the last progress seen, as text (``"1/3 running"``).
    """

    def __init__(
        self,
        message: str,
        *,
        service: str = "",
        update_state: str = "",
        task_errors: tuple[str, ...] = (),
        progress: str = "",
        **kw: Any,
    ) -> None:
        self.service = service
        self.update_state = update_state
        self.task_errors = task_errors
        self.progress = progress
        super().__init__(message, **kw)
