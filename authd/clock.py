"""Time is a parameter: routes take `now` from this clock dependency, tests supply their own."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class Clock:
    offset: int = 0

    def now(self) -> int:
        return int(time.time()) + self.offset
