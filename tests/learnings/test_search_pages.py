"""The search page says what it did: the any-word fallback, "did you mean", the synonyms it
also searched, an empty result that does not pretend the library is empty; and the synonyms
page editors change."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.urls import reverse

from learnings.search.synonyms import workspace_synonyms
from learnings.search.terms import DEFAULT_SYNONYMS
from learnings.services.synonyms import GROUP_TOO_SMALL
from tests.learnings.test_learning_support import manual_learning

pytestmark = pytest.mark.django_db

EMPTY_LIBRARY = "Filters appear once the library has learnings."


@pytest.fixture
def library(workspace):
    manual_learning(
        workspace, "Shorter signup form", learned="Three fields instead of six: more signups."
    )
    manual_learning(workspace, "Annual plan discount", learned="The annual plan sold more.")


def _search(client, user, **params) -> str:
    client.force_login(user)
    response = client.get(reverse("learnings_web:search"), params)
    assert response.status_code == 200
    return unescape(response.content.decode())


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_a_question_falls_back_to_any_word_and_says_so(client, viewer, library):
    html = _search(client, viewer.user, q="does a shorter signup form help")
    assert 'id="any-word"' in html
    assert "No learning has all of these words" in _text(html)
    assert "1 learning for “does a shorter signup form help”" in _text(html)
    assert "Shorter signup form" in _text(html)


def test_a_typo_offers_did_you_mean_with_a_link_that_finds_it(client, viewer, library):
    html = _search(client, viewer.user, q="anual")
    match = re.search(r'id="did-you-mean">Did you mean <a href="([^"]+)"><strong>annual', html)
    assert match is not None
    html = _search(client, viewer.user, **_params(match.group(1)))
    assert "Annual plan discount" in _text(html)


def _params(url: str) -> dict[str, str]:
    from urllib.parse import parse_qsl

    return dict(parse_qsl(url.lstrip("?")))


def test_synonyms_also_searched_are_named(client, viewer, library):
    html = _search(client, viewer.user, q="yearly")
    assert "Annual plan discount" in _text(html)
    assert "Also searched: annual (for “yearly”)" in _text(html)


def test_empty_result_in_a_full_library_does_not_say_the_library_is_empty(client, viewer, library):
    html = _search(client, viewer.user, q="zebra")
    assert EMPTY_LIBRARY not in html
    assert "with none found, there is nothing to filter" in _text(html)
    assert "among the 2 learnings of the library" in _text(html)


def test_empty_library_still_says_filters_come_with_learnings(client, viewer):
    assert EMPTY_LIBRARY in _search(client, viewer.user)


# --- The synonyms page -------------------------------------------------------------------------


def test_viewers_see_the_default_synonyms_and_cannot_change_them(client, viewer, workspace):
    client.force_login(viewer.user)
    url = reverse("learnings_web:synonyms")
    html = unescape(client.get(url).content.decode())
    assert "annual · yearly" in html
    assert "These are the defaults" in html
    assert "<textarea" not in html
    assert client.post(url, {"synonyms": "a, b"}).status_code == 403
    assert workspace_synonyms(workspace=workspace) == DEFAULT_SYNONYMS


def test_editors_change_the_synonyms_and_search_follows(client, editor, workspace, library):
    client.force_login(editor.user)
    url = reverse("learnings_web:synonyms")
    response = client.post(url, {"synonyms": "annual, yearly, per year\nsignup, registration"})
    assert response.status_code == 302
    assert workspace_synonyms(workspace=workspace) == (
        ("annual", "yearly", "per year"),
        ("signup", "registration"),
    )
    assert "Annual plan discount" in _text(_search(client, editor.user, q='"per year"'))
    response = client.post(url, {"reset": "1"})
    assert workspace_synonyms(workspace=workspace) == DEFAULT_SYNONYMS


def test_a_bad_line_is_shown_beside_the_field_and_nothing_is_saved(client, editor, workspace):
    client.force_login(editor.user)
    response = client.post(reverse("learnings_web:synonyms"), {"synonyms": "a, b\nlonely"})
    assert response.status_code == 400
    html = unescape(response.content.decode())
    assert re.search(
        r'id="id_synonyms_error">.*?' + re.escape(GROUP_TOO_SMALL.format(line=2)), html, re.S
    )
    assert workspace_synonyms(workspace=workspace) == DEFAULT_SYNONYMS
