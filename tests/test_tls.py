"""Engines over TLS and SSH, and addresses: what is accepted, each failure a typed error.

The lab's engines listen with ``--tlsverify`` on ``tcp://<node address>:2376`` (the test
plugin brings the lab up with ``tls=True``); this process reaches them over the lab bridge.
Failures a real engine cannot be made to show (an expired or misnamed certificate, a
plain port, something that is not Docker) use small servers on 127.0.0.1. For ``ssh://``
the lab runs an sshd in node2's namespace; the client's ``~/.ssh`` is a temporary ``HOME``.
"""

from __future__ import annotations

import datetime
import importlib.util
import ipaddress
import shutil
import ssl
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from _netevents import (
    Collector,
    clean_engine,
    connect,
    create_bridge,
    disconnect,
    run_container,
    wait_for,
)
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import swarmnet
from swarmnet._core.address import parse_address
from swarmnet.lab import Lab, LabNode, SSHAccess

pytestmark = pytest.mark.anyio


# -- certificates and stand-in servers ---------------------------------------------------


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def make_pki(
    directory: Path,
    *,
    server_ip: str = "127.0.0.1",
    server_dns: str | None = None,
    expired: bool = False,
) -> Path:
    """A CA (``ca.pem``) and a server pair it signed (``server-cert.pem``/``-key.pem``).

    The server certificate names ``server_dns`` if given, else ``server_ip``; with
    ``expired`` it ended yesterday.
    """
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("test CA"))
        .issuer_name(_name("test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=10))
        .not_valid_after(now + datetime.timedelta(days=10))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    alt: x509.GeneralName = (
        x509.DNSName(server_dns) if server_dns else x509.IPAddress(ipaddress.IPv4Address(server_ip))
    )
    ends = now - datetime.timedelta(days=1) if expired else now + datetime.timedelta(days=10)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("server"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=5))
        .not_valid_after(ends)
        .add_extension(x509.SubjectAlternativeName([alt]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (directory / "server-cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, directory / "server-key.pem")
    return directory


async def _docker_like(request: web.Request) -> web.Response:
    """Answers as an engine of API 1.41 does (with the Api-Version header)."""
    headers = {"Api-Version": "1.41"}
    if request.path == "/version":
        return web.json_response(
            {"ApiVersion": "1.41", "MinAPIVersion": "1.12", "Version": "20.10"}, headers=headers
        )
    return web.json_response({"ID": "x", "Name": "stand-in"}, headers=headers)


async def _not_docker(request: web.Request) -> web.Response:
    return web.Response(status=404, text="404: Not Found")


async def _web_page(request: web.Request) -> web.Response:
    return web.Response(text="<html>hello</html>", content_type="text/html")


@asynccontextmanager
async def serve(handler: object, context: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    """An HTTP(S) server on 127.0.0.1 with ``handler`` for every GET; yields its port."""
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handler)  # type: ignore[arg-type]
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    try:
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None)
        assert sockets
        yield int(sockets[0].getsockname()[1])
    finally:
        await runner.cleanup()


def server_context(pki: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(pki / "server-cert.pem"), str(pki / "server-key.pem"))
    return context


def client_config(pki: Path) -> swarmnet.TLSConfig:
    return swarmnet.TLSConfig(ca_cert=pki / "ca.pem")


@pytest.fixture
def clean_docker_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_TLS", "DOCKER_CERT_PATH"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def tls_node(lab: Lab) -> tuple[LabNode, str, Path]:
    node = lab.nodes[0]
    assert node.tls_host is not None
    assert node.cert_path is not None
    return node, node.tls_host, node.cert_path


# -- the ways to say "TLS", each against a real TLS engine -------------------------------


@pytest.mark.lab
async def test_docker_cli_environment_opens_a_tls_engine(
    lab: Lab, clean_docker_env: pytest.MonkeyPatch
) -> None:
    node, tls_host, cert_path = tls_node(lab)
    clean_docker_env.setenv("DOCKER_HOST", tls_host)
    clean_docker_env.setenv("DOCKER_TLS_VERIFY", "1")
    clean_docker_env.setenv("DOCKER_CERT_PATH", str(cert_path))
    async with swarmnet.Engine() as engine:
        assert engine.url == tls_host
        assert (await engine.info()).name == node.name


@pytest.mark.lab
async def test_a_tls_config_opens_a_tcp_address(
    lab: Lab, clean_docker_env: pytest.MonkeyPatch
) -> None:
    node, tls_host, cert_path = tls_node(lab)
    async with swarmnet.Engine(
        tls_host, tls=swarmnet.TLSConfig.from_cert_path(cert_path)
    ) as engine:
        assert (await engine.info()).name == node.name


@pytest.mark.lab
async def test_an_ssl_context_opens_a_tcp_address(
    lab: Lab, clean_docker_env: pytest.MonkeyPatch
) -> None:
    node, tls_host, cert_path = tls_node(lab)
    context = ssl.create_default_context(cafile=str(cert_path / "ca.pem"))
    context.load_cert_chain(str(cert_path / "cert.pem"), str(cert_path / "key.pem"))
    async with swarmnet.Engine(tls_host, tls=context) as engine:
        assert (await engine.info()).name == node.name


@pytest.mark.lab
async def test_an_https_address_means_tls_with_the_cert_path(
    lab: Lab, clean_docker_env: pytest.MonkeyPatch
) -> None:
    node, _, cert_path = tls_node(lab)
    clean_docker_env.setenv("DOCKER_CERT_PATH", str(cert_path))
    # No port: https:// takes the engine's TLS port, 2376.
    async with swarmnet.Engine(f"https://{node.address}") as engine:
        assert engine.url == f"https://{node.address}:2376"
        assert (await engine.info()).name == node.name


@pytest.mark.lab
async def test_tls_is_true_reads_the_cert_path(
    lab: Lab, clean_docker_env: pytest.MonkeyPatch
) -> None:
    node, tls_host, cert_path = tls_node(lab)
    clean_docker_env.setenv("DOCKER_CERT_PATH", str(cert_path))
    async with swarmnet.Engine(tls_host, tls=True) as engine:
        assert (await engine.info()).name == node.name


@pytest.mark.lab
async def test_an_event_stream_over_tls_sees_a_bridge_come_and_go(lab: Lab) -> None:
    # Live events are read over HTTP/1.0 on the same TLS connector as requests.
    node = lab.nodes[0]
    name = f"tlsev-{uuid.uuid4().hex[:8]}"
    seen: list[str] = []
    engine = node.engine(tls=True)
    async with engine, engine.events(type="network", network=name) as events:
        await engine.networks.create(swarmnet.BridgeSpec(name=name))
        await engine.networks.remove(name)
        with anyio.fail_after(20):
            async for event in events:
                seen.append(str(event.action))
                if len(seen) == 2:
                    break
    assert seen == ["create", "destroy"]


# -- what goes wrong, each a typed error that says what to fix ----------------------------


@pytest.mark.lab
async def test_a_wrong_ca_is_an_unknown_authority(
    lab: Lab, tmp_path: Path, clean_docker_env: pytest.MonkeyPatch
) -> None:
    _, tls_host, cert_path = tls_node(lab)
    other = make_pki(tmp_path / "other")
    wrong = swarmnet.TLSConfig(
        ca_cert=other / "ca.pem",
        client_cert=cert_path / "cert.pem",
        client_key=cert_path / "key.pem",
    )
    with pytest.raises(swarmnet.errors.UnknownCertificateAuthority) as excinfo:
        async with swarmnet.Engine(tls_host, tls=wrong):
            pass
    message = str(excinfo.value)
    assert tls_host in message
    assert "ca.pem" in message
    assert isinstance(excinfo.value, swarmnet.EngineUnreachable)


@pytest.mark.lab
async def test_plain_http_to_the_tls_port_says_turn_tls_on(
    lab: Lab, clean_docker_env: pytest.MonkeyPatch
) -> None:
    _, tls_host, _ = tls_node(lab)
    with pytest.raises(swarmnet.errors.TLSRequired) as excinfo:
        async with swarmnet.Engine(tls_host):
            pass
    assert "DOCKER_TLS_VERIFY" in str(excinfo.value)
    assert excinfo.value.engine == tls_host


@pytest.mark.lab
async def test_no_client_certificate_is_refused_by_a_tlsverify_engine(
    lab: Lab, clean_docker_env: pytest.MonkeyPatch
) -> None:
    _, tls_host, cert_path = tls_node(lab)
    with pytest.raises(swarmnet.errors.ClientCertificateRefused, match=r"cert\.pem"):
        async with swarmnet.Engine(tls_host, tls=swarmnet.TLSConfig(ca_cert=cert_path / "ca.pem")):
            pass


async def test_a_missing_cert_directory_is_named_before_connecting(
    tmp_path: Path, clean_docker_env: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "no-such-dir"
    clean_docker_env.setenv("DOCKER_TLS_VERIFY", "1")
    clean_docker_env.setenv("DOCKER_CERT_PATH", str(missing))
    # A closed port on loopback: a connection attempt would be EngineUnreachable instead.
    with pytest.raises(swarmnet.errors.TLSConfigError) as excinfo:
        swarmnet.Engine("tcp://127.0.0.1:9")
    assert str(missing) in str(excinfo.value)
    assert excinfo.value.path == str(missing)
    assert isinstance(excinfo.value, swarmnet.InvalidSpec)
    with pytest.raises(swarmnet.errors.TLSConfigError, match="no-such-dir"):
        swarmnet.TLSConfig.from_cert_path(missing)


async def test_a_missing_or_bad_cert_file_is_named(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    config = swarmnet.TLSConfig(ca_cert=pki / "ca.pem", client_cert=pki / "nope.pem",
                                client_key=pki / "server-key.pem")  # fmt: skip
    with pytest.raises(swarmnet.errors.TLSConfigError, match=r"nope\.pem"):
        swarmnet.Engine("tcp://127.0.0.1:9", tls=config)
    (tmp_path / "garbage.pem").write_text("not a certificate")
    garbage = swarmnet.TLSConfig(ca_cert=tmp_path / "garbage.pem")
    with pytest.raises(swarmnet.errors.TLSConfigError, match=r"garbage\.pem"):
        swarmnet.Engine("tcp://127.0.0.1:9", tls=garbage)
    # A key that is not the certificate's: refused, and the key's bytes are never shown.
    other = make_pki(tmp_path / "other")
    mismatched = swarmnet.TLSConfig(client_cert=pki / "server-cert.pem",
                                    client_key=other / "server-key.pem")  # fmt: skip
    with pytest.raises(swarmnet.errors.TLSConfigError) as excinfo:
        swarmnet.Engine("tcp://127.0.0.1:9", tls=mismatched)
    key_text = (other / "server-key.pem").read_text()
    assert key_text.splitlines()[1] not in str(excinfo.value)


async def test_an_expired_certificate_says_renew_it(tmp_path: Path) -> None:
    pki = make_pki(tmp_path, expired=True)
    async with serve(_docker_like, server_context(pki)) as port:
        with pytest.raises(swarmnet.errors.CertificateExpired, match="renew"):
            async with swarmnet.Engine(f"tcp://127.0.0.1:{port}", tls=client_config(pki)):
                pass


async def test_a_certificate_for_another_name_is_a_hostname_mismatch(tmp_path: Path) -> None:
    pki = make_pki(tmp_path, server_dns="elsewhere.invalid")
    async with serve(_docker_like, server_context(pki)) as port:
        with pytest.raises(swarmnet.errors.CertificateHostnameMismatch) as excinfo:
            async with swarmnet.Engine(f"tcp://127.0.0.1:{port}", tls=client_config(pki)):
                pass
    assert "127.0.0.1" in str(excinfo.value)


async def test_the_stand_in_tls_server_works_with_the_right_certificate(tmp_path: Path) -> None:
    # The control for the two tests above: only the certificate's flaw makes them fail.
    pki = make_pki(tmp_path)
    async with serve(_docker_like, server_context(pki)) as port:
        engine = swarmnet.Engine(f"tcp://127.0.0.1:{port}", tls=client_config(pki))
        async with engine:
            assert (await engine.info()).name == "stand-in"


async def test_tls_to_a_plain_port_says_turn_tls_off(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    async with serve(_docker_like) as port:
        with pytest.raises(swarmnet.errors.TLSNotOffered, match="2376"):
            async with swarmnet.Engine(f"tcp://127.0.0.1:{port}", tls=client_config(pki)):
                pass
        async with swarmnet.Engine(f"tcp://127.0.0.1:{port}") as engine:
            assert (await engine.info()).name == "stand-in"


@pytest.mark.parametrize("handler", [_not_docker, _web_page], ids=["404", "web-page"])
async def test_a_server_that_is_not_docker_is_not_an_engine(
    handler: object, clean_docker_env: pytest.MonkeyPatch
) -> None:
    async with serve(handler) as port:
        with pytest.raises(swarmnet.errors.NotAnEngine) as excinfo:
            async with swarmnet.Engine(f"tcp://127.0.0.1:{port}"):
                pass
    assert "not a Docker engine" in str(excinfo.value)
    assert isinstance(excinfo.value, swarmnet.EngineUnreachable)


async def test_a_closed_port_is_unreachable_not_a_tls_error() -> None:
    with pytest.raises(swarmnet.EngineUnreachable) as excinfo:
        async with swarmnet.Engine("tcp://127.0.0.1:9", timeout=5):
            pass
    assert not isinstance(excinfo.value, swarmnet.errors.TLSError)
    assert "tcp://127.0.0.1:9" in str(excinfo.value)


# -- addresses ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("unix:///var/run/docker.sock", "unix:///var/run/docker.sock"),
        ("/run/x/docker.sock", "unix:///run/x/docker.sock"),
        ("tcp://10.0.0.5:2375", "tcp://10.0.0.5:2375"),
        ("10.0.0.5:2376", "tcp://10.0.0.5:2376"),
        ("http://node-a:2375", "tcp://node-a:2375"),
        ("https://node-a", "https://node-a:2376"),
        ("https://node-a:12376", "https://node-a:12376"),
        ("ssh://root@node-a", "ssh://root@node-a"),
        ("ssh://root@node-a:2222", "ssh://root@node-a:2222"),
        ("[::1]:2375", "tcp://[::1]:2375"),
    ],
)
def test_accepted_addresses_in_canonical_form(given: str, canonical: str) -> None:
    assert parse_address(given) == canonical


@pytest.mark.parametrize(
    "address",
    [
        "node1",
        "garbage",
        "tcp://node1",
        "tcp://:2375",
        "tcp://node1:99999",
        "tcp://node1:0",
        "tcp://node1:2375/v1.41",
        "unix://relative.sock",
        "npipe:////./pipe/docker_engine",
        "ftp://node1:21",
        " tcp://node1:2375",
    ],
)
def test_a_bad_address_is_invalid_spec_naming_it_and_the_accepted_forms(address: str) -> None:
    with pytest.raises(swarmnet.InvalidSpec) as excinfo:
        swarmnet.Engine(address)
    message = str(excinfo.value)
    assert repr(address) in message
    for form in ("unix:///", "tcp://host:port", "https://host:port", "ssh://user@host"):
        assert form in message


def test_a_bad_docker_host_says_where_it_came_from(clean_docker_env: pytest.MonkeyPatch) -> None:
    clean_docker_env.setenv("DOCKER_HOST", "garbage")
    with pytest.raises(swarmnet.InvalidSpec, match=r"'garbage' \(from DOCKER_HOST\)"):
        swarmnet.Engine()


def test_a_password_in_an_ssh_address_is_refused_and_never_shown() -> None:
    with pytest.raises(swarmnet.InvalidSpec) as excinfo:
        swarmnet.Engine("ssh://root:hunter2@node-a")
    assert "hunter2" not in str(excinfo.value)
    assert "use keys" in str(excinfo.value)


def test_tls_for_a_unix_socket_or_plain_https_is_refused() -> None:
    with pytest.raises(swarmnet.InvalidSpec, match="tcp://"):
        swarmnet.Engine("unix:///var/run/docker.sock", tls=True)
    with pytest.raises(swarmnet.InvalidSpec, match="means TLS"):
        swarmnet.Engine("https://node-a:2376", tls=False)


def test_the_cli_reports_a_bad_docker_host_in_one_line() -> None:
    env = {"DOCKER_HOST": "garbage", "PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path)}
    result = subprocess.run(
        [sys.executable, "-m", "swarmnet", "net", "ls"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "invalid engine address 'garbage' (from DOCKER_HOST)" in result.stderr


# -- ssh -------------------------------------------------------------------------------------


async def test_ssh_without_asyncssh_says_which_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "asyncssh" else real(name, *a),
    )
    with pytest.raises(swarmnet.MissingExtra, match=r"pip install 'swarmnet\[ssh\]'"):
        async with swarmnet.Engine("ssh://root@127.0.0.1:9"):
            pass


@pytest.fixture
async def sshd(lab: Lab) -> AsyncIterator[tuple[LabNode, SSHAccess]]:
    """An sshd on node2 (key auth as root; sessions reach node2's engine)."""
    node = lab.nodes[1]
    access = await node.start_sshd()
    try:
        yield node, access
    finally:
        await node.stop_sshd()


def ssh_home(
    monkeypatch: pytest.MonkeyPatch, home: Path, *, key: Path | None, known_hosts: Path | None
) -> None:
    """Make ``home`` this process's HOME, with ``key`` and ``known_hosts`` in its .ssh."""
    (home / ".ssh").mkdir(parents=True)
    if key is not None:
        shutil.copy(key, home / ".ssh" / "id_ed25519")
    if known_hosts is not None:
        shutil.copy(known_hosts, home / ".ssh" / "known_hosts")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)


@pytest.mark.lab
async def test_an_ssh_engine_pings_informs_and_streams_events(
    sshd: tuple[LabNode, SSHAccess],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    clean_docker_env: pytest.MonkeyPatch,
) -> None:
    node, access = sshd
    ssh_home(monkeypatch, tmp_path, key=access.identity_file, known_hosts=access.known_hosts)
    name = f"sshev-{uuid.uuid4().hex[:8]}"
    async with swarmnet.Engine(access.url) as engine:
        assert engine.url == f"ssh://root@{node.address}"
        assert await engine.ping() is True
        assert (await engine.info()).name == node.name
        async with engine.events(type="network", network=name) as events:
            await engine.networks.create(swarmnet.BridgeSpec(name=name))
            await engine.networks.remove(name)
            seen: list[str] = []
            with anyio.fail_after(20):
                async for event in events:
                    seen.append(str(event.action))
                    if len(seen) == 2:
                        break
    assert seen == ["create", "destroy"]


async def home_with_a_stranger_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, access: SSHAccess
) -> None:
    """A ~/.ssh (under tmp_path/home) whose key the lab's sshd does not accept."""
    stranger = tmp_path / "stranger"
    await anyio.run_process(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)])
    ssh_home(monkeypatch, tmp_path / "home", key=stranger, known_hosts=access.known_hosts)


@pytest.mark.lab
async def test_ssh_with_a_key_the_server_does_not_accept_is_auth_failed(
    sshd: tuple[LabNode, SSHAccess], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, access = sshd
    await home_with_a_stranger_key(tmp_path, monkeypatch, access)
    with pytest.raises(swarmnet.errors.SSHAuthFailed, match="authorized_keys") as excinfo:
        async with swarmnet.Engine(access.url):
            pass
    assert excinfo.value.engine == access.url


@pytest.mark.lab
async def test_ssh_to_a_host_with_an_unknown_host_key_is_refused(
    sshd: tuple[LabNode, SSHAccess], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node, access = sshd
    other = tmp_path / "otherhost"
    await anyio.run_process(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)])
    wrong = tmp_path / "known_hosts"
    kind, key = (await anyio.Path(f"{other}.pub").read_text()).split()[:2]
    wrong.write_text(f"{node.address} {kind} {key}\n")
    ssh_home(monkeypatch, tmp_path / "home", key=access.identity_file, known_hosts=wrong)
    with pytest.raises(swarmnet.errors.SSHHostKeyUnknown, match="known_hosts"):
        async with swarmnet.Engine(access.url):
            pass
    # No known_hosts at all: refused before connecting, with how to add the host.
    ssh_home(monkeypatch, tmp_path / "bare", key=access.identity_file, known_hosts=None)
    with pytest.raises(swarmnet.errors.SSHHostKeyUnknown, match="ssh-keyscan"):
        async with swarmnet.Engine(access.url):
            pass


@pytest.mark.lab
async def test_ssh_to_a_host_without_docker_says_install_it_there(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = lab.nodes[1]
    access = await node.start_sshd(docker_on_path=False)
    try:
        ssh_home(monkeypatch, tmp_path, key=access.identity_file, known_hosts=access.known_hosts)
        with pytest.raises(swarmnet.errors.RemoteDockerMissing, match="install the docker CLI"):
            async with swarmnet.Engine(access.url, timeout=20):
                pass
    finally:
        await node.stop_sshd()


@pytest.mark.lab
async def test_dot_docker_is_the_cert_path_when_none_is_named(
    lab: Lab, tmp_path: Path, clean_docker_env: pytest.MonkeyPatch
) -> None:
    # DOCKER_TLS_VERIFY=1 without DOCKER_CERT_PATH: the docker CLI reads ~/.docker.
    node, tls_host, cert_path = tls_node(lab)
    shutil.copytree(cert_path, tmp_path / ".docker")
    clean_docker_env.setenv("HOME", str(tmp_path))
    clean_docker_env.setenv("DOCKER_HOST", tls_host)
    clean_docker_env.setenv("DOCKER_TLS_VERIFY", "1")
    async with swarmnet.Engine() as engine:
        assert (await engine.info()).name == node.name
    # The control: without the CA in ~/.docker the engine's certificate is not trusted.
    (tmp_path / ".docker" / "ca.pem").unlink()
    with pytest.raises(swarmnet.errors.UnknownCertificateAuthority):
        async with swarmnet.Engine():
            pass


@pytest.mark.lab
async def test_any_docker_tls_verify_value_turns_tls_on_as_in_the_docker_cli(
    lab: Lab, clean_docker_env: pytest.MonkeyPatch
) -> None:
    # The docker CLI tests DOCKER_TLS_VERIFY for being non-empty, so "0" means TLS too:
    # read as "off", a client would talk plain HTTP where the CLI insists on TLS.
    node, tls_host, cert_path = tls_node(lab)
    clean_docker_env.setenv("DOCKER_HOST", tls_host)
    clean_docker_env.setenv("DOCKER_CERT_PATH", str(cert_path))
    clean_docker_env.setenv("DOCKER_TLS_VERIFY", "0")
    async with swarmnet.Engine() as engine:
        assert (await engine.info()).name == node.name
    # Empty is unset, for the CLI as here; a cert path alone does not turn TLS on.
    clean_docker_env.setenv("DOCKER_TLS_VERIFY", "")
    with pytest.raises(swarmnet.errors.TLSRequired):
        async with swarmnet.Engine():
            pass


# -- the watcher over TLS: a kill -9 in the middle of a connect storm -------------------------

STORM_CONTAINERS = 6


@pytest.mark.lab
async def test_over_tls_a_kill_9_during_a_connect_storm_delivers_every_changed_endpoint(
    lab: Lab,
) -> None:
    """A watcher reaches node2 over TLS while another client connects and disconnects
    six containers (restart=always) on a bridge as fast as the engine lets it; dockerd
    is killed with -9 in the middle of that, then started again. The restarted daemon
    re-attaches the containers it restarts (new endpoints, no events). Every container
    whose endpoint differs from the watcher's view at the kill must come to the
    callbacks (the last of its events after the kill a connect, or a disconnect for one
    that is gone), and the cache must end equal to the engine, endpoints included,
    those the watcher had not read yet at the kill among them."""
    node = lab.nodes[1]
    prefix = f"tks-{uuid.uuid4().hex[:6]}-"
    settings = swarmnet.WatcherSettings(
        reconnect=swarmnet.ReconnectSettings(initial_delay=0.1, max_delay=0.5),
        resync=swarmnet.ResyncSettings(endpoint_read_delay=0.2, sweep_interval=None),
        stop_grace=1.0,
    )
    try:
        async with node.engine(tls=True) as engine:
            assert engine.url.endswith(":2376"), engine.url
            network_id = await create_bridge(engine, f"{prefix}br")
            containers = [
                await run_container(engine, f"{prefix}c{i}", restart="always")
                for i in range(STORM_CONTAINERS)
            ]
            watcher = swarmnet.Watcher(engine, settings=settings)
            seen = Collector()
            watcher.on(["connect", "disconnect"], network=network_id)(seen)

            def cached() -> dict[str, tuple[str, str]]:
                net = watcher.cache.get(network_id, node=engine.name)
                assert net is not None
                return {c: (e.endpoint_id, e.ipv4_address) for c, e in net.endpoints.items()} | {
                    c: ("", "") for c in net.containers - set(net.endpoints)
                }

            async def on_engine() -> dict[str, tuple[str, str]]:
                net = await engine.networks.get(network_id)
                return {
                    c: (e.endpoint_id, str(e.ipv4_address or "")) for c, e in net.containers.items()
                }

            stop, stopped = anyio.Event(), anyio.Event()

            async def storm() -> None:
                attached: set[str] = set()
                try:
                    async with node.engine(tls=True, timeout=10) as busy:
                        turn = 0
                        while not stop.is_set():
                            container = containers[turn % len(containers)]
                            turn += 1
                            try:
                                if container in attached:
                                    await disconnect(busy, network_id, container)
                                    attached.discard(container)
                                else:
                                    await connect(busy, network_id, container)
                                    attached.add(container)
                            except swarmnet.SwarmnetError:
                                await anyio.sleep(0.1)  # the daemon is gone
                finally:
                    stopped.set()

            async with watcher, anyio.create_task_group() as tg:
                tg.start_soon(storm)
                await wait_for(lambda: len(seen.events) >= 20, 60, "the storm under way")
                at_kill, mark = cached(), len(seen.events)
                await node.kill()
                stop.set()
                with anyio.fail_after(30):
                    await stopped.wait()
                await node.start()
                await wait_for(lambda: watcher.stats().node(node.name).resyncs >= 1, 60, "re-read")
                with anyio.fail_after(60):
                    while cached() != await on_engine():  # noqa: ASYNC110 - polling the engine
                        await anyio.sleep(0.1)
                after = await on_engine()
            stats = watcher.stats().node(node.name)
    finally:
        await clean_engine(node.docker_host, prefix)

    assert stats.gaps >= 1
    assert after, "the restarted daemon re-attached none of the containers"
    # An endpoint still unread at the kill (connected less than endpoint_read_delay
    # before it) counts as changed too: the restarted daemon re-made every endpoint.
    changed = {c for c in set(at_kill) | set(after) if at_kill.get(c) != after.get(c)}
    assert changed, "no endpoint changed across the kill"
    later = seen.events[mark:]
    for container in changed:
        actions = [str(e.action) for e in later if e.container_id == container]
        wanted = "connect" if container in after else "disconnect"
        assert actions[-1:] == [wanted], (container[:12], actions)
    # The re-attachments have no engine event: the watcher's re-read synthesized them.
    assert any(e.synthesized and str(e.action) == "connect" for e in later)


@pytest.mark.lab
async def test_an_ssh_failure_is_one_line_from_the_cli_with_nothing_from_aiodocker(
    sshd: tuple[LabNode, SSHAccess], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # aiodocker logs the failure at ERROR before raising it; the library stays silent
    # unless the application turns logging on, and the CLI says it once, its own way.
    _, access = sshd
    await home_with_a_stranger_key(tmp_path, monkeypatch, access)
    env = {
        "HOME": str(tmp_path / "home"),
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": ":".join(sys.path),
    }
    result = await anyio.run_process(
        [sys.executable, "-m", "swarmnet", "net", "ls", "-H", access.url], env=env, check=False
    )
    assert result.returncode != 0
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("swarmnet: error:")
    assert "refused the login" in lines[0]
