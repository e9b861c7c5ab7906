"""Where the lines of a text start and end, found once: a rule that looks at the line around a position costs a
lookup, not a scan back to the line's start, which is quadratic on a text of one long line and many positions."""

from __future__ import annotations

import bisect
import re


class LineBreaks:
    """The line breaks of one text, bisected."""

    def __init__(self, text: str) -> None:
        self.length = len(text)
        self.breaks = [m.start() for m in re.finditer("\n", text)]

    def line_of(self, position: int) -> tuple[int, int, int]:
        """(the line's number, its start, its end) for the line holding `position` (a line break ends the line
        before it)."""
        i = bisect.bisect_left(self.breaks, position)  # the first line break at or after `position`
        start = self.breaks[i - 1] + 1 if i else 0
        end = self.breaks[i] if i < len(self.breaks) else self.length
        return i, start, end
