"""Which verdict iptables gives a new packet in the FORWARD chain, read from ``iptables -S``.

doctor asks one question of a node's filter table: would a new connection from a Docker
bridge to the node's uplink be accepted? The rules are followed the way the kernel does
(jumps into user chains, ``RETURN``, ``-g`` gotos, the chain policy at the end of
``FORWARD``), matching only on interfaces. A rule with any other match (protocol,
address, conntrack state, …) might not apply to every packet, so it is never taken as
decisive; ``-m comment`` is not a match.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass


@dataclass
class Rule:
    """One ``-A`` line: its interface matches, its target, whether it has other matches."""

    text: str
    in_if: tuple[str, bool] | None = None
    out_if: tuple[str, bool] | None = None
    target: str = ""
    goto: bool = False
    conditional: bool = False


def parse_rules(text: str) -> tuple[dict[str, str], dict[str, list[Rule]]]:
    """Policies by chain, and each chain's rules in order, from ``iptables -S`` output."""
    policies: dict[str, str] = {}
    chains: dict[str, list[Rule]] = {}
    for line in text.splitlines():
        try:
            words = shlex.split(line)
        except ValueError:
            continue
        if len(words) >= 3 and words[0] == "-P":
            policies[words[1]] = words[2]
            chains.setdefault(words[1], [])
        elif len(words) >= 2 and words[0] == "-N":
            chains.setdefault(words[1], [])
        elif len(words) >= 2 and words[0] == "-A":
            chains.setdefault(words[1], []).append(_parse_rule(line, words[2:]))
    return policies, chains


def _parse_rule(line: str, words: list[str]) -> Rule:
    rule = Rule(text=line.strip())
    negate, i = False, 0
    while i < len(words):
        word = words[i]
        value = words[i + 1] if i + 1 < len(words) else ""
        if word == "!":
            negate, i = True, i + 1
            continue
        if word in ("-i", "--in-interface"):
            rule.in_if, i = (value, negate), i + 2
        elif word in ("-o", "--out-interface"):
            rule.out_if, i = (value, negate), i + 2
        elif word in ("-j", "--jump", "-g", "--goto"):
            rule.target, rule.goto = value, word in ("-g", "--goto")
            break  # what follows are the target's own options
        elif word == "-m" and value == "comment":
            i += 2
            if i < len(words) and words[i] == "--comment":
                i += 2
        else:
            rule.conditional, i = True, i + 1
        negate = False
    return rule


def _iface_matches(spec: tuple[str, bool] | None, device: str) -> bool:
    if spec is None:
        return True
    name, negated = spec
    hit = device.startswith(name[:-1]) if name.endswith("+") else device == name
    return hit != negated


def verdict(
    chains: dict[str, list[Rule]], chain: str, in_if: str, out_if: str, depth: int = 0
) -> tuple[str, str] | None:
    """The first decisive ``(target, rule text)`` for the packet in ``chain``.

    None when the packet falls through (for ``FORWARD``: the policy decides).
    """
    if depth > 20:
        return None
    for rule in chains.get(chain, ()):
        if rule.conditional or not rule.target:
            continue
        if not (_iface_matches(rule.in_if, in_if) and _iface_matches(rule.out_if, out_if)):
            continue
        if rule.target in ("ACCEPT", "DROP", "REJECT"):
            return rule.target, rule.text
        if rule.target == "RETURN":
            return None
        if rule.target in chains:
            result = verdict(chains, rule.target, in_if, out_if, depth + 1)
            if result is not None or rule.goto:
                return result
    return None


def forward_verdict(
    chains: dict[str, list[Rule]], in_if: str, out_if: str
) -> tuple[str, str] | None:
    """What ``FORWARD`` decides for a new packet from ``in_if`` to ``out_if`` (None: policy)."""
    return verdict(chains, "FORWARD", in_if, out_if)
