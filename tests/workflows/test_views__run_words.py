"""Run pages speak to people: attempts counted from 1, no step paths, "just now" for a new run."""

from __future__ import annotations

import re

import pytest

from workflows import registry

pytestmark = pytest.mark.django_db


def test_run_pages_show_no_paths_and_attempts_from_one(client, operator):
    out = registry.get("onboarding").run("enterprise", user=operator)
    client.force_login(operator)
    page = client.get(f"/runs/{out.run_id}/").text
    assert 'class="wf-path"' not in page
    assert "0/if/0/steps" not in re.sub(r'data-path="[^"]*"', "", page)  # only machine attributes keep paths
    assert "<td>0</td>" not in page
    listing = client.get("/runs/").text
    assert "just now" in listing and "0 minutes ago" not in listing
