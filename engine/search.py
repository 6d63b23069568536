"""Finding runs: their search attributes, evaluated and stored when they start, and the run
list's filters that find them (``attr.<name>=``, ``q=``, ``step=``, ``error=``).

Each filter is a lookup in an index of its own, never a scan of the runs: the attribute
rows (value, and a prefix of one), the idempotency key, a range of the primary key for a
prefix of a run id, the failing steps, and the words of step errors (PostgreSQL's
full-text search; LIKE on SQLite, which has none).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import BooleanField, Exists, OuterRef, Q, QuerySet
from django.db.models.expressions import RawSQL

from common.errors import InvalidInput
from common.queries import bad_param
from engine.models import STEP_FAILING, Run, SearchAttribute, StepRun
from saga.rules import STEP_ID
from saga.search import MAX_VALUE_CHARS, NAME, SearchValueTooLong, search_values

__all__ = [
    "ATTR",
    "FINDING_PARAMS",
    "Finding",
    "finding_filters",
    "finding_query",
    "run_id_range",
    "run_search",
    "runs_found",
    "search_store",
]

#: A filter on a search attribute is ``attr.<name>=<value>``.
ATTR = "attr."
#: Up to this many matching step rows, step= and error= read the matches first (_among).
FEW_MATCHES = 20_000
#: The search filters besides ``attr.<name>``.
FINDING_PARAMS = ("q", "step", "error")
#: The longest ``q=`` or ``error=`` taken.
MAX_QUERY_CHARS = 200
#: The fewest characters of a value ``q=`` looks up as a prefix (fewer: exact values only).
VALUE_PREFIX_MIN = 3
#: The fewest hex digits of a run id taken for the start of one (the board shows eight).
RUN_PREFIX_MIN = 4
_HEX = re.compile(r"[0-9a-f]+")


# --- at start


def run_search(search: Mapping[str, str], input: Any) -> dict[str, str]:
    """The search attributes of a run started with ``input`` (saga.search): 400 naming the
    attribute whose value is too long to be stored."""
    try:
        return search_values(search, input)
    except SearchValueTooLong as exc:
        field = f"search.{exc.name}"
        raise InvalidInput(
            f"The run's search attribute {exc.name} would be {exc.length} characters long; "
            f"at most {MAX_VALUE_CHARS} are stored. Shorten the input field it is made of.",
            [{"step": None, "field": field, "message": f"at most {MAX_VALUE_CHARS} characters"}],
        ) from None


def search_store(run: Run) -> None:
    """Write the rows the filters find ``run`` by, in the transaction that inserts it."""
    if run.search:
        SearchAttribute.objects.bulk_create(
            SearchAttribute(run=run, workflow_id=run.workflow_id, name=name, value=value)
            for name, value in run.search.items()
        )


# --- the filters


@dataclass(frozen=True)
class Finding:
    """What the search filters of a run list ask for; empty asks for nothing."""

    #: ``attr.<name>=<value>``, each exact, all of them ANDed.
    attrs: tuple[tuple[str, str], ...] = ()
    q: str = ""
    step: str = ""
    error: str = ""


def finding_filters(params: Mapping[str, str]) -> Finding:
    """Parse ``attr.<name>``, ``q``, ``step`` and ``error``; 400 naming the field on nonsense.
    An empty value asks for nothing (a form's blank field)."""
    attrs = []
    for key in params:
        if not key.startswith(ATTR):
            continue
        name, value = key[len(ATTR) :], params.get(key) or ""
        if not NAME.fullmatch(name):
            raise bad_param(key, "no search attribute can be called so")
        if len(value) > MAX_VALUE_CHARS:
            raise bad_param(key, f"at most {MAX_VALUE_CHARS} characters")
        if value:
            attrs.append((name, value))
    q = _text(params, "q")
    step = (params.get("step") or "").strip()
    if step and not STEP_ID.fullmatch(step):
        raise bad_param("step", "not a step id")
    error = _text(params, "error")
    if error and not re.search(r"\w", error):
        raise bad_param("error", "give words of the error")
    return Finding(tuple(sorted(attrs)), q, step, error)


def finding_query(finding: Finding) -> dict[str, str]:
    """``finding`` as the run list's query parameters: what the board asks the API for."""
    query = {f"{ATTR}{name}": value for name, value in finding.attrs}
    query.update({key: getattr(finding, key) for key in FINDING_PARAMS if getattr(finding, key)})
    return query


def _text(params: Mapping[str, str], field: str) -> str:
    text = (params.get(field) or "").strip()
    if len(text) > MAX_QUERY_CHARS:
        raise bad_param(field, f"at most {MAX_QUERY_CHARS} characters")
    return text


def runs_found(runs: QuerySet[Run], finding: Finding) -> QuerySet[Run]:
    """``runs`` narrowed to what ``finding`` asks for."""
    for name, value in finding.attrs:
        runs = runs.filter(pk__in=_attribute_runs(name=name, value=value))
    if finding.step:
        failing = StepRun.objects.filter(step_id=finding.step, status__in=STEP_FAILING)
        runs = _among(runs, failing.values("run_id").order_by())
    if finding.error:
        runs = _among(runs, _error_runs(finding.error))
    if finding.q:
        runs = _named_by(runs, finding.q)
    return runs


def _among(runs: QuerySet[Run], matches: QuerySet[Any]) -> QuerySet[Run]:
    """``runs`` whose id is one of ``matches`` (a query of run ids, from an index)."""
    found = _few(matches)
    return runs.filter(pk__in=matches if found is None else found)


def _few(matches: QuerySet[Any]) -> QuerySet[Any] | None:
    """``matches`` (a query of run ids) as a subquery read on its own, when they are fewer
    than :data:`FEW_MATCHES`; else None.

    Read on their own, they are then looked up by the primary key and sorted. Otherwise
    PostgreSQL pulls them up into a join that walks the newest runs one by one, probing
    each, which is quick when most runs match and a walk through nearly all of them when
    few do (a viewer of 2 workflows of 20, bench/search.py). Past the bound, the walk
    wins."""
    if matches[:FEW_MATCHES].count() < FEW_MATCHES:
        return matches[:FEW_MATCHES]  # the LIMIT keeps it a subquery of its own
    return None


def _attribute_runs(**lookup: str) -> QuerySet[Any]:
    return SearchAttribute.objects.filter(**lookup).values("run_id").order_by()


def _error_steps(words: str) -> QuerySet[StepRun]:
    """The step rows whose error holds every one of ``words``."""
    steps = StepRun.objects.exclude(error="").order_by()
    if connection.vendor == "postgresql":
        # The expression and predicate of the index steprun_error_words (migration 0012),
        # word for word. websearch_to_tsquery never fails on what a person types.
        match = RawSQL(
            "to_tsvector('simple', error) @@ websearch_to_tsquery('simple', %s) AND error <> ''",
            [words],
            output_field=BooleanField(),
        )
        return steps.filter(match)
    condition = Q()
    for word in re.findall(r"\w+", words):
        condition &= Q(error__icontains=word)
    return steps.filter(condition)


def _error_runs(words: str) -> QuerySet[Any]:
    return _error_steps(words).values("run_id")


def _named_by(runs: QuerySet[Run], q: str) -> QuerySet[Run]:
    """``runs`` that ``q`` names, whichever way: a run id or a prefix of one, an idempotency
    key, a search attribute's value or a prefix of one, or words of an error.

    Few matches (the usual: an order id, a key): one UNION of index lookups reads them,
    then their runs are read by their key and sorted. Many (a short prefix most values
    share): the newest runs are walked and each is tested, which soon fills a page."""
    value = {"value__startswith": q} if len(q) >= VALUE_PREFIX_MIN else {"value": q}
    span = run_id_range(q)
    lookups = [
        _attribute_runs(**value),
        Run.objects.filter(idempotency_key=q).values("id").order_by(),
        _error_runs(q),
    ]
    if span is not None:
        lookups.append(Run.objects.filter(pk__range=span).values("id").order_by())
    found = _few(lookups[0].union(*lookups[1:], all=True))
    if found is not None:
        return runs.filter(pk__in=found)
    named = (
        Q(idempotency_key=q)
        | Q(Exists(SearchAttribute.objects.filter(run=OuterRef("pk"), **value)))
        | Q(Exists(_error_steps(q).filter(run=OuterRef("pk"))))
    )
    if span is not None:
        named |= Q(pk__range=span)
    return runs.filter(named)


def run_id_range(prefix: str) -> tuple[uuid.UUID, uuid.UUID] | None:
    """The ids that start with ``prefix`` (with or without its dashes), as a range of the
    primary key: ids order as their hex digits do, in PostgreSQL's uuid and SQLite's
    char(32) alike. None when ``prefix`` is no start of a run id."""
    digits = prefix.strip().lower().replace("-", "")
    if not RUN_PREFIX_MIN <= len(digits) <= 32 or not _HEX.fullmatch(digits):
        return None
    return uuid.UUID(digits.ljust(32, "0")), uuid.UUID(digits.ljust(32, "f"))
