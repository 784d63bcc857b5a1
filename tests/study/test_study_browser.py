"""The study page in a real browser: headless Chromium opens ``index.html``, a ranking is
performed by clicking the page's elements (DOM events, as a person's clicks), the page is
reloaded half-way (the answers given so far come back from ``localStorage`` with a note), and
the ``answers.json`` that the page downloads is checked against the clicks and ``study.json``.

Driven through the Chrome DevTools Protocol over ``--remote-debugging-pipe``
(``study_cdp.py``, standard library only): no Selenium, no chromedriver to keep in step with
the browser's version, no extra Python package. Skipped when no Chromium is installed
(``apt-get install chromium``)."""

from __future__ import annotations

import json
import time

import pytest
import torch
from study_cdp import Browser, find_chromium

from qagen.study import score_study, write_study

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")


def _study(tmp_path):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 1, 24, 24, generator=g)
    recs = {
        "MSE": (x + 0.05 * torch.randn(x.shape, generator=g)).clamp(0, 1),
        "MAE": (x + 0.20 * torch.randn(x.shape, generator=g)).clamp(0, 1),
        "MS-SSIM": (x + 0.40 * torch.randn(x.shape, generator=g)).clamp(0, 1),
    }
    return write_study(tmp_path / "study", x, recs, seed=3, meta={"data": "test"})


def _load(b, session, page):
    """Open ``page`` and wait until its script ran (a new document, not the old one)."""
    b.evaluate(session, "window.qagenStudyAnswers = undefined")
    b.send("Page.navigate", {"url": page}, session)
    for _ in range(100):
        if b.evaluate(session, "document.readyState === 'complete' && !!window.qagenStudyAnswers"):
            return
        time.sleep(0.1)
    raise AssertionError(f"{page} did not load")


def _reload_restored(b, session, page, tries: int = 20) -> None:
    """Reload ``page`` until its saved answers are restored (``#restored`` shown).

    Chromium hands a page's ``localStorage`` writes to its browser process asynchronously; a
    navigation that lands in a fresh renderer can read the storage before the last writes
    arrived (seen once in CI under load: the note stayed hidden). A person reloading seconds
    later never meets this, so the test waits as they would, by reloading again, and still
    fails when the page never restores anything."""
    shown = "getComputedStyle(document.getElementById('restored')).display"
    for _ in range(tries):
        _load(b, session, page)
        if b.evaluate(session, shown) == "block":
            return
        time.sleep(0.25)
    raise AssertionError(f"{page}: the saved answers were not restored after {tries} reloads")


def test_ranking_in_chromium_downloads_the_answers(tmp_path):
    study = _study(tmp_path)
    page = (tmp_path / "study" / "index.html").resolve().as_uri()
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    b = Browser(CHROMIUM)
    try:
        b.send("Browser.setDownloadBehavior", {"behavior": "allow",
                                               "downloadPath": str(downloads)})  # fmt: skip
        target = b.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = b.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        b.send("Page.enable", session=session)
        _load(b, session, page)
        text = "document.getElementById('{}').textContent".format
        shown = "getComputedStyle(document.getElementById('{}')).display".format
        assert b.evaluate(session, shown("restored")) == "none"  # nothing saved yet
        b.evaluate(session, "document.getElementById('participant').value = 'p01'")
        b.evaluate(session, "document.getElementById('begin').click()")
        clicks = [[2, 0, 1], [0, 1, 2], [1, 2, 0], [2, 1, 0]]
        for t, order in enumerate(clicks):
            if t == 2:  # reload after two trials and one click of the third: all come back
                b.evaluate(session, f"document.querySelectorAll('.cand')[{order[0]}].click()")
                _reload_restored(b, session, page)
                note = b.evaluate(session, text("restored"))
                assert "2 of 4 trials complete) are restored" in note
                assert b.evaluate(session, "document.getElementById('participant').value") == "p01"
                assert b.evaluate(session, text("begin")) == "Continue"
                b.evaluate(session, "document.getElementById('begin').click()")
                assert b.evaluate(session, text("answered")) == "2 of 4 trials complete"
                b.evaluate(session, "document.getElementById('back').click()")
                ranked = b.evaluate(session, "Array.from(document.querySelectorAll("
                                    "'#ranking li')).map(li => li.dataset.position)")  # fmt: skip
                assert [int(p) for p in ranked] == clicks[1]
                b.evaluate(session, "document.getElementById('next').click()")
                # the partial ranking of trial 3 was kept too: take it back to click it all
                b.evaluate(session, f"document.querySelectorAll('.cand')[{order[0]}].click()")
            counter = b.evaluate(session, "document.getElementById('counter').textContent")
            assert counter == f"Trial {t + 1} of 4"
            assert b.evaluate(session, "document.getElementById('next').disabled") is True
            if t == 1:  # take one back and redo it: the ranking must follow the clicks
                b.evaluate(session, "document.querySelectorAll('.cand')[2].click()")
                b.evaluate(session, "document.querySelectorAll('.cand')[2].click()")
            for pos in order:
                b.evaluate(session, f"document.querySelectorAll('.cand')[{pos}].click()")
            ranked = b.evaluate(
                session,
                "Array.from(document.querySelectorAll('#ranking li')).map(li => li.dataset.position)",
            )
            assert [int(p) for p in ranked] == order
            b.evaluate(session, "document.getElementById('next').click()")
        assert (
            b.evaluate(session, "getComputedStyle(document.getElementById('done')).display")
            == "block"
        )
        shot = b.send("Page.captureScreenshot", {"format": "png"}, session)
        assert len(shot["data"]) > 1000
        b.evaluate(session, "document.getElementById('download').click()")
        path = downloads / "answers.json"
        for _ in range(100):
            if path.is_file() and path.stat().st_size > 0:
                break
            time.sleep(0.1)
        assert path.is_file(), f"no download in {downloads}: {list(downloads.iterdir())}"
        # "Start afresh" (the next person on this computer) deletes the saved answers
        _reload_restored(b, session, page)
        assert "4 of 4 trials complete" in b.evaluate(session, text("restored"))
        b.evaluate(session, "document.getElementById('afresh').click()")
        key = f"localStorage.getItem('qagen-study:{study['study_id']}')"
        assert b.evaluate(session, key) is None
        assert b.evaluate(session, "document.getElementById('participant').value") == ""
        b.evaluate(session, "document.getElementById('begin').click()")
        assert b.evaluate(session, text("answered")) == "0 of 4 trials complete"
        assert b.evaluate(session, text("counter")) == "Trial 1 of 4"
    finally:
        b.close()
    ans = json.loads(path.read_text())
    assert ans["format"] == "qagen-study-answers/1"
    assert ans["study_id"] == study["study_id"]
    assert ans["participant"] == "p01"
    for t, (row, ref, order) in enumerate(zip(ans["trials"], study["trials"], clicks, strict=True)):
        assert row["trial"] == t
        assert row["order"] == ref["order"]  # the random order shown, as recorded by the study
        assert row["positions"] == order
        assert row["ranking"] == [ref["order"][p] for p in order]
    scores = score_study(tmp_path / "study", [path])
    assert scores.n_rankings == 4
    assert sum(scores.counts["MSE"]) == 4
