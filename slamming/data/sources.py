"""Materialise external models and data sets ("sources") into resources/sources/<name>/.

A source has exactly one origin (see config/schema.yaml):

* ``hub`` + ``revision``: a Hugging Face hub repository at a pinned commit (huggingface_hub);
* ``url`` + ``sha256`` (or ``md5`` where the publisher gives only that, as Libri-Light does): one
  file, downloaded with resume and checked before use; with ``extract`` an archive is unpacked
  beside it and then deleted;
* ``local``: a file or folder already on this machine, linked (never copied);
* ``package``: files shipped inside an installed Python package, copied.

Whatever goes wrong is raised as ``SourceUnavailable`` with one line: what, from where, and where to
put it by hand. Files placed by hand where the line says are used without the network.

The rule materialise_source runs it (``workflow_scripts/materialise_source.py``).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import os
import shutil
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from slamming.artifacts import file_digest
from slamming.logs import StageError

log = logging.getLogger("sources")

CHUNK = 1 << 20


class SourceUnavailable(StageError):
    """A source could not be materialised; the message is one line for the user."""


def origin_of(spec: dict) -> str:
    for kind in ("hub", "url", "local", "package", "demo"):
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
    if kind == "demo":
        return f"the workflow, from the demo corpus {spec['demo']['corpus']}"
    return f"the Python package {spec['package']}"


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
    elif kind == "hub":
        record.update(_from_hub(name, spec, dest))
    else:
        raise SourceUnavailable(f"source {name!r} is built by the workflow (rule build_demo_source), not fetched")
    return record


def _from_package(name: str, spec: dict, dest: Path) -> dict:
    package = spec["package"]
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        raise SourceUnavailable(
            f"source {name!r}: the Python package {package} is not installed; "
            f"run the set-up command of the README (pip install -c constraints.txt -e '.[test]')"
        )
    folder = Path(list(found.submodule_search_locations)[0])
    if spec.get("subdir") is not None:  # optional: without it, the package folder itself
        folder = folder / spec["subdir"]
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


def digest_of(path: Path, algorithm: str) -> str:
    return file_digest(path, algorithm)


def _from_url(name: str, spec: dict, dest: Path) -> dict:
    url = spec["url"]
    algorithm = "md5" if "md5" in spec else "sha256"
    expected = spec.get(algorithm)  # None for an unverified source: its sha256 is recorded instead
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / url_filename(url)
    by_hand = f"download {url} by hand into {target}"
    extracted = dest / ".extracted"
    if spec.get("extract") and extracted.exists():
        log.info("%s: already unpacked in %s", name, dest)
        return {"file": target.name, algorithm: expected, "extracted": True}
    if target.exists() and expected is not None and digest_of(target, algorithm) == expected:
        log.info("%s: %s already present with the right %s", name, target, algorithm)
        return {"file": target.name, algorithm: expected, **_unpack(target, dest, spec)}
    if target.exists() and expected is not None:
        target.unlink()  # a wrong file is never used; a fresh download replaces it
    elif target.exists():
        return {"file": target.name, "sha256": digest_of(target, "sha256"), "unverified": True, **_unpack(target, dest, spec)}
    partial = target.with_name(target.name + ".part")
    try:
        _download(url, partial)
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        reason = getattr(e, "reason", e)
        raise SourceUnavailable(f"source {name!r}: cannot download {url} ({reason}); {by_hand}") from None
    actual = digest_of(partial, algorithm)
    if expected is None:
        log.warning("%s: %s has no published checksum; its sha256 %s is recorded", name, url, actual)
        expected = actual
    elif actual != expected:
        partial.unlink()
        raise SourceUnavailable(
            f"source {name!r}: {algorithm} mismatch for {url} (got {actual[:12]}..., expected {expected[:12]}...); "
            f"{by_hand}, or correct sources.{name}.{algorithm} if the file changed on purpose"
        )
    partial.rename(target)
    return {"file": target.name, algorithm: expected, **_unpack(target, dest, spec)}


def _unpack(archive: Path, dest: Path, spec: dict) -> dict:
    """Unpack a tar or zip archive into ``dest`` (when the source says ``extract``), then delete it:
    the marker file .extracted says it is done."""
    if not spec.get("extract"):
        return {}
    import tarfile
    import zipfile

    log.info("unpacking %s", archive)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            z.extractall(dest)
    else:
        with tarfile.open(archive) as t:
            t.extractall(dest, filter="data")  # no absolute paths, links out or device files
    (dest / ".extracted").write_text(archive.name + "\n")
    archive.unlink()
    return {"extracted": True}


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
    repo_type = spec["repo_type"]
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
        commit = HfApi().repo_info(repo, revision=revision, repo_type=repo_type).sha
        snapshot_download(repo_id=repo, revision=commit, repo_type=repo_type, local_dir=dest,
                          allow_patterns=spec.get("allow_patterns"))
    except Exception as e:
        raise SourceUnavailable(f"source {name!r}: download of {repo}@{revision[:7]} failed ({type(e).__name__}: "
                                f"{' '.join(str(e).split())[:120]}); run again to resume, or {by_hand}") from None
    if revision != commit:
        log.warning("%s: %s is not pinned (%s); fetched commit %s, recorded here - pin it in the config", name, repo, revision, commit)
    return {"hub": repo, "revision": commit, "checked": True}


def reachability_problem(name: str, spec: dict, root: str | Path, timeout: float = 10.0) -> str | None:
    """Why source ``name`` cannot be materialised now, in one line; None when it can (files placed by
    hand count). Asks the network only for what is not already on disk."""
    dest = Path(root) / name
    kind = origin_of(spec)
    if kind == "package":
        if importlib.util.find_spec(spec["package"]) is None:
            return f"source {name!r}: the Python package {spec['package']} is not installed; run the README's set-up command"
        return None
    if kind == "local":
        target = Path(os.path.expanduser(spec["local"]))
        return None if target.exists() else f"source {name!r}: local path {target} does not exist; put the files there or change sources.{name}.local"
    if kind == "url":
        target = dest / url_filename(spec["url"])
        if target.exists() or (dest / ".extracted").exists():
            return None
        try:
            request = urllib.request.Request(spec["url"], method="HEAD", headers={"User-Agent": "slamming-workflow"})
            urllib.request.urlopen(request, timeout=timeout).close()
            return None
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            return f"source {name!r}: cannot reach {spec['url']} ({getattr(e, 'reason', e)}); download it by hand into {target}"
    if dest.is_dir() and any(p.is_file() and ".cache" not in p.parts for p in dest.rglob("*")):
        return None
    from huggingface_hub import HfApi

    try:
        HfApi().repo_info(spec["hub"], revision=spec["revision"], repo_type=spec["repo_type"], timeout=timeout)
        return None
    except Exception as e:  # offline, gated, unknown revision, connection refused ...
        gated = " - a gated model: accept its licence on the hub and run `hf auth login`" if "gated" in str(e).lower() or "401" in str(e) else ""
        return (f"source {name!r}: cannot reach {spec['hub']}@{spec['revision'][:7]} on the Hugging Face hub "
                f"({type(e).__name__}{gated}); download that revision elsewhere and copy its files into {dest}/")


def reachability_problems(sources: dict[str, dict], root: str | Path) -> list[str]:
    """One line per source that cannot be materialised, checked in parallel."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=8) as pool:
        found = pool.map(lambda item: reachability_problem(item[0], item[1], root), sorted(sources.items()))
    return [problem for problem in found if problem]
