"""The results store: round trip, refusals, atomic writes, no pickle."""

import json

import numpy as np
import pytest

from emergence import store

CONFIG = {"name": "demo", "profile": "paper", "n_steps": 10, "widths": (1, 2)}
ARRAYS = {"steps": np.arange(3), "strength": np.linspace(0, 1, 6).reshape(3, 2)}


def save(root, config=CONFIG, **kwargs):
    meta = store.provenance(config, "cpu", wall_s=1.5)
    return store.save("demo", config, ARRAYS, meta, root=root, **kwargs)


def test_round_trip_with_provenance(tmp_path):
    path = save(tmp_path)
    arrays, meta = store.load("demo", CONFIG, root=tmp_path)
    for key, value in ARRAYS.items():
        np.testing.assert_array_equal(arrays[key], value)
    for field in ("config", "device", "torch", "git_commit", "wall_s", "created"):
        assert field in meta
    assert meta["config"] == store.normalise(CONFIG) and meta["wall_s"] == 1.5
    assert path.name == f"demo-{store.config_key(CONFIG)}.npz" and store.exists("demo", CONFIG,
                                                                                 tmp_path)


def test_key_depends_on_every_setting_and_is_stable():
    assert store.config_key(CONFIG) == store.config_key(dict(reversed(list(CONFIG.items()))))
    assert store.config_key(CONFIG) != store.config_key({**CONFIG, "n_steps": 11})
    assert len(store.config_key(CONFIG)) == 16


def test_refuses_to_overwrite_unless_asked(tmp_path):
    save(tmp_path)
    with pytest.raises(FileExistsError, match="overwrite"):
        save(tmp_path)
    save(tmp_path, overwrite=True)


def test_refuses_a_mismatched_config(tmp_path):
    _, json_path = store.entry_paths("demo", CONFIG, tmp_path)
    save(tmp_path)
    meta = json.loads(json_path.read_text())
    meta["config"]["n_steps"] = 99
    json_path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="different config"):
        store.load("demo", CONFIG, root=tmp_path)


def test_refuses_quick_results_and_missing_entries(tmp_path):
    with pytest.raises(ValueError, match="quick"):
        save(tmp_path, config={**CONFIG, "profile": "quick"})
    with pytest.raises(FileNotFoundError):
        store.load("demo", CONFIG, root=tmp_path)
    assert not any(tmp_path.iterdir())


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    save(tmp_path)
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".json", ".npz"]


def test_no_pickle_objects_are_written_or_read(tmp_path):
    with pytest.raises(ValueError, match="numeric"):
        store.save("demo", CONFIG, {"bad": np.array([{"a": 1}], dtype=object)},
                   store.provenance(CONFIG, "cpu", 0.0), root=tmp_path)
    assert not any(tmp_path.iterdir())
    save(tmp_path)
    npz_path, _ = store.entry_paths("demo", CONFIG, tmp_path)
    with np.load(npz_path, allow_pickle=False) as data:
        assert all(data[key].dtype != object for key in data.files)


def test_bad_names_are_refused(tmp_path):
    with pytest.raises(ValueError, match="name"):
        store.entry_paths("../evil", CONFIG, tmp_path)


def test_provenance_identifies_the_code_even_without_git(tmp_path, monkeypatch):
    meta = store.provenance(CONFIG, "cpu", 0.0)
    assert len(meta["code_sha256"]) == 64 and meta["code_sha256"] == store.code_digest()
    monkeypatch.setattr(store, "PACKAGE_DIR", tmp_path)        # no git checkout there
    (tmp_path / "a.py").write_text("x = 1\n")
    monkeypatch.setenv("EMERGENCE_GIT_COMMIT", "abc123")
    assert store.git_commit() == "abc123"
    first = store.code_digest()
    (tmp_path / "a.py").write_text("x = 2\n")
    assert store.code_digest() != first


def test_archive_round_trip_between_stores(tmp_path):
    source, target = tmp_path / "gpu", tmp_path / "book"
    save(source)
    other = {**CONFIG, "n_steps": 11}
    store.save("other", other, ARRAYS, store.provenance(other, "cpu", 1.0), root=source)
    assert store.export_entries(tmp_path / "a.tar.gz", ["demo"], source) == [
        f"demo-{store.config_key(CONFIG)}"]
    assert store.import_entries(tmp_path / "a.tar.gz", target) == [
        f"demo-{store.config_key(CONFIG)}"]
    arrays, meta = store.load("demo", CONFIG, root=target)
    np.testing.assert_array_equal(arrays["strength"], ARRAYS["strength"])
    assert not store.exists("other", other, target)
    with pytest.raises(FileExistsError, match="already holds"):
        store.import_entries(tmp_path / "a.tar.gz", target)
    assert store.import_entries(tmp_path / "a.tar.gz", target, overwrite=True)


def _archive(path, files):
    import io
    import tarfile

    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize("damage, message", [
    ("rename", "not a store entry"), ("drop_json", "incomplete"), ("config", "hashes to"),
    ("schema", "schema"), ("pickle", "pickle|numeric"),
])
def test_import_refuses_unsound_archives_and_writes_nothing(tmp_path, damage, message):
    source = tmp_path / "src"
    save(source)
    npz_path, json_path = store.entry_paths("demo", CONFIG, source)
    files = {npz_path.name: npz_path.read_bytes(), json_path.name: json_path.read_bytes()}
    meta = json.loads(json_path.read_text())
    if damage == "rename":
        files["../evil.npz"] = files.pop(npz_path.name)
    elif damage == "drop_json":
        del files[json_path.name]
    elif damage in ("config", "schema"):
        meta["config" if damage == "config" else "schema"] = (
            {**meta["config"], "n_steps": 99} if damage == "config" else 99)
        files[json_path.name] = json.dumps(meta).encode()
    else:
        import io
        buffer = io.BytesIO()
        np.savez(buffer, bad=np.array([{"a": 1}], dtype=object))
        files[npz_path.name] = buffer.getvalue()
    _archive(tmp_path / "bad.tar.gz", files)
    target = tmp_path / "book"
    with pytest.raises(ValueError, match=message):
        store.import_entries(tmp_path / "bad.tar.gz", target)
    assert not target.exists() or not any(target.iterdir())
