"""What people read on decision pages: changed words inside a line, outcomes in words, attempts
counted from 1, no step paths, the error message once."""

from __future__ import annotations

import pytest
from django.urls import reverse

from workflows import services
from workflows.engine.jsonvalues import edit_diff
from workflows.templatetags.workflows_tags import diff_lines

from .conftest import pending


def test_a_one_word_change_in_a_long_line_marks_the_word():
    old = "The quick brown fox jumps over the lazy dog and keeps running until the sun goes down."
    new = old.replace("lazy", "sleepy")
    lines = diff_lines(edit_diff(old, new))
    removed = [line for css, line in lines if css == "diff-del"]
    added = [line for css, line in lines if css == "diff-add"]
    tail = " dog and keeps running until the sun goes down."
    assert removed == ['-The quick brown fox jumps over the <del class="diff-word">lazy</del>' + tail]
    assert added == ['+The quick brown fox jumps over the <ins class="diff-word">sleepy</ins>' + tail]


def test_word_marks_escape_the_text():
    lines = diff_lines(edit_diff("a <b> c", "a <i> c"))
    assert '-a <del class="diff-word">&lt;b&gt;</del> c' in [line for _, line in lines]


def test_unpaired_lines_stay_whole():
    lines = diff_lines(edit_diff("one", "one\ntwo\nthree"))
    assert ("diff-add", "+two") in lines and ("diff-add", "+three") in lines


@pytest.mark.django_db
def test_error_page_says_the_error_once_and_attempts_count_from_one(reviewer_client):
    req = pending("inventory_sync")
    page = reviewer_client.get(reverse("approvals:decide", args=[req.id])).content.decode()
    assert page.count("inventory service unavailable") == 1
    assert "<dt>Attempt</dt><dd>1</dd>" in page
    assert "Step path" not in page


@pytest.mark.django_db
def test_history_says_what_was_done_in_words(reviewer_client, reviewer, sent_runs):
    draft = pending("blog_post")
    services.requirement_resolve(requirement_id=draft.id, user=reviewer, action="reject", data={"feedback": "shorter"})
    services.run_advance(run_id=draft.run_id)
    revised = type(draft).objects.get(run_id=draft.run_id, status="PENDING")
    page = reviewer_client.get(reverse("approvals:decide", args=[revised.id])).content.decode()
    assert "<strong>Rejected</strong> by rita" in page
    assert "<strong>reject</strong>" not in page
    assert "<dt>Attempt</dt><dd>2</dd>" in page


def test_a_rewritten_line_is_shown_whole():
    lines = diff_lines(edit_diff("Draft about x", "something else"))
    assert ("diff-del", "-Draft about x") in lines and ("diff-add", "+something else") in lines
