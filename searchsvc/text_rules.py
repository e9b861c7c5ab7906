"""Rules about raw text that every layer applies the same way (documents, the query parser, the API)."""

from __future__ import annotations

import re

# A control character: Unicode category Cc (C0, DEL and C1) except tab, line feed and carriage return, which are
# whitespace in text. Ids refuse those three as well (see documents.model).
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def first_control(text: str) -> str | None:
    """The first control character in `text` as U+XXXX, or None."""
    found = CONTROL.search(text)
    return f"U+{ord(found.group()):04X}" if found else None
