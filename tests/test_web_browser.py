"""The web app end to end in a real browser: headless Chromium (the system's, driven by
Playwright) against a live uvicorn server, on the real dev server with a worker.

A caseworker signs in and finds their own task first in the inbox (the case a CC
manager allocated to them), then their team's unassigned one; opens the case, where no
answer that changes the outcome is chosen for them; decides, and the confirmation names
the stage the case is now at, as the stage box under it does; the decision is on the
timeline; the same decision sent again from a form left open is refused with the case's
reason; a supervisor sees the case without any form, with its access log, and the
dashboard with its charts.

Chromium is the Debian package (``/usr/bin/chromium``, or ``FNO_CHROMIUM``): Playwright
never downloads a browser here. Without it these tests fail, saying so. With
``FNO_WEB_SCREENSHOTS=DIR`` the inbox, the case page and the dashboard are saved there
as PNG (``docs/screenshots``: see the README)."""

from __future__ import annotations

import os
import re
import shutil
import uuid
from pathlib import Path

import pytest

from models.case import Stage
from sim.world_file import ReplySpec, SubjectSpec
from tests.support import (
    allocate,
    custody_event,
    decide,
    decision,
    harness,
    patient_policy,
    state_of,
    until,
)
from tests.support_web import PASSWORDS, build_app, casework_awaiting_located, live_server

pytestmark = pytest.mark.devserver
SIGN_OUT = "form[action$='/logout'] button"


def chromium() -> str:
    path = os.environ.get("FNO_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail(
            f"Chromium not found at {path}: install the Debian package (apt-get install -y "
            "chromium; .ci/run does) or set FNO_CHROMIUM. The browser tests do not skip."
        )
    return path


async def test_caseworker_decides_in_the_browser_and_a_supervisor_only_reads(dev_env, tmp_path):
    from playwright.async_api import async_playwright, expect

    expect.set_options(timeout=15_000)  # a loaded CI machine: pages read a live case
    shots = os.environ.get("FNO_WEB_SCREENSHOTS")
    force = f"t{uuid.uuid4().hex[:8]}"
    # Patient: pages load and forms are sent at a browser's pace, and with the statutory
    # ICE tasking at 0.2 s a day a weekly status poll (no decision awaited) came every 1.4 s.
    async with harness(dev_env, tmp_path, policy=patient_policy()) as h:
        # Beside the case the test decides on, a few others fill the inbox and dashboard.
        others = [
            custody_event(nationality="DE", force=force),
            custody_event(nationality="NG", force=force),
            custody_event(nationality="BG", force=force, place_of_birth=None),
        ]
        h.world(others[0], SubjectSpec(replies={"DE": ReplySpec(after_days=0.01)}))
        h.world(others[1], SubjectSpec(replies={"NG": ReplySpec(after_days=None)}))
        for event in others:
            await h.start(event)
        event = custody_event(nationality="PL", force=force, family_name="Nowak")
        casework_id = await casework_awaiting_located(h, event)
        await until(
            h.client.get_workflow_handle(others[2].case_id()),
            lambda s: "identity_data_supplied" in s.awaiting,
        )

        # ICE reports the subject located; a CC manager allocates the case to Sam
        # (issue 21): the located checklist's first task is Sam's.
        handle = h.client.get_workflow_handle(casework_id)
        located = decision(
            "Officer Hale", "ice_officer", "arrested in Hove", kind="subject_located"
        )
        await decide(handle, located)
        await allocate(handle, "Sam Jones", owner_id="local:sam", team="CC Team North")
        await until(handle, lambda s: "offending_history_review" in s.awaiting, within=120)

        async with live_server(build_app(h.client, h.store)) as base, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium(), headless=True)
            try:
                context = await browser.new_context(viewport={"width": 1280, "height": 900})
                page = await context.new_page()
                # Sign in: the home page sends to the sign-in form first.
                await page.goto(f"{base}/")
                await expect(page).to_have_url(re.compile(r"/web/login"))
                await page.fill("#username", "sam")
                await page.fill("#password", "wrong password")
                await page.click("button[type=submit]")
                await expect(page.get_by_role("alert")).to_be_visible()  # refused
                await expect(page).to_have_url(re.compile(r"/web/login"))
                await page.fill("#password", PASSWORDS["sam"])
                await page.click("button[type=submit]")
                await expect(page).to_have_url(re.compile(r"/web/inbox$"))

                # My task first (the case allocated to me), then my team's unassigned
                # one (the officer's missing identity data), each with who it is about.
                link = page.get_by_role("link", name=casework_id)
                asked = page.get_by_role("link", name=others[2].case_id())
                for _ in range(60):
                    if await link.count() and await asked.count():
                        break
                    await page.wait_for_timeout(500)
                    await page.reload()
                rows = page.locator("table.cases tbody tr")
                await expect(rows.first.get_by_role("link", name=casework_id)).to_be_visible()
                await expect(rows.first).to_contain_text("me")
                await expect(rows.first.locator("td.subject")).to_contain_text("Nowak")
                mine = await rows.evaluate_all(
                    "rs => rs.map(r => r.querySelector('a').textContent.trim())"
                )
                assert mine.index(casework_id) < mine.index(others[2].case_id()), mine
                if shots:
                    await _shot(page, shots, "inbox")
                await link.click()
                stage = (await state_of(handle)).stage
                assert stage is Stage.OFFENDING_HISTORY_REVIEW
                await expect(page.locator("#stage")).to_have_text(stage.value)
                await expect(page.locator("#subject-name")).to_contain_text("Nowak")
                await expect(page.locator("#access-log")).to_have_count(0)  # a caseworker
                await expect(page.locator("#case-owner")).to_have_text("Sam Jones")

                # A second tab with the same form, left open (it will be stale).
                stale = await context.new_page()
                await stale.goto(page.url)

                # No answer chosen for me: the yes/no that decides a further ACRO check.
                form = page.locator("#decide-offending_history_review")
                await expect(form.locator("input[type=radio]")).to_have_count(2)
                await expect(form.locator("input[type=radio]:checked")).to_have_count(0)
                await form.locator("input[name='f.offended_abroad_since'][value='false']").check()
                await form.locator("textarea[name=reason]").fill("PNC print matches the referral")
                await form.get_by_role("button").click()
                # The confirmation names the stage the decision led to, as the box does.
                now_at = Stage.INVESTIGATING_OFFICER.value
                await expect(page.locator(".flash")).to_contain_text(now_at)
                await expect(page.locator("#stage")).to_have_text(now_at)
                timeline = page.locator("#timeline")
                await expect(timeline).to_contain_text("PNC print matches the referral")
                await expect(timeline).to_contain_text("Sam Jones")
                # The next form chooses nothing either: yes/no and the re-documentation.
                answer = page.locator("#decide-investigating_officer_answer")
                await expect(answer.locator("input[type=radio]:checked")).to_have_count(0)
                await expect(answer.locator("select[name='f.redocumentation']")).to_have_value("")
                if shots:
                    await _shot(page, shots, "case")

                # The stale form: the case refuses, and says why.
                old = stale.locator("#decide-offending_history_review")
                await old.locator("input[name='f.offended_abroad_since'][value='true']").check()
                await old.locator("textarea[name=reason]").fill("found him too")
                await old.get_by_role("button").click()
                # The case's reason shown, nothing changed, the refusal on the timeline.
                await expect(stale.locator("#refusal")).to_be_visible()
                await expect(stale.locator("#stage")).to_have_text(now_at)
                await expect(stale.locator("#timeline tr.entry-refusal")).to_have_count(1)
                # located (ICE), allocated (CC manager), the review (Sam)
                await expect(stale.locator("#timeline tr.entry-decision")).to_have_count(3)

                # Sign out; a supervisor reads the same case: no form, the access log.
                await page.locator(SIGN_OUT).click()
                await expect(page.get_by_role("status")).to_be_visible()
                await expect(page).to_have_url(re.compile(r"/web/login"))
                await page.fill("#username", "sue")
                await page.fill("#password", PASSWORDS["sue"])
                await page.click("button[type=submit]")
                await expect(page).to_have_url(re.compile(r"/web/dashboard$"))
                await page.goto(f"{base}/web/cases/{casework_id}")
                await expect(page.locator("#no-decisions")).to_be_visible()
                await expect(page.locator("form.decision")).to_have_count(0)
                log = page.locator("#access-log")
                await expect(log).to_contain_text("Sam Jones")
                await expect(log).to_contain_text("PNC print matches the referral")
                await expect(log).to_contain_text("supervision and quality review")

                await page.goto(f"{base}/web/dashboard")
                await expect(page.locator("svg.chart")).to_have_count(5)
                await expect(page.locator("#tile-cases")).not_to_have_text("0")
                if shots:
                    await _shot(page, shots, "dashboard")

                # Search: by force and kind, the case found again.
                await page.goto(f"{base}/web/cases?force={force}&kind=casework")
                await expect(page.get_by_role("link", name=casework_id)).to_be_visible()

                # Back as the caseworker: the case is among "my open cases" as its owner.
                await page.locator(SIGN_OUT).click()
                await page.fill("#username", "sam")
                await page.fill("#password", PASSWORDS["sam"])
                await page.click("button[type=submit]")
                await page.locator("a[href*='/cases?owner=']").click()
                await expect(page.get_by_role("link", name=casework_id)).to_be_visible()
            finally:
                await browser.close()


async def _shot(page, folder: str, name: str) -> None:
    os.makedirs(folder, exist_ok=True)
    await page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)
