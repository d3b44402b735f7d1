"""The lab's busybox image, and the images capability it is made with.

The image is imported on every node with ``engine.images`` (no registry), and it must
serve and fetch HTTP: ``httpd`` in one container, ``wget`` in another, by name, over a
user-defined bridge and over an attachable overlay across nodes. Debian's static
busybox 1.35 crashes on ``wget -T`` (exit 139), so the image's ``wget`` is a script
that applies the timeout itself; these tests use ``-T`` on purpose.
"""

from __future__ import annotations

import io
import tarfile
import time
import uuid

import anyio
import pytest
from _containers import Tracker, unique_prefix

import swarmnet
from swarmnet.lab import LAB_IMAGE, Lab
from swarmnet.lab._image import WGET_SCRIPT, ensure_image, image_comment, rootfs_tar

# A page the web containers serve: their hostname, so a fetch shows who answered.
SERVE = "echo hello from $(hostname) > /var/www/index.html && exec httpd -f -p 80 -h /var/www"


@pytest.fixture
def prefix() -> str:
    return unique_prefix("li")


def _tiny_tar(text: str = "hi\n") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        data = text.encode()
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


async def _fetch(
    engine: swarmnet.Engine, container: str, url: str, *, within: float = 30.0
) -> swarmnet.models.ExecResult:
    """``wget -T 2 -qO- url`` until it succeeds (the server may still be starting)."""
    result = await engine.containers.exec(container, "wget", "-T", "2", "-qO-", url)
    with anyio.move_on_after(within):
        while not result.ok:
            # 139 is the crash this image fixes: no point waiting for it to pass.
            assert result.exit_code != 139, result.output
            await anyio.sleep(0.2)
            result = await engine.containers.exec(container, "wget", "-T", "2", "-qO-", url)
    return result


# -- the image as built (no engine) ----------------------------------------------------


def test_wget_in_the_image_is_the_script_that_keeps_timeouts_working() -> None:
    with tarfile.open(fileobj=io.BytesIO(rootfs_tar())) as tar:
        member = tar.getmember("bin/wget")
        assert member.isfile()
        assert member.mode == 0o755
        script = tar.extractfile(member)
        assert script is not None
        text = script.read().decode()
    assert text == WGET_SCRIPT
    assert text.startswith("#!/bin/sh\n")
    assert "timeout -s INT" in text
    assert "busybox wget" in text


def test_the_image_comment_names_its_contents() -> None:
    assert image_comment() == image_comment()
    assert image_comment().startswith("swarmnet lab rootfs ")


# -- images on a real engine -------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.lab
async def test_every_node_holds_the_current_lab_image(lab: Lab) -> None:
    for node in lab.nodes:
        async with node.engine() as engine:
            image = await engine.images.get(LAB_IMAGE)
            assert LAB_IMAGE in image.tags
            assert image.cmd == ("sh",)
            assert image.comment == image_comment()
            assert image.labels == {}, "containers would inherit image labels"
            assert image.created is not None
            assert image.size > 1_000_000  # a static busybox
            assert (await engine.images.get("swarmnet-lab/busybox")).id == image.id


@pytest.mark.anyio
@pytest.mark.lab
async def test_import_get_and_remove_an_image(lab: Lab) -> None:
    repository = f"swarmnet-test/tiny-{uuid.uuid4().hex[:6]}"
    async with lab.nodes[0].engine() as engine:
        try:
            image = await engine.images.import_archive(
                _tiny_tar(),
                repository=repository,
                tag="t1",
                changes=['CMD ["cat", "/hello.txt"]', "LABEL team=net"],
                message="made by a test",
            )
            assert image.tags == (f"{repository}:t1",)
            assert image.cmd == ("cat", "/hello.txt")
            assert image.labels == {"team": "net"}
            assert image.comment == "made by a test"
            assert image.id.startswith("sha256:")
            assert await engine.images.get(image.id) == image
            assert await engine.images.get(f"{repository}:t1") == image
            # Without a tag, the engine looks for :latest.
            with pytest.raises(swarmnet.NotFound, match="pulls nothing"):
                await engine.images.get(repository)
        finally:
            removed = await engine.images.remove(f"{repository}:t1")
        assert removed
        with pytest.raises(swarmnet.NotFound):
            await engine.images.get(f"{repository}:t1")
        assert not await engine.images.remove(f"{repository}:t1")
        with pytest.raises(swarmnet.NotFound):
            await engine.images.remove(f"{repository}:t1", missing_ok=False)


@pytest.mark.anyio
@pytest.mark.lab
async def test_an_archive_the_engine_cannot_unpack_is_an_engine_error(lab: Lab) -> None:
    repository = f"swarmnet-test/bad-{uuid.uuid4().hex[:6]}"
    async with lab.nodes[0].engine() as engine:
        with pytest.raises(swarmnet.EngineAPIError) as caught:
            await engine.images.import_archive(b"this is no tar", repository=repository)
        assert not isinstance(caught.value, swarmnet.NotFound)
        with pytest.raises(swarmnet.NotFound):
            await engine.images.get(repository)


@pytest.mark.anyio
@pytest.mark.lab
async def test_bad_image_input_is_refused_before_anything_is_sent(lab: Lab) -> None:
    sent: list[tuple[str, str]] = []
    async with swarmnet.Engine(
        lab.nodes[0].docker_host, on_request=lambda method, path: sent.append((method, path))
    ) as engine:
        sent.clear()
        images = engine.images
        for ref in ("", "../containers/x", "Upper/case", "a b", "busybox:bad tag", "x?y"):
            with pytest.raises(swarmnet.InvalidSpec, match="invalid image reference"):
                await images.get(ref)
            with pytest.raises(swarmnet.InvalidSpec, match="invalid image reference"):
                await images.remove(ref)
        with pytest.raises(swarmnet.InvalidSpec, match="tar"):
            await images.import_archive(b"", repository="ok/name")
        with pytest.raises(swarmnet.InvalidSpec, match="invalid repository"):
            await images.import_archive(_tiny_tar(), repository="Not/Lowercase")
        with pytest.raises(swarmnet.InvalidSpec, match="invalid tag"):
            await images.import_archive(_tiny_tar(), repository="ok/name", tag="has space")
        for change in ("RUN rm -rf /", "CMD a\nRUN b", ""):
            with pytest.raises(swarmnet.InvalidSpec, match="invalid import change"):
                await images.import_archive(_tiny_tar(), repository="ok/name", changes=[change])
        assert sent == []


@pytest.mark.anyio
@pytest.mark.lab
async def test_ensure_image_replaces_a_lab_image_with_other_contents(lab: Lab) -> None:
    async with lab.nodes[-1].engine() as engine:
        repository, tag = LAB_IMAGE.rsplit(":", 1)
        stale = await engine.images.import_archive(
            _tiny_tar(), repository=repository, tag=tag, message="an older lab image"
        )
        try:
            assert (await engine.images.get(LAB_IMAGE)).id == stale.id
            assert await ensure_image(engine)
            current = await engine.images.get(LAB_IMAGE)
            assert current.id != stale.id
            assert current.comment == image_comment()
            assert not await ensure_image(engine), "an up-to-date image is left alone"
            with pytest.raises(swarmnet.NotFound):
                await engine.images.get(stale.id)  # unused, so removed
        finally:
            await engine.images.remove(stale.id, force=True)
            await ensure_image(engine)


# -- HTTP between containers ------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.lab
async def test_wget_fetches_a_page_by_name_over_a_user_bridge(
    engine: swarmnet.Engine, prefix: str, tracker: Tracker
) -> None:
    net = await engine.networks.create(swarmnet.BridgeSpec(name=f"{prefix}net"))
    await engine.containers.run(
        LAB_IMAGE,
        ["sh", "-c", SERVE],
        name=f"{prefix}web",
        hostname="webhost",
        networks=[swarmnet.EndpointConfig(network=net.name, aliases=("www",))],
    )
    tracker.containers.append((engine.url, f"{prefix}web"))
    client = await tracker.run(engine, f"{prefix}client", network=net.name)

    page = await _fetch(engine, client, f"http://{prefix}web/")
    assert page.ok, page.output
    assert page.output.strip() == "hello from webhost"
    by_alias = await _fetch(engine, client, "http://www/index.html")
    assert by_alias.output.strip() == "hello from webhost"

    missing = await engine.containers.exec(
        client, "wget", "-T", "2", "-qO-", f"http://{prefix}web/nothing-here"
    )
    assert missing.exit_code == 1
    assert "404" in missing.output
    # The same fetch in the other spellings of the timeout, and with none.
    for argv in (
        ("wget", "-qT2", "-O-"),
        ("wget", "--timeout=2", "-qO-"),
        ("wget", "-q", "--timeout", "2", "-O", "-"),
        ("wget", "-qO-"),
    ):
        again = await engine.containers.exec(client, *argv, f"http://{prefix}web/")
        assert again.ok, (argv, again.output)
        assert again.output.strip() == "hello from webhost", argv


@pytest.mark.anyio
@pytest.mark.lab
async def test_wget_timeout_ends_a_fetch_that_gets_no_answer(
    engine: swarmnet.Engine, prefix: str, tracker: Tracker
) -> None:
    net = await engine.networks.create(swarmnet.BridgeSpec(name=f"{prefix}net"))
    # Accepts every connection and never answers.
    await tracker.run(
        engine,
        f"{prefix}stall",
        network=net.name,
        cmd=("nc", "-ll", "-p", "8080", "-e", "sleep", "300"),
    )
    client = await tracker.run(engine, f"{prefix}client", network=net.name)
    # A closed port on the same container answers at once: the server is up when
    # connections to 8080 stop being refused.
    with anyio.fail_after(30):
        while True:
            started = time.monotonic()
            result = await engine.containers.exec(
                client, "wget", "-T", "1", "-qO-", f"http://{prefix}stall:8080/"
            )
            elapsed = time.monotonic() - started
            if "refused" not in result.output:
                break
            await anyio.sleep(0.2)
    assert result.exit_code == 1, result.output
    assert "timed out" in result.output
    assert 0.9 < elapsed < 10


@pytest.mark.anyio
@pytest.mark.lab
async def test_wget_fetches_a_page_across_nodes_over_an_attachable_overlay(
    swarm: swarmnet.Cluster, lab: Lab, engine: swarmnet.Engine, prefix: str, tracker: Tracker
) -> None:
    overlay = await engine.networks.create(
        swarmnet.OverlaySpec(name=f"{prefix}ov", attachable=True)
    )
    async with lab.nodes[1].engine() as worker:
        tracker.watch_networks(worker, prefix)
        await tracker.run(worker, f"{prefix}web", network=overlay.name, cmd=("sh", "-c", SERVE))
        client = await tracker.run(engine, f"{prefix}client", network=overlay.name)
        web = await worker.containers.get(f"{prefix}web")

        page = await _fetch(engine, client, f"http://{prefix}web/", within=60)
        if not page.ok:
            # Say whether the name, the path or the server was missing.
            lookup = await engine.containers.exec(client, "nslookup", f"{prefix}web")
            ping = await engine.containers.exec(
                client, "ping", "-c", "1", "-W", "2", f"{prefix}web"
            )
            pytest.fail(f"wget: {page}\nnslookup: {lookup}\nping: {ping}")
        # busybox httpd's page names the container's hostname: its short id.
        assert page.output.strip() == f"hello from {web.id[:12]}"


@pytest.mark.anyio
@pytest.mark.lab
async def test_a_node_namespace_fetches_a_page_and_its_timeout_works(
    lab: Lab, engine: swarmnet.Engine, prefix: str, tracker: Tracker
) -> None:
    """``LabNode.fetch``: from node1's own namespace to containers on its bridge, with
    the timeout that ``busybox wget -T`` on the host lacks (it crashes, exit 139)."""
    node = lab.nodes[0]
    net = await engine.networks.create(swarmnet.BridgeSpec(name=f"{prefix}net"))
    web = await tracker.run(engine, f"{prefix}web", network=net.name, cmd=("sh", "-c", SERVE))
    stall = await tracker.run(
        engine,
        f"{prefix}stall",
        network=net.name,
        cmd=("nc", "-ll", "-p", "8080", "-e", "sleep", "300"),
    )

    async def address(container: str) -> str:
        found = (await engine.networks.get(net.id)).containers[container].ipv4_address
        assert found is not None
        return str(found.ip)

    async def attempt(url: str, limit: int) -> tuple[str, float]:
        """The body, or wget's words when it failed; and the seconds it took."""
        started = time.monotonic()
        try:
            body = await node.fetch(url, timeout=limit)
        except swarmnet.lab.LabError as exc:
            body = f"failed: {exc}"
        return body, time.monotonic() - started

    web_url = f"http://{await address(web)}/"
    with anyio.fail_after(30):
        page, _ = await attempt(web_url, 2)
        while page.startswith("failed"):  # the server may still be starting
            assert "139" not in page, page
            await anyio.sleep(0.2)
            page, _ = await attempt(web_url, 2)
    assert page.strip().startswith("hello from ")
    with pytest.raises(swarmnet.lab.LabError, match="404"):
        await node.fetch(f"{web_url}nothing-here", timeout=2)

    stall_url = f"http://{await address(stall)}:8080/"
    with anyio.fail_after(30):
        stalled, elapsed = await attempt(stall_url, 1)
        while "refused" in stalled:  # nc is not listening yet
            await anyio.sleep(0.2)
            stalled, elapsed = await attempt(stall_url, 1)
    assert "timed out" in stalled, stalled
    assert 0.9 < elapsed < 10
    with pytest.raises(swarmnet.lab.LabError, match="1 second or more"):
        await node.fetch(web_url, timeout=0)
