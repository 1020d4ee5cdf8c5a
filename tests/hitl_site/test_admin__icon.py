"""The admin's pages name an icon: without one, browsers ask for /favicon.ico, a 404 on every page."""

import pytest


@pytest.mark.parametrize("url", ["/admin/", "/admin/workflows/workflowrun/"])
def test_admin_pages_name_an_icon_and_keep_their_own_head(admin_client, url):
    page = admin_client.get(url)
    assert page.status_code == 200
    text = page.text
    assert '<link rel="icon" href="data:,">' in text
    assert "admin/css/base.css" in text  # still the admin's own page, with its own head
