"""The usage dashboard on a million call-log rows: how long its aggregation and pages take.

Not a test. Builds a throwaway SQLite database (or uses `--database-url`, e.g. a scratch
PostgreSQL database, whose `ai_calllog` table it empties first), inserts `--rows` call-log rows
spread over the last 30 days with raw `executemany` in batches, then times:

1. `dashboard.build_report()` for the default 30-day period (every row is in it: the worst case),
   and each of its parts;
2. the two ways to get exact p50/p95 latency on SQLite: the window query the dashboard uses, and
   a per-group `ORDER BY latency_ms LIMIT 2 OFFSET rank` (two queries per group and percentile);
3. the dashboard page and the call-log list as an admin sees them (Django test client);
4. streaming the whole CSV export, with the process's peak memory.

Prints the figures and writes bench/dashboard_results.json.

    .venv/bin/python bench/dashboard.py                 # 1,000,000 rows, SQLite in a temp folder
    .venv/bin/python bench/dashboard.py --rows 100000 --database-url postgres://postgres@127.0.0.1/scratch
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PROVIDERS = [("openrouter-main", 50), ("openai-direct", 25), ("anthropic-direct", 20), ("ollama-local", 5)]
ALIASES = [("default", 40), ("fast", 25), ("smart", 15), ("cheap", 15), ("gpt-4", 5)]
CALLERS = [
    f"{app}.{task}"
    for app in ("pages", "prompts", "seo")
    for task in ("draft", "summary", "translate", "seo")
]


def _setup(database_url: str | None, folder: Path) -> None:
    os.environ["DATABASE_URL"] = database_url or f"sqlite:///{folder / 'dashboard.sqlite3'}"
    os.environ.setdefault("FIELD_ENCRYPTION_KEY", "YmVuY2gta2V5LWZvci1wYW5lbC1vbmx5LTAwMDAwMDA=")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.panel.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, skip_checks=True)


def _weighted(rng: random.Random, table: list[tuple[str, int]]) -> str:
    return rng.choices([name for name, _ in table], weights=[w for _, w in table])[0]


def _row(rng: random.Random, created: dt.datetime, ops: Any) -> tuple[Any, ...]:
    roll = rng.random()
    outcome = "success" if roll < 0.95 else ("error" if roll < 0.99 else "interrupted")
    provider = _weighted(rng, PROVIDERS)
    latency = rng.lognormvariate(6.3, 0.6)  # median ~550 ms
    prompt, completion = rng.randint(20, 3000), rng.randint(5, 800)
    cost = (
        None
        if outcome != "success" or provider == "ollama-local"
        else Decimal(prompt * 3 + completion * 15) / 10**6
    )
    return (
        ops.adapt_datetimefield_value(created),
        rng.choice(CALLERS),
        "default",
        _weighted(rng, ALIASES),
        provider,
        "openai/gpt-4o-mini",
        outcome,
        "" if outcome == "success" else "RateLimited",
        "" if outcome == "success" else "openrouter-main: Rate limit exceeded (HTTP 429)",
        None if outcome == "success" else 429,
        "[]",
        1,
        rng.random() < 0.03,
        latency,
        latency * 0.3 if outcome == "success" else None,
        prompt,
        completion,
        0,
        prompt + completion,
        None if cost is None else ops.adapt_decimalfield_value(cost, 14, 8),
        "reported" if cost is not None else "unknown",
        rng.random() < 0.3,
        "stop" if outcome == "success" else "",
        f"gen-{rng.getrandbits(48):x}",
        "",
        "",
    )


def insert_rows(count: int, *, batch: int = 10_000, seed: int = 1) -> float:
    from django.db import connection, transaction

    from backend.integrations.ai import ledger
    from backend.integrations.ai.models import CallLog

    rng = random.Random(seed)
    # Rows arrive in time order, as the ledger writes them: the created_at index and the table
    # share one order (random timestamps would make every index lookup a random read).
    span = dt.timedelta(days=30) - dt.timedelta(minutes=1)
    start = dt.datetime.now(dt.UTC) - span
    step = span / count
    table = connection.ops.quote_name(CallLog._meta.db_table)
    sql = ledger.insert_sql()  # values in ledger.COLUMNS order, as _row() builds them
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table}")
    for offset in range(0, count, batch):
        rows = [
            _row(rng, start + step * (offset + n), connection.ops) for n in range(min(batch, count - offset))
        ]
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(sql, rows)
        print(f"  inserted {offset + len(rows):,} rows", end="\r", flush=True)
    print()
    return time.perf_counter() - started


def timed(fn: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    return times, result


def summary(times: list[float]) -> dict[str, float]:
    return {
        "min_ms": round(min(times), 1),
        "median_ms": round(statistics.median(times), 1),
        "runs": len(times),
    }


def offset_percentiles(qs: Any, dimension: str) -> dict[str, tuple[float | None, ...]]:
    """The alternative measured against the window query: ORDER BY ... LIMIT 2 OFFSET rank per group."""
    from django.db.models import Count

    from backend.integrations.ai import dashboard

    success = qs.filter(outcome="success")
    counts = dict(success.values_list(dimension).annotate(n=Count("id")).values_list(dimension, "n"))
    found = {}
    for key, count in counts.items():
        ordered = (
            success.filter(**{dimension: key}).order_by("latency_ms").values_list("latency_ms", flat=True)
        )
        values = []
        for fraction in dashboard.PERCENTILES:
            low = math.floor(fraction * (count - 1))
            pair = list(ordered[low : low + 2])
            values.append(dashboard.interpolate({low + 1: pair[0], low + 2: pair[-1]}, count, fraction))
        found[key] = tuple(values)
    return found


def _max_relative_error(estimate: dict, exact: dict) -> float:
    worst = 0.0
    for group, values in exact.items():
        for guess, truth in zip(estimate.get(group, (None, None)), values, strict=True):
            if guess is not None and truth:
                worst = max(worst, abs(guess - truth) / truth)
    return round(worst, 4)


def time_report(repeat: int) -> dict[str, Any]:
    from backend.integrations.ai import dashboard

    filters = dashboard.UsageFilters.default()
    qs = filters.queryset()
    results: dict[str, Any] = {}
    times, report = timed(lambda: dashboard.build_report(filters), repeat)
    results["build_report"] = summary(times)
    results["rows_in_period"] = report.totals.calls
    results["percentile_sample_every"] = report.sample_every
    successes = report.totals.calls - report.totals.errors
    rollup_times, _ = timed(lambda: dashboard._rollup(qs), repeat)
    latency_times, used = timed(lambda: dashboard._latencies(qs, successes), repeat)
    results["parts"] = {
        "rollup_one_group_by": summary(rollup_times),
        "percentiles_as_used": summary(latency_times),
    }
    exact_times, exact = timed(lambda: dashboard.window_percentiles(qs), 1)
    offset_times, offset = timed(lambda: offset_percentiles(qs, "provider"), 1)
    provider_exact = {k: v for k, v in exact.items() if k[0] == "provider"}
    results["percentile_methods"] = {
        "exact_window_all_dimensions_one_query": summary(exact_times),
        "offset_per_group_provider_only": summary(offset_times),
        "offset_matches_window": _max_relative_error(
            {("provider", k): v for k, v in offset.items()}, provider_exact
        )
        == 0,
        "as_used_max_relative_error_vs_exact": _max_relative_error(used[0], exact),
    }
    return results


def time_pages(repeat: int) -> dict[str, Any]:
    from django.contrib.auth.models import User
    from django.test import Client

    user, _ = User.objects.get_or_create(username="bench", defaults={"is_staff": True, "is_superuser": True})
    client = Client()
    client.force_login(user)
    pages = {}
    for name, url in (
        ("dashboard_page", "/admin/ai/calllog/dashboard/"),
        ("call_log_list", "/admin/ai/calllog/"),
    ):
        times, response = timed(lambda url=url: client.get(url), repeat)
        assert response.status_code == 200, (url, response.status_code)
        pages[name] = summary(times)
    return pages


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_export() -> dict[str, Any]:
    from backend.integrations.ai import dashboard

    start_rss = peak_rss = _rss_mb()
    started = time.perf_counter()
    lines = size = 0
    for line in dashboard.export_rows(dashboard.UsageFilters.default()):
        lines += 1
        size += len(line)
        if lines % 20_000 == 0:
            peak_rss = max(peak_rss, _rss_mb())
    elapsed = time.perf_counter() - started
    return {
        "rows": lines - 1,
        "megabytes": round(size / 1e6, 1),
        "seconds": round(elapsed, 2),
        "rss_growth_mb_while_streaming": round(peak_rss - start_rss, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--database-url", default=None, help="a scratch database; its call log is emptied first"
    )
    parser.add_argument("--no-export", action="store_true", help="skip timing the full CSV export")
    parser.add_argument("--out", default=str(ROOT / "bench" / "dashboard_results.json"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="panel-bench-dashboard-") as folder:
        _setup(args.database_url, Path(folder))
        from django import get_version
        from django.db import connection

        print(f"Inserting {args.rows:,} call-log rows into {connection.vendor} ...")
        insert_s = insert_rows(args.rows)
        print(f"  {insert_s:.1f} s")
        results: dict[str, Any] = {
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "database": connection.vendor,
            "database_version": ".".join(map(str, connection.Database.sqlite_version_info))
            if connection.vendor == "sqlite"
            else str(connection.pg_version),
            "python": platform.python_version(),
            "django": get_version(),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
            "rows": args.rows,
            "insert_seconds": round(insert_s, 1),
        }
        print("Timing the 30-day report ...")
        results["report"] = time_report(args.repeat)
        print("Timing the admin pages ...")
        results["pages"] = time_pages(args.repeat)
        if not args.no_export:
            print("Streaming the whole CSV export ...")
            results["csv_export"] = time_export()
        connection.close()

    print(json.dumps(results, indent=2))
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"Wrote {args.out}")


if __name__ == "__main__":
    main()
