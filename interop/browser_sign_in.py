#!/usr/bin/env python3
"""The emulator's sign-in page in a real browser: headless Chromium driven by selenium.

Opens the sign-in URL, takes a screenshot of the page, clicks the button of one user and waits
for the browser to land on the redirect URI with a code. Nothing needs to listen there: the
navigation fails, and the URL it was going to is the answer.

Prints a JSON summary ({"ok": ..., "final_url": ..., ...}) on stdout; exits 1 on failure.
tests/browser_sign_in.rs runs it and redeems the code.
"""

import argparse
import json
import os
import sys
import tempfile
import time
import traceback

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

# The flags that work on the CI machines (no sandbox as root, no GPU, nothing fetched in the
# background); a fresh profile per run.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1000,900",
]


def options():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", required=True, help="the sign-in (authorize) URL")
    p.add_argument("--user", required=True, help="the UPN whose button to click")
    p.add_argument("--redirect-prefix", required=True, help="where the browser must end, e.g. http://localhost:3000/?code=")
    p.add_argument("--screenshot", required=True, help="PNG file for the sign-in page")
    p.add_argument("--chromium", default=os.environ.get("ENTRA_INTEROP_CHROMIUM", "/usr/bin/chromium"))
    p.add_argument("--chromedriver", default=os.environ.get("ENTRA_INTEROP_CHROMEDRIVER", "/usr/bin/chromedriver"))
    p.add_argument("--timeout", type=float, default=20.0)
    return p.parse_args()


def xpath_literal(s):
    if "'" not in s:
        return f"'{s}'"
    return "concat('" + "', \"'\", '".join(s.split("'")) + "')"


def run(args, profile):
    opts = webdriver.ChromeOptions()
    opts.binary_location = args.chromium
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={profile}"]:
        opts.add_argument(flag)
    service = Service(executable_path=args.chromedriver)
    driver = webdriver.Chrome(service=service, options=opts)
    try:
        driver.set_page_load_timeout(args.timeout)
        driver.get(args.url)
        wait = WebDriverWait(driver, args.timeout)
        wait.until(lambda d: d.find_elements(By.TAG_NAME, "h1"))
        heading = driver.find_element(By.TAG_NAME, "h1").text
        title = driver.title
        users = [e.get_attribute("value") for e in driver.find_elements(By.CSS_SELECTOR, "form input[name=user]")]
        os.makedirs(os.path.dirname(os.path.abspath(args.screenshot)), exist_ok=True)
        if not driver.save_screenshot(args.screenshot):
            raise AssertionError(f"could not save the screenshot to {args.screenshot}")
        button = driver.find_element(
            By.XPATH,
            f"//form[input[@name='user' and @value={xpath_literal(args.user)}]]//button[@type='submit']",
        )
        label = button.text
        button.click()
        try:
            wait.until(lambda d: d.current_url.startswith(args.redirect_prefix))
        except TimeoutException:
            raise AssertionError(
                f"the browser is at {driver.current_url!r}, not at {args.redirect_prefix}...; "
                f"page: {driver.page_source[:800]!r}"
            ) from None
        return {
            "ok": True,
            "title": title,
            "heading": heading,
            "users": users,
            "clicked": label,
            "final_url": driver.current_url,
            "screenshot": os.path.abspath(args.screenshot),
            "browser": driver.capabilities.get("browserVersion"),
        }
    finally:
        driver.quit()


def main():
    args = options()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="entra-interop-chromium-") as profile:
        try:
            summary = run(args, profile)
        except Exception as e:  # noqa: BLE001 - the failure goes into the summary
            traceback.print_exc()
            summary = {"ok": False, "error": f"{type(e).__name__}: {e}"}
    summary["seconds"] = round(time.monotonic() - started, 2)
    print(json.dumps(summary, indent=2))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
