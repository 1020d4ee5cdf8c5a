"""/analytics/ and GET /api/v1/analytics: figures checked against fixtures computed by hand."""

from __future__ import annotations

import csv
import io
import zoneinfo
from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone

from tests.factories import GroupFactory, RequirementFactory, WorkflowRunFactory
from workflows.models import DecisionCount, DecisionDay, Requirement, WorkflowRun
from workflows.web import analytics

pytestmark = pytest.mark.django_db

NOW = timezone.now()
TODAY = timezone.localdate()


def at(day_offset: int, hour: int = 12) -> datetime:
    day = TODAY - timedelta(days=day_offset)
    return datetime.combine(day, datetime.min.time(), tzinfo=timezone.get_current_timezone()) + timedelta(hours=hour)


def run(workflow="data_export", status="PAUSED", finished_at=None) -> WorkflowRun:
    return WorkflowRunFactory(workflow_name=workflow, status=status, finished_at=finished_at)


def req(
    the_run,
    step="export",
    *,
    status="RESOLVED",
    action="confirm",
    took=60,
    resolved=None,
    by="rita",
    created=None,
    timeout_at=None,
    assigned_groups=(),
    assigned_users=(),
) -> Requirement:
    resolved = resolved or at(1)
    created = created or resolved - timedelta(seconds=took)
    pending = status == "PENDING"
    item = RequirementFactory(
        run=the_run,
        step_name=step,
        status=status,
        created_at=created,
        resolved_at=None if pending else resolved,
        resolved_by_name="" if pending else ("system" if status == "EXPIRED" else by),
        resolution=None if pending else ({"action": "timed_out"} if status == "EXPIRED" else {"action": action}),
        timeout_at=timeout_at,
        is_assigned=bool(assigned_groups or assigned_users),
    )
    for name in assigned_groups:
        item.groups.add(GroupFactory(name=name))
    for user in assigned_users:
        item.assignees.add(user)
    return item


@pytest.fixture
def fixture_data(make_user):
    """data_export/export: rita decides in 10, 20, 30, 40 s (confirm, confirm, reject, edit);
    sam in 100 s (confirm); one timeout. blog_post/draft: sam in 5 s (reject). Outside the period:
    one decision 40 days ago. Pending: two for group legal (one overdue by age, one fresh), one
    for sam (past its timeout), one open to anyone."""
    sam = make_user("sam")
    export = run()
    for took, action in ((10, "confirm"), (20, "confirm"), (30, "reject"), (40, "edit")):
        req(export, took=took, action=action, resolved=at(1))
    req(export, took=100, action="confirm", by="sam", resolved=at(2))
    req(export, status="EXPIRED", took=3600, resolved=at(2))
    req(run("blog_post"), step="draft", took=5, action="reject", by="sam", resolved=at(0, hour=0))
    req(export, took=999, action="confirm", resolved=at(40))  # outside the last 30 days
    req(export, status="PENDING", created=NOW - timedelta(hours=30), assigned_groups=("legal",))
    req(export, status="PENDING", created=NOW - timedelta(minutes=5), assigned_groups=("legal",))
    req(
        export,
        status="PENDING",
        created=NOW - timedelta(minutes=5),
        timeout_at=NOW - timedelta(seconds=1),
        assigned_users=(sam,),
    )
    req(export, status="PENDING", created=NOW - timedelta(minutes=1))
    run(status="COMPLETED", finished_at=at(1))
    run(status="COMPLETED", finished_at=at(3))
    run(status="ERROR", finished_at=at(1))
    run(status="CANCELLED", finished_at=at(2))
    run("blog_post", status="CANCELLED", finished_at=at(5))
    run(status="COMPLETED", finished_at=at(45))  # outside
    return sam


def test_percentile_is_percentile_cont():
    # positions p*(n-1): p50 of 10,20,30,40 -> 25; p90 -> 10 + 0.9*3 = index 2.7 -> 30 + 0.7*10 = 37
    assert analytics.percentile([10, 20, 30, 40], 0.5) == 25
    assert analytics.percentile([10, 20, 30, 40], 0.9) == pytest.approx(37)
    assert analytics.percentile([7], 0.9) == 7


def test_time_to_decision_per_workflow_step_and_reviewer(fixture_data):
    data = analytics.figures(period=analytics.Period.last_days(30))
    # data_export by people: 10, 20, 30, 40, 100 -> p50 30; p90 index 3.6 -> 40 + 0.6*60 = 76
    assert data.time_to_decision["workflow"] == [
        {"workflow": "data_export", "decisions": 5, "p50_seconds": 30.0, "p90_seconds": 76.0},
        {"workflow": "blog_post", "decisions": 1, "p50_seconds": 5.0, "p90_seconds": 5.0},
    ]
    assert data.time_to_decision["step"][0] == {
        "workflow": "data_export",
        "step": "export",
        "decisions": 5,
        "p50_seconds": 30.0,
        "p90_seconds": 76.0,
    }
    # rita: 10, 20, 30, 40 -> p50 25, p90 37; sam: 5, 100 -> p50 52.5, p90 5 + 0.9*95 = 90.5
    assert data.time_to_decision["reviewer"] == [
        {"reviewer": "rita", "decisions": 4, "p50_seconds": 25.0, "p90_seconds": 37.0},
        {"reviewer": "sam", "decisions": 2, "p50_seconds": 52.5, "p90_seconds": 90.5},
    ]


def test_outcome_rates_per_step(fixture_data):
    data = analytics.figures(period=analytics.Period.last_days(30))
    export, draft = data.outcomes_by_step
    # export: confirm x3 (rita 2, sam 1), reject 1, edit 1, timeout 1 -> 6 decisions
    assert (export["workflow"], export["step"], export["decisions"]) == ("data_export", "export", 6)
    assert (export["approve"], export["edit"], export["reject"], export["timeout"], export["other"]) == (3, 1, 1, 1, 0)
    assert export["approve_rate"] == 0.5 and export["timeout_rate"] == round(1 / 6, 4)
    assert (draft["step"], draft["decisions"], draft["reject"], draft["reject_rate"]) == ("draft", 1, 1, 1.0)


def test_pending_and_overdue_per_group_and_reviewer(fixture_data):
    data = analytics.figures(period=analytics.Period.last_days(30), now=NOW)
    assert data.pending_by_group == [
        {"group": "legal", "pending": 2, "overdue": 1},
        {"group": None, "pending": 1, "overdue": 0},
    ]
    assert data.pending_by_reviewer == [
        {"reviewer": None, "pending": 1, "overdue": 0},
        {"reviewer": "sam", "pending": 1, "overdue": 1},
    ]


def test_decisions_per_day_and_runs_per_workflow(fixture_data):
    data = analytics.figures(period=analytics.Period.last_days(30))
    per_day = {row["day"]: row for row in data.decisions_per_day}
    assert len(per_day) == 30 and min(per_day) == TODAY - timedelta(days=29)
    assert per_day[TODAY] == {"day": TODAY, "decisions": 1, "timeouts": 0}
    assert per_day[TODAY - timedelta(days=1)]["decisions"] == 4
    assert per_day[TODAY - timedelta(days=2)] == {"day": TODAY - timedelta(days=2), "decisions": 1, "timeouts": 1}
    assert sum(row["decisions"] + row["timeouts"] for row in data.decisions_per_day) == 7
    assert data.runs_by_workflow == [
        {"workflow": "data_export", "completed": 2, "failed": 1, "cancelled": 1},
        {"workflow": "blog_post", "completed": 0, "failed": 0, "cancelled": 1},
    ]


def test_filters_by_workflow_and_period(fixture_data):
    data = analytics.figures(period=analytics.Period.last_days(30), workflow="blog_post")
    assert [r["workflow"] for r in data.time_to_decision["workflow"]] == ["blog_post"]
    assert data.pending_by_group == []
    one_day = analytics.figures(period=analytics.Period(TODAY - timedelta(days=1), TODAY - timedelta(days=1)))
    assert one_day.time_to_decision["workflow"] == [
        {"workflow": "data_export", "decisions": 4, "p50_seconds": 25.0, "p90_seconds": 37.0}
    ]
    assert one_day.runs_by_workflow == [{"workflow": "data_export", "completed": 1, "failed": 1, "cancelled": 0}]
    old = analytics.figures(period=analytics.Period(TODAY - timedelta(days=50), TODAY - timedelta(days=31)))
    assert old.time_to_decision["workflow"][0]["p50_seconds"] == 999.0


# -- page, CSV, API -------------------------------------------------------------------------------
def test_page__for_operators_with_charts_and_tables(client, operator, fixture_data):
    client.force_login(operator)
    response = client.get("/analytics/")
    assert response.status_code == 200
    text = response.text
    assert "<h1>Analytics</h1>" in text
    assert 'aria-label="Chart: Decisions per day"' in text
    assert 'aria-label="Chart: Time to decision per workflow (p50, p90)"' in text
    assert "style=" not in text[text.index("<h1>") :]
    assert "76.0 s" in text and "37.0 s" in text
    assert 'href="/analytics/"' in text  # in the navigation


def test_page__refused_to_people_without_the_permission(client, reviewer, outsider):
    client.force_login(reviewer)
    assert client.get("/analytics/").status_code == 403
    assert client.get("/api/v1/analytics").status_code == 403
    assert 'href="/analytics/"' not in client.get("/workflows/").text
    client.logout()
    assert client.get("/analytics/").status_code == 302


def test_page__bad_filters_are_400_with_the_message(client, operator):
    client.force_login(operator)
    response = client.get("/analytics/?since=2026-02-10&until=2026-02-01")
    assert response.status_code == 400
    assert "Must not be before" in response.text
    assert client.get("/analytics/?workflow=nope").status_code == 400
    assert client.get("/analytics/?since=2000-01-01&until=2026-01-01").status_code == 400


def test_csv__tidy_rows_of_the_same_figures(client, operator, fixture_data):
    client.force_login(operator)
    response = client.get("/analytics/?format=csv&workflow=data_export")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    p90 = [r for r in rows if r["section"] == "time_to_decision_by_workflow" and r["metric"] == "p90_seconds"]
    assert p90 == [{**p90[0], "workflow": "data_export", "value": "76.0"}]
    overdue = [
        r for r in rows if r["section"] == "pending_by_group" and r["group"] == "legal" and r["metric"] == "overdue"
    ]
    assert overdue[0]["value"] == "1"


def test_api__the_same_figures_as_json(client, operator, fixture_data):
    client.force_login(operator)
    since = (TODAY - timedelta(days=29)).isoformat()
    body = client.get(f"/api/v1/analytics?since={since}").json()
    assert body["period"] == {"since": since, "until": TODAY.isoformat()}
    assert body["time_to_decision"]["reviewer"][1] == {
        "reviewer": "sam",
        "decisions": 2,
        "p50_seconds": 52.5,
        "p90_seconds": 90.5,
    }
    assert body["runs_by_workflow"][0]["completed"] == 2
    assert len(body["decisions_per_day"]) == 30
    response = client.get("/api/v1/analytics?until=not-a-date")
    assert response.status_code == 400 and "until" in response.json()["errors"]


def test_period_defaults():
    assert analytics.Period.last_days(30, today=date(2026, 3, 31)) == analytics.Period(
        date(2026, 3, 2), date(2026, 3, 31)
    )


# -- past days summed up once ---------------------------------------------------------------------
def test_past_days_are_summed_up_once_and_give_the_same_figures(fixture_data, django_assert_max_num_queries):
    period = analytics.Period.last_days(30)
    # Yesterday is summed up an hour after midnight (CLOSED_AFTER): before that, as at 00:10, it
    # is read live like today. The test looks from later in the day, whatever the hour it runs at.
    now = max(NOW, at(0, hour=2))
    first = analytics.figures(period=period, now=now).as_dict()
    # The 29 past days of the period (today is read from its requirements at each request).
    assert DecisionDay.objects.count() == 29
    assert set(DecisionCount.objects.values_list("workflow_name", "step_name", "reviewer", "outcome", "decisions")) == {
        ("data_export", "export", "rita", "approve", 2),
        ("data_export", "export", "rita", "reject", 1),
        ("data_export", "export", "rita", "edit", 1),
        ("data_export", "export", "sam", "approve", 1),
        ("data_export", "export", "system", "timeout", 1),
    }
    with django_assert_max_num_queries(12):
        assert analytics.figures(period=period, now=now).as_dict() == first
    assert DecisionDay.objects.count() == 29


def test_today_is_read_live_and_a_deleted_run_is_forgotten(fixture_data):
    period = analytics.Period.last_days(30)
    analytics.figures(period=period)
    today = run("blog_post")
    req(today, step="draft", took=15, action="edit", by="sam", resolved=NOW)
    outcomes = {row["step"]: row for row in analytics.figures(period=period).outcomes_by_step}
    assert (outcomes["draft"]["decisions"], outcomes["draft"]["edit"]) == (2, 1)
    # Deleting the run of the decisions of days 1 and 2 (e.g. in the admin) deletes those days.
    Requirement.objects.filter(step_name="export").first().run.delete()
    assert not DecisionDay.objects.filter(day__in=[TODAY - timedelta(days=1), TODAY - timedelta(days=2)]).exists()
    data = analytics.figures(period=period)
    assert [row["step"] for row in data.outcomes_by_step] == ["draft"]
    assert sum(row["decisions"] + row["timeouts"] for row in data.decisions_per_day) == 2


def test_a_day_is_summed_up_an_hour_after_its_end(fixture_data):
    period = analytics.Period.last_days(30)
    analytics.figures(period=period, now=at(0, hour=0) + timedelta(minutes=59))
    assert not DecisionDay.objects.filter(day=TODAY - timedelta(days=1)).exists()
    analytics.figures(period=period, now=at(0, hour=1))
    assert DecisionDay.objects.filter(day=TODAY - timedelta(days=1)).exists()


def test_days_follow_the_time_zone(fixture_data):
    # 23:30 UTC the day before yesterday is yesterday in Paris (UTC+1 in winter, +2 in summer).
    late = datetime.combine(TODAY - timedelta(days=2), datetime.min.time(), tzinfo=UTC) + timedelta(
        hours=23, minutes=30
    )
    req(run("blog_post"), step="draft", resolved=late)
    with timezone.override("Europe/Paris"):
        per_day = {
            row["day"]: row for row in analytics.figures(period=analytics.Period.last_days(30)).decisions_per_day
        }
    assert set(DecisionDay.objects.values_list("tz", flat=True)) == {"Europe/Paris"}
    expected = late.astimezone(zoneinfo.ZoneInfo("Europe/Paris")).date()
    # Counted on its Paris day, not its UTC one (whatever the hour the test runs at: from 23:00
    # UTC in winter, Paris is a day ahead of TODAY already).
    assert expected == TODAY - timedelta(days=1) != late.date()
    assert per_day[expected]["decisions"] == 5  # rita's 4 of yesterday (noon UTC) and this one


def test_beyond_exact_up_to_percentiles_are_estimated_from_histograms(fixture_data, monkeypatch):
    exact = analytics.figures(period=analytics.Period.last_days(30))
    monkeypatch.setattr(analytics, "EXACT_UP_TO", 5)  # 6 decisions by people in the period
    estimated = analytics.figures(period=analytics.Period.last_days(30))
    assert (exact.estimated, estimated.estimated) == (False, True)
    assert estimated.as_dict()["percentiles_estimated"] is True
    assert estimated.outcomes_by_step == exact.outcomes_by_step
    assert estimated.decisions_per_day == exact.decisions_per_day
    for dimension, rows in exact.time_to_decision.items():
        assert len(estimated.time_to_decision[dimension]) == len(rows)
        for got, want in zip(estimated.time_to_decision[dimension], rows, strict=True):
            assert {k: v for k, v in got.items() if "seconds" not in k} == {
                k: v for k, v in want.items() if "seconds" not in k
            }
            assert got["p50_seconds"] == pytest.approx(want["p50_seconds"], rel=0.045)
            assert got["p90_seconds"] == pytest.approx(want["p90_seconds"], rel=0.045)


def test_histogram_buckets_and_estimate():
    # bucket b: floor(16 * log2(1 + ms)); 0 s -> 0; 1 s -> 16 * log2(1001) = 159.47 -> 159
    assert (analytics.bucket(0), analytics.bucket(-3), analytics.bucket(1)) == (0, 0, 159)
    for seconds in (0.0004, 1, 59.9, 3600, 86_400 * 40):
        low, high = analytics.bucket_bounds(analytics.bucket(seconds))
        assert low <= seconds < high and high <= low * 1.0443 + 0.00005
    # One duration per bucket: each taken as its bucket's middle; p50 of two: halfway between.
    low, high = analytics.bucket_bounds(159)
    assert analytics.estimate([(159, 1)], 1, 0.9) == pytest.approx((low + high) / 2)
    other_low, other_high = analytics.bucket_bounds(200)
    assert analytics.estimate([(159, 1), (200, 1)], 2, 0.5) == pytest.approx(
        ((low + high) / 2 + (other_low + other_high) / 2) / 2
    )
    # Ten durations in one bucket: spread evenly, the 5th and 6th at 4.5/10 and 5.5/10 of it.
    assert analytics.estimate([(159, 10)], 10, 0.5) == pytest.approx(low + (high - low) * 0.5)


def test_long_periods_are_drawn_per_week_or_month(client, operator, fixture_data):
    per_day = analytics.figures(period=analytics.Period.last_days(92))
    assert analytics.decisions_per_interval(per_day)[0] == "day"
    data = analytics.figures(period=analytics.Period(date(2026, 1, 1), date(2026, 6, 30)))
    data.decisions_per_day = [{**row, "decisions": 1, "timeouts": 0} for row in data.decisions_per_day]
    unit, weeks = analytics.decisions_per_interval(data)
    # 2026-01-01 is a Thursday: its week (from Monday 2025-12-29) holds 4 days of the period.
    assert unit == "week" and weeks[0] == {"label": "2025-12-29", "decisions": 4, "timeouts": 0}
    assert len(weeks) == 27 and sum(w["decisions"] for w in weeks) == 181
    data = analytics.figures(period=analytics.Period(date(2020, 1, 15), date(2026, 1, 14)))
    data.decisions_per_day = [{**row, "decisions": 0, "timeouts": 1} for row in data.decisions_per_day]
    unit, months = analytics.decisions_per_interval(data)
    assert unit == "month" and len(months) == 73
    assert months[0] == {"label": "2020-01", "decisions": 0, "timeouts": 17}
    assert months[1]["timeouts"] == 29 and months[-1] == {"label": "2026-01", "decisions": 0, "timeouts": 14}

    client.force_login(operator)
    text = client.get("/analytics/?since=2020-01-15&until=2026-01-14").text
    assert (
        'aria-label="Chart: Decisions per month"' in text
        and '<h2 id="per-day-heading">Decisions per month</h2>' in text
    )
    per_month = text[text.index('id="per-day-heading"') : text.index('id="ttd-heading"')]
    assert per_month.count("<rect ") == 73 and per_month.count('<th scope="row">') == 73
    assert "ttd-estimated" not in text


def test_page__says_when_percentiles_are_estimated(client, operator, fixture_data, monkeypatch):
    monkeypatch.setattr(analytics, "EXACT_UP_TO", 5)
    client.force_login(operator)
    assert "p50 and p90 are estimated" in client.get("/analytics/").text


def test_deleting_many_runs_forgets_each_day_once(fixture_data):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    analytics.figures(period=analytics.Period.last_days(30))
    runs = [run("blog_post") for _ in range(20)]
    for r in runs:
        req(r, step="draft", resolved=NOW - timedelta(days=3))
    assert DecisionDay.objects.filter(day=TODAY - timedelta(days=3)).exists()
    with CaptureQueriesContext(connection) as queries:
        WorkflowRun.objects.filter(id__in=[r.id for r in runs]).delete()
    on_days = [q["sql"] for q in queries.captured_queries if "workflows_decisionday" in q["sql"]]
    assert len(on_days) <= 2  # found and deleted once, not looked for once per requirement
    assert not DecisionDay.objects.filter(day=TODAY - timedelta(days=3)).exists()


def test_a_day_summed_up_again_in_the_same_transaction_is_forgotten_again(fixture_data):
    from django.db import transaction

    period = analytics.Period.last_days(30)
    analytics.figures(period=period)
    first, second = run("blog_post"), run("blog_post")
    for r in (first, second):
        req(r, step="draft", resolved=NOW - timedelta(days=3))
    with transaction.atomic():
        first.delete()
        analytics.figures(period=period)  # sums the day up again, with the second run's decision
        assert DecisionDay.objects.filter(day=TODAY - timedelta(days=3)).exists()
        second.delete()
        assert not DecisionDay.objects.filter(day=TODAY - timedelta(days=3)).exists()
