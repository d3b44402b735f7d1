"""Run every benchmark one after another (``make bench``), each in its own process.

    python benchmarks/run_all.py            # the full runs (several minutes)
    python benchmarks/run_all.py --quick    # short runs
    python benchmarks/run_all.py --scale    # the scaling curves, 4 to 32 engines (make bench-scale)

Each benchmark compares swarmnet with docker-py, aiodocker or the docker CLI in the
same run and prints ratios; see its own ``--help``. They bring up (and take down) the
lab engines they need, so run them as root on a machine with nothing else loading it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
#: Each benchmark, and the arguments that make its run short (``--quick``).
BENCHMARKS: dict[str, tuple[str, ...]] = {
    "bench_form_cluster.py": ("--quick",),
    "bench_ensure_overlays.py": ("--quick",),
    "bench_builtin.py": ("--quick",),
    "bench_events.py": ("--quick",),
    "bench_services.py": ("--quick",),
    "bench_stacks.py": ("--rounds", "1"),
    "bench_overlay_ready.py": ("--rounds", "2"),
    "bench_join_label.py": ("--containers", "60"),
    "bench_cache_memory.py": ("--small", "10", "--large", "60"),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs")
    parser.add_argument(
        "--scale",
        action="store_true",
        help="only the scaling curves (bench_scale.py: 4 to 32 engines, tables and plots "
        "under benchmarks/results/)",
    )
    args = parser.parse_args()
    if args.scale:
        # 32 engines take minutes: the scaling curves are a mode of their own.
        argv = [sys.executable, str(HERE / "bench_scale.py")]
        return subprocess.run(argv, check=False).returncode
    failed = []
    for name, quick in BENCHMARKS.items():
        print(f"\n=== {name}", flush=True)
        argv = [sys.executable, str(HERE / name), *(quick if args.quick else ())]
        if subprocess.run(argv, check=False).returncode != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
