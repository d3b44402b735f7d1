"""Just enough of images for a registry-less lab: inspect, import a root filesystem, remove.

swarmnet pulls nothing: the machines it is tested on reach no registry, and a
controller runs images that are already there. :meth:`ImagesAPI.import_archive` makes
an image from a tar of a root filesystem (``docker import``), which is how
:mod:`swarmnet.lab` gives every node its busybox image.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from swarmnet._core.errors import EngineAPIError, InvalidSpec, NotFound
from swarmnet._core.log import get_logger
from swarmnet._images.models import Image

if TYPE_CHECKING:
    from swarmnet._core.engine import Engine

__all__ = ["Image", "ImagesAPI"]

_log = get_logger("swarmnet.images")

# The reference grammar of distribution/reference, enough to refuse what is no image
# name before it becomes part of a URL path ("../containers/x", "a b").
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
# A first part is a registry host only with a dot or a port, or as "localhost".
_DOMAIN = rf"(?:(?:{_HOST}(?:\.{_HOST})+(?::[0-9]+)?|{_HOST}:[0-9]+|localhost)/)?"
_REPOSITORY = rf"{_DOMAIN}{_COMPONENT}(?:/{_COMPONENT})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}"
_REFERENCE = re.compile(rf"{_REPOSITORY}(?::{_TAG})?(?:@{_DIGEST})?|(?:sha256:)?[a-f0-9]{{1,64}}")
_REPOSITORY_RE = re.compile(_REPOSITORY)
_TAG_RE = re.compile(_TAG)

#: The Dockerfile instructions an import may apply (the engine refuses the others).
IMPORT_CHANGES = frozenset(
    {
        "CMD",
        "ENTRYPOINT",
        "ENV",
        "EXPOSE",
        "LABEL",
        "ONBUILD",
        "STOPSIGNAL",
        "USER",
        "VOLUME",
        "WORKDIR",
    }
)


def _check_reference(ref: str) -> str:
    if not _REFERENCE.fullmatch(ref):
        raise InvalidSpec(
            f"invalid image reference {ref!r}: give repository[:tag][@digest] "
            "(lowercase repository) or an image id"
        )
    return ref


class ImagesAPI:
    """Images on one engine, as far as a registry-less cluster needs them."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def get(self, ref: str) -> Image:
        """Inspect an image by ``repository[:tag]`` (``latest`` when no tag) or id.

        Example::

            image = await engine.images.get("swarmnet-lab/busybox")
            print(image.id, image.tags)

        Raises:
            InvalidSpec: ``ref`` is no image reference (before anything is sent).
            NotFound: this engine has no such image (swarmnet pulls nothing).
        """
        _check_reference(ref)
        try:
            payload = await self._engine._request("GET", f"images/{ref}/json")
        except NotFound as exc:
            raise NotFound.refine(
                exc,
                f"no image {ref!r} on {self._engine.name}; swarmnet pulls nothing: "
                "import it (images.import_archive) or load it there first",
            ) from exc
        return Image.from_inspect(payload)

    async def import_archive(
        self,
        data: bytes,
        *,
        repository: str,
        tag: str = "latest",
        changes: Sequence[str] = (),
        message: str = "",
    ) -> Image:
        """Make an image from a tar of a root filesystem, as ``docker import`` does.

        Args:
            data: the tar, plain or gzip-compressed.
            repository: the name to give it (an image already so named loses that
                name to the new one).
            tag: the tag to give it, with ``repository``.
            changes: Dockerfile instructions applied to its config, such as
                ``'CMD ["sh"]'`` or ``"LABEL team=net"`` (see :data:`IMPORT_CHANGES`).
                Labels are inherited by every container made from the image.
            message: the image's comment (``Image.comment``; the engine's default is
                ``"Imported from -"``).

        Returns:
            The new image.

        Example::

            image = await engine.images.import_archive(
                tar_bytes, repository="lab/tools", changes=['CMD ["sh"]']
            )

        Raises:
            InvalidSpec: empty data, an invalid repository or tag, or a change that is
                not an import instruction (before anything is sent).
            EngineAPIError: the engine could not import it (not a tar, say).
        """
        if not data:
            raise InvalidSpec("an image import needs the bytes of a tar archive")
        if not _REPOSITORY_RE.fullmatch(repository):
            raise InvalidSpec(
                f"invalid repository {repository!r}: lowercase letters, digits and "
                "separators (. _ - /), with an optional registry host first"
            )
        if not _TAG_RE.fullmatch(tag):
            raise InvalidSpec(f"invalid tag {tag!r}: up to 128 of [A-Za-z0-9_.-]")
        for change in changes:
            instruction = change.split(None, 1)[0].upper() if change.strip() else ""
            if instruction not in IMPORT_CHANGES or "\n" in change:
                raise InvalidSpec(
                    f"invalid import change {change!r}: one line starting with one of "
                    f"{', '.join(sorted(IMPORT_CHANGES))}"
                )
        params = {"fromSrc": "-", "repo": repository, "tag": tag}
        if changes:
            # The engine joins its `changes` values with newlines before parsing them.
            params["changes"] = "\n".join(changes)
        if message:
            params["message"] = message
        engine = self._engine
        raw = await engine._request(
            "POST",
            "images/create",
            params=params,
            data=bytes(data),
            headers={"Content-Type": "application/x-tar"},
            # The engine unpacks the whole archive before it answers.
            timeout=None,
            raw=True,
        )
        _raise_for_progress(raw, engine=engine.url, action=f"importing {repository}:{tag}")
        image = await self.get(f"{repository}:{tag}")
        _log.debug("image.imported", engine=engine.name, image=f"{repository}:{tag}", id=image.id)
        return image

    async def remove(self, ref: str, *, force: bool = False, missing_ok: bool = True) -> bool:
        """Remove an image (by name: that name only, the image goes with its last one).

        Args:
            force: remove it even when stopped containers use it.
            missing_ok: no error when there is no such image.

        Returns:
            True if something was removed, False if there was no such image.

        Raises:
            InvalidSpec: ``ref`` is no image reference (before anything is sent).
            NotFound: no such image and ``missing_ok`` is False.
            Conflict: a container uses it (and ``force`` is False, or it runs).
        """
        _check_reference(ref)
        try:
            await self._engine._request(
                "DELETE", f"images/{ref}", params={"force": "true" if force else "false"}
            )
        except NotFound:
            if not missing_ok:
                raise
            return False
        return True


def _raise_for_progress(raw: bytes, *, engine: str, action: str) -> None:
    # A 200 answer is a stream of JSON progress messages; a failure that comes after
    # the headers were sent is one of them ({"error": …, "errorDetail": …}).
    for line in raw.splitlines():
        try:
            message: Any = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict) and message.get("error"):
            explanation = str(message["error"])
            raise EngineAPIError(
                f"{action} failed: {explanation}",
                engine=engine,
                status=500,
                explanation=explanation,
            )
