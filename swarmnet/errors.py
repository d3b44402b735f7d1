"""Every error swarmnet raises, in one tree with one root.

All of them are here. The common catches, marked ``*`` in the tree, are at the top
level too (``swarmnet.NotFound`` is ``swarmnet.errors.NotFound``); the finer ones, which
name exactly what went wrong with a certificate, an SSH login or a swarm, are only
here (:class:`LabError` is in ``swarmnet.lab`` too)::

    from swarmnet.errors import CertificateExpired, SSHAuthFailed, SwarmLocked

The tree (``*``: also ``swarmnet.X``)::

    SwarmnetError*
    ├── InvalidSpec* (also ValueError)      bad input, refused before anything is sent
    │   └── TLSConfigError                   certificate files missing or unreadable
    ├── MissingExtra* (also ImportError)     an optional extra is not installed
    ├── EngineError*                         something about one engine
    │   ├── EngineUnreachable*               no connection; says where and what to check
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
    │   │   └── EventsLost*                  events were lost while away; re-read state
    │   ├── ServiceUpdateFailed*             a service's tasks failed, or its update paused
    │   │                                    or rolled back; carries the tasks' errors
    │   └── EngineAPIError*                  the engine answered with an error status
    │       ├── NotFound*
    │       │   ├── NetworkNotFound*
    │       │   └── ServiceNotFound*
    │       ├── Conflict*
    │       │   ├── OutOfSequence            a versioned update raced another writer
    │       │   ├── NetworkInUse*
    │       │   │   └── IngressInUse         services publish ports through ingress
    │       │   ├── AmbiguousNetwork
    │       │   └── AttachmentConflict
    │       ├── SwarmError
    │       │   ├── NotInSwarm*
    │       │   ├── NotASwarmManager*
    │       │   ├── AlreadyInSwarm*
    │       │   ├── SwarmLocked
    │       │   ├── InvalidJoinToken
    │       │   └── JoinFailed*
    │       └── DriftDetected*
    ├── StackApplyFailed*                    a stack's apply stopped; .result says what was done
    └── LabError                             the lab could not do its job (swarmnet.lab too)
"""

from __future__ import annotations

from swarmnet._core.errors import (
    AlreadyInSwarm,
    AmbiguousNetwork,
    AttachmentConflict,
    CertificateError,
    CertificateExpired,
    CertificateHostnameMismatch,
    ClientCertificateRefused,
    Conflict,
    DriftDetected,
    EngineAPIError,
    EngineError,
    EngineTimeout,
    EngineUnreachable,
    EventsLost,
    EventStreamError,
    IngressInUse,
    InvalidJoinToken,
    InvalidSpec,
    JoinFailed,
    LabError,
    MissingExtra,
    NetworkInUse,
    NetworkNotFound,
    NotAnEngine,
    NotASwarmManager,
    NotFound,
    NotInSwarm,
    OutOfSequence,
    RemoteDockerMissing,
    ServiceNotFound,
    ServiceUpdateFailed,
    SSHAuthFailed,
    SSHError,
    SSHHostKeyUnknown,
    SwarmError,
    SwarmLocked,
    SwarmnetError,
    TLSConfigError,
    TLSError,
    TLSNotOffered,
    TLSRequired,
    UnknownCertificateAuthority,
    UnsupportedEngine,
)
from swarmnet._stacks.apply import StackApplyFailed

__all__ = [
    "AlreadyInSwarm",
    "AmbiguousNetwork",
    "AttachmentConflict",
    "CertificateError",
    "CertificateExpired",
    "CertificateHostnameMismatch",
    "ClientCertificateRefused",
    "Conflict",
    "DriftDetected",
    "EngineAPIError",
    "EngineError",
    "EngineTimeout",
    "EngineUnreachable",
    "EventStreamError",
    "EventsLost",
    "IngressInUse",
    "InvalidJoinToken",
    "InvalidSpec",
    "JoinFailed",
    "LabError",
    "MissingExtra",
    "NetworkInUse",
    "NetworkNotFound",
    "NotASwarmManager",
    "NotAnEngine",
    "NotFound",
    "NotInSwarm",
    "OutOfSequence",
    "RemoteDockerMissing",
    "SSHAuthFailed",
    "SSHError",
    "SSHHostKeyUnknown",
    "ServiceNotFound",
    "ServiceUpdateFailed",
    "StackApplyFailed",
    "SwarmError",
    "SwarmLocked",
    "SwarmnetError",
    "TLSConfigError",
    "TLSError",
    "TLSNotOffered",
    "TLSRequired",
    "UnknownCertificateAuthority",
    "UnsupportedEngine",
]
