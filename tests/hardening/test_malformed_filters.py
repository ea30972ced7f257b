"""A malformed filter value answers 400 (or filters nothing), never 500.

`?team=x`, `?license=1 OR 1=1`, `?run=abc`, a number past any id, a NUL (which PostgreSQL
refuses in text): each used to end in a server error on the accounts or changes list.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from integrations.reviews.services import open_review
from tests.factories import make_review_data

ACCOUNTS = "/admin/integrations/syncedaccount/"
CHANGES = "/admin/integrations/accountchange/"
TEAMS = "/admin/integrations/team/"
RUNS = "/admin/integrations/syncrun/"
INTEGRATIONS = "/admin/integrations/integration/"

# Every filter parameter of the lists, as their filter links write them.
FILTER_PARAMETERS = [
    (ACCOUNTS, "integration"),
    (ACCOUNTS, "role"),
    (ACCOUNTS, "privileged"),
    (ACCOUNTS, "team"),
    (ACCOUNTS, "team_role"),
    (ACCOUNTS, "invitation_pending__exact"),
    (ACCOUNTS, "status"),
    (ACCOUNTS, "license"),
    (CHANGES, "integration"),
    (CHANGES, "kind__exact"),
    (CHANGES, "grants_privilege"),
    (CHANGES, "created_at__gte"),
    (CHANGES, "created_at__lt"),
    (CHANGES, "run"),
    (CHANGES, "account__id__exact"),  # the account page's "Every change of this account"
    (TEAMS, "integration"),
    (TEAMS, "status"),
    (RUNS, "integration"),
    (RUNS, "outcome__exact"),
    (RUNS, "trigger__exact"),
]

MALFORMED = [
    "x",
    "abc",
    "1 OR 1=1",
    "1'; DROP TABLE integrations_syncedaccount; --",
    "99999999999999999999999",  # past any database integer
    "9223372036854775808",  # one past the largest id
    "-1",
    "1.5",
    "0x1F",
    " 1",
    "",
    "é",
    "²",  # a digit to str.isdigit(), not to int()
    "١٢",  # Arabic-Indic digits: int() reads them, no link writes them
    "\x00",
    "\ufffd",
    "x" * 5000,
]


@pytest.fixture
def tenant_admin_client(client, tenant_admin, tenant):
    make_review_data(tenant=tenant)
    client.force_login(tenant_admin)
    return client


@pytest.mark.parametrize("url, parameter", FILTER_PARAMETERS)
def test_a_malformed_filter_value_is_never_a_server_error(tenant_admin_client, url, parameter):
    statuses = {value: tenant_admin_client.get(url, {parameter: value}).status_code for value in MALFORMED}

    assert {value: status for value, status in statuses.items() if status not in (200, 400)} == {}


@pytest.mark.parametrize(
    "parameter, value",
    [("tenant__id__exact", value) for value in MALFORMED] + [("status__exact", value) for value in MALFORMED],
)
def test_the_superusers_integration_filters_take_malformed_values_too(client, superuser, tenant, parameter, value):
    make_review_data(tenant=tenant)
    client.force_login(superuser)

    assert client.get(INTEGRATIONS, {parameter: value}).status_code in (200, 400)


@pytest.mark.parametrize(
    "query",
    [
        {"team": "x"},
        {"integration": "abc"},
        {"license": "1 OR 1=1"},
        {"team": "99999999999999999999999"},
        {"role": "\x00"},
        {"team_role": "owner'--"},
    ],
)
def test_ids_and_choices_that_no_filter_offers_answer_400(tenant_admin_client, query):
    assert tenant_admin_client.get(ACCOUNTS, query).status_code == 400


def test_well_formed_values_filter_as_before(tenant_admin_client, tenant):
    """An id no row has (another tenant's, a deleted team's) shows nothing; an empty value filters nothing."""
    response = tenant_admin_client.get(ACCOUNTS, {"team": "987654321"})
    assert response.status_code == 200 and "Ann Owner" not in response.content.decode()

    response = tenant_admin_client.get(ACCOUNTS, {"team": "", "license": "", "role": ""})
    assert response.status_code == 200 and "Ann Owner" in response.content.decode()

    response = tenant_admin_client.get(CHANGES, {"run": "9223372036854775807"})  # the largest id
    assert response.status_code == 200


REVIEW_ITEMS = "/admin/integrations/reviewitem/"
REVIEWS = "/admin/integrations/accessreview/"
# Every filter of the access reviews' lists, and the page number of every list.
REVIEW_FILTER_PARAMETERS = [
    (REVIEW_ITEMS, "review"),
    (REVIEW_ITEMS, "mine"),
    (REVIEW_ITEMS, "decision"),
    (REVIEW_ITEMS, "privileged__exact"),
    (REVIEWS, "state__exact"),
    (REVIEWS, "scope__exact"),
]
LISTS = [ACCOUNTS, CHANGES, TEAMS, RUNS, INTEGRATIONS, REVIEW_ITEMS, REVIEWS]


@pytest.fixture
def review_client(client, tenant_admin, tenant):
    """A tenant admin with an open access review of six items: every list has rows to count."""
    data = make_review_data(tenant=tenant)
    open_review(
        integration=data.integration, name="Q3 access", scope="all",
        due_date=timezone.localdate() + dt.timedelta(days=14), opened_by=tenant_admin, reviewers=[tenant_admin],
    )
    client.force_login(tenant_admin)
    return client


@pytest.mark.parametrize("url, parameter", REVIEW_FILTER_PARAMETERS)
def test_a_malformed_access_review_filter_value_is_never_a_server_error(review_client, url, parameter):
    statuses = {value: review_client.get(url, {parameter: value}).status_code for value in MALFORMED}

    assert {value: status for value, status in statuses.items() if status not in (200, 400)} == {}


@pytest.mark.parametrize("url", LISTS)
def test_a_malformed_page_number_is_never_a_server_error(review_client, url):
    """`?p=` past any page (a number SQLite cannot take as a LIMIT) is the admin's "no such page"."""
    statuses = {value: review_client.get(url, {"p": value}).status_code for value in MALFORMED}

    assert {value: status for value, status in statuses.items() if status not in (200, 302, 400)} == {}


# Object ids in a URL path, as a hand-edited address could carry them.
MALFORMED_IDS = ["99999999999999999999999", "9223372036854775808", "²", "١٢", "x", "-1", "1.5"]
OBJECT_URLS = [
    REVIEW_ITEMS + "{}/change/",
    REVIEWS + "{}/change/",
    REVIEWS + "{}/evidence/?format=csv",
    INTEGRATIONS + "{}/change/",
    INTEGRATIONS + "{}/progress/",
    ACCOUNTS + "{}/change/",
]


@pytest.mark.parametrize("url", OBJECT_URLS)
def test_a_malformed_object_id_is_a_404(review_client, url):
    statuses = {value: review_client.get(url.format(value)).status_code for value in MALFORMED_IDS}

    assert {value: status for value, status in statuses.items() if status not in (302, 404)} == {}


@pytest.mark.parametrize("url", [REVIEWS + "{}/close/", INTEGRATIONS + "{}/sync/"])
def test_a_malformed_object_id_posted_to_is_a_404(review_client, url):
    statuses = {value: review_client.post(url.format(value)).status_code for value in MALFORMED_IDS}

    assert {value: status for value, status in statuses.items() if status != 404} == {}


def test_a_malformed_tenant_id_in_the_switcher_is_a_404(review_client):
    statuses = {
        value: review_client.post("/admin/switch-tenant/", {"tenant": value, "next": "/admin/"}).status_code
        for value in MALFORMED_IDS
    }

    assert {value: status for value, status in statuses.items() if status != 404} == {}
