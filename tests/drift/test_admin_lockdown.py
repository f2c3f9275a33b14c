"""Below superuser, nobody edits users, groups or permissions, or reads a token, in the admin.

Regression tests for issue 14: an ML engineer could tick is_superuser on their own user in the admin
and read every user's API token there (and so act as a second SME); neither left an audit event.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission, User

from compliance.models import AuditEvent
from drift_app.roles import ALL_ROLES, ML_ENGINEER

pytestmark = pytest.mark.django_db


def test_ml_engineers_hold_no_auth_or_token_permissions(personas):
    perms = Permission.objects.filter(group__name__in=ALL_ROLES)
    assert not perms.filter(content_type__app_label__in=["auth", "authtoken"]).exists()
    # They keep what they need to run the system.
    assert perms.filter(group__name=ML_ENGINEER, codename="change_deployment").exists()


def test_an_ml_engineer_cannot_make_themselves_superuser_in_the_admin(client, personas):
    client.force_login(personas.erin)
    url = f"/admin/auth/user/{personas.erin.pk}/change/"
    assert client.get(url).status_code == 403
    r = client.post(url, {"username": "erin", "is_superuser": "on", "is_staff": "on", "is_active": "on",
                          "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00"})
    assert r.status_code == 403
    personas.erin.refresh_from_db()
    assert not personas.erin.is_superuser and not personas.erin.is_staff


def test_an_ml_engineer_cannot_give_themselves_a_role_in_the_admin(client, personas):
    client.force_login(personas.erin)
    sme = Group.objects.get(name="sme")
    assert client.get("/admin/auth/group/").status_code == 403
    r = client.post(f"/admin/auth/group/{sme.pk}/change/", {"name": "sme", "permissions": []})
    assert r.status_code == 403
    assert not personas.erin.groups.filter(name="sme").exists()


def test_the_user_admin_refuses_even_a_role_that_was_granted_auth_permissions_by_mistake(client, personas):
    personas.erin.user_permissions.add(*Permission.objects.filter(content_type__app_label="auth"))
    client.force_login(User.objects.get(pk=personas.erin.pk))
    assert client.get("/admin/auth/user/").status_code == 403
    assert client.get(f"/admin/auth/user/{personas.bob.pk}/change/").status_code == 403


def test_an_ml_engineer_cannot_read_anyone_s_api_token_in_the_admin(client, personas):
    keys = [personas.token(n) for n in ("alice", "bob", "carol", "erin")]
    client.force_login(personas.erin)
    assert client.get("/admin/authtoken/tokenproxy/").status_code == 403
    assert client.get("/admin/drift_app/apikey/").status_code == 403
    index = client.get("/admin/").content.decode()
    assert "authtoken" not in index and "/admin/auth/user/" not in index and "apikey" not in index
    assert not any(key in index for key in keys)


def test_a_superuser_sees_no_token_secret_either_only_its_prefix(client, personas):
    secret = personas.token("bob")
    client.force_login(User.objects.create_superuser("root", "root@example.org", "x"))
    page = client.get("/admin/drift_app/apikey/").content.decode()
    assert secret[:12] in page and secret not in page


def test_a_superuser_still_manages_users_in_the_admin(client, personas):
    root = User.objects.create_superuser("root", "root@example.org", "x")
    client.force_login(root)
    assert client.get(f"/admin/auth/user/{personas.erin.pk}/change/").status_code == 200


def test_a_change_of_a_user_flag_leaves_an_audit_event(personas):
    personas.erin.is_superuser = True
    personas.erin.save()
    event = AuditEvent.objects.filter(object_type="auth.User", object_id=str(personas.erin.pk), action="update").get()
    assert event.changed_fields == ["is_superuser"]
    assert event.before == {"is_superuser": False} and event.after == {"is_superuser": True}


def test_the_last_login_bump_of_a_sign_in_is_not_a_user_change_and_no_password_hash_is_recorded(client, personas):
    from tests.base import PASSWORD

    changes = AuditEvent.objects.filter(object_type="auth.User", action__in=["create", "update"])
    before = changes.count()
    assert client.login(username="bob", password=PASSWORD)
    assert changes.count() == before  # the sign-in itself is a "sign_in" event (tests/compliance/test_audit_chain.py)
    assert not any("password" in (e.after or {}) for e in AuditEvent.objects.filter(object_type="auth.User"))


def test_evidence_is_read_only_in_the_admin_even_for_ml_engineers(client, personas):
    from tests import factories

    sample = factories.sample(factories.deployment(), prompt="What is the refund window?", response="30 days.")
    client.force_login(personas.erin)
    url = f"/admin/drift_app/productionsample/{sample.pk}/change/"
    assert client.get(url).status_code == 200  # viewable
    r = client.post(url, {"response": "rewritten", "prompt": sample.prompt, "external_id": sample.external_id,
                          "deployment": sample.deployment_id, "model_version": "v1"})
    assert r.status_code == 403
    sample.refresh_from_db()
    assert sample.response == "30 days."
    assert client.get("/admin/drift_app/productionsample/add/").status_code == 403
