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


#: Service virtual IPs and the routing mesh (ingress) balance through IPVS.
IPVS = KernelFeature(name="IPVS", module="ip_vs", config="CONFIG_IP_VS", proc_file="net/ip_vs")
#: Encrypted overlays carry their VXLAN traffic in ESP (IPsec) between nodes.
ESP = KernelFeature(name="ESP (IPsec)", module="esp4", config="CONFIG_INET_ESP")
#: What doctor asks every node's kernel about.
FEATURES = (IPVS, ESP)


class KernelEvidence(BaseModel):
    """What a node's kernel showed about some modules and build options.

    Attributes:
        release: the kernel release (``uname -r``).
        proc_files: the ``/proc/<file>`` asked about that exist.
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
    proc_files: frozenset[str] = frozenset()
    loaded: frozenset[str] | None = None
    builtin: frozenset[str] | None = None
    installed: frozenset[str] | None = None
    config: dict[str, str] | None = None
    config_source: str = ""

    def support(self, feature: KernelFeature) -> tuple[Support, str]:
        """Weigh the evidence for one feature: its :class:`Support`, and why, in words."""
        if feature.proc_file and feature.proc_file in self.proc_files:
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
                f"{feature.config} is not set in {self.config_source} (kernel {self.release})",
            )
        if self.loaded is not None and self.installed is not None:
            return (
                Support.ABSENT,
                f"module {feature.module} is neither loaded nor installed (kernel {self.release})",
            )
        return Support.UNKNOWN, "no module list and no kernel build config could be read"


# Runs in the node's network namespace (nsenter changes the network only, so this host's
# programs and files are there). A shell script of builtins, not Python: an interpreter's
# start, or a pipeline per list, costs more than the work. Arguments: the root of the
# file tree (tests give a made-up one), the /proc files, and "|"-joined module names and
# config keys. Prints one fact a line ("loaded ip_vs", "option CONFIG_IP_VS=n"…);
# "have X" says list X could be read, "config PATH" where the build config was found.
_KERNEL_SCRIPT = r"""
root=$1 procs=$2 mods=$3 keys=$4
read -r release < /proc/sys/kernel/osrelease || release=$(uname -r)
echo "release $release"
for p in $procs; do [ -e "$root/proc/$p" ] && echo "proc $p"; done
scan() {
    echo "have $1"
    while IFS= read -r line; do
        name=${line%%[: ]*}; name=${name##*/}; name=${name%%.ko*}
        case "|$mods|" in *"|$name|"*) echo "$1 $name" ;; esac
    done
}
dir="$root/lib/modules/$release"
[ -r "$root/proc/modules" ] && scan loaded < "$root/proc/modules"
[ -r "$dir/modules.builtin" ] && scan builtin < "$dir/modules.builtin"
[ -r "$dir/modules.dep" ] && scan installed < "$dir/modules.dep"
if gzip -t "$root/proc/config.gz" 2>/dev/null; then
    source=/proc/config.gz; read_config() { gzip -dc "$root$source"; }
else
    read_config() { cat "$root$source"; }
    for source in "/boot/config-$release" "/lib/modules/$release/build/.config" ""; do
        [ -r "$root$source" ] && break
    done
fi
if [ -n "$source" ]; then
    echo "config $source"
    read_config | grep -E "^(# )?($keys)[ =]" | while IFS= read -r line; do
        case "$line" in
            "# "*" is not set") line=${line#"# "}; echo "option ${line%% *}=n" ;;
            *) echo "option $line" ;;
        esac
    done
fi
exit 0
"""


def parse_kernel_facts(text: str) -> KernelEvidence:
    """Build the evidence from what the kernel script printed, one fact a line."""
    release, source = "", ""
    proc: set[str] = set()
    lists: dict[str, set[str]] = {}
    config: dict[str, str] | None = None
    for line in text.splitlines():
        word, _, rest = line.strip().partition(" ")
        if word == "release":
            release = rest
        elif word == "proc":
            proc.add(rest)
        elif word == "have":
            lists.setdefault(rest, set())
        elif word in ("loaded", "builtin", "installed"):
            lists.setdefault(word, set()).add(rest)
        elif word == "config":
            source, config = rest, {}
        elif word == "option" and config is not None:
            key, _, value = rest.partition("=")
            config[key] = value
    found = {k: frozenset(v) for k, v in lists.items()}
    return KernelEvidence(
        release=release,
        proc_files=proc,
        loaded=found.get("loaded"),
        builtin=found.get("builtin"),
        installed=found.get("installed"),
        config=config,
        config_source=source,
    )


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
    argv = [
        "sh",
        "-c",
        _KERNEL_SCRIPT,
        "sh",
        root.rstrip("/"),
        " ".join(f.proc_file for f in features if f.proc_file),
        "|".join(f.module for f in features),
        "|".join(f.config for f in features),
    ]
    result = await probe.run(argv, timeout=10.0)
    if not result.ok or not result.stdout.startswith("release "):
        why = result.stderr.strip()[:200] or "it printed nothing"
        return f"reading kernel features failed ({result.returncode}): {why}"
    return parse_kernel_facts(result.stdout)
