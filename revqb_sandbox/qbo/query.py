"""QBO query language: SELECT * | COUNT(*) FROM e [WHERE] [ORDERBY] [STARTPOSITION n] [MAXRESULTS n]."""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from revqb_sandbox.qbo.common import QBOError
from revqb_sandbox.qbo.entities import BY_LOWER, EntitySpec
from revqb_sandbox.qbo.index import OTHER
from revqb_sandbox.qbo.store import Obj, public

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:\\.|[^'\\])*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op><=|>=|!=|=|<|>)"
    r"|(?P<punct>[(),*])|(?P<ident>[A-Za-z_][A-Za-z0-9_.]*))"
)
KEYWORDS = {"select", "from", "where", "and", "in", "like", "orderby", "order", "by", "asc", "desc"}
KEYWORDS |= {"startposition", "maxresults", "count", "true", "false", "or"}
EXTRA_QUERYABLE = {"Preferences": "preferences", "CompanyInfo": "companyinfo"}


@dataclass
class Tok:
    kind: str
    text: str
    col: int
    value: Any = None


@dataclass
class Cond:
    field: str
    op: str
    value: Any


@dataclass
class Query:
    entity: str
    count: bool = False
    conds: list[Cond] = field(default_factory=list)
    order: list[tuple[str, bool]] = field(default_factory=list)
    start: int = 1
    max_results: int = 100


def _parse_error(tok: Tok | None, expecting: str, text: str) -> QBOError:
    found = f'" {tok.text} "' if tok else '"<EOF>"'
    col = tok.col if tok else len(text) + 1
    return QBOError(
        "4000",
        "Error parsing query",
        f"QueryParserError: Encountered {found} at line 1, column {col}. Was expecting one of: {expecting}",
    )


def _tokenize(text: str) -> list[Tok]:
    toks: list[Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            bad = text[pos:].lstrip()
            col = len(text) - len(bad) + 1
            raise QBOError(
                "4000",
                "Error parsing query",
                f'QueryParserError: Lexical error at line 1, column {col}. Encountered: "{bad[:1]}"',
            )
        kind = m.lastgroup or ""
        raw = m.group(kind)
        col = m.start(kind) + 1
        if kind == "str":
            toks.append(Tok("str", raw, col, re.sub(r"\\(.)", r"\1", raw[1:-1])))
        elif kind == "num":
            toks.append(Tok("num", raw, col, Decimal(raw)))
        elif kind == "ident" and raw.lower() in KEYWORDS:
            toks.append(Tok("kw", raw, col, raw.lower()))
        else:
            toks.append(Tok(kind, raw, col, raw))
        pos = m.end()
    return toks


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0

    def peek(self) -> Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def next(self, expecting: str) -> Tok:
        tok = self.peek()
        if tok is None:
            raise _parse_error(None, expecting, self.text)
        self.i += 1
        return tok

    def kw(self, *words: str) -> bool:
        tok = self.peek()
        if tok is not None and tok.kind == "kw" and tok.value in words:
            self.i += 1
            return True
        return False

    def expect_kw(self, word: str) -> None:
        if not self.kw(word):
            raise _parse_error(self.peek(), f'"{word.upper()}"', self.text)

    def expect(self, kind: str, text: str | None = None) -> Tok:
        tok = self.next(f'"{text or kind}"')
        if tok.kind != kind or (text is not None and tok.text != text):
            raise _parse_error(tok, f'"{text or kind}"', self.text)
        return tok

    def value(self) -> Any:
        tok = self.next("<STRING> <INTEGER> <TRUE> <FALSE>")
        if tok.kind in ("str", "num"):
            return tok.value
        if tok.kind == "kw" and tok.value in ("true", "false"):
            return tok.value == "true"
        raise _parse_error(tok, "<STRING> <INTEGER> <TRUE> <FALSE>", self.text)

    def parse(self) -> Query:
        self.expect_kw("select")
        count = False
        if self.kw("count"):
            self.expect("punct", "(")
            self.expect("punct", "*")
            self.expect("punct", ")")
            count = True
        else:
            self.expect("punct", "*")
            while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                self.i += 1
                self.expect("ident")
        self.expect_kw("from")
        entity = self.expect("ident").text
        q = Query(entity=entity, count=count)
        if self.kw("where"):
            q.conds.append(self.cond())
            while self.kw("and"):
                q.conds.append(self.cond())
        while self.peek() is not None:
            if self.kw("orderby") or (self.kw("order") and (self.expect_kw("by") or True)):
                q.order.append(self.order_item())
                while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                    self.i += 1
                    q.order.append(self.order_item())
            elif self.kw("startposition"):
                q.start = max(1, int(self.expect("num").value))
            elif self.kw("maxresults"):
                q.max_results = min(1000, max(0, int(self.expect("num").value)))
            else:
                raise _parse_error(
                    self.peek(), "<EOF> <AND> <ORDERBY> <STARTPOSITION> <MAXRESULTS>", self.text
                )
        return q

    def order_item(self) -> tuple[str, bool]:
        name = self.expect("ident").text
        desc = False
        if self.kw("desc"):
            desc = True
        else:
            self.kw("asc")
        return name, desc

    def cond(self) -> Cond:
        name = self.expect("ident").text
        tok = self.next('"=" "<" ">" "<=" ">=" "IN" "LIKE"')
        if tok.kind == "op" and tok.text != "!=":
            return Cond(name, tok.text, self.value())
        if tok.kind == "kw" and tok.value == "in":
            self.expect("punct", "(")
            values = [self.value()]
            while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                self.i += 1
                values.append(self.value())
            self.expect("punct", ")")
            return Cond(name, "in", values)
        if tok.kind == "kw" and tok.value == "like":
            val = self.value()
            if not isinstance(val, str):
                raise _parse_error(tok, "<STRING>", self.text)
            return Cond(name, "like", val)
        raise _parse_error(tok, '"=" "<" ">" "<=" ">=" "IN" "LIKE"', self.text)


def parse(text: str) -> Query:
    """Parse a query (4000 on syntax errors)."""
    return _Parser(text.strip().rstrip(";")).parse()


def _resolve(obj: Obj, dotted: str) -> Any:
    cur: Any = obj
    for part in dotted.split("."):
        if not isinstance(cur, dict):
            return None
        key = next((k for k in cur if k.lower() == part.lower()), None)
        if key is None:
            return None
        cur = cur[key]
    if isinstance(cur, dict):
        for inner in ("value", "Address", "FreeFormNumber", "URI"):
            if inner in cur:
                return cur[inner]
    return cur


def _known(spec: EntitySpec | None, dotted: str) -> bool:
    if spec is None:
        return True
    head = dotted.split(".")[0].lower()
    return any(f.lower() == head for f in spec.fields)


def _coerce(a: Any, b: Any, fold: bool) -> tuple[Any, Any]:
    if isinstance(b, bool) or isinstance(a, bool):
        return a, b
    if isinstance(b, Decimal) or isinstance(a, Decimal | int):
        try:
            return Decimal(str(a)), Decimal(str(b))
        except InvalidOperation:
            return str(a), str(b)
    sa, sb = str(a), str(b)
    if sa.isdigit() and sb.isdigit():
        return int(sa), int(sb)
    if len(sa) > 10 and len(sb) >= 10 and sa[4:5] == "-" and sb[4:5] == "-":
        try:
            da, db = datetime.fromisoformat(sa), datetime.fromisoformat(sb)
            if (da.tzinfo is None) == (db.tzinfo is None):
                return da, db
        except ValueError:
            pass
    return (sa.casefold(), sb.casefold()) if fold else (sa, sb)


def _match(obj: Obj, cond: Cond, fold: bool) -> bool:
    actual = _resolve(obj, cond.field)
    if actual is None:
        return False
    if cond.op == "in":
        if isinstance(actual, str) and len(cond.value) > 4:
            keys = _literal_keys(cond.value, fold)
            key = stored_key(actual, fold)
            if keys is not None and key != OTHER:  # equal exactly when the buckets are equal
                return key in keys
        return any(_eq(actual, v, fold) for v in cond.value)
    if cond.op == "like":
        pattern = "^" + ".*".join(re.escape(p) for p in cond.value.split("%")) + "$"
        return re.match(pattern, str(actual), re.IGNORECASE if fold else 0) is not None
    a, b = _coerce(actual, cond.value, fold)
    try:
        return {"=": a == b, "<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[cond.op]
    except TypeError:
        return False


def _eq(actual: Any, value: Any, fold: bool) -> bool:
    a, b = _coerce(actual, value, fold)
    return bool(a == b)


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, int | Decimal):
        return (1, Decimal(value))
    s = str(value)
    return (1, int(s)) if s.isdigit() else (2, s.casefold())


#: Fields whose ``= 'v'`` / ``IN ('v', ...)`` conditions may be answered from an index (revqb's lookups).
INDEXED_FIELDS = frozenset({"id", "displayname", "name", "docnumber", "customerref", "primaryemailaddr"})

#: ``lookup(lower_entity, field, keys)``: (EntityName, the rows that may match, in table order) or None.
Lookup = Callable[[str, str, list[Hashable]], "tuple[str, list[Obj]] | None"]


def literal_key(value: Any, fold: bool) -> Hashable | None:
    """The index bucket a query literal can only equal (see :func:`_coerce`); None: not indexable."""
    if not isinstance(value, str) or (len(value) >= 10 and value[4:5] == "-"):
        return None  # numbers, booleans and date-like text compare by value: the scan decides
    if value.isdigit():
        try:
            return ("i", int(value))
        except ValueError:
            return None
    return ("s", value.casefold() if fold else value)


def stored_key(value: str, fold: bool) -> Hashable:
    """The bucket of a stored text value (OTHER: digits ``int`` cannot read)."""
    if value.isdigit():
        try:
            return ("i", int(value))
        except ValueError:
            return OTHER
    return ("s", value.casefold() if fold else value)


def stored_keys(dotted: str, fold: bool) -> Callable[[Obj], tuple[Hashable, ...]]:
    """Key function of the index of ``dotted``: a stored value's bucket (OTHER when not a plain string)."""

    def keys(obj: Obj) -> tuple[Hashable, ...]:
        value = _resolve(obj, dotted)
        if value is None:
            return ()  # never matches (:func:`_match`)
        return (stored_key(value, fold),) if isinstance(value, str) else (OTHER,)

    return keys


_KEYS_CACHE: dict[tuple[int, bool], tuple[list[Any], frozenset[Hashable] | None]] = {}


def _literal_keys(values: list[Any], fold: bool) -> frozenset[Hashable] | None:
    """The buckets of an ``IN`` list (None if one literal has none); cached per list while it lives."""
    cached = _KEYS_CACHE.get((id(values), fold))
    if cached is not None and cached[0] is values:
        return cached[1]
    keys = [literal_key(v, fold) for v in values]
    out = None if any(k is None for k in keys) else frozenset(keys)  # type: ignore[arg-type]
    if len(_KEYS_CACHE) > 64:
        _KEYS_CACHE.clear()
    _KEYS_CACHE[(id(values), fold)] = (values, out)
    return out


def _probe(q: Query, fold: bool) -> tuple[str, list[Hashable]] | None:
    """The first ``=`` / ``IN`` condition on an indexed field whose literals all have a bucket."""
    for cond in q.conds:
        if cond.op not in ("=", "in") or cond.field.lower() not in INDEXED_FIELDS:
            continue
        values = cond.value if cond.op == "in" else [cond.value]
        keys = [literal_key(v, fold) for v in values]
        if all(k is not None for k in keys):
            return cond.field, keys  # type: ignore[return-value]
    return None


def execute(
    text: str,
    rows_for: Callable[[str], tuple[str, list[Obj]] | None],
    fold: bool = True,
    lookup: Lookup | None = None,
) -> dict[str, Any]:
    """Run ``text``; ``rows_for(lower_name)`` gives (EntityName, rows) or None. Returns QueryResponse.

    With ``lookup``, a query with an indexable condition reads only that condition's candidates; every
    condition is still checked on each of them, so the answer is the scan's.
    """
    q = parse(text)
    found = None
    probe = _probe(q, fold) if lookup is not None else None
    if lookup is not None and probe is not None:
        found = lookup(q.entity.lower(), *probe)
    if found is None:
        found = rows_for(q.entity.lower())
    if found is None:
        raise QBOError(
            "4001", "Invalid query", f"QueryValidationError: Invalid context declaration : {q.entity}"
        )
    name, rows = found
    spec = BY_LOWER.get(name.lower())
    for cond in q.conds:
        if not _known(spec, cond.field):
            raise QBOError(
                "4001", "Invalid query", f"QueryValidationError: property '{cond.field}' is not queryable"
            )
    for key, _ in q.order:
        if not _known(spec, key):
            raise QBOError(
                "4001", "Invalid query", f"QueryValidationError: property '{key}' is not queryable"
            )
    if spec is not None and spec.kind == "name" and not any(c.field.lower() == "active" for c in q.conds):
        rows = [r for r in rows if r.get("Active", True) is not False]
    rows = [r for r in rows if all(_match(r, c, fold) for c in q.conds)]
    if q.count:
        return {"totalCount": len(rows)}
    rows.sort(key=lambda r: _sort_key(r.get("Id")))
    for key, desc in reversed(q.order):
        rows.sort(key=lambda r, k=key: _sort_key(_resolve(r, k)), reverse=desc)
    page = rows[q.start - 1 : q.start - 1 + q.max_results]
    if not page:
        return {}
    return {name: [public(r) for r in page], "startPosition": q.start, "maxResults": len(page)}
