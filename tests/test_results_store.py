"""The committed results store (book/results/): what the book asks for in the paper profile.

Every stored entry must load without pickle and must be the result of a config the book still
asks for; stale entries (a config that changed since) are errors, not silent leftovers. Every
paper-profile experiment must have its entry: `make results` makes them (the MLP experiments on
two CPU cores, with the CPU engine). The experiments whose runs have not been made yet are
listed in ``PENDING`` with the reason; each of those is a strict expected failure, so the test
fails as soon as its entry is committed and the list is not updated, and fails for any other
experiment that has no entry.
"""

import json
import subprocess

import numpy as np
import pytest

from emergence import experiments, store

PROVENANCE = ("config", "device", "torch", "git_commit", "code_sha256", "wall_s", "created")
ENTRIES = sorted(store.DEFAULT_ROOT.glob("*.json"))


def paper_configs() -> dict[str, dict]:
    """The paper configs of every experiment the store must hold (not the reference-only ones)."""
    return {name: experiments.config(name, "paper").to_dict()
            for name in experiments.names(stored_only=True)}


@pytest.mark.parametrize("meta_path", ENTRIES, ids=lambda p: p.stem)
def test_stored_entry_loads_and_is_still_asked_for(meta_path):
    meta = json.loads(meta_path.read_text())
    assert all(field in meta for field in PROVENANCE), f"{meta_path.name}: incomplete provenance"
    name = meta_path.stem.rsplit("-", 1)[0]
    wanted = paper_configs().get(name)
    assert wanted is not None, f"{meta_path.name}: no registered experiment {name!r}"
    assert store.config_key(wanted) in meta_path.stem, (
        f"{meta_path.name} is stale: the paper config of {name!r} changed; rerun make results")
    arrays, _ = store.load(name, wanted)
    placeholders = set(meta.get("nan_arrays", ()))  # declared by the experiment (store.save)
    assert arrays and all(np.isfinite(a).all() for key, a in arrays.items()
                          if a.dtype.kind == "f" and key not in placeholders)
    commit = meta["git_commit"]
    assert commit != "unknown" and not commit.endswith("-dirty"), (
        f"{meta_path.name} was not made by committed code (git_commit {commit!r})")
    sources = sources_at(commit)
    if sources is not None:  # a shallow clone may lack the commit
        assert store.digest_sources(sources) == meta["code_sha256"], (
            f"{meta_path.name}: the package at {commit[:10]} is not the code that made it")


def sources_at(commit: str) -> dict[str, bytes] | None:
    """``{path relative to the package: bytes}`` of the package's .py files at ``commit``."""
    package = store.PACKAGE_DIR
    def git(*args):
        return subprocess.run(["git", *args], cwd=package, capture_output=True, check=True).stdout
    try:
        git("cat-file", "-e", f"{commit}^{{commit}}")
    except (OSError, subprocess.CalledProcessError):
        return None
    prefix = git("rev-parse", "--show-prefix").decode().strip()
    listed = git("ls-tree", "-r", "--full-name", "--name-only", commit, "--", ".").decode().split()
    return {path[len(prefix):]: git("show", f"{commit}:{path}")
            for path in listed if path.endswith(".py")}


PENDING = {
    "transformer_time": "its paper recipe is still a candidate awaiting a GPU sweep (chapter 12)",
}


def expected(name: str):
    reason = PENDING.get(name)
    return pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=reason)) \
        if reason else name


@pytest.mark.parametrize("name", [expected(n) for n in experiments.names(stored_only=True)])
def test_every_paper_experiment_is_stored(name):
    assert store.exists(name, paper_configs()[name]), (
        f"no stored paper-scale result for {name!r}: run `make results EXP={name}`")
