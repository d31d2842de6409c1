"""Usage figures from the call log: the admin dashboard's numbers and its CSV export.

Everything is aggregated in the database over the indexed `created_at` range of one period (plus
optional provider, alias and caller filters). Counts, errors, failovers, tokens and cost come from
one `GROUP BY provider, alias, caller, day` whose few thousand rows are summed up here into the
totals, the day series and the three breakdowns. Latency percentiles (p50, p95 of successful
calls) are interpolated like `percentile_cont`: on PostgreSQL they are `percentile_cont` itself, in
one `GROUPING SETS` query; elsewhere (SQLite) one window query ranks the latencies per group and
returns only the rows around each rank, over every call or, past `SAMPLE_TARGET` successful calls,
over a 1-in-N sample by id (the page says so). `bench/dashboard.py` measures it on a million rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from django import forms
from django.db import connections
from django.db.models import Count, F, Q, QuerySet, Sum, Window
from django.db.models.functions import RowNumber, Substr, TruncDate
from django.utils import timezone

from . import ledger
from .models import CallLog, Outcome

DEFAULT_DAYS: Final = 30
MAX_DAYS: Final = 366
# Dates a period may use: far enough from date.min/max that no day arithmetic (a default end 29
# days on, the half-open bound a day on, a time zone's offset) can overflow.
EARLIEST_DAY: Final = dt.date(1970, 1, 1)
LATEST_DAY: Final = dt.date(9998, 12, 31)
GROUP_LIMIT: Final = 50
PERCENTILES: Final = (0.5, 0.95)
# Above this many successful calls in a period, SQLite ranks a 1-in-N sample for the percentiles
# (sorting a million latencies per dimension takes seconds there); PostgreSQL is always exact.
SAMPLE_TARGET: Final = 50_000
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
        if any(day is not None and not EARLIEST_DAY <= day <= LATEST_DAY for day in (start, end)):
            raise forms.ValidationError(
                f"Choose dates between {EARLIEST_DAY.isoformat()} and {LATEST_DAY.isoformat()}."
            )
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
    sample_every: int = 1
    elapsed_ms: float = 0.0


# --- aggregation ---------------------------------------------------------------------------------


_MEASURES: Final = {
    "m_calls": Count("id"),
    "m_errors": Count("id", filter=~_SUCCESS),
    "m_failovers": Count("id", filter=Q(failed_over=True)),
    "m_prompt_tokens": Sum("prompt_tokens"),
    "m_completion_tokens": Sum("completion_tokens"),
    "m_total_tokens": Sum("total_tokens"),
    "m_cost": Sum("cost"),
    "m_unpriced": Count("id", filter=_SUCCESS & Q(cost__isnull=True)),
}
_COUNTS: Final = (
    "calls",
    "errors",
    "failovers",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "unpriced",
)


@dataclass(slots=True)
class _Tally:
    """A mutable running sum of rollup rows (internal; `stats()` freezes it)."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_COUNTS, 0))
    cost: Decimal = Decimal(0)

    def add(self, row: Mapping[str, Any]) -> None:
        for name in _COUNTS:
            self.counts[name] += row[f"m_{name}"] or 0
        self.cost += Decimal(row["m_cost"] or 0)

    def stats(self, key: str, latency: tuple[float | None, float | None] = (None, None)) -> GroupStats:
        return GroupStats(key=key, cost=self.cost, p50_ms=latency[0], p95_ms=latency[1], **self.counts)


@dataclass(slots=True)
class _Rollup:
    totals: _Tally = field(default_factory=_Tally)
    days: dict[dt.date, _Tally] = field(default_factory=dict)
    groups: dict[str, dict[str, _Tally]] = field(default_factory=lambda: {d: {} for d in DIMENSIONS})


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


def _rollup(qs: QuerySet[CallLog]) -> _Rollup:
    """Every count and sum in one scan: GROUP BY provider, alias, caller and day, summed up here.

    The rows streamed back number the distinct (provider, alias, caller, day) combinations, a few
    thousand for a month; only the per-value sums are kept.
    """
    rollup = _Rollup()
    rows = qs.annotate(day=_day_expression(qs)).values(*DIMENSIONS, "day").annotate(**_MEASURES).order_by()
    for row in rows.iterator(chunk_size=5000):
        rollup.totals.add(row)
        day = row["day"] if isinstance(row["day"], dt.date) else dt.date.fromisoformat(str(row["day"]))
        rollup.days.setdefault(day, _Tally()).add(row)
        for dimension in DIMENSIONS:
            rollup.groups[dimension].setdefault(row[dimension], _Tally()).add(row)
    return rollup


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


Latencies = dict[tuple[str, str], tuple[float | None, float | None]]


def _rank_condition(rank: str, count: str) -> str:
    """SQL keeping, per partition, the rows ranked floor(p * (count - 1)) + 1 and + 2, for each p."""
    return " OR ".join(
        f"({rank} - 2 <= ({count} - 1) * {fraction!r} AND ({count} - 1) * {fraction!r} < {rank})"
        for fraction in PERCENTILES
    )


def window_percentiles(qs: QuerySet[CallLog], *, sample_every: int = 1) -> Latencies:
    """p50/p95 of successful calls' latency overall ("", "") and per (dimension, value), one query.

    Ranks every successful call (or, with `sample_every` > 1, every call whose id is a multiple
    of it) within each partition by latency, and returns only the two rows around each rank: at
    most 4 rows per group. Interpolated like `percentile_cont`; exact when `sample_every` is 1.
    """
    ranked = qs.filter(_SUCCESS).order_by()
    if sample_every > 1:
        # The `%` operator, not Mod(): on SQLite Django's MOD() is a Python callback per row.
        ranked = ranked.alias(sample_slot=F("id") % sample_every).filter(sample_slot=0)
    windows: dict[str, Any] = {}
    for index, dimension in enumerate(("", *DIMENSIONS)):
        partition = [F(dimension)] if dimension else None
        windows[f"rn{index}"] = Window(RowNumber(), partition_by=partition, order_by=F("latency_ms").asc())
        windows[f"cnt{index}"] = Window(Count("id"), partition_by=partition)
    inner, params = (
        ranked.annotate(**windows).values_list(*DIMENSIONS, "latency_ms", *windows).query.sql_with_params()
    )
    connection = connections[qs.db]
    columns = [f"w.{connection.ops.quote_name(name)}" for name in (*DIMENSIONS, "latency_ms", *windows)]
    pairs = [(columns[4 + 2 * i], columns[5 + 2 * i]) for i in range(len(DIMENSIONS) + 1)]
    where = " OR ".join(_rank_condition(rank, count) for rank, count in pairs)
    ranks: dict[tuple[str, str], dict[int, float]] = {}
    sizes: dict[tuple[str, str], int] = {}
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(columns)} FROM ({inner}) w WHERE {where}", params)
        for row in cursor.fetchall():
            latency = row[len(DIMENSIONS)]
            for index, dimension in enumerate(("", *DIMENSIONS)):
                group = (dimension, row[index - 1] if dimension else "")
                ranks.setdefault(group, {})[row[4 + 2 * index]] = latency
                sizes[group] = row[5 + 2 * index]
    return {
        group: (
            interpolate(found, sizes[group], PERCENTILES[0]),
            interpolate(found, sizes[group], PERCENTILES[1]),
        )
        for group, found in ranks.items()
    }


_GROUPING_MASKS: Final = {0b111: "", 0b011: "provider", 0b101: "alias", 0b110: "caller"}


def percentile_cont_percentiles(qs: QuerySet[CallLog]) -> Latencies:
    """The same figures, exact, from PostgreSQL's `percentile_cont` in one GROUPING SETS query.

    One query shares the scan between the overall figure and the three dimensions (measured
    about a third faster than one aggregate query each on a million rows).
    """
    connection = connections[qs.db]
    inner, params = (
        qs.filter(_SUCCESS).order_by().values_list(*DIMENSIONS, "latency_ms").query.sql_with_params()
    )
    provider, alias, caller, latency = (
        f"w.{connection.ops.quote_name(n)}" for n in (*DIMENSIONS, "latency_ms")
    )
    fractions = ", ".join(f"PERCENTILE_CONT({f!r}) WITHIN GROUP (ORDER BY {latency})" for f in PERCENTILES)
    sql = (
        f"SELECT {provider}, {alias}, {caller}, GROUPING({provider}, {alias}, {caller}), {fractions} "
        f"FROM ({inner}) w GROUP BY GROUPING SETS (({provider}), ({alias}), ({caller}), ())"
    )
    found: Latencies = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for *keys, mask, p50, p95 in cursor.fetchall():
            dimension = _GROUPING_MASKS[mask]
            key = keys[DIMENSIONS.index(dimension)] if dimension else ""
            found[dimension, key] = (p50, p95)
    return found


def _latencies(qs: QuerySet[CallLog], successes: int) -> tuple[Latencies, int]:
    """Percentiles and the sampling step used (1: every call counted)."""
    if not successes:
        return {}, 1
    if connections[qs.db].vendor == "postgresql":
        return percentile_cont_percentiles(qs), 1
    sample_every = max(1, math.ceil(successes / SAMPLE_TARGET))
    return window_percentiles(qs, sample_every=sample_every), sample_every


def _breakdown(dimension: str, tallies: Mapping[str, _Tally], latencies: Latencies) -> Breakdown:
    ordered = sorted(tallies.items(), key=lambda item: (-item[1].counts["calls"], item[0]))
    groups = tuple(
        tally.stats(key, latencies.get((dimension, key), (None, None)))
        for key, tally in ordered[:GROUP_LIMIT]
    )
    return Breakdown(dimension=dimension, groups=groups, hidden=max(len(ordered) - GROUP_LIMIT, 0))


def _day_stats(day: dt.date, tally: _Tally | None) -> DayStats:
    if tally is None:
        return DayStats(day=day)
    errors = tally.counts["errors"]
    return DayStats(day=day, success=tally.counts["calls"] - errors, errors=errors, cost=tally.cost)


def build_report(filters: UsageFilters) -> UsageReport:
    """Aggregate the call log for `filters`: totals, one series per day, a breakdown per dimension."""
    started = time.perf_counter()
    qs = filters.queryset()
    rollup = _rollup(qs)
    successes = rollup.totals.counts["calls"] - rollup.totals.counts["errors"]
    latencies, sample_every = _latencies(qs, successes)
    breakdowns = {}
    if rollup.totals.counts["calls"]:
        breakdowns = {d: _breakdown(d, rollup.groups[d], latencies) for d in DIMENSIONS}
    return UsageReport(
        filters=filters,
        totals=rollup.totals.stats("", latencies.get(("", ""), (None, None))),
        days=tuple(_day_stats(day, rollup.days.get(day)) for day in filters.days()),
        breakdowns=breakdowns,
        sample_every=sample_every,
        elapsed_ms=(time.perf_counter() - started) * 1000,
    )


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def sample_note(report: UsageReport) -> str:
    """What the dashboard says when its percentiles come from a sample (empty when exact)."""
    if report.sample_every <= 1:
        return ""
    successes = report.totals.calls - report.totals.errors
    return (
        f"Latency percentiles are estimated from every {_ordinal(report.sample_every)} successful call "
        f"(about {successes // report.sample_every:,} of {successes:,}); counts, tokens and cost are exact."
    )


# --- CSV export ----------------------------------------------------------------------------------

TEXT_COLUMNS: Final = ("prompt_text", "response_text")
# The ledger's columns, less the attempts list (JSON) and the prompt and reply texts.
EXPORT_COLUMNS: Final = tuple(c for c in ledger.COLUMNS if c not in ("attempts", *TEXT_COLUMNS))
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
