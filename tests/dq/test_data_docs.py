"""Data Docs offline: GX's CDN links replaced by shipped files that exist and load."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from dq.data_docs import ASSETS, ASSETS_DIR, make_offline, remote_assets
from dq.run import ExpectationSpec, Suite

RUN_AT = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
LOCAL_REF = re.compile(r"<(?:script|link)\b[^>]*?\b(?:src|href)=\"([^\"#?]+)\"", re.IGNORECASE)


@pytest.fixture(scope="module")
def site(spark, tmp_path_factory) -> Path:
    """A Data Docs site GX built for one passing and one failing suite, made offline."""
    from dq.run import gx_session, import_gx, validate_suite

    docs = tmp_path_factory.mktemp("docs") / "data_docs"
    session = gx_session(import_gx(), docs)
    df = spark.createDataFrame([(1, "a"), (2, "b"), (2, None)], "id INT, name STRING")
    for name, column in (("docs_pass", "id"), ("docs_fail", "name")):
        spec = ExpectationSpec("ExpectColumnValuesToNotBeNull", {"column": column}, "fail", "", 0)
        validate_suite(session, Suite(name, "t", "", (spec,)), df, "docs-run", RUN_AT)
    session.context.build_data_docs()
    assert remote_assets((docs / "index.html").read_text(encoding="utf-8"))  # GX's CDN links
    make_offline(docs)
    return docs


def test_every_vendored_asset_is_shipped_with_its_licence():
    for asset in ASSETS:
        for target in (asset.target, *(t for _s, t in asset.extra)):
            assert (ASSETS_DIR / target).stat().st_size > 100, target
        assert (ASSETS_DIR / Path(asset.target).parts[0] / "LICENSE").is_file()


@pytest.mark.slow  # a Spark pipeline of its own (~10-45 s): make test, not test-fast
def test_no_page_loads_anything_from_the_network(site):
    pages = sorted(site.rglob("*.html"))
    assert len(pages) >= 3  # index + one validation page per suite
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert remote_assets(html) == [], page
        assert not re.search(r"(src|href)=\"https?://[^\"]*(cdn|unpkg|jquery|bootstrapcdn)", html)
        refs = LOCAL_REF.findall(html)
        assert any("vendor/bootstrap-table-1.19.1/bootstrap-table.min.js" in r for r in refs)
        for ref in refs:  # every relinked file is there, relative to the page
            if "static/vendor/" in ref:  # (GX's own favicon link is one level off: GX's)
                assert (page.parent / ref).resolve().is_file(), (page, ref)


def test_rewriting_twice_changes_nothing(site):
    before = {p: p.read_text(encoding="utf-8") for p in site.rglob("*.html")}
    assert make_offline(site)["links"] == 0
    assert before == {p: p.read_text(encoding="utf-8") for p in site.rglob("*.html")}


def test_a_missing_vendored_file_is_named(site, tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m dq.data_docs vendor"):
        make_offline(site, assets_dir=tmp_path)


@pytest.mark.skipif(not shutil.which("chromium"), reason="chromium not installed")
def test_index_renders_its_table_in_chromium_without_network(site):
    """bootstrap-table draws the index's table: it only exists when its JS loaded offline."""
    from dq.data_docs_check import CHROMIUM_OFFLINE_FLAGS

    with tempfile.TemporaryDirectory() as profile:
        out = subprocess.run(
            ["chromium", *CHROMIUM_OFFLINE_FLAGS, f"--user-data-dir={profile}", "--dump-dom",
             (site / "index.html").as_uri()],
            capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
    assert 'class="bootstrap-table' in out.stdout
    assert "docs_fail" in out.stdout
