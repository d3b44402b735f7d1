"""mkdocs hook: show the Sphinx roles of swarmnet's docstrings as plain code.

The docstrings name other objects as ``:class:`Network```, which mkdocstrings' Google
parser leaves as text; the reference shows the name alone, as code. ``Example::`` (a
reStructuredText literal-block marker) loses its second colon.
"""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(r":(?:class|func|meth|attr|data|exc|mod|obj|const):(<code>)")
_LITERAL = re.compile(r"(<p>[^<]*?)::</p>")


def on_page_content(html: str, **kwargs: Any) -> str:
    """Drop the role prefixes and the literal-block colons from a rendered page."""
    return _LITERAL.sub(r"\1:</p>", _ROLE.sub(r"\1", html))
