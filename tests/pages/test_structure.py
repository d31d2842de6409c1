"""Reading a page body's structure, and telling where a translation departs from it."""

from __future__ import annotations

import pytest

from backend.pages.structure import body_format, structure_difference, structure_markers


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        ("<p>Hello</p>", "html"),
        ("Line one<br>line two", "html"),
        ("## Heading\n\n- item", "markdown"),
        ("Plain text with a < sign and 3 > 2.", "markdown"),
    ],
)
def test_body_format_is_html_only_when_a_tag_is_present(text: str, fmt: str) -> None:
    assert body_format(text) == fmt


def test_html_markers_are_tag_names_in_order_without_attributes() -> None:
    markers = structure_markers('<p class="x">Hi <a href="/a" title="Go">there</a><br/></p><img alt="Sun">')
    assert markers == ["<p>", "<a>", "</a>", "<br>", "</p>", "<img>"]


def test_markdown_markers_cover_headings_lists_quotes_rules_tables_and_fences() -> None:
    text = (
        "# Title\n\nProse that wraps\nover lines.\n\n## Part\n\n- a\n  - nested\n* b\n\n1. one\n2) two\n\n"
        "> quoted\n\n---\n\n| a | b |\n|---|---|\n\n```python\n# not a heading\n- not an item\n```\n"
    )
    assert structure_markers(text) == [
        "h1",
        "h2",
        "- item",
        "  - item",
        "- item",
        "1. item",
        "1. item",
        "> quote",
        "hr",
        "| row",
        "| row",
        "```",
        "```",
    ]


def test_same_structure_with_different_words_and_wrapping_is_no_difference() -> None:
    source = "## Why\n\nBecause it is a good idea\nand it helps.\n\n- One\n- Two"
    translated = "## Pourquoi\n\nParce que c'est une bonne idée et que ça aide.\n\n- Un\n- Deux"
    assert structure_difference(source, translated) is None
    assert structure_difference("<h2>Why</h2><p>So.</p>", '<h2 id="x">Pourquoi</h2><p>Ainsi.</p>') is None


@pytest.mark.parametrize(
    ("source", "candidate", "expected"),
    [
        ("<h2>A</h2><p>B</p>", "<h3>A</h3><p>B</p>", "element 1: expected '<h2>', got '<h3>'"),
        ("<p>A</p><ul><li>B</li></ul>", "<p>A</p>", "missing 4 element(s) at the end, starting with '<ul>'"),
        ("<p>A</p>", "<p>A</p><p>B</p>", "2 extra element(s) at the end, starting with '<p>'"),
        ("## A\n\n- b", "## A\n\n1. b", "expected '- item', got '1. item'"),
        ("## A\n\ntext", "A\n\ntext", "markdown structure is missing 1 element(s)"),
    ],
)
def test_structure_difference_says_where_and_what(source: str, candidate: str, expected: str) -> None:
    difference = structure_difference(source, candidate)
    assert difference is not None
    assert expected in difference


def test_a_reply_in_the_other_format_is_a_difference() -> None:
    assert structure_difference("<h2>A</h2>", "## A") is not None


def test_an_unknown_marked_section_is_read_as_text_not_a_crash() -> None:
    # Python's HTML parser raises AssertionError on `<![word[`; a body or a reply may hold one.
    source = "<p>Hi</p><![foo[ odd ]]><ul><li>One</li></ul>"

    assert structure_markers(source) == ["<p>", "</p>", "<ul>", "<li>", "</li>", "</ul>"]
    assert structure_difference(source, "<p>Salut</p><![foo[ odd ]]><ul><li>Un</li></ul>") is None
    assert "element 3" in (structure_difference(source, "<p>Salut</p><![bar[ x ]]><p>Un</p>") or "")
