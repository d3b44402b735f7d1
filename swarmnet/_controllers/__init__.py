"""Programs that keep engines in a declared state: the level-triggered
:class:`~swarmnet._controllers.controller.Controller`, its desired-state helpers, and
:class:`~swarmnet._controllers.lease.Lease` (one active replica among several)."""
