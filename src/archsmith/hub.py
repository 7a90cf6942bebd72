"""Hub model ids as sources: ``org/name`` or ``org/name@revision`` (a branch, tag or commit).

Every download goes through huggingface_hub's own functions into the standard HF cache, so the
settings transformers users already have apply unchanged: ``HF_HOME``, ``HF_HUB_CACHE``,
``HF_HUB_OFFLINE``, ``HF_TOKEN``, ``HF_ENDPOINT`` (and the saved ``hf auth login`` token).
huggingface_hub reads most of them when it is first imported, and importing it costs time, so
it is imported only when an id is resolved: a preset or a local file never loads it.

The analytic commands fetch ``config.json`` alone. A checkpoint fetches ``config.json``, the
safetensors file or index and then the shards the index names; pickle weights
(``pytorch_model.bin``) only when the caller allows them. Each failure becomes a
:class:`HubError` that says which it was and the fix.
"""

from __future__ import annotations

import glob
import json
import re
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from .errors import HubError
from .hf.checkpoint import PICKLE, PICKLE_INDEX, SAFETENSORS, SAFETENSORS_INDEX

CONFIG = "config.json"
# org/name as the Hub spells it (huggingface_hub validates the finer rules, e.g. no "--"),
# then an optional @revision. A leading "." or "/" makes it a path ("./org/name", "/abs").
_HUB_ID = re.compile(r"(?P<repo>[A-Za-z0-9][\w.-]*/[\w.-]+)(?:@(?P<revision>\S+))?")


@dataclass(frozen=True)
class HubId:
    repo_id: str
    revision: str | None = None  # None: the repo's default branch

    def __str__(self) -> str:
        return self.repo_id if self.revision is None else f"{self.repo_id}@{self.revision}"


def parse_hub_id(source: str) -> HubId | None:
    """The Hub id that ``source`` spells, or None when it cannot be one."""
    m = _HUB_ID.fullmatch(source)
    return HubId(m["repo"], m["revision"]) if m else None


def download_config(hub: HubId) -> Path:
    """The cached path of the repo's config.json, downloaded first if the cache lacks it.

    Nothing else is fetched: the analytic commands never need the weights. A 1 KB file
    needs no progress bar, so none is shown.
    """
    from huggingface_hub import hf_hub_download

    with _explained(hub, CONFIG):
        return Path(hf_hub_download(hub.repo_id, CONFIG, revision=hub.revision, tqdm_class=_quiet_tqdm()))


def download_checkpoint(
    hub: HubId, allow_pickle: bool = False, extra_files: Sequence[str] = (), progress: bool = True
) -> Path:
    """The cached snapshot directory of the repo, holding config.json, the weights and ``extra_files``.

    Safetensors are preferred; ``pytorch_model.bin`` (which can run code when loaded) is
    never downloaded unless ``allow_pickle``. ``progress`` shows huggingface_hub's bars on a
    terminal (not in logs or pipes), unless HF_HUB_DISABLE_PROGRESS_BARS is set.
    """
    from huggingface_hub import snapshot_download

    tqdm_class = None if progress and sys.stderr.isatty() else _quiet_tqdm()
    # First the small files that say which weight files exist, then those weight files: an
    # index names its shards, and a repo may hold other .safetensors (e.g. Mistral's
    # consolidated.safetensors) that a pattern like "*.safetensors" would fetch for nothing.
    first = [CONFIG, SAFETENSORS, SAFETENSORS_INDEX, *extra_files] + ([PICKLE_INDEX] if allow_pickle else [])
    with _explained(hub, "config.json and the weights"):
        folder = Path(snapshot_download(hub.repo_id, revision=hub.revision, allow_patterns=first, tqdm_class=tqdm_class))
        if not (folder / CONFIG).is_file():
            raise HubError(f"{hub} has no config.json, so it is not a transformers model repo; {_fix_repo(hub)}")
        weights = _weight_files_to_fetch(hub, folder, allow_pickle)
        if weights:
            # The snapshot folder is named by its commit: pinning to it keeps config and weights
            # from one commit and reuses the file listing that huggingface_hub just cached.
            snapshot_download(hub.repo_id, revision=folder.name, allow_patterns=weights, tqdm_class=tqdm_class)
    return folder


def _weight_files_to_fetch(hub: HubId, folder: Path, allow_pickle: bool) -> list[str]:
    if (folder / SAFETENSORS_INDEX).is_file():
        return _index_files(folder / SAFETENSORS_INDEX, ".safetensors")
    if (folder / SAFETENSORS).is_file():
        return []
    if not allow_pickle:
        from huggingface_hub import constants

        if constants.HF_HUB_OFFLINE:  # then the folder is what the cache holds, not what the repo has
            raise HubError(
                f"{hub}: HF_HUB_OFFLINE is set and the HF cache ({constants.HF_HUB_CACHE}) holds no safetensors "
                f"weights for it ({SAFETENSORS} or {SAFETENSORS_INDEX}); fix: run once with network access "
                "(HF_HUB_OFFLINE unset) to download them"
            )
        raise HubError(
            f"{hub} has no safetensors weights ({SAFETENSORS} or {SAFETENSORS_INDEX}), and pickle weights "
            f"({PICKLE}) can run arbitrary code when loaded, so archsmith did not download them; fix: pass "
            "--allow-pickle (allow_pickle=True) if the repo has them and you trust its source"
        )
    if (folder / PICKLE_INDEX).is_file():
        return _index_files(folder / PICKLE_INDEX, ".bin")
    return [PICKLE]


def _index_files(index: Path, suffix: str) -> list[str]:
    """The shard files an index names, as literal download patterns. Only names with the index's
    own suffix: a safetensors index cannot pull in a pickle, nor a "*" in a name the whole repo."""
    try:
        names = set(json.loads(index.read_text())["weight_map"].values())
    except (ValueError, KeyError, TypeError, AttributeError):
        return []  # the checkpoint reader reports the broken index, by name, when it reads the folder
    return sorted(glob.escape(n) for n in names if isinstance(n, str) and n.endswith(suffix))


def _quiet_tqdm() -> type:
    from huggingface_hub.utils import tqdm

    class Quiet(tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **{**kwargs, "disable": True})

    return Quiet


# --- errors -------------------------------------------------------------------------------------


def _fix_repo(hub: HubId) -> str:
    return f"fix: check the id against {_url(hub.repo_id)} (ids read org/name, e.g. Qwen/Qwen3-8B), or give a local path"


def _url(repo_id: str) -> str:
    from huggingface_hub import constants

    return f"{constants.ENDPOINT}/{repo_id}"


def _has_token() -> bool:
    from huggingface_hub import get_token

    return get_token() is not None


@contextmanager
def _explained(hub: HubId, what: str) -> Iterator[None]:
    """Turn huggingface_hub's exceptions into HubErrors that name the case and its fix."""
    from huggingface_hub import constants
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        HFValidationError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    cache = constants.HF_HUB_CACHE
    try:
        yield
    except GatedRepoError:  # before RepositoryNotFoundError, its base class
        why = ("the token sent (HF_TOKEN or the saved login) has not been granted access" if _has_token()
               else "no token was sent (HF_TOKEN is unset and there is no saved login)")
        raise HubError(
            f"{hub} is a gated repo, and {why}; fix: accept its terms at {_url(hub.repo_id)} while logged in, "
            "then set HF_TOKEN to a token of that account (or run `hf auth login`)"
        ) from None
    except RepositoryNotFoundError:
        seen_by = "that the token sent can read" if _has_token() else "that can be read without a token"
        raise HubError(
            f"{hub} is neither a local path nor a model repo on the Hub ({constants.ENDPOINT}) {seen_by}; "
            f"{_fix_repo(hub)}; for a private repo, set HF_TOKEN to a token that can read it"
        ) from None
    except RevisionNotFoundError:
        revision = hub.revision or constants.DEFAULT_REVISION
        raise HubError(
            f"{hub.repo_id} has no revision {revision!r} (a branch, tag or commit); fix: use one the repo has "
            f"after the @ (e.g. {hub.repo_id}@main), or no @ for the default branch"
        ) from None
    except LocalEntryNotFoundError:  # before EntryNotFoundError, its base class
        if constants.HF_HUB_OFFLINE:
            raise HubError(
                f"{hub}: HF_HUB_OFFLINE is set and the HF cache ({cache}) does not hold {what}; fix: run once "
                "with network access (HF_HUB_OFFLINE unset) to fill the cache, or point HF_HOME / HF_HUB_CACHE "
                "at a cache that holds it"
            ) from None
        raise HubError(
            f"{hub}: the Hub ({constants.ENDPOINT}) could not be reached and the HF cache ({cache}) does not hold "
            f"{what}; fix: check the network (and HF_ENDPOINT), or fill the cache on a machine with network "
            "access and use it with HF_HUB_OFFLINE=1"
        ) from None
    except EntryNotFoundError:
        raise HubError(
            f"{hub} has no {what}, so it is not a transformers model repo archsmith can read; "
            f"fix: check its files at {_url(hub.repo_id)}/tree/{hub.revision or 'main'}"
        ) from None
    except HFValidationError as e:
        raise HubError(f"{hub} is not a valid Hub id ({e}); fix: write it as org/name, e.g. Qwen/Qwen3-8B") from None
    except HfHubHTTPError as e:  # the Hub answered, but not with the file: 403, 429, 5xx
        status = e.response.status_code if e.response is not None else "an error"
        raise HubError(
            f"{hub}: the Hub ({constants.ENDPOINT}) answered {status} for {what}; fix: retry later, and check "
            "that HF_TOKEN has read access"
        ) from None
    except OSError as e:  # e.g. an HF cache that cannot be written
        raise HubError(
            f"{hub}: could not fetch {what} ({e}); fix: make sure the HF cache ({cache}) is writable "
            "(HF_HOME, HF_HUB_CACHE) and the Hub reachable"
        ) from None
