"""The structure of a page body, so a translation can be checked to have kept it.

A body is HTML when it holds at least one tag, else Markdown. Its structure is a sequence of
markers: for HTML every start and end tag in order (names only: attributes such as `alt` may be
translated); for Markdown every heading (with its level), list item (bulleted or numbered),
blockquote, code fence, table row and rule, in order. Plain prose lines are not markers, since a
translation may wrap them differently. Two bodies have the same structure when their marker
sequences are equal; `structure_difference()` says where they first part.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Final

_TAG_RE: Final = re.compile(r"<(?:[a-zA-Z][\w:-]*)(?:\s[^<>]*)?/?>|</[a-zA-Z][\w:-]*\s*>")
_HEADING_RE: Final = re.compile(r"^(#{1,6})\s+\S")
_BULLET_RE: Final = re.compile(r"^(\s*)[-*+]\s+\S")
_NUMBERED_RE: Final = re.compile(r"^(\s*)\d+[.)]\s+\S")
_RULE_RE: Final = re.compile(r"^\s*(?:-{3,}|\*{3,}|_{3,})\s*$")
_FENCE_RE: Final = re.compile(r"^\s*(```|~~~)")


def body_format(text: str) -> str:
    """`"html"` when the text holds a tag, else `"markdown"`."""
    return "html" if _TAG_RE.search(text) else "markdown"


class _TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.markers: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.markers.append(f"<{tag}>")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.markers.append(f"<{tag}>")

    def handle_endtag(self, tag: str) -> None:
        self.markers.append(f"</{tag}>")

    def parse_marked_section(self, i: int, report: int = 1) -> int:
        # Python's parser raises AssertionError on `<![word[` with a keyword it does not know
        # (a page body or a model reply may hold one): read such an opening as text, not a crash.
        try:
            return super().parse_marked_section(i, report)
        except AssertionError:
            return -1


def _html_markers(text: str) -> list[str]:
    collector = _TagCollector()
    collector.feed(text)
    collector.close()
    return collector.markers


def _markdown_line_marker(line: str) -> str | None:
    """The marker of one Markdown line outside a code block, or None for prose and blank lines."""
    if heading := _HEADING_RE.match(line):
        return f"h{len(heading.group(1))}"
    if _RULE_RE.match(line):
        return "hr"
    if bullet := _BULLET_RE.match(line):
        return f"{'  ' * (len(bullet.group(1)) // 2)}- item"
    if numbered := _NUMBERED_RE.match(line):
        return f"{'  ' * (len(numbered.group(1)) // 2)}1. item"
    stripped = line.lstrip()
    if stripped.startswith(">"):
        return "> quote"
    if stripped.startswith("|"):
        return "| row"
    return None


def _markdown_markers(text: str) -> list[str]:
    markers: list[str] = []
    in_code = False
    for line in text.splitlines():
        if _FENCE_RE.match(line):
            in_code = not in_code
            markers.append("```")
            continue
        if in_code:
            continue
        marker = _markdown_line_marker(line)
        if marker:
            markers.append(marker)
    return markers


def structure_markers(text: str, *, fmt: str | None = None) -> list[str]:
    """The structure of `text` as a list of markers, read as `fmt` (detected when None)."""
    fmt = fmt or body_format(text)
    return _html_markers(text) if fmt == "html" else _markdown_markers(text)


def structure_difference(source: str, candidate: str) -> str | None:
    """None when `candidate` keeps the structure of `source`, else where and how it differs."""
    fmt = body_format(source)
    expected = structure_markers(source, fmt=fmt)
    actual = structure_markers(candidate, fmt=fmt)
    if expected == actual:
        return None
    for index, (want, got) in enumerate(zip(expected, actual, strict=False)):
        if want != got:
            return f"{fmt} structure differs at element {index + 1}: expected {want!r}, got {got!r}"
    if len(expected) > len(actual):
        return (
            f"{fmt} structure is missing {len(expected) - len(actual)} element(s) at the end, "
            f"starting with {expected[len(actual)]!r}"
        )
    return (
        f"{fmt} structure has {len(actual) - len(expected)} extra element(s) at the end, "
        f"starting with {actual[len(expected)]!r}"
    )
