"""One thing that differs between the two environments' recordings of a test."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Difference:
    exchange: int | None
    request: str
    field: str
    local: str
    stack: str
    diff: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"exchange": self.exchange, "request": self.request, "field": self.field,
                "local": self.local, "stack": self.stack, "diff": self.diff}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Difference:
        return cls(data.get("exchange"), data.get("request", ""), data["field"],
                   data.get("local", ""), data.get("stack", ""), data.get("diff"))
