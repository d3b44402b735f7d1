"""Where an engine is and how to reach it: addresses and TLS, as the docker CLI reads them.

Nothing here opens a connection; :mod:`swarmnet._core.docker_transport` does. Everything
here runs before the first byte is sent, so a bad address or a missing certificate is an
:class:`~swarmnet.InvalidSpec` (or its :class:`~swarmnet.errors.TLSConfigError`), never a
connection error.

The docker CLI's conventions:

- the address: explicit, else ``DOCKER_HOST``, else ``unix:///var/run/docker.sock``;
- TLS for ``tcp://``: on when ``DOCKER_TLS_VERIFY`` is set to anything but the empty
  string, ``0`` included, as for the docker CLI (verify the engine), or ``DOCKER_TLS``
  is (encrypt, do not verify); ``https://`` always means TLS;
- certificates: ``ca.pem``, ``cert.pem``, ``key.pem`` in ``DOCKER_CERT_PATH``, else in
  ``~/.docker``.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

from swarmnet._core.errors import InvalidSpec, TLSConfigError

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
#: The port of an ``https://`` address that names none (the engine's TLS port by convention).
DEFAULT_TLS_PORT = 2376

#: What :func:`parse_address` takes, for error messages.
ACCEPTED_FORMS = (
    "unix:///path/to/docker.sock, tcp://host:port, https://host:port, "
    "ssh://user@host[:port], a bare /path (a unix socket) or host:port (tcp)"
)


@dataclass(frozen=True)
class TLSConfig:
    """Client TLS for a ``tcp://`` engine, as ``DOCKER_CERT_PATH`` lays it out.

    Attributes:
        ca_cert: CA bundle that signed the engine's certificate (``ca.pem``); None
            trusts the system's CAs.
        client_cert: this client's certificate (``cert.pem``).
        client_key: this client's key (``key.pem``).
        verify: check the engine's certificate against ``ca_cert`` (and its name).

    Example::

        tls = swarmnet.TLSConfig.from_cert_path("~/.docker/prod")
        async with swarmnet.Engine("tcp://10.0.0.5:2376", tls=tls) as engine: ...
    """

    ca_cert: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    verify: bool = True

    @classmethod
    def from_cert_path(cls, cert_path: str | Path, *, verify: bool = True) -> TLSConfig:
        """Read ``ca.pem``, ``cert.pem`` and ``key.pem`` from one directory.

        Raises:
            TLSConfigError: the directory does not exist (the message names it).
        """
        base = Path(cert_path).expanduser()
        if not base.is_dir():
            raise TLSConfigError(
                f"the TLS certificate directory {base} does not exist; point "
                "DOCKER_CERT_PATH (or TLSConfig.from_cert_path) at the directory holding "
                "ca.pem, cert.pem and key.pem",
                path=str(base),
            )
        return cls(base / "ca.pem", base / "cert.pem", base / "key.pem", verify)

    def ssl_context(self) -> ssl.SSLContext:
        """An ``ssl.SSLContext`` for these files.

        Raises:
            TLSConfigError: a file is missing, unreadable, or not a certificate/key (the
                message names the file; it never quotes the key).
        """
        for path in (self.ca_cert if self.verify else None, self.client_cert, self.client_key):
            if path is not None and not path.is_file():
                raise TLSConfigError(
                    f"TLS file {path} does not exist; check DOCKER_CERT_PATH or the "
                    "TLSConfig paths",
                    path=str(path),
                )
        if (self.client_cert is None) != (self.client_key is None):
            raise TLSConfigError("a client certificate needs its key, and a key its certificate")
        # Verifies the engine's certificate and name by default.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        elif self.ca_cert is not None:
            # Only the CA given, as the docker CLI does with --tlscacert (and no time
            # spent parsing the system's whole CA store).
            _load(self.ca_cert, lambda: context.load_verify_locations(cafile=str(self.ca_cert)))
        else:
            context.load_default_certs(ssl.Purpose.SERVER_AUTH)
        if self.client_cert is not None and self.client_key is not None:
            cert, key = self.client_cert, self.client_key
            _load(cert, lambda: context.load_cert_chain(str(cert), str(key)), key=key)
        return context


def _load(path: Path, load: Callable[[], object], *, key: Path | None = None) -> None:
    try:
        load()
    except (OSError, ssl.SSLError) as exc:
        # The reason only (e.g. KEY_VALUES_MISMATCH): ssl never echoes file contents.
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or "unreadable"
        what = f"{path} and {key}" if key is not None else str(path)
        raise TLSConfigError(
            f"TLS files {what} could not be loaded ({reason}); they must be PEM, and the "
            "key must belong to the certificate",
            path=str(path),
        ) from None


def _refuse(address: str, why: str, source: str) -> InvalidSpec:
    return InvalidSpec(
        f"invalid engine address {address!r}{source}: {why}; use one of {ACCEPTED_FORMS}"
    )


def _shown(address: str) -> str:
    """The address as it may appear in a message: any password in it masked."""
    try:
        parts = urlsplit(address)
    except ValueError:
        return address
    if parts.password is None:
        return address
    netloc = f"{parts.username}:***@{parts.hostname}"
    return parts._replace(netloc=netloc).geturl()


def parse_address(address: str, *, source: str = "") -> str:
    """Check an engine address and return it in canonical form.

    ``/path`` becomes ``unix:///path``, ``host:port`` and ``http://host:port`` become
    ``tcp://host:port``, ``https://host`` gets port 2376.

    Args:
        address: what the user gave.
        source: where it came from, for the message (``" (from DOCKER_HOST)"``).

    Raises:
        InvalidSpec: the address is none of :data:`ACCEPTED_FORMS` (the message names it
            and lists them).
    """
    shown = _shown(address)
    if not isinstance(address, str) or not address or address != address.strip():
        raise _refuse(shown, "it is empty or has spaces around it", source)
    if "://" not in address:
        if address.startswith("/"):
            return f"unix://{address}"
        address = f"tcp://{address}"
    try:
        parts = urlsplit(address)
        port = parts.port
    except ValueError as exc:
        raise _refuse(shown, str(exc), source) from None
    if port == 0:
        raise _refuse(shown, "port 0 is not a port one can dial", source)
    scheme = parts.scheme.lower()
    if scheme == "unix":
        path = parts.netloc + parts.path if parts.netloc else parts.path
        if not path.startswith("/") or parts.query or parts.fragment:
            raise _refuse(shown, "a unix address needs an absolute path", source)
        return f"unix://{path}"
    if scheme in ("tcp", "http", "https"):
        _check_host(parts, shown, source)
        if parts.username is not None or parts.password is not None:
            raise _refuse(shown, "a tcp address takes no user or password", source)
        if port is None:
            if scheme != "https":
                raise _refuse(shown, "the port is missing (2375 plain, 2376 with TLS)", source)
            port = DEFAULT_TLS_PORT
        return f"{'https' if scheme == 'https' else 'tcp'}://{_host(parts)}:{port}"
    if scheme == "ssh":
        _check_host(parts, shown, source)
        if parts.password is not None:
            raise _refuse(
                shown, "a password in an ssh:// address is not accepted: use keys", source
            )
        user = f"{parts.username}@" if parts.username else ""
        return f"ssh://{user}{_host(parts)}" + (f":{port}" if port is not None else "")
    raise _refuse(shown, f"unknown scheme {parts.scheme!r}", source)


def _host(parts: SplitResult) -> str:
    host = parts.hostname or ""
    return f"[{host}]" if ":" in host else host


def _check_host(parts: SplitResult, shown: str, source: str) -> None:
    if not parts.hostname:
        raise _refuse(shown, "the host is missing", source)
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise _refuse(shown, "it has a path or query after the host", source)


def resolve_address(url: str | None) -> str:
    """The engine address the way the docker CLI picks it: explicit, DOCKER_HOST, socket.

    Raises:
        InvalidSpec: the address is not one swarmnet can use (see :func:`parse_address`).
    """
    if url:
        return parse_address(url)
    from_env = os.environ.get("DOCKER_HOST")
    if from_env:
        return parse_address(from_env, source=" (from DOCKER_HOST)")
    return DEFAULT_DOCKER_HOST


def _env_flag(name: str) -> bool:
    # As the docker CLI reads it (cli/flags/options.go): set and not empty, so "0"
    # turns TLS on too; reading "0" as off would send plain HTTP where the CLI would not.
    return os.environ.get(name, "") != ""


def _cert_path() -> tuple[Path, bool]:
    """The certificate directory, and whether the user named it (DOCKER_CERT_PATH)."""
    named = os.environ.get("DOCKER_CERT_PATH")
    if named:
        return Path(named).expanduser(), True
    return Path.home() / ".docker", False


def _from_cert_path(verify: bool) -> ssl.SSLContext:
    path, named = _cert_path()
    if named:
        return TLSConfig.from_cert_path(path, verify=verify).ssl_context()
    # ~/.docker is only a default: use what of it is there, as the CLI does.
    ca, cert, key = path / "ca.pem", path / "cert.pem", path / "key.pem"
    pair = cert.is_file() and key.is_file()
    return TLSConfig(
        ca if ca.is_file() else None,
        cert if pair else None,
        key if pair else None,
        verify=verify,
    ).ssl_context()


def resolve_tls(
    address: str, tls: TLSConfig | ssl.SSLContext | bool | None
) -> ssl.SSLContext | None:
    """TLS for an engine address: explicit, or from the environment as the docker CLI does.

    ``tls`` is a :class:`TLSConfig`, an ``ssl.SSLContext``, True (certificates from
    ``DOCKER_CERT_PATH`` or ``~/.docker``, verified), False (none), or None: TLS when the
    address is ``https://`` or ``DOCKER_TLS_VERIFY``/``DOCKER_TLS`` is set.

    Raises:
        TLSConfigError: a certificate directory or file is missing or unreadable.
        InvalidSpec: TLS asked for an address that cannot carry it (``unix://``,
            ``ssh://``), or ``tls=False`` for an ``https://`` address.
    """
    over_tcp = address.startswith(("tcp://", "https://"))
    if not over_tcp:
        if tls not in (None, False):
            raise InvalidSpec(
                f"TLS settings were given for {address}, but TLS applies to tcp:// and "
                "https:// addresses only; drop tls= or use tcp://host:2376"
            )
        return None
    if tls is False:
        if address.startswith("https://"):
            raise InvalidSpec(
                f"{address} means TLS, but TLS was turned off; use tcp://… for plain HTTP"
            )
        return None
    if isinstance(tls, ssl.SSLContext):
        return tls
    if isinstance(tls, TLSConfig):
        return tls.ssl_context()
    if tls is True or _env_flag("DOCKER_TLS_VERIFY"):
        return _from_cert_path(verify=True)
    if _env_flag("DOCKER_TLS"):
        return _from_cert_path(verify=False)
    if address.startswith("https://"):
        return _from_cert_path(verify=True)
    return None


def unreachable_hint(address: str) -> str:
    """What to check when nothing answers at ``address``."""
    if address.startswith("unix://"):
        path = address[len("unix://") :]
        return (
            f"check that dockerd is running and listening on {path} "
            "and that this user may open it (root or the docker group); "
            "or set DOCKER_HOST, or run `swarmnet lab up` for local engines"
        )
    if address.startswith("ssh://"):
        return (
            "check that sshd runs there, that `ssh` with the same user and key logs in, and "
            "that the remote user may run `docker`"
        )
    return (
        "check that the engine is listening at that host and port, that no firewall "
        "is in the way, and that TLS settings (DOCKER_TLS_VERIFY, DOCKER_CERT_PATH) "
        "match the daemon's"
    )
