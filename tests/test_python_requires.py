"""The package metadata states the oldest Python the code runs on (issue 14, "Also")."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Standard-library features newer than 3.10, with the version that introduced them. A module
#: using one of them cannot run on an older Python, so python_requires must say so.
FEATURES = {
    r"^\s*import tomllib|^\s*from tomllib import": (3, 11),
    r"datetime\.UTC\b|from datetime import [^\n]*\bUTC\b": (3, 11),
    r"\bexcept\*": (3, 11),
    r"from typing import [^\n]*\bSelf\b|typing\.Self\b": (3, 11),
    r"\bExceptionGroup\b": (3, 11),
    r"\bimport wsgiref\.types|from typing import [^\n]*\boverride\b": (3, 12),
}


def _python_requires():
    text = (ROOT / "setup.py").read_text()
    match = re.search(r'python_requires\s*=\s*">=\s*(\d+)\.(\d+)"', text)
    assert match, "setup.py must state python_requires='>=X.Y'"
    return int(match.group(1)), int(match.group(2))


def _needed():
    needed, where = (3, 0), {}
    for folder in ("noprune_theory", "kernels", "sims"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            text = path.read_text()
            for pattern, version in FEATURES.items():
                if re.search(pattern, text, re.M):
                    where.setdefault(version, []).append(path.relative_to(ROOT).as_posix())
                    needed = max(needed, version)
    return needed, where


def test_python_requires_covers_the_features_the_code_uses():
    needed, where = _needed()
    assert _python_requires() >= needed, (
        f"the code needs Python >= {needed[0]}.{needed[1]} ({where.get(needed)}), but setup.py "
        f"says >= {'.'.join(map(str, _python_requires()))}")


def test_feature_scan_finds_the_known_uses():
    # the scan must be able to fail: tomllib and datetime.UTC are used today (sims)
    needed, where = _needed()
    assert needed >= (3, 11)
    assert any(p.startswith("sims/") for p in where[(3, 11)])
