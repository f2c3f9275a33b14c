"""check_page can fail: a page that overflows at 800 px, a control without a label, text too pale to read,
and an inline style refused by the CSP are each reported."""

from __future__ import annotations

import pytest

from tests.e2e.page_checks import check_page, watch_csp

pytestmark = pytest.mark.e2e

FINE = "<!doctype html><html lang='en'><head><title>t</title></head><body><main><h1>Fine</h1>{}</main></body></html>"


def test_a_clean_page_passes_and_records_its_load_time(page):
    page.set_content(FINE.format("<p>Readable text.</p>"))
    result = check_page(page, "page-checks-clean")
    assert result["name"] == "page-checks-clean" and isinstance(result["load_ms"], float)


def test_a_page_wider_than_800_px_fails(page):
    page.set_content(FINE.format("<table><tr><td><pre>" + "x" * 300 + "</pre></td></tr></table>"))
    with pytest.raises(AssertionError, match="horizontal overflow at 800 px"):
        check_page(page, "page-checks-overflow")


def test_an_unlabelled_control_or_pale_text_is_a_serious_violation(page):
    page.set_content(FINE.format("<form><select name='x'><option>a</option></select></form>"))
    with pytest.raises(AssertionError, match="select-name"):
        check_page(page, "page-checks-label")
    page.set_content(FINE.format("<p><span class='badge' style='color:#fff;background:#e0a040'>amber</span></p>"))
    with pytest.raises(AssertionError, match="color-contrast"):
        check_page(page, "page-checks-contrast")


def test_a_csp_violation_fails(page, live_server):
    watch_csp(page)
    # A real page of the app, then an inline style injected as markup: the app's CSP refuses it.
    page.goto(f"{live_server.url}/login/")
    page.evaluate("""() => { const d = document.createElement('div');
        d.innerHTML = '<p style="color:red">x</p>'; document.body.appendChild(d); }""")
    page.wait_for_timeout(200)
    with pytest.raises(AssertionError, match="Content-Security-Policy"):
        check_page(page, "page-checks-csp")
