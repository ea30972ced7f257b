"""Security (issue 7, item 4): the token stays secret, every POST needs its CSRF token, no
tenant reaches another's data, reviewers change nothing, and logins lock out after failures.

Already covered elsewhere and not repeated here: `check --deploy` clean with DJANGO_DEBUG=false
and the two keys (test_settings.test_check_deploy_is_clean_with_only_the_two_keys, which now
runs with django-axes' own checks too); the configure page and error reports hiding the token
(test_admin_integrations); the token in no log line or message of the client and the sync
(test_client, test_sync); addintegration's output (test_addintegration); foreign objects'
pages answering 404 (test_reviewer_access, test_tenancy); a forged switch-tenant id
(test_tenancy.test_a_forged_tenant_is_refused_and_changes_nothing); an owner from another
tenant (test_admin_integrations, test_tenancy).
"""

from __future__ import annotations

import html
import io
import logging
import re
from datetime import timedelta

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group
from django.contrib.sessions.models import Session
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import OrmQ, Schedule, Task

from integrations.admin.base import TenantScopedAdmin
from integrations.models import (
    AccessReview,
    AccountChange,
    Integration,
    ReviewItem,
    SyncedAccount,
    SyncRun,
    Team,
    TenantMembership,
)
from integrations.tenancy import SESSION_KEY
from tests.conftest import TOKEN, configure, saved_token
from tests.factories import make_review_data
from tests.sync.test_tasks import queued

pytestmark = pytest.mark.django_db

# The token's middle: a leak of any large part of it shows, while the hint (••••3f9a) may.
TOKEN_PARTS = (TOKEN, TOKEN[2:-4], "PDtestTOKEN")
CHANGELIST = reverse("admin:integrations_integration_changelist")
ADD = reverse("admin:integrations_integration_add")
ACCOUNTS = reverse("admin:integrations_syncedaccount_changelist")
LOGIN = reverse("admin:login")
SWITCH = reverse("switch_tenant")


# --- helpers ---------------------------------------------------------------------------------


def text_of(value) -> str:
    if isinstance(value, (bytes, memoryview)):
        return bytes(value).decode("latin-1")
    return str(value)


def database_rows() -> dict[str, list[str]]:
    """Every row of every table, as text: what a database dump would show."""
    rows = {}
    with connection.cursor() as cursor:
        for table in sorted(connection.introspection.table_names()):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            rows[table] = sorted(" | ".join(text_of(value) for value in row) for row in cursor.fetchall())
    return rows


def world() -> tuple[dict, int]:
    """The database and the task queue: what a refused request must leave as it was."""
    return database_rows(), get_broker().queue_size()


def changed_tables(before: tuple[dict, int], after: tuple[dict, int]) -> list[str]:
    """What differs between two worlds, for assertion messages."""
    tables = [table for table in before[0] if before[0][table] != after[0].get(table)]
    return tables + (["the task queue"] if before[1] != after[1] else [])


def assert_unchanged(before: tuple[dict, int], what="") -> None:
    after = world()
    assert after == before, f"{what} changed {changed_tables(before, after)}"


def assert_no_token(text: str, where: str) -> None:
    for part in TOKEN_PARTS:
        assert part not in text, f"the token is in {where}"


def body(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


def admin_url(model, view: str, *args) -> str | None:
    try:
        return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)
    except NoReverseMatch:
        return None


@pytest.fixture
def acme(tenant):
    return make_review_data(tenant=tenant)


@pytest.fixture
def globex(other_tenant):
    return make_review_data(tenant=other_tenant, prefix="Zed")


def one_of_everything(acme) -> None:
    """A row for every registered admin model, so that each one's object pages exist."""
    Group.objects.get_or_create(name="operators")
    Schedule.objects.get_or_create(name="security-test", defaults={"func": "math.floor", "args": "1"})
    now = timezone.now()
    for success in (True, False):
        Task.objects.create(
            id=f"task-{success}", name=f"sync-{success}", func="integrations.tasks.sync_integration_task",
            args=(acme.integration.pk, "schedule"), started=now, stopped=now, success=success, result="done",
        )
    OrmQ.objects.create(key="balkan_pd", payload="x", lock=now)
    AccessAttempt.objects.create(
        username="mallory", ip_address="10.0.0.9", user_agent="test", path_info=LOGIN, failures_since_start=1,
        get_data="", post_data="", http_accept="*/*",
    )
    AccessLog.objects.create(username="mallory", ip_address="10.0.0.9", user_agent="test", path_info=LOGIN,
                             http_accept="*/*")
    AccessFailureLog.objects.create(username="mallory", ip_address="10.0.0.9", user_agent="test",
                                    path_info=LOGIN, http_accept="*/*", locked_out=False)


# --- the token stays secret ------------------------------------------------------------------


def crawl(client, urls: list[str]) -> dict[str, str]:
    """The pages among `urls` that this user may see."""
    pages = {}
    for url in urls:
        response = client.get(url)
        if response.status_code == 200:
            pages[url] = body(response)
    return pages


def every_admin_url() -> list[str]:
    """Index, each model's list, and the change, history and delete pages of every object."""
    urls = [reverse("admin:index"), reverse("admin:password_change")]
    for model in admin.site._registry:
        urls += [url for url in [admin_url(model, "changelist"), admin_url(model, "add")] if url]
        for pk in model._default_manager.values_list("pk", flat=True)[:2]:
            urls += [admin_url(model, view, pk) for view in ("change", "history", "delete")]
    for integration in Integration.objects.all():
        urls.append(reverse("admin:integrations_integration_configure", args=[integration.pk]))
    return urls


def test_the_token_is_in_no_page_log_line_export_command_output_task_or_database_row(
    client, superuser, tenant_admin, reviewer, integration, fake_pagerduty, caplog,
    django_capture_on_commit_callbacks,
):
    caplog.set_level(logging.DEBUG)  # every logger, urllib3 and requests included
    client.force_login(tenant_admin)
    configure_url = reverse("admin:integrations_integration_configure", args=[integration.pk])
    rejected = client.post(configure_url, {"access_token": TOKEN + "-wrong", "region": "us"})
    with django_capture_on_commit_callbacks(execute=True):  # the first sync is queued on commit
        saved = client.post(configure_url, {"access_token": TOKEN, "region": "us"})
    assert rejected.status_code == 200 and "Nothing was saved" in html.unescape(body(rejected))
    assert saved.status_code == 302
    integration.refresh_from_db()
    assert saved_token(integration) == TOKEN

    outputs = {}
    for name, args in {
        "syncpagerduty": ["syncpagerduty"],
        "syncpagerduty --dry-run": ["syncpagerduty", "--dry-run"],
        "exportaccounts csv": ["exportaccounts", "--format", "csv"],
        "exportaccounts json": ["exportaccounts", "--format", "json"],
    }.items():
        out, err = io.StringIO(), io.StringIO()
        call_command(*args, stdout=out, stderr=err)
        outputs[name] = out.getvalue() + err.getvalue()
    assert SyncedAccount.objects.count() == 30
    fake_pagerduty.revoke_token_after(0)  # a failed sync's message and log lines too
    out = io.StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("syncpagerduty", stdout=out, stderr=out)
    assert_no_token(str(failed.value), "the command's error")
    outputs["syncpagerduty (token rejected)"] = out.getvalue()
    assert "token rejected" in outputs["syncpagerduty (token rejected)"]

    pages = {"rejected configure POST": body(rejected)}
    seen = {}
    for user in (superuser, tenant_admin, reviewer):
        client.force_login(user)
        crawled = crawl(client, every_admin_url())
        seen[user.username] = len(crawled)
        pages.update({f"{user.username} {url}": text for url, text in crawled.items()})
        export = client.post(ACCOUNTS, {"action": "export_json", "select_across": "1", "index": "0",
                                        "_selected_action": [SyncedAccount.objects.first().pk]})
        pages[f"{user.username} export"] = body(export)
    assert any("••••3f9a" in text for text in pages.values())  # the hint is shown, and only it
    assert seen["root"] > 60 and seen["alice"] > 20 and seen["rita"] > 15, seen

    for where, text in {**pages, **outputs, "the log": caplog.text}.items():
        assert_no_token(text, where)
    for table, rows in database_rows().items():
        assert_no_token("\n".join(rows), f"table {table}")
    # Encoded columns, decoded: sessions, queued and finished tasks.
    for session in Session.objects.all():
        assert_no_token(str(session.get_decoded()), "a session")
    tasks = queued(get_broker())
    assert [task["args"] for task in tasks] == [(integration.pk, "configure")]  # the first sync
    assert_no_token(str(tasks), "a queued task")


# --- CSRF on every form and action ------------------------------------------------------------


def refused_without_csrf(client: Client, url: str, data: dict) -> None:
    before = world()
    response = client.post(url, data)
    assert response.status_code == 403, (url, data, response.status_code)
    assert_unchanged(before, f"POST {url} {data}")


def test_every_form_and_action_answers_403_without_a_csrf_token(
    superuser, tenant_admin, make_user, tenant, other_tenant, acme, globex, fake_pagerduty
):
    configure(acme.integration)
    one_of_everything(acme)
    csrf = Client(enforce_csrf_checks=True)

    # Logged out: the login form.
    refused_without_csrf(csrf, LOGIN, {"username": "alice", "password": "pw-Secret-123", "next": "/admin/"})
    assert "_auth_user_id" not in csrf.session

    # A tenant admin's forms.
    both = make_user("carol", tenant=[tenant, other_tenant], role="admin")
    csrf.force_login(both)
    integration = acme.integration
    for url, data in [
        (ADD, {"application": integration.application_id, "owner": both.pk, "description": "forged"}),
        (admin_url(Integration, "change", integration.pk), {"owner": both.pk, "description": "forged"}),
        (reverse("admin:integrations_integration_configure", args=[integration.pk]),
         {"access_token": TOKEN, "region": "eu"}),
        (SWITCH, {"tenant": other_tenant.pk, "next": CHANGELIST}),
        (CHANGELIST, {"action": "sync_now", "_selected_action": [integration.pk], "index": "0"}),
        (ACCOUNTS, {"action": "export_csv", "_selected_action": [acme.bob.pk], "index": "0"}),
        (ACCOUNTS, {"action": "export_json", "_selected_action": [acme.bob.pk], "index": "0"}),
        (reverse("admin:password_change"),
         {"old_password": "pw-Secret-123", "new_password1": "N3w-pass-phrase!", "new_password2": "N3w-pass-phrase!"}),
        (reverse("admin:logout"), {}),
    ]:
        refused_without_csrf(csrf, url, data)
    assert fake_pagerduty.request_count == 0
    assert csrf.get(CHANGELIST).status_code == 200  # still logged in: logout was refused too

    # A superuser: every action of every list, and every add, change and delete form.
    csrf.force_login(superuser)
    actions_seen = set()
    for model, model_admin in admin.site._registry.items():
        pk = model._default_manager.values_list("pk", flat=True).first()
        changelist = admin_url(model, "changelist")
        response = csrf.get(changelist)
        assert response.status_code == 200, changelist
        action_form = response.context.get("action_form")
        for action, _label in action_form.fields["action"].choices if action_form else []:
            if action:
                actions_seen.add(f"{model._meta.label}.{action}")
                refused_without_csrf(csrf, changelist, {"action": action, "_selected_action": [pk], "index": "0"})
        if model_admin.has_add_permission(response.wsgi_request):
            refused_without_csrf(csrf, admin_url(model, "add"), {})
        refused_without_csrf(csrf, admin_url(model, "change", pk), {})
        refused_without_csrf(csrf, admin_url(model, "delete", pk), {"post": "yes"})
    assert {
        "integrations.Integration.sync_now", "integrations.Integration.delete_selected",
        "integrations.SyncedAccount.export_csv", "integrations.SyncedAccount.export_json",
        "integrations.Tenant.delete_selected", "auth.User.delete_selected",
        "axes.AccessAttempt.cleanup_expired_attempts",
    } <= actions_seen, actions_seen


# --- no tenant reaches another's data ----------------------------------------------------------


@pytest.fixture
def alice(client, tenant_admin):
    client.force_login(tenant_admin)
    return client


def exported(client, action: str, ids: list[int]) -> str:
    response = client.post(ACCOUNTS, {"action": action, "index": "0", "_selected_action": ids})
    assert response.status_code == 200
    return body(response)


def test_actions_posted_with_another_tenants_ids_touch_only_ones_own(alice, acme, globex):
    configure(acme.integration)
    configure(globex.integration)
    broker = get_broker()
    broker.purge_queue()

    before = world()
    response = alice.post(CHANGELIST, {"action": "sync_now", "_selected_action": [globex.integration.pk],
                                       "index": "0"}, follow=True)
    assert "Queued a sync" not in html.unescape(body(response))
    assert_unchanged(before)

    alice.post(CHANGELIST, {"action": "sync_now", "_selected_action": [acme.integration.pk, globex.integration.pk],
                            "index": "0"})
    assert [task["args"] for task in queued(broker)] == [(acme.integration.pk, "admin")]

    for action in ("export_csv", "export_json"):
        foreign_only = exported(alice, action, [globex.bob.pk, globex.ann.pk])
        mixed = exported(alice, action, [acme.bob.pk, globex.bob.pk])
        assert "Zed" not in foreign_only and "Bob Admin" not in foreign_only
        assert "Bob Admin" in mixed and "Zed" not in mixed

    # delete_selected is not a tenant admin's action: posted anyway, it deletes nothing.
    before = world()
    alice.post(CHANGELIST, {"action": "delete_selected", "post": "yes", "index": "0",
                            "_selected_action": [acme.integration.pk, globex.integration.pk]})
    assert_unchanged(before)


def test_forged_tenant_owner_and_integration_ids_change_nothing(
    client, make_user, tenant, other_tenant, acme, globex, fake_pagerduty
):
    # Admin in Acme, only a reviewer in Globex; and a user of Globex alone.
    dave = make_user("dave", tenant=tenant, role="admin")
    TenantMembership.objects.create(user=dave, tenant=other_tenant, role="reviewer")
    globex_only = make_user("gus", tenant=other_tenant, role="admin")
    client.force_login(dave)
    application = acme.integration.application_id

    # Add Integration: a forged tenant id is ignored (the active tenant is used) ...
    client.post(ADD, {"tenant": other_tenant.pk, "application": application, "description": "forged tenant"})
    assert Integration.objects.get(description="forged tenant").tenant == tenant
    # ... and an owner from the other tenant is refused, nothing added.
    before = world()
    response = client.post(ADD, {"application": application, "owner": globex_only.pk, "description": "forged owner"})
    assert response.status_code == 200 and "Select a valid choice" in html.unescape(body(response))
    assert_unchanged(before)

    # Configure and Integrate another tenant's integration: 404, no request, nothing stored.
    configure = reverse("admin:integrations_integration_configure", args=[globex.integration.pk])
    assert client.post(configure, {"access_token": TOKEN, "region": "us"}).status_code == 404
    assert_unchanged(before)
    assert fake_pagerduty.request_count == 0

    # Switching to the tenant where dave is only a reviewer makes the integration pages 403.
    client.post(SWITCH, {"tenant": other_tenant.pk})
    assert client.session[SESSION_KEY] == other_tenant.pk
    before = world()  # the switch itself is a change of the session
    assert client.post(configure, {"access_token": TOKEN, "region": "us"}).status_code == 403
    assert client.post(ADD, {"application": application, "description": "as reviewer"}).status_code == 403
    assert_unchanged(before)


def an_access_review(data, make_user, username):
    """An open access review of `data`'s integration, its items assigned to a new tenant admin."""
    from integrations.reviews.services import open_review

    admin_user = make_user(username, tenant=data.integration.tenant, role="admin")
    return open_review(
        integration=data.integration, name=f"{username}'s review", scope="all",
        due_date=timezone.localdate() + timedelta(days=7), opened_by=admin_user, reviewers=[admin_user],
    )


def test_another_tenants_object_pages_and_filters_show_nothing_of_it(alice, acme, globex, make_user):
    review = an_access_review(globex, make_user, "Zed_admin")
    foreign = {
        AccessReview: review.pk,
        ReviewItem: review.items.first().pk,
        Integration: globex.integration.pk,
        SyncedAccount: globex.bob.pk,
        AccountChange: AccountChange.objects.filter(integration=globex.integration).first().pk,
        Team: globex.ops.pk,
        SyncRun: globex.run.pk,
    }
    assert {model for model, model_admin in admin.site._registry.items()
            if isinstance(model_admin, TenantScopedAdmin)} == set(foreign)
    before = world()
    for model, pk in foreign.items():
        for view in ("change", "history", "delete"):
            url = admin_url(model, view, pk)
            assert alice.get(url).status_code in (403, 404), url
            assert alice.post(url, {"description": "hijacked", "post": "yes"}).status_code in (403, 404), url
    assert_unchanged(before)

    # List filters given another tenant's ids show none of its rows (nor their names).
    for url in [
        f"{ACCOUNTS}?integration={globex.integration.pk}",
        f"{ACCOUNTS}?team={globex.ops.pk}",
        f"{ACCOUNTS}?license={globex.full_user.pk}",
        f"{reverse('admin:integrations_accountchange_changelist')}?run={globex.run.pk}",
        f"{reverse('admin:integrations_accountchange_changelist')}?integration={globex.integration.pk}",
        f"{reverse('admin:integrations_team_changelist')}?integration={globex.integration.pk}",
        f"{reverse('admin:integrations_syncrun_changelist')}?integration={globex.integration.pk}",
        f"{reverse('admin:integrations_reviewitem_changelist')}?review={review.pk}",
        reverse("admin:integrations_accessreview_changelist"),
    ]:
        response = alice.get(url)
        assert response.status_code == 200, url
        assert "Zed" not in body(response), url


def test_autocomplete_lists_no_users_or_tenants_to_tenant_users(client, tenant_admin, reviewer, make_user, other_tenant):
    make_user("zed-secret-user", tenant=other_tenant)
    for user in (tenant_admin, reviewer):
        client.force_login(user)
        for model_name, field in (("tenantmembership", "user"), ("tenantmembership", "tenant")):
            response = client.get(reverse("admin:autocomplete"), {
                "app_label": "integrations", "model_name": model_name, "field_name": field, "term": "z",
            })
            # A tenant admin may open their own tenant (its email domains) but never search
            # tenants: the autocomplete finds no search there (404) rather than no permission.
            denied = 404 if (user, field) == (tenant_admin, "tenant") else 403
            assert response.status_code == denied, (user, field)
            assert "zed-secret-user" not in body(response)


# --- a reviewer changes nothing ------------------------------------------------------------------


def test_a_reviewer_reaches_no_add_change_or_delete_view_of_any_model(client, reviewer, acme, globex, make_user):
    one_of_everything(acme)
    # A review of the reviewer's tenant whose items are another's: not theirs to see.
    an_access_review(acme, make_user, "ada")
    client.force_login(reviewer)
    # An object of the reviewer's own tenant where the model has tenants, else any.
    own = {
        Integration: acme.integration.pk, SyncedAccount: acme.bob.pk, Team: acme.ops.pk, SyncRun: acme.run.pk,
        AccountChange: AccountChange.objects.filter(integration=acme.integration).first().pk,
    }
    read_only_pages = []
    for model in admin.site._registry:
        pk = own.get(model) or model._default_manager.values_list("pk", flat=True).first()
        add, change, delete = (admin_url(model, "add"), admin_url(model, "change", pk), admin_url(model, "delete", pk))
        before = world()
        assert client.get(add).status_code == 403, add
        assert client.post(add, {}).status_code == 403, add
        assert client.get(delete).status_code in (403, 404), delete
        assert client.post(delete, {"post": "yes"}).status_code in (403, 404), delete
        assert client.post(change, {"name": "changed", "description": "changed"}).status_code in (403, 404), change
        response = client.get(change)
        if response.status_code == 200:
            # Synced data a reviewer reads: shown read-only, with nothing to submit.
            read_only_pages.append(model._meta.label)
            content = body(response).split('id="content"', 1)[1]
            fields = [tag for tag in re.findall(r"<(?:input|select|textarea|button)\b[^>]*>", content)
                      if 'name="csrfmiddlewaretoken"' not in tag]
            assert fields == [], (model, fields)
        else:
            assert response.status_code in (403, 404), change
        assert_unchanged(before, model)
    assert sorted(read_only_pages) == [
        "integrations.AccountChange", "integrations.SyncRun", "integrations.SyncedAccount", "integrations.Team",
    ]


# --- login lockout (django-axes) -------------------------------------------------------------------


def log_in(client: Client, username: str, password: str, *, ip: str = "10.1.1.1"):
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"}, REMOTE_ADDR=ip)


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_five_failed_logins_lock_that_username_from_that_address_for_15_minutes(tenant_admin, make_user):
    make_user("bea", role="admin")
    client = Client()
    for attempt in range(4):
        response = log_in(client, "alice", f"wrong-{attempt}")
        assert response.status_code == 200 and "Please enter the correct username and password" in body(response)

    locked = log_in(client, "alice", "wrong-4")

    assert locked.status_code == 429
    text = " ".join(re.sub(r"<[^>]+>", " ", html.unescape(body(locked))).split())  # as read on screen
    assert "Too many failed logins" in text
    assert "After 5 failed attempts, logging in as alice from this address is blocked for 15 minutes." in text
    assert "Please wait 15 minutes, then try again" in text
    # Locked: even the right password is refused, from this address.
    assert log_in(client, "alice", "pw-Secret-123").status_code == 429 and not logged_in(client)
    # Username and address together: alice from elsewhere, and bea from here, still log in.
    assert log_in(Client(), "alice", "pw-Secret-123", ip="10.2.2.2").status_code == 302
    assert log_in(Client(), "bea", "pw-Secret-123").status_code == 302
    # Once the 15 minutes have passed, alice logs in from here again.
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=15, seconds=1))
    assert log_in(client, "alice", "pw-Secret-123").status_code == 302 and logged_in(client)


def test_a_successful_login_resets_the_count(tenant_admin):
    client = Client()
    for attempt in range(4):
        assert log_in(client, "alice", f"wrong-{attempt}").status_code == 200
    assert log_in(client, "alice", "pw-Secret-123").status_code == 302
    client.logout()
    for attempt in range(4):
        assert log_in(client, "alice", f"wrong-again-{attempt}").status_code == 200
    assert log_in(client, "alice", "pw-Secret-123").status_code == 302


def test_the_lockout_page_escapes_the_username_tried():
    client = Client()
    for attempt in range(5):
        response = log_in(client, "<script>alert(1)</script>", f"guess-{attempt}")
    assert response.status_code == 429
    assert "<script>alert(1)</script>" not in body(response)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body(response)


def test_login_attempt_records_are_for_superusers_only(client, tenant_admin, reviewer, superuser):
    log_in(Client(), "alice", "wrong")
    pages = [admin_url(model, "changelist") for model in (AccessAttempt, AccessLog, AccessFailureLog)]
    for user in (tenant_admin, reviewer):
        client.force_login(user)
        assert "/admin/axes/" not in body(client.get(reverse("admin:index")))
        for url in pages:
            assert client.get(url).status_code == 403, (user, url)
        attempt = AccessAttempt.objects.get()
        assert client.get(admin_url(AccessAttempt, "change", attempt.pk)).status_code == 403
    client.force_login(superuser)
    assert "/admin/axes/" in body(client.get(reverse("admin:index")))
    assert all(client.get(url).status_code == 200 for url in pages)
    # The password tried is never stored in the clear.
    assert "wrong" not in AccessAttempt.objects.get().post_data
    assert not LogEntry.objects.exists()
