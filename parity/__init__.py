"""parity: prove the containerized stack behaves like the local dev server."""

from __future__ import annotations

__version__ = "0.1.0"
