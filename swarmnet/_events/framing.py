"""Incremental framing of a stream of JSON values, safe at any chunk boundary.

The engine writes one compact JSON object per event followed by a newline, and
flushes each as its own HTTP chunk; the transport hands them over as they arrive,
so one read may hold several events, part of one, or an event and a half. Framing by
``readline()`` hangs when a value arrives without its newline (aiodocker issue 405);
framing by decoding the whole buffer on every chunk costs a full parse per value.

:class:`JSONFramer` does both jobs once: newlines mark the likely end of a value
(compact JSON never holds a raw newline inside a value), each candidate is handed to
the caller's ``decode`` (which parses it, once), and only when a candidate turns out
not to be exactly one JSON value (several values on a line, a value spread over
lines, a value with no newline after it) does it fall back to
``json.JSONDecoder.raw_decode`` to find the real boundaries.

A chunk is cut into candidates with one ``bytes.split`` (a busy engine puts hundreds
of events in one read); the line-by-line walk runs only when a candidate was not
one value.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

#: The largest single value the framer holds before giving up on the stream (an engine
#: event is a few hundred bytes; a runaway buffer means the stream is not JSON).
DEFAULT_MAX_FRAME = 4 * 1024 * 1024

_WHITESPACE = b" \t\r\n"
_CLOSERS = (ord("}"), ord("]"))
_raw_decode = json.JSONDecoder().raw_decode


class FramingError(ValueError):
    """The stream is not a sequence of JSON values (or one value grew past the limit)."""


class NotJSON(ValueError):
    """Raised by a ``decode`` function when its input is not one complete JSON value.

    The framer then looks for the real value boundaries itself. Any other exception
    from ``decode`` propagates unchanged.
    """


class JSONFramer(Generic[T]):
    """Turns arbitrary byte chunks into decoded JSON values, in order.

    Args:
        decode: parses one JSON text (bytes) into a value; raises :class:`NotJSON`
            when the text is not exactly one complete JSON value.
        max_frame: bytes a single unfinished value may occupy before
            :class:`FramingError` is raised.

    Example::

        framer = JSONFramer(lambda b: json.loads(b))
        framer.feed(b'{"a": 1}\\n{"b"')   # -> [{'a': 1}]
        framer.feed(b": 2}")               # -> [{'b': 2}] (no newline needed)
    """

    __slots__ = ("_buffer", "_decode", "_max_frame", "_resyncing", "skipped")

    def __init__(self, decode: Callable[[bytes], T], *, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self._decode = decode
        self._max_frame = max_frame
        #: Complete lines dropped because they can never be JSON; the values around
        #: them, in the same chunk or not, are still delivered.
        self.skipped = 0
        self._buffer = b""
        self._resyncing = False

    def discard(self) -> None:
        """Bytes were lost: drop the unfinished value and skip to the next line.

        The next chunk may start inside a value; everything up to its first newline is
        skipped (the engine ends every value with one).
        """
        self._buffer = b""
        self._resyncing = True

    @property
    def pending(self) -> int:
        """Bytes received that do not yet form a complete value."""
        return len(self._buffer)

    def feed(self, chunk: bytes) -> list[T]:
        """Add a chunk; return the values it completed (possibly none)."""
        if self._resyncing:
            newline = chunk.find(b"\n")
            if newline < 0:
                return []
            chunk = chunk[newline + 1 :]
            self._resyncing = False
        buffer = self._buffer + chunk if self._buffer else chunk
        decode = self._decode
        # The common case, every line one value: one split, one decode per line.
        lines = buffer.split(b"\n")
        tail = lines.pop()  # after the last newline: b"" when the chunk ends with one
        try:
            out = [decode(line) for line in lines if line]
        except NotJSON:
            pass  # a blank-ish line, or a value that is not alone on its line: walk
        else:
            if not tail:
                self._buffer = b""
                return out
            return self._rest(buffer, len(buffer) - len(tail), out)
        out = []
        start = 0
        find = buffer.find
        while True:
            end = find(b"\n", start)
            if end < 0:
                break
            if end - start > 1 or (end > start and buffer[start] not in _WHITESPACE):
                try:
                    out.append(decode(buffer[start:end]))
                except NotJSON:
                    kept = len(out)
                    try:
                        resumed = self._slow(buffer, start, out, final=False)
                    except FramingError:
                        # A whole line that can never be JSON: drop that line alone
                        # (and what was read from it), and go on with the next one.
                        del out[kept:]
                        self.skipped += 1
                        start = end + 1
                        continue
                    if resumed == start:
                        break  # an unfinished value spread over lines: wait for more
                    start = resumed
                    continue
            start = end + 1
        return self._rest(buffer, start, out)

    def _rest(self, buffer: bytes, start: int, out: list[T]) -> list[T]:
        """Deal with what follows the last complete line (from ``start``); return ``out``."""
        if start < len(buffer):
            tail = buffer[start:].rstrip(_WHITESPACE)
            # A value whose newline has not come (or never will): deliver it now when
            # it ends like a complete object or array, instead of waiting (issue 405).
            if tail and tail[-1] in _CLOSERS:
                start = self._slow(buffer, start, out, final=False)
        rest = buffer[start:]
        if len(rest) > self._max_frame:
            self._buffer = b""
            raise FramingError(
                f"a JSON value in the stream grew past {self._max_frame} bytes without ending"
            )
        self._buffer = rest
        return out

    def close(self) -> list[T]:
        """The stream ended: return what is left, or raise :class:`FramingError`."""
        buffer, self._buffer = self._buffer, b""
        out: list[T] = []
        if buffer.strip(_WHITESPACE):
            end = self._slow(buffer, 0, out, final=True)
            if buffer[end:].strip(_WHITESPACE):
                raise FramingError(
                    f"the stream ended inside a JSON value: {buffer[end : end + 80]!r}"
                )
        return out

    def _slow(self, buffer: bytes, start: int, out: list[T], *, final: bool) -> int:
        """Decode every complete value from ``start`` with raw_decode; return where it stopped.

        Whitespace between values is consumed. Stops before a value that is still
        unfinished (more bytes may come) unless ``final``, and raises
        :class:`FramingError` on bytes that can never be JSON.
        """
        try:
            text = buffer[start:].decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.reason != "unexpected end of data" or final:
                raise FramingError(f"the stream is not UTF-8: {exc}") from exc
            # A multi-byte character split by the chunk boundary: frame what is whole.
            text = buffer[start : start + exc.start].decode("utf-8")
        length = len(text)
        position = 0  # characters of ``text`` dealt with
        consumed = start  # the same point, as a byte offset into ``buffer``
        while True:
            skipped = position
            while position < length and text[position] in " \t\r\n":
                position += 1
            consumed += position - skipped  # whitespace is one byte per character
            if position >= length:
                return consumed
            try:
                _value, end = _raw_decode(text, position)
            except json.JSONDecodeError as exc:
                if _unfinished(exc):
                    if not final:
                        return consumed  # the value continues in a later chunk
                    raise FramingError(
                        f"the stream ended inside a JSON value: {text[position : position + 80]!r}"
                    ) from exc
                raise FramingError(
                    f"the stream holds something that is not JSON at byte {consumed}: "
                    f"{text[position : position + 80]!r}"
                ) from exc
            if end >= length and not final and text[position] not in '{["':
                # A bare number or literal at the very end may still grow ("12" -> "123").
                return consumed
            piece = text[position:end].encode("utf-8")
            try:
                out.append(self._decode(piece))
            except NotJSON as exc:
                raise FramingError(f"a JSON value could not be decoded: {exc}") from exc
            consumed += len(piece)
            position = end


_LITERALS = ("true", "false", "null")


def _unfinished(exc: json.JSONDecodeError) -> bool:
    """Whether more input could still complete the value raw_decode stopped in."""
    rest = exc.doc[exc.pos :]
    if exc.pos >= len(exc.doc) - 1 or exc.msg.startswith("Unterminated string"):
        return True
    # A literal cut short ("tr") is reported where it starts, not at the end.
    return any(literal.startswith(rest) for literal in _LITERALS)
