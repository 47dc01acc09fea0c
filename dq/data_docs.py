"""Data Docs that work offline: the CDN assets GX links, shipped and linked locally.

Great Expectations' Data Docs pages load Bootstrap, bootstrap-table, jQuery, Popper,
bootstrap-datepicker, Font Awesome and Vega from public CDNs; on an air-gapped cluster
the index stays blank (its table is drawn by bootstrap-table) and every page is
unstyled. :func:`make_offline` copies the same files, vendored from the npm registry
under ``dq/data_docs_assets/`` (licences in its README: MIT, Apache-2.0, BSD-3-Clause,
and CC-BY-4.0/OFL-1.1/MIT for Font Awesome), into the site's ``static/vendor/`` and
rewrites every page's links to relative paths. ``dq.run`` calls it after GX builds the
docs.

Refresh the vendored files (after a GX upgrade changes its links; needs ``npm``)::

    python -m dq.data_docs vendor        # npm pack each package, copy the files below
    python -m dq.data_docs check DIR     # list CDN links left in DIR's pages (exit 1 if any)

A browser check of the result: ``python -m dq.data_docs_check`` (headless Chromium).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

ASSETS_DIR = Path(__file__).resolve().parent / "data_docs_assets"
VENDOR = Path("static") / "vendor"


@dataclass(frozen=True)
class Asset:
    """One CDN file GX links, and where it comes from on the npm registry.

    Attributes:
        url: the link as GX writes it.
        package: npm package spec (``name@version``) holding the same file.
        source: path of the file inside the package tarball (below ``package/``).
        target: path below :data:`ASSETS_DIR` (and below the site's ``static/vendor/``).
        extra: more files of the package the asset needs (Font Awesome's webfonts).
    """

    url: str
    package: str
    source: str
    target: str
    extra: tuple[tuple[str, str], ...] = ()


_FA = "@fortawesome/fontawesome-free@6.6.0"
_FA_FONTS = tuple(
    (f"webfonts/{name}.woff2", f"fontawesome-free-6.6.0/webfonts/{name}.woff2")
    for name in ("fa-brands-400", "fa-regular-400", "fa-solid-900", "fa-v4compatibility")
)
_BT = "bootstrap-table@1.19.1"
_FC = "dist/extensions/filter-control/bootstrap-table-filter-control"

ASSETS: tuple[Asset, ...] = (
    Asset(
        "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css",
        "bootstrap@4.3.1",
        "dist/css/bootstrap.min.css",
        "bootstrap-4.3.1/bootstrap.min.css",
    ),
    Asset(
        "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js",
        "bootstrap@4.3.1",
        "dist/js/bootstrap.min.js",
        "bootstrap-4.3.1/bootstrap.min.js",
    ),
    Asset(
        "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css",
        "@forevolve/bootstrap-dark@1.1.0",
        "dist/css/bootstrap-prefers-dark.min.css",  # the same rules, minified
        "bootstrap-dark-1.1.0/bootstrap-prefers-dark.min.css",
    ),
    Asset(
        "https://code.jquery.com/jquery-3.7.1.min.js",
        "jquery@3.7.1",
        "dist/jquery.min.js",
        "jquery-3.7.1/jquery.min.js",
    ),
    Asset(
        "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js",
        "popper.js@1.12.9",
        "dist/umd/popper.min.js",
        "popper.js-1.12.9/popper.min.js",
    ),
    Asset(
        "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css",
        _BT,
        "dist/bootstrap-table.min.css",
        "bootstrap-table-1.19.1/bootstrap-table.min.css",
    ),
    Asset(
        "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js",
        _BT,
        "dist/bootstrap-table.min.js",
        "bootstrap-table-1.19.1/bootstrap-table.min.js",
    ),
    Asset(
        f"https://unpkg.com/bootstrap-table@1.19.1/{_FC}.min.js",
        _BT,
        f"{_FC}.min.js",
        "bootstrap-table-1.19.1/bootstrap-table-filter-control.min.js",
    ),
    # GX links the filter-control CSS of 1.19.0 (unchanged in 1.19.1), once minified
    Asset(
        f"https://unpkg.com/bootstrap-table@1.19.0/{_FC}.min.css",
        "bootstrap-table@1.19.0",
        f"{_FC}.min.css",
        "bootstrap-table-1.19.0/bootstrap-table-filter-control.min.css",
    ),
    Asset(
        f"https://unpkg.com/bootstrap-table@1.19.0/{_FC}.css",
        "bootstrap-table@1.19.0",
        f"{_FC}.min.css",
        "bootstrap-table-1.19.0/bootstrap-table-filter-control.min.css",
    ),
    Asset(
        "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css",
        "bootstrap-datepicker@1.9.0",
        "dist/css/bootstrap-datepicker.min.css",
        "bootstrap-datepicker-1.9.0/bootstrap-datepicker.min.css",
    ),
    Asset(
        "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js",
        "bootstrap-datepicker@1.9.0",
        "dist/js/bootstrap-datepicker.min.js",
        "bootstrap-datepicker-1.9.0/bootstrap-datepicker.min.js",
    ),
    Asset(
        "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css",
        _FA,
        "css/all.min.css",
        "fontawesome-free-6.6.0/css/all.min.css",  # links ../webfonts/
        _FA_FONTS,
    ),
    # the CDN's "@5"/"@6" resolve to the newest 5.x/6.x; these are the versions vendored
    Asset(
        "https://cdn.jsdelivr.net/npm/vega@5",
        "vega@5.33.1",
        "build/vega.min.js",
        "vega-5.33.1/vega.min.js",
    ),
    Asset(
        "https://cdn.jsdelivr.net/npm/vega-lite@5",
        "vega-lite@5.23.0",
        "build/vega-lite.min.js",
        "vega-lite-5.23.0/vega-lite.min.js",
    ),
    Asset(
        "https://cdn.jsdelivr.net/npm/vega-embed@6",
        "vega-embed@6.29.0",
        "build/vega-embed.min.js",
        "vega-embed-6.29.0/vega-embed.min.js",
    ),
)

# a stylesheet or script loaded from the network (plain <a href> links stay: they load nothing)
REMOTE_ASSET = re.compile(
    r"<(?:script|link|img|iframe)\b[^>]*?\b(?:src|href)\s*=\s*[\"'](https?:)?//[^\"']+[\"']",
    re.IGNORECASE,
)


_CDN_ATTRS = re.compile(r"<(?:script|link)\b[^>]*static/vendor/[^>]*>", re.IGNORECASE)
_CDN_ATTR = re.compile(r"\s+(?:integrity=\"[^\"]*\"|crossorigin=\"[^\"]*\")", re.IGNORECASE)


# GX's logo, loaded from its S3 bucket with a cache-busting "?d=..."; GX ships it too
_GX_IMAGE = re.compile(
    r"https://great-expectations-web-assets\.s3[^\"'/]*/([A-Za-z0-9_.-]+)(?:\?[^\"']*)?"
)


def _local_image(match: re.Match, site_dir: Path, page_dir: Path) -> str:
    """The site's own ``static/images/NAME`` for a GX web-asset URL, when GX shipped it;
    else an empty ``data:`` URL (the dark-mode logo: no image rather than a request)."""
    local = site_dir / "static" / "images" / match.group(1)
    return _relative(local, page_dir) if local.is_file() else "data:,"


def remote_assets(html: str) -> list[str]:
    """The ``<script>``, ``<link>``, ``<img>``, ``<iframe>`` tags of ``html`` that load
    from the network."""
    return [m.group(0) for m in REMOTE_ASSET.finditer(html)]


def _relative(target: Path, page_dir: Path) -> str:
    """``target`` relative to ``page_dir`` as a URL path (``../static/vendor/x.css``)."""

    return Path(os.path.relpath(target, page_dir)).as_posix()


def make_offline(site_dir: Path, assets_dir: Path | None = None) -> dict[str, int]:
    """Copy the vendored assets into ``site_dir/static/vendor`` and relink every page.

    Args:
        site_dir: a built Data Docs site (the folder holding ``index.html``).
        assets_dir: vendored files (default :data:`ASSETS_DIR`).

    Returns:
        ``{"pages": pages (and GX stylesheets) rewritten, "links": links replaced, "remote_left": tags still
        loading from the network}`` (``remote_left`` is 0 unless GX added a new link:
        add it to :data:`ASSETS` and run ``python -m dq.data_docs vendor``).

    Raises:
        FileNotFoundError: a vendored file is missing (``python -m dq.data_docs vendor``).
    """
    assets_dir = assets_dir or ASSETS_DIR
    vendor = site_dir / VENDOR
    for asset in ASSETS:
        for _src, target in ((asset.source, asset.target), *asset.extra):
            src = assets_dir / target
            if not src.is_file():
                raise FileNotFoundError(
                    f"vendored Data Docs asset {src} is missing; run `python -m dq.data_docs "
                    "vendor` (npm) or restore dq/data_docs_assets/ from git"
                )
            dst = vendor / target
            dst.parent.mkdir(parents=True, exist_ok=True)
            if not dst.exists() or dst.stat().st_size != src.stat().st_size:
                shutil.copyfile(src, dst)
    # longest first: "vega-lite@5" must not be rewritten as "vega@5" + "-lite..."
    by_url = sorted(ASSETS, key=lambda a: len(a.url), reverse=True)
    stats = {"pages": 0, "links": 0, "remote_left": 0}
    styles = [p for p in site_dir.rglob("*.css") if vendor not in p.parents]
    for page in [*site_dir.rglob("*.html"), *styles]:
        html = page.read_text(encoding="utf-8")
        new, replaced = html, 0
        for asset in by_url:
            for quote in ('"', "'"):
                needle = f"{quote}{asset.url}{quote}"
                if needle in new:
                    local = _relative(vendor / asset.target, page.parent)
                    replaced += new.count(needle)
                    new = new.replace(needle, f"{quote}{local}{quote}")
        new, n_images = _GX_IMAGE.subn(lambda m, d=page.parent: _local_image(m, site_dir, d), new)
        replaced += n_images
        if replaced:
            # a CDN tag's integrity/crossorigin makes Chromium refuse a file:// script
            new = _CDN_ATTRS.sub(lambda m: _CDN_ATTR.sub("", m.group(0)), new)
            page.write_text(new, encoding="utf-8")
            stats["pages"] += 1
            stats["links"] += replaced
        stats["remote_left"] += len(remote_assets(new)) + len(_GX_IMAGE.findall(new))
    return stats


def _write_licence(package_dir: Path, target: Path) -> None:
    """The package's licence file, or (none shipped) its package.json licence and author."""
    files = sorted(package_dir.glob("LICEN[CS]E*"))
    if files:
        shutil.copyfile(files[0], target)
        return
    meta = json.loads((package_dir / "package.json").read_text(encoding="utf-8"))
    author = meta.get("author")
    author = author.get("name") if isinstance(author, dict) else author
    repo = meta.get("repository")
    repo = repo.get("url") if isinstance(repo, dict) else repo
    target.write_text(
        f"{meta['name']}@{meta['version']}: licence {meta.get('license')} (SPDX), as declared "
        f"in its package.json; the npm package ships no licence file.\n"
        f"Author: {author}\nSource: {repo}\n",
        encoding="utf-8",
    )


def vendor_assets(assets_dir: Path | None = None) -> list[Path]:
    """Fetch every :data:`ASSETS` package with ``npm pack`` and copy its files (and its
    licence) under ``assets_dir``.

    Raises:
        RuntimeError: ``npm`` is missing or a pack fails.
    """
    assets_dir = assets_dir or ASSETS_DIR
    if not shutil.which("npm"):
        raise RuntimeError("npm not found: install Node.js (apt-get install npm) to vendor")
    written: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp:
        unpacked: dict[str, Path] = {}
        for asset in ASSETS:
            if asset.package not in unpacked:
                out = subprocess.run(
                    ["npm", "pack", "--silent", asset.package],
                    cwd=tmp,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if out.returncode != 0:
                    raise RuntimeError(f"npm pack {asset.package} failed: {out.stderr.strip()}")
                folder = Path(tmp) / f"x{len(unpacked)}"
                with tarfile.open(Path(tmp) / out.stdout.strip().splitlines()[-1]) as tar:
                    tar.extractall(folder, filter="data")
                unpacked[asset.package] = folder / "package"
                root = Path(asset.target).parts[0]
                (assets_dir / root).mkdir(parents=True, exist_ok=True)
                _write_licence(unpacked[asset.package], assets_dir / root / "LICENSE")
            for source, target in ((asset.source, asset.target), *asset.extra):
                dst = assets_dir / target
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(unpacked[asset.package] / source, dst)
                written.append(dst)
    return written


def main(argv: list[str] | None = None) -> int:
    """``vendor``: refresh dq/data_docs_assets/; ``check DIR``: CDN links left (exit 1)."""
    parser = argparse.ArgumentParser(
        prog="python -m dq.data_docs",
        description="Offline Data Docs: vendor the CDN assets GX links (npm), or list the "
        "network links left in a built site.",
    )
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("vendor", help="npm pack the packages into dq/data_docs_assets/")
    check = sub.add_parser("check", help="list tags loading from the network in DIR/**/*.html")
    check.add_argument("dir", type=Path)
    args = parser.parse_args(argv)
    if args.what == "vendor":
        try:
            files = vendor_assets()
        except RuntimeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"{len(files)} files under {ASSETS_DIR}")
        return 0
    if not args.dir.is_dir():
        print(f"error: {args.dir} is not a folder (a Data Docs site)", file=sys.stderr)
        return 2
    left = [
        (p, tag)
        for p in sorted(args.dir.rglob("*.html"))
        for tag in remote_assets(p.read_text("utf-8"))
    ]
    for page, tag in left:
        print(f"{page}: {tag}")
    print(f"{len(left)} network links")
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())
