"""doctor: what keeps swarm traffic from flowing, as typed findings.

``report`` holds the models, ``facts`` reads engines and hosts once, ``checks`` and
``ports`` turn facts into findings, ``doctor`` runs them.
"""

from swarmnet._doctor.doctor import doctor
from swarmnet._doctor.report import (
    DoctorReport,
    Finding,
    FindingKind,
    PortCheck,
    PortStatus,
    Severity,
)

__all__ = [
    "DoctorReport",
    "Finding",
    "FindingKind",
    "PortCheck",
    "PortStatus",
    "Severity",
    "doctor",
]
