"""``python -m web.screenshots``: screenshots of the web app for the README, taken in
headless Chromium from a running ``make run`` (its demo users).

    make run                                   # in one terminal; let the cases move a minute
    .venv/bin/python -m web.screenshots        # docs/screenshots/{inbox,case,dashboard}.png

The caseworker's inbox, a case page (``--case ID``, else the first Criminal Casework
case in the inbox) and the supervisor's dashboard. Opening the case is a consultation
like any other: it is in the access log with the demo caseworker's default purpose.
Chromium is the system's (``/usr/bin/chromium`` or ``FNO_CHROMIUM``); Playwright
downloads no browser.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any

from models.case import CASEWORK_PREFIX


async def _sign_in(page: Any, base: str, username: str, password: str) -> None:
    await page.goto(f"{base}/web/login")
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("button[type=submit]")
    await page.wait_for_load_state()


async def take(
    base: str,
    out: Path,
    passwords: dict[str, str],
    case: str | None,
    pages: tuple[str, ...] = ("inbox", "case", "dashboard"),
) -> list[Path]:
    from playwright.async_api import async_playwright

    chromium = os.environ.get("FNO_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    saved: list[Path] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, headless=True)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 860})
            page = await context.new_page()
            await _sign_in(page, base, "sam", passwords["sam"])
            await page.goto(f"{base}/web/inbox")
            if "inbox" in pages:
                saved.append(out / "inbox.png")
                await page.screenshot(path=str(saved[-1]), full_page=True)
            if "case" in pages:
                if case is None:
                    links = page.locator(f"table.cases a[href*='/web/cases/{CASEWORK_PREFIX}']")
                    if not await links.count():
                        links = page.locator("table.cases a[href*='/web/cases/']")
                    case = await links.first.inner_text()
                await page.goto(f"{base}/web/cases/{case}")
                saved.append(out / "case.png")
                await page.screenshot(path=str(saved[-1]), full_page=True)
            if "dashboard" in pages:
                await context.clear_cookies()
                await _sign_in(page, base, "sue", passwords["sue"])
                await page.goto(f"{base}/web/dashboard")
                saved.append(out / "dashboard.png")
                await page.screenshot(path=str(saved[-1]), full_page=True)
        finally:
            await browser.close()
    return saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m web.screenshots", description=__doc__)
    parser.add_argument("--base", default="http://localhost:8000", help="the HTTP API's URL")
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument(
        "--passwords",
        type=Path,
        default=Path(os.environ.get("FNO_HOME", ".fno")) / "web-demo-passwords.json",
        help="the demo users' passwords made by make run",
    )
    parser.add_argument("--case", default=None, help="the case to show")
    parser.add_argument(
        "--pages", default="inbox,case,dashboard", help="which of inbox, case, dashboard"
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    passwords = json.loads(args.passwords.read_text(encoding="utf-8"))
    pages = tuple(p.strip() for p in args.pages.split(",") if p.strip())
    for path in asyncio.run(take(args.base.rstrip("/"), args.out, passwords, args.case, pages)):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
