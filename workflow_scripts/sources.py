"""Materialise external models and data sets ("sources") into resources/sources/<name>/.

A source has exactly one origin (see config/schema.yaml):

* ``hub`` + ``revision``: a Hugging Face hub repository at a pinned commit (huggingface_hub);
* ``url`` + ``sha256``: one file, downloaded with resume and checked before use;
* ``local``: a file or folder already on this machine, linked (never copied);
* ``package``: files shipped inside an installed Python package, copied.

Whatever goes wrong is raised as ``SourceUnavailable`` with one line: what, from where, and where to
put it by hand. Files placed by hand where the line says are used without the network.

Command line (what the rule materialise_source runs)::

    python -m workflow_scripts.sources NAME --spec '{"url": ..., "sha256": ...}' --root resources/sources
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from workflow_scripts.logs import setup_logging

log = logging.getLogger("sources")

CHUNK = 1 << 20


class SourceUnavailable(Exception):
    """A source could not be materialised; the message is one line for the user."""


def origin_of(spec: dict) -> str:
    for kind in ("hub", "url", "local", "package"):
        if kind in spec:
            return kind
    raise ValueError(f"source has no origin: {spec}")


def describe(name: str, spec: dict) -> str:
    kind = origin_of(spec)
    if kind == "hub":
        return f"{spec['hub']}@{spec['revision'][:7]} on the Hugging Face hub"
    if kind == "url":
        return spec["url"]
    if kind == "local":
        return spec["local"]
    return f"the Python package {spec['package']}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def url_filename(url: str) -> str:
    return Path(urllib.parse.urlparse(url).path).name or "download"


def materialise(name: str, spec: dict, root: str | Path) -> dict:
    """Bring source ``name`` into ``root/name`` and return its provenance record."""
    dest = Path(root) / name
    kind = origin_of(spec)
    record = {"name": name, "origin": kind, "from": describe(name, spec), "path": str(dest)}
    if kind == "package":
        record.update(_from_package(name, spec, dest))
    elif kind == "local":
        record.update(_from_local(name, spec, dest))
    elif kind == "url":
        record.update(_from_url(name, spec, dest))
    else:
        record.update(_from_hub(name, spec, dest))
    return record


def _from_package(name: str, spec: dict, dest: Path) -> dict:
    package = spec["package"]
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        raise SourceUnavailable(
            f"source {name!r}: the Python package {package} is not installed; "
            f"run the set-up command of the README (pip install -c constraints.txt -e '.[test]')"
        )
    folder = Path(list(found.submodule_search_locations)[0]) / spec.get("subdir", "")
    if not folder.is_dir():
        raise SourceUnavailable(f"source {name!r}: package {package} has no folder {spec.get('subdir')!r}; check sources.{name}.subdir")
    if dest.is_symlink() or dest.is_file():
        dest.unlink()
    shutil.copytree(folder, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    distributions = importlib.metadata.packages_distributions().get(package, [])
    return {"package": package, "version": importlib.metadata.version(distributions[0]) if distributions else None,
            "files": sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())}


def _from_local(name: str, spec: dict, dest: Path) -> dict:
    target = Path(os.path.expanduser(spec["local"])).resolve()
    if not target.exists():
        raise SourceUnavailable(
            f"source {name!r}: local path {target} does not exist; put the files there or change sources.{name}.local"
        )
    if dest.is_symlink():
        dest.unlink()
    elif dest.exists():
        raise SourceUnavailable(f"source {name!r}: {dest} already exists and is not a link; remove it to link {target} there")
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.symlink_to(target, target_is_directory=target.is_dir())
    return {"local": str(target)}


def _from_url(name: str, spec: dict, dest: Path) -> dict:
    url, expected = spec["url"], spec["sha256"]
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / url_filename(url)
    by_hand = f"download {url} by hand into {target}"
    if target.exists() and sha256_of(target) == expected:
        log.info("%s: %s already present with the right sha256", name, target)
        return {"file": target.name, "sha256": expected}
    if target.exists():
        target.unlink()  # a wrong file is never used; a fresh download replaces it
    partial = target.with_name(target.name + ".part")
    try:
        _download(url, partial)
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        reason = getattr(e, "reason", e)
        raise SourceUnavailable(f"source {name!r}: cannot download {url} ({reason}); {by_hand}") from None
    actual = sha256_of(partial)
    if actual != expected:
        partial.unlink()
        raise SourceUnavailable(
            f"source {name!r}: sha256 mismatch for {url} (got {actual[:12]}..., expected {expected[:12]}...); "
            f"{by_hand}, or correct sources.{name}.sha256 if the file changed on purpose"
        )
    partial.rename(target)
    return {"file": target.name, "sha256": expected}


def _download(url: str, partial: Path) -> None:
    """Download ``url`` into ``partial``, continuing a previous partial download where the server allows."""
    from tqdm import tqdm

    done = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "slamming-workflow"})
    if done and urllib.parse.urlparse(url).scheme in ("http", "https"):
        request.add_header("Range", f"bytes={done}-")
    with urllib.request.urlopen(request, timeout=60) as response:
        resumed = getattr(response, "status", 200) == 206
        mode = "ab" if resumed else "wb"
        total = response.headers.get("Content-Length")
        total = int(total) + (done if resumed else 0) if total else None
        with open(partial, mode) as out, tqdm(total=total, initial=done if resumed else 0, unit="B",
                                              unit_scale=True, desc=partial.name, file=sys.stderr) as bar:
            for block in iter(lambda: response.read(CHUNK), b""):
                out.write(block)
                bar.update(len(block))


def _from_hub(name: str, spec: dict, dest: Path) -> dict:
    from huggingface_hub import HfApi, snapshot_download

    repo, revision = spec["hub"], spec["revision"]
    repo_type = spec.get("repo_type", "model")
    by_hand = f"download {repo} at revision {revision} elsewhere and copy its files into {dest}/"
    try:
        # Asked first so that an unreachable hub is told apart from a download (snapshot_download
        # quietly returns whatever a folder holds when it cannot reach the hub).
        HfApi().repo_info(repo, revision=revision, repo_type=repo_type)
    except Exception as e:  # offline, unknown repo or revision, gated, connection refused ...
        if dest.is_dir() and any(p.is_file() and ".cache" not in p.parts for p in dest.rglob("*")):
            log.warning("%s: hub unreachable (%s); using the files already in %s (not checked against the revision)",
                        name, type(e).__name__, dest)
            return {"hub": repo, "revision": revision, "checked": False}
        gated = "gated" in str(e).lower() or "401" in str(e)
        hint = " - a gated model: accept its licence on the hub and run `hf auth login`" if gated else ""
        raise SourceUnavailable(f"source {name!r}: cannot reach {repo}@{revision[:7]} on the Hugging Face hub "
                                f"({type(e).__name__}{hint}); {by_hand}") from None
    try:
        snapshot_download(repo_id=repo, revision=revision, repo_type=repo_type, local_dir=dest,
                          allow_patterns=spec.get("allow_patterns"))
    except Exception as e:
        raise SourceUnavailable(f"source {name!r}: download of {repo}@{revision[:7]} failed ({type(e).__name__}: "
                                f"{' '.join(str(e).split())[:120]}); run again to resume, or {by_hand}") from None
    return {"hub": repo, "revision": revision, "checked": True}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help="the source's name in the config")
    parser.add_argument("--spec", required=True, help="the source's config entry as JSON")
    parser.add_argument("--root", default="resources/sources", help="folder that holds all sources")
    parser.add_argument("--record", help="where to write the provenance record (JSON); default <root>/<name>.json")
    parser.add_argument("--log")
    args = parser.parse_args(argv)
    setup_logging(args.log)
    try:
        record = materialise(args.name, json.loads(args.spec), args.root)
    except SourceUnavailable as e:
        log.error("%s", e)
        print(f"error: {e}", file=sys.stderr)
        return 1
    out = Path(args.record or Path(args.root) / f"{args.name}.json")
    out.write_text(json.dumps(record, indent=2) + "\n")
    log.info("%s: materialised from %s", args.name, record["from"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
