"""`python -m eval` (what `make eval` runs): ranking quality on the classic test collections in
../shared/data (the service's defaults), then the service against plain BM25 and the leave-one-collection-out
tables of the ranking's levers (eval/levers.py: about 40 minutes from nothing, a minute once its runs are
cached in eval/work), then extraction quality on the gold set, then on the public NER sets (GMB, WikiGold) beside the
raw spaCy pipeline (eval/ner_datasets.py). Arguments go to the ranking half (see
`python -m eval.ranking -h`).

Exit status: 0 when both ran, else the larger of the two halves' statuses (2: the data is missing).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from eval import extraction, levers, ner_datasets, ranking


def main(argv: Sequence[str] | None = None) -> int:
    status = ranking.main(argv)
    print()
    if status == 0:
        status = levers.main([])
        print()
    status = max(status, extraction.main([]))
    print()
    return max(status, ner_datasets.main([]))


if __name__ == "__main__":  # also keeps the indexer's spawned workers from running it again
    sys.exit(main())
