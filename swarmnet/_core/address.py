"""Where an engine is and how to reach it: addresses and TLS, as the docker CLI reads them.

Nothing here opens a connection; :mod:`swarmnet._core.docker_transport` does.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"


@dataclass(frozen=True)
class TLSConfig:
    """Client TLS for a ``tcp://`` engine, as ``DOCKER_CERT_PATH`` lays it out.

    Attributes:
        ca_cert: CA bundle that signed the engine's certificate (``ca.pem``).
        client_cert: this client's certificate (``cert.pem``).
        client_key: this client's key (``key.pem``).
        verify: check the engine's certificate against ``ca_cert``.
    """

    ca_cert: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    verify: bool = True

    @classmethod
    def from_cert_path(cls, cert_path: str | Path, *, verify: bool = True) -> TLSConfig:
        """Read ``ca.pem``, ``cert.pem`` and ``key.pem`` from one directory."""
        base = Path(cert_path).expanduser()
        return cls(base / "ca.pem", base / "cert.pem", base / "key.pem", verify)

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(
            purpose=ssl.Purpose.SERVER_AUTH,
            cafile=str(self.ca_cert) if self.ca_cert and self.verify else None,
        )
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.client_cert and self.client_key:
            context.load_cert_chain(str(self.client_cert), str(self.client_key))
        return context


def resolve_address(url: str | None) -> str:
    """The engine address the way the docker CLI picks it: explicit, DOCKER_HOST, socket."""
    address = url or os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST
    if "://" not in address:
        # A bare path is a unix socket; a bare host:port is tcp (as the CLI reads them).
        address = f"unix://{address}" if address.startswith("/") else f"tcp://{address}"
    return address


def resolve_tls(
    address: str, tls: TLSConfig | ssl.SSLContext | bool | None
) -> ssl.SSLContext | None:
    """TLS for a tcp address: explicit, or from DOCKER_TLS_VERIFY/DOCKER_CERT_PATH."""
    if not address.startswith(("tcp://", "https://")) or tls is False:
        return None
    if isinstance(tls, ssl.SSLContext):
        return tls
    if isinstance(tls, TLSConfig):
        return tls.ssl_context()
    env_verify = os.environ.get("DOCKER_TLS_VERIFY", "") not in ("", "0")
    if tls is True or env_verify or address.startswith("https://"):
        cert_path = os.environ.get("DOCKER_CERT_PATH") or Path.home() / ".docker"
        return TLSConfig.from_cert_path(cert_path, verify=tls is True or env_verify).ssl_context()
    return None


def unreachable_hint(address: str) -> str:
    if address.startswith("unix://"):
        path = address[len("unix://") :]
        return (
            f"check that dockerd is running and listening on {path} "
            "and that this user may open it (root or the docker group); "
            "or set DOCKER_HOST, or run `swarmnet lab up` for local engines"
        )
    return (
        "check that the engine is listening at that host and port, that no firewall "
        "is in the way, and that TLS settings (DOCKER_TLS_VERIFY, DOCKER_CERT_PATH) "
        "match the daemon's"
    )
