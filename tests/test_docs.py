"""The docs build without warnings-as-errors failures, and the architecture map is true."""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_sphinx_build(tmp_path):
    if shutil.which("sphinx-build") is None and importlib.util.find_spec("sphinx") is None:
        pytest.fail("sphinx is not installed: install the docs extra (pip install -e '.[docs]')")
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-W", "--keep-going",
         str(ROOT / "docs"), str(tmp_path / "html")],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert (tmp_path / "html" / "index.html").exists()


def test_architecture_lists_every_public_name_and_module():
    """ARCHITECTURE.md must stay true: every lazily exported class and every model module
    is named in it."""
    import casualty_models

    text = (ROOT / "ARCHITECTURE.md").read_text()
    for name, module in casualty_models._LAZY.items():
        importlib.import_module(f"casualty_models.{module}")
        assert name in text or module in text, f"{name} ({module}) missing from ARCHITECTURE.md"
    for path in (ROOT / "src" / "casualty_models" / "models").glob("[a-z]*.py"):
        if path.stem != "__init__":
            assert f"models/{path.name}" in text, f"models/{path.name} missing"
    for group in ("posterior", "observed_data", "constant_data", "sample_stats"):
        assert re.search(rf"`{group}`", text)


def test_docs_pages_in_toctree_exist():
    index = (ROOT / "docs" / "index.md").read_text()
    block = index.split("```{toctree}")[1].split("```")[0]
    pages = [ln.strip() for ln in block.splitlines() if ln.strip() and not ln.startswith(":")]
    for page in pages:
        assert (ROOT / "docs" / f"{page}.md").exists() or (ROOT / "docs" / f"{page}.rst").exists(), page


FOUNDATION_PAGES = ("getting_started", "underreporting", "two_list", "own_data")


def python_blocks(page: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", page.read_text(), flags=re.S | re.M)


def _doc_pages() -> list:
    pages = sorted(p.stem for p in (ROOT / "docs").glob("*.md") if p.stem not in ("index", "api"))
    return [pytest.param(p, marks=() if p in FOUNDATION_PAGES else pytest.mark.slow)
            for p in pages]


@pytest.mark.parametrize("page", _doc_pages())
def test_docs_code_runs(page, tmp_path, monkeypatch):
    """Every ```python block of a docs page runs, in order, in one namespace."""
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    blocks = python_blocks(ROOT / "docs" / f"{page}.md")
    assert blocks, f"docs/{page}.md has no python example"
    ns: dict = {"__name__": f"docs_{page}"}
    for i, code in enumerate(blocks):
        try:
            exec(compile(code, f"docs/{page}.md[block {i}]", "exec"), ns)
        except Exception as exc:  # pragma: no cover - reported with the block
            raise AssertionError(f"docs/{page}.md block {i} failed: {exc!r}\n{code}") from exc
