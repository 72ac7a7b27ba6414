"""The code in the documentation pages runs, and prints what the pages show.

- ``pycon`` blocks (``>>>`` examples, e.g. the Python entry point of docs/simulations.md) run as
  doctests, one namespace per page.
- The tutorial's ``python`` blocks run in order in one namespace; the ``text`` block right
  after a ``python`` block is what that code prints, compared line by line (numbers within the
  printed rounding). A block preceded by ``<!-- docs-test: skip: REASON -->`` is not run, and
  the test says why.
"""
import contextlib
import doctest
import io
import re
from pathlib import Path

import numpy as np
import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
_FENCE = re.compile(r"(?P<marker><!-- docs-test: skip: (?P<reason>[^>]*?) -->\s*\n)?"
                    r"^```(?P<lang>[\w-]*)\n(?P<body>.*?)^```\s*$", re.MULTILINE | re.DOTALL)


def blocks(page):
    """``(lang, body, skip reason or None)`` of every fenced block of *page*, in order."""
    return [(m["lang"], m["body"], m["reason"]) for m in _FENCE.finditer(page.read_text())]


def _pages_with_pycon():
    return [p for p in sorted(DOCS.glob("**/*.md")) if any(b[0] == "pycon" for b in blocks(p))]


def test_the_simulations_page_has_a_tested_python_example():
    assert DOCS / "simulations.md" in _pages_with_pycon()


@pytest.mark.parametrize("page", _pages_with_pycon(), ids=lambda p: p.name)
def test_pycon_examples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = "\n".join(b for lang, b, skip in blocks(page) if lang == "pycon" and not skip)
    test = doctest.DocTestParser().get_doctest(text, {}, page.name, str(page), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0, f"an example of {page.name} failed"


_NUMBER = re.compile(r"-?\d+(?:\.\d*)?(?:e[-+]?\d+)?", re.IGNORECASE)


def _same_printout(got, shown):
    """Equal line by line, numbers equal to the digits shown (the last digit may differ by 1)."""
    g_lines, s_lines = got.strip().splitlines(), shown.strip().splitlines()
    if len(g_lines) != len(s_lines):
        return False
    for g, s in zip(g_lines, s_lines):
        # numpy pads arrays with spaces: compare the words and the count of numbers only
        if "".join(_NUMBER.sub("#", g).split()) != "".join(_NUMBER.sub("#", s).split()):
            return False
        for a, b in zip(_NUMBER.findall(g), _NUMBER.findall(s)):
            digits = len(b.split(".")[1].split("e")[0]) if "." in b else 0
            exp = int(b.lower().split("e")[1]) if "e" in b.lower() else 0
            if abs(float(a) - float(b)) > 1.01 * 10.0 ** (exp - digits):
                return False
    return True


def _run_tutorial(run_skipped):
    page = DOCS / "tutorial.md"
    found = blocks(page)
    namespace, ran, skipped = {}, 0, []
    for i, (lang, body, skip) in enumerate(found):
        if lang != "python":
            continue
        if skip and not run_skipped:
            skipped.append(skip)
            continue
        out = io.StringIO()
        with contextlib.redirect_stdout(out), np.printoptions(legacy=False):
            exec(compile(body, f"{page.name} block {i}", "exec"), namespace)  # noqa: S102
        ran += 1
        following = found[i + 1] if i + 1 < len(found) else None
        shown = following[1] if following is not None and following[0] == "text" else ""
        assert _same_printout(out.getvalue(), shown), (
            f"tutorial block {i} prints\n{out.getvalue()}\nbut the page shows\n{shown}")
    return ran, skipped


def test_the_tutorial_prints_what_it_shows(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ran, skipped = _run_tutorial(run_skipped=False)
    assert ran >= 1
    if skipped:
        pytest.skip(f"ran {ran} tutorial block(s); skipped: {'; '.join(skipped)}")


@pytest.mark.slow
def test_the_whole_tutorial_prints_what_it_shows(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ran, _ = _run_tutorial(run_skipped=True)
    assert ran == sum(lang == "python" for lang, _, _ in blocks(DOCS / "tutorial.md"))


def test_the_printout_comparison_can_fail():
    assert _same_printout("a: [1.23 4.5 ]", "a: [1.23 4.5]")
    assert _same_printout("x 0.12346", "x 0.12345")
    assert not _same_printout("x 0.12349", "x 0.12345")
    assert not _same_printout("a: [1.23 4.5]", "b: [1.23 4.5]")
    assert not _same_printout("a: 1\nb: 2", "a: 1")
