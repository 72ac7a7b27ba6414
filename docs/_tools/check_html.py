r"""Check a built HTML site for markup that did not render.

Run after ``sphinx-build -b html docs OUT``::

    python docs/_tools/check_html.py OUT --sources docs

It reports, page by page,

* a ``$`` left in running text (a display or inline formula that MyST did not parse, or a dollar
  pair that shifted and swallowed a sentence);
* raw TeX in running text: a control word such as ``\\frac`` or ``\\star``, or ``\\(`` ``\\)``;
* math that swallowed prose: a formula holding three or more ordinary words in a row outside
  ``\\text{...}`` (what a shifted ``$`` pair produces);
* a stray backtick in running text (what is left of a code span that a table split);
* in the Markdown sources (``--sources DOCS``), a table row whose cell count differs from its
  header's: a ``|`` splits a cell even inside backticks or ``$...$``, and the parser then drops
  the extra cells silently, so this is checked on the source (write ``\lvert``, ``\mid`` or
  ``\|`` instead);
* in the built pages, a table row whose cell count differs from its header's;
* a page that loads MathJax from the network (the site must render offline).

Code (``<pre>``, ``<code>``), scripts, styles and the rendered math itself are not running text.
Exit status 1 when anything is found, with one line per finding.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

#: elements whose text is not running text
SKIP = {"script", "style", "pre", "code", "kbd", "samp", "math", "svg", "textarea"}
TEX_WORD = re.compile(r"\\[A-Za-z]{2,}")
TEX_DELIM = re.compile(r"\\[()\[\]]")
#: TeX text containers whose content may be prose
TEX_TEXT = re.compile(r"\\(?:text\w*|mathrm|operatorname|mbox|textrm|textit)\{[^{}]*\}")
PROSE = re.compile(r"\b[A-Za-z]{3,}\s+[A-Za-z]{3,}\s+[A-Za-z]{3,}\b")


def _is_math(tag):
    classes = tag.get("class") or []
    return "math" in classes or tag.name == "mjx-container"


def _running_text(node):
    """Yield the text nodes of *node* that are running text (not code, not math)."""
    from bs4 import NavigableString

    for child in node.children:
        if isinstance(child, NavigableString):
            if type(child) is NavigableString:  # not a Comment, Doctype, ...
                yield str(child)
        elif child.name in SKIP or _is_math(child):
            continue
        else:
            yield from _running_text(child)


def _cells(row):
    return sum(int(cell.get("colspan", 1)) for cell in row.find_all(["td", "th"], recursive=False))


def check_page(path, root):
    """Return the findings of one HTML file as ``(page, message)`` pairs."""
    return check_html(path.read_text(encoding="utf-8"), str(path.relative_to(root)))


def check_html(html, page="page"):
    """Return the findings of one HTML document as ``(page, message)`` pairs."""
    from bs4 import BeautifulSoup  # a dependency of the docs extra (pydata-sphinx-theme)

    soup = BeautifulSoup(html, "html.parser")
    found = []
    for script in soup.find_all("script", src=True):
        if "mathjax" in script["src"].lower() and "://" in script["src"]:
            found.append((page, f"MathJax loaded from the network: {script['src']}"))
    body = soup.find("article") or soup.find("div", role="main") or soup.body
    if body is None:
        return found
    for text in _running_text(body):
        snippet = " ".join(text.split())[:90]
        if "$" in text:
            found.append((page, f"stray '$' in text: {snippet!r}"))
        if TEX_WORD.search(text) or TEX_DELIM.search(text):
            found.append((page, f"raw TeX in text: {snippet!r}"))
        if "`" in text:
            found.append((page, f"stray backtick in text: {snippet!r}"))
    for math in body.find_all(_is_math):
        tex = TEX_TEXT.sub(" ", math.get_text())
        if PROSE.search(tex):
            found.append((page, f"prose inside math: {' '.join(math.get_text().split())[:90]!r}"))
    for table in body.find_all("table"):
        head = table.find("thead")
        rows = table.find_all("tr")
        header = head.find("tr") if head is not None else (rows[0] if rows else None)
        if header is None:
            continue
        want = _cells(header)
        for row in rows:
            got = _cells(row)
            if got != want:
                first = " ".join(row.get_text(" ").split())[:60]
                found.append((page, f"table row has {got} cells, header {want}: {first!r}"))
    return found


def check_site(root, skip=("genindex.html", "search.html", "py-modindex.html")):
    """Return every finding under the built site *root* (generated API and source pages included,
    except the index and search pages, and ``_modules``/``_static``/``_sources``)."""
    root = Path(root)
    found = []
    for path in sorted(root.rglob("*.html")):
        rel = path.relative_to(root)
        if rel.parts[0] in {"_modules", "_static", "_sources", "_images", "_downloads"}:
            continue
        if rel.name in skip:
            continue
        found += check_page(path, root)
    return found


def split_row(line):
    """The cells of a Markdown table row, split as GFM does: on every ``|`` not escaped by a
    backslash, whatever inline markup surrounds it."""
    body = line.strip()
    if body.startswith("|"):
        body = body[1:]
    if body.endswith("|") and not body.endswith("\\|"):
        body = body[:-1]
    return re.split(r"(?<!\\)\|", body)


DELIMITER_ROW = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")


def check_markdown(path, root):
    """Return ``(page, message)`` for every table row of a Markdown file whose cell count differs
    from its header's. Fenced code blocks are skipped."""
    return check_markdown_text(path.read_text(encoding="utf-8"), str(path.relative_to(root)))


def check_markdown_text(text, page="page"):
    """Return the table findings of Markdown *text* (see :func:`check_markdown`)."""
    lines = text.splitlines()
    found = []
    fence = None
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        match = re.match(r"^(`{3,}|~{3,}|:{3,})", stripped)
        if match:
            mark = match.group(1)
            if fence is None:
                fence = mark
            elif stripped.startswith(fence) and stripped.rstrip(mark[0]) == "":
                fence = None
            i += 1
            continue
        if (fence is None and "|" in line and i + 1 < len(lines)
                and DELIMITER_ROW.match(lines[i + 1])):
            want = len(split_row(line))
            i += 2
            while i < len(lines) and "|" in lines[i] and lines[i].strip():
                got = len(split_row(lines[i]))
                if got != want:
                    found.append((f"{page}:{i + 1}",
                                  f"table row has {got} cells, header {want}: "
                                  f"{lines[i].strip()[:70]!r}"))
                i += 1
            continue
        i += 1
    return found


def check_sources(root):
    """Return the table findings of every Markdown file under *root* (the docs folder)."""
    root = Path(root)
    found = []
    for path in sorted(root.rglob("*.md")):
        if "_build" in path.parts or "auto_examples" in path.parts:
            continue
        found += check_markdown(path, root)
    return found


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    sources = None
    if "--sources" in argv:
        at = argv.index("--sources")
        if at + 1 >= len(argv):
            print("Error: --sources needs the docs folder", file=sys.stderr)
            return 2
        sources = Path(argv[at + 1])
        del argv[at:at + 2]
    if len(argv) != 1:
        print("usage: python docs/_tools/check_html.py BUILT_HTML_DIR [--sources DOCS]",
              file=sys.stderr)
        return 2
    root = Path(argv[0])
    if not (root / "index.html").is_file():
        print(f"Error: {root} holds no built site (no index.html)", file=sys.stderr)
        return 2
    found = check_site(root)
    if sources is not None:
        found += check_sources(sources)
    for page, message in found:
        print(f"{page}: {message}")
    pages = sum(1 for _ in root.rglob("*.html"))
    print(f"checked {pages} pages: {len(found)} problem(s)", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
