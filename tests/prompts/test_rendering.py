"""Prompt template placeholders and rendering: exact variables, clear errors."""

from __future__ import annotations

import pytest

from backend.prompts.rendering import PromptSyntaxError, PromptVariablesError, placeholders, render


def test_placeholders_in_order_of_first_appearance_without_literal_braces() -> None:
    assert placeholders("{b} and {a}, again {b}; literal {{braces}}") == ("b", "a")
    assert placeholders("no placeholders") == ()


@pytest.mark.parametrize("text", ["{}", "{0}", "{a.b}", "{a[0]}", "{a!r}", "{a:>10}", "{a-b}"])
def test_anything_but_a_plain_name_is_refused(text: str) -> None:
    with pytest.raises(PromptSyntaxError, match="not a plain name"):
        placeholders(text)


@pytest.mark.parametrize("text", ["{open", "close}", "{a}}"])
def test_unbalanced_braces_are_refused_with_the_fix(text: str) -> None:
    with pytest.raises(PromptSyntaxError, match=r"braces do not balance.*\{\{ and \}\}"):
        placeholders(text)


def test_render_fills_every_placeholder_and_keeps_literal_braces() -> None:
    assert (
        render('Ideas about {topic} as {{"ideas": []}}', {"topic": "tea"})
        == 'Ideas about tea as {"ideas": []}'
    )


def test_a_missing_variable_is_named() -> None:
    with pytest.raises(PromptVariablesError, match="missing audience") as excinfo:
        render("{product} for {audience}", {"product": "tea"})
    assert excinfo.value.missing == ("audience",)
    assert "It expects exactly: product, audience." in str(excinfo.value)


def test_an_extra_variable_is_named() -> None:
    with pytest.raises(PromptVariablesError, match="not in the template: colour") as excinfo:
        render("{product}", {"product": "tea", "colour": "green"})
    assert excinfo.value.extra == ("colour",)


def test_expected_names_cover_the_whole_template() -> None:
    assert render("system for {a}", {"a": "x", "b": "y"}, expected=("a", "b")) == "system for x"
    with pytest.raises(PromptVariablesError, match="missing b"):
        render("system for {a}", {"a": "x"}, expected=("a", "b"))


def test_values_are_inserted_verbatim_not_reformatted() -> None:
    assert render("{text}", {"text": "{not_a_placeholder}"}) == "{not_a_placeholder}"
