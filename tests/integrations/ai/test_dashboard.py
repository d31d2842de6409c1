"""The usage dashboard: aggregates on known rows, percentiles, the day series, CSV export, access."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import random
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection, connections
from django.http import StreamingHttpResponse
from django.urls import reverse

from backend.integrations.ai import dashboard
from backend.integrations.ai.dashboard import UsageFilterForm, UsageFilters, build_report
from backend.integrations.ai.models import CallLog, RoutingSettings

DAY = dt.date(2025, 3, 1)
PERIOD = UsageFilters(start=DAY, end=DAY + dt.timedelta(days=9))
UTC = dt.UTC


def at(day: int, hour: int = 12, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(2025, 3, day, hour, minute, second, tzinfo=UTC)


def log(created_at: dt.datetime, **fields) -> CallLog:
    values = {
        "provider": "openrouter-main",
        "alias": "default",
        "caller": "pages.seo",
        "model": "openai/gpt-4o-mini",
        "outcome": "success",
        "latency_ms": 100.0,
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
        "cost": Decimal("0.01"),
        "cost_source": "reported",
    }
    values.update(fields)
    return CallLog.objects.create(created_at=created_at, **values)


@pytest.fixture
def known_rows():
    """Seven calls in the period (five to openrouter-main, two to anthropic-main) and two outside it."""
    log(at(1), latency_ms=100)
    log(at(1, 13), latency_ms=200)
    log(at(2), latency_ms=300)
    log(at(2, 13), latency_ms=400)
    log(at(2, 14), outcome="error", latency_ms=50, cost=None, error_class="RateLimited", status_code=429)
    log(
        at(3),
        provider="anthropic-main",
        alias="smart",
        caller="prompts.translate",
        latency_ms=1000,
        failed_over=True,
        cost=None,
        cost_source="unknown",
        prompt_tokens=100,
        completion_tokens=50,
        total_tokens=150,
    )
    log(
        at(3, 13),
        provider="anthropic-main",
        alias="smart",
        caller="prompts.translate",
        outcome="interrupted",
        latency_ms=700,
    )
    log(dt.datetime(2025, 2, 28, 23, 59, 59, tzinfo=UTC), latency_ms=9999)
    log(dt.datetime(2025, 3, 11, 0, 0, 0, tzinfo=UTC), latency_ms=9999)


def by_key(report, dimension):
    return {g.key: g for g in report.breakdowns[dimension].groups}


# --- aggregates ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_totals_count_only_the_period(known_rows):
    totals = build_report(PERIOD).totals
    assert (totals.calls, totals.errors, totals.failovers, totals.unpriced) == (7, 2, 1, 1)
    assert totals.cost == Decimal("0.05")
    assert (totals.prompt_tokens, totals.completion_tokens, totals.total_tokens) == (160, 80, 240)


@pytest.mark.django_db
def test_percentiles_interpolate_like_percentile_cont_over_successful_calls(known_rows):
    report = build_report(PERIOD)
    # successes: openrouter-main 100, 200, 300, 400; anthropic-main 1000
    assert report.totals.p50_ms == pytest.approx(300)
    assert report.totals.p95_ms == pytest.approx(400 + 0.8 * 600)
    providers = by_key(report, "provider")
    assert providers["openrouter-main"].p50_ms == pytest.approx(250)
    assert providers["openrouter-main"].p95_ms == pytest.approx(385)
    assert providers["anthropic-main"].p50_ms == pytest.approx(1000)
    assert providers["anthropic-main"].p95_ms == pytest.approx(1000)


@pytest.mark.django_db
def test_breakdowns_per_provider_alias_and_caller(known_rows):
    report = build_report(PERIOD)
    main = by_key(report, "provider")["openrouter-main"]
    assert (main.calls, main.errors, main.failovers, main.cost) == (5, 1, 0, Decimal("0.04"))
    assert main.error_rate == pytest.approx(0.2)
    smart = by_key(report, "alias")["smart"]
    assert (smart.calls, smart.errors, smart.failovers, smart.unpriced, smart.cost) == (
        2,
        1,
        1,
        1,
        Decimal("0.01"),
    )
    assert set(by_key(report, "caller")) == {"pages.seo", "prompts.translate"}
    assert [g.key for g in report.breakdowns["provider"].groups] == ["openrouter-main", "anthropic-main"]


@pytest.mark.django_db
def test_day_series_stacks_successes_and_errors_and_fills_empty_days(known_rows):
    days = build_report(PERIOD).days
    assert len(days) == 10
    assert [(d.day.day, d.success, d.errors) for d in days[:4]] == [
        (1, 2, 0),
        (2, 2, 1),
        (3, 1, 1),
        (4, 0, 0),
    ]
    assert days[0].cost == Decimal("0.02")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("filters", "calls"),
    [({"provider": "anthropic-main"}, 2), ({"alias": "default"}, 5), ({"caller": "prompts.translate"}, 2)],
)
def test_filters_narrow_every_figure(known_rows, filters, calls):
    report = build_report(UsageFilters(start=PERIOD.start, end=PERIOD.end, **filters))
    assert report.totals.calls == calls
    assert sum(d.success + d.errors for d in report.days) == calls
    assert sum(g.calls for g in report.breakdowns["provider"].groups) == calls


@pytest.mark.django_db
def test_days_follow_the_configured_time_zone(settings):
    settings.TIME_ZONE = "Europe/Oslo"  # UTC+1 in March
    log(dt.datetime(2025, 3, 1, 23, 30, tzinfo=UTC))
    report = build_report(UsageFilters(start=dt.date(2025, 3, 2), end=dt.date(2025, 3, 2)))
    assert report.totals.calls == 1
    assert [(d.day, d.success) for d in report.days] == [(dt.date(2025, 3, 2), 1)]


@pytest.mark.django_db
def test_an_empty_period_has_zero_totals_and_empty_days():
    report = build_report(PERIOD)
    assert report.totals.calls == 0
    assert report.totals.p50_ms is None
    assert report.breakdowns == {}
    assert len(report.days) == 10


@pytest.mark.django_db
def test_groups_beyond_the_limit_are_counted_not_listed(monkeypatch):
    monkeypatch.setattr(dashboard, "GROUP_LIMIT", 2)
    for n in range(4):
        log(at(1), caller=f"caller-{n}")
    breakdown = build_report(PERIOD).breakdowns["caller"]
    assert (len(breakdown.groups), breakdown.hidden) == (2, 2)


def percentile_cont(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


@pytest.mark.django_db
def test_percentiles_match_a_reference_on_random_latencies():
    rng = random.Random(6)
    latencies: dict[str, list[float]] = {}
    for _ in range(300):
        provider = rng.choice(["a", "b", "c"])
        value = round(rng.lognormvariate(5, 1), 3)
        latencies.setdefault(provider, []).append(value)
        log(at(rng.randint(1, 10), rng.randint(0, 23)), provider=provider, latency_ms=value)
    report = build_report(PERIOD)
    assert report.sample_every == 1
    window = dashboard.window_percentiles(PERIOD.queryset())
    for provider, values in latencies.items():
        group = by_key(report, "provider")[provider]
        expected = (percentile_cont(values, 0.5), percentile_cont(values, 0.95))
        assert (group.p50_ms, group.p95_ms) == pytest.approx(expected)
        assert window["provider", provider] == pytest.approx(expected)  # the SQLite path, on every database
    everything = [v for values in latencies.values() for v in values]
    assert window["", ""] == pytest.approx(
        (percentile_cont(everything, 0.5), percentile_cont(everything, 0.95))
    )


@pytest.mark.django_db
def test_large_periods_rank_a_sample_on_sqlite(monkeypatch):
    monkeypatch.setattr(dashboard, "SAMPLE_TARGET", 40)
    rng = random.Random(7)
    for _ in range(120):
        log(at(rng.randint(1, 10)), caller=rng.choice(["x", "y"]), latency_ms=rng.uniform(1, 1000))
    report = build_report(PERIOD)
    sampled = dashboard.window_percentiles(PERIOD.queryset(), sample_every=3)
    kept = [c.latency_ms for c in CallLog.objects.all() if c.id % 3 == 0]
    assert sampled["", ""] == pytest.approx((percentile_cont(kept, 0.5), percentile_cont(kept, 0.95)))
    if connection.vendor == "postgresql":
        assert report.sample_every == 1
    else:
        assert report.sample_every == 3
        assert (report.totals.p50_ms, report.totals.p95_ms) == pytest.approx(sampled["", ""])
        assert "every 3rd" in dashboard.sample_note(report)


@pytest.mark.django_db
def test_postgresql_uses_percentile_cont_and_sqlite_the_window_query(
    known_rows, django_assert_max_num_queries
):
    with django_assert_max_num_queries(12) as captured:
        build_report(PERIOD)
    sql = " ".join(q["sql"] for q in captured.captured_queries).upper()
    if connection.vendor == "postgresql":
        assert "PERCENTILE_CONT" in sql
        assert "ROW_NUMBER" not in sql
    else:
        assert "ROW_NUMBER" in sql


@pytest.mark.parametrize(("count", "fraction", "expected"), [(1, 0.95, 7.0), (2, 0.5, 8.5), (0, 0.5, None)])
def test_interpolate(count, fraction, expected):
    assert dashboard.interpolate({1: 7.0, 2: 10.0}, count, fraction) == expected


# --- the filter form -------------------------------------------------------------------------


def test_blank_form_means_the_last_30_days_ending_today():
    filters = UsageFilterForm({}).filters()
    assert filters == UsageFilters.default()
    assert (filters.end - filters.start).days == 29


@pytest.mark.parametrize(
    "data",
    [
        {"start": "2025-13-45"},
        {"start": "not a date", "end": "2025-03-01"},
        {"start": "2025-03-10", "end": "2025-03-01"},
        {"start": "2020-01-01", "end": "2025-01-01"},
        {"provider": "x" * 65},
    ],
)
def test_an_invalid_form_falls_back_to_the_default_period(data):
    form = UsageFilterForm(data)
    assert not form.is_valid()
    assert form.filters() == UsageFilters.default()


def test_a_start_alone_gives_a_30_day_period():
    filters = UsageFilterForm({"start": "2025-03-01"}).filters()
    assert (filters.start, filters.end) == (dt.date(2025, 3, 1), dt.date(2025, 3, 30))


# --- the page --------------------------------------------------------------------------------


@pytest.fixture
def viewer(client):
    user = User.objects.create_user("viewer", password="x", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_calllog"))
    client.force_login(user)
    return client


DASHBOARD = "/admin/ai/calllog/dashboard/"
EXPORT = "/admin/ai/calllog/export/"


@pytest.mark.django_db
def test_dashboard_shows_figures_charts_and_tables(viewer, known_rows):
    response = viewer.get(DASHBOARD, {"start": "2025-03-01", "end": "2025-03-10"})
    assert response.status_code == 200
    html = response.content.decode()
    for chart_id in ("chart-calls-per-day", "chart-cost-by-provider", "chart-latency-by-provider"):
        assert f'<svg class="chart" id="{chart_id}"' in html
    assert html.count('class="bar bar-success"') == 10
    for table in ("table-by-provider", "table-by-alias", "table-by-caller"):
        assert f'id="{table}"' in html
    assert response.context["report"].totals.calls == 7
    assert 'data-key="anthropic-main"' in html
    assert "start=2025-03-01" in response.context["export_url"]


@pytest.mark.django_db
def test_dashboard_url_is_the_admin_name():
    assert reverse("admin:ai_calllog_dashboard") == DASHBOARD
    assert reverse("admin:ai_calllog_export") == EXPORT


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query", [{"start": "2025-02-30"}, {"start": "2025-03-10", "end": "2025-03-01"}, {"end": "x"}]
)
def test_bad_dates_show_an_error_and_the_default_period_not_a_500(viewer, query):
    response = viewer.get(DASHBOARD, query)
    assert response.status_code == 200
    assert 'id="usage-filter-errors"' in response.content.decode()
    assert response.context["report"].filters == UsageFilters.default()


EXTREME_DATES = [
    {"start": "9999-12-31"},
    {"end": "9999-12-31"},
    {"start": "9999-12-31", "end": "9999-12-31"},
    {"end": "0001-01-01"},
    {"start": "0001-01-01", "end": "0001-01-01"},
]


@pytest.mark.django_db
@pytest.mark.parametrize("query", EXTREME_DATES)
def test_dates_at_the_calendar_edges_show_an_error_not_a_500(viewer, query):
    # Each would overflow the day arithmetic (default end, half-open bound, time zone offset).
    response = viewer.get(DASHBOARD, query)
    assert response.status_code == 200
    assert "Choose dates between" in response.content.decode()
    assert response.context["report"].filters == UsageFilters.default()


@pytest.mark.django_db
@pytest.mark.parametrize("query", EXTREME_DATES)
def test_export_with_dates_at_the_calendar_edges_redirects_with_a_message(viewer, query):
    response = viewer.get(EXPORT, query, follow=True)
    assert response.redirect_chain[0][0].startswith(DASHBOARD)
    assert "Nothing was exported" in response.content.decode()


@pytest.mark.django_db
def test_dashboard_escapes_admin_entered_names(viewer):
    log(dt.datetime.now(UTC), provider="<script>alert(1)</script>")
    html = viewer.get(DASHBOARD).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


@pytest.mark.django_db
def test_an_empty_dashboard_still_renders_its_charts(viewer):
    html = viewer.get(DASHBOARD).content.decode()
    assert 'id="chart-calls-per-day"' in html
    assert "No calls in this period." in html


# --- access ----------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("url", [DASHBOARD, EXPORT])
def test_anonymous_users_are_sent_to_the_login_page(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.mark.django_db
@pytest.mark.parametrize("url", [DASHBOARD, EXPORT])
def test_staff_without_view_permission_are_refused(client, url):
    client.force_login(User.objects.create_user("staff", password="x", is_staff=True))
    assert client.get(url).status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize("url", [DASHBOARD, EXPORT])
def test_non_staff_with_the_permission_are_refused(client, url):
    user = User.objects.create_user("outsider", password="x")
    user.user_permissions.add(Permission.objects.get(codename="view_calllog"))
    client.force_login(user)
    assert client.get(url).status_code == 302


# --- CSV export ------------------------------------------------------------------------------


def read_csv(response) -> list[dict[str, str]]:
    assert isinstance(response, StreamingHttpResponse)
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.mark.django_db
def test_export_streams_the_filtered_calls_without_prompt_text(viewer, known_rows):
    CallLog.objects.update(prompt_text="secret plans", response_text="reply")
    response = viewer.get(EXPORT, {"start": "2025-03-01", "end": "2025-03-10", "provider": "openrouter-main"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="calls-2025-03-01-to-2025-03-10.csv"' in response["Content-Disposition"]
    rows = read_csv(response)
    assert len(rows) == 5
    assert list(rows[0]) == list(dashboard.EXPORT_COLUMNS)
    assert [r["latency_ms"] for r in rows] == ["100.0", "200.0", "300.0", "400.0", "50.0"]
    assert rows[4]["outcome"] == "error"
    assert rows[4]["cost"] == ""


@pytest.mark.django_db
def test_export_includes_text_only_when_asked_and_stored(viewer, known_rows):
    query = {"start": "2025-03-01", "end": "2025-03-10", "text": "1"}
    assert "prompt_text" not in read_csv(viewer.get(EXPORT, query))[0]
    CallLog.objects.filter(latency_ms=100).update(prompt_text="hello", response_text="hi")
    rows = read_csv(viewer.get(EXPORT, query))
    assert [r["prompt_text"] for r in rows if r["prompt_text"]] == ["hello"]


@pytest.mark.django_db
def test_export_defuses_spreadsheet_formulas(viewer):
    log(dt.datetime.now(UTC), caller='=HYPERLINK("http://evil")', error_message="+1")
    (row,) = read_csv(viewer.get(EXPORT))
    assert row["caller"].startswith("'=")
    assert row["error_message"] == "'+1"


@pytest.mark.django_db
def test_export_with_bad_dates_redirects_with_a_message(viewer):
    response = viewer.get(EXPORT, {"start": "2025-03-10", "end": "2025-03-01"}, follow=True)
    assert response.redirect_chain[0][0].startswith(DASHBOARD)
    assert "Nothing was exported" in response.content.decode()


@pytest.mark.django_db
def test_export_reads_in_chunks_and_keeps_every_row(known_rows):
    lines = list(dashboard.export_rows(PERIOD, chunk_size=2))
    assert len(lines) == 1 + 7


@pytest.mark.django_db
def test_dashboard_offers_text_export_only_when_prompts_are_stored(viewer):
    assert 'id="export-csv-text"' not in viewer.get(DASHBOARD).content.decode()
    settings_row = RoutingSettings.load()
    settings_row.store_prompts = True
    settings_row.save()
    assert 'id="export-csv-text"' in viewer.get(DASHBOARD).content.decode()


@pytest.mark.django_db(transaction=True)
async def test_export_under_asgi_streams_an_async_iterator(async_client):
    from asgiref.sync import sync_to_async

    def setup() -> None:
        user = User.objects.create_user("asgi-viewer", password="x", is_staff=True)
        user.user_permissions.add(Permission.objects.get(codename="view_calllog"))
        for n in range(3):
            log(dt.datetime.now(UTC), caller=f"c{n}")

    await sync_to_async(setup)()
    await async_client.aforce_login(await User.objects.aget(username="asgi-viewer"))
    response = await async_client.get(EXPORT)
    assert response.status_code == 200
    assert response.is_async
    body = b"".join([chunk async for chunk in response.streaming_content]).decode()
    assert len(body.strip().splitlines()) == 4
    # The test client keeps connections open after a request; close the worker thread's one.
    await sync_to_async(connections.close_all)()
