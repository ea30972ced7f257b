"""The fake PagerDuty: its answers follow PagerDuty's OpenAPI specs and its switches work.

No Django and no database here: the fake runs standalone and so do these tests.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest
import requests
from openapi_core import Config, OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from openapi_core.exceptions import OpenAPIError

from tests.connectors.pagerduty.fake import LEGACY_ROLE, ROLES, FakePagerDuty, LazyAccounts, generate_dataset
from tests.connectors.pagerduty.fake.data import SPECIAL_NAMES, SPECIAL_TEAM_NAME
from tests.paths import PAGERDUTY_SPECS, ROOT

SPECS = PAGERDUTY_SPECS
TOKEN = "fake-test-token"
REST_HEADERS = {"Authorization": f"Token token={TOKEN}", "Accept": "application/vnd.pagerduty+json;version=2"}
PD_ID = re.compile(r"P[A-Z0-9]{6}")


# -- fixtures -----------------------------------------------------------------------------
def _load_spec(name: str) -> OpenAPI:
    # The published REST spec fails openapi-spec-validator on unrelated operations (a string
    # default on an integer), so skip the spec check; response validation still works.
    config = Config(spec_validator_cls=None, extra_media_type_deserializers={"application/scim+json": json.loads})
    return OpenAPI.from_file_path(str(SPECS / name), config=config)


@pytest.fixture(scope="module")
def rest_spec() -> OpenAPI:
    return _load_spec("rest-openapiv3.json")


@pytest.fixture(scope="module")
def scim_spec() -> OpenAPI:
    return _load_spec("scim-openapiv3.json")


@pytest.fixture
def dataset():
    return generate_dataset(users=250, teams=8, seed=7)


@pytest.fixture
def fake(dataset):
    with FakePagerDuty(dataset, token=TOKEN) as server:
        yield server


@pytest.fixture
def api(fake):
    """A requests session that talks to the fake like the product does: get(path, **params)."""
    session = requests.Session()
    session.headers.update(REST_HEADERS)

    def get(path: str, timeout: float = 5, **params) -> requests.Response:
        return session.get(fake.base_url + path, params=params, timeout=timeout)

    get.session = session
    yield get
    session.close()


def validate(spec: OpenAPI, response: requests.Response) -> None:
    """Validate a live response against a spec whose server is https://api.pagerduty.com."""
    split = urlsplit(response.request.url)
    url = "https://api.pagerduty.com" + split.path + (f"?{split.query}" if split.query else "")
    request = RequestsOpenAPIRequest(requests.Request("GET", url, headers=dict(response.request.headers)))
    try:
        spec.validate_response(request, RequestsOpenAPIResponse(response))
    except OpenAPIError as error:
        # The full message repeats the whole body; the schema errors are what matter.
        details = getattr(error.__cause__, "schema_errors", None) or [error.__cause__ or error]
        messages = sorted({str(getattr(d, "message", d))[:200] for d in details})
        raise AssertionError(f"{split.path} {response.status_code} does not follow the spec: {messages[:5]}") from None


def walk(api, path: str, key: str, limit: int = 100, **params) -> list[requests.Response]:
    """Every page of a classic-paginated list, following `more`."""
    pages, offset = [], 0
    while True:
        response = api(path, limit=limit, offset=offset, **params)
        assert response.status_code == 200, response.text
        pages.append(response)
        body = response.json()
        if not body["more"]:
            return pages
        offset += len(body[key])


def error_of(response: requests.Response) -> dict:
    return response.json()["error"]


# -- the answers follow the specs ---------------------------------------------------------
def test_every_rest_endpoint_validates_against_the_rest_spec(rest_spec, api, dataset):
    # The legacy role is deliberately outside the spec's enum (see the next test).
    legacy = dataset.users_with_role(LEGACY_ROLE)[0]
    dataset.set_role(legacy["id"], "user")
    user_id, team_id = next(iter(dataset.users)), next(iter(dataset.teams))

    responses = [
        *walk(api, "/users", "users"),
        api("/users", total="true", query="acme", **{"include[]": "teams"}),
        api(f"/users/{user_id}"),
        *walk(api, "/teams", "teams", limit=3),
        api(f"/teams/{team_id}"),
        *walk(api, f"/teams/{team_id}/members", "members", total="true"),
        api("/licenses"),
        *walk(api, "/license_allocations", "license_allocations", total="true"),
    ]
    for response in responses:
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "application/json"
        validate(rest_spec, response)


def test_a_legacy_role_is_served_as_it_is_although_the_spec_enum_lacks_it(rest_spec, api, dataset):
    legacy = dataset.users_with_role(LEGACY_ROLE)[0]
    response = api(f"/users/{legacy['id']}")
    assert response.json()["user"]["role"] == LEGACY_ROLE
    with pytest.raises(AssertionError, match="legacy_stakeholder"):
        validate(rest_spec, response)  # so a client must not validate roles against the enum


def test_scim_answers_validate_against_the_scim_spec(scim_spec, api, dataset):
    listing = api("/scim/v2/Users", startIndex=1, count=100)
    assert listing.headers["Content-Type"] == "application/scim+json"
    validate(scim_spec, listing)
    scim_id = listing.json()["Resources"][0]["id"]
    validate(scim_spec, api(f"/scim/v2/Users/{scim_id}"))
    validate(scim_spec, api("/scim/v2/Users", filter=f'userName eq "{next(iter(dataset.users.values()))["email"]}"'))


def test_error_answers_validate_against_the_specs(rest_spec, scim_spec, fake, api):
    unauthenticated = requests.get(fake.base_url + "/users", headers={"Accept": REST_HEADERS["Accept"]}, timeout=5)
    assert unauthenticated.status_code == 401
    assert error_of(unauthenticated) == {"message": "Unauthenticated", "code": 2006}
    validate(rest_spec, unauthenticated)

    capped = api("/users", offset=9950, limit=100)
    assert capped.status_code == 400 and error_of(capped)["code"] == 2002
    validate(rest_spec, capped)

    validate(rest_spec, api("/users/PNOSUCH"))  # 404

    fake.licenses_permission = False
    forbidden = api("/licenses")
    assert forbidden.status_code == 403
    validate(rest_spec, forbidden)

    fake.teams_ability = False
    no_teams = api("/teams")
    assert no_teams.status_code == 402 and error_of(no_teams)["code"] == 2012
    validate(rest_spec, no_teams)

    fake.rate_limit(0, 60)
    throttled = api("/users")
    assert throttled.status_code == 429 and error_of(throttled) == {"message": "Rate Limit Exceeded", "code": 2020}
    validate(rest_spec, throttled)
    fake.rate_limit(None)

    scim_unauthenticated = requests.get(fake.base_url + "/scim/v2/Users", timeout=5)
    assert scim_unauthenticated.status_code == 401
    validate(scim_spec, scim_unauthenticated)
    fake.scim_enabled = False
    scim_forbidden = api("/scim/v2/Users")
    assert scim_forbidden.status_code == 403
    assert scim_forbidden.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    validate(scim_spec, scim_forbidden)


# -- pagination ---------------------------------------------------------------------------
def test_paging_users_by_100_returns_everyone_exactly_once(api, dataset):
    pages = walk(api, "/users", "users", total="true")
    ids = [user["id"] for page in pages for user in page.json()["users"]]
    assert ids == list(dataset.users)
    assert [page.json()["more"] for page in pages] == [True, True, False]
    assert {page.json()["total"] for page in pages} == {250}
    assert {page.json()["limit"] for page in pages} == {100}


def test_total_is_null_unless_asked_and_limit_defaults_to_25_and_is_clamped_to_100(api):
    default = api("/users").json()
    assert (default["limit"], default["offset"], default["total"], len(default["users"])) == (25, 0, None, 25)
    clamped = api("/users", limit=500).json()
    assert clamped["limit"] == 100 and len(clamped["users"]) == 100
    assert api("/users", limit="abc").status_code == 400


def test_team_members_page_on_more_with_total_always_null(api, dataset):
    big_team = max(dataset.members, key=lambda team_id: len(dataset.members[team_id]))
    pages = walk(api, f"/teams/{big_team}/members", "members", total="true")
    assert len(pages) > 1
    assert {page.json()["total"] for page in pages} == {None}
    members = [(m["user"]["id"], m["role"]) for page in pages for m in page.json()["members"]]
    assert members == dataset.team_members(big_team)


def test_offset_plus_limit_above_the_cap_is_refused_with_code_2002(dataset, api, fake):
    assert api("/users", offset=9900, limit=100).status_code == 200
    refused = api("/users", offset=9901, limit=100)
    assert refused.status_code == 400
    assert error_of(refused) == {"message": "Offset must be less than 10000.", "code": 2002,
                                 "errors": ["Offset must be less than 10000."]}
    assert api("/license_allocations", offset=10000, limit=1).status_code == 400
    fake.offset_cap = None
    assert api("/users", offset=20000, limit=100).json()["users"] == []


def test_scim_walks_past_ten_thousand_users_while_rest_stops_at_the_cap():
    dataset = generate_dataset(users=10_050, teams=2, seed=3, with_licenses=False)
    with FakePagerDuty(dataset, token=TOKEN) as fake, requests.Session() as session:
        session.headers.update(REST_HEADERS)
        seen, start = [], 1
        while True:
            body = session.get(f"{fake.base_url}/scim/v2/Users", params={"startIndex": start, "count": 500}).json()
            assert body["itemsPerPage"] <= 100 and body["totalResults"] == 10_050
            seen += body["Resources"]
            if not body["Resources"]:
                break
            start += len(body["Resources"])
        assert len(seen) == 10_050 == len({r["id"] for r in seen})
        assert [r["userName"] for r in seen] == [u["email"] for u in dataset.users.values()]
        assert all(len(r["id"]) >= 26 and r["id"] not in dataset.users for r in seen)
        assert all("entitlements" not in r for r in seen)  # an account without licenses

        capped = session.get(f"{fake.base_url}/users", params={"offset": 10_000, "limit": 100})
        assert capped.status_code == 400 and capped.json()["error"]["code"] == 2002


def test_minimum_requests_past_the_offset_cap_count_scim_and_the_search():
    dataset = generate_dataset(users=10_250, teams=2, seed=3)
    assert len(dataset.allocations) == 10_250
    uncapped = dataset.minimum_requests(offset_cap=None)  # 103 user and 103 allocation pages
    # 100 user pages, 103 SCIM pages, 3 search pages for the last 250, 100 allocation pages.
    assert dataset.minimum_requests() == uncapped - 206 + 100 + 103 + 3 + 100


def test_query_filters_users_on_name_and_email_substrings_case_insensitively(api, dataset):
    by_name = api("/users", query="ÅNGSTRÖM", total="true").json()
    assert "Zoë Ångström" in [u["name"] for u in by_name["users"]]
    assert by_name["total"] == sum("ångström" in u["name"].lower() or "ångström" in u["email"]
                                   for u in dataset.users.values())
    email = next(iter(dataset.users.values()))["email"]
    assert [u["email"] for u in api("/users", query=email.upper()).json()["users"]] == [email]
    assert [t["name"] for t in api("/teams", query="night").json()["teams"]] == [SPECIAL_TEAM_NAME]


def test_a_query_answers_the_dataset_as_it_is_now(api, dataset):
    """Query answers are kept for the paging that follows a probe; a change drops them."""
    def emails(query: str) -> list[str]:
        return [u["email"] for u in api("/users", query=query, limit=100).json()["users"]]

    assert emails("qwert") == []
    user = dataset.add_user(name="Quinn Qwerty", email="quinn@acme.example", role="user")
    assert emails("qwert") == ["quinn@acme.example"]
    dataset.set_email(user["id"], "q.qwerty@acme.example")
    assert emails("qwert") == ["q.qwerty@acme.example"] and emails("quinn@") == []
    dataset.update_user(user["id"], name="Vera Xylo")
    assert emails("quinn") == [] and emails("xylo") == ["q.qwerty@acme.example"]
    dataset.remove_user(user["id"])
    assert emails("xylo") == []
    # The same answer as a scan of every user's name and email, wherever the query falls.
    for query in ("a", "ić", "acme.ex", "le.1", "<", ".1@", "zz"):
        assert emails(query)[:100] == [u["email"] for u in dataset.user_list()
                                       if query in u["name"].lower() or query in u["email"].lower()][:100]


# -- access rules -------------------------------------------------------------------------
def test_token_and_accept_header_are_required(fake, api):
    wrong = requests.get(fake.base_url + "/users", headers={**REST_HEADERS, "Authorization": "Token token=nope"})
    assert wrong.status_code == 401
    no_accept = requests.get(fake.base_url + "/users", headers={"Authorization": REST_HEADERS["Authorization"]})
    assert no_accept.status_code == 400 and error_of(no_accept)["code"] == 2001
    spaced = requests.get(fake.base_url + "/users", headers={**REST_HEADERS,
                                                            "Accept": "application/vnd.pagerduty+json; version=2"})
    assert spaced.status_code == 200
    listed = requests.get(fake.base_url + "/users", headers={**REST_HEADERS, "Accept": "application/json, "
                                                             "application/vnd.pagerduty+json;version=2"})
    assert listed.status_code == 200
    v1 = requests.get(fake.base_url + "/users", headers={**REST_HEADERS, "Accept": "application/json"})
    assert v1.status_code == 400
    # SCIM does not use PagerDuty's versioned Accept header.
    assert requests.get(fake.base_url + "/scim/v2/Users",
                        headers={"Authorization": REST_HEADERS["Authorization"]}).status_code == 200


def test_writes_are_refused_as_from_a_read_only_key_and_recorded(fake, api):
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        response = api.session.request(method, fake.base_url + "/users/PABC123", json={"user": {}})
        assert response.status_code == 403
        assert error_of(response) == {"message": "Access Denied", "code": 2010, "errors": ["This API key is read-only"]}
    assert fake.count(method="POST") == 1 and fake.count("/users", status=403) == 4


def test_unknown_paths_and_ids_are_404(api):
    assert error_of(api("/incidents")) == {"message": "Not Found", "code": 2100}
    assert api("/users/PNOSUCH").status_code == 404
    assert api("/teams/PNOSUCH/members").status_code == 404
    assert api("/scim/v2/Users/NOSUCH").status_code == 404


# -- switches -----------------------------------------------------------------------------
def test_latency_delays_every_answer(fake, api):
    fake.latency = 0.15
    started = time.monotonic()
    assert api("/licenses").status_code == 200
    assert time.monotonic() - started >= 0.15


def test_rate_limit_uses_a_fixed_window_with_ratelimit_headers(fake, api):
    fake.rate_limit(2, 0.3)
    first, second, third = (api("/licenses") for _ in range(3))
    assert [r.status_code for r in (first, second, third)] == [200, 200, 429]
    assert [r.headers["ratelimit-remaining"] for r in (first, second, third)] == ["1", "0", "0"]
    assert third.headers["ratelimit-limit"] == "2" and int(third.headers["ratelimit-reset"]) >= 1
    assert fake.count_429 == 1
    time.sleep(0.35)  # the next window
    assert api("/licenses").status_code == 200
    fake.rate_limit(None)
    assert "ratelimit-limit" not in api("/licenses").headers


def test_injected_status_faults_are_consumed_in_order_and_can_match_params(fake, api):
    fake.inject("^/users$", status=502, times=2)
    fake.inject("^/users$", status=503)
    assert [api("/users").status_code for _ in range(4)] == [502, 502, 503, 200]
    assert error_of(api("/users/PNOSUCH"))["code"] == 2100  # the anchored faults do not touch it

    fake.inject("/users", params={"offset": 100}, status=500, times=None)
    assert api("/users", offset=0).status_code == 200
    assert api("/users", offset=100).status_code == 500
    assert api("/users", offset=100).status_code == 500  # forever, until cleared
    fake.clear_faults()
    assert api("/users", offset=100).status_code == 200

    fake.inject(status=402)  # path None: any request
    assert api("/licenses").json() == {"error": {"message": "Payment Required", "code": 2012}}


def test_throttle_fault_is_a_429_without_ratelimit_headers_unless_given(fake, api):
    fake.inject(kind="throttle")
    fake.inject(kind="throttle", headers={"ratelimit-reset": "1"})
    bare, with_headers = api("/users"), api("/users")
    assert bare.status_code == with_headers.status_code == 429
    assert "ratelimit-reset" not in bare.headers and with_headers.headers["ratelimit-reset"] == "1"
    assert fake.count_429 == 2


def test_stall_fault_makes_the_client_time_out_then_recovers(fake, api):
    fake.inject("/users", kind="stall", delay=0.6)
    with pytest.raises(requests.exceptions.ReadTimeout):
        api("/users", timeout=0.1)
    assert api("/users").status_code == 200


def test_malformed_fault_is_a_200_that_is_not_json(fake, api):
    fake.inject(kind="malformed")
    response = api("/users")
    assert response.status_code == 200 and response.text == '{"users": ['
    with pytest.raises(ValueError):
        response.json()


def test_truncated_fault_drops_the_connection_mid_body(fake, api):
    fake.inject("/users", kind="truncated")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        api("/users")
    assert api("/users").status_code == 200


def test_wrong_type_fault_is_valid_json_of_the_wrong_shape(fake, api, dataset):
    fake.inject("/users", kind="wrong_type", times=2)
    assert api("/users").json()["users"] == "nope"
    assert api(f"/users/{next(iter(dataset.users))}").json() == []
    fake.inject(kind="wrong_type", body='{"users": null}')
    assert api("/users").json() == {"users": None}


def test_html_fault_is_an_html_page(fake, api):
    fake.inject(kind="html")
    fake.inject(kind="html", status=502)
    ok_page, gateway_page = api("/users"), api("/users")
    assert ok_page.status_code == 200 and ok_page.headers["Content-Type"].startswith("text/html")
    assert gateway_page.status_code == 502 and "<html>" in gateway_page.text


def test_token_revoked_mid_sync_then_replaced(fake, api):
    fake.revoke_token_after(2)
    assert [api("/users").status_code for _ in range(4)] == [200, 200, 401, 401]
    fake.token = "new-token"
    api.session.headers["Authorization"] = "Token token=new-token"
    assert api("/users").status_code == 200


def test_teams_ability_off_answers_402_on_every_teams_endpoint(fake, api, dataset):
    fake.teams_ability = False
    team_id = next(iter(dataset.teams))
    for path in ("/teams", f"/teams/{team_id}", f"/teams/{team_id}/members"):
        assert api(path).status_code == 402
    assert api("/users").status_code == 200


def test_license_permission_off_answers_403(fake, api):
    fake.licenses_permission = False
    assert api("/licenses").status_code == 403
    assert api("/license_allocations").status_code == 403
    assert api("/users").status_code == 200


def test_scim_can_be_switched_off(fake, api):
    fake.scim_enabled = False
    assert api("/scim/v2/Users").status_code == 403
    fake.scim_enabled = True
    assert api("/scim/v2/Users").status_code == 200


def test_every_request_is_recorded(fake, api):
    fake.inject("/teams", status=500)
    api("/users", limit=10, offset=20)
    api("/teams")
    api("/users/PNOSUCH")
    assert fake.request_count == 3
    first = fake.requests[0]
    assert (first.method, first.path, first.status) == ("GET", "/users", 200)
    assert first.params == {"limit": ["10"], "offset": ["20"]} and first.param("offset") == "20"
    assert first.headers["authorization"] == REST_HEADERS["Authorization"]
    assert [r.status for r in fake.requests] == [200, 500, 404]
    assert fake.count("^/users") == 2 and fake.count(status=500) == 1
    fake.reset_log()
    assert fake.request_count == 0 and fake.requests == []


def test_max_concurrent_counts_requests_served_at_the_same_moment(fake):
    fake.latency = 0.3
    barrier = threading.Barrier(5)

    def one_request(wait: bool = False) -> None:
        if wait:
            barrier.wait()
        requests.get(fake.base_url + "/licenses", headers=REST_HEADERS, timeout=5)

    threads = [threading.Thread(target=one_request, args=(True,)) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert fake.max_concurrent == 5

    fake.reset_log()
    fake.latency = 0
    for _ in range(3):
        one_request()
    assert fake.max_concurrent == 1


def test_a_burst_of_new_connections_is_not_dropped_at_the_listen_queue(fake):
    """A fleet's syncs open many connections at once; a full listen queue drops a SYN, which
    costs the client a 1 s retransmit (socketserver's default queue holds 5)."""
    fake.latency = 0.2
    clients = 64
    barrier = threading.Barrier(clients)
    seconds: list[float] = []

    def one_request() -> None:
        barrier.wait()
        started = time.perf_counter()
        requests.get(fake.base_url + "/licenses", headers=REST_HEADERS, timeout=10)
        seconds.append(time.perf_counter() - started)

    threads = [threading.Thread(target=one_request) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seconds) == clients
    assert max(seconds) < 1.0, f"slowest of {clients} new connections: {max(seconds):.2f} s"


def test_many_accounts_each_token_reads_its_own_built_once_on_first_use():
    sizes = {"token-a": 7, "token-b": 12}
    built: list[str] = []

    def build(token: str):
        built.append(token)
        return generate_dataset(users=sizes[token], teams=2, seed=len(built)) if token in sizes else None

    accounts = LazyAccounts(build)
    with pytest.raises(ValueError):
        FakePagerDuty(generate_dataset(users=1, teams=1), accounts=accounts)
    with FakePagerDuty(accounts=accounts, latency=0.05) as fake:
        assert len(accounts) == 0  # nothing built before a request asks

        def users(token: str) -> requests.Response:
            return requests.get(fake.base_url + "/users", params={"limit": 100, "total": "true"},
                                headers={**REST_HEADERS, "Authorization": f"Token token={token}"}, timeout=5)

        # The first requests of a sync arrive together: the account is built once.
        threads = [threading.Thread(target=users, args=("token-a",)) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert built == ["token-a"]
        assert users("token-a").json()["total"] == 7
        assert users("token-b").json()["total"] == 12
        assert users("unknown").status_code == 401
        assert users(TOKEN).status_code == 401  # no single account besides
        assert sorted(accounts) == ["token-a", "token-b"]
        assert built == ["token-a", "token-b", "unknown", TOKEN]  # unknown tokens are not kept
        assert fake.count("/users", status=200) == 10


def test_keep_alive_http_1_1_with_content_length(fake, api):
    for _ in range(3):
        response = api("/licenses")
        assert response.raw.version == 11
        assert int(response.headers["Content-Length"]) == len(response.content)
    assert len(api.session.get_adapter(fake.base_url).poolmanager.pools) == 1


def test_dataset_can_change_between_syncs(fake, api, dataset):
    user = dataset.add_user(name="Nova Novak", email="nova@acme.example", role="admin", job_title="CISO")
    assert PD_ID.fullmatch(user["id"])
    assert api(f"/users/{user['id']}").json()["user"]["email"] == "nova@acme.example"
    allocation = next(a for a in walk(api, "/license_allocations", "license_allocations")[-1].json()
                      ["license_allocations"] if a["user"]["id"] == user["id"])
    assert allocation["license"]["role_group"] == "FullUser"
    assert "nova@acme.example" in [r["userName"] for r in api("/scim/v2/Users", startIndex=250).json()["Resources"]]

    team_id = next(iter(dataset.teams))
    dataset.set_team_role(team_id, user["id"], "manager")
    assert api(f"/users/{user['id']}").json()["user"]["teams"][0]["id"] == team_id
    dataset.set_team_role(team_id, user["id"], "observer")
    members = [m for p in walk(api, f"/teams/{team_id}/members", "members") for m in p.json()["members"]]
    assert {m["user"]["id"]: m["role"] for m in members}[user["id"]] == "observer"

    dataset.set_role(user["id"], "read_only_user")
    assert dataset.license_for_user(user["id"])["role_group"] == "Stakeholder"
    dataset.set_email(user["id"], "Nova.Novak@acme.example")
    assert api(f"/users/{user['id']}").json()["user"]["email"] == "Nova.Novak@acme.example"
    dataset.set_team_role(team_id, user["id"], None)
    assert api(f"/users/{user['id']}").json()["user"]["teams"] == []
    dataset.update_user(user["id"], name="Nova Renamed", job_title=None)
    renamed = api(f"/users/{user['id']}").json()["user"]
    assert (renamed["name"], renamed["summary"], "job_title" in renamed) == ("Nova Renamed", "Nova Renamed", False)

    before = api("/licenses").json()["licenses"]
    dataset.remove_user(user["id"])
    assert api(f"/users/{user['id']}").status_code == 404
    assert user["id"] not in [u["id"] for p in walk(api, "/users", "users") for u in p.json()["users"]]
    after = api("/licenses").json()["licenses"]
    assert sum(lic["current_value"] for lic in after) == sum(lic["current_value"] for lic in before) - 1


def test_serving_while_the_dataset_changes_is_safe(fake, dataset):
    stop = threading.Event()

    def churn() -> None:
        while not stop.is_set():
            user = dataset.add_user()
            dataset.set_team_role(next(iter(dataset.teams)), user["id"], "responder")
            dataset.remove_user(user["id"])

    churner = threading.Thread(target=churn)
    churner.start()
    try:
        with requests.Session() as session:
            session.headers.update(REST_HEADERS)
            for _ in range(30):
                assert session.get(fake.base_url + "/users", params={"limit": 100}).status_code == 200
    finally:
        stop.set()
        churner.join()


def test_stop_is_prompt_even_with_a_stalled_request_and_idle_connections(dataset):
    fake = FakePagerDuty(dataset, token=TOKEN).start()
    session = requests.Session()
    session.headers.update(REST_HEADERS)
    assert session.get(fake.base_url + "/users").status_code == 200  # leaves a keep-alive connection
    fake.inject(kind="stall", delay=30)
    with pytest.raises(requests.exceptions.ReadTimeout):
        session.get(fake.base_url + "/users", timeout=0.1)
    started = time.monotonic()
    fake.stop()
    assert time.monotonic() - started < 2
    session.close()


# -- the generated data -------------------------------------------------------------------
def test_generation_is_deterministic_for_a_seed():
    first, second = (generate_dataset(users=120, teams=6, seed=5) for _ in range(2))
    assert first.users == second.users and first.teams == second.teams
    assert first.members == second.members and first.allocations == second.allocations
    assert first.scim_ids == second.scim_ids
    assert generate_dataset(users=120, teams=6, seed=6).users != first.users


def test_users_cover_every_role_and_the_awkward_cases(dataset):
    users = list(dataset.users.values())
    roles = Counter(u["role"] for u in users)
    assert set(ROLES) | {LEGACY_ROLE} == set(roles) and roles["owner"] == 1
    assert len({u["id"] for u in users}) == len({u["email"] for u in users}) == len(users) == 250
    assert all(PD_ID.fullmatch(u["id"]) and u["email"] == u["email"].lower() for u in users)
    assert all(u["self"] == f"https://api.pagerduty.com/users/{u['id']}" for u in users)
    assert all(u["html_url"] == f"https://acme.pagerduty.com/users/{u['id']}" for u in users)
    names = {u["name"] for u in users}
    assert set(SPECIAL_NAMES) <= names and any(n.startswith("=") for n in names)
    assert any("<script>" in n for n in names) and any(not n.isascii() for n in names)
    assert any("job_title" not in u for u in users) and any("job_title" in u for u in users)
    assert Counter(u["invitation_sent"] for u in users).keys() == {True, False}
    assert Counter(u["created_via_sso"] for u in users).keys() == {True, False}
    assert len(set(dataset.scim_ids.values())) == 250


def test_teams_vary_in_size_and_memberships_are_consistent(dataset):
    sizes = [len(m) for m in dataset.members.values()]
    assert 0 in sizes and max(sizes) > 100
    assert any("<" in t["name"] for t in dataset.teams.values())
    assert {role for m in dataset.members.values() for role in m.values()} == {"manager", "responder", "observer"}
    for team_id, roster in dataset.members.items():
        for user_id in roster:
            assert team_id in [t["id"] for t in dataset.users[user_id]["teams"]]
    assert sum(len(u["teams"]) for u in dataset.users.values()) == sum(sizes)


def test_every_user_holds_one_license_of_their_role_group(dataset):
    assert 2 <= len(dataset.licenses) <= 3
    assert set(dataset.allocations) == set(dataset.users)
    for user_id, allocation in dataset.allocations.items():
        role = dataset.users[user_id]["role"]
        group = allocation["license"]["role_group"]
        stakeholder = role in ("read_only_user", "read_only_limited_user", LEGACY_ROLE)
        if user_id in dataset.full_license_stakeholders:  # a license a reviewer could reclaim
            assert stakeholder and group == "FullUser"
            continue
        assert group == ("Stakeholder" if stakeholder else "FullUser")
    counts = Counter(a["license"]["id"] for a in dataset.allocations.values())
    assert {lic["id"]: lic["current_value"] for lic in dataset.licenses} == dict(counts)
    assert generate_dataset(users=10, teams=1, with_licenses=False).allocations == {}


def test_fifty_thousand_users_generate_quickly():
    started = time.monotonic()
    big = generate_dataset(users=50_000, teams=1_000, seed=1)
    elapsed = time.monotonic() - started
    print(f"generated 50,000 users and 1,000 teams in {elapsed:.2f} s")
    assert len(big.users) == 50_000 and len(big.teams) == 1_000
    assert len({u["email"] for u in big.users.values()}) == 50_000
    started = time.monotonic()
    for query in ("ana", "marko.", "petrovic", "acme.example", "1234"):
        big.users_matching(query)
    # 0.1 s a query as a loop over the users: thousands of them past the offset cap (make bench).
    assert time.monotonic() - started < 1.0


# -- the command line ---------------------------------------------------------------------
def test_command_line_serves_until_sigterm():
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.connectors.pagerduty.fake", "--users", "30", "--teams", "3", "--seed", "1",
         "--port", "0", "--token", "cli-token", "--rate-limit", "960/60"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = process.stdout.readline()
        match = re.fullmatch(r"Fake PagerDuty listening on (http://127\.0\.0\.1:\d+) \(token: cli-token\)\n", line)
        assert match, line
        response = requests.get(match.group(1) + "/users", params={"total": "true"}, timeout=5,
                                headers={**REST_HEADERS, "Authorization": "Token token=cli-token"})
        assert response.json()["total"] == 30 and response.headers["ratelimit-limit"] == "960"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        process.stdout.close()
        process.stderr.close()


# -- the audit trail and the on-call list ---------------------------------------------------
AUDIT_FILTER = {"root_resource_types[]": ["users", "teams"]}


def test_audit_records_and_oncalls_validate_against_the_rest_spec(rest_spec, api, dataset):
    from tests.connectors.pagerduty.fake.data import scim_actor, web_actor

    owner = next(iter(dataset.users.values()))
    dataset.actor = web_actor(owner)
    user = dataset.add_user(name="Audit Trail", role="user")
    dataset.set_role(user["id"], "admin")
    dataset.actor = scim_actor()
    dataset.set_email(user["id"], "audit.trail@acme.example")
    dataset.set_team_role(next(iter(dataset.teams)), user["id"], "manager")

    since = "2000-01-01T00:00:00Z"
    records = api("/audit/records", limit=100, since=(datetime.now(timezone.utc) - timedelta(days=30)).isoformat(),
                  **AUDIT_FILTER)
    assert records.status_code == 200
    validate(rest_spec, records)
    body = records.json()
    newest = body["records"][0]
    assert newest["root_resource"]["type"] == "team_reference"  # newest first
    assert newest["method"]["type"] == "identity_provider"
    assert api("/audit/records", since=since, **AUDIT_FILTER).status_code == 400  # more than 31 days

    oncalls = api("/oncalls", limit=100, offset=0, total="true")
    assert oncalls.status_code == 200
    validate(rest_spec, oncalls)
    entries = oncalls.json()["oncalls"]
    assert entries and oncalls.json()["total"] == len(entries) == len(dataset.on_call_entries())
    assert {entry["escalation_level"] for entry in entries} >= {1, 2}


def test_audit_records_page_on_a_cursor_newest_first(api, dataset):
    for number in range(130):
        dataset.record({"id": f"PU{number:05d}", "type": "user_reference", "summary": f"U{number}"}, "create")
    pages, params = [], {"limit": 100, **AUDIT_FILTER}
    while True:
        body = api("/audit/records", **params).json()
        pages.append(body["records"])
        if not body["next_cursor"]:
            break
        params["cursor"] = body["next_cursor"]
    listed = [record["id"] for page in pages for record in page]
    assert [len(page) for page in pages] == [100, len(listed) - 100]
    assert len(listed) == len(set(listed)) >= 130
    times = [record["execution_time"] for page in pages for record in page]
    assert times == sorted(times, reverse=True)
    # Only the types asked for: no team record when only users are asked for.
    users_only = api("/audit/records", limit=100, **{"root_resource_types[]": "users"}).json()["records"]
    assert {record["root_resource"]["type"] for record in users_only} == {"user_reference"}


def test_plan_gated_audit_and_oncall_answers_validate(rest_spec, fake, api):
    fake.audit_ability = False
    no_audit = api("/audit/records", **AUDIT_FILTER)
    assert no_audit.status_code == 402 and error_of(no_audit)["code"] == 2012
    validate(rest_spec, no_audit)
    fake.audit_ability, fake.audit_permission = True, False
    forbidden = api("/audit/records", **AUDIT_FILTER)
    assert forbidden.status_code == 403 and error_of(forbidden)["code"] == 2010
    validate(rest_spec, forbidden)

    fake.oncalls_permission = False
    no_oncalls = api("/oncalls")
    assert no_oncalls.status_code == 403
    validate(rest_spec, no_oncalls)
    # PagerDuty's spec lists no 402 for /oncalls; the fake answers a plan without it the way
    # it answers every other ability (the same error object as the teams' 402).
    fake.oncalls_permission, fake.oncalls_ability = True, False
    no_plan = api("/oncalls")
    assert no_plan.status_code == 402 and set(error_of(no_plan)) == {"message", "code", "errors"}


def test_generated_datasets_hold_outside_emails_audit_records_and_on_call_levels():
    dataset = generate_dataset(users=300, teams=12, seed=0)
    domains = {user["email"].rsplit("@", 1)[1] for user in dataset.users.values()}
    assert {"acme.example", "contractor.example", "gmail.com"} <= domains
    assert all(lic["valid_roles"] for lic in dataset.licenses)
    assert dataset.full_license_stakeholders
    records = dataset.audit_records_between(since=None, until=None)
    actors = {record["method"]["type"] for record in records}
    assert {"browser", "api_token", "identity_provider"} <= actors
    admin = list(dataset.users.values())[1]
    made_admin = [r for r in records if r["root_resource"]["id"] == admin["id"]]
    assert made_admin[0]["details"]["fields"][0]["value"] == "admin"
    assert made_admin[0]["method"]["type"] == "api_token"
    levels = Counter((entry["escalation_policy"]["id"], entry["escalation_level"]) for entry in dataset.on_call_entries())
    assert 1 in levels.values()  # some level rests on one person
