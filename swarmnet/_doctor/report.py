"""What :func:`swarmnet.doctor` returns: findings, port checks, and the report holding them."""

from __future__ import annotations

import enum
from typing import Literal

from pydantic import BaseModel, ConfigDict


def plural(count: int, word: str, many: str | None = None) -> str:
    """``"1 warning"``, ``"3 warnings"``: a count with its noun in the right number."""
    return f"{count} {word if count == 1 else many or word + 's'}"


class Severity(str, enum.Enum):
    """How much a finding matters."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        """0 for info, 1 for warning, 2 for error (for sorting and thresholds)."""
        return ("info", "warning", "error").index(self.value)


class FindingKind(str, enum.Enum):
    """What a finding is about; stable names, safe to match on."""

    SUBNET_OVERLAP = "subnet-overlap"
    MTU_MISMATCH = "mtu-mismatch"
    IP_FORWARDING_OFF = "ip-forwarding-off"
    FORWARD_DROP = "forward-drop"
    DEFAULT_BRIDGE_CONTAINERS = "default-bridge-containers"
    SWARM_PORT_UNREACHABLE = "swarm-port-unreachable"
    OVERLAY_PEERS_MISSING = "overlay-peers-missing"
    STALE_SWARM_NETWORK = "stale-swarm-network"
    IPVS_MISSING = "ipvs-missing"
    ESP_MISSING = "esp-missing"
    ENGINE_UNREACHABLE = "engine-unreachable"
    NOT_CHECKED = "not-checked"


class Finding(BaseModel):
    """One thing doctor noticed.

    Attributes:
        kind: what it is about.
        severity: how much it matters.
        engine: the engine (by name) it was seen on.
        seen: what was seen, with the values involved.
        action: what to do about it.
        subjects: the networks, containers, interfaces or ports involved.
    """

    model_config = ConfigDict(frozen=True)

    kind: FindingKind
    severity: Severity
    engine: str
    seen: str
    action: str
    subjects: tuple[str, ...] = ()

    def __str__(self) -> str:
        head = f"[{self.severity.value}] {self.engine}: {self.kind.value}"
        return f"{head}: {self.seen} -> {self.action}"


class PortStatus(str, enum.Enum):
    """The outcome of trying one swarm port from one node to another."""

    REACHABLE = "reachable"  # a TCP connection was made
    REFUSED = "refused"  # nothing listens there (TCP reset, or ICMP port unreachable)
    UNREACHABLE = "unreachable"  # no route to the node, or the node did not answer ARP
    NO_ANSWER = "no-answer"  # TCP: nothing came back in time (dropped on the way?)
    UNCONFIRMED = "unconfirmed"  # UDP: no error came back, which is all UDP can tell
    NOT_CHECKED = "not-checked"  # the probe could not run


class PortCheck(BaseModel):
    """One port tried from one node's namespace to another node.

    Attributes:
        source: the engine (by name) the check ran from.
        target: the node checked (hostname, or its address when unknown).
        address: the target's address.
        port, protocol: what was tried.
        purpose: what the port is for.
        status: the outcome; ``detail`` adds the error text.
    """

    model_config = ConfigDict(frozen=True)

    source: str
    target: str
    address: str
    port: int
    protocol: Literal["tcp", "udp"]
    purpose: str
    status: PortStatus
    detail: str = ""

    @property
    def ok(self) -> bool:
        """True unless the check shows the port cannot be reached."""
        return self.status in (PortStatus.REACHABLE, PortStatus.UNCONFIRMED)


class DoctorReport(BaseModel):
    """Everything doctor found on a set of engines.

    Attributes:
        engines: the names of the engines examined.
        findings: what was found, most severe first.
        port_checks: every swarm port tried, node to node.
    """

    model_config = ConfigDict(frozen=True)

    engines: tuple[str, ...]
    findings: tuple[Finding, ...] = ()
    port_checks: tuple[PortCheck, ...] = ()

    @property
    def ok(self) -> bool:
        """True when no finding is a warning or an error."""
        return not self.problems

    @property
    def problems(self) -> tuple[Finding, ...]:
        """The warnings and errors."""
        return tuple(f for f in self.findings if f.severity.rank >= Severity.WARNING.rank)

    def of_kind(self, kind: FindingKind | str) -> tuple[Finding, ...]:
        """The findings of one kind (``report.of_kind("subnet-overlap")``)."""
        wanted = FindingKind(kind)
        return tuple(f for f in self.findings if f.kind is wanted)

    def summary(self) -> str:
        """One line: ``"doctor: 1 error, 3 warnings on node1, node2"``."""
        where = ", ".join(self.engines)
        if not self.findings:
            return f"doctor: no findings on {where}"
        counts = {s: sum(f.severity is s for f in self.findings) for s in Severity}
        # Most severe first, as the findings are; "info" reads as uncountable.
        words = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "info"}
        shown = ", ".join(
            plural(counts[s], words[s], "info" if s is Severity.INFO else None)
            for s in sorted(Severity, key=lambda s: -s.rank)
            if counts[s]
        )
        return f"doctor: {shown} on {where}"

    def render(self) -> str:
        """A human-readable summary, one finding per paragraph, then :meth:`summary`."""
        lines = [
            f"{finding.severity.value.upper():7} {finding.engine}  {finding.kind.value}\n"
            f"        seen: {finding.seen}\n        do:   {finding.action}"
            for finding in self.findings
        ]
        return "\n".join([*lines, self.summary()])
