"""Did-you-mean: the known word nearest to an unknown one.

Whoosh's corrector walks the term index with an edit-distance automaton in Python (40-140 ms a word at 104k
articles) and then ranks every word within two edits by frequency alone ("kimb": "king", two edits, over "kim",
one). Here the candidates are the field's words that share the unknown word's first letter (typos rarely hit it;
Lucene's DirectSpellChecker keeps it too, minPrefix 1), read from the search kernel's sorted keys, and their edit
distances are computed in C by rapidfuzz: the fewest edits win, then the most documents, as in Lucene.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

MAX_EDITS = 2


def nearest(word: str, words: Sequence[str], documents: Callable[[str], int]) -> str | None:
    """The word of `words` (not `word` itself) within MAX_EDITS insertions, deletions or substitutions of `word`
    with the fewest edits, then the most documents (`documents(w)`), then the first in alphabetical order."""
    near = [
        (int(edits), str(w))
        for w, edits, _ in process.extract(word, words, scorer=Levenshtein.distance, score_cutoff=MAX_EDITS, limit=None)
        if w != word
    ]
    if not near:
        return None
    fewest = min(edits for edits, _ in near)
    return min((-documents(w), w) for edits, w in near if edits == fewest)[1]
