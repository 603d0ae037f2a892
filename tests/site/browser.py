"""Headless Chromium from Debian's packages, driven by Selenium through Debian's ChromeDriver."""

from __future__ import annotations

import tempfile
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

# Flags that let Chromium start as root on a machine with no network beyond localhost: without
# the background-networking ones it keeps trying (and failing) to reach Google's services.
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1280,1000",
)

# Resolves once MathJax has typeset the page (or at once on a page without math); the value
# says which, or why it failed.
WAIT_FOR_MATHJAX = """
const done = arguments[arguments.length - 1];
const start = Date.now();
(function poll() {
  const mj = window.MathJax;
  if (!document.querySelector('script[src*="mathjax"]')) { done("no-math"); return; }
  if (mj && mj.startup && mj.startup.promise) {
    mj.startup.promise.then(() => done("typeset"), (e) => done("error: " + e));
  } else if (Date.now() - start > 20000) {
    done("error: MathJax never started");
  } else {
    setTimeout(poll, 50);
  }
})();
"""


def start():
    """A fresh headless Chromium with its own empty profile and the console log recorded."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='chromium-')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(30)
    return driver


def full_page_screenshot(driver, path: Path, max_height: int = 12000) -> None:
    """Save the whole page (up to ``max_height`` CSS pixels) as a PNG at ``path``."""
    import base64

    height = driver.execute_script("return document.documentElement.scrollHeight")
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": 1280, "height": min(height, max_height), "scale": 1},
    })
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))
