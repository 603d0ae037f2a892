"""The results store under faults: concurrent writers, killed writers, damaged files, full
disks, and entries that must not come in (issue: nothing lost, nothing silently wrong)."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from emergence import experiments, results, store

CONFIG = {"profile": "paper", "n_steps": 10, "lr": 0.5}
WRITER = textwrap.dedent("""
    import sys, numpy as np
    from emergence import store
    root, ident, overwrite, repeats = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", \\
        int(sys.argv[4])
    config = {"profile": "paper", "n_steps": 10, "lr": 0.5}
    for i in range(repeats):
        tag = ident * 1000 + i
        arrays = {"tag": np.full(200_000, tag)}
        try:
            store.save("demo", config, arrays, {"tag": tag}, root=root, overwrite=overwrite)
            print("saved", flush=True)
        except FileExistsError:
            print("refused", flush=True)
""")


def writer(root, ident, overwrite=False, repeats=1):
    env = {**os.environ, "PYTHONPATH": str(store.PACKAGE_DIR.parent)}
    return subprocess.Popen([sys.executable, "-c", WRITER, str(root), str(ident),
                             "1" if overwrite else "0", str(repeats)],
                            stdout=subprocess.PIPE, text=True, env=env)


def save(root, config=CONFIG, name="demo", tag=1, **kwargs):
    return store.save(name, config, {"tag": np.full(10, tag)}, {"tag": tag}, root=root, **kwargs)


def test_of_two_writers_of_a_new_entry_exactly_one_succeeds(tmp_path):
    for attempt in range(3):
        root = tmp_path / str(attempt)
        procs = [writer(root, ident) for ident in (1, 2, 3)]
        outcomes = [p.communicate(timeout=120)[0].split() for p in procs]
        assert sorted(o[0] for o in outcomes) == ["refused", "refused", "saved"]
        arrays, meta = store.load("demo", CONFIG, root)
        assert set(arrays["tag"].tolist()) == {meta["tag"]}


def test_a_reader_never_sees_one_writes_arrays_with_anothers_provenance(tmp_path):
    save(tmp_path, tag=0)
    proc = writer(tmp_path, 5, overwrite=True, repeats=60)
    loads = 0
    while proc.poll() is None or loads == 0:
        arrays, meta = store.load("demo", CONFIG, tmp_path)
        assert set(arrays["tag"].tolist()) == {meta["tag"]}
        loads += 1
    assert proc.returncode == 0 and loads > 5


def test_a_writer_killed_at_any_moment_leaves_no_entry_that_passes_for_complete(tmp_path):
    for delay in np.linspace(0.0, 0.6, 7):
        root = tmp_path / f"{delay:.1f}"
        proc = writer(root, 7, repeats=1)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        state, _ = store.status("demo", CONFIG, root) if root.exists() else ("missing", "")
        assert state in ("missing", "complete", "incomplete")
        if state == "complete":
            arrays, meta = store.load("demo", CONFIG, root)
            assert set(arrays["tag"].tolist()) == {meta["tag"]}
        store.clean_leftovers(root) if root.exists() else None
        leftovers = [p.name for p in root.glob(".*")] if root.exists() else []
        assert leftovers == []


def test_a_half_written_entry_is_reported_before_any_training(tmp_path, monkeypatch, capsys):
    config = experiments.config("calib_time", "paper").to_dict()
    npz_path, _ = store.entry_paths("calib_time", config, tmp_path)
    tmp_path.mkdir(exist_ok=True)
    npz_path.write_bytes(b"orphan")
    assert store.status("calib_time", config, tmp_path)[0] == "incomplete"
    with pytest.raises(FileNotFoundError, match="half-written"):
        store.load("calib_time", config, tmp_path)
    trained = []
    monkeypatch.setattr(results, "run_all", lambda chosen, args: trained.append(chosen) or 0)
    assert results.main(["--only", "calib_time", "--root", str(tmp_path)]) == 4
    assert trained == [] and "incomplete" in capsys.readouterr().err
    assert results.main(["--only", "calib_time", "--root", str(tmp_path), "--repair"]) == 0
    assert trained == [["calib_time"]] and not npz_path.exists()


@pytest.mark.parametrize("damage", ["truncate", "flip", "json"])
def test_a_damaged_entry_is_an_error_that_names_the_file(tmp_path, damage):
    npz_path = save(tmp_path)
    json_path = npz_path.with_suffix(".json")
    if damage == "truncate":
        npz_path.write_bytes(npz_path.read_bytes()[:100])
    elif damage == "flip":
        data = bytearray(npz_path.read_bytes())
        data[len(data) // 2] ^= 1
        npz_path.write_bytes(bytes(data))
    else:
        json_path.write_text(json_path.read_text()[:-20])
    assert store.status("demo", CONFIG, tmp_path)[0] == "damaged"
    assert not store.exists("demo", CONFIG, tmp_path)
    with pytest.raises(store.EntryError, match=npz_path.stem):
        store.load("demo", CONFIG, tmp_path)
    with pytest.raises(store.EntryError):
        store.export_entries(tmp_path / "out.tar.gz", None, tmp_path)


def test_run_or_load_raises_for_a_damaged_entry_instead_of_falling_back(tmp_path):
    config = experiments.config("calib_time", "paper")
    arrays = {"steps": np.arange(3)}
    npz_path = store.save("calib_time", config.to_dict(), arrays,
                          store.provenance(config.to_dict(), "cpu", 1.0), root=tmp_path)
    npz_path.write_bytes(npz_path.read_bytes()[:50])
    with pytest.raises(store.EntryError, match="damaged"):
        experiments.run_or_load("calib_time", "paper", root=tmp_path)


def test_a_full_disk_during_save_leaves_nothing(tmp_path, monkeypatch):
    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store.json, "dumps", full_disk)
    with pytest.raises(OSError, match="No space"):
        save(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_leftovers_of_dead_processes_are_cleaned_and_live_ones_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    (tmp_path / f".demo-0123456789abcdef.npz.x1y2.{dead}.tmp").write_bytes(b"x")
    (tmp_path / ".demo-0123456789abcdef.lock").write_text(dead)
    (tmp_path / f".archive.abc.{dead}.import").mkdir()
    live = tmp_path / f".demo-0123456789abcdef.json.zz.{os.getpid()}.tmp"
    live.write_bytes(b"x")
    assert len(store.clean_leftovers(tmp_path)) == 3
    assert [p.name for p in tmp_path.iterdir()] == [live.name]


def test_a_stale_lock_does_not_block_a_writer_but_a_live_one_does(tmp_path):
    npz_path, _ = store.entry_paths("demo", CONFIG, tmp_path)
    tmp_path.mkdir(exist_ok=True)
    lock = tmp_path / f".{npz_path.stem}.lock"
    lock.write_text("999999999")
    save(tmp_path)
    lock.write_text(str(os.getppid()))
    with pytest.raises(FileExistsError, match="being written by process"):
        save(tmp_path, overwrite=True)


def test_one_rule_for_names_profiles_and_numbers(tmp_path):
    for name in ("my-exp", "..", "", "a/b", "é"):
        with pytest.raises(ValueError, match="name"):
            save(tmp_path, name=name)
        with pytest.raises(ValueError, match="name"):
            experiments.register(name, lambda profile: None)
    for profile in ("quick", "fast", None):
        with pytest.raises(ValueError, match="profile"):
            save(tmp_path, config={**CONFIG, "profile": profile})
    assert store.config_key({**CONFIG, "lr": 1}) == store.config_key({**CONFIG, "lr": 1.0})
    assert store.config_key(CONFIG) != store.config_key({**CONFIG, "lr": 0.25})
    with pytest.raises(ValueError, match="finite"):
        store.config_key({**CONFIG, "lr": float("nan")})
    assert list(tmp_path.iterdir()) == []


def _archive_with(tmp_path, entries):
    source = tmp_path / "source"
    for name, config in entries:
        save(source, config=config, name=name)
    return store.export_entries(tmp_path / "a.tar.gz", None, source)


def test_import_refuses_quick_entries_and_bad_names(tmp_path):
    import tarfile

    stems = _archive_with(tmp_path, [("demo", CONFIG)])
    bad = tmp_path / "quick.tar.gz"
    with tarfile.open(tmp_path / "a.tar.gz") as tar, tarfile.open(bad, "w:gz") as out:
        for member in tar.getmembers():
            data = tar.extractfile(member).read()
            if member.name.endswith(".json"):
                meta = json.loads(data)
                meta["config"]["profile"] = "quick"
                data = json.dumps(meta).encode()
            member.size = len(data)
            import io
            out.addfile(member, io.BytesIO(data))
    with pytest.raises(ValueError, match="profile"):
        store.import_entries(bad, tmp_path / "book")
    assert stems and not any((tmp_path / "book").iterdir())


def test_an_import_that_fails_midway_writes_nothing(tmp_path, monkeypatch):
    _archive_with(tmp_path, [("demo", CONFIG), ("other", {**CONFIG, "n_steps": 11})])
    target = tmp_path / "book"
    calls = []
    original = store.shutil.copyfileobj

    def fill_disk(source, destination, length=0):
        calls.append(1)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return original(source, destination, length)

    monkeypatch.setattr(store.shutil, "copyfileobj", fill_disk)
    with pytest.raises(OSError, match="No space"):
        store.import_entries(tmp_path / "a.tar.gz", target)
    assert list(target.iterdir()) == []
    monkeypatch.setattr(store.shutil, "copyfileobj", original)
    assert len(store.import_entries(tmp_path / "a.tar.gz", target)) == 2


def test_schema_one_entries_are_migrated_with_their_arrays_unchanged(tmp_path):
    config = {**CONFIG, "scale": 5.0}
    npz_path = save(tmp_path, config=config)
    meta = json.loads(npz_path.with_suffix(".json").read_text())
    old_stem = "demo-0123456789abcdef"
    legacy = {k: v for k, v in meta.items() if k != "arrays_sha256"}
    legacy.update(schema=1, config={**legacy["config"], "scale": 5.0})
    os.replace(npz_path, tmp_path / f"{old_stem}.npz")
    npz_path.with_suffix(".json").unlink()
    (tmp_path / f"{old_stem}.json").write_text(json.dumps(legacy))
    before = (tmp_path / f"{old_stem}.npz").read_bytes()
    assert store.migrate(tmp_path) == [(old_stem, npz_path.stem)]
    assert npz_path.read_bytes() == before
    arrays, meta = store.load("demo", config, tmp_path)
    assert meta["schema"] == store.SCHEMA_VERSION and meta["config"]["scale"] == 5


def test_non_finite_arrays_are_refused_unless_declared_placeholders(tmp_path):
    config, meta = CONFIG, {"tag": 0}
    bad = {"strength": np.array([0.5, np.nan]), "train_loss": np.array([np.nan, 1.0])}
    with pytest.raises(ValueError, match="'strength' holds 1 non-finite"):
        store.save("demo", config, bad, meta, root=tmp_path, nan_arrays=("train_loss",))
    with pytest.raises(ValueError, match="'train_loss'"):
        store.save("demo", config, {"train_loss": bad["train_loss"]}, meta, root=tmp_path)
    with pytest.raises(ValueError, match="'strength' holds 1 non-finite"):
        store.save("demo", config, {"strength": np.array([np.inf])}, meta, root=tmp_path,
                   nan_arrays=("strength",))
    store.save("demo", config, {"train_loss": bad["train_loss"]}, meta, root=tmp_path,
               nan_arrays=("train_loss",))
    arrays, stored = store.load("demo", config, tmp_path)
    assert np.isnan(arrays["train_loss"][0]) and stored["nan_arrays"] == ["train_loss"]


CHECKPOINTER = textwrap.dedent("""
    import sys, torch
    from emergence.checkpoints import save_checkpoint
    for step in range(100_000):
        save_checkpoint(sys.argv[1], {"key": "k", "step": step, "w": torch.full((50_000,), step)})
""")


def test_a_writer_killed_during_a_checkpoint_leaves_a_whole_checkpoint(tmp_path):
    from emergence.checkpoints import load_checkpoint

    path = tmp_path / "run.pt"
    env = {**os.environ, "PYTHONPATH": str(store.PACKAGE_DIR.parent)}
    for delay in (1.5, 2.0, 2.5):
        proc = subprocess.Popen([sys.executable, "-c", CHECKPOINTER, str(path)], env=env)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if path.exists():
            state = load_checkpoint(path, "k", "cpu")
            assert bool((state["w"] == state["step"]).all())
        store.clean_leftovers(tmp_path)
        assert [p.name for p in tmp_path.iterdir()] in ([], ["run.pt"])


@pytest.fixture
def small_disk(tmp_path):
    """A 256 KB tmpfs, where the machine lets us mount one (root on Linux); else skipped."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_leaves_no_entry_no_checkpoint_and_no_temporary_file(small_disk):
    from emergence.checkpoints import save_checkpoint

    big = {"tag": np.zeros(200_000)}
    with pytest.raises(OSError):
        store.save("demo", CONFIG, big, {"tag": 0}, root=small_disk)
    assert list(small_disk.iterdir()) == []
    with pytest.raises(OSError):
        save_checkpoint(small_disk / "run.pt", {"key": "k", "w": np.zeros(200_000)})
    assert list(small_disk.iterdir()) == []
