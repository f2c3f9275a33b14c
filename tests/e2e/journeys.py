"""What every journey shares: sign in from the sign-in page (the only address typed), then click."""

from __future__ import annotations

import re

from tests.base import PASSWORD
from tests.e2e.page_checks import check_page, watch_csp


def sign_in(page, base: str, username: str, *, name: str) -> dict:
    """Open the sign-in page, check it, sign in; returns the home page's check (both pages are checked)."""
    watch_csp(page)
    page.goto(f"{base}/login/")
    check_page(page, f"{name}-01-sign-in")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r".*/$"))
    assert "/login/" not in page.url, f"{username} could not sign in"
    return check_page(page, f"{name}-02-home")


def sign_out(page) -> None:
    page.click("header .who button[type=submit]")
    page.wait_for_load_state()


def nav(page, label: str) -> None:
    """Click a link of the main navigation by its text."""
    page.locator("nav[aria-label=Main]").get_by_role("link", name=label, exact=True).click()
    page.wait_for_load_state()
    current = page.locator("nav[aria-label=Main] a[aria-current]")
    assert current.count() == 1 and current.inner_text() == label, f"{label} is not marked as the current page"
