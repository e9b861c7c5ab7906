"""`console` examples in Markdown: `$ command` lines, each followed by the output it prints.

The write API's examples change the index, so they run against their own server (test_writes_gunicorn.py) in
the order written, and the read-only README examples (test_readme.py) leave their section out.
"""

from __future__ import annotations

import re

BLOCK = re.compile(r"```console\n(.*?)```", re.DOTALL)
WRITE_SECTION_TITLE = "Adding, replacing and deleting documents over HTTP"


def console_examples(text: str) -> list[tuple[str, str]]:
    """(command, expected output) pairs, in order."""
    pairs = []
    for block in BLOCK.findall(text):
        for chunk in re.split(r"^\$ ", block, flags=re.MULTILINE)[1:]:
            command, _, output = chunk.partition("\n")
            pairs.append((command, output.strip()))
    return pairs


def split_write_section(text: str) -> tuple[str, str]:
    """(the text without the write API's section, the section), the section empty when there is none: from its
    heading to the next heading of the same or a higher level."""
    heading = re.search(rf"^(#+) {re.escape(WRITE_SECTION_TITLE)}\s*$", text, flags=re.MULTILINE)
    if heading is None:
        return text, ""
    level = len(heading.group(1))
    after = re.compile(rf"^#{{1,{level}}} ", flags=re.MULTILINE).search(text, heading.end())
    end = after.start() if after else len(text)
    return text[: heading.start()] + text[end:], text[heading.start() : end]
