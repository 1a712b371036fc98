"""Corpora prepared by lhotse's recipes (corpus kind ``lhotse``): the field's own download and data
preparation, then each supervision segment cut out of its recording into a FLAC file of the manifest.

Three stages, each a rule (``workflow_scripts/<rule>.py``):

* ``lhotse_download``: ``lhotse.recipes.download_<recipe>(target_dir, **download)`` into a folder of
  the corpus's own (``resources/lhotse/<corpus>/``). A finished download leaves a marker there with
  its recipe and arguments, so a job run again (a changed statement here, a deleted record) does not
  download again: several of lhotse's downloaders fetch every archive whatever is on disk. A corpus
  that names a ``source`` (a folder of yours, laid out as the downloader leaves it) skips this stage.
* ``lhotse_prepare``: ``lhotse.recipes.prepare_<recipe>(corpus_dir, output_dir=..., **prepare)``, run
  once; lhotse's own manifest files go to ``results/corpora/<corpus>/lhotse/prepared/`` (cleared of
  manifests first, so a recipe that skips what it finds prepared never reuses an old run's; other
  files, such as VoxPopuli's downloaded annotations, stay). Of the splits it returns, those named in
  ``splits`` are kept, under our names, in two lhotse manifests (``recordings.jsonl.gz``,
  ``supervisions.jsonl.gz``; each supervision's ``custom["split"]`` is ours). A split asked for and
  not returned stops the job, naming the splits there are.
* ``lhotse_shard``: the kept segments, ordered by recording, start and id, are cut into ``shards``
  contiguous slices; each job reads its segments with lhotse's own audio loading
  (``Recording.load_audio`` with the segment's offset, duration and channels), averages the channels,
  resamples to 16 kHz with the project's resampler (``slamming.data.audio.prepare_audio``) and writes
  16-bit FLAC, as the VAD chunks are. Each row carries the facts the audio checks read
  (``clipped_fraction``, ``silent``); a segment that cannot be read or cut (a missing recording, an
  unreadable or truncated file, a segment past the recording's end, empty or non-finite audio) is a row
  of the shard's rejected table with the reason, never dropped. The shards then merge as every
  sharded corpus's do (rule ``merge_corpus_shards``), and a finished shard is never redone.

lhotse reads audio through its "audio backend". Its default sends every ``.sph`` file to the
``sph2pipe`` binary, which lhotse compiles from source (``lhotse install-sph2pipe``: network and a C
compiler); TED-LIUM 3's SPHERE files are plain 16-bit PCM, which libsndfile reads, so the stages set
the corpus's ``audio_backend`` (``LibsndfileBackend`` unless the corpus says otherwise) before lhotse
reads anything.
"""

from __future__ import annotations

import inspect
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

from slamming.data.audio import AudioRejected, audio_facts, prepare_audio, write_flac
from slamming.data.synthesis import shard_slice
from slamming.logs import StageError

log = logging.getLogger("lhotse_corpora")

SAMPLE_RATE = 16000
MARKER = ".slamming_download.json"  # in the download folder: what finished downloading there


def use_audio_backend(name: str) -> None:
    """Make lhotse read audio with the backend ``name`` (``default``: lhotse's own choice per file)."""
    import lhotse

    try:
        lhotse.set_current_audio_backend(name)
    except (RuntimeError, ValueError, KeyError, AssertionError) as error:
        raise StageError(f"audio_backend: lhotse has no audio backend {name!r} ({error}); use LibsndfileBackend or default") from None


def recipe_function(recipe: str, step: str):
    """``lhotse.recipes.<step>_<recipe>``, or a StageError that says what lhotse has."""
    import lhotse
    import lhotse.recipes as recipes

    name = f"{step}_{recipe}"
    function = getattr(recipes, name, None)
    if function is None:
        if step == "download":
            raise StageError(f"lhotse {lhotse.__version__} has no recipes.{name}: download the corpus yourself and name its "
                             "folder with the corpus's lhotse.source (a local: source)")
        known = sorted(n.removeprefix("prepare_") for n in dir(recipes) if n.startswith("prepare_"))
        raise StageError(f"lhotse {lhotse.__version__} has no recipe {recipe!r} (recipes.{name}); it has: {', '.join(known)}")
    return function


def check_arguments(function, key: str, *args, **kwargs) -> None:
    """A StageError naming the setting ``key`` when ``function`` does not take these arguments."""
    try:
        inspect.signature(function).bind(*args, **kwargs)
    except TypeError as error:
        takes = ", ".join(inspect.signature(function).parameters)
        raise StageError(f"{key}: {function.__name__} does not take these arguments ({error}); it takes: {takes}") from None


# --- download -----------------------------------------------------------------------------------


def download(recipe: str, arguments: dict, target_dir: Path) -> Path:
    """Download a corpus with ``download_<recipe>`` into ``target_dir``, unless a download with the same
    recipe and arguments finished there; returns the folder the recipe's prepare reads."""
    import lhotse

    target_dir = Path(target_dir)
    marker = target_dir / MARKER
    wanted = {"recipe": recipe, "download": arguments}
    if marker.is_file():
        done = json.loads(marker.read_text())
        if {k: done.get(k) for k in wanted} == wanted:
            log.info("%s: already downloaded (%s); nothing to do", target_dir, marker)
            return Path(done["corpus_dir"])
        log.info("%s: an earlier download had other settings (%s); downloading again", target_dir, done)
    function = recipe_function(recipe, "download")
    target_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    log.info("lhotse %s: %s(target_dir=%s, %s)", lhotse.__version__, function.__name__, target_dir,
             ", ".join(f"{k}={v!r}" for k, v in arguments.items()))
    check_arguments(function, "download", target_dir=target_dir, **arguments)
    try:
        returned = function(target_dir=target_dir, **arguments)
    except OSError as error:  # the network (urllib's URLError is one), the disk
        raise StageError(f"{function.__name__} failed: {type(error).__name__}: {_short(error)}; run again to go on (where "
                         f"the recipe resumes), or download the corpus by hand and name its folder as the corpus's lhotse.source") from None
    corpus_dir = Path(returned) if returned is not None else target_dir
    marker.write_text(json.dumps({**wanted, "corpus_dir": str(corpus_dir), "lhotse": lhotse.__version__,
                                  "seconds": round(time.monotonic() - started, 1)}, indent=1))
    return corpus_dir


def write_download_record(record: Path, target_dir: Path) -> None:
    """The rule's record of a finished download: what ``download`` marked in ``target_dir`` (recipe,
    arguments, the folder prepare reads, lhotse's version)."""
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text((Path(target_dir) / MARKER).read_text())


def corpus_folder(record: Path, folder: Path) -> Path:
    """The folder prepare reads: the one a lhotse download returned (its record says), else ``folder``
    (a source's)."""
    try:
        return Path(json.loads(Path(record).read_text())["corpus_dir"])
    except (OSError, ValueError, KeyError):
        return Path(folder)


# --- prepare ------------------------------------------------------------------------------------


def prepare(recipe: str, corpus_dir: Path, output_dir: Path, arguments: dict, splits: dict[str, str]):
    """(recordings, supervisions) of the kept splits: ``prepare_<recipe>`` run on ``corpus_dir``, its
    split ``theirs`` kept as ``splits[theirs]`` (in each supervision's ``custom["split"]``)."""
    from lhotse import RecordingSet, SupervisionSet

    function = recipe_function(recipe, "prepare")
    if not Path(corpus_dir).is_dir():
        raise StageError(f"{corpus_dir}: not a folder; the corpus must be downloaded (or its source unpacked) first")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    for old in output_dir.glob("*.jsonl.gz"):  # a recipe that skips parts it finds prepared must not find an old run's
        old.unlink()
    first = next(iter(inspect.signature(function).parameters))  # corpus_dir, tedlium_root ...
    log.info("%s(%s=%s, output_dir=%s, %s)", function.__name__, first, corpus_dir, output_dir,
             ", ".join(f"{k}={v!r}" for k, v in arguments.items()))
    check_arguments(function, "prepare", corpus_dir, output_dir=output_dir, **arguments)
    manifests = function(corpus_dir, output_dir=output_dir, **arguments)
    if not isinstance(manifests, dict) or not manifests:
        raise StageError(f"prepare_{recipe} returned no splits (got {type(manifests).__name__}); its manifests cannot be kept")
    missing = sorted(set(splits) - set(manifests))
    if missing:
        raise StageError(f"splits: prepare_{recipe} returned no split {', '.join(map(repr, missing))}; it returned "
                         f"{', '.join(map(repr, sorted(manifests)))} (set splits to some of those, or the recipe's prepare arguments)")
    recordings, supervisions, seen = {}, [], set()
    for theirs, ours in splits.items():
        part = manifests[theirs]
        if not isinstance(part, dict) or "recordings" not in part or "supervisions" not in part:
            raise StageError(f"prepare_{recipe}: split {theirs!r} has no recordings and supervisions")
        for recording in part["recordings"]:
            recordings.setdefault(recording.id, recording)
        count, seconds = 0, 0.0
        for segment in part["supervisions"]:
            if segment.id in seen:
                raise StageError(f"prepare_{recipe}: supervision {segment.id!r} is in two of the kept splits")
            seen.add(segment.id)
            supervisions.append(segment.with_custom("split", ours))
            count, seconds = count + 1, seconds + segment.duration
        log.info("split %s -> %s: %d segments, %.1f h", theirs, ours, count, seconds / 3600)
    for theirs in sorted(set(manifests) - set(splits)):
        log.info("split %s: not kept (not in splits)", theirs)
    return RecordingSet.from_recordings(recordings.values()), SupervisionSet.from_segments(supervisions)


def write_manifest_file(manifest, path: Path) -> None:
    """A lhotse manifest written under a temporary name, then renamed: a killed job leaves no half file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name.replace(".jsonl.gz", ".tmp.jsonl.gz"))
    manifest.to_file(tmp)
    tmp.replace(path)


# --- shards -------------------------------------------------------------------------------------


def shard_segments(supervisions, shard: int, shards: int) -> list:
    """This shard's segments: a contiguous slice of all of them in order of recording, start and id, so
    that the shards partition the segments and one recording's are read by one or two jobs."""
    ordered = sorted(supervisions, key=lambda s: (s.recording_id, s.start, s.id))
    return ordered[shard_slice(len(ordered), shard, shards)]


def file_name(segment_id: str) -> str:
    """A segment id as a file name (and manifest id): its path separators made ``__``."""
    return segment_id.replace("/", "__").replace("\\", "__")


def _short(error: BaseException) -> str:
    """An error's message in one line of at most 200 characters (lhotse appends the whole call to it)."""
    try:
        text = str(error)
    except Exception:  # soundfile's LibsndfileError, re-raised by lhotse, cannot always say itself
        text = ""
    return (" ".join(text.split("[extra info]")[0].split()) or type(error).__name__)[:200]


def _source_path(recording) -> str:
    sources = [s.source for s in recording.sources if isinstance(s.source, str)]
    return sources[0] if sources else recording.id


def cut_segments(segments: list, recordings, audio_dir: Path, source: str):
    """(manifest rows, rejected rows, stats) of ``segments`` (supervisions as ``prepare`` keeps them, our split
    in ``custom["split"]``) cut out of ``recordings`` (Recordings) into 16 kHz FLAC files in ``audio_dir``."""
    from tqdm import tqdm

    audio_dir = Path(audio_dir)
    audio_dir.mkdir(parents=True, exist_ok=True)
    by_id = {r.id: r for r in recordings}
    rows, rejected = [], []
    stats = {"segments": len(segments), "seconds": 0.0}
    for segment in tqdm(segments, desc="cut", unit="segment", file=sys.stderr):
        utt_id = file_name(segment.id)
        recording = by_id.get(segment.recording_id)
        where = f"{source}:{segment.recording_id}@{segment.start:.2f}-{segment.end:.2f}"

        def reject(reason: str, path: str) -> None:
            rejected.append({"id": utt_id, "path": path, "reason": reason, "source": where})

        if recording is None:
            reject(f"no recording {segment.recording_id!r} in the prepared recordings", segment.recording_id)
            continue
        try:
            samples = recording.load_audio(channels=segment.channel, offset=segment.start, duration=segment.duration)
            wave = prepare_audio(np.asarray(samples).T, recording.sampling_rate, SAMPLE_RATE)
        except AudioRejected as error:
            reject(error.reason, _source_path(recording))
            continue
        except Exception as error:  # lhotse's loading errors (AudioLoadingError, DurationMismatchError, AssertionError ...)
            reject(f"unreadable: {type(error).__name__}: {_short(error)}", _source_path(recording))
            continue
        path = audio_dir / f"{utt_id}.flac"
        write_flac(path, wave, SAMPLE_RATE)
        stats["seconds"] += len(wave) / SAMPLE_RATE
        rows.append({"id": utt_id, "path": str(path), "duration": len(wave) / SAMPLE_RATE, "sample_rate": SAMPLE_RATE,
                     "num_samples": len(wave), "split": segment.custom["split"], "text": segment.text,
                     "source": where, **audio_facts(wave)})
    return rows, rejected, stats


def cut_shard(recordings_file: Path, supervisions_file: Path, shard: int, shards: int, audio_dir: Path, source: str):
    """The rows of one shard of a prepared corpus (see ``cut_segments``)."""
    from lhotse import RecordingSet, SupervisionSet

    supervisions = SupervisionSet.from_file(supervisions_file)
    segments = shard_segments(supervisions, shard, shards)
    wanted = {s.recording_id for s in segments}
    recordings = [r for r in RecordingSet.from_file(recordings_file) if r.id in wanted]
    return cut_segments(segments, recordings, audio_dir, source)

