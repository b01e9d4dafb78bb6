"""PyTorch backend: runs the reference ``.pt2`` program from ``corr-export torch``, without corrwise.models.

The ``.pt2`` file is a ``torch.export`` archive: the traced graph and its
weights as plain tensors, with the I/O contract in the extra file
:data:`CONTRACT_FILE`. Loading it needs torch but no model code::

    with PyTorchRunner("model.pt2") as runner:
        out = runner.infer({"frame0": x0, "frame1": x1})   # float32 (N, 3, H, W) in [-1, 1]

torch is imported in :meth:`PyTorchRunner._open`, never when the runtime is
imported. ``torch.export.load`` unpickles some archive members (tensor
subclasses, custom objects, sample inputs); the runner first checks the
archive and refuses any that holds such data, so no pickle from a model file
is ever loaded.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from corrwise.contract import METADATA_KEY, IOContract
from corrwise.errors import BackendUnavailable, ConfigError, ContractError, InputError
from corrwise.extras import import_for
from corrwise.runtime.backends.base import Runner

# Name of the extra file that carries the I/O contract (the JSON of IOContract.to_metadata).
CONTRACT_FILE = "corrwise.contract.json"
PURPOSE = "the pytorch backend"
EXPECTED = "expected a .pt2 file written by `corr-export torch`"


def pickled_members(archive: zipfile.ZipFile) -> list[str]:
    """Members of a ``torch.export`` archive that ``torch.export.load`` would unpickle.

    Those are non-empty sample inputs, and weights or constants whose payload
    entry is pickled (``use_pickle``) or is not a plain tensor (no ``tensor_meta``).
    """
    found = []
    for info in archive.infolist():
        parts = info.filename.split("/")
        if "sample_inputs" in parts and info.file_size > 0:
            found.append(info.filename)
        elif info.filename.endswith("_config.json") and {"weights", "constants"} & set(parts):
            try:
                entries = json.loads(archive.read(info)).get("config", {})
            except (json.JSONDecodeError, AttributeError, UnicodeDecodeError):
                found.append(f"{info.filename} (not a payload configuration)")
                continue
            found += [
                f"{info.filename}: {key}"
                for key, meta in entries.items()
                if not isinstance(meta, dict) or meta.get("use_pickle") or meta.get("tensor_meta") is None
            ]
    return found


def check_pt2(path: Path) -> None:
    """InputError unless ``path`` is a ``torch.export`` archive (format ``pt2``) free of pickled data."""
    if not zipfile.is_zipfile(path):
        raise InputError(f"{path} is not a .pt2 archive (not a zip file); {EXPECTED}")
    try:
        with zipfile.ZipFile(path) as archive:
            formats = [n for n in archive.namelist() if n.rsplit("/", 1)[-1] == "archive_format"]
            if not formats or archive.read(formats[0]).strip() != b"pt2":
                raise InputError(
                    f"{path} is a zip file but not a torch.export archive of format pt2 (another kind of "
                    f"file, or one saved by an older torch); {EXPECTED} with the installed torch"
                )
            pickled = pickled_members(archive)
    except zipfile.BadZipFile as err:
        raise InputError(f"{path} is a damaged zip archive ({err}); {EXPECTED}") from err
    if pickled:
        raise InputError(
            f"{path} holds pickled data, which corrwise never loads from a model file: "
            f"{', '.join(pickled[:3])}{' ...' if len(pickled) > 3 else ''}; {EXPECTED}, which stores "
            "plain tensors only"
        )


class PyTorchRunner(Runner):
    """Runs a ``.pt2`` program exported by ``corr-export torch`` with PyTorch (the reference backend).

    Args:
        path: the ``.pt2`` file (it carries the contract).
        device: ``"cpu"`` or a CUDA device such as ``"cuda"`` or ``"cuda:1"``.
        threads: CPU threads for torch (``torch.set_num_threads``, which applies
            to the whole process); None keeps torch's default.
    """

    backend = "pytorch"

    def __init__(self, path: str | Path, device: str = "cpu", threads: int | None = None) -> None:
        super().__init__(path)
        self.device = device
        self.threads = threads
        self._torch: ModuleType | None = None
        self._module: Any = None
        self._device: Any = None

    def _describe(self) -> str:
        if self._device is None:
            return self.backend
        details = [str(self._device)]
        if self.threads is not None and self._device.type == "cpu":
            details.append(f"{self.threads} thread{'s' if self.threads != 1 else ''}")
        return f"{self.backend} ({', '.join(details)})"

    def _open(self) -> IOContract:
        check_pt2(self.path)
        torch = import_for("torch", "train", PURPOSE)
        device = self._resolve_device(torch)
        extra = {CONTRACT_FILE: ""}
        try:
            program = torch.export.load(str(self.path), extra_files=extra)
        except Exception as err:  # torch raises many kinds for unreadable archives
            raise InputError(
                f"torch cannot load {self.path} ({type(err).__name__}: {err}); {EXPECTED}"
            ) from err
        contract = self._read_contract(extra[CONTRACT_FILE])
        if device.type != "cpu":
            from torch.export.passes import move_to_device_pass

            program = move_to_device_pass(program, device)
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        self._torch, self._module, self._device = torch, program.module(), device
        return contract

    def _resolve_device(self, torch: ModuleType) -> Any:
        try:
            device = torch.device(self.device)
        except (RuntimeError, TypeError) as err:
            raise ConfigError(
                f"device must be 'cpu' or a CUDA device such as 'cuda:0', got {self.device!r}"
            ) from err
        if device.type == "cuda" and not torch.cuda.is_available():
            raise BackendUnavailable(
                f"{PURPOSE} was asked for device {self.device!r}, but torch {torch.__version__} sees no CUDA "
                "device (a CPU-only build, or no NVIDIA driver); use device='cpu', or install a CUDA build "
                "of torch on a machine with an NVIDIA GPU"
            )
        if device.type not in ("cpu", "cuda"):
            raise ConfigError(f"device must be 'cpu' or a CUDA device such as 'cuda:0', got {self.device!r}")
        return device

    def _read_contract(self, text: str | bytes) -> IOContract:
        if not text:
            raise ContractError(
                f"{self.path} has no corrwise I/O contract (no extra file {CONTRACT_FILE!r} in the archive); "
                "export it with `corr-export torch`, which writes the contract into the .pt2"
            )
        text = text.decode("utf-8") if isinstance(text, bytes) else text
        contract = IOContract.from_metadata({METADATA_KEY: text}, source=str(self.path))
        if (contract.layout, contract.dtype, contract.fused_io) != ("NCHW", "float32", False):
            raise ContractError(
                f"{self.path}: a .pt2 program takes float32 NCHW frames, but its contract says "
                f"{contract.dtype} {contract.layout} (fused_io={contract.fused_io}); re-export it with "
                "`corr-export torch`"
            )
        return contract

    def _infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch, c = self._torch, self.contract
        names = [*c.input_names, *([c.timestep_input] if c.timestep_input else [])]
        args = [torch.from_numpy(np.ascontiguousarray(inputs[name])).to(self._device) for name in names]
        try:
            with torch.inference_mode():
                result = self._module(*args)
        except (RuntimeError, AssertionError, ValueError) as err:
            shapes = {name: tuple(a.shape) for name, a in zip(names, args, strict=True)}
            raise InputError(f"{self.path.name} rejected inputs {shapes}: {err}") from err
        outputs = result if isinstance(result, tuple | list) else (result,)
        if len(outputs) != len(c.output_names):
            raise ContractError(
                f"{self.path.name} returned {len(outputs)} outputs, its contract names {list(c.output_names)}"
            )
        return {
            name: out.detach().to("cpu").numpy() for name, out in zip(c.output_names, outputs, strict=True)
        }

    def _close(self) -> None:
        self._torch = None
        self._module = None
        self._device = None
