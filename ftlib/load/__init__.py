"""Load: what to send (`LoadConfig`), who sends it (aiperf), and what came back (`LoadResults`)."""

from ftlib.load.config import LoadConfig
from ftlib.load.results import LoadResults, RequestRecord

CLIENT_TYPES = ("aiperf", "legacy")  # the load clients: -D client_type=...

__all__ = ["CLIENT_TYPES", "LoadConfig", "LoadResults", "RequestRecord"]
