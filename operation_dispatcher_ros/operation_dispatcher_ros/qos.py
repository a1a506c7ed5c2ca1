"""QoS of the dispatcher's services and service clients, defined once.

A ROS 2 service is two topics: requests (client writer -> server reader) and
replies (server writer -> client reader). With Fast DDS every client of a
service receives EVERY reply on the reply topic and drops the ones that are
not its own after taking them. With the default services QoS (KEEP_LAST,
depth 10) a client whose executor is a little late finds its own reply
pushed out of its reader's history by ten replies to other clients: the
response is lost and the call never returns. Measured here (8 clients x
1,000 calls in one process against a trivial echo server, Kilted):
default depth 10 lost 7-10 responses per run; client depth 100, 1,000 or
KEEP_ALL lost none; a deeper SERVER history alone did not help. The server
side gets the same depth so that a burst of more than ten waiting requests
(more clients than executor threads) is not cut short in the request reader.

KEEP_LAST with a large depth rather than KEEP_ALL: a client that stops
taking can then never block the dispatcher's reply writer.
"""

from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

SERVICE_HISTORY_DEPTH = 1000

SERVICES_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=SERVICE_HISTORY_DEPTH,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)
"""For every service the dispatcher serves and every client that calls one
(the dispatcher's own handshake and executor clients, test and bench clients)."""
