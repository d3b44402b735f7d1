"""An sshd in a node's namespace, so ``ssh://root@<node address>`` engines can be tried.

Key authentication only, with keys the lab makes (never the host's): a host key and one
client key under the node's state directory. The sshd's sessions get ``DOCKER_HOST``
set to the node's socket, so ``docker system dial-stdio`` (what an ``ssh://`` client
runs on the remote side) reaches the node's engine.
"""

from __future__ import annotations

import signal
from pathlib import Path

import anyio

from swarmnet._core.errors import LabError
from swarmnet.lab import _host
from swarmnet.lab._layout import NodeLayout
from swarmnet.lab._models import SSHAccess

SSH_PORT = 22
#: Seconds an sshd gets to accept connections after it was started.
START_LIMIT = 20.0


def ssh_dir(node: NodeLayout) -> Path:
    return node.state_dir / "ssh"


def _config_file(node: NodeLayout) -> Path:
    return ssh_dir(node) / "sshd_config"


def _sshd_pids(node: NodeLayout) -> set[int]:
    # sshd rewrites its command line into one title ("sshd: /usr/sbin/sshd -D -f … [listener]
    # …"), so its config path is looked for inside the whole line.
    marker = str(_config_file(node))
    return {
        p.pid
        for p in _host.processes()
        if p.argv and p.argv[0].startswith(("sshd", "/usr/sbin/sshd")) and marker in p.cmdline
    }


async def _keygen(path: Path, comment: str) -> None:
    if not await anyio.Path(path).exists():
        await _host.run(
            "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)
        )  # fmt: skip


async def start_sshd(node: NodeLayout, *, docker_on_path: bool = True) -> SSHAccess:
    """Start (or restart) the node's sshd; return how to reach it."""
    await stop_sshd(node)
    directory = ssh_dir(node)
    await anyio.Path(directory).mkdir(parents=True, exist_ok=True)
    host_key, client_key = directory / "host_ed25519_key", directory / "id_ed25519"
    await _keygen(host_key, f"{node.lab.name}-{node.name}-host")
    await _keygen(client_key, f"{node.lab.name}-client")
    authorized = directory / "authorized_keys"
    authorized.write_bytes(client_key.with_suffix(".pub").read_bytes())
    known_hosts = directory / "known_hosts"
    host_public = host_key.with_suffix(".pub").read_text().split()
    known_hosts.write_text(f"{node.address} {host_public[0]} {host_public[1]}\n")
    settings = {
        "ListenAddress": f"{node.address}:{SSH_PORT}",
        "HostKey": str(host_key),
        "PidFile": str(node.run_dir / "sshd.pid"),
        "AuthorizedKeysFile": str(authorized),
        "PermitRootLogin": "prohibit-password",
        "PasswordAuthentication": "no",
        "KbdInteractiveAuthentication": "no",
        "UsePAM": "no",
        # The lab's state directory is not laid out for sshd's ownership checks.
        "StrictModes": "no",
        "SetEnv": f"DOCKER_HOST={node.docker_host}",
    }
    if not docker_on_path:
        # sshd sets PATH after SetEnv, so every command is run with a PATH of nothing:
        # `docker system dial-stdio` then fails as on a host without the docker CLI.
        settings["ForceCommand"] = 'PATH=/nowhere; eval "$SSH_ORIGINAL_COMMAND"'
    _config_file(node).write_text("".join(f"{key} {value}\n" for key, value in settings.items()))
    # sshd refuses to start without its privilege separation directory.
    await anyio.Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    argv = [
        _host.tool("nsenter"), f"--net={node.netns_path}", "--",
        "/usr/sbin/sshd", "-D", "-e", "-f", str(_config_file(node)),
    ]  # fmt: skip
    with (directory / "sshd.log").open("ab") as log:
        pid = _host.spawn_daemon(argv, log=log)
    await _wait_listening(node, pid)
    return SSHAccess(
        url=f"ssh://root@{node.address}",
        identity_file=client_key,
        known_hosts=known_hosts,
    )


async def _wait_listening(node: NodeLayout, pid: int) -> None:
    try:
        with anyio.fail_after(START_LIMIT):
            while True:
                if not _host.alive(pid):
                    log = (ssh_dir(node) / "sshd.log").read_text(errors="replace")[-800:]
                    raise LabError(f"sshd of {node.lab.name}/{node.name} exited: {log}")
                try:
                    stream = await anyio.connect_tcp(str(node.address), SSH_PORT)
                except OSError:
                    await anyio.sleep(0.05)
                    continue
                await stream.aclose()
                return
    except TimeoutError as exc:
        raise LabError(
            f"sshd of {node.lab.name}/{node.name} did not listen within {START_LIMIT:g} s"
        ) from exc


async def stop_sshd(node: NodeLayout) -> None:
    """Stop the node's sshd, if it runs (its sessions end with it)."""
    pids = _sshd_pids(node)
    if not pids:
        return
    _host.send_signal(pids, signal.SIGTERM)
    stubborn = await _host.wait_gone(pids, 5.0)
    if stubborn:
        _host.send_signal(stubborn, signal.SIGKILL)
        await _host.wait_gone(stubborn, 5.0)
    (node.run_dir / "sshd.pid").unlink(missing_ok=True)
