"""`python -m eval` (what `make eval` runs): ranking quality on the classic test collections in
../shared/data, then extraction quality on the gold set, then on the public NER sets (GMB, WikiGold) beside the
raw spaCy pipeline (eval/ner_datasets.py). Arguments go to the ranking half (see
`python -m eval.ranking -h`).

Exit status: 0 when both ran, else the larger of the two halves' statuses (2: the data is missing).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from eval import extraction, ner_datasets, ranking


def main(argv: Sequence[str] | None = None) -> int:
    status = ranking.main(argv)
    print()
    status = max(status, extraction.main([]))
    print()
    return max(status, ner_datasets.main([]))


if __name__ == "__main__":  # also keeps the indexer's spawned workers from running it again
    sys.exit(main())
