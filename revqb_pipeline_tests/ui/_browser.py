"""Debian's Chromium, headless, driven by Selenium through Debian's matching ``chromedriver``; and the
Dagster webserver of a test instance.

Chromium and chromedriver come from apt (``make browser``, a prerequisite of ``make test``); the tests
skip locally and fail in CI (``CI=true``) when either is missing. Nothing is downloaded at run time:
the driver is given by path, so Selenium Manager never runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from revqb_pipeline_tests._deployment import free_port
from revqb_pipeline_tests._postgres import IN_CI

CHROMIUM = Path(os.environ.get("REVQB_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("REVQB_CHROMEDRIVER", "/usr/bin/chromedriver"))
WAIT_S = 45.0
#: Where screenshots are copied besides the test's tmp dir (set it to keep them after the run).
SCREENSHOT_DIR_ENV = "REVQB_SCREENSHOT_DIR"


def require_chromium() -> None:
    """Skip locally, fail in CI, when Chromium or its driver is not installed (``make browser``)."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if not missing:
        return
    msg = (
        f"not installed: {', '.join(missing)} (run `make browser`: apt-get install chromium chromium-driver)"
    )
    if IN_CI:
        pytest.fail(msg)
    pytest.skip(msg)


@contextmanager
def chromium(width: int = 1600, height: int = 1300) -> Iterator[WebDriver]:
    """A headless Chromium window of ``width`` x ``height`` CSS pixels."""
    require_chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",  # root in containers and CI
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={width},{height}",
        "--lang=en-US",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(WAIT_S)
    try:
        yield driver
    finally:
        driver.quit()


def body_text(driver: WebDriver) -> str:
    return driver.find_element(By.TAG_NAME, "body").text


def wait_for_text(driver: WebDriver, *texts: str, timeout: float = WAIT_S) -> str:
    """Wait until the page shows every one of ``texts``; the page text (the missing ones named on timeout)."""
    try:
        WebDriverWait(driver, timeout, poll_frequency=0.25).until(
            lambda d: all(t in body_text(d) for t in texts)
        )
    except TimeoutException:
        shown = body_text(driver)
        missing = [t for t in texts if t not in shown]
        raise AssertionError(
            f"not shown after {timeout:.0f}s: {missing}\n--- page ---\n{shown[:3000]}"
        ) from None
    return body_text(driver)


def wait_for(driver: WebDriver, xpath: str, timeout: float = WAIT_S) -> WebElement:
    """The first visible element matching ``xpath``, waited for."""
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.25).until(
            lambda d: next((e for e in d.find_elements(By.XPATH, xpath) if e.is_displayed()), False)
        )
    except TimeoutException:
        raise AssertionError(f"no visible {xpath} after {timeout:.0f}s\n{body_text(driver)[:3000]}") from None


def screenshot(driver: WebDriver, tmp_path: Path, name: str) -> Path:
    """The window as ``<tmp_path>/<name>.png`` (and a copy in $REVQB_SCREENSHOT_DIR when set)."""
    path = tmp_path / f"{name}.png"
    assert driver.save_screenshot(str(path)), path
    assert path.stat().st_size > 10_000, f"{path}: {path.stat().st_size} bytes, an empty page?"
    keep = os.environ.get(SCREENSHOT_DIR_ENV)
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / path.name)
    return path


@contextmanager
def dagster_webserver(home: Path, workspace: Path, env: dict[str, str], log: Path) -> Iterator[str]:
    """``dagster-webserver`` on a free loopback port over the instance in ``home``; its base URL once it
    answers. The instance's onboarding dialog is turned off (``nux``) so it does not cover the page."""
    config = home / "dagster.yaml"
    text = config.read_text() if config.exists() else ""
    if "nux:" not in text:
        config.write_text(text.rstrip("\n") + "\nnux:\n  enabled: false\n")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    exe = Path(sys.executable).with_name("dagster-webserver")
    cmd = [str(exe), "-h", "127.0.0.1", "-p", str(port), "-w", str(workspace)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=home, env={**env, "DAGSTER_HOME": str(home)}, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        _wait_until_serving(url, proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_until_serving(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"dagster-webserver exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/server_info", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"dagster-webserver not serving after {timeout:.0f}s:\n{log.read_text()[-3000:]}")
