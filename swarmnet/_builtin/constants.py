"""Names and numbers of the networks swarm mode makes, shared by the built-ins and doctor.

A leaf: it imports nothing from swarmnet, so any program may read it without pulling in
another program.
"""

#: The name (and Linux bridge name) of the bridge linking a node's overlay endpoints to
#: the node's own network.
GWBRIDGE = "docker_gwbridge"
#: The key of the ingress sandbox's endpoint in a network's ``Containers``.
INGRESS_SANDBOX = "ingress-sbox"
#: Without an MTU option an overlay's interfaces get 1500 less the 50 bytes of VXLAN.
DEFAULT_OVERLAY_MTU = 1450
#: Bytes VXLAN adds to every overlay packet on the wire (outer IPv4, UDP, VXLAN, Ethernet).
VXLAN_OVERHEAD = 50
