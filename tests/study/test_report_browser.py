"""The HTML report in a real headless Chromium: its figures render, without JavaScript errors, offline.

Needs the Debian packages `chromium` and `chromium-driver` (`.ci/run` installs them) and selenium.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pytest

from study import export as exporter
from written_study import write_study

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1400,1000"]
WAIT_S = 30.0  # seconds for the page to draw every figure (a few seconds on 2 CPU cores)


def _wait(predicate, what: str, timeout: float = WAIT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        pytest.skip(f"{CHROMIUM} or {CHROMEDRIVER} is absent: install the Debian packages chromium and "
                    "chromium-driver (.ci/run does) to open the report in a real browser")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium (requirements.lock) is not installed")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="xstudy-chromium-")
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in [*FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def page(browser, tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    uri = write_study(str(root / "syn"))
    original = exporter.draw
    exporter.draw = lambda tables, folder: {}  # the static figures are not what this test looks at
    try:
        written = exporter.export(uri)
    finally:
        exporter.draw = original
    url = Path(written["report"]).as_uri()
    browser.get(url)
    # chromedriver can hand back control before a large page is parsed (the inline plotly.js is ~5 MB), more
    # so on a loaded machine: wait for this document, loaded whole, before counting what it holds.
    _wait(lambda: browser.current_url == url and browser.execute_script("return document.readyState") == "complete",
          f"{url} to load (now at {browser.current_url})")
    expected = browser.execute_script("return document.querySelectorAll('.plotly-graph-div').length")
    assert expected == 9  # 3 front figures (overall, 2 tasks), gains, size comparison, 3 heatmaps, signal
    _wait(lambda: browser.execute_script(
        "return Array.from(document.querySelectorAll('.plotly-graph-div'))"
        ".every(d => d.classList.contains('js-plotly-plot') && d.querySelector('.main-svg'))"
    ), "every figure to be drawn")
    return browser, root


def test_every_figure_renders_without_errors(page):
    browser, root = page
    assert browser.execute_script("return typeof Plotly === 'object' && Plotly.version")  # the inline plotly.js
    counts = browser.execute_script(
        "return Array.from(document.querySelectorAll('.plotly-graph-div')).map(d => ["
        "  d.id, d._fullData.length, d.querySelectorAll('.point, .heatmaplayer image').length])"
    )
    for div_id, traces, marks in counts:
        assert traces > 0 and marks > 0, f"{div_id}: {traces} traces, {marks} drawn marks"
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, errors
    height = browser.execute_script("return document.body.scrollHeight")
    browser.set_window_size(1400, min(height, 16_000))  # pixels: the whole page in one screenshot
    shot = root / "report.png"
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 100_000  # bytes
    print(f"screenshot of the report: {shot}")


def test_a_click_on_a_size_in_the_legend_isolates_it(page):
    browser, _ = page
    visible = ("return document.getElementById('pareto-0').data"
               ".filter(t => t.visible === undefined || t.visible === true).map(t => t.legendgroup)")
    assert set(browser.execute_script(visible)) == {"small", "large", "all"}
    item = browser.find_elements("css selector", "#pareto-0 .legend .traces .legendtoggle")[0]
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", item)
    item.click()
    _wait(lambda: set(browser.execute_script(visible)) == {"small"}, "the click to leave the small size alone")
    time.sleep(0.5)  # seconds: past plotly's double-click window, so the next click is a click again
    browser.find_elements("css selector", "#pareto-0 .legend .traces .legendtoggle")[0].click()
    _wait(lambda: set(browser.execute_script(visible)) == {"small", "large", "all"}, "a second click to show all")


def test_hover_shows_the_trial_configuration(page):
    browser, _ = page
    text = browser.execute_script(
        "var gd = document.getElementById('pareto-0');"
        "Plotly.Fx.hover(gd, [{curveNumber: 0, pointNumber: 1}], 'xy');"
        "var box = gd.querySelector('.hoverlayer .hovertext'); return box ? box.textContent : null;"
    )
    assert text and "target_lr = 3e-05" in text and "seeds 0,1,2" in text and "small" in text
