"""Usage figures from the call log: the admin dashboard's numbers and its CSV export.

Everything is aggregated in the database, over the indexed `created_at` range of one period (plus
optional provider, alias and caller filters): counts, errors, failovers, tokens and cost are one
`GROUP BY` per dimension. Latency percentiles are exact and interpolated like PostgreSQL's
`percentile_cont`: on PostgreSQL they are that aggregate; elsewhere (SQLite) one window query per
dimension ranks the successful calls' latencies and returns only the two rows around each rank.
`bench/dashboard.py` measures it on a million rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar, Final

from django import forms
from django.db import connections
from django.db.models import Aggregate, Count, F, FloatField, Q, QuerySet, Sum, Window
from django.db.models.functions import RowNumber, Substr, TruncDate
from django.utils import timezone

from .models import CallLog, Outcome

DEFAULT_DAYS: Final = 30
MAX_DAYS: Final = 366
GROUP_LIMIT: Final = 50
PERCENTILES: Final = (0.5, 0.95)
DIMENSIONS: Final = ("provider", "alias", "caller")
_SUCCESS = Q(outcome=Outcome.SUCCESS)
_UTC_NAMES: Final = frozenset({"UTC", "Etc/UTC", "GMT", "Etc/GMT", "UCT", "Etc/UCT", "Universal", "Zulu"})


# --- the period and its filters ------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageFilters:
    """One dashboard period (`start`..`end`, both days inclusive, in the current time zone)."""

    start: dt.date
    end: dt.date
    provider: str = ""
    alias: str = ""
    caller: str = ""

    @classmethod
    def default(cls, *, today: dt.date | None = None) -> UsageFilters:
        end = today or timezone.localdate()
        return cls(start=end - dt.timedelta(days=DEFAULT_DAYS - 1), end=end)

    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """The half-open datetime range [start 00:00, day after end 00:00)."""
        tz = timezone.get_current_timezone()
        start = dt.datetime.combine(self.start, dt.time.min)
        stop = dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time.min)
        return timezone.make_aware(start, tz), timezone.make_aware(stop, tz)

    def days(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=n) for n in range((self.end - self.start).days + 1)]

    def queryset(self) -> QuerySet[CallLog]:
        start, stop = self.bounds()
        qs = CallLog.objects.filter(created_at__gte=start, created_at__lt=stop).order_by()
        exact = {name: getattr(self, name) for name in DIMENSIONS if getattr(self, name)}
        return qs.filter(**exact)

    def as_query(self) -> dict[str, str]:
        """The filters as query parameters (what `UsageFilterForm` reads back)."""
        params = {"start": self.start.isoformat(), "end": self.end.isoformat()}
        params.update({name: getattr(self, name) for name in DIMENSIONS if getattr(self, name)})
        return params


class UsageFilterForm(forms.Form):
    """The dashboard's and the CSV export's query parameters; blank dates mean the last 30 days."""

    start = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    provider = forms.CharField(required=False, max_length=64)
    alias = forms.CharField(required=False, max_length=64)
    caller = forms.CharField(required=False, max_length=100)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        default = UsageFilters.default()
        start, end = data.get("start"), data.get("end")
        if end is None:
            end = start + dt.timedelta(days=DEFAULT_DAYS - 1) if start else default.end
        if start is None:
            start = end - dt.timedelta(days=DEFAULT_DAYS - 1)
        if start > end:
            raise forms.ValidationError("“From” is after “To”: swap the two dates.")
        if (end - start).days >= MAX_DAYS:
            raise forms.ValidationError(f"Choose a period of at most {MAX_DAYS} days.")
        data["start"], data["end"] = start, end
        return data

    def filters(self) -> UsageFilters:
        """The valid filters, or the default period when the form is invalid."""
        if not self.is_valid():
            return UsageFilters.default()
        data = self.cleaned_data
        return UsageFilters(
            **{
                name: (data[name] or "").strip() if name in DIMENSIONS else data[name]
                for name in ("start", "end", *DIMENSIONS)
            }
        )


# --- results -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupStats:
    """Figures for one provider, alias or caller (or, as `UsageReport.totals`, the whole period)."""

    key: str
    calls: int = 0
    errors: int = 0
    failovers: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost: Decimal = Decimal(0)
    unpriced: int = 0
    p50_ms: float | None = None
    p95_ms: float | None = None

    @property
    def error_rate(self) -> float:
        return self.errors / self.calls if self.calls else 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class DayStats:
    day: dt.date
    success: int = 0
    errors: int = 0
    cost: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True, kw_only=True)
class Breakdown:
    """The top groups of one dimension by calls; `hidden` groups beyond `GROUP_LIMIT` are left out."""

    dimension: str
    groups: tuple[GroupStats, ...] = ()
    hidden: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageReport:
    filters: UsageFilters
    totals: GroupStats
    days: tuple[DayStats, ...]
    breakdowns: Mapping[str, Breakdown] = field(default_factory=dict)
    elapsed_ms: float = 0.0


# --- aggregation ---------------------------------------------------------------------------------


class PercentileCont(Aggregate):
    """PostgreSQL's `percentile_cont(p) WITHIN GROUP (ORDER BY expr)`; `p` is a code constant."""

    function = "PERCENTILE_CONT"
    name = "PercentileCont"
    output_field = FloatField()
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    allow_distinct: ClassVar[bool] = False

    def __init__(self, expression: Any, fraction: float, **extra: Any) -> None:
        if not 0 <= fraction <= 1:
            raise ValueError("A percentile fraction is between 0 and 1.")
        super().__init__(expression, fraction=repr(float(fraction)), **extra)


def _uses_percentile_cont(qs: QuerySet[Any]) -> bool:
    return connections[qs.db].vendor == "postgresql"


def _measures(postgres: bool) -> dict[str, Any]:
    """The aggregates of one group, named `m_<stat>` so no name shadows a model field."""
    measures: dict[str, Any] = {
        "m_calls": Count("id"),
        "m_errors": Count("id", filter=~_SUCCESS),
        "m_failovers": Count("id", filter=Q(failed_over=True)),
        "m_prompt_tokens": Sum("prompt_tokens"),
        "m_completion_tokens": Sum("completion_tokens"),
        "m_total_tokens": Sum("total_tokens"),
        "m_cost": Sum("cost"),
        "m_unpriced": Count("id", filter=_SUCCESS & Q(cost__isnull=True)),
    }
    if postgres:
        measures["m_p50_ms"] = PercentileCont("latency_ms", PERCENTILES[0], filter=_SUCCESS)
        measures["m_p95_ms"] = PercentileCont("latency_ms", PERCENTILES[1], filter=_SUCCESS)
    return measures


_COUNTS: Final = (
    "calls",
    "errors",
    "failovers",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "unpriced",
)


def _stats(
    key: str, row: Mapping[str, Any], percentiles: Mapping[str, tuple[float | None, ...]]
) -> GroupStats:
    p50, p95 = percentiles.get(key, (row.get("m_p50_ms"), row.get("m_p95_ms")))
    return GroupStats(
        key=key,
        cost=Decimal(row["m_cost"] or 0),
        p50_ms=p50,
        p95_ms=p95,
        **{name: row[f"m_{name}"] or 0 for name in _COUNTS},
    )


def interpolate(values_by_rank: Mapping[int, float], count: int, fraction: float) -> float | None:
    """`percentile_cont` from the two values around rank `fraction * (count - 1)` (1-based ranks)."""
    if count <= 0:
        return None
    position = fraction * (count - 1)
    low = math.floor(position)
    below = values_by_rank.get(low + 1)
    if below is None:
        return None
    above = values_by_rank.get(low + 2, below)
    return below + (position - low) * (above - below)


def _rank_condition(rank: str, count: str) -> str:
    """SQL keeping, per partition, the rows ranked floor(p * (count - 1)) + 1 and + 2, for each p."""
    return " OR ".join(
        f"({rank} - 2 <= ({count} - 1) * {fraction!r} AND ({count} - 1) * {fraction!r} < {rank})"
        for fraction in PERCENTILES
    )


def window_percentiles(qs: QuerySet[CallLog], dimension: str | None) -> dict[str, tuple[float | None, ...]]:
    """Exact p50/p95 of successful calls' latency per group, fetching at most 4 rows per group.

    `dimension` None computes them over the whole queryset (key "").
    """
    partition = [F(dimension)] if dimension else []
    ranked = (
        qs.filter(_SUCCESS)
        .order_by()
        .annotate(
            rn=Window(RowNumber(), partition_by=partition or None, order_by=F("latency_ms").asc()),
            cnt=Window(Count("id"), partition_by=partition or None),
        )
        .values_list(dimension or "outcome", "latency_ms", "rn", "cnt")
    )
    inner, params = ranked.query.sql_with_params()
    connection = connections[qs.db]
    key, value, rank, count = (
        f"w.{connection.ops.quote_name(n)}" for n in (dimension or "outcome", "latency_ms", "rn", "cnt")
    )
    sql = f"SELECT {key}, {value}, {rank}, {count} FROM ({inner}) w WHERE {_rank_condition(rank, count)}"
    ranks: dict[str, dict[int, float]] = {}
    counts: dict[str, int] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for group_key, latency, position, size in cursor.fetchall():
            group = group_key if dimension else ""
            ranks.setdefault(group, {})[position] = latency
            counts[group] = size
    return {group: tuple(interpolate(ranks[group], counts[group], f) for f in PERCENTILES) for group in ranks}


def _breakdown(qs: QuerySet[CallLog], dimension: str, postgres: bool) -> Breakdown:
    rows = list(qs.values(dimension).annotate(**_measures(postgres)).order_by("-m_calls", dimension))
    percentiles = {} if postgres else window_percentiles(qs, dimension)
    groups = tuple(_stats(row[dimension], row, percentiles) for row in rows[:GROUP_LIMIT])
    return Breakdown(dimension=dimension, groups=groups, hidden=max(len(rows) - GROUP_LIMIT, 0))


def _totals(qs: QuerySet[CallLog], postgres: bool) -> GroupStats:
    row = qs.aggregate(**_measures(postgres))
    percentiles = {} if postgres or not row["m_calls"] else window_percentiles(qs, None)
    return _stats("", row, percentiles)


def _day_expression(qs: QuerySet[CallLog]) -> Any:
    """The local calendar day of `created_at`.

    SQLite keeps datetimes as UTC text, so with a UTC time zone the day is the first ten
    characters: a native string function instead of Django's per-row Python date conversion,
    which costs seconds on a million rows.
    """
    tz = timezone.get_current_timezone()
    if connections[qs.db].vendor == "sqlite" and (tz is dt.UTC or str(tz) in _UTC_NAMES):
        return Substr("created_at", 1, 10)
    return TruncDate("created_at", tzinfo=tz)


def _day_series(filters: UsageFilters, qs: QuerySet[CallLog]) -> tuple[DayStats, ...]:
    rows = (
        qs.annotate(day=_day_expression(qs))
        .values("day")
        .annotate(
            m_success=Count("id", filter=_SUCCESS), m_errors=Count("id", filter=~_SUCCESS), m_cost=Sum("cost")
        )
        .order_by("day")
    )
    found = {}
    for row in rows:
        day = row["day"] if isinstance(row["day"], dt.date) else dt.date.fromisoformat(str(row["day"]))
        found[day] = DayStats(
            day=day, success=row["m_success"], errors=row["m_errors"], cost=Decimal(row["m_cost"] or 0)
        )
    return tuple(found.get(day, DayStats(day=day)) for day in filters.days())


def build_report(filters: UsageFilters, *, dimensions: Sequence[str] = DIMENSIONS) -> UsageReport:
    """Aggregate the call log for `filters`: totals, one series per day, a breakdown per dimension."""
    started = time.perf_counter()
    qs = filters.queryset()
    postgres = _uses_percentile_cont(qs)
    totals = _totals(qs, postgres)
    breakdowns = {}
    if totals.calls:
        breakdowns = {dimension: _breakdown(qs, dimension, postgres) for dimension in dimensions}
    days = _day_series(filters, qs) if totals.calls else tuple(DayStats(day=d) for d in filters.days())
    return UsageReport(
        filters=filters,
        totals=totals,
        days=days,
        breakdowns=breakdowns,
        elapsed_ms=(time.perf_counter() - started) * 1000,
    )


# --- CSV export ----------------------------------------------------------------------------------

EXPORT_COLUMNS: Final = (
    "created_at",
    "caller",
    "requested_model",
    "alias",
    "provider",
    "model",
    "outcome",
    "error_class",
    "error_message",
    "status_code",
    "attempt_count",
    "failed_over",
    "latency_ms",
    "first_chunk_ms",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "total_tokens",
    "cost",
    "cost_source",
    "streamed",
    "finish_reason",
    "request_id",
)
TEXT_COLUMNS: Final = ("prompt_text", "response_text")
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    """A write-only file whose `write` returns the line, for `csv.writer` in a generator."""

    def write(self, value: str) -> str:
        return value


def _cell(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value  # a spreadsheet would run "=..." from a caller name or error text
    if value is None:
        return ""
    return value


def export_rows(
    filters: UsageFilters, *, include_text: bool = False, chunk_size: int = 2000
) -> Iterator[str]:
    """The call log of `filters` as CSV lines, header first, read from the database in chunks."""
    columns: tuple[str, ...] = EXPORT_COLUMNS + (TEXT_COLUMNS if include_text else ())
    writer = csv.writer(_Echo())
    yield writer.writerow(columns)
    rows: Iterable[tuple[Any, ...]] = (
        filters.queryset().order_by("created_at", "id").values_list(*columns).iterator(chunk_size=chunk_size)
    )
    for row in rows:
        yield writer.writerow([_cell(value) for value in row])
