"""Where a registration may make the node send datagrams.

A registration names a ``hostname:port`` and the node then sends it every event of the scene,
so a registration is a way to aim traffic. The policy: broadcast, multicast, link-local
(169.254.0.0/16 holds cloud metadata services), unspecified and reserved addresses, and
ports outside 1-65535, are always refused; any other address must lie in one of the networks
the operator allows (``--device-networks``; loopback and the private ranges by default).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from aesel.errors import BadRequest

DEFAULT_NETWORKS = (
    "127.0.0.0/8",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "::1/128",
    "fc00::/7",
)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class RefusedDestination(BadRequest):
    reason = "refused_destination"


@dataclass(frozen=True, slots=True)
class Destinations:
    networks: tuple[Network, ...]

    @classmethod
    def parse(cls, cidrs: Iterable[str]) -> Destinations:
        nets: list[Network] = []
        for c in cidrs:
            c = c.strip()
            if c:
                try:
                    nets.append(ipaddress.ip_network(c, strict=False))
                except ValueError:
                    raise ValueError(
                        f"device network {c!r} is not a CIDR, e.g. 10.0.0.0/8"
                    ) from None
        return cls(tuple(nets))

    def check(self, host: str, port: int) -> None:
        """Raise :class:`RefusedDestination` unless datagrams may go to ``host:port``."""
        if not 0 < port < 65536:
            raise RefusedDestination(f"device port is {port}, expected 1 to 65535")
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            raise RefusedDestination(f"device address {host!r} is not an ip address") from None
        if (
            ip.is_multicast
            or ip.is_unspecified
            or ip.is_link_local
            or ip.is_reserved  # 240.0.0.0/4, which holds 255.255.255.255
        ):
            raise RefusedDestination(
                f"device address {host} is a broadcast, multicast, link-local, unspecified or "
                "reserved address, which is never allowed"
            )
        if not any(ip in net for net in self.networks):
            raise RefusedDestination(
                f"device address {host} is outside the networks this node sends to "
                "(--device-networks)"
            )


DEFAULT = Destinations.parse(DEFAULT_NETWORKS)
