"""Load: what to send (`LoadConfig`), who sends it (aiperf), and what came back (`LoadResults`)."""

from ftlib.load.config import LoadConfig
from ftlib.load.results import LoadResults, RequestRecord

__all__ = ["LoadConfig", "LoadResults", "RequestRecord"]
