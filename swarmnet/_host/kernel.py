"""Kernel features swarm networking needs but the engine never checks: IPVS and ESP.

Without IPVS (``CONFIG_IP_VS``, module ``ip_vs``) a service's virtual IP and the routing
mesh (ports published through ``ingress``) carry no traffic, though every task runs and
every name resolves. Without ESP (``CONFIG_INET_ESP``, module ``esp4``) an encrypted
overlay is created, but its traffic between nodes is dropped. The engine reports
neither: both fail silently.

:func:`read_kernel` gathers the evidence in a node's network namespace through a
:class:`~swarmnet._host.probe.HostProbe` (``/proc/net/ip_vs`` is per namespace; loaded,
built-in and installable modules and the kernel's build config are the host's), and
:meth:`KernelEvidence.support` weighs it into one :class:`Support` per feature.
"""

from __future__ import annotations

import enum
import json
import sys

from pydantic import BaseModel, ConfigDict

from swarmnet._host.probe import HostProbe


class Support(str, enum.Enum):
    """Whether the kernel can do something, as far as the evidence tells."""

    PRESENT = "present"  # loaded, or built into the kernel
    LOADABLE = "loadable"  # a module that is installed but not loaded yet
    ABSENT = "absent"  # the kernel was built without it (and no module is installed)
    UNKNOWN = "unknown"  # nothing to tell by: no /proc/modules, no build config


class KernelFeature(BaseModel):
    """One kernel feature doctor asks about.

    Attributes:
        name: a short name for messages (``"IPVS"``).
        module: the module providing it (``"ip_vs"``).
        config: the build option enabling it (``"CONFIG_IP_VS"``).
        proc_file: a file that exists (in each network namespace) once it is loaded.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    module: str
    config: str
    proc_file: str = ""


IPVS = KernelFeature(name="IPVS", module="ip_vs", config="CONFIG_IP_VS", proc_file="net/ip_vs")
ESP = KernelFeature(name="ESP (IPsec)", module="esp4", config="CONFIG_INET_ESP")
FEATURES = (IPVS, ESP)


class KernelEvidence(BaseModel):
    """What a node's kernel showed about some modules and build options.

    Attributes:
        release: the kernel release (``uname -r``).
        proc_files: for each ``/proc/<file>`` asked about, whether it exists.
        loaded: the modules asked about that ``/proc/modules`` lists; None when there is
            no ``/proc/modules`` (a kernel without module support).
        builtin: the modules asked about that ``modules.builtin`` lists; None without it.
        installed: the modules asked about that ``modules.dep`` lists (loadable with
            ``modprobe``); None without it.
        config: the build options asked about, ``"y"``, ``"m"`` or ``"n"`` (not set);
            None when no build config could be read. An option missing from a config
            that was read is not built either (its dependencies are off).
        config_source: where the config was read (``/proc/config.gz``, ``/boot/config-…``).
    """

    model_config = ConfigDict(frozen=True)

    release: str = ""
    proc_files: dict[str, bool] = {}
    loaded: frozenset[str] | None = None
    builtin: frozenset[str] | None = None
    installed: frozenset[str] | None = None
    config: dict[str, str] | None = None
    config_source: str = ""

    def support(self, feature: KernelFeature) -> tuple[Support, str]:
        """Weigh the evidence for one feature: its :class:`Support`, and why, in words."""
        if feature.proc_file and self.proc_files.get(feature.proc_file):
            return Support.PRESENT, f"/proc/{feature.proc_file} exists"
        if self.loaded is not None and feature.module in self.loaded:
            return Support.PRESENT, f"module {feature.module} is loaded"
        if self.builtin is not None and feature.module in self.builtin:
            return Support.PRESENT, f"{feature.module} is built into the kernel"
        option = None if self.config is None else self.config.get(feature.config, "n")
        if option == "y":
            return Support.PRESENT, f"{feature.config}=y ({self.config_source})"
        if self.installed is not None and feature.module in self.installed:
            return Support.LOADABLE, f"module {feature.module} is installed but not loaded"
        if option == "m":
            return (
                Support.LOADABLE,
                f"{feature.config}=m ({self.config_source}), module {feature.module} not loaded",
            )
        if option == "n":
            return (
                Support.ABSENT,
                f"kernel {self.release} is built without it ({feature.config} is not set in "
                f"{self.config_source})",
            )
        if self.loaded is not None and self.installed is not None:
            return (
                Support.ABSENT,
                f"module {feature.module} is neither loaded nor installed (kernel {self.release})",
            )
        return Support.UNKNOWN, "no module list and no kernel build config could be read"


# Runs in the node's network namespace (nsenter changes the network only, so this host's
# interpreter and files are there). Reads {"root", "proc", "modules", "config"} from argv
# and prints a KernelEvidence as JSON; "root" lets tests point it at a made-up tree.
_KERNEL_SCRIPT = r"""
import gzip, json, os, sys
ask = json.loads(sys.argv[1])
root = ask["root"].rstrip("/")
release = os.uname().release
def read(path):
    try:
        with open(root + path, "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return None
def names(text, wanted, pick):
    if text is None:
        return None
    found = set()
    for line in text.splitlines():
        name = pick(line)
        if name:
            name = name.rsplit("/", 1)[-1].split(".ko")[0].replace("-", "_")
            if name in wanted:
                found.add(name)
    return sorted(found)
mods = set(ask["modules"])
out = {"release": release}
out["proc_files"] = {p: os.path.exists(root + "/proc/" + p) for p in ask["proc"]}
out["loaded"] = names(read("/proc/modules"), mods, lambda l: l.split(" ", 1)[0])
moddir = "/lib/modules/" + release
out["builtin"] = names(read(moddir + "/modules.builtin"), mods, lambda l: l.strip())
out["installed"] = names(read(moddir + "/modules.dep"), mods, lambda l: l.split(":", 1)[0])
text, source = None, ""
try:
    with open(root + "/proc/config.gz", "rb") as f:
        text, source = gzip.decompress(f.read()).decode(errors="replace"), "/proc/config.gz"
except (OSError, EOFError, ValueError):
    pass
for path in ("/boot/config-" + release, moddir + "/build/.config"):
    if text is None:
        text, source = read(path), path
if text is not None:
    config = {}
    for line in text.splitlines():
        if line.startswith("CONFIG_"):
            key, _, value = line.partition("=")
        elif line.startswith("# CONFIG_") and line.endswith(" is not set"):
            key, value = line[2:-len(" is not set")], "n"
        else:
            continue
        if key in ask["config"]:
            config[key] = value
    out["config"], out["config_source"] = config, source
print(json.dumps(out))
"""


async def read_kernel(
    probe: HostProbe, features: tuple[KernelFeature, ...] = FEATURES, *, root: str = "/"
) -> KernelEvidence | str:
    """Gather the kernel's evidence about ``features`` where ``probe`` runs programs.

    Args:
        probe: where to look (a node's network namespace).
        features: what to ask about (IPVS and ESP by default).
        root: the file tree to read (``/``; tests give a made-up one).

    Returns:
        the :class:`KernelEvidence`, or a sentence saying why it could not be read.
    """
    ask = {
        "root": root,
        "proc": [f.proc_file for f in features if f.proc_file],
        "modules": [f.module for f in features],
        "config": [f.config for f in features],
    }
    argv = [sys.executable or "python3", "-c", _KERNEL_SCRIPT, json.dumps(ask)]
    result = await probe.run(argv, timeout=10.0)
    if not result.ok:
        return (
            f"reading kernel features failed ({result.returncode}): {result.stderr.strip()[:200]}"
        )
    try:
        return KernelEvidence.model_validate_json(result.stdout)
    except ValueError:
        return "reading kernel features printed no evidence"
