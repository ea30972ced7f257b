"""The bench's table: one row per figure, with its target and PASS/FAIL where it has one."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass


@dataclass
class Target:
    text: str
    passed: bool

    @classmethod
    def at_most(cls, value: float, limit: float, text: str) -> Target:
        return cls(text, value <= limit)

    @classmethod
    def at_least(cls, value: float, limit: float, text: str) -> Target:
        return cls(text, value >= limit)

    @classmethod
    def exactly(cls, value: int, wanted: int, text: str) -> Target:
        return cls(text, value == wanted)

    @classmethod
    def both(cls, first: Target, second: Target) -> Target:
        return cls(f"{first.text}, {second.text}", first.passed and second.passed)


@dataclass
class Row:
    scenario: str
    measure: str
    value: str
    target: Target | None = None
    note: str = ""

    @property
    def passed(self) -> bool | None:
        return None if self.target is None else self.target.passed


def render(*, title: str, machine: str, settings: str, rows: list[Row]) -> str:
    width = {"measure": max(len(r.measure) for r in rows), "value": max(len(r.value) for r in rows)}
    lines = [title, "", *textwrap.wrap(f"Machine:  {machine}", 110, subsequent_indent=" " * 10),
             *textwrap.wrap(f"Settings: {settings}", 110, subsequent_indent=" " * 10)]
    scenario = None
    for row in sorted(rows, key=lambda r: r.scenario[:2]):
        if row.scenario != scenario:
            scenario = row.scenario
            lines += ["", *textwrap.wrap(scenario, 110, subsequent_indent="   ")]
        mark = {True: "PASS", False: "FAIL", None: "    "}[row.passed]
        target = "; ".join(text for text in (row.target.text if row.target else "", row.note) if text)
        lines.append(f"   {mark}  {row.measure:<{width['measure']}}  {row.value:>{width['value']}}   {target}")
    passed = sum(row.passed is True for row in rows)
    failed = sum(row.passed is False for row in rows)
    lines += ["", f"{passed} targets met, {failed} missed."]
    return "\n".join(lines)
