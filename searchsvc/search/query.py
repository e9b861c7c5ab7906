"""Request parameters -> a Whoosh query: the query language, the match modes, filters and date ranges.

The language is the one users know from Lucene: words, "exact phrase", "phrase"~3 (slop), AND / OR / NOT,
+required, -excluded, (groups), field:term, prefix*, wild?card and typo~ (fuzzy), each optionally ^boosted.

Whoosh's QueryParser accepts nearly anything and guesses (an unknown `foo:` becomes text, `-` inside
"Chinese-Russian" excludes "russian", `a NOT b` under an OR group matches every document without b), so this
module has its own small lexer and recursive-descent parser: a malformed query is rejected with a message
naming the problem, and the semantics of each construct are written down once, here.

Pasted text is not a query written in the language, and it is read the way Elasticsearch's
simple_query_string reads it rather than rejected: a `?` ending a word (`why?`, `really?!`) or standing alone
is punctuation, not a wildcard (`te?t` inside a word still is one); an unmatched `"`, `(` or `)` is ignored,
as if it were a space (`He said "no`, `see (above`, `1) first`), while matched ones keep their meaning. The parse
builds Whoosh query objects directly; a `QueryBuilder` holds the per-schema analyzers and is built once per
index (see `query_builder`).

Match modes for words that are not joined by an explicit operator:
    all   every word must match (AND)
    any   any word may match (OR)
    auto  (default) up to three words: OR, with documents containing all of them boosted far above the rest;
          longer, natural-language queries: OR, English stopwords dropped, repeated words weighted by their
          count (Whoosh's own parser would collapse repeats), and -- when they are plain words without
          operators -- flagged `feedback` so search.py adds pseudo-relevance feedback terms.
    `auto` is the default because it serves both kinds of query a search box gets: keywords, where a document
    with every word should come first (AND-like) without hiding near misses, and pasted questions or
    passages, where requiring every word would find nothing (eval/ranking.py measures the long-query side).
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from whoosh import query as wq
from whoosh.analysis import STOP_WORDS
from whoosh.matching import AndNotMatcher

from searchsvc.errors import QueryError
from searchsvc.extract.canonical import static_canonical
from searchsvc.extract.types import ENTITY_TYPES
from searchsvc.index.schema import COMBINED_FIELD, QUERYABLE_FIELDS, build_schema, mentioned_ranges
from searchsvc.search.field_parts import PARTS, FieldPart
from searchsvc.search.requests import Filters, normalise_name
from searchsvc.text_rules import first_control

if TYPE_CHECKING:
    from whoosh.fields import Schema

# Fields searched by words without `field:`, with query-time boosts: the combined title-and-body field (see
# schema.py) and, lightly, the extracted entity names ("United States" finds a text that only says "U.S.").
# Entity names repeat words of the text, so at weight 1 they double-count them: on eval/ranking.py entity 1.0
# cost cisi 0.03-0.05 nDCG@10 against 0.25 (cranfield and med name almost no entities).
DEFAULT_FIELDS: dict[str, float] = {COMBINED_FIELD: 1.0, "entity": 0.25}
# Keyword fields hold whole normalised names ("sergey lavrov"): a word or phrase matches a whole name.
KEYWORD_FIELDS = (*ENTITY_TYPES, "tags", "source")
# `auto`: up to this many optional clauses rank documents containing all of them first.
SHORT_QUERY = 3
ALL_WORDS_BOOST = 4.0
MAX_DEPTH = 16  # nested parentheses
MAX_CLAUSES = 1000  # words, phrases and patterns in one query (max_query_length bounds it first)
MIN_PATTERN_PREFIX = 2  # literal characters before the first * or ?
MAX_FUZZY_DISTANCE = 2
# A fuzzy term walks every index term sharing its first MIN_FUZZY_PREFIX letters (expansion.py): with no prefix
# (`word~2/0`) that is the whole lexicon. Lucene allows 0 but caps each term at 50 expansions; here the walk
# itself is what costs, so a prefix is required (typos rarely hit the first letter) and a query holds at most
# MAX_FUZZY_TERMS fuzzy terms.
MIN_FUZZY_PREFIX = 1
MAX_FUZZY_TERMS = 20
# Dropped from long natural-language queries: Whoosh's list plus the usual English function and question words
# (NLTK's list without its contraction fragments such as "won" and "don"). Over Whoosh's list alone it raised
# nDCG@10 on eval/ranking.py by 0.008 on cranfield and 0.007 on cisi (0.025 on cisi with the other ranking
# changes). "us" is a stopword to Whoosh but "U.S." indexes as "us", and news is full of it.
_ENGLISH_STOPWORDS = """
    i me my myself we our ours ourselves you you're you've you'll you'd your yours yourself yourselves he him
    his himself she she's her hers herself it it's its itself they them their theirs themselves what which who
    whom this that that'll these those am is are was were be been being have has had having do does did doing
    a an the and but if or because as until while of at by for with about against between into through during
    before after above below to from up down in out on off over under again further then once here there when
    where why how all any both each few more most other some such no nor not only own same so than too very can
    will just don't should should've now aren't couldn't didn't doesn't hadn't hasn't haven't isn't mightn't
    mustn't needn't shan't shouldn't wasn't weren't won't wouldn't
"""
STOPWORDS = frozenset((STOP_WORDS | set(_ENGLISH_STOPWORDS.split())) - {"us"})

_FIELD = re.compile(r"([A-Za-z_][A-Za-z0-9_]*):")
_BOOST = re.compile(r"\^(\d{1,3}(?:\.\d{1,3})?)$")
_FUZZY = re.compile(r"~(\d?)(?:/(\d))?$")
MAX_SLOP = 99  # "phrase"~99: the most _SLOP reads (schema.POSITION_GAP keeps a field's parts further apart)
_SLOP = re.compile(r"~(\d{1,2})")
_PHRASE_BOOST = re.compile(r"\^(\d{1,3}(?:\.\d{1,3})?)")
_OPERATORS = {"AND", "OR", "NOT"}
_WORD_END = frozenset('()"')
# A `?` ending a word, possibly followed by more punctuation: `why?`, `really?!`, `so?..` (not `te?t`, `ab?*`).
_TRAILING_QUESTION = re.compile(r"\?[^\w*]*$")


class _AndNotMatcher(AndNotMatcher):
    """Whoosh's AndNotMatcher with two faults fixed: it skipped its excluded postings to the first positive
    document only when both started on the same document, so with excluded postings starting earlier the first
    positive document matched even if it held an excluded word ("ferry -morning" found "Morning crossing");
    and skip_to() read the positive side's current document after that side had run out (an IndexError in an
    AND of an AND NOT, whenever skipping took the positive side past its end)."""

    def _find_first(self) -> None:
        self._find_next()

    def _find_next(self) -> bool:
        pos, neg = self.a, self.b
        moved = False
        while pos.is_active() and neg.is_active():
            pos_id = pos.id()
            if neg.id() < pos_id:
                neg.skip_to(pos_id)
                if not neg.is_active():
                    break
            if neg.id() != pos_id:
                break
            moved = pos.next() or moved
        return moved


class AndNot(wq.AndNot):
    """`a AND NOT b`, matched by _AndNotMatcher."""

    def matcher(self, searcher, context=None):
        return _AndNotMatcher(self.a.matcher(searcher, context), self.b.matcher(searcher, searcher.boolean_context()))


# -- lexer ---------------------------------------------------------------------------------------------------
@dataclass
class _Token:
    kind: str  # word, phrase, field, and, or, not, plus, minus, open, close
    text: str
    pos: int
    boost: float = 1.0
    slop: int = 0
    fuzzy: int | None = None  # edit distance for `word~N`
    fuzzy_prefix: int = 1


def _describe(token: _Token) -> str:
    return {"and": "AND", "or": "OR", "not": "NOT", "plus": "+", "minus": "-", "open": "(", "close": ")"}.get(
        token.kind, token.text
    )


def _lex(q: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(q)
    while i < n:
        c = q[i]
        if c.isspace():
            i += 1
        elif c == "(":
            tokens.append(_Token("open", c, i))
            i += 1
        elif c == ")":
            tokens.append(_Token("close", c, i))
            i += 1
        elif c == '"':
            end = q.find('"', i + 1)
            if end < 0:  # an unmatched quote is ignored: the words after it are plain words
                i += 1
                continue
            phrase = _Token("phrase", q[i + 1 : end], i)
            j = end + 1
            if m := _SLOP.match(q, j):
                phrase.slop = int(m.group(1))
                j = m.end()
            if m := _PHRASE_BOOST.match(q, j):
                phrase.boost = float(m.group(1))
                j = m.end()
            tokens.append(phrase)
            i = j
        elif c in "+-" and i + 1 < n and not q[i + 1].isspace() and q[i + 1] not in "+-)":
            tokens.append(_Token("plus" if c == "+" else "minus", c, i))
            i += 1
        else:
            j = i
            while j < n and not q[j].isspace() and q[j] not in _WORD_END:
                j += 1
            word = q[i:j]
            if m := _FIELD.match(word):
                name, rest = m.group(1).lower(), word[m.end() :]
                if name in QUERYABLE_FIELDS:
                    if not rest and (j >= n or q[j] not in '("'):
                        raise QueryError(
                            f'`{m.group(0)}` at position {i} must be followed by a word, a "phrase" or a (group)'
                        )
                    tokens.append(_Token("field", name, i))
                    i += m.end()
                    continue
                if rest and not rest.startswith("//"):
                    raise QueryError(
                        f"unknown field `{m.group(1)}` at position {i}; fields are: {', '.join(QUERYABLE_FIELDS)}"
                    )
                # "Update:" or "https://...": a word with a colon, not a field.
            if (token := _word_token(word, i)) is not None:
                tokens.append(token)
            i = j
    return _balanced(tokens)


def _balanced(tokens: list[_Token]) -> list[_Token]:
    """`tokens` without the parentheses that have no partner (ignored, like simple_query_string does)."""
    unmatched: set[int] = set()
    opened: list[int] = []
    for n, token in enumerate(tokens):
        if token.kind == "open":
            opened.append(n)
        elif token.kind == "close":
            if opened:
                opened.pop()
            else:
                unmatched.add(n)
    unmatched.update(opened)
    return [t for n, t in enumerate(tokens) if n not in unmatched] if unmatched else tokens


def _word_token(word: str, pos: int) -> _Token | None:
    """The token of one word; None when nothing is left of it (`?` alone is punctuation)."""
    if word in _OPERATORS:
        return _Token(word.lower(), word, pos)
    word = _without_trailing_question(word)
    if not word:
        return None
    token = _Token("word", word, pos)
    if (m := _BOOST.search(token.text)) and m.start() > 0:
        token.boost = float(m.group(1))
        token.text = token.text[: m.start()]
    if (m := _FUZZY.search(token.text)) and m.start() > 0:
        token.fuzzy = int(m.group(1) or 1)
        token.fuzzy_prefix = int(m.group(2) or 1)
        if not 1 <= token.fuzzy <= MAX_FUZZY_DISTANCE:
            raise QueryError(f"`{word}`: the fuzzy edit distance must be 1 or 2")
        if token.fuzzy_prefix < MIN_FUZZY_PREFIX:
            raise QueryError(f"`{word}`: a fuzzy term must keep at least its first {MIN_FUZZY_PREFIX} letter (`/1`)")
        token.text = token.text[: m.start()]
    token.text = _without_trailing_question(token.text)  # `why?^2`
    return token if token.text else None


def _without_trailing_question(word: str) -> str:
    """`why?` -> `why`: a question mark ending a word is punctuation, not a one-character wildcard."""
    m = _TRAILING_QUESTION.search(word)
    return word[: m.start()] if m else word


# -- syntax tree ---------------------------------------------------------------------------------------------
@dataclass
class _Leaf:
    kind: str  # word, phrase, prefix, wildcard, fuzzy
    text: str
    field: str | None  # None: the default fields
    pos: int
    boost: float = 1.0
    slop: int = 0
    fuzzy: int = 1
    fuzzy_prefix: int = 1


@dataclass
class _Group:
    op: str  # implicit, and, or
    children: list[_Node]


@dataclass
class _Unary:
    op: str  # not, must
    child: _Node


_Node = _Leaf | _Group | _Unary


class _Parser:
    """query := list ;  list := or+ ;  or := and (OR and)* ;  and := unary (AND unary)* ;
    unary := (NOT | - | +)* primary ;  primary := [field:] ( "(" list ")" | phrase | word )"""

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.i = 0
        self.leaves = 0
        self.fuzzy = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def parse(self) -> _Node:
        node = self.parse_list(0)
        if (token := self.peek()) is not None:
            raise QueryError(f"unbalanced parenthesis: the ) at position {token.pos} has no matching (")
        return node

    def parse_list(self, depth: int) -> _Node:
        children = []
        while (token := self.peek()) is not None and token.kind != "close":
            children.append(self.parse_or(depth))
        return children[0] if len(children) == 1 else _Group("implicit", children)

    def parse_or(self, depth: int) -> _Node:
        children = [self.parse_and(depth)]
        while (token := self.peek()) is not None and token.kind == "or":
            self.take()
            children.append(self.parse_and(depth, after=token))
        return children[0] if len(children) == 1 else _Group("or", children)

    def parse_and(self, depth: int, after: _Token | None = None) -> _Node:
        children = [self.parse_unary(depth, after)]
        while (token := self.peek()) is not None and token.kind == "and":
            self.take()
            children.append(self.parse_unary(depth, after=token))
        return children[0] if len(children) == 1 else _Group("and", children)

    def parse_unary(self, depth: int, after: _Token | None) -> _Node:
        ops: list[_Token] = []
        while (token := self.peek()) is not None and token.kind in ("not", "minus", "plus"):
            ops.append(self.take())
        token = self.peek()
        if token is None or token.kind in ("and", "or", "close"):
            culprit = ops[-1] if ops else after
            if culprit is None and token is not None:
                culprit = token
            if culprit is None:
                raise QueryError("the query ends where a term was expected")
            if culprit.kind in ("and", "or"):
                raise QueryError(f"`{_describe(culprit)}` at position {culprit.pos} needs a term on both sides")
            if culprit.kind == "close":
                raise QueryError(f"unbalanced parenthesis: the ) at position {culprit.pos} has no matching (")
            raise QueryError(f"`{_describe(culprit)}` at position {culprit.pos} needs a term after it")
        node = self.parse_primary(depth, None)
        for op in reversed(ops):
            node = _Unary("must" if op.kind == "plus" else "not", node)
        return node

    def parse_primary(self, depth: int, fieldname: str | None) -> _Node:
        token = self.take()
        if token.kind == "field":
            if fieldname is not None:
                raise QueryError(f"`{token.text}:` at position {token.pos} follows another field name")
            nxt = self.peek()
            if nxt is None or nxt.kind not in ("word", "phrase", "open"):
                raise QueryError(
                    f'`{token.text}:` at position {token.pos} must be followed by a word, a "phrase" or a (group)'
                )
            return self.parse_primary(depth, token.text)
        if token.kind == "open":
            if depth + 1 > MAX_DEPTH:
                raise QueryError(f"parentheses are nested more than {MAX_DEPTH} deep")
            if (nxt := self.peek()) is not None and nxt.kind == "close":
                raise QueryError(f"empty parentheses at position {token.pos}")
            node = self.parse_list(depth + 1)
            close = self.peek()
            if close is None:
                raise QueryError(f"unbalanced parenthesis: the ( at position {token.pos} is never closed")
            self.take()
            return _with_field(node, fieldname) if fieldname else node
        self.leaves += 1
        if self.leaves > MAX_CLAUSES:
            raise QueryError(f"the query has more than {MAX_CLAUSES} terms")
        if token.kind == "phrase":
            return _Leaf("phrase", token.text, fieldname, token.pos, token.boost, slop=token.slop)
        if token.fuzzy is not None:
            self.fuzzy += 1
            if self.fuzzy > MAX_FUZZY_TERMS:
                raise QueryError(f"the query has more than {MAX_FUZZY_TERMS} fuzzy terms (`word~`)")
        return _word_leaf(token, fieldname)


def _with_field(node: _Node, fieldname: str) -> _Node:
    """`title:(a OR b)`: the field applies to every unfielded leaf inside the group."""
    if isinstance(node, _Leaf):
        if node.field is None:
            node.field = fieldname
    elif isinstance(node, _Group):
        for child in node.children:
            _with_field(child, fieldname)
    else:
        _with_field(node.child, fieldname)
    return node


def _word_leaf(token: _Token, fieldname: str | None) -> _Leaf:
    text = token.text
    if "*" in text or "?" in text:
        literal = re.split(r"[*?]", text, maxsplit=1)[0]
        if len(literal) < MIN_PATTERN_PREFIX:
            raise QueryError(
                f"`{text}` at position {token.pos}: a wildcard needs at least {MIN_PATTERN_PREFIX} letters before it"
            )
        if token.fuzzy is not None:
            raise QueryError(f"`{text}~` at position {token.pos}: a pattern cannot also be fuzzy")
        kind = "prefix" if text.endswith("*") and text.count("*") == 1 and "?" not in text else "wildcard"
        return _Leaf(kind, text.rstrip("*") if kind == "prefix" else text, fieldname, token.pos, token.boost)
    if token.fuzzy is not None:
        return _Leaf(
            "fuzzy",
            text,
            fieldname,
            token.pos,
            token.boost,
            fuzzy=token.fuzzy,
            fuzzy_prefix=token.fuzzy_prefix,
        )
    return _Leaf("word", text, fieldname, token.pos, token.boost)


# -- filters -------------------------------------------------------------------------------------------------


# (entity type, name as written) -> the keyword terms of the canonical names it may mean (search/aliases.py).
Resolver = Callable[[str, str], list[str]]


def _static_terms(kind: str, name: str) -> list[str]:
    static = static_canonical(name, kind)  # type: ignore[arg-type]
    return list(dict.fromkeys(t for t in (normalise_name(static or ""), normalise_name(name)) if t))


def name_query(kind: str, name: str, resolve: Resolver | None = None, boost: float = 1.0) -> wq.Query:
    """Documents naming the entity `name` of type `kind` under any canonical name it may stand for."""
    terms = (resolve or _static_terms)(kind, name)
    queries = [wq.Term(kind, t, boost=boost) for t in terms]
    return queries[0] if len(queries) == 1 else wq.Or(queries, boost=1.0)


def filter_queries(filters: Filters, resolve: Resolver | None = None) -> list[wq.Query]:
    """One query per filter; each must match. The filters were validated and their dates resolved to day ranges
    when built (requests.py). Entity names go through `resolve` (the index's alias table; without it, the static
    canonical names). Date ranges always have both ends (see schema.py on why)."""
    out: list[wq.Query] = []
    for kind in ENTITY_TYPES:
        out.extend(name_query(kind, name, resolve) for name in getattr(filters, kind))
    for name in ("published", "mentioned"):
        days = filters.days(name)
        if days is None:
            continue
        lo, hi = days
        if name == "mentioned":  # periods: one of them intersects [lo, hi] (schema.py)
            ranges = mentioned_ranges(dt.date.fromisoformat(lo), dt.date.fromisoformat(hi))
            out.append(wq.Or([wq.TermRange(name, start, end) for start, end in ranges]))
        else:
            out.append(wq.TermRange(name, lo, hi))
    return out


# -- building ------------------------------------------------------------------------------------------------
@dataclass
class BuiltQuery:
    """What search.py runs: `query` (text and filters), the text part alone for highlights and spelling."""

    query: wq.Query
    text_query: wq.Query | None
    # (position in the stripped q, word) of each plain word, for did-you-mean.
    words: list[tuple[int, str]] = field(default_factory=list)
    # A long natural-language query (match=auto, more than SHORT_QUERY words, no operators): search.py may
    # add pseudo-relevance feedback terms to it with `expanded`.
    feedback: bool = False
    filters: list[wq.Query] = field(default_factory=list)
    # The part that scores (the text, with any feedback terms), without the filters: once the filtered matches
    # are known, search.py ranks this among them instead of matching the filters again.
    scoring: wq.Query | None = None

    def expanded(self, extra: wq.Query) -> BuiltQuery:
        """The query with `extra` OR-ed to the text part (the filters still apply); `text_query`, which
        highlights and did-you-mean read, stays the user's."""
        assert self.text_query is not None
        text = wq.Or([self.text_query, extra])
        combined = wq.And([text, *self.filters]) if self.filters else text
        return replace(self, query=combined.normalize(), feedback=False, scoring=text.normalize())


class QueryBuilder:
    """Turns request parameters into Whoosh queries for one schema. Build once per index and reuse."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self._resolve: Resolver | None = None
        self.default_fields = {f: b for f, b in DEFAULT_FIELDS.items() if f in schema}

    def build(
        self, q: str | None, *, match: str = "auto", filters: Filters | None = None, resolve: Resolver | None = None
    ) -> BuiltQuery:
        """The query for `q` and `filters`; an empty q means all documents (or all that pass the filters).
        `resolve` maps entity names to canonical names (filters and `person:`-style fields)."""
        if resolve is not self._resolve:  # a copy bound to this request's resolver: builders are shared by threads
            bound = copy.copy(self)
            bound._resolve = resolve
            return bound.build(q, match=match, filters=filters, resolve=resolve)
        parts = filter_queries(filters or Filters(), resolve)
        filter_parts = list(parts)
        text_query = None
        words: list[tuple[int, str]] = []
        feedback = False
        q = (q or "").strip()
        if q:
            text_query, words, feedback = self._parse(q, match)
            parts.insert(0, text_query)
        if not parts:
            combined: wq.Query = wq.Every()
        elif len(parts) == 1:
            combined = parts[0]
        else:
            combined = wq.And(parts)
        scoring = text_query.normalize() if text_query is not None else None
        return BuiltQuery(combined.normalize(), text_query, words, feedback, filter_parts, scoring)

    def parse(self, q: str, match: str = "auto") -> tuple[wq.Query, list[tuple[int, str]]]:
        """Parse the query language; raises QueryError on anything malformed or empty."""
        query, words, _ = self._parse(q, match)
        return query, words

    def _parse(self, q: str, match: str) -> tuple[wq.Query, list[tuple[int, str]], bool]:
        if bad := first_control(q):
            raise QueryError(f"the query contains a control character ({bad})")
        tree = _Parser(_lex(q)).parse()
        words = [(leaf.pos, leaf.text) for leaf in _leaves(tree) if leaf.kind == "word" and leaf.field is None]
        built = self._node(tree, match)
        if built is None or built is wq.NullQuery:
            raise QueryError("the query has no searchable words")
        feedback = (
            match == "auto"
            and isinstance(tree, _Group)
            and tree.op == "implicit"
            and _optional_count(tree.children) > SHORT_QUERY
            and all(isinstance(c, _Leaf) for c in tree.children)
        )
        return built.normalize(), words, feedback

    # -- tree -> Whoosh --------------------------------------------------------------------------------------
    def _node(self, node: _Node, match: str) -> wq.Query | None:
        if isinstance(node, _Leaf):
            return self._leaf(node)
        if isinstance(node, _Unary):
            # A lone `+x` is just x; a lone `-x` / `NOT x` excludes x from everything.
            return self._group(_Group("and", [node]), match)
        return self._group(node, match)

    def _group(self, group: _Group, match: str) -> wq.Query | None:
        must: list[wq.Query] = []
        should: list[wq.Query] = []
        must_not: list[wq.Query] = []
        children = group.children
        long_query = group.op == "implicit" and match == "auto" and _optional_count(children) > SHORT_QUERY
        if long_query:
            children = _natural_language(children)
        for child in children:
            target = must if group.op == "and" else should
            while isinstance(child, _Unary):
                if child.op == "not":
                    target = must_not if target is not must_not else must
                elif target is not must_not:
                    target = must
                child = child.child
            built = self._node(child, match)
            if built is not None and built is not wq.NullQuery:
                target.append(built)
        if group.op == "implicit" and match == "all":
            must, should = must + should, []
        if not should:
            core = _and(must) if must else None
        else:
            if group.op == "implicit" and match == "auto" and not long_query and 1 < len(should) <= SHORT_QUERY:
                # Every word ranks above some words: the conjunction scores on top of the disjunction.
                optional: wq.Query = wq.Or([wq.And(should, boost=ALL_WORDS_BOOST), wq.Or(should)])
            else:
                optional = _or(should)
            core = wq.AndMaybe(_and(must), optional) if must else optional
        if must_not:
            # Nothing positive (`-x` alone): everything except x.
            core = AndNot(core or wq.Every(), _or(must_not))
        return core

    def _leaf(self, leaf: _Leaf) -> wq.Query | None:
        if leaf.field is None:
            parts = [
                q for f, boost in self.default_fields.items() if (q := self._field_leaf(leaf, f, boost)) is not None
            ]
            if not parts:
                return None
            return parts[0] if len(parts) == 1 else wq.Or(parts)
        if leaf.field not in self.schema:
            raise QueryError(f"the field `{leaf.field}` is not in this index")
        return self._field_leaf(leaf, leaf.field, 1.0)

    def _field_leaf(self, leaf: _Leaf, fieldname: str, boost: float) -> wq.Query | None:
        if fieldname in PARTS:  # `title:` and `body:` match in `text`, kept to their part (field_parts.py)
            q = self._field_leaf(leaf, COMBINED_FIELD, boost)
            return None if q is None else FieldPart(q, fieldname)
        boost *= leaf.boost
        fieldobj = self.schema[fieldname]
        if leaf.kind in ("prefix", "wildcard"):
            text = leaf.text.lower() if fieldname != "source" else leaf.text
            if fieldname not in KEYWORD_FIELDS:
                text = text.replace(".", "")
            cls = wq.Prefix if leaf.kind == "prefix" else wq.Wildcard
            return cls(fieldname, text, boost=boost)
        if fieldname in ENTITY_TYPES and leaf.kind in ("word", "phrase") and self._resolve is not None:
            # `person:reagan`, `place:"u.s."`: any name the index knows the entity by, as the filters read it.
            return name_query(fieldname, leaf.text, self._resolve, boost)
        if fieldname in KEYWORD_FIELDS:
            # Whole names: `person:"sergey lavrov"` and `person:lavrov` are one term each.
            texts = list(fieldobj.process_text(leaf.text, mode="query"))
            terms = [wq.Term(fieldname, t, boost=boost) for t in texts if t]
            return None if not terms else terms[0] if len(terms) == 1 else wq.And(terms)
        words = list(fieldobj.process_text(leaf.text, mode="query"))
        if not words:
            return None
        if leaf.kind == "fuzzy" and len(words) == 1:
            return wq.FuzzyTerm(fieldname, words[0], boost=boost, maxdist=leaf.fuzzy, prefixlength=leaf.fuzzy_prefix)
        if len(words) == 1:
            return wq.Term(fieldname, words[0], boost=boost)
        # Whoosh's slop counts positions between words (1 = adjacent); users give Lucene's (0 = adjacent).
        return wq.Phrase(fieldname, words, slop=leaf.slop + 1, boost=boost)


def _and(qs: list[wq.Query]) -> wq.Query:
    return qs[0] if len(qs) == 1 else wq.And(qs)


def _or(qs: list[wq.Query]) -> wq.Query:
    return qs[0] if len(qs) == 1 else wq.Or(qs)


def _optional_count(children: list[_Node]) -> int:
    return sum(1 for c in children if not isinstance(c, _Unary))


def _natural_language(children: list[_Node]) -> list[_Node]:
    """Long free-text queries: drop stopwords (unless nothing would be left) and turn repeats into boosts."""
    plain = [c for c in children if isinstance(c, _Leaf) and c.kind == "word" and c.field is None]
    counts = Counter(c.text.lower() for c in plain)
    keep_stopwords = all(w in STOPWORDS for w in counts)
    plain_ids = {id(c) for c in plain}
    out: list[_Node] = []
    seen: set[str] = set()
    for child in children:
        if id(child) in plain_ids:
            assert isinstance(child, _Leaf)
            key = child.text.lower()
            if key in seen or (key in STOPWORDS and not keep_stopwords):
                continue
            seen.add(key)
            child.boost *= counts[key]
        out.append(child)
    return out


def _leaves(node: _Node) -> Iterator[_Leaf]:
    if isinstance(node, _Leaf):
        yield node
    elif isinstance(node, _Group):
        for child in node.children:
            yield from _leaves(child)
    elif node.op != "not":
        yield from _leaves(node.child)


@functools.lru_cache(maxsize=1)
def query_builder() -> QueryBuilder:
    """The builder for the current schema (the one every searchsvc index is built with)."""
    return QueryBuilder(build_schema())
