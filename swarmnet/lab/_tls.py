"""A lab's own certificate authority: server certificates for its engines, one client pair.

Made with the ``openssl`` command (present on Debian 12), EC P-256 keys (fast to make,
accepted by dockerd and Python alike). The layout follows ``DOCKER_CERT_PATH``: the
client directory holds ``ca.pem``, ``cert.pem`` and ``key.pem``, so
``DOCKER_CERT_PATH=<lab state>/tls/client`` works for the docker CLI and swarmnet alike.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import anyio

from swarmnet.lab import _host
from swarmnet.lab._layout import LabLayout, NodeLayout

#: Days the lab's certificates are valid; a lab lives for hours.
VALIDITY_DAYS = 30


async def _key(path: Path) -> None:
    await _host.run(
        "openssl", "genpkey", "-algorithm", "EC",
        "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path),
    )  # fmt: skip
    os.chmod(path, 0o600)


async def make_ca(directory: Path, subject: str) -> tuple[Path, Path]:
    """A self-signed CA in ``directory``: returns (``ca.pem``, ``ca-key.pem``)."""
    await anyio.Path(directory).mkdir(parents=True, exist_ok=True)
    cert, key = directory / "ca.pem", directory / "ca-key.pem"
    await _key(key)
    await _host.run(
        "openssl", "req", "-x509", "-new", "-key", str(key), "-out", str(cert),
        "-days", str(VALIDITY_DAYS), "-subj", f"/CN={subject}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    return cert, key


async def issue(
    ca: tuple[Path, Path],
    cert: Path,
    key: Path,
    *,
    subject: str,
    usage: str,
    ips: tuple[str, ...] = (),
) -> None:
    """Issue ``cert``/``key`` from ``ca`` for ``usage`` (serverAuth or clientAuth)."""
    cert.parent.mkdir(parents=True, exist_ok=True)
    await _key(key)
    csr = cert.with_suffix(".csr")
    extensions = cert.with_suffix(".ext")
    lines = [f"extendedKeyUsage={usage}", "keyUsage=critical,digitalSignature"]
    if ips:
        lines.append("subjectAltName=" + ",".join(f"IP:{ip}" for ip in ips))
    extensions.write_text("\n".join(lines) + "\n")
    await _host.run(
        "openssl", "req", "-new", "-key", str(key), "-out", str(csr), "-subj", f"/CN={subject}"
    )
    await _host.run(
        "openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]),
        # A random serial, not a serial file: pairs are issued concurrently.
        "-set_serial", str(secrets.randbits(63)), "-out", str(cert), "-days", str(VALIDITY_DAYS),
        "-extfile", str(extensions),
    )  # fmt: skip
    csr.unlink()
    extensions.unlink()


async def make_lab_certificates(layout: LabLayout) -> None:
    """The lab's CA, one server pair per node (its address as IP SAN), one client pair."""
    ca = await make_ca(layout.tls_dir, f"swarmnet lab {layout.name} CA")
    client = layout.client_cert_dir
    # Concurrently: each pair is a few openssl processes, most of their time startup.
    async with anyio.create_task_group() as tg:
        tg.start_soon(_issue_client, ca, client)
        for node in layout.all_nodes:
            tg.start_soon(issue_server, node, ca)


async def _issue_client(ca: tuple[Path, Path], client: Path) -> None:
    await issue(
        ca, client / "cert.pem", client / "key.pem", subject="swarmnet-lab-client",
        usage="clientAuth",
    )  # fmt: skip
    (client / "ca.pem").write_bytes(ca[0].read_bytes())


async def issue_server(node: NodeLayout, ca: tuple[Path, Path]) -> None:
    """The server certificate of one node's TCP listener."""
    await issue(
        ca, node.server_cert, node.server_key, subject=node.name, usage="serverAuth",
        ips=(str(node.address),),
    )  # fmt: skip
