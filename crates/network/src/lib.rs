//! Network drivers (bridge, host, none, container), IPAM, nftables NAT and CNI. Arrives with networking support.
