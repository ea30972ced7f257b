"""Fetch everything a sync needs from one PagerDuty account, concurrently, before any write.

Requests
--------
With U users, T teams, m_t members in team t, A license allocations, R audit records of
users and teams since the last sync and O on-call entries now, and no retries, a fetch makes

    ceil(U/100) + ceil(T/100) + Σ_t max(1, ceil(m_t/100)) + 1 + ceil(A/100)
      + ceil(R/100) + ceil(O/100)

requests, where a listing that is empty still costs one (read ceil(0/100) as 1): /users,
/teams, /license_allocations and /oncalls are paged with limit=100 and total=true on the
first page, then the remaining offsets are fetched at the same time; /teams/{id}/members
(whose total is null) is paged on `more` within a team while teams are fetched side by side;
/licenses is one request; /audit/records is paged on its cursor (limit=100, one page after
another, beside everything else), from the last successful sync (an hour earlier, so a
change made while that sync ran is not missed) but never more than 31 days back, which
PagerDuty allows at most. Never more than PAGERDUTY_MAX_CONCURRENCY requests are in flight:
one thread pool, one requests session per thread, one rate-limit gate for all of them.

An account whose plan has no audit trail or on-call list (402), or whose key may not read
them (403), syncs as before: the part is noted on the run and left out (changes without
attribution; the stored on-call rows as they were).

Listings that contradict themselves
-----------------------------------
A listing is complete only when everything PagerDuty said about it agrees: `more` with
`total`, every page's size with both, and no entry listed twice (which means the list
changed while it was paged, so another may have been skipped). When it does not: /users or
SCIM make the snapshot partial (nobody is removed), its reason naming the listing and the
disagreement; /teams is treated as not synced (no team removed, no membership changed); a
team's roster leaves that team's memberships as they were; /license_allocations leaves the
license of every account it did not list as it was. Each is noted on the run.

Beyond 10,000 users
-------------------
PagerDuty refuses offset + limit > 10,000. Past that, the first 10,000 users come from the
100 allowed pages; SCIM's user list (/scim/v2/Users, same key, 1-based startIndex) names
every user by userName (= email; compared without case); deactivated ones (active: false)
are not users to reach and are left out; the active emails not seen yet are reached through
/users?query=<prefix>: missing emails are grouped by prefix (3 characters at first), each
group's query is probed (first page, total=true), then either paged in full or, when its
total is above 10,000 or paging would cost more requests than one probe per sub-group,
refined by one more character (shared prefixes are skipped over); a query that is a whole
email is paged at most SEARCH_EMAIL_PAGES pages, so a user the search never lists costs a
few requests, not a hundred. Results merge by REST id.
When SCIM is not available or some users stay out of reach, the snapshot is partial: the
sync writes what it saw and removes nobody.
"""

from __future__ import annotations

import math
import os
import threading
from collections import Counter, defaultdict, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Iterator
from urllib.parse import quote

from django.conf import settings
from django.utils import timezone

from integrations.connectors.base import Snapshot
from integrations.connectors.errors import (
    AbilityMissing,
    PermissionMissing,
    TokenRejected,
)
from integrations.connectors.pagerduty import mapping
from integrations.connectors.pagerduty.client import (
    SCIM_ACCEPT,
    Cancelled,
    NotFound,
    PagerDutyClient,
)

PAGE_SIZE = 100
OFFSET_CAP = 10_000  # PagerDuty: offset + limit above this is HTTP 400, code 2002
SCIM_PAGE_SIZE = 100
SEARCH_MIN_PREFIX = 3  # shorter queries match nearly everyone (substrings of name and email)
# A query that is a whole email matches that user and few others: past this many pages
# PagerDuty is not narrowing it down, and paging on to the offset cap cost ~100 requests
# for each user it never found.
SEARCH_EMAIL_PAGES = 3

TEAMS_NOT_SYNCED_402 = "teams not synced: the account's plan has no teams (402)"
AUDIT_MAX_AGE = timedelta(days=31)  # PagerDuty: the audit trail is searched at most 31 days at once
AUDIT_MARGIN = timedelta(minutes=5)  # well inside that limit, however long the request takes
AUDIT_OVERLAP = timedelta(hours=1)  # before the last sync: what changed while it ran
AUDIT_PAGE_SIZE = 100
# A bound on one sync's audit pages (100,000 records): a cursor that never ends must not loop.
AUDIT_MAX_PAGES = 1000
ATTRIBUTION_NOT_SYNCED = "change attribution not synced: "
ON_CALL_NOT_SYNCED = "on-call not synced: "

# Each listing's entries as the snapshot keeps them. A page is parsed by the worker thread
# that fetched it, so its raw JSON (several times larger) is dropped at once instead of being
# held until the whole account is in: at 50,000 users that was most of the sync's memory.
PARSERS: dict[str, Callable[[Any, str], Any]] = {
    "users": mapping.user_fields,
    "teams": mapping.team_fields,
    "members": lambda raw, where: mapping.member_role(raw, "/teams/{id}/members"),
    "license_allocations": mapping.allocation,
    "oncalls": mapping.on_call_entry,
}
# User fields whose few distinct values repeat across thousands of users: kept once each.
REPEATED_USER_FIELDS = ("role", "time_zone", "job_title")


# How each listing's entries are told apart, to see one listed twice.
KEYS: dict[str, Callable[[Any], str]] = {
    "users": lambda fields: fields["external_id"],
    "teams": lambda fields: fields["external_id"],
    "members": lambda member: member[0],
    "license_allocations": lambda allocation: allocation[0],
    "oncalls": lambda entry: f"{entry.account_id}/{entry.policy_id}/{entry.level}/{entry.schedule_name}/{entry.starts_at}",
}


@dataclass
class Page:
    items: list
    more: bool
    total: int | None
    contradiction: str = ""  # pages merged on `more` (_page_on_more): where they disagreed


@dataclass
class _Listing:
    """A paged listing under way: its first page and the futures of the others.

    `pages()` checks, as they come, that everything PagerDuty said agrees; afterwards
    `contradiction` says where it did not ("" when it all agreed).
    """

    first: Page
    rest: list[Future]
    where: str = ""
    key: str = ""
    contradiction: str = ""

    @property
    def capped(self) -> bool:
        """Whether PagerDuty's offset cap keeps some of it out of reach."""
        if self.first.total is not None:
            return self.first.total > OFFSET_CAP
        return bool(self.rest) and self.rest[0].result().more  # paged on `more`: its end tells

    def pages(self) -> Iterator[Page]:
        agreement = _Agreement(self.where, self.key, self.first.total)
        agreement.first(self.first)
        yield self.first
        for future in self.rest:
            page = future.result()
            agreement.next(page)
            yield page
        agreement.end()
        self.contradiction = agreement.problem


class _Agreement:
    """Whether the pages of one listing, in offset order, agree: with `more`, with the total
    of the first page, in their sizes, and in never listing one entry twice (the list changed
    while it was paged, so another may have been skipped)."""

    def __init__(self, where: str, key: str, total: int | None):
        self.where, self.key_of, self.total = where, KEYS[key], total
        self.offset = 0  # of the page under check
        self.seen: set[str] = set()
        self.problem = ""

    def _say(self, problem: str) -> None:
        if not self.problem:
            self.problem = f"{self.where} {problem}"

    def _ids(self, page: Page) -> None:
        for item in page.items:
            key = self.key_of(item)
            if key in self.seen:
                self._say(f"listed {key} twice: the list changed while it was paged")
                return
            self.seen.add(key)

    def first(self, page: Page) -> None:
        self._ids(page)
        total, count = self.total, len(page.items)
        if page.contradiction:
            self._say(page.contradiction)
        elif total is None:
            if page.more and count != PAGE_SIZE:
                self._say(f"said more pages follow after a page of {count} (of {PAGE_SIZE} asked for)")
        elif page.more and total <= count:
            self._say(f"said more pages follow but its total was {total}")
        elif not page.more and total != count:
            self._say(f"said no more pages follow after {count} entries but its total was {total}")
        elif page.more and count != PAGE_SIZE:
            self._say(f"said more pages follow after a page of {count} (of {PAGE_SIZE} asked for)")
        self.offset = PAGE_SIZE  # the next page is asked for at this offset

    def next(self, page: Page) -> None:
        self._ids(page)
        if page.contradiction:
            self._say(page.contradiction)
        elif self.total is not None:
            offset, count = self.offset, len(page.items)
            promised = min(PAGE_SIZE, self.total - offset)
            at_cap = offset + PAGE_SIZE >= OFFSET_CAP
            if count != promised:
                self._say(f"gave {count} entries at offset {offset} where its total of {self.total} promised {promised}")
            elif page.more != (offset + count < self.total) and not (page.more and at_cap):
                said = "more pages follow" if page.more else "no more pages follow"
                self._say(f"said {said} after offset {offset} but its total was {self.total}")
        self.offset += PAGE_SIZE

    def end(self) -> None:
        if self.problem or self.total is None or self.total > OFFSET_CAP:
            return
        if len(self.seen) != self.total:
            self._say(f"listed {len(self.seen)} entries but its total was {self.total}")


@dataclass
class _SearchGroup:
    prefix: str
    emails: list[str]


class PagerDutyFetcher:
    def __init__(
        self,
        *,
        client: PagerDutyClient,
        progress: Callable[[str], None] | None = None,
        since: datetime | None = None,
    ):
        self.client = client
        self.progress = progress or (lambda line: None)
        self.since = since
        self.concurrency = max(1, settings.PAGERDUTY_MAX_CONCURRENCY)
        self._executor: ThreadPoolExecutor | None = None
        self._first_error: BaseException | None = None
        # email (lower case) → license id, from SCIM; fills allocations beyond the offset cap.
        self._scim_licenses: dict[str, str | None] | None = None
        self._error_lock = threading.Lock()
        self._one_copy: dict[str, str] = {}  # see REPEATED_USER_FIELDS
        # Emails whose whole-email search still said more pages follow when it stopped.
        self._search_cut_short: set[str] = set()

    @property
    def requests(self) -> int:
        return self.client.request_count

    @property
    def retries(self) -> int:
        return self.client.retries

    # -- orchestration --------------------------------------------------------------------
    def fetch(self) -> Snapshot:
        self._executor = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="pagerduty")
        try:
            return self._fetch()
        except Exception as error:
            self.client.cancel()
            # Report the failure that stopped the others, not a "cancelled" that followed it.
            raise (self._first_error or error) from None
        finally:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self.client.close()

    def _submit(self, fn: Callable, *args: Any) -> Future:
        def run():
            try:
                return fn(*args)
            except Cancelled:
                raise
            except BaseException as error:
                with self._error_lock:
                    if self._first_error is None:
                        self._first_error = error
                self.client.cancel()
                raise

        return self._executor.submit(run)

    def _fetch(self) -> Snapshot:
        users_first = self._submit(self._page, "/users", "users", 0, True)
        teams_first = self._submit(self._optional_teams_first)
        licenses = self._submit(self._optional_licenses, self._licenses)
        allocations_first = self._submit(
            self._optional_licenses, self._page, "/license_allocations", "license_allocations", 0, True
        )
        audit = self._submit(self._optional, ATTRIBUTION_NOT_SYNCED, self._audit)
        on_calls_first = self._submit(self._optional, ON_CALL_NOT_SYNCED, self._page, "/oncalls", "oncalls", 0, True)

        users_listing = self._listing(users_first.result(), "/users", "users")
        listed_total = users_listing.first.total
        scim_first = self._submit(self._optional_scim_page, 1) if users_listing.capped else None
        teams, members_futures, teams_note = self._teams(teams_first.result())
        # Every listing's other pages are queued now, so none waits for the others to finish.
        on_calls = on_calls_first.result()
        if isinstance(on_calls, Page):
            on_calls = self._listing(on_calls, "/oncalls", "oncalls")
        allocations = allocations_first.result()
        if isinstance(allocations, Page):
            allocations = self._listing(allocations, "/license_allocations", "license_allocations")

        users: dict[str, dict[str, Any]] = {}
        pages = 1 + len(users_listing.rest)
        for number, page in enumerate(users_listing.pages(), start=1):
            users.update((fields["external_id"], fields) for fields in page.items)
            self.progress(f"users: page {number}/{pages} ({len(users)} accounts)")
        contradiction = users_listing.contradiction
        del users_listing  # the search beyond the cap may fetch some of these users again: one copy

        snapshot = Snapshot(users=users, teams=teams)
        if contradiction:
            snapshot.make_partial(f"{contradiction}; no account was marked removed")
        if teams_note:
            snapshot.notes.append(teams_note)
        if scim_first is not None:
            self._reach_beyond_cap(snapshot, scim_first.result(), listed_total=listed_total)

        for number, (team_id, future) in enumerate(members_futures, start=1):
            page = future.result()
            roster = dict(page.items)
            # A roster beyond the offset cap, or one that contradicts itself: leave this team's
            # memberships as they are (nobody is taken off a team on its word).
            if page.more:
                snapshot.notes.append(f"team {teams[team_id]['name']}: memberships not synced (over 10,000 members)")
            elif page.contradiction:
                snapshot.notes.append(
                    f"team {teams[team_id]['name']}: memberships not synced: {page.contradiction}"
                )
            else:
                snapshot.members[team_id] = roster
            if number == len(members_futures) or number % max(1, len(members_futures) // 10) == 0:
                self.progress(f"teams: members of {number}/{len(members_futures)} teams")

        self._licenses_into(snapshot, licenses.result(), allocations)
        self._on_calls_into(snapshot, on_calls)
        attributions = audit.result()
        if isinstance(attributions, str):
            snapshot.notes.append(attributions)
        else:
            snapshot.attributions = attributions
        return snapshot

    # -- paging ---------------------------------------------------------------------------
    def _page(self, path: str, key: str, offset: int, total: bool = False, extra: dict | None = None) -> Page:
        params: dict[str, Any] = {"limit": PAGE_SIZE, "offset": offset, **(extra or {})}
        if total:
            params["total"] = "true"
        where = path if not extra else f"{path}?{'&'.join(extra)}"
        body = self.client.fetch_json(path, params)
        items = [PARSERS[key](raw, where) for raw in mapping.page_items(body, key, where)]
        if key == "users":
            for fields in items:
                for name in REPEATED_USER_FIELDS:
                    fields[name] = self._one_copy.setdefault(fields[name], fields[name])
        return Page(
            items=items,
            more=mapping.page_more(body, where),
            total=mapping.page_total(body, where) if total else None,
        )

    def _page_on_more(
        self, path: str, key: str, offset: int, extra: dict | None = None, end: int | None = None
    ) -> Page:
        """Pages one after another while `more` says so, up to the offset cap (or `end`).

        The returned page holds every item; its `more` is true only when the cap stopped it;
        its `contradiction` says where the pages disagreed (a page not full though more
        follow, one entry listed twice).
        """
        where = path if not extra else f"{path}?{'&'.join(extra)}"
        items: list = []
        seen: set[str] = set()
        contradiction = ""
        while True:
            page = self._page(path, key, offset, False, extra)
            for item in page.items:
                item_key = KEYS[key](item)
                if item_key in seen and not contradiction:
                    contradiction = f"{where} listed {item_key} twice: the list changed while it was paged"
                seen.add(item_key)
            if page.more and len(page.items) != PAGE_SIZE and not contradiction:
                contradiction = (
                    f"{where} said more pages follow after {len(page.items)} entries at offset {offset} "
                    f"(of {PAGE_SIZE} asked for)"
                )
            items.extend(page.items)
            offset += PAGE_SIZE
            if not page.more or offset + PAGE_SIZE > min(OFFSET_CAP, end or OFFSET_CAP):
                return Page(items=items, more=page.more, total=None, contradiction=contradiction)

    def _listing(
        self, first: Page, path: str, key: str, extra: dict | None = None, *, max_pages: int | None = None
    ) -> _Listing:
        """Start fetching the pages after `first`: all at once when its total is known (up to
        the offset cap, or `max_pages` pages in all), else one after another on `more`."""
        where = path if not extra else f"{path}?{'&'.join(extra)}"
        end = OFFSET_CAP if max_pages is None else min(OFFSET_CAP, max_pages * PAGE_SIZE)
        if not first.more or end <= PAGE_SIZE:
            return _Listing(first, [], where, key)
        if first.total is None:
            return _Listing(
                first, [self._submit(self._page_on_more, path, key, PAGE_SIZE, extra, end)], where, key
            )
        last_offset = min(first.total, end - PAGE_SIZE + 1)
        offsets = range(PAGE_SIZE, last_offset, PAGE_SIZE)
        return _Listing(
            first, [self._submit(self._page, path, key, offset, False, extra) for offset in offsets], where, key
        )

    # -- teams ----------------------------------------------------------------------------
    def _optional_teams_first(self) -> Page | str:
        try:
            return self._page("/teams", "teams", 0, True)
        except AbilityMissing:
            return TEAMS_NOT_SYNCED_402

    def _teams(self, first: Page | str) -> tuple[dict | None, list[tuple[str, Future]], str]:
        if isinstance(first, str):
            return None, [], first
        listing = self._listing(first, "/teams", "teams")
        if listing.capped:  # an incomplete team list would remove teams that exist: keep them as they are
            return None, [], "teams not synced: more than 10,000 teams"
        teams = {}
        for page in listing.pages():
            teams.update((fields["external_id"], fields) for fields in page.items)
        if listing.contradiction:  # an unsure team list would remove teams that exist: keep them as they are
            return None, [], f"teams not synced: {listing.contradiction}; no team or membership was changed"
        self.progress(f"teams: {len(teams)} teams")
        members = [
            (team_id, self._submit(self._page_on_more, f"/teams/{quote(team_id, safe='')}/members", "members", 0))
            for team_id in teams
        ]
        return teams, members, ""

    # -- licenses -------------------------------------------------------------------------
    def _licenses(self) -> list:
        body = self.client.fetch_json("/licenses")
        return mapping.page_items(body, "licenses", "/licenses")

    @staticmethod
    def _optional_licenses(fn: Callable, *args: Any):
        try:
            return fn(*args)
        except AbilityMissing:
            return "licenses not synced: the account's plan has no licenses (402)"
        except PermissionMissing:
            return "licenses not synced: the access token may not read licenses (403)"

    def _licenses_into(self, snapshot: Snapshot, licenses: list | str, allocations: _Listing | str) -> None:
        """Licenses and allocations into the snapshot, unless either was refused (then noted)."""
        skipped = next((part for part in (licenses, allocations) if isinstance(part, str)), None)
        if skipped:
            snapshot.notes.append(skipped)
            return
        snapshot.licenses = {}
        for raw in licenses:
            fields = mapping.license_fields(raw, "/licenses")
            snapshot.licenses[fields["external_id"]] = fields
        for page in allocations.pages():
            snapshot.allocations.update(page.items)
        if allocations.contradiction:
            # Each allocation listed is true; one not listed may have been skipped.
            snapshot.allocations_complete = False
            snapshot.notes.append(
                f"licenses: {allocations.contradiction}; accounts it did not list keep their license"
            )
            self.progress(f"licenses: {len(snapshot.licenses)} licenses, {len(snapshot.allocations)} allocations")
            return
        capped = allocations.capped
        if capped and self._scim_licenses is not None:
            # Allocations beyond the cap: SCIM told every user's license already.
            for user_id, values in snapshot.users.items():
                if user_id not in snapshot.allocations:
                    license_id = self._scim_licenses.get(values["email"].lower())
                    if license_id:
                        snapshot.allocations[user_id] = license_id
        elif capped:
            snapshot.allocations_complete = False
            snapshot.notes.append(
                "licenses: only the first 10,000 allocations could be listed; other accounts keep their license"
            )
        self.progress(f"licenses: {len(snapshot.licenses)} licenses, {len(snapshot.allocations)} allocations")

    # -- optional parts: audit trail, on-call ----------------------------------------------
    @staticmethod
    def _optional(note: str, fn: Callable, *args: Any):
        """`fn(*args)`, or a note saying why the part was left out (plan or key without it)."""
        try:
            return fn(*args)
        except AbilityMissing:
            return f"{note}the account's plan does not include it (402)"
        except PermissionMissing:
            return f"{note}the access token may not read it (403)"

    def audit_window_start(self) -> datetime:
        """Where the audit trail is read from: the last sync (less an overlap), within 31 days."""
        earliest = timezone.now() - AUDIT_MAX_AGE + AUDIT_MARGIN
        if self.since is None:
            return earliest
        return max(self.since - AUDIT_OVERLAP, earliest)

    def _audit(self) -> list:
        """Every audit record of users and teams in the window, one cursor page after another."""
        where = "/audit/records"
        params: dict[str, Any] = {
            "limit": AUDIT_PAGE_SIZE,
            "since": self.audit_window_start().isoformat(timespec="seconds"),
            "root_resource_types[]": ["users", "teams"],
        }
        attributions: list = []
        seen_cursors: set[str] = set()
        for _ in range(AUDIT_MAX_PAGES):
            body = self.client.fetch_json(where, params)
            for raw in mapping.page_items(body, "records", where):
                attributions.extend(mapping.audit_attributions(raw, where))
            cursor = mapping.audit_cursor(body, where)
            if cursor is None or cursor in seen_cursors:
                break
            seen_cursors.add(cursor)
            params = {**params, "cursor": cursor}
        self.progress(f"audit trail: {len(attributions)} account changes attributed")
        return attributions

    def _on_calls_into(self, snapshot: Snapshot, listing: _Listing | str) -> None:
        if isinstance(listing, str):
            snapshot.notes.append(listing)
            return
        entries = [entry for page in listing.pages() for entry in page.items]
        if listing.capped:
            snapshot.notes.append(f"{ON_CALL_NOT_SYNCED}more than 10,000 on-call entries")
        elif listing.contradiction:
            snapshot.notes.append(f"{ON_CALL_NOT_SYNCED}{listing.contradiction}")
        else:
            snapshot.on_calls = entries
            self.progress(f"on call: {len(entries)} entries")

    # -- beyond the offset cap --------------------------------------------------------------
    def _optional_scim_page(self, start: int) -> tuple[list[tuple[str, str | None]], int, int] | str:
        try:
            return self._scim_page(start)
        except (TokenRejected, PermissionMissing, AbilityMissing, NotFound) as error:
            return str(error)

    def _scim_page(self, start: int) -> tuple[list[tuple[str, str | None]], int, int]:
        """One page of active SCIM users as (userName, license id); the total (all users); and
        how many users, active or not, the page listed."""
        where = "/scim/v2/Users"
        body = self.client.fetch_json(where, {"startIndex": start, "count": SCIM_PAGE_SIZE}, accept=SCIM_ACCEPT)
        resources = mapping.page_items(body, "Resources", where)
        users = [(mapping.scim_user(raw, where), mapping.scim_active(raw, where)) for raw in resources]
        return [user for user, active in users if active], mapping.scim_total(body, where), len(users)

    def _reach_beyond_cap(self, snapshot: Snapshot, scim_first: tuple[list, int] | str, *, listed_total: int | None) -> None:
        users = snapshot.users
        if isinstance(scim_first, str):
            of = f"{listed_total:,}" if listed_total is not None else "more than 10,000"
            snapshot.make_partial(
                f"Synced {len(users):,} of {of} users: PagerDuty lists at most 10,000 users and the "
                f"SCIM user list, needed for the rest, is not available to this access token "
                f"({scim_first}); no account was marked removed"
            )
            return
        scim_users, total, listed = scim_first
        contradiction = _scim_contradiction(1, total, total, listed)
        starts = range(1 + SCIM_PAGE_SIZE, total + 1, SCIM_PAGE_SIZE)
        futures = [self._submit(self._scim_page, start) for start in starts]
        for number, (start, future) in enumerate(zip(starts, futures), start=2):
            page_users, page_total, listed = future.result()
            scim_users.extend(page_users)
            contradiction = contradiction or _scim_contradiction(start, total, page_total, listed)
            self.progress(f"SCIM users: page {number}/{len(futures) + 1}")
        self._scim_licenses = {name.lower(): license_id for name, license_id in scim_users}
        if not contradiction and len(self._scim_licenses) < len(scim_users):
            twice = next(name for name, count in Counter(n.lower() for n, _ in scim_users).items() if count > 1)
            contradiction = f"listed {twice} twice: the list changed while it was paged"
        if contradiction:
            snapshot.make_partial(
                f"the SCIM user list (/scim/v2/Users) {contradiction}, so who is beyond the first "
                "10,000 users is not known; no account was marked removed"
            )
        seen = {fields["email"].lower() for fields in users.values()}
        missing = set(self._scim_licenses) - seen
        self.progress(f"users: {len(missing):,} beyond the first 10,000; searching for them")
        unreachable = self._search(missing, users)
        if not unreachable and listed_total is not None and len(users) < listed_total:
            # Every user SCIM names was reached, yet /users counted more: one of them is wrong.
            snapshot.make_partial(
                f"/users gave a total of {listed_total:,} but the SCIM user list and the search "
                f"reached {len(users):,} users; no account was marked removed"
            )
        if unreachable:
            endless = len(unreachable & self._search_cut_short)
            why = []
            if endless:
                why.append(
                    f"for {endless:,} the search by their email kept saying more pages follow without "
                    f"listing them, and stops after {SEARCH_EMAIL_PAGES} pages per email"
                )
            if len(unreachable) > endless:
                why.append(f"{len(unreachable) - endless:,} the search did not list at all")
            snapshot.make_partial(
                f"Synced {len(users):,} of {len(users) + len(unreachable):,} users: "
                f"{len(unreachable):,} could not be reached through PagerDuty's user search "
                f"({'; '.join(why)}); no account was marked removed"
            )

    def _search(self, missing: set[str], users: dict[str, dict[str, Any]]) -> set[str]:
        """Reach users by /users?query=<email prefix>; returns the emails still not found."""
        missing = set(missing)

        def merge(page: Page) -> None:
            for fields in page.items:
                users[fields["external_id"]] = fields
                missing.discard(fields["email"].lower())

        groups = _split(sorted(missing), depth=0)
        round_number = 0
        while groups:
            round_number += 1
            # Queues, each page let go once merged: a round can fetch thousands of pages.
            probes = deque(
                (group, self._submit(self._page, "/users", "users", 0, True, {"query": group.prefix}))
                for group in groups
            )
            paging: deque[Future] = deque()
            groups = []
            while probes:
                group, future = probes.popleft()
                first = future.result()
                merge(first)
                left = [email for email in group.emails if email in missing]
                if not left:
                    continue
                total = first.total if first.total is not None else OFFSET_CAP + 1
                children = _split(left, depth=len(group.prefix))
                narrower = [child for child in children if child.prefix != group.prefix]
                whole = len(narrower) < len(children)  # one email is the query itself: cannot narrow
                pages_left = math.ceil(min(total, OFFSET_CAP) / PAGE_SIZE) - 1
                if narrower and (total > OFFSET_CAP or (pages_left > len(children) and not whole)):
                    groups.extend(narrower)
                    if not whole:
                        continue
                # Page this query in full; a whole email only a few pages (SEARCH_EMAIL_PAGES).
                pages = SEARCH_EMAIL_PAGES if whole else None
                listing = self._listing(first, "/users", "users", {"query": group.prefix}, max_pages=pages)
                if whole and first.more and (first.total is None or first.total > SEARCH_EMAIL_PAGES * PAGE_SIZE):
                    self._search_cut_short.add(group.prefix)
                paging.extend(listing.rest)
                while paging and paging[0].done():  # merged as they come: not all held at once
                    merge(paging.popleft().result())
            while paging:
                merge(paging.popleft().result())
            groups = [g for g in (_SearchGroup(g.prefix, [e for e in g.emails if e in missing]) for g in groups) if g.emails]
            self.progress(f"users: search round {round_number}, {len(missing):,} still to find")
        return missing


def _scim_contradiction(start: int, total: int, page_total: int, listed: int) -> str:
    """Where one SCIM page disagrees with the first page's totalResults ("" if it agrees)."""
    if page_total != total:
        return f"gave a total of {page_total:,} at startIndex {start} after a total of {total:,}"
    promised = max(0, min(SCIM_PAGE_SIZE, total - (start - 1)))
    if listed != promised:
        return f"gave {listed} users at startIndex {start} where its total of {total:,} promised {promised}"
    return ""


def _split(emails: list[str], *, depth: int) -> list[_SearchGroup]:
    """Group emails by their first depth+1 characters (at least SEARCH_MIN_PREFIX), each group
    named by its longest common prefix, so a chain of shared characters costs no probe."""
    length = max(depth + 1, SEARCH_MIN_PREFIX)
    buckets: dict[str, list[str]] = defaultdict(list)
    for email in emails:
        buckets[email[:length]].append(email)
    return [_SearchGroup(os.path.commonprefix(members), members) for members in buckets.values()]
