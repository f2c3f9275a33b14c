"""check_page(page, name): the checks every page a journey visits must pass.

1. axe-core (shipped inside axe-playwright-python, so nothing is downloaded) finds no violation of
   impact "serious" or "critical" — WCAG AA colour contrast, labels on controls, landmark names…
2. At 800 px and 1400 px wide the page has no horizontal overflow
   (`document.documentElement.scrollWidth <= window.innerWidth`), and a full-page screenshot is kept
   as var/screenshots/<name>-<width>.png.
3. No Content-Security-Policy violation was reported by the page (a listener installed by
   `watch_csp(page)` records `securitypolicyviolation` events; journeys call it once per page fixture).
4. The navigation timing of the last load is returned as {"name", "load_ms"} and appended as one
   JSON line to var/screenshots/load_times.jsonl, which the issue's closing note quotes.
"""

from __future__ import annotations

import json
from pathlib import Path

from axe_playwright_python.sync_playwright import Axe

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
LOAD_TIMES = SCREENSHOTS / "load_times.jsonl"
WIDTHS = (800, 1400)
BLOCKING_IMPACTS = {"serious", "critical"}

_axe = Axe()

# Runs in every document before its own scripts: CSP violations (inline style or script refused)
# are recorded on window so check_page can read them after the fact.
_CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', e => {
  window.__cspViolations.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline') + ' ' +
    (e.sourceFile || '') + ':' + (e.lineNumber || ''));
});
"""


def watch_csp(page) -> None:
    """Install the CSP-violation listener on every document this page loads from now on."""
    page.add_init_script(_CSP_LISTENER)


def _serious_violations(page) -> list[str]:
    results = _axe.run(page)
    lines = []
    for v in results.response["violations"]:
        if v.get("impact") in BLOCKING_IMPACTS:
            targets = ", ".join(str(n.get("target")) for n in v["nodes"][:5])
            lines.append(f"{v['id']} ({v['impact']}): {v['help']} — {len(v['nodes'])} node(s): {targets}")
    return lines


def _load_ms(page) -> float:
    timing = page.evaluate("""() => {
        const n = performance.getEntriesByType('navigation')[0];
        return n ? (n.loadEventEnd > 0 ? n.loadEventEnd : n.domContentLoadedEventEnd) - n.startTime : null;
    }""")
    return round(float(timing), 1) if timing is not None else -1.0


_WIDEST_JS = """() => {
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    let clipped = false;
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(a).overflowX)) { clipped = true; break; }
    }
    if (!clipped && r.right > window.innerWidth + 1 && el.children.length === 0) {
      out.push(el.tagName.toLowerCase() + (el.className ? '.' + String(el.className).split(' ').join('.') : '')
               + ' right=' + Math.round(r.right));
    }
    if (out.length >= 5) break;
  }
  return out;
}"""


def check_page(page, name: str) -> dict:
    page.wait_for_load_state("load")
    problems = _serious_violations(page)
    assert not problems, f"{name}: axe found serious/critical violations at {page.url}:\n" + "\n".join(problems)

    csp = page.evaluate("() => window.__cspViolations || null")
    assert not csp, f"{name}: Content-Security-Policy violations at {page.url}: {csp}"

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    original = page.viewport_size
    try:
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            # Responsive charts re-lay out on the resize (a ResizeObserver, then a frame): measure after it.
            page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
            page.wait_for_timeout(250)
            scroll, inner = page.evaluate(
                "() => [document.documentElement.scrollWidth, window.innerWidth]"
            )
            if scroll > inner:
                # Name the widest elements that stick out, so the failure says where to look.
                culprits = page.evaluate(_WIDEST_JS)
                raise AssertionError(
                    f"{name}: horizontal overflow at {width} px ({scroll} > {inner}) on {page.url}; "
                    f"elements past the edge: {culprits}"
                )
            page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
    finally:
        if original:
            page.set_viewport_size(original)

    result = {"name": name, "load_ms": _load_ms(page)}
    with LOAD_TIMES.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(result) + "\n")
    return result
