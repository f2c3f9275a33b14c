"""Tiered alerts with hysteresis, fired once, acknowledged and resolved with a comment."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.core.exceptions import ValidationError

from tests.verdicts.helpers import T0, window
from verdicts import services
from verdicts.models import Alert, AlertPolicy

pytestmark = pytest.mark.django_db


def compute(world, i):
    start, end = window(i)
    return services.verdict_compute(deployment=world.deployment, window_start=start, window_end=end)


def weeks(world, drops: list[float | None], *, start: int = 0):
    """One golden evaluation per window (finished mid-window) with the given relative drops; compute each.

    The baseline run is 10 days before window 0, so window 0 without its own run has fresh evidence only
    from the baseline; later windows without a run (None) have stale evidence: a gap.
    """
    if world.baseline_run is None:
        world.golden(pass_rate=0.8, at=T0 - dt.timedelta(days=10))
    out = []
    for k, drop in enumerate(drops):
        i = start + k
        if drop is not None:
            world.golden(pass_rate=0.8 * (1 - drop / 100), at=window(i)[0] + dt.timedelta(days=2))
        world.drift(i)
        out.append(compute(world, i))
    return out


def test_a_drop_over_15_percent_opens_a_code_red_alert_at_once_and_notifies(world, django_capture_on_commit_callbacks, eager_celery):
    with django_capture_on_commit_callbacks(execute=True):
        v = weeks(world, [20.0])[0]
    alert = Alert.objects.get(deployment=world.deployment)
    assert alert.tier == "code_red" and alert.status == "open" and alert.opened_by_verdict == v
    assert alert.signal == "golden_pass_rate" and "80% → 64%" in alert.title
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["oncall@example.org"]
    assert "Code red" in mail.outbox[0].subject and v.explanation in mail.outbox[0].body
    assert alert.deliveries.get().channel == "email"


def test_recomputing_the_same_window_fires_nothing_twice(world, django_capture_on_commit_callbacks, eager_celery):
    with django_capture_on_commit_callbacks(execute=True):
        weeks(world, [20.0])
        compute(world, 0)
        compute(world, 0)
    assert Alert.objects.count() == 1 and len(mail.outbox) == 1


def test_a_drop_between_5_and_15_percent_needs_two_windows_for_a_review_item_and_sends_nothing(world, django_capture_on_commit_callbacks, eager_celery):
    with django_capture_on_commit_callbacks(execute=True):
        weeks(world, [8.0])
        assert not Alert.objects.exists()
        weeks(world, [9.0], start=1)
    alert = Alert.objects.get()
    assert alert.tier == "review" and alert.opened_by_verdict.window_start == window(1)[0]
    assert mail.outbox == [] and not alert.deliveries.exists()


def test_a_drop_below_5_percent_opens_nothing(world):
    weeks(world, [4.0, 4.9, 3.0])
    assert not Alert.objects.exists()


def test_a_review_item_escalates_to_code_red_in_place_and_reopens_if_acknowledged(world, personas, django_capture_on_commit_callbacks, eager_celery):
    with django_capture_on_commit_callbacks(execute=True):
        weeks(world, [8.0, 8.0])
        alert = Alert.objects.get()
        services.alert_acknowledge(alert=alert, user=personas.erin, comment="looking at it")
        weeks(world, [25.0], start=2)
    alert.refresh_from_db()
    assert Alert.objects.count() == 1
    assert alert.tier == "code_red" and alert.escalated_at is not None and alert.status == "open"
    assert len(mail.outbox) == 1


def test_an_open_alert_closes_by_itself_after_two_clean_windows(world):
    weeks(world, [20.0, 0.0])
    alert = Alert.objects.get()
    assert alert.is_open
    weeks(world, [0.0], start=2)
    alert.refresh_from_db()
    assert alert.status == "resolved" and alert.closed_at and alert.resolved_by is None
    assert alert.resolved_comment == "Closed automatically after 2 consecutive clean windows."


def test_a_new_breach_after_closing_opens_a_new_alert(world):
    weeks(world, [20.0, 0.0, 0.0, 30.0])
    assert list(Alert.objects.order_by("id").values_list("status", flat=True)) == ["resolved", "open"]


def test_a_user_resolving_an_alert_does_not_reopen_it_during_the_same_bad_run(world, personas):
    weeks(world, [20.0])
    services.alert_resolve(alert=Alert.objects.get(), user=personas.erin, comment="rolled back to v2")
    weeks(world, [20.0], start=1)
    compute(world, 1)
    assert Alert.objects.count() == 1


def test_the_policy_sets_how_many_windows_open_and_close_an_alert(world):
    AlertPolicy.objects.create(deployment=world.deployment, code_red_open_after=2, close_after=1)
    weeks(world, [20.0])
    assert not Alert.objects.exists()
    weeks(world, [20.0, 0.0], start=1)
    assert Alert.objects.get().status == "resolved"


def test_one_open_alert_per_deployment_and_signal_is_enforced_by_the_database(world):
    from django.db import IntegrityError, transaction

    v = weeks(world, [20.0])[0]
    with pytest.raises(IntegrityError), transaction.atomic():
        Alert.objects.create(deployment=world.deployment, signal="golden_pass_rate", tier="review", title="x", opened_by_verdict=v)


def test_acknowledge_and_resolve_record_the_user_the_time_and_the_comment(world, personas):
    weeks(world, [20.0])
    alert = services.alert_acknowledge(alert=Alert.objects.get(), user=personas.erin, comment="paging the model owner")
    assert alert.status == "acknowledged" and alert.acknowledged_by == personas.erin and alert.acknowledged_at
    alert = services.alert_resolve(alert=alert, user=personas.bob, comment="v3 rolled back")
    assert alert.status == "resolved" and alert.resolved_by == personas.bob and alert.closed_at == alert.resolved_at
    assert alert.resolved_comment == "v3 rolled back" and alert.acknowledged_comment == "paging the model owner"


def test_acknowledging_needs_a_comment_and_an_open_alert(world, personas):
    weeks(world, [20.0])
    alert = Alert.objects.get()
    with pytest.raises(ValidationError, match="A comment is required"):
        services.alert_acknowledge(alert=alert, user=personas.erin, comment="  ")
    services.alert_resolve(alert=alert, user=personas.erin, comment="done")
    with pytest.raises(services.AlertStateError, match="only an open alert can be acknowledged"):
        services.alert_acknowledge(alert=alert, user=personas.erin, comment="late")
    with pytest.raises(services.AlertStateError, match="already resolved"):
        services.alert_resolve(alert=alert, user=personas.erin, comment="again")


def test_a_significant_flag_rise_opens_a_review_item_on_its_own_signal(world, personas):
    world.golden(pass_rate=0.8, at=T0 - dt.timedelta(days=10))
    world.traffic(start=T0 - dt.timedelta(weeks=2), n=400, bad=2, user=personas.alice, prefix="base")
    for i in range(2):
        world.traffic(start=window(i)[0], n=400, bad=30, user=personas.alice, prefix=f"w{i}")
        world.drift(i)
        compute(world, i)
    alert = Alert.objects.get()
    assert alert.signal == "confirmed_bad_rate" and alert.tier == "review" and "confirmed-bad rate 0.5% → 7.5%" in alert.title


def test_the_alert_records_the_window_whose_verdict_opened_it(world):
    v = weeks(world, [20.0])[0]
    alert = Alert.objects.get()
    assert (alert.window_start, alert.window_end) == (v.window_start, v.window_end) == window(0)


def test_two_breaches_a_month_apart_are_not_consecutive(world):
    # Window 0 breaches, windows 1-3 have no verdict at all, window 4 breaches: a gap, not a run of two.
    weeks(world, [8.0])
    weeks(world, [8.0], start=4)
    assert not Alert.objects.exists()
    weeks(world, [8.0], start=5)
    assert Alert.objects.get().opened_by_verdict.window_start == window(5)[0]


def test_a_window_without_golden_evidence_neither_opens_nor_closes_an_alert(world):
    weeks(world, [20.0, None, None])  # windows 1 and 2: the last evaluation is stale → no golden evidence
    alert = Alert.objects.get()
    assert alert.is_open
    weeks(world, [0.0, 0.0], start=3)
    alert.refresh_from_db()
    assert not alert.is_open


def test_a_one_item_drop_opens_no_alert(personas):
    from tests.verdicts.helpers import World

    world = World(personas.bob, items=20)
    world.golden(pass_rate=1.0, at=T0 - dt.timedelta(days=10))
    world.golden(pass_rate=0.95, at=window(0)[0] + dt.timedelta(days=2))  # 20/20 → 19/20, −5.0% and p = 0.5
    world.drift(0)
    v = compute(world, 0)
    assert v.verdict_class != "genuine_degradation" and v.inputs["golden"]["tier"] is None
    assert not Alert.objects.exists()


def test_a_late_breach_recomputed_in_a_past_window_reopens_the_hysteresis_after_it(world):
    AlertPolicy.objects.create(deployment=world.deployment, review_open_after=2)
    weeks(world, [0.0, 0.0])
    assert not Alert.objects.exists()
    # A late evaluation of window 0's model lands (answers produced mid-window 0): window 0 breaches,
    # window 1 is recomputed after it and, with its own evaluation now breaching too, opens the alert.
    world.golden(pass_rate=0.8 * 0.9, at=window(1)[0] + dt.timedelta(days=3))
    world.golden(pass_rate=0.8 * 0.9, at=window(0)[0] + dt.timedelta(days=3))
    compute(world, 0)
    alert = Alert.objects.get()
    assert alert.tier == "review" and alert.window_start == window(1)[0]
