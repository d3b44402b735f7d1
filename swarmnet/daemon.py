"""The host side of an engine: ``daemon.json`` and commands run where the daemon runs.

The default bridge (``docker0``) is configured in ``daemon.json`` (``bip``,
``fixed-cidr``, ``mtu``, ``default-gateway``, ``dns``, ``default-address-pools``), not
through the API: :class:`DaemonBridgeConfig` validates those keys together and
:func:`merge_daemon_json` writes them atomically, keeping every other key. The probes
run commands on the daemon's host (or in its network namespace) for ``doctor``'s host
checks::

    from swarmnet.daemon import DaemonBridgeConfig, merge_daemon_json
"""

from __future__ import annotations

from swarmnet._host.daemon_config import (
    AddressPool,
    DaemonBridgeConfig,
    DaemonConfigFile,
    merge_daemon_json,
    read_daemon_json,
    write_daemon_json,
)
from swarmnet._host.probe import CommandResult, HostProbe, LocalProbe, NetnsProbe

__all__ = [
    "AddressPool",
    "CommandResult",
    "DaemonBridgeConfig",
    "DaemonConfigFile",
    "HostProbe",
    "LocalProbe",
    "NetnsProbe",
    "merge_daemon_json",
    "read_daemon_json",
    "write_daemon_json",
]
