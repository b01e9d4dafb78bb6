"""Resumable checkpoints: exact round trip, atomic folders, and recovery from half-written ones."""

from __future__ import annotations

import pytest
import torch
from corrwise.errors import CheckpointError
from corrwise.models import build_model, load_checkpoint
from corrwise.train.train_state import find_resumable, load_training_state, save_training_state


def _trained(steps: int = 3) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = build_model("edge-unet", {"base_channels": 4, "depth": 2})
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    for _ in range(steps):
        optimizer.zero_grad()
        (model(x, x.flip(-1)) - x).abs().mean().backward()
        optimizer.step()
    return model, optimizer


def test_round_trip_restores_weights_optimizer_and_step(tmp_path):
    model, optimizer = _trained()
    folder = save_training_state(tmp_path, 3, model, "edge-unet", optimizer, {"loss": "l1"}, {"note": 1})
    assert folder.name == "step_00000003"
    fresh = build_model("edge-unet", {"base_channels": 4, "depth": 2})
    fresh_opt = torch.optim.AdamW(fresh.parameters(), lr=1e-2, weight_decay=0.1)
    state = load_training_state(folder, fresh, fresh_opt)
    assert state.step == 3 and state.extra == {"note": 1}
    for a, b in zip(model.state_dict().values(), fresh.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    saved, loaded = optimizer.state_dict(), fresh_opt.state_dict()
    assert saved["param_groups"] == loaded["param_groups"]
    for index, entries in saved["state"].items():
        for name, value in entries.items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(loaded["state"][index][name]))
    assert load_checkpoint(folder / "model.safetensors").training == {"loss": "l1"}  # exportable as is


def test_keeps_only_the_newest_and_points_latest_at_the_last(tmp_path):
    model, optimizer = _trained(1)
    for step in (10, 20, 30):
        save_training_state(tmp_path, step, model, "edge-unet", optimizer, {}, {}, keep=2)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["latest", "step_00000020", "step_00000030"]
    assert find_resumable(tmp_path).name == "step_00000030"


def test_incomplete_folders_are_skipped_and_stale_temporaries_removed(tmp_path):
    model, optimizer = _trained(1)
    save_training_state(tmp_path, 10, model, "edge-unet", optimizer, {}, {})
    root = tmp_path / "checkpoints"
    broken = root / "step_00000020"  # as if a copy was interrupted: no state.json
    broken.mkdir()
    (broken / "model.safetensors").write_bytes(b"partial")
    stale = root / ".step_00000030.tmp-99999"
    stale.mkdir()
    (root / "latest").write_text("step_00000020\n")
    assert find_resumable(tmp_path).name == "step_00000010"
    save_training_state(tmp_path, 11, model, "edge-unet", optimizer, {}, {}, keep=5)
    assert not stale.exists()


def test_corrupt_state_json_is_not_resumable(tmp_path):
    model, optimizer = _trained(1)
    folder = save_training_state(tmp_path, 5, model, "edge-unet", optimizer, {}, {})
    (folder / "state.json").write_text("{truncated")
    assert find_resumable(tmp_path) is None
    with pytest.raises(CheckpointError, match=r"state\.json"):
        load_training_state(folder, model, optimizer)


def test_nothing_to_resume_in_an_empty_folder(tmp_path):
    assert find_resumable(tmp_path) is None


def test_a_kill_while_pruning_never_leaves_a_half_deleted_checkpoint_in_view(tmp_path, monkeypatch):
    import corrwise.train.train_state as train_state

    model, optimizer = _trained(1)
    for step in (10, 20):
        save_training_state(tmp_path, step, model, "edge-unet", optimizer, {}, {}, keep=2)

    def killed_midway(path, ignore_errors=False):  # deletion interrupted: the files are still there
        raise SystemExit("killed")

    monkeypatch.setattr(train_state.shutil, "rmtree", killed_midway)
    with pytest.raises(SystemExit):
        save_training_state(tmp_path, 30, model, "edge-unet", optimizer, {}, {}, keep=2)
    visible = sorted(p.name for p in (tmp_path / "checkpoints").glob("step_*"))
    assert visible == ["step_00000020", "step_00000030"]  # step 10 is hidden, not half-deleted
    for name in visible:
        load_checkpoint(tmp_path / "checkpoints" / name / "model.safetensors")
    monkeypatch.undo()
    save_training_state(tmp_path, 40, model, "edge-unet", optimizer, {}, {}, keep=2)
    assert not list((tmp_path / "checkpoints").glob(".*"))  # the next save sweeps it up
