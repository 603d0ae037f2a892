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
