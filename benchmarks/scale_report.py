"""Tables (Markdown) and plots (one PNG per curve) from ``results/scale.json``.

Used by ``bench_scale.py`` at the end of a run and by ``bench_scale.py --plot``. Every
figure is drawn as a ratio to the anchor measured in the same run, so a machine shared
with other work still gives comparable curves. Needs matplotlib (the ``bench`` extra).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

Results = dict[str, Any]
FORMATION = ("bare concurrent", "bare, same requests", "swarmnet", "docker-py", "docker CLI")
DOCTOR = ("read only", "every pair (before)", "bounded (after)")


def _per_received(figures: dict[str, Any]) -> float:
    """CPU seconds per 1,000 events received from the engines."""
    return float(figures["cpu_s"]) / max(int(figures["received"]), 1) * 1000


def _sizes(section: dict[str, Any]) -> list[int]:
    return sorted(int(size) for size in section)


def tables(results: Results) -> str:
    """The whole report as Markdown."""
    out = ["# Scaling curves (issue #16)", ""]
    out.append(
        "Produced by `python benchmarks/bench_scale.py` (`make bench-scale`); every ratio "
        "is to an anchor measured in the same run on the same engines. Raw figures: "
        "`scale.json`.\n"
    )
    lab, anchor = results.get("lab", {}), results.get("lab_anchor", {})
    if lab and anchor:
        out += [
            "## Lab",
            "",
            f"Anchor: a 1-engine lab, up in {anchor['up_s']:.1f} s, "
            f"{anchor['rss_mb']:.0f} MiB (dockerd + containerd).",
            "",
            "| engines | up s | up / 1 engine | up per engine s | MiB per node "
            "| per node / 1 engine |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for size in _sizes(lab):
            row = lab[str(size)]
            out.append(
                f"| {size} | {row['up_s']:.1f} | {row['up_s'] / anchor['up_s']:.2f}x "
                f"| {row['up_s'] / size:.2f} | {row['rss_mb_per_node']:.0f} "
                f"| {row['rss_mb_per_node'] / anchor['rss_mb']:.2f}x |"
            )
        out.append("")
    for managers, section in sorted(results.get("formation", {}).items()):
        out += [
            f"## Formation, {managers} manager{'s' if managers != '1' else ''}",
            "",
            "Seconds (median of the runs, each run's own engine init replaced by the median "
            "init of all runs of that size: the init alone is bimodal here, 0.15 or 0.6 s), "
            "and each as a multiple of bare concurrent API calls (the floor). "
            "`bare, same requests` makes swarmnet's own requests bare, in its order (it "
            "also reads every engine first and waits for the leader's gossip before any "
            "join); what swarmnet adds to it is client logic. `before`: swarmnet over the "
            "floor in the run before the fixes of issue #16, where that run is stored.",
            "",
            "| engines | " + " | ".join(FORMATION) + " | swarmnet / same requests "
            "| swarmnet before | CLI / swarmnet |",
            "|---:|" + "---:|" * (len(FORMATION) + 3),
        ]
        before = results.get("formation_before", {}).get(managers, {})
        for size in _sizes(section):
            row = section[str(size)]
            floor = row["bare concurrent"]
            cells = [
                f"{row[name]:.2f} ({row[name] / floor:.2f}x)" if name in row else "-"
                for name in FORMATION
            ]
            same = row.get("bare, same requests")
            cells.append(f"{row['swarmnet'] / same:.2f}x" if same else "-")
            was = before.get(str(size))
            cells.append(f"{was['swarmnet'] / was['bare concurrent']:.2f}x" if was else "-")
            lead = f"{row['docker CLI'] / row['swarmnet']:.2f}x" if "docker CLI" in row else "-"
            out.append(f"| {size} | " + " | ".join(cells) + f" | {lead} |")
        if before:
            out.append(f"\nBefore: {results['formation_before']['commit']}.")
        out.append("")
    doctor = results.get("doctor", {})
    if doctor:
        out += [
            "## Doctor",
            "",
            "Seconds (median), node pairs whose ports were tried, and each as a multiple of "
            "the same variant at the smallest size. `every pair` is what doctor did before "
            "issue #16 (`port_peers=None`); `bounded` is the default now (`port_peers=4`: "
            "each node tried by 4 neighbours on the ring of addresses, every node trying "
            "the managers). CPU: doctor's own and its port probes' (one process per node "
            "that tries its peers' ports), the work that grew with the square of the nodes.",
            "",
            "| engines | read only s | every pair s (pairs) | bounded s (pairs) "
            "| every pair / smallest | bounded / smallest | CPU s every pair / bounded |",
            "|---:|---:|---:|---:|---:|---:|---:|",
        ]
        sizes = _sizes(doctor)
        first = doctor[str(sizes[0])]
        for size in sizes:
            row = doctor[str(size)]
            out.append(
                f"| {size} | {row['read only']:.2f} "
                f"| {row['every pair (before)']:.2f} ({row['every pair (before) pairs']:.0f}) "
                f"| {row['bounded (after)']:.2f} ({row['bounded (after) pairs']:.0f}) "
                f"| {row['every pair (before)'] / first['every pair (before)']:.2f}x "
                f"| {row['bounded (after)'] / first['bounded (after)']:.2f}x "
                + (
                    f"| {row['every pair (before) cpu']:.2f} / {row['bounded (after) cpu']:.2f} |"
                    if "bounded (after) cpu" in row
                    else "| - |"
                )
            )
        out.append("")
    watch = results.get("watch", {})
    if watch:
        out += [
            "## Watching",
            "",
            "One process follows all N engines while every node connects and disconnects a "
            "container once every 2 s. Anchor: a bare aiohttp reader of the same streams "
            "(`json.loads` per line), in a process of its own, under the same load. The "
            "engine reports each bridge disconnect twice; the Watcher delivers it once, so "
            "it delivers fewer events than it receives: CPU is given per 1,000 delivered "
            "events (the issue's measure) and, for the ratio to the anchor, per 1,000 "
            "received events (the same denominator for both). Each process is first "
            "measured with no load: that idle cost (timers and network sweeps, a cost per "
            "node) is shown per node, and taken out of the events' cost in the *net* "
            "column.",
            "",
            "| engines | delivered | Watcher CPU s / 1000 delivered | net of idle "
            "| idle CPU ms/s per node | Watcher reads / event | Watcher / aiohttp "
            "CPU per received event | Watcher MiB / node | p50 ms | p99 ms "
            "| aiohttp p50 / p99 ms |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for size in _sizes(watch):
            ours, bare = watch[str(size)]["watcher"], watch[str(size)]["aiohttp"]
            net = ours.get("net_cpu_per_1000_events_s")
            idle = ours.get("idle_cpu_ms_per_node_s")
            reads = ours["requests"] / max(ours["events"], 1) if "requests" in ours else None
            out.append(
                f"| {size} | {ours['events']} | {ours['cpu_per_1000_events_s']:.3f} "
                f"| {'-' if net is None else f'{net:.3f}'} "
                f"| {'-' if idle is None else f'{idle:.2f}'} "
                f"| {'-' if reads is None else f'{reads:.2f}'} "
                f"| {_per_received(ours) / _per_received(bare):.2f}x "
                f"| {ours['rss_per_node_mb']:.2f} | {ours['p50_ms']:.1f} | {ours['p99_ms']:.1f} "
                f"| {bare['p50_ms']:.1f} / {bare['p99_ms']:.1f} |"
            )
        out.append("")
    ensure, before = results.get("ensure", {}), results.get("ensure_before", {})
    if ensure:
        out += [
            "## ensure_many",
            "",
            "Anchor: one bare `GET /networks` and its parse (CPU), on the same engine with "
            "the same networks. `before`: the same run with the swarmnet of before the fix "
            "(the batch's duplicate-name check counted each name through the whole list).",
            "",
            "| networks | first s (requests, writes) | second s | second requests / writes "
            "| second CPU s | bare list CPU s | second / bare list |",
            "|---:|---:|---:|---:|---:|---:|---:|",
        ]
        rows = [("", r) for r in (ensure,)] + ([("before ", before)] if before else [])
        for (label, section), count in ((pair, c) for pair in rows for c in _sizes(pair[1])):
            row = section[str(count)]
            out.append(
                f"| {label}{count} | {row['first_s']:.2f} ({row['first_requests']:.0f}, "
                f"{row['first_writes']:.0f}) | {row['second_s']:.3f} "
                f"| {row['second_requests']:.0f} / {row['second_writes']:.0f} "
                f"| {row['second_cpu_s']:.3f} | {row['list_cpu_s']:.3f} "
                f"| {row['second_cpu_s'] / row['list_cpu_s']:.2f}x |"
            )
        out.append("")
    return "\n".join(out)


def plots(results: Results, directory: Path) -> list[Path]:
    """One PNG per curve; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[Path] = []

    def save(fig: Any, name: str) -> None:
        path = directory / name
        fig.tight_layout()
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)

    lab, anchor = results.get("lab", {}), results.get("lab_anchor", {})
    if lab and anchor:
        sizes = _sizes(lab)
        fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
        left.plot(sizes, [lab[str(s)]["up_s"] / anchor["up_s"] for s in sizes], "o-",
                  label="lab up")  # fmt: skip
        left.plot(sizes, sizes, ":", color="grey", label="N x 1 engine (serial)")
        left.set(title="lab up time / 1-engine lab", xlabel="engines", ylabel="ratio")
        right.plot(sizes, [lab[str(s)]["rss_mb_per_node"] / anchor["rss_mb"] for s in sizes],
                   "o-", label="per node")  # fmt: skip
        right.axhline(1, ls=":", color="grey", label="1-engine lab")
        top = max(lab[str(s)]["rss_mb_per_node"] / anchor["rss_mb"] for s in sizes)
        right.set(title="memory per node / 1-engine lab", xlabel="engines",
                  ylim=(0, max(1.5, top * 1.2)))  # fmt: skip
        for ax in (left, right):
            ax.legend()
            ax.set_xscale("log", base=2)
            ax.set_xticks(sizes, [str(s) for s in sizes])
        save(fig, "scale_lab.png")
    formation = results.get("formation", {})
    if formation:
        fig, axes = plt.subplots(1, len(formation), figsize=(4.6 * len(formation), 3.4))
        for ax, (managers, section) in zip(
            axes if len(formation) > 1 else [axes], sorted(formation.items()), strict=True
        ):
            sizes = _sizes(section)
            for name in FORMATION:
                if all(name in section[str(s)] for s in sizes):
                    ax.plot(
                        sizes,
                        [section[str(s)][name] / section[str(s)]["bare concurrent"] for s in sizes],
                        "o-",
                        label=name,
                    )
            before = results.get("formation_before", {}).get(managers, {})
            if all(str(s) in before for s in sizes):
                ax.plot(
                    sizes,
                    [before[str(s)]["swarmnet"] / before[str(s)]["bare concurrent"] for s in sizes],
                    "o--",
                    color="grey",
                    label="swarmnet before #16 fixes",
                )
            ax.axhline(1.05, ls=":", color="grey", label="floor + 5%")
            ax.set(title=f"form_cluster, {managers} manager(s): time / floor",
                   xlabel="engines", ylabel="ratio")  # fmt: skip
            ax.set_xscale("log", base=2)
            ax.set_xticks(sizes, [str(s) for s in sizes])
            ax.legend(fontsize=8)
        save(fig, "scale_formation.png")
    doctor = results.get("doctor", {})
    if doctor:
        sizes = _sizes(doctor)
        first = doctor[str(sizes[0])]
        with_cpu = all("bounded (after) cpu" in doctor[str(s)] for s in sizes)
        fig, axes = plt.subplots(1, 3 if with_cpu else 2, figsize=(13 if with_cpu else 9, 3.4))
        left, right = axes[0], axes[-1]
        for name in DOCTOR:
            left.plot(sizes, [doctor[str(s)][name] / first[name] for s in sizes], "o-", label=name)
        if with_cpu:
            for name in DOCTOR[1:]:
                axes[1].plot(sizes, [doctor[str(s)][f"{name} cpu"] for s in sizes], "o-",
                             label=name)  # fmt: skip
            axes[1].set(title="doctor CPU s (its own + port probes)", xlabel="engines",
                        ylim=(0, None))  # fmt: skip
        for name in DOCTOR[1:]:
            right.plot(sizes, [doctor[str(s)][f"{name} pairs"] for s in sizes], "o-", label=name)
        left.set(title=f"doctor time / same at {sizes[0]} engines", xlabel="engines",
                 ylabel="ratio")  # fmt: skip
        right.set(title="node pairs whose ports are tried", xlabel="engines")
        for ax in axes:
            ax.legend(fontsize=8)
            ax.set_xscale("log", base=2)
            ax.set_xticks(sizes, [str(s) for s in sizes])
        save(fig, "scale_doctor.png")
    watch = results.get("watch", {})
    if watch:
        sizes = _sizes(watch)
        fig, (left, middle, right) = plt.subplots(1, 3, figsize=(12, 3.4))
        left.plot(sizes, [watch[str(s)]["watcher"]["cpu_per_1000_events_s"] for s in sizes],
                  "o-", label="Watcher, per delivered")  # fmt: skip
        if all("net_cpu_per_1000_events_s" in watch[str(s)]["watcher"] for s in sizes):
            net = [watch[str(s)]["watcher"]["net_cpu_per_1000_events_s"] for s in sizes]
            left.plot(sizes, net, "o:", label="Watcher, per delivered, net of idle")
        for kind, label in (("watcher", "Watcher"), ("aiohttp", "bare aiohttp (anchor)")):
            left.plot(sizes, [_per_received(watch[str(s)][kind]) for s in sizes],
                      "s--", label=f"{label}, per received")  # fmt: skip
            middle.plot(sizes, [watch[str(s)][kind]["rss_mb"] - watch[str(s)][kind]["base_rss_mb"]
                                for s in sizes], "o-", label=label)  # fmt: skip
            for quantile, style in (("p50_ms", "o-"), ("p99_ms", "s--")):
                right.plot(sizes, [watch[str(s)][kind][quantile] for s in sizes], style,
                           label=f"{label} {quantile[:3]}")  # fmt: skip
        left.set(title="CPU s per 1000 events", xlabel="engines", ylim=(0, None))
        middle.set(title="memory growth MiB (linear = per node const.)", xlabel="engines",
                   ylim=(0, None))  # fmt: skip
        right.set(title="event to callback latency ms", xlabel="engines", ylim=(0, None))
        for ax in (left, middle, right):
            ax.legend(fontsize=7)
            ax.set_xscale("log", base=2)
            ax.set_xticks(sizes, [str(s) for s in sizes])
        save(fig, "scale_watch.png")
    ensure = results.get("ensure", {})
    if ensure:
        counts = _sizes(ensure)
        fig, ax = plt.subplots(figsize=(5, 3.4))
        after = [ensure[str(c)]["second_cpu_s"] / ensure[str(c)]["list_cpu_s"] for c in counts]
        ax.plot(counts, after, "o-", label="ensure_many, second pass (after)")
        before = results.get("ensure_before", {})
        if before:
            ax.plot(_sizes(before), [before[str(c)]["second_cpu_s"] / before[str(c)]["list_cpu_s"]
                                     for c in _sizes(before)], "s--",
                    label="ensure_many, second pass (before)")  # fmt: skip
        ax.axhline(1, ls=":", color="grey", label="bare GET /networks + parse (anchor)")
        ax.set(title="ensure_many second pass: CPU / anchor", xlabel="networks",
               ylabel="ratio", ylim=(0, None))  # fmt: skip
        ax.legend(fontsize=8)
        save(fig, "scale_ensure.png")
    return written


def write_report(results: Results, directory: Path) -> None:
    """Write ``scale.md`` and the plots under ``directory``; print where."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "scale.md").write_text(tables(results) + "\n")
    print(f"wrote {directory / 'scale.md'}")
    try:
        written = plots(results, directory)
    except ImportError:
        print("matplotlib is missing (pip install '.[bench]'): tables only")
        return
    for path in written:
        print(f"wrote {path}")
