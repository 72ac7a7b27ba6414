"""The documentation stays true to the code: every command and option the docs name exists, and
the command-line reference page is exactly what ``--help`` prints."""
import importlib.util
import re
from pathlib import Path

import click
import pytest

from noprune_theory.cli import cli

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("**/*.md")) + [ROOT / "README.md"]


def _load_reference_tool():
    spec = importlib.util.spec_from_file_location("cli_reference",
                                                  DOCS / "_tools" / "cli_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _commands():
    ctx = click.Context(cli)
    return {name: cli.get_command(ctx, name) for name in cli.list_commands(ctx)}


def _options(cmd):
    opts = {"--help", "-h"}
    for param in cmd.params:
        opts.update(param.opts)
        opts.update(param.secondary_opts)
    return opts


def test_cli_reference_page_is_current():
    if not (DOCS / "cli.md").exists():
        pytest.fail("docs/cli.md is missing: run python docs/_tools/cli_reference.py")
    expected = _load_reference_tool().render()
    assert (DOCS / "cli.md").read_text() == expected, (
        "docs/cli.md is stale: run python docs/_tools/cli_reference.py"
    )


def test_reference_page_lists_every_command_and_option():
    text = (DOCS / "cli.md").read_text()
    for name, cmd in _commands().items():
        assert f"## noprune-theory {name}" in text
        for param in cmd.params:
            for opt in param.opts:
                if opt.startswith("-"):
                    assert opt in text, f"{name} {opt} is not in docs/cli.md"


# `noprune-theory CMD ...` up to the end of the line or of an inline code span
_INVOCATION = re.compile(r"noprune-theory\s+([a-z][\w-]*)([^`\n]*)")


def _invocations():
    found = []
    for page in PAGES:
        if page.name == "cli.md":
            continue
        for lineno, line in enumerate(page.read_text().splitlines(), 1):
            for m in _INVOCATION.finditer(line):
                found.append((f"{page.relative_to(ROOT)}:{lineno}", m.group(1), m.group(2)))
    return found


def test_docs_name_only_commands_and_options_that_exist():
    commands = _commands()
    assert commands, "no commands found"
    problems = []
    seen = 0
    for where, name, rest in _invocations():
        if name not in commands:
            if name in ("is", "and", "the", "stays", "itself"):  # prose, not an invocation
                continue
            problems.append(f"{where}: unknown command {name!r}")
            continue
        seen += 1
        opts = _options(commands[name])
        for opt in re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", rest):
            if opt not in opts:
                problems.append(f"{where}: {name} has no option {opt}")
    assert seen > 0, "the docs show no invocation at all"
    assert not problems, "\n".join(problems)


def test_api_reference_page_is_current():
    spec = importlib.util.spec_from_file_location("api_reference",
                                                  DOCS / "_tools" / "api_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    pages = module.render()
    assert "api.md" in pages and len(pages) > 1
    for rel, text in pages.items():
        assert (DOCS / rel).is_file() and (DOCS / rel).read_text() == text, (
            f"docs/{rel} is stale: run python docs/_tools/api_reference.py"
        )
    stale = set(p.relative_to(DOCS).as_posix() for p in (DOCS / "api").glob("*.md")) - set(pages)
    assert not stale, f"pages of modules no longer documented: {sorted(stale)}"


# ---------------------------------------------------------------------------------------------
# Rendering: the checks .ci/run applies to the built site, and the sources they read


def _load_check_tool():
    spec = importlib.util.spec_from_file_location("check_html", DOCS / "_tools" / "check_html.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_markdown_table_row_has_its_header_cell_count():
    found = _load_check_tool().check_sources(DOCS)
    assert not found, "\n".join(f"{page}: {msg}" for page, msg in found)


def test_table_check_sees_a_pipe_inside_backticks_and_math():
    check = _load_check_tool().check_markdown_text
    good = "| a | b |\n|---|---|\n| `x` | $\\lVert x\\rVert$ |\n"
    assert check(good) == []
    for cell in ("`||x||`", "$|x|$", "`H(m | D)`"):
        found = check(f"| a | b |\n| --- | --- |\n| {cell} | y |\n")
        assert len(found) == 1 and "header 2" in found[0][1], (cell, found)
    # an escaped pipe does not split; a table inside a code fence is not a table
    assert check("| a | b |\n|---|---|\n| `x \\| y` | z |\n") == []
    assert check("```\n| a | b |\n|---|---|\n| c | d | e |\n```\n") == []


@pytest.mark.parametrize("html, what", [
    # a display formula that MyST left as text inside a list item
    ("<ol><li><p>step: $$ <span class='math'>\\(x\\)</span> $$</p></li></ol>", "stray '$'"),
    # a shifted dollar pair: prose typeset as math, TeX left in the text
    ("<p><span class='math'>\\(L^\\star minus the stated Theorem simplifies to\\)</span></p>",
     "prose inside math"),
    ("<p>where \\star and \\frac{1}{2} remain</p>", "raw TeX"),
    ("<table><thead><tr><th>a</th><th>b</th></tr></thead>"
     "<tbody><tr><td>`max</td><td>x</td></tr></tbody></table>", "stray backtick"),
    ("<table><thead><tr><th>a</th><th>b</th></tr></thead>"
     "<tbody><tr><td>x</td></tr></tbody></table>", "table row has 1 cells"),
])
def test_html_check_flags_unrendered_markup(html, what):
    pytest.importorskip("bs4")
    found = _load_check_tool().check_html(f"<html><body><article>{html}</article></body></html>")
    assert any(what in msg for _, msg in found), found


def test_html_check_flags_mathjax_from_the_network():
    pytest.importorskip("bs4")
    check = _load_check_tool().check_html
    remote = "<html><head><script src='https://cdn.example/mathjax@3/es5/tex-mml-chtml.js'>"
    local = "<html><head><script src='_static/mathjax/tex-chtml.js'>"
    assert any("network" in msg for _, msg in check(remote + "</script></head></html>"))
    assert check(local + "</script></head></html>") == []


def test_html_check_passes_rendered_math_code_and_text_in_math():
    pytest.importorskip("bs4")
    html = ("<p>cost <code>$HOME</code> and <span class='math'>\\(\\frac{a}{b}\\)</span>, "
            "<span class='math'>\\(\\text{fits below the noise level}\\)</span></p>"
            "<pre>$ noprune-theory bound \\frac</pre>")
    page = f"<html><body><article>{html}</article></body></html>"
    assert _load_check_tool().check_html(page) == []


def test_pages_cite_only_public_sources():
    # the project's working notes are not published: the docs cite docs/theory.md instead
    banned = ["THEORY.md", "DESIGN.md", "another helper", "this workplace",
              "30 minutes required"]
    problems = [f"{page.relative_to(ROOT)}: {word!r}" for page in PAGES
                for word in banned if word in page.read_text()]
    assert not problems, "\n".join(problems)


def test_intersphinx_inventories_are_current(tmp_path):
    # the offline build reads docs/_intersphinx; the tool writes them from its curated table
    spec = importlib.util.spec_from_file_location(
        "intersphinx_inventories", DOCS / "_tools" / "intersphinx_inventories.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    written = module.write_curated(tmp_path)
    assert written
    for path in written:
        shipped = DOCS / "_intersphinx" / path.name
        assert shipped.is_file() and shipped.read_bytes() == path.read_bytes(), (
            f"docs/_intersphinx/{path.name} is stale: run "
            "python docs/_tools/intersphinx_inventories.py")


def test_citation_names_the_current_version():
    import noprune_theory

    text = (DOCS / "citing.md").read_text()
    assert f"version = {{{noprune_theory.__version__}}}" in text


def test_changelog_page_includes_the_changelog():
    assert (ROOT / "CHANGELOG.md").is_file()
    assert "../CHANGELOG.md" in (DOCS / "changelog.md").read_text()
