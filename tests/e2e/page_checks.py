"""check_page(page, name): the checks every journey page passes (issue 18, items 9 and "Done when").

1. axe-core (shipped inside `axe-playwright-python`, nothing downloaded) finds no violation of impact
   serious or critical;
2. at 800 px and 1400 px wide the page has no horizontal overflow (scrollWidth <= innerWidth), and a
   full-page screenshot goes to var/screenshots/<name>-<width>.png;
3. the navigation timing of the page's last load is returned and appended to
   var/screenshots/load_times.jsonl as {"name", "load_ms"}.
"""

from __future__ import annotations

import json
from pathlib import Path

from axe_playwright_python.sync_playwright import Axe

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
WIDTHS = (800, 1400)
BLOCKING = ("serious", "critical")
_axe = Axe()

_LOAD_MS = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  if (nav && nav.loadEventEnd > 0) { return nav.loadEventEnd - nav.startTime; }
  const t = performance.timing;
  return t.loadEventEnd > 0 ? t.loadEventEnd - t.navigationStart : null;
}"""


def _violations(page) -> list[str]:
    results = _axe.run(page)
    out = []
    for v in results.response.get("violations", []):
        if v.get("impact") in BLOCKING:
            targets = "; ".join(", ".join(n.get("target", [])) for n in v.get("nodes", [])[:5])
            out.append(f"{v['impact']} {v['id']}: {v.get('help', '')} — {targets}")
    return out


def check_page(page, name: str) -> dict:
    page.wait_for_load_state("load")
    load_ms = page.evaluate(_LOAD_MS)
    problems = [f"axe: {v}" for v in _violations(page)]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    original = page.viewport_size or {"width": 1400, "height": 1000}
    try:
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": original["height"]})
            scroll, inner = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
            if scroll > inner:
                problems.append(f"overflow at {width}px: scrollWidth {scroll} > innerWidth {inner}")
            page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
    finally:
        page.set_viewport_size(original)
    assert not problems, f"{name} ({page.url}):\n" + "\n".join(problems)
    record = {"name": name, "load_ms": None if load_ms is None else round(float(load_ms), 1)}
    with (SCREENSHOTS / "load_times.jsonl").open("a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
    return record
