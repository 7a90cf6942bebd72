"""Hub ids as sources (``org/name``, ``org/name@revision``), with no network at all.

A stand-in Hub on 127.0.0.1 (tests/fake_hub.py) answers through HF_ENDPOINT, and hand-filled HF
caches are read with HF_HUB_OFFLINE=1. huggingface_hub reads its environment variables when it
is first imported, so each command runs in a fresh process with the environment under test
(HF_HOME in a temporary directory, never the user's cache or token).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archsmith import ArchConfig, HubError, count_params, load_config
from archsmith.cli import app
from archsmith.hub import HubId, parse_hub_id
from archsmith.presets import PRESETS
from fake_hub import FakeHub, Repo

SRC = str(Path(__file__).resolve().parents[1] / "src")
MAIN, V1 = "a" * 40, "b" * 40  # the commits that branch main and tag v1 point at
TOKEN = "hf_fake_token_for_tests"
TINY = ArchConfig(vocab_size=256, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                  max_position_embeddings=128)  # fmt: skip
TINY_V1 = TINY.replace(num_hidden_layers=3)
INDEX = "model.safetensors.index.json"


def _export(cfg: ArchConfig, directory: Path, max_shard_bytes: int) -> dict[str, bytes]:
    """The files of a real archsmith export of ``cfg`` (seeded random weights)."""
    import torch

    from archsmith.hf.convert import to_hf
    from archsmith.model import build_model

    torch.manual_seed(0)
    model = build_model(cfg)
    model.init_weights()
    to_hf(model, directory, max_shard_bytes=max_shard_bytes)
    return {p.name: p.read_bytes() for p in directory.iterdir()}


def _pickle_of(directory: Path) -> bytes:
    import torch

    from archsmith.hf.checkpoint import load_tensors

    buffer = io.BytesIO()
    torch.save(load_tensors(directory), buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def local(tmp_path_factory) -> Path:
    """The tiny checkpoint the stand-in Hub serves as archsmith-test/tiny, as a local directory."""
    return tmp_path_factory.mktemp("checkpoints") / "tiny"


@pytest.fixture(scope="module")
def repos(local, tmp_path_factory) -> dict[str, Repo]:
    """What the stand-in Hub serves; built once, as exporting the checkpoints needs torch."""
    tiny = _export(TINY, local, max_shard_bytes=150_000)  # shards and an index
    assert INDEX in tiny and sum(name.endswith(".safetensors") for name in tiny) >= 2
    tiny_v1 = _export(TINY_V1, tmp_path_factory.mktemp("checkpoints") / "v1", max_shard_bytes=10**9)
    main_files = {
        **tiny,
        "tokenizer.json": b'{"version": "1.0"}',
        # A decoy: were it ever downloaded, the request log would show it.
        "pytorch_model.bin": b"pickle weights: archsmith must not download these without --allow-pickle",
        "README.md": b"# tiny",
    }
    pickled = {"config.json": tiny["config.json"], "pytorch_model.bin": _pickle_of(local)}
    return {
        "archsmith-test/tiny": Repo({MAIN: main_files, V1: tiny_v1}, refs={"main": MAIN, "v1": V1}),
        "archsmith-test/pickled": Repo({MAIN: pickled}, refs={"main": MAIN}),
        "archsmith-test/no-config": Repo({MAIN: {"README.md": b"# a dataset card"}}, refs={"main": MAIN}),
        "archsmith-gated/tiny": Repo({MAIN: main_files}, refs={"main": MAIN}, token=TOKEN),
        "archsmith-test/portal": Repo({MAIN: {}}, refs={"main": MAIN}, portal=True),
        "archsmith-test/odd-index": Repo({MAIN: {
            "config.json": tiny["config.json"],
            INDEX: json.dumps({"weight_map": {"a": "*.safetensors", "b": "pytorch_model.bin"}}).encode(),
            "other.safetensors": b"not named by the index",
            "pytorch_model.bin": b"not a safetensors shard",
        }}, refs={"main": MAIN}),
    }


@pytest.fixture
def hub(repos):
    """A stand-in Hub of each test's own, so its request log holds that test's requests alone."""
    with FakeHub(repos) as server:
        yield server


@pytest.fixture
def env(hub, tmp_path) -> dict[str, str]:
    """A process environment pointing huggingface_hub at the stand-in Hub and a fresh HF_HOME."""
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("HF_", "HUGGING_FACE", "TRANSFORMERS_")) and "proxy" not in k.lower()}  # fmt: skip
    return {**clean, "HF_HOME": str(tmp_path / "hf"), "HF_ENDPOINT": hub.url, "HF_HUB_DISABLE_TELEMETRY": "1",
            "NO_PROXY": "127.0.0.1", "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}  # fmt: skip


def archsmith(env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "archsmith", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def python(env: dict[str, str], code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=120)


def counted(result: subprocess.CompletedProcess) -> int:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["total"]


def refused(result: subprocess.CompletedProcess) -> str:
    """The message of a command that must exit 2 with a readable error and no traceback."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and result.stderr.startswith("error:"), result.stderr
    return " ".join(result.stderr.split())  # rich wraps long lines


def fill_cache(cache: Path, repo_id: str, files: dict[str, bytes], commit: str = MAIN) -> None:
    """Write an HF cache entry by hand, in the layout huggingface_hub reads (refs/main -> snapshot)."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    for name, content in files.items():
        (repo / "snapshots" / commit).mkdir(parents=True, exist_ok=True)
        (repo / "snapshots" / commit / name).write_bytes(content)


# --- what reads as an id ------------------------------------------------------------------------


def test_parse_hub_id():
    assert parse_hub_id("Qwen/Qwen3-8B") == HubId("Qwen/Qwen3-8B")
    assert parse_hub_id("meta-llama/Llama-3.1-8B@v1.0") == HubId("meta-llama/Llama-3.1-8B", "v1.0")
    assert parse_hub_id("org/name@refs/pr/1") == HubId("org/name", "refs/pr/1")
    assert str(parse_hub_id("org/name@abc123")) == "org/name@abc123"
    for not_an_id in ("gpt2", "./org/name", "/abs/path", "a/b/c", "org/", "org/name@", "../org/name"):
        assert parse_hub_id(not_an_id) is None, not_an_id


def test_invalid_hub_id_is_an_archsmith_error():
    with pytest.raises(HubError, match="not a valid Hub id"):
        load_config("bad--org/name")  # "--" is refused by huggingface_hub before any request


# --- analytic commands: config.json only --------------------------------------------------------


def test_count_by_id_downloads_config_json_only_into_hf_home(hub, env):
    assert counted(archsmith(env, "count", "archsmith-test/tiny", "--json")) == count_params(TINY).total
    assert hub.files_downloaded("archsmith-test/tiny") == ["config.json"]  # no index, shard or pickle
    snapshot = Path(env["HF_HOME"]) / "hub" / "models--archsmith-test--tiny" / "snapshots" / MAIN
    assert (snapshot / "config.json").is_file()


def test_hf_hub_cache_is_honoured(env, tmp_path):
    env["HF_HUB_CACHE"] = str(tmp_path / "elsewhere")
    assert counted(archsmith(env, "count", "archsmith-test/tiny", "--json")) == count_params(TINY).total
    assert (tmp_path / "elsewhere" / "models--archsmith-test--tiny").is_dir()
    assert not (Path(env["HF_HOME"]) / "hub").exists()


def test_revision_by_branch_tag_and_commit(env):
    assert counted(archsmith(env, "count", "archsmith-test/tiny@v1", "--json")) == count_params(TINY_V1).total
    assert counted(archsmith(env, "count", f"archsmith-test/tiny@{V1}", "--json")) == count_params(TINY_V1).total
    assert counted(archsmith(env, "count", "archsmith-test/tiny@main", "--json")) == count_params(TINY).total


def test_validate_estimate_and_compare_take_ids(env, local):
    done = archsmith(env, "validate", "archsmith-test/tiny@v1")
    assert done.returncode == 0 and "valid" in done.stdout, done.stderr
    by_id = archsmith(env, "estimate", "archsmith-test/tiny", "--seq", "64", "--json")
    by_file = archsmith(env, "estimate", str(local / "config.json"), "--seq", "64", "--json")
    assert by_id.returncode == 0 and json.loads(by_id.stdout) == json.loads(by_file.stdout)
    both = archsmith(env, "compare", "archsmith-test/tiny", "archsmith-test/tiny@v1", "--json")
    assert both.returncode == 0, both.stderr
    rows = json.loads(both.stdout)
    assert [r["source"] for r in rows] == ["archsmith-test/tiny", "archsmith-test/tiny@v1"]
    assert [r["params"]["total"] for r in rows] == [count_params(TINY).total, count_params(TINY_V1).total]


def test_local_path_wins_over_an_id_and_a_preset_wins_without_a_slash(hub, env, tmp_path):
    work = tmp_path / "work"
    for directory, cfg in ((work / "archsmith-test" / "tiny", TINY_V1), (work / "gpt2", TINY)):
        directory.mkdir(parents=True)
        cfg.save(directory / "archsmith.json")
    assert counted(archsmith(env, "count", "archsmith-test/tiny", "--json", cwd=work)) == count_params(TINY_V1).total
    assert hub.requests == []  # the local directory answered; the Hub was never asked
    assert counted(archsmith(env, "count", "gpt2", "--json", cwd=work)) == count_params(PRESETS["gpt2"].config()).total
    assert counted(archsmith(env, "count", "./gpt2", "--json", cwd=work)) == count_params(TINY).total


def test_count_of_a_preset_imports_neither_torch_nor_huggingface_hub(env):
    probe = ("import sys; from archsmith.cli import main; sys.argv = ['archsmith', 'count', 'llama-3.1-8b', '--json']\n"
             "try: main()\nexcept SystemExit: pass\n"
             "print(sorted(m for m in ('torch', 'huggingface_hub') if m in sys.modules))")  # fmt: skip
    done = python(env, probe)
    assert done.returncode == 0 and done.stdout.strip().endswith("[]"), (done.stdout, done.stderr)


# --- presets and a warm cache, offline ----------------------------------------------------------


def test_presets_show_their_hub_ids(env):
    result = CliRunner().invoke(app, ["presets", "--json"])
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["llama-3.1-8b"]["hub_id"] == "meta-llama/Llama-3.1-8B"
    assert rows["gpt3-175b"]["hub_id"] is None  # never released: its source is the paper
    for name, preset in PRESETS.items():
        assert rows[name]["hub_id"] == preset.hub_id
        if preset.hub_id is not None:
            assert parse_hub_id(preset.hub_id) == HubId(preset.hub_id), name
            assert preset.source == f"https://huggingface.co/{preset.hub_id}/blob/main/config.json", name
    table = archsmith({**env, "COLUMNS": "200"}, "presets").stdout
    assert "meta-llama/Llama-3.1-8B" in table and "Qwen/Qwen3-8B" in table


def test_offline_warm_cache_gives_the_preset_answer(hub, env):
    preset = PRESETS["llama-3.1-8b"]
    fill_cache(Path(env["HF_HOME"]) / "hub", preset.hub_id, {"config.json": json.dumps(preset.hf_config).encode()})
    env["HF_HUB_OFFLINE"] = "1"
    by_id = archsmith(env, "count", "meta-llama/Llama-3.1-8B", "--json")
    by_name = archsmith(env, "count", "llama-3.1-8b", "--json")
    assert by_id.returncode == 0 and json.loads(by_id.stdout) == json.loads(by_name.stdout), by_id.stderr
    assert hub.requests == []


def test_every_preset_on_the_hub_reads_back_from_its_cached_config(hub, env):
    on_hub = {name: p for name, p in PRESETS.items() if p.hub_id is not None}
    for preset in on_hub.values():
        fill_cache(Path(env["HF_HOME"]) / "hub", preset.hub_id, {"config.json": json.dumps(preset.hf_config).encode()})
    env["HF_HUB_OFFLINE"] = "1"
    script = ("import json; from archsmith import load_config; from archsmith.presets import PRESETS\n"
              f"names = {sorted(on_hub)!r}\n"
              "print(json.dumps([n for n in names if load_config(PRESETS[n].hub_id) != PRESETS[n].config().replace(name=None)]))")  # fmt: skip
    done = python(env, script)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
    assert hub.requests == []


# --- errors: which it was, and the fix ----------------------------------------------------------


def test_offline_with_a_cold_cache(env):
    env["HF_HUB_OFFLINE"] = "1"
    message = refused(archsmith(env, "count", "archsmith-test/tiny"))
    assert "HF_HUB_OFFLINE is set" in message and "does not hold config.json" in message
    assert "fix: run once with network access" in message


def test_hub_unreachable_with_a_cold_cache(env):
    # A captive portal answering instead of the Hub: huggingface_hub cannot get the file's metadata.
    message = refused(archsmith(env, "count", "archsmith-test/portal"))
    assert "could not be reached" in message and "does not hold config.json" in message
    assert "HF_ENDPOINT" in message and "HF_HUB_OFFLINE=1" in message


def test_unknown_repo(env):
    message = refused(archsmith(env, "count", "archsmith-test/no-such-model"))
    assert "archsmith-test/no-such-model is neither a local path nor a model repo on the Hub" in message
    assert "fix: check the id" in message and "HF_TOKEN" in message


def test_gated_repo_needs_a_token_with_access(env):
    message = refused(archsmith(env, "count", "archsmith-gated/tiny"))
    assert "is a gated repo, and no token was sent" in message and "set HF_TOKEN" in message
    message = refused(archsmith({**env, "HF_TOKEN": "hf_someone_else"}, "count", "archsmith-gated/tiny"))
    assert "is a gated repo, and the token sent" in message and "has not been granted access" in message
    assert counted(archsmith({**env, "HF_TOKEN": TOKEN}, "count", "archsmith-gated/tiny", "--json")) == count_params(TINY).total


def test_missing_revision(env):
    message = refused(archsmith(env, "count", "archsmith-test/tiny@no-such-branch"))
    assert "archsmith-test/tiny has no revision 'no-such-branch'" in message and "archsmith-test/tiny@main" in message


def test_repo_without_config_json(env):
    message = refused(archsmith(env, "validate", "archsmith-test/no-config"))
    assert "archsmith-test/no-config has no config.json" in message and "fix:" in message


# --- from_hf and export: config, safetensors index and shards -----------------------------------

_LOAD_BOTH = """
import json, sys
from archsmith import from_hf
by_id, v1 = from_hf("archsmith-test/tiny"), from_hf("archsmith-test/tiny@v1")
local = from_hf(sys.argv[1])
same = all((a == b).all().item() for a, b in zip(by_id.state_dict().values(), local.state_dict().values()))
print(json.dumps({"same": same, "layers": [by_id.config.num_hidden_layers, v1.config.num_hidden_layers]}))
"""


def test_from_hf_by_id_fetches_safetensors_not_pickle_then_works_offline(hub, env, local):
    done = python(env, _LOAD_BOTH, str(local))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"same": True, "layers": [2, 3]}
    fetched = hub.files_downloaded("archsmith-test/tiny")
    shards = {n for n in fetched if n.endswith(".safetensors")}
    assert "config.json" in fetched and INDEX in fetched
    assert shards == {p.name for p in local.glob("*.safetensors")} | {"model.safetensors"}  # main's shards, v1's file
    assert "pytorch_model.bin" not in fetched and "tokenizer.json" not in fetched
    assert "%|" not in done.stderr  # no progress bar when stderr is not a terminal

    hub.requests.clear()
    env["HF_HUB_OFFLINE"] = "1"
    again = python(env, _LOAD_BOTH, str(local))
    assert again.returncode == 0 and json.loads(again.stdout)["same"], again.stderr
    assert hub.requests == []


def test_from_hf_offline_with_only_the_config_cached(env):
    assert archsmith(env, "count", "archsmith-test/tiny").returncode == 0  # caches config.json alone
    env["HF_HUB_OFFLINE"] = "1"
    done = python(env, "from archsmith import from_hf; from_hf('archsmith-test/tiny')")
    assert done.returncode != 0 and "archsmith.errors.HubError" in done.stderr
    assert "HF_HUB_OFFLINE is set" in done.stderr and "holds no safetensors weights" in done.stderr


def test_an_index_fetches_only_the_safetensors_files_it_names_literally(hub, env):
    done = python(env, "from archsmith.hub import HubId, download_checkpoint; download_checkpoint(HubId('archsmith-test/odd-index'))")
    assert done.returncode == 0, done.stderr
    assert sorted(hub.files_downloaded("archsmith-test/odd-index")) == ["config.json", INDEX]  # no "*", no .bin


def test_export_by_id_converts_the_downloaded_weights(hub, env, local, tmp_path):
    from archsmith.hf.checkpoint import load_tensors

    done = archsmith(env, "export", "archsmith-test/tiny", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert "Converted the weights of archsmith-test/tiny" in " ".join(done.stdout.split())
    assert (tmp_path / "out" / "tokenizer.json").read_bytes() == b'{"version": "1.0"}'  # the tokenizer travels along
    ours, theirs = load_tensors(tmp_path / "out"), load_tensors(local)
    assert ours.keys() == theirs.keys() and all((ours[k] == theirs[k]).all() for k in ours)
    assert "pytorch_model.bin" not in hub.files_downloaded("archsmith-test/tiny")


def test_export_of_a_pickle_only_repo_needs_allow_pickle(hub, env, local, tmp_path):
    from archsmith.hf.checkpoint import load_tensors

    message = refused(archsmith(env, "export", "archsmith-test/pickled", str(tmp_path / "out")))
    assert "has no safetensors weights" in message and "--allow-pickle" in message
    assert hub.files_downloaded("archsmith-test/pickled") == ["config.json"]

    done = archsmith(env, "export", "archsmith-test/pickled", str(tmp_path / "out"), "--allow-pickle")
    assert done.returncode == 0, done.stderr
    assert "pytorch_model.bin" in hub.files_downloaded("archsmith-test/pickled")
    ours, theirs = load_tensors(tmp_path / "out"), load_tensors(local)
    assert all((ours[k] == theirs[k]).all() for k in theirs)
