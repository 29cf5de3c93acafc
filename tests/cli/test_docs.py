"""The documentation site (mkdocs.yml, docs/) builds in strict mode: a broken link, a page missing from the nav, a
mkdocstrings reference to a name that does not exist or a docstring griffe cannot parse fails this test."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS_PACKAGES = ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python")
MISSING = [name for name in DOCS_PACKAGES if importlib.util.find_spec(name.split(".")[0]) is None
           or importlib.util.find_spec(name) is None]


@pytest.mark.skipif(bool(MISSING), reason=f"docs packages not installed ({', '.join(MISSING)}): "
                    "pip install -e '.[docs]' (also in the dev extra)")
def test_docs_build_strict(tmp_path: Path) -> None:
    site = tmp_path / "site"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml"),
         "--site-dir", str(site)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    for page in ("index.html", "guides/methods/index.html", "api/losses/index.html"):
        assert (site / page).is_file(), page
    # The API reference is rendered from the docstrings, not left as `::: name` placeholders.
    losses = (site / "api/losses/index.html").read_text(encoding="utf-8")
    assert "info_nce" in losses and ":::" not in losses


def test_every_module_has_an_api_reference_entry():
    """Each `vision_ssl` module is rendered somewhere under docs/api (`::: module`), so a new module cannot be left out."""
    pages = "\n".join(p.read_text() for p in (ROOT / "docs" / "api").glob("*.md"))
    modules = [".".join(p.relative_to(ROOT).with_suffix("").parts) for p in (ROOT / "vision_ssl").rglob("*.py")
               if p.name != "__init__.py"]
    missing = [m for m in modules if f"::: {m}\n" not in pages + "\n"]
    assert not missing, f"modules without an API reference entry in docs/api/*.md: {missing}"
