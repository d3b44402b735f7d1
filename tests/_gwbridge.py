"""Leaving lab nodes as found after a swarm: without the docker_gwbridge it left behind."""

from swarmnet.lab.pytest_plugin import remove_gwbridges

__all__ = ["remove_gwbridges"]
