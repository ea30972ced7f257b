"""A fake PagerDuty REST API v2 (plus the SCIM user list) over real HTTP.

Read-only, like the API key the product asks for. Switches on the FakePagerDuty object
change its behaviour while it runs: latency, rate limiting, injected faults, token
revocation, missing abilities and permissions. Every request is recorded.

One account (a Dataset and its token), or many at once: `accounts` maps each token to its
Dataset, and a request's token picks the account it reads (a fleet of integrations, each
with its own PagerDuty account, against one server).
"""

from __future__ import annotations

import json
import math
import re
import socket
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Mapping
from urllib.parse import parse_qs, urlsplit

from .data import Dataset, user_reference

ACCEPT_V2 = "application/vnd.pagerduty+json;version=2"
JSON = "application/json"
SCIM_JSON = "application/scim+json"
SCIM_ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
SCIM_LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
SCIM_USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
DEFAULT_LIMIT = 25
MAX_LIMIT = 100
SCIM_MAX_COUNT = 100

# PagerDuty's error codes for the errors this fake produces.
_ERRORS: dict[int, tuple[str, int]] = {
    400: ("Invalid Input Provided", 2001),
    401: ("Unauthenticated", 2006),
    402: ("Payment Required", 2012),
    403: ("Access Denied", 2010),
    404: ("Not Found", 2100),
    429: ("Rate Limit Exceeded", 2020),
    500: ("Internal Server Error", 2000),
    502: ("Bad Gateway", 2000),
    503: ("Service Unavailable", 2000),
    504: ("Gateway Timeout", 2000),
}
FAULT_KINDS = frozenset({"status", "throttle", "stall", "malformed", "truncated", "wrong_type", "html", "headers"})


class ApiError(Exception):
    def __init__(self, status: int, message: str | None = None, *, code: int | None = None,
                 errors: list[str] | None = None, headers: dict[str, str] | None = None) -> None:
        default_message, default_code = _ERRORS.get(status, ("Error", 2000))
        super().__init__(message or default_message)
        self.status = status
        self.message = message or default_message
        self.code = code if code is not None else default_code
        self.errors = errors
        self.headers = headers or {}


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)
    truncate: bool = False  # announce the full length, send half, drop the connection


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    params: dict[str, list[str]]  # query parameters as parse_qs gives them
    headers: dict[str, str]
    status: int

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.params.get(name)
        return values[0] if values else default


@dataclass
class Fault:
    """One injected misbehaviour; see FakePagerDuty.inject."""

    kind: str
    path: re.Pattern[str] | None
    status: int | None
    remaining: int | None  # None = forever
    headers: dict[str, str]
    params: dict[str, str]
    delay: float
    body: bytes | None

    def matches(self, path: str, params: dict[str, list[str]]) -> bool:
        if self.path is not None and not self.path.search(path):
            return False
        return all(str(value) in params.get(key, []) for key, value in self.params.items())


@dataclass
class Hook:
    """Code run around the answer to matching requests; see FakePagerDuty.hook."""

    path: re.Pattern[str]
    params: dict[str, str]
    remaining: int | None
    before: Callable[[dict[str, list[str]]], None] | None
    after: Callable[[dict[str, Any], dict[str, list[str]]], dict[str, Any]] | None

    def matches(self, path: str, params: dict[str, list[str]]) -> bool:
        return bool(self.path.search(path)) and all(
            str(value) in params.get(key, []) for key, value in self.params.items()
        )


@dataclass
class Route:
    pattern: re.Pattern[str]
    handler: Callable[..., Any]
    scim: bool = False
    collection: str | None = None  # the list key of paginated responses


class FakePagerDuty:
    def __init__(self, dataset: Dataset | None = None, *, token: str = "test-token",
                 accounts: Mapping[str, Dataset] | None = None, host: str = "127.0.0.1",
                 port: int = 0, offset_cap: int | None = 10000, latency: float = 0.0,
                 scim_enabled: bool = True, teams_ability: bool = True,
                 licenses_permission: bool = True) -> None:
        """One account, `dataset`, that `token` opens; or many: `accounts` maps each token to its
        Dataset and is read at every request (data.LazyAccounts builds each on first use).
        The switches apply to every account; revocation to `token` only."""
        if (dataset is None) == (accounts is None):
            raise ValueError("give either dataset (one account) or accounts (token -> Dataset)")
        # Plan and key switches of the audit trail and the on-call list: False answers 402
        # (the plan lacks it) or 403 (the key may not read it).
        self.dataset = dataset
        self.token = token
        self.accounts = accounts
        self.host = host
        self.port = port
        # Plain switches: single attribute reads/writes are atomic, so no lock needed.
        self.offset_cap = offset_cap
        self.latency = latency
        self.scim_enabled = scim_enabled
        self.teams_ability = teams_ability
        self.licenses_permission = licenses_permission
        self.audit_ability = True
        self.audit_permission = True
        self.oncalls_ability = True
        self.oncalls_permission = True
        # SCIM drift: resources listed after the account's users (e.g. deactivated users,
        # {"userName": ..., "active": False}), and how a user's userName is spelled.
        self.scim_extra: list[dict[str, Any]] = []
        self.scim_user_name: Callable[[dict[str, Any]], str] = lambda user: user["email"]

        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._faults: list[Fault] = []
        self._hooks: list[Hook] = []
        self._log: list[RecordedRequest] = []
        self._in_flight = 0
        self.max_concurrent = 0
        self.count_429 = 0
        self._rate_limit: tuple[int, float] | None = None
        self._window_start = 0.0
        self._window_count = 0
        self._revoke_countdown: int | None = None
        self._revoked_tokens: set[str] = set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._routes = [
            Route(re.compile(r"/users"), self._list_users, collection="users"),
            Route(re.compile(r"/users/(?P<id>[^/]+)"), self._get_user),
            Route(re.compile(r"/teams"), self._list_teams, collection="teams"),
            Route(re.compile(r"/teams/(?P<id>[^/]+)"), self._get_team),
            Route(re.compile(r"/teams/(?P<id>[^/]+)/members"), self._list_members, collection="members"),
            Route(re.compile(r"/licenses"), self._list_licenses, collection="licenses"),
            Route(re.compile(r"/license_allocations"), self._list_allocations, collection="license_allocations"),
            Route(re.compile(r"/audit/records"), self._list_audit_records, collection="records"),
            Route(re.compile(r"/oncalls"), self._list_oncalls, collection="oncalls"),
            Route(re.compile(r"/scim/v2/Users"), self._scim_list_users, scim=True, collection="Resources"),
            Route(re.compile(r"/scim/v2/Users/(?P<id>[^/]+)"), self._scim_get_user, scim=True),
        ]

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> FakePagerDuty:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server((self.host, self.port), _make_handler(self))
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name=f"fake-pagerduty-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()  # wakes sleeping stalls and latencies
        self._server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:  # idle keep-alive connections would otherwise linger
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakePagerDuty:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- switches -----------------------------------------------------------------------
    def rate_limit(self, requests: int | None, window: float = 60.0) -> None:
        """Fixed-window limit of ``requests`` per ``window`` seconds; None turns it off."""
        with self._lock:
            self._rate_limit = None if requests is None else (requests, window)
            self._window_start = time.monotonic()
            self._window_count = 0

    def inject(self, path: str | None = None, *, status: int | None = None, times: int | None = 1,
               kind: str = "status", headers: dict[str, str] | None = None,
               params: dict[str, Any] | None = None, delay: float = 0.0,
               body: bytes | str | None = None) -> Fault:
        """Make the next ``times`` requests whose path matches the regex ``path`` misbehave.

        kinds: status (an error answer, default 500), throttle (429, no rate-limit headers
        unless given), stall (wait ``delay`` seconds, then answer normally), malformed
        (200, not JSON), truncated (body shorter than Content-Length, then the connection
        drops), wrong_type (200, JSON of the wrong shape), html (an HTML page, default 200),
        headers (the normal answer with ``headers`` added or replaced, e.g. any rate-limit
        headers). ``body`` replaces the generated body. The first matching fault wins.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {sorted(FAULT_KINDS)}")
        fault = Fault(
            kind=kind, path=re.compile(path) if path is not None else None, status=status, remaining=times,
            headers=dict(headers or {}), params={k: str(v) for k, v in (params or {}).items()}, delay=delay,
            body=body.encode() if isinstance(body, str) else body,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._hooks.clear()

    def hook(self, path: str, *, before: Callable[[dict[str, list[str]]], None] | None = None,
             after: Callable[[dict[str, Any], dict[str, list[str]]], dict[str, Any]] | None = None,
             params: dict[str, Any] | None = None, times: int | None = 1) -> Hook:
        """Around the next ``times`` answers (None: all) to requests whose path matches the regex
        ``path`` (and whose query has ``params``): ``before(params)`` runs first, e.g. to change
        the account while it is paged; ``after(body, params)`` returns the JSON body to send
        instead, e.g. a page whose ``more`` and ``total`` disagree. Every matching hook runs.
        """
        hook = Hook(re.compile(path), {k: str(v) for k, v in (params or {}).items()}, times, before, after)
        with self._lock:
            self._hooks.append(hook)
        return hook

    def _take_hooks(self, path: str, params: dict[str, list[str]]) -> list[Hook]:
        with self._lock:
            taken = [hook for hook in self._hooks if hook.matches(path, params)]
            for hook in taken:
                if hook.remaining is not None:
                    hook.remaining -= 1
                    if hook.remaining <= 0:
                        self._hooks.remove(hook)
            return taken

    def revoke_token_after(self, n: int | None) -> None:
        """After ``n`` more requests the current token is rejected (401). None undoes it."""
        with self._lock:
            self._revoke_countdown = n
            if n is None:
                self._revoked_tokens.clear()
            elif n <= 0:
                self._revoked_tokens.add(self.token)
                self._revoke_countdown = None

    # -- request log --------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._log)

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self._log)

    def wait_for_requests(self, at_least: int, *, timeout: float = 5.0) -> int:
        """The request count once at least `at_least` are logged, or when `timeout` runs out.

        Answered requests are logged before their reply goes out; this waits only for one the
        client gave up on (a timeout), which is logged when the fake finally answers it."""
        deadline = time.monotonic() + timeout
        while self.request_count < at_least and time.monotonic() < deadline:
            time.sleep(0.005)
        return self.request_count

    def count(self, path_regex: str | None = None, *, method: str | None = None,
              status: int | None = None) -> int:
        pattern = re.compile(path_regex) if path_regex is not None else None
        with self._lock:
            return sum(
                1 for r in self._log
                if (pattern is None or pattern.search(r.path))
                and (method is None or r.method == method.upper())
                and (status is None or r.status == status)
            )

    def reset_log(self) -> None:
        with self._lock:
            self._log.clear()
            self.count_429 = 0
            self.max_concurrent = self._in_flight

    # -- request processing (called from handler threads) -------------------------------
    def _enter(self, conn: socket.socket) -> None:
        with self._lock:
            self._in_flight += 1
            self.max_concurrent = max(self.max_concurrent, self._in_flight)
            self._connections.add(conn)

    def _leave(self, method: str, path: str, params: dict[str, list[str]], headers: dict[str, str],
               status: int) -> None:
        """The request is answered: logged, and no longer in flight, before the reply is sent,
        so a client holding its response always finds both in the fake's counters."""
        with self._lock:
            self._in_flight -= 1
            self._log.append(RecordedRequest(method, path, params, headers, status))
            if status == 429:
                self.count_429 += 1

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def _respond(self, method: str, path: str, params: dict[str, list[str]],
                 headers: dict[str, str]) -> Reply:
        self._tick_revocation()
        self._sleep(self.latency)
        route, match = self._route(path)
        scim = route.scim if route else path.startswith("/scim/")
        fault = self._take_fault(path, params)
        if fault is not None and fault.kind == "stall":
            self._sleep(fault.delay)
            fault = None
        if fault is not None and fault.kind not in ("truncated", "headers"):
            return self._fault_reply(fault, route, scim)

        limit_headers: dict[str, str] = {}
        try:
            dataset = self._account(headers)
            limit_headers = self._check_rate_limit()
            if method != "GET":
                raise ApiError(403, errors=["This API key is read-only"])
            if not scim and ACCEPT_V2 not in _normalise(headers.get("accept", "")).split(","):
                raise ApiError(400, errors=[f"The Accept header must be {ACCEPT_V2}"])
            if route is None or match is None:
                raise ApiError(404)
            hooks = self._take_hooks(path, params)
            for hook in hooks:
                if hook.before is not None:
                    hook.before(params)
            body = route.handler(dataset, params, **match.groupdict())
            for hook in hooks:
                if hook.after is not None:
                    body = _encode(hook.after(json.loads(body), params))
            reply = self._ok(body, scim)
        except ApiError as error:
            reply = self._error_reply(error, scim)
        reply.headers.update(limit_headers)
        if fault is not None:  # the normal answer with the fault's headers; truncated: cut short
            reply.truncate = fault.kind == "truncated"
            reply.headers.update(fault.headers)
        return reply

    def _route(self, path: str) -> tuple[Route | None, re.Match[str] | None]:
        for route in self._routes:
            match = route.pattern.fullmatch(path)
            if match:
                return route, match
        return None, None

    def _take_fault(self, path: str, params: dict[str, list[str]]) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(path, params):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining <= 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def _tick_revocation(self) -> None:
        with self._lock:
            if self._revoke_countdown is None:
                return
            if self._revoke_countdown <= 0:
                self._revoked_tokens.add(self.token)
                self._revoke_countdown = None
            else:
                self._revoke_countdown -= 1

    def _account(self, headers: dict[str, str]) -> Dataset:
        """The account the request's token opens; 401 for an unknown or revoked token."""
        scheme, _, token = headers.get("authorization", "").partition("Token token=")
        if scheme or not token:
            raise ApiError(401)
        with self._lock:
            revoked = token in self._revoked_tokens
        if self.accounts is not None:
            dataset = self.accounts.get(token)
        else:
            dataset = self.dataset if token == self.token else None
        if revoked or dataset is None:
            raise ApiError(401)
        return dataset

    def _check_rate_limit(self) -> dict[str, str]:
        with self._lock:
            if self._rate_limit is None:
                return {}
            limit, window = self._rate_limit
            now = time.monotonic()
            if now - self._window_start >= window:
                self._window_start, self._window_count = now, 0
            self._window_count += 1
            count = self._window_count
            reset = max(1, math.ceil(self._window_start + window - now))
        headers = {"ratelimit-limit": str(limit), "ratelimit-remaining": str(max(0, limit - count)),
                   "ratelimit-reset": str(reset)}
        if count > limit:
            raise ApiError(429, headers=headers)
        return headers

    # -- replies ------------------------------------------------------------------------
    @staticmethod
    def _ok(body: bytes, scim: bool) -> Reply:
        return Reply(200, body, SCIM_JSON if scim else JSON)

    @staticmethod
    def _error_reply(error: ApiError, scim: bool) -> Reply:
        if scim:
            body: dict[str, Any] = {"schemas": [SCIM_ERROR_SCHEMA], "detail": error.message,
                                    "status": str(error.status)}
            content_type = SCIM_JSON
        else:
            detail: dict[str, Any] = {"message": error.message, "code": error.code}
            if error.errors is not None:
                detail["errors"] = error.errors
            body, content_type = {"error": detail}, JSON
        return Reply(error.status, json.dumps(body).encode(), content_type, dict(error.headers))

    def _fault_reply(self, fault: Fault, route: Route | None, scim: bool) -> Reply:
        key = route.collection if route and route.collection else "data"
        if fault.kind in ("status", "throttle"):
            status = fault.status or (429 if fault.kind == "throttle" else 500)
            reply = self._error_reply(ApiError(status), scim)
        elif fault.kind == "malformed":
            reply = Reply(fault.status or 200, f'{{"{key}": ['.encode())
        elif fault.kind == "wrong_type":
            payload: Any = {key: "nope", "more": "yes", "limit": "100"} if route and route.collection else []
            reply = Reply(fault.status or 200, json.dumps(payload).encode())
        else:  # html
            status = fault.status or 200
            page = (f"<!DOCTYPE html><html><head><title>{status} Error</title></head>"
                    f"<body><h1>Something went wrong</h1><p>Please try again later.</p></body></html>")
            reply = Reply(status, page.encode(), "text/html; charset=utf-8")
        if fault.body is not None:
            reply.body = fault.body
        reply.headers.update(fault.headers)
        return reply

    # -- pagination ---------------------------------------------------------------------
    def _limit_offset(self, params: dict[str, list[str]]) -> tuple[int, int]:
        try:
            limit = int(_first(params, "limit", str(DEFAULT_LIMIT)))
            offset = int(_first(params, "offset", "0"))
        except ValueError:
            raise ApiError(400, errors=["limit and offset must be integers"]) from None
        if limit < 1 or offset < 0:
            raise ApiError(400, errors=["limit must be positive and offset not negative"])
        limit = min(limit, MAX_LIMIT)
        cap = self.offset_cap
        if cap is not None and offset + limit > cap:
            message = f"Offset must be less than {cap}."
            raise ApiError(400, message, code=2002, errors=[message])
        return limit, offset

    def _page(self, params: dict[str, list[str]], items: list[Any], key: str, *,
              build: Callable[[Any], Any] = lambda item: item, total_supported: bool = True) -> dict[str, Any]:
        limit, offset = self._limit_offset(params)
        chunk = [build(item) for item in items[offset:offset + limit]]
        wants_total = _first(params, "total", "false").lower() == "true"
        return {
            key: chunk, "limit": limit, "offset": offset, "more": offset + len(chunk) < len(items),
            "total": len(items) if wants_total and total_supported else None,
        }

    # -- REST handlers (run under the dataset lock so tests may mutate it meanwhile) ----
    def _list_users(self, dataset: Dataset, params: dict[str, list[str]]) -> bytes:
        query = _first(params, "query", "").lower()
        with dataset.lock:
            users = dataset.users_matching(query) if query else dataset.user_list()
            return _encode(self._page(params, users, "users"))

    def _get_user(self, dataset: Dataset, params: dict[str, list[str]], id: str) -> bytes:
        with dataset.lock:
            user = dataset.users.get(id)
            if user is None:
                raise ApiError(404)
            return _encode({"user": user})

    def _require_teams(self) -> None:
        if not self.teams_ability:
            raise ApiError(402, errors=["This account does not have the teams ability"])

    def _list_teams(self, dataset: Dataset, params: dict[str, list[str]]) -> bytes:
        self._require_teams()
        query = _first(params, "query", "").lower()
        with dataset.lock:
            teams = dataset.team_list()
            if query:
                teams = [t for t in teams if query in t["name"].lower()]
            return _encode(self._page(params, teams, "teams"))

    def _get_team(self, dataset: Dataset, params: dict[str, list[str]], id: str) -> bytes:
        self._require_teams()
        with dataset.lock:
            team = dataset.teams.get(id)
            if team is None:
                raise ApiError(404)
            return _encode({"team": team})

    def _list_members(self, dataset: Dataset, params: dict[str, list[str]], id: str) -> bytes:
        self._require_teams()
        with dataset.lock:
            if id not in dataset.teams:
                raise ApiError(404)
            users = dataset.users

            def build(member: tuple[str, str]) -> dict[str, Any]:
                return {"user": user_reference(users[member[0]]), "role": member[1]}

            # Real PagerDuty answers total: null here even with total=true.
            return _encode(self._page(params, dataset.team_members(id), "members",
                                        build=build, total_supported=False))

    def _require_license_permission(self) -> None:
        if not self.licenses_permission:
            raise ApiError(403, errors=["The API key may not read licenses"])

    def _list_licenses(self, dataset: Dataset, params: dict[str, list[str]]) -> bytes:
        self._require_license_permission()
        with dataset.lock:
            return _encode({"licenses": dataset.licenses})

    def _list_allocations(self, dataset: Dataset, params: dict[str, list[str]]) -> bytes:
        self._require_license_permission()
        with dataset.lock:
            return _encode(self._page(params, dataset.allocation_list(), "license_allocations"))

    def _list_audit_records(self, dataset: Dataset, params: dict[str, list[str]]) -> bytes:
        """Newest first, cursor paged (the cursor is the next record's position)."""
        if not self.audit_ability:
            raise ApiError(402, errors=["This account's plan does not include the audit trail"])
        if not self.audit_permission:
            raise ApiError(403, errors=["Only admins, owners and global API keys may read the audit trail"])
        try:
            limit = min(MAX_LIMIT, max(1, int(_first(params, "limit", str(DEFAULT_LIMIT)))))
            cursor = _first(params, "cursor", "")
            position = int(cursor[1:]) if cursor else 0
            since = _when(_first(params, "since", ""))
            until = _when(_first(params, "until", ""))
        except ValueError:
            raise ApiError(400, errors=["limit, cursor, since and until must be valid"]) from None
        now = datetime.now(timezone.utc)
        since = since or now - timedelta(hours=24)  # PagerDuty's default: the past 24 hours
        if (until or now) - since > timedelta(days=31):
            raise ApiError(400, errors=["The date range may not be longer than 31 days"])
        kinds = frozenset(params.get("root_resource_types[]", [])) or frozenset(
            {"users", "teams", "schedules", "escalation_policies", "services"}
        )
        records = dataset.audit_records_between(since=since, until=until, root_types=kinds)
        chunk = records[position:position + limit]
        more = position + limit < len(records)
        return _encode({"records": chunk, "limit": limit,
                        "next_cursor": f"c{position + limit}" if more else None})

    def _list_oncalls(self, dataset: Dataset, params: dict[str, list[str]]) -> bytes:
        if not self.oncalls_ability:
            raise ApiError(402, errors=["This account's plan does not include on-call schedules"])
        if not self.oncalls_permission:
            raise ApiError(403, errors=["The API key may not read on-calls"])
        return _encode(self._page(params, dataset.on_call_entries(), "oncalls"))

    # -- SCIM handlers ------------------------------------------------------------------
    def _require_scim(self) -> None:
        if not self.scim_enabled:
            raise ApiError(403, "SCIM is not enabled for this account")

    def _scim_user(self, dataset: Dataset, user: dict[str, Any]) -> dict[str, Any]:
        resource: dict[str, Any] = {
            "schemas": [SCIM_USER_SCHEMA],
            "id": dataset.scim_ids[user["id"]],
            "userName": self.scim_user_name(user),
            "displayName": user["name"],
            "active": True,
            "roles": [{"primary": True, "type": "base", "value": user["role"]}],
            "meta": {"resourceType": "User"},
        }
        # No "timezone": the SCIM spec marks it write-only, so it is never returned.
        if user.get("job_title") is not None:
            resource["title"] = user["job_title"]
        allocation = dataset.allocations.get(user["id"])
        if allocation is not None:
            resource["entitlements"] = [{"type": "license", "value": allocation["license"]["id"]}]
        return resource

    def _scim_list_users(self, dataset: Dataset, params: dict[str, list[str]]) -> bytes:
        self._require_scim()
        try:
            start = max(1, int(_first(params, "startIndex", "1")))
            count = min(SCIM_MAX_COUNT, max(0, int(_first(params, "count", str(SCIM_MAX_COUNT)))))
        except ValueError:
            raise ApiError(400, "startIndex and count must be integers") from None
        filter_expr = _first(params, "filter", "")
        with dataset.lock:
            users = dataset.user_list()
            extra = [{"schemas": [SCIM_USER_SCHEMA], "id": f"X{n:025d}", "active": True, **resource}
                     for n, resource in enumerate(self.scim_extra)]
            if filter_expr:
                wanted = re.fullmatch(r'\s*userName\s+eq\s+"([^"]*)"\s*', filter_expr, re.IGNORECASE)
                if wanted is None:
                    raise ApiError(400, "Only userName eq filters are supported")
                users = [u for u in users if u["email"].lower() == wanted.group(1).lower()]
                extra = [r for r in extra if str(r.get("userName", "")).lower() == wanted.group(1).lower()]
            positions = range(start - 1, min(start - 1 + count, len(users) + len(extra)))
            chunk = [self._scim_user(dataset, users[i]) if i < len(users) else extra[i - len(users)] for i in positions]
            return _encode({"schemas": [SCIM_LIST_SCHEMA], "totalResults": len(users) + len(extra),
                            "itemsPerPage": len(chunk), "startIndex": start, "Resources": chunk})

    def _scim_get_user(self, dataset: Dataset, params: dict[str, list[str]], id: str) -> bytes:
        self._require_scim()
        with dataset.lock:
            user = dataset.user_by_scim_id(id)
            if user is None:
                raise ApiError(404, "User not found")
            return _encode(self._scim_user(dataset, user))


def _when(value: str) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _first(params: dict[str, list[str]], name: str, default: str) -> str:
    values = params.get(name)
    return values[0] if values else default


def _normalise(media_type: str) -> str:
    return media_type.replace(" ", "").lower()


def _encode(payload: Any) -> bytes:
    """Serialise now, while the dataset lock is held, so that mutations cannot race."""
    try:
        return json.dumps(payload, ensure_ascii=False).encode()
    except UnicodeEncodeError:  # a lone surrogate: JSON can still carry it, as a \uXXXX escape
        return json.dumps(payload).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 drops connections when hundreds of clients connect
    # at once (a fleet of syncs), and each dropped SYN costs its client a 1 s retransmit.
    request_queue_size = 1024

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out and hang up are part of the tests, not noise; bugs are not.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


def _make_handler(fake: FakePagerDuty) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "FakePagerDuty/1.0"
        timeout = 60  # idle keep-alive connections end eventually
        # Headers and body go out in separate writes; without this, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every keep-alive response.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _handle(self) -> None:
            fake._enter(self.connection)
            split = urlsplit(self.path)
            params = parse_qs(split.query, keep_blank_values=True)
            headers = {k.lower(): v for k, v in self.headers.items()}
            left = False
            try:
                self._discard_body()
                try:
                    reply = fake._respond(self.command, split.path, params, headers)
                except Exception:  # a bug in the fake: say so loudly, answer like PagerDuty would
                    traceback.print_exc()
                    reply = fake._error_reply(ApiError(500), split.path.startswith("/scim/"))
                fake._leave(self.command, split.path, params, headers, reply.status)
                left = True
                self._send(reply)
            finally:
                if not left:  # the client hung up before we could answer
                    fake._leave(self.command, split.path, params, headers, 0)

        def _discard_body(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            if self.headers.get("Transfer-Encoding"):
                self.close_connection = True  # no chunked bodies here; do not reuse the stream

        def _send(self, reply: Reply) -> None:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.truncate:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command == "HEAD":
                return
            if reply.truncate:
                self.wfile.write(reply.body[: len(reply.body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(reply.body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

        def finish(self) -> None:
            with fake._lock:
                fake._connections.discard(self.connection)
            super().finish()

    return Handler
