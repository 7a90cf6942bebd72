"""Hostile and careless files: checkpoints, shard indexes, JSON, output directories and races.

Every case ends in an archsmith error that says the problem and the fix (CLI: exit 2, no
traceback), or in a correct result; never in another exception, a deleted user file, a
foreign checkpoint loaded silently or a pickle unpickled without consent.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import threading
from io import StringIO
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

import archsmith
from archsmith import ArchConfig, LoadError
from archsmith.cli import app
from archsmith.errors import ArchsmithError, InputError
from archsmith.files import OutputDir
from archsmith.hf import checkpoint
from archsmith.hf.checkpoint import load_tensors
from archsmith.hf.convert import export, from_hf, to_hf
from archsmith.model import build_model
from hf_testing import TINY

runner = CliRunner()


def cli(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def assert_refused(result, needle: str) -> None:
    """Exit 2 with the message on stderr, and no traceback."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert needle in result.stderr and "Traceback" not in result.output


@pytest.fixture
def model():
    return build_model(ArchConfig(**TINY))


@pytest.fixture
def exported(tmp_path, model):
    to_hf(model, tmp_path / "m")
    return tmp_path / "m"


@pytest.fixture
def sharded(tmp_path, model):
    """An export in several shards, with its index."""
    to_hf(model, tmp_path / "s", max_shard_bytes=40_000)
    return tmp_path / "s"


def _index(directory: Path) -> dict:
    return json.loads((directory / checkpoint.SAFETENSORS_INDEX).read_text())


def _write_index(directory: Path, index: object) -> None:
    (directory / checkpoint.SAFETENSORS_INDEX).write_text(json.dumps(index))


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".archsmith-" in p.name)


# --- 1. security: what an index may name ----------------------------------------------------------


def test_index_naming_a_pickle_is_refused_unless_allowed(sharded):
    tensors = load_tensors(sharded)
    index = _index(sharded)
    for shard in sharded.glob("model-*.safetensors"):
        shard.unlink()
    torch.save(tensors, sharded / "pytorch_model-00001.bin")
    index["weight_map"] = {name: "pytorch_model-00001.bin" for name in index["weight_map"]}
    _write_index(sharded, index)
    with pytest.raises(LoadError, match=r"'pytorch_model-00001\.bin', which is not a safetensors file.*--allow-pickle"):
        from_hf(sharded)
    model = from_hf(sharded, allow_pickle=True)
    assert torch.equal(model.embed_tokens.weight, tensors["model.embed_tokens.weight"])


def test_pickle_named_by_an_index_is_read_weights_only(sharded, tmp_path):
    class Payload:  # unpickling this would call os.system under a full torch.load
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    torch.save({"model.embed_tokens.weight": Payload()}, sharded / "evil.bin")
    index = _index(sharded)
    index["weight_map"]["model.embed_tokens.weight"] = "evil.bin"
    _write_index(sharded, index)
    with pytest.raises(LoadError, match="weights-only"):
        from_hf(sharded, allow_pickle=True)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("content", [[1, 2], {"model.norm.weight": 3}, {7: torch.zeros(2)}], ids=["list", "int", "int-key"])
def test_allowed_pickle_that_is_not_named_tensors_is_refused(exported, content):
    (exported / "model.safetensors").unlink()
    torch.save(content, exported / "pytorch_model.bin")
    with pytest.raises(LoadError, match="is not a dict of named tensors; fix"):
        from_hf(exported, allow_pickle=True)


def _foreign(tmp_path: Path) -> Path:
    """Another model's weights, which a hostile index must not reach."""
    other = build_model(ArchConfig(**TINY, hidden_act="gelu"))
    to_hf(other, tmp_path / "other")
    return tmp_path / "other" / "model.safetensors"


@pytest.mark.parametrize(
    "shard_name",
    [
        lambda d, foreign: "../other/model.safetensors",
        lambda d, foreign: str(foreign),  # absolute
        lambda d, foreign: "/etc/passwd",
        lambda d, foreign: "sub/../../other/model.safetensors",
        lambda d, foreign: _symlink(d / "link.safetensors", foreign),
        lambda d, foreign: _symlink(d / "dir", foreign.parent) + "/model.safetensors",
    ],
    ids=["dotdot", "absolute", "etc-passwd", "nested-dotdot", "symlink-out", "symlinked-dir-out"],
)
def test_index_entries_outside_the_directory_are_refused(sharded, tmp_path, shard_name):
    name = shard_name(sharded, _foreign(tmp_path))
    index = _index(sharded)
    tensor = "model.norm.weight"
    index["weight_map"][tensor] = name
    _write_index(sharded, index)
    with pytest.raises(LoadError, match=rf"maps {tensor} to '{name}', which is outside the model directory"):
        from_hf(sharded)


def _symlink(link: Path, to: Path) -> str:
    link.symlink_to(to)
    return link.name


def _loop(directory: Path, name: str) -> Path:
    """``directory / name`` as a symlink that points back at itself through a second link."""
    (directory / f"{name}.b").symlink_to(name)
    (directory / name).symlink_to(f"{name}.b")
    return directory / name


def test_symlink_loops_are_refused(sharded, exported, tmp_path):
    index = _index(sharded)
    index["weight_map"]["model.norm.weight"] = _loop(sharded, "loop.safetensors").name
    _write_index(sharded, index)
    with pytest.raises(LoadError, match=r"to 'loop\.safetensors', which is a symlink loop"):
        from_hf(sharded)
    target = _loop(tmp_path, "out")
    assert_refused(cli("export", exported, target, "--force"), "is a symlink loop; fix")


def test_model_file_symlinked_outside_is_refused(exported, tmp_path):
    weights = exported / "model.safetensors"
    weights.unlink()
    weights.symlink_to(_foreign(tmp_path))
    with pytest.raises(LoadError, match="outside the model directory"):
        from_hf(exported)


def test_hub_cache_snapshot_symlinks_are_followed(exported, tmp_path):
    """A HuggingFace cache snapshot is made of symlinks into ../../blobs; that is inside."""
    repo = tmp_path / "hub" / "models--org--tiny"
    snapshot, blobs = repo / "snapshots" / "0123abc", repo / "blobs"
    snapshot.mkdir(parents=True)
    blobs.mkdir()
    for file in exported.iterdir():
        (blobs / f"sha-{file.name}").write_bytes(file.read_bytes())
        (snapshot / file.name).symlink_to(Path("../../blobs") / f"sha-{file.name}")
    assert torch.equal(from_hf(snapshot).embed_tokens.weight, from_hf(exported).embed_tokens.weight)


# --- 1. security: taking the export target ----------------------------------------------------------


def _hook_save_tensors(monkeypatch, after):
    """Run ``after()`` once the weights are written to the staging directory, before the rename."""
    real = checkpoint.save_tensors

    def save_then(*args, **kwargs):
        files = real(*args, **kwargs)
        after()
        return files

    monkeypatch.setattr(checkpoint, "save_tensors", save_then)


@pytest.mark.parametrize("precreated", [False, True], ids=["missing", "empty"])
def test_file_planted_during_export_is_kept(tmp_path, model, monkeypatch, precreated):
    target = tmp_path / "out"
    if precreated:
        target.mkdir()

    def plant():
        target.mkdir(exist_ok=True)
        (target / "mine.txt").write_text("mine")

    _hook_save_tensors(monkeypatch, plant)
    with pytest.raises(LoadError, match="was written to by someone else while archsmith was writing it"):
        to_hf(model, target)
    assert sorted(p.name for p in target.iterdir()) == ["mine.txt"]
    assert _leftovers(tmp_path) == []


def test_forced_export_replaces_only_what_it_checked(tmp_path, model, monkeypatch):
    target = tmp_path / "out"
    to_hf(model, target)
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    _hook_save_tensors(monkeypatch, lambda: (target / "mine.txt").write_text("mine"))
    with pytest.raises(LoadError, match="was changed by someone else"):
        to_hf(build_model(ArchConfig(**TINY, hidden_act="gelu")), target, force=True)
    assert {p.name: p.read_bytes() for p in target.iterdir()} == {**before, "mine.txt": b"mine"}
    assert _leftovers(tmp_path) == []


def test_export_that_finishes_first_wins(tmp_path, model, monkeypatch):
    """Export B runs to completion in the middle of export A: A must fail, B's files stay."""
    target = tmp_path / "out"
    second = build_model(ArchConfig(**TINY, hidden_act="gelu"))
    real = checkpoint.save_tensors
    calls = []

    def save_then_race(*args, **kwargs):
        files = real(*args, **kwargs)
        calls.append(1)
        if len(calls) == 1:  # inside A: run B whole
            to_hf(second, target)
        return files

    monkeypatch.setattr(checkpoint, "save_tensors", save_then_race)
    with pytest.raises(LoadError, match="someone else"):
        to_hf(model, target)
    assert from_hf(target).config.hidden_act == "gelu"
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("force", [False, True])
def test_two_threads_exporting_to_one_target(tmp_path, monkeypatch, force):
    """Both exports have written their weights before either renames (a barrier holds them):
    exactly one succeeds, the other fails with an archsmith error, and the target is whole."""
    target = tmp_path / "out"
    if force:
        to_hf(build_model(ArchConfig(**TINY, hidden_act="relu")), target)
    barrier = threading.Barrier(2, timeout=60)  # the timeout only guards against a hang
    _hook_save_tensors(monkeypatch, barrier.wait)
    models = {act: build_model(ArchConfig(**TINY, hidden_act=act)) for act in ("silu", "gelu")}
    outcomes: dict[str, object] = {}

    def run(act: str) -> None:
        try:
            to_hf(models[act], target, force=force)
            outcomes[act] = "ok"
        except Exception as e:  # noqa: BLE001 - the assertion below names what is allowed
            outcomes[act] = e

    threads = [threading.Thread(target=run, args=(act,)) for act in models]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [act for act, o in outcomes.items() if o == "ok"]
    losers = [o for o in outcomes.values() if o != "ok"]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    assert isinstance(losers[0], LoadError) and "someone else" in str(losers[0])
    assert from_hf(target).config.hidden_act == winners[0]
    assert _leftovers(tmp_path) == []


_KILLED_EXPORT = """
import json, os, signal, sys
from archsmith import ArchConfig
from archsmith.hf import checkpoint
from archsmith.hf.convert import to_hf
from archsmith.model import build_model

real = checkpoint.save_tensors

def save_then_die(*args, **kwargs):
    real(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)

checkpoint.save_tensors = save_then_die
to_hf(build_model(ArchConfig(**json.loads(sys.argv[2]))), sys.argv[1])
"""


def test_temporaries_of_a_killed_export_are_removed_by_the_next(tmp_path, model):
    target = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(Path(archsmith.__file__).parents[1])}
    killed = subprocess.Popen([sys.executable, "-c", _KILLED_EXPORT, str(target), json.dumps(TINY)], env=env)
    assert killed.wait() == -signal.SIGKILL
    stale = _leftovers(tmp_path)
    assert len(stale) == 1 and stale[0].startswith(f".out.archsmith-tmp-{killed.pid}-")
    alive = tmp_path / f".out.archsmith-tmp-{os.getpid()}-live"  # a running export's: kept
    alive.mkdir()
    moved_aside = tmp_path / f".out.archsmith-old-{killed.pid}-x"  # may hold someone's files: kept
    moved_aside.mkdir()
    (moved_aside / "mine.txt").write_text("mine")
    with pytest.warns(UserWarning, match="moved aside by a forced export that was killed"):  # kept, and said
        to_hf(model, target)
    assert _leftovers(tmp_path) == sorted([alive.name, moved_aside.name])
    assert (moved_aside / "mine.txt").read_text() == "mine"
    assert (target / "model.safetensors").is_file()


# --- 2. safetensors headers ----------------------------------------------------------------------------

A = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}


def _file(header: dict | bytes, data: bytes = b"\0" * 8) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


def _load_bytes(directory: Path, content: bytes):
    (directory / "model.safetensors").write_bytes(content)
    return load_tensors(directory)


def test_valid_headers_load(tmp_path):
    assert _load_bytes(tmp_path, _file({"a": A}))["a"].tolist() == [0.0, 0.0]
    # What the safetensors library accepts is accepted: extra keys, empty tensors, padding.
    header = {"__metadata__": {"format": "pt"}, "a": {**A, "x": 1}, "e": {**A, "shape": [0], "data_offsets": [8, 8]}}
    padded = json.dumps(header).encode() + b"    "
    assert {n: t.shape[0] for n, t in _load_bytes(tmp_path, _file(padded)).items()} == {"a": 2, "e": 0}


HOSTILE_HEADERS = {
    "negative dim": (_file({"a": {**A, "shape": [-2]}}), "non-negative integers"),
    "float dim": (_file({"a": {**A, "shape": [2.0]}}), "non-negative integers"),
    "bool dim": (_file({"a": {**A, "shape": [True, 2]}}), "non-negative integers"),
    "string shape": (_file({"a": {**A, "shape": "2"}}), "non-negative integers"),
    "dim past 64 bits": (_file({"a": {**A, "shape": [2**64, 0], "data_offsets": [0, 0]}}, b""), "non-negative integers"),
    "empty but overflowing": (_file({"a": {**A, "shape": [0, 2**40, 2**40], "data_offsets": [0, 0]}}, b""), "too large for any tensor"),
    "huge integer": (_file(b'{"a": {"dtype": "F32", "shape": [' + b"9" * 5000 + b'], "data_offsets": [0, 8]}}'), "not a JSON object"),
    "float offsets": (_file({"a": {**A, "data_offsets": [0.0, 8.0]}}), "data_offsets"),
    "three offsets": (_file({"a": {**A, "data_offsets": [0, 8, 8]}}), "data_offsets"),
    "reversed offsets": (_file({"a": {**A, "data_offsets": [8, 0]}}), "does not match its byte range"),
    "overlapping": (_file({"a": A, "b": {**A, "data_offsets": [4, 12]}}, b"\0" * 12), "overlaps the tensor before it"),
    "gap": (_file({"a": A, "b": {**A, "data_offsets": [12, 20]}}, b"\0" * 20), "gap of 4 bytes"),
    "appended garbage": (_file({"a": A}, b"\0" * 8 + b"garbage!"), "8 bytes after its last tensor"),
    "truncated data": (_file({"a": A}, b"\0" * 4), "is truncated"),
    "metadata list": (_file({"__metadata__": ["format", "pt"], "a": A}), "__metadata__"),
    "metadata int value": (_file({"__metadata__": {"format": 1}, "a": A}), "__metadata__"),
    "unknown dtype": (_file({"a": {**A, "dtype": "F128"}}), "unknown dtype 'F128'"),
    "dtype not a string": (_file({"a": {**A, "dtype": ["F32"]}}), "unknown dtype"),
    "entry not an object": (_file({"a": [0, 8]}), "needs dtype, shape and data_offsets"),
    "missing key": (_file({"a": {"dtype": "F32", "shape": [2]}}), "needs dtype, shape and data_offsets"),
    "header a list": (_file(b"[1, 2]"), "not a JSON object"),
    "NaN in header": (_file(b'{"a": {"dtype": "F32", "shape": [NaN], "data_offsets": [0, 8]}}'), "not a JSON object"),
    "leading space": (_file(b' {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}'), "not a JSON object"),
    "not UTF-8": (_file(b'{"\xff": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}'), "not a JSON object"),
    "UTF-16": (_file(json.dumps({"a": A}).encode("utf-16")), "not a JSON object"),
    "deeply nested": (_file(b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"), "not a JSON object"),
    "header length absurd": (struct.pack("<Q", 2**63) + b"{}", "header of 9223372036854775808 bytes"),
    "header length zero": (struct.pack("<Q", 0), "not a JSON object"),
    "shorter than a length": (b"\x01\x02", "no header"),
}


@pytest.mark.parametrize("content, needle", HOSTILE_HEADERS.values(), ids=HOSTILE_HEADERS.keys())
def test_hostile_safetensors_headers_are_refused(tmp_path, content, needle):
    with pytest.raises(LoadError, match="re-export|re-download|float32") as e:
        _load_bytes(tmp_path, content)
    assert needle in str(e.value)


def test_cli_export_of_a_corrupt_checkpoint_exits_2(exported, tmp_path):
    (exported / "model.safetensors").write_bytes(HOSTILE_HEADERS["overlapping"][0])
    assert_refused(cli("export", exported, tmp_path / "out"), "overlaps the tensor before it")


# Fuzzing: headers that are consistent, then bent; or anything at all.
_ANY = st.one_of(
    st.integers(-3, 40), st.integers(2**63 - 2, 2**64 + 1), st.floats(), st.booleans(), st.text(max_size=3), st.none()
)
# Empty tensors whose other dimensions overflow 64 bits in a running product or a stride.
_HUGE_EMPTY_SHAPES = st.lists(st.sampled_from([0, 1, 2**31, 2**40, 2**62, 2**63 - 1]), min_size=1, max_size=3).map(lambda s: [0, *s])
_DTYPES = st.sampled_from(["F32", "F16", "BF16", "I64", "U8", "BOOL", "F8_E4M3", "F8_E5M2", "F128", ""])


@st.composite
def _headers(draw):
    shapes = draw(st.lists(st.lists(st.integers(0, 4), max_size=3), max_size=4))
    header, position = {}, 0
    for i, shape in enumerate(shapes):
        dtype = draw(_DTYPES.filter(lambda d: d in checkpoint._DTYPE_BYTES))
        size = checkpoint._DTYPE_BYTES[dtype]
        for dim in shape:
            size *= dim
        header[f"t{i}"] = {"dtype": dtype, "shape": shape, "data_offsets": [position, position + size]}
        position += size
    for _ in range(draw(st.integers(0, 2))):  # bend some field of some entry
        if header:
            entry = header[draw(st.sampled_from(sorted(header)))]
            field = draw(st.sampled_from(["dtype", "shape", "data_offsets"]))
            entry[field] = draw(st.one_of(_ANY, _DTYPES, st.lists(_ANY, max_size=3), st.permutations([0, 2**40, 2**40])))
    if draw(st.booleans()):  # an empty tensor at the end whose shape strains 64 bits
        header["empty"] = {"dtype": "F32", "shape": draw(_HUGE_EMPTY_SHAPES.flatmap(st.permutations)), "data_offsets": [position, position]}
    if draw(st.booleans()):
        header["__metadata__"] = draw(st.one_of(st.dictionaries(st.text(max_size=3), st.text(max_size=3)), _ANY, st.lists(_ANY)))
    data_size = position + draw(st.sampled_from([0, 0, 0, -1, 1, 8]))
    return header, max(data_size, 0)


def _load_or_archsmith_error(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        try:
            tensors = _load_bytes(Path(directory), content)
        except ArchsmithError:
            return
        header = json.loads(content[8 : 8 + struct.unpack("<Q", content[:8])[0]])
        header.pop("__metadata__", None)
        assert {n: list(t.shape) for n, t in tensors.items()} == {n: e["shape"] for n, e in header.items()}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_headers())
def test_fuzzed_headers_load_or_raise_an_archsmith_error(drawn):
    header, data_size = drawn
    _load_or_archsmith_error(_file(json.dumps(header).encode(), bytes(data_size)))


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=120), st.binary(max_size=40))
def test_fuzzed_bytes_load_or_raise_an_archsmith_error(header, data):
    _load_or_archsmith_error(_file(header, data))


# --- 2. indexes and JSON files ---------------------------------------------------------------------------

DEEP = "[" * 100_000 + "]" * 100_000
HOSTILE_INDEXES = {
    "weight_map a list": ({"weight_map": ["model.safetensors"]}, "not a valid shard index"),
    "weight_map a string": ({"weight_map": "model.safetensors"}, "not a valid shard index"),
    "weight_map null": ({"weight_map": None}, "not a valid shard index"),
    "weight_map missing": ({"metadata": {}}, "not a valid shard index"),
    "file name a number": ({"weight_map": {"model.norm.weight": 3}}, "not a valid shard index"),
    "index a list": ([], "not a valid shard index"),
}


@pytest.mark.parametrize("index, needle", HOSTILE_INDEXES.values(), ids=HOSTILE_INDEXES.keys())
def test_hostile_indexes_are_refused(sharded, index, needle):
    _write_index(sharded, index)
    with pytest.raises(LoadError, match=f"{needle}.*fix: "):
        from_hf(sharded)


@pytest.mark.parametrize(
    "name, needle",
    [("a\0.safetensors", "cannot be a file name"), ("\ud800.safetensors", "cannot be a file name"),
     ("x" * 300 + ".safetensors", "File name too long; fix: choose a shorter name"),
     ("", "not a safetensors file"), ("sub/", "not a safetensors file")],
    ids=["nul", "surrogate", "too-long", "empty", "directory"],
)
def test_odd_shard_names_are_refused(sharded, name, needle):
    index = _index(sharded)
    index["weight_map"]["model.norm.weight"] = name
    _write_index(sharded, index)
    with pytest.raises(LoadError, match=needle):
        from_hf(sharded)


@settings(max_examples=100, deadline=None)
@given(st.one_of(
    st.sampled_from(["model-1.safetensors", "./model-1.safetensors", "x/../model-1.safetensors", "\ud800.safetensors"]),
    st.text(st.characters(blacklist_categories=()), max_size=300),
))
def test_fuzzed_shard_names_load_or_raise_an_archsmith_error(name):
    with tempfile.TemporaryDirectory() as directory:
        (Path(directory) / "model-1.safetensors").write_bytes(_file({"a": A}))
        _write_index(Path(directory), {"weight_map": {"a": name}})
        try:
            tensors = load_tensors(Path(directory))
        except ArchsmithError:
            return
        assert list(tensors) == ["a"]  # only the real shard's own name can load


HOSTILE_JSON = {
    "not UTF-8": (b'{"model_type": "llama\xff"}', "cannot be read as a UTF-8 text file"),
    "deeply nested": (DEEP.encode(), "nested too deeply"),
    "huge integer": (b'{"vocab_size": ' + b"9" * 5000 + b"}", "Exceeds the limit"),
    "broken": (b'{"model_type": ', "broken JSON at line 1"),
}


@pytest.mark.parametrize("file", ["config.json", checkpoint.SAFETENSORS_INDEX])
@pytest.mark.parametrize("content, needle", HOSTILE_JSON.values(), ids=HOSTILE_JSON.keys())
def test_hostile_json_files_are_refused(sharded, tmp_path, file, content, needle):
    (sharded / file).write_bytes(content)
    with pytest.raises(ArchsmithError, match=f"{needle}.*fix"):
        from_hf(sharded)
    assert_refused(cli("export", sharded, tmp_path / "out"), needle)


def test_target_that_cannot_be_a_file_name_is_refused(tmp_path, model):
    with pytest.raises(LoadError, match="cannot be a file name"):
        to_hf(model, tmp_path / "a\0b")


def test_file_names_too_long(exported, tmp_path):
    long = tmp_path / ("x" * 300)
    with pytest.raises(LoadError, match="File name too long; fix: choose a shorter name"):
        from_hf(long)
    assert_refused(cli("export", long, tmp_path / "out"), "choose a shorter name")
    assert_refused(cli("export", exported, long), "choose a shorter name")
    assert_refused(cli("design", "--params", "125M", "--out", long), "choose a shorter name")


# --- 2. I/O faults ------------------------------------------------------------------------------------------


def _read_only(monkeypatch):
    """Creating the staging directory fails as on a read-only file system (tests may run as root)."""

    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr("archsmith.files.tempfile.mkdtemp", refuse)


def _disk_full(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("safetensors.torch.save_file", refuse)


@pytest.mark.parametrize(
    "fault, needle",
    [(_read_only, "Read-only file system; fix: choose a directory on a writable file system"),
     (_disk_full, "No space left on device; fix: free some disk space")],
    ids=["read-only", "disk-full"],
)
def test_write_faults_are_archsmith_errors(tmp_path, model, monkeypatch, fault, needle):
    fault(monkeypatch)
    with pytest.raises(LoadError, match=needle):
        to_hf(model, tmp_path / "out")
    assert not (tmp_path / "out").exists() and _leftovers(tmp_path) == []
    source = tmp_path / "tiny.json"
    ArchConfig(**TINY).save(source)
    assert_refused(cli("export", source, tmp_path / "out"), needle.split(";")[0])


@pytest.mark.parametrize("command", ["export", "design"])
@pytest.mark.parametrize(
    "target, needle",
    [
        (lambda tmp: "/dev/null/x", "/dev/null is not a directory"),
        (lambda tmp: ".", "is the current directory or a parent of it"),
        (lambda tmp: "..", "is the current directory or a parent of it"),
        (lambda tmp: tmp / "file", "exists and is not a directory"),
    ],
    ids=["dev-null-child", "cwd", "parent", "existing-file"],
)
def test_bad_targets_exit_2_and_touch_nothing(tmp_path, monkeypatch, command, target, needle):
    work = tmp_path / "work"
    work.mkdir()
    (work / "keep.txt").write_text("mine")
    (tmp_path / "file").write_text("mine")
    monkeypatch.chdir(work)
    source = tmp_path / "tiny.json"
    ArchConfig(**TINY).save(source)
    args = ["export", source, target(tmp_path), "--force"] if command == "export" else \
        ["design", "--params", "125M", "--style", "gpt2", "--out", target(tmp_path), "--force"]  # fmt: skip
    assert_refused(cli(*args), needle)
    assert (work / "keep.txt").read_text() == "mine" and (tmp_path / "file").read_text() == "mine"


# --- 4. numbers that do not lie ------------------------------------------------------------------------------


def test_from_hf_returns_a_model_in_eval_mode(exported):
    model = from_hf(exported)
    assert not any(m.training for m in model.modules())


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_weights_are_refused_at_load(exported, value):
    tensors = load_file(exported / "model.safetensors")
    tensors["model.layers.1.mlp.up_proj.weight"][3, 5] = value
    save_file(tensors, str(exported / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(LoadError, match=r"tensor model\.layers\.1\.mlp\.up_proj\.weight holds NaN or inf"):
        from_hf(exported)


def test_non_finite_weights_are_refused_at_export(tmp_path, model):
    with torch.no_grad():
        model.layers[0].mlp.down_proj.weight[0, 0] = float("nan")
    with pytest.raises(InputError, match=r"weight layers\.0\.mlp\.down_proj\.weight of the model holds NaN"):
        to_hf(model, tmp_path / "out")
    assert not (tmp_path / "out").exists() and _leftovers(tmp_path) == []


def test_design_out_refuses_a_non_empty_directory_without_force(tmp_path):
    out = tmp_path / "d"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert_refused(cli("design", "--params", "125M", "--style", "gpt2", "--out", out), "--force")
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    assert cli("design", "--params", "125M", "--style", "gpt2", "--out", out, "--force").exit_code == 0
    assert not (out / "keep.txt").exists() and (out / "archsmith.json").is_file()


# --- 5. progress ---------------------------------------------------------------------------------------------


@pytest.fixture
def terminal(monkeypatch):
    """A terminal for the progress bar to draw on, and no size threshold."""
    screen = StringIO()
    monkeypatch.setattr("archsmith.progress._stderr_console", lambda: Console(file=screen, force_terminal=True, width=100))
    monkeypatch.setattr("archsmith.progress.MIN_BYTES", 0)
    return screen


def test_export_shows_loading_and_writing_bars_on_a_terminal(exported, tmp_path, terminal):
    export(exported, tmp_path / "out")
    shown = terminal.getvalue()
    assert "loading m" in shown and "writing out" in shown and "kB" in shown


def test_progress_is_quiet_when_off(exported, tmp_path, terminal):
    export(exported, tmp_path / "out", progress=False)
    assert terminal.getvalue() == ""


def test_progress_is_quiet_when_stderr_is_not_a_terminal(exported, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("archsmith.progress.MIN_BYTES", 0)
    for forcing in ("FORCE_COLOR", "TTY_COMPATIBLE"):  # rich would treat a pipe as a terminal
        monkeypatch.delenv(forcing, raising=False)
    export(exported, tmp_path / "out")
    assert capsys.readouterr().err == ""


def test_progress_bar_is_taken_down_when_loading_fails(sharded, terminal):
    last = sorted(sharded.glob("model-*.safetensors"))[-1]
    tensors = load_file(last)
    name = sorted(tensors)[0]
    tensors[name].view(-1)[0] = float("nan")
    save_file(tensors, str(last), metadata={"format": "pt"})
    with pytest.raises(LoadError, match="NaN"):
        from_hf(sharded, progress=True)
    shown = terminal.getvalue()
    assert "loading s" in shown
    # A live bar hides the cursor and shows it again when it stops: a bar left running would
    # leave the user's terminal without a cursor.
    hide, show = "\x1b[?25l", "\x1b[?25h"
    assert shown.count(hide) == shown.count(show) >= 1 and shown.rindex(show) > shown.rindex(hide)


@settings(max_examples=100, deadline=None)
@given(st.one_of(
    st.sampled_from(["", ".", "..", "\0", "\ud800", "a\udcff", "x" * 300, ".out.archsmith-tmp-1-x"]),
    st.text(st.characters(blacklist_characters="/", blacklist_categories=()), max_size=300),
))
def test_fuzzed_target_names_are_written_or_refused(name):
    with tempfile.TemporaryDirectory() as parent:
        (Path(parent) / "marker").write_text("mine")  # so that "." and ".." are non-empty
        try:
            with OutputDir(Path(parent) / name).write() as staging:
                (staging / "f").write_text("x")
        except ArchsmithError:
            assert (Path(parent) / "marker").read_text() == "mine"
            return
        assert (Path(parent) / name / "f").read_text() == "x"


# --- found by a hostile verification after the merge ------------------------------------------------


def test_a_weight_file_that_is_not_a_file_is_refused_not_replaced_by_random_weights(tmp_path, model):
    source = tmp_path / "src"
    to_hf(model, source)
    (source / "model.safetensors").unlink()
    (source / "model.safetensors").symlink_to(tmp_path / "missing-blob")  # a cache snapshot with a lost blob
    assert_refused(cli("export", source, tmp_path / "out"), "is not a readable file")
    assert not (tmp_path / "out").exists()


def test_a_kept_moved_aside_copy_is_reported(tmp_path, model):
    target = tmp_path / "out"
    dead = 2**22 + 12345  # above the default pid_max, so no live process has it
    kept = tmp_path / f".out.archsmith-old-{dead}-abc"
    kept.mkdir()
    (kept / "theirs.txt").write_text("someone else's file")
    with pytest.warns(UserWarning, match="moved aside by a forced export that was killed"):
        to_hf(model, target)
    assert (kept / "theirs.txt").read_text() == "someone else's file"


def test_a_config_whose_dtype_no_export_holds_names_the_fix(tmp_path):
    path = tmp_path / "f64.json"
    path.write_text(ArchConfig(**TINY, torch_dtype="float64").to_json())
    assert_refused(cli("export", path, tmp_path / "out"), "--dtype bf16")


def test_random_init_of_a_config_shows_that_it_is_working(tmp_path, terminal):
    path = tmp_path / "tiny.json"
    path.write_text(ArchConfig(**TINY).to_json())
    export(path, tmp_path / "out")
    assert "initialising" in terminal.getvalue() and "writing out" in terminal.getvalue()
