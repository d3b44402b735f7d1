"""swarmnet's loggers: quiet unless the application asks, structured when it does.

A library must not print. structlog, left unconfigured, prints every event to stdout,
so swarmnet does not hand its events to structlog unless the application configured
structlog (with ``structlog.configure``, or inside ``structlog.testing.capture_logs``).
Until then each event goes to the standard :mod:`logging` module, to the logger of the
same name (``swarmnet.engine``, ``swarmnet.events``, …): nothing shows by default (the
``swarmnet`` logger has a ``NullHandler``, as the logging HOWTO asks of libraries, so not
even warnings reach stderr through logging's last resort), and
``logging.basicConfig(level=logging.DEBUG)`` shows them all, rendered as
``event key=value …``.

The choice is made at each call, not at import, so an application may configure
logging after importing swarmnet. Event names and bound context are the same on both
paths.
"""

from __future__ import annotations

import logging
from typing import Any

import structlog

# Without it, WARNING and above would reach stderr through logging.lastResort in an
# application that configured no logging at all.
logging.getLogger("swarmnet").addHandler(logging.NullHandler())

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def _render(event: str, context: dict[str, Any]) -> str:
    if not context:
        return event
    return event + " " + " ".join(f"{key}={value!r}" for key, value in context.items())


class Logger:
    """A bound logger with structlog's calling convention: ``log.debug("event", k=v)``."""

    __slots__ = ("_context", "_name", "_stdlib")

    def __init__(self, name: str, context: dict[str, Any] | None = None) -> None:
        self._name = name
        self._context = context or {}
        self._stdlib = logging.getLogger(name)

    def __repr__(self) -> str:
        return f"<swarmnet Logger {self._name!r} {self._context!r}>"

    def bind(self, **context: Any) -> Logger:
        """A logger that adds ``context`` to every event it logs."""
        return Logger(self._name, {**self._context, **context})

    def debug(self, event: str, **fields: Any) -> None:
        self._log("debug", event, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._log("info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._log("warning", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._log("error", event, fields)

    def exception(self, event: str, **fields: Any) -> None:
        """Log at ERROR with the exception being handled."""
        if structlog.is_configured():
            structlog.get_logger(self._name).bind(**self._context).exception(event, **fields)
        elif self._stdlib.isEnabledFor(logging.ERROR):
            self._stdlib.error(
                "%s", _render(event, {**self._context, **fields}), exc_info=True, stacklevel=2
            )

    def _log(self, level: str, event: str, fields: dict[str, Any]) -> None:
        if structlog.is_configured():
            getattr(structlog.get_logger(self._name).bind(**self._context), level)(event, **fields)
            return
        number = _LEVELS[level]
        if self._stdlib.isEnabledFor(number):
            self._stdlib.log(
                number, "%s", _render(event, {**self._context, **fields}), stacklevel=3
            )


def get_logger(name: str) -> Logger:
    """The logger for one part of swarmnet; ``name`` is ``swarmnet.<part>``."""
    return Logger(name)
