"""Swarm services on overlays: typed specs, idempotent ensure, tasks and convergence.

The public names are re-exported by ``swarmnet`` (specs) and ``swarmnet.models`` (views).
"""
