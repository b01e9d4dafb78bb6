"""Backends: ONNX Runtime providers, the PyTorch reference backend, and backend="auto"."""

import logging
import threading
import time
import zipfile

import numpy as np
import onnxruntime
import pytest
import torch
from corrwise.errors import BackendUnavailable, ConfigError, ContractError, InputError
from corrwise.export.torch_export import pt2_from_checkpoint
from corrwise.models import load_checkpoint
from corrwise.runtime.backends import (
    BACKENDS,
    OnnxRuntimeRunner,
    PyTorchRunner,
    choose_backend,
    open_runner,
)
from corrwise.runtime.backends import ort_providers as op
from corrwise.runtime.backends.pytorch_backend import CONTRACT_FILE
from corrwise.tolerances import TOLERANCES, compare, tolerance_for

from tests.conftest import fused_contract, make_contract

# ONNX Runtime warns when asked for a provider its build lacks (the fallback tests do that on purpose).
pytestmark = pytest.mark.filterwarnings("ignore:Specified provider:UserWarning")
ALL_PROVIDERS = [op.TENSORRT, op.CUDA, op.CPU]
CPU_ONLY = [op.CPU]


@pytest.fixture(scope="module")
def pt2_path(checkpoint_path, tmp_path_factory):
    return pt2_from_checkpoint(checkpoint_path, tmp_path_factory.mktemp("pt2") / "model.pt2")


def frames(shape, seed=0):
    rng = np.random.default_rng(seed)
    return {name: (rng.random(shape, dtype=np.float32) * 2 - 1) for name in ("frame0", "frame1")}


def pretend_available(monkeypatch, providers):
    """Make ONNX Runtime report ``providers`` as available (the real session still runs on the CPU)."""
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: list(providers))


# ----------------------------------------------------------------------------- provider options


def test_provider_names_accept_short_and_full_names_and_refuse_others():
    assert op.provider_names(["tensorrt", "CUDA", "cpu", "cuda"]) == (op.TENSORRT, op.CUDA, op.CPU)
    assert op.provider_names([op.CPU]) == (op.CPU,)
    assert op.short_name(op.CUDA) == "cuda"
    with pytest.raises(ConfigError, match="unknown execution provider 'gpu'"):
        op.provider_names(["gpu"])
    with pytest.raises(ConfigError, match="at least one"):
        op.provider_names([])


def test_tensorrt_options_carry_caches_precision_and_the_contract_profile(tmp_path):
    options = op.tensorrt_options(make_contract(), tmp_path, fp16=True)
    assert options["trt_fp16_enable"] == "True"
    assert options["trt_engine_cache_enable"] == options["trt_timing_cache_enable"] == "True"
    assert options["trt_engine_cache_path"] == options["trt_timing_cache_path"] == str(tmp_path)
    assert options["trt_profile_min_shapes"] == "frame0:1x3x64x64,frame1:1x3x64x64"
    assert options["trt_profile_opt_shapes"] == "frame0:1x3x256x448,frame1:1x3x256x448"
    assert options["trt_profile_max_shapes"] == "frame0:8x3x1088x1920,frame1:8x3x1088x1920"
    assert options["trt_int8_enable"] == "False"
    assert op.tensorrt_options(make_contract(), tmp_path)["trt_fp16_enable"] == "False"
    assert op.tensorrt_options(make_contract(precision="int8"), tmp_path)["trt_int8_enable"] == "True"


def test_tensorrt_profile_follows_layout_alignment_timestep_and_static_size(tmp_path):
    fused = op.tensorrt_options(fused_contract(align=32, timestep_input="timestep"), tmp_path)
    assert fused["trt_profile_min_shapes"] == "frame0:1x64x64x3,frame1:1x64x64x3,timestep:1x1x1x1"
    assert fused["trt_profile_opt_shapes"].startswith("frame0:1x256x448x3,")
    assert fused["trt_profile_max_shapes"].endswith(",timestep:8x1x1x1")
    aligned = op.tensorrt_options(make_contract(align=48), tmp_path)
    assert aligned["trt_profile_max_shapes"].startswith("frame0:8x3x1104x1920,")  # 1088 -> 23 * 48
    static = op.tensorrt_options(make_contract(static_hw=(48, 64)), tmp_path)
    assert {static[f"trt_profile_{w}_shapes"].split(",")[0] for w in ("min", "opt")} == {"frame0:1x3x48x64"}
    assert static["trt_profile_max_shapes"].split(",")[0] == "frame0:8x3x48x64"


def test_session_providers_in_order_with_cuda_options(tmp_path):
    providers = op.session_providers((op.TENSORRT, op.CUDA, op.CPU), make_contract(), tmp_path)
    assert [name for name, _ in providers] == [op.TENSORRT, op.CUDA, op.CPU]
    assert providers[1][1] == {"device_id": "0", "cudnn_conv_algo_search": "HEURISTIC"}
    assert providers[2][1] == {}
    with pytest.raises(ConfigError, match="contract"):
        op.session_providers((op.TENSORRT,), None, tmp_path)


def test_missing_and_fallback_messages_say_what_to_do():
    assert op.missing_provider_message([op.CPU], CPU_ONLY) is None
    message = op.missing_provider_message([op.CUDA, op.CPU], ["AzureExecutionProvider", op.CPU])
    assert op.CUDA in message and "AzureExecutionProvider" in message
    assert "pip install 'corrwise[gpu]'" in message and "onnxruntime-gpu" in message
    assert op.fallback_problem([op.CUDA, op.CPU], [op.CUDA, op.CPU]) is None
    assert op.CPU in op.fallback_problem([op.TENSORRT, op.CUDA], [op.CPU])


def test_default_cache_dir_is_per_user(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert op.default_cache_dir() == tmp_path / "corrwise" / "ort-trt"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert op.default_cache_dir().parts[-3:] == (".cache", "corrwise", "ort-trt")


# ----------------------------------------------------------------------------- ONNX Runtime runner


def test_onnxruntime_runner_describes_what_runs(onnx_path):
    runner = OnnxRuntimeRunner(onnx_path, threads=2)
    assert runner.description == "onnxruntime"
    with runner:
        assert runner.active_providers[0] == op.CPU
        assert runner.description == "onnxruntime (CPUExecutionProvider, 2 threads)"
        assert runner.fallback is None


def test_unavailable_provider_names_it_what_is_there_and_what_to_install(onnx_path, monkeypatch):
    pretend_available(monkeypatch, CPU_ONLY)
    with pytest.raises(BackendUnavailable) as info:
        OnnxRuntimeRunner(onnx_path, providers=("tensorrt",)).open()
    message = str(info.value)
    assert op.TENSORRT in message and op.CPU in message and "pip install 'corrwise[gpu]'" in message


def test_a_silent_fallback_to_the_cpu_is_refused_unless_cpu_was_listed(onnx_path, monkeypatch):
    pretend_available(monkeypatch, ALL_PROVIDERS)  # this onnxruntime really falls back to the CPU
    with pytest.raises(BackendUnavailable, match="asked for CUDAExecutionProvider but runs the model on CPU"):
        OnnxRuntimeRunner(onnx_path, providers=("cuda",)).open()
    with OnnxRuntimeRunner(onnx_path, providers=("cuda", "cpu")) as runner:
        assert runner.active_providers[0] == op.CPU and op.CUDA in runner.fallback
        assert runner.description.endswith("fallback from CUDAExecutionProvider)")
        out = runner.infer(frames((1, 3, 24, 32)))["frame"]
    assert out.shape == (1, 3, 24, 32)


def test_tensorrt_provider_gets_its_options_and_a_cache_folder(onnx_path, monkeypatch, tmp_path):
    pretend_available(monkeypatch, ALL_PROVIDERS)
    seen = []
    real_session = onnxruntime.InferenceSession

    def recording_session(path, options=None, providers=None):
        seen.append(providers)
        return real_session(path, options, providers=providers)

    monkeypatch.setattr(onnxruntime, "InferenceSession", recording_session)
    cache = tmp_path / "cache" / "trt"
    runner = OnnxRuntimeRunner(onnx_path, providers=("tensorrt", "cuda"), cache_dir=cache, fp16=True)
    with pytest.raises(BackendUnavailable, match="TensorrtExecutionProvider"):
        runner.open()
    assert cache.is_dir()
    assert seen[0] == [(op.CPU, {})]  # the contract is read on the CPU first
    (trt_name, trt_options), (cuda_name, _) = seen[1]
    assert (trt_name, cuda_name) == (op.TENSORRT, op.CUDA)
    assert trt_options["trt_fp16_enable"] == "True" and trt_options["trt_engine_cache_path"] == str(cache)
    assert trt_options["trt_profile_min_shapes"] == "frame0:1x3x64x64,frame1:1x3x64x64"


def test_a_corrupt_model_is_an_input_error_on_any_provider(tmp_path, monkeypatch):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(InputError, match="not a loadable ONNX model"):
        OnnxRuntimeRunner(bad).open()
    pretend_available(monkeypatch, ALL_PROVIDERS)
    with pytest.raises(InputError, match="not a loadable ONNX model"):
        OnnxRuntimeRunner(bad, providers=("tensorrt", "cpu")).open()


# ----------------------------------------------------------------------------- PyTorch runner


@pytest.mark.parametrize("shape", [(1, 3, 40, 72), (2, 3, 24, 32)])
def test_pytorch_and_onnxruntime_agree_off_the_export_size(pt2_path, onnx_path, shape):
    inputs = frames(shape, seed=shape[0])
    with PyTorchRunner(pt2_path) as torch_runner, OnnxRuntimeRunner(onnx_path) as ort_runner:
        reference = torch_runner.infer(inputs)["frame"]
        output = ort_runner.infer(inputs)["frame"]
    assert reference.shape == shape and reference.dtype == np.float32
    result = compare(reference, output, "onnxruntime", "fp32")
    assert result.passed, f"max abs {result.max_abs} > {tolerance_for('onnxruntime', 'fp32').max_abs}"


def test_pytorch_backend_matches_the_original_model(pt2_path, checkpoint_path):
    inputs = frames((2, 3, 40, 56), seed=3)
    model = load_checkpoint(checkpoint_path).model
    with torch.no_grad():
        original = model(*(torch.from_numpy(inputs[n]) for n in ("frame0", "frame1"))).numpy()
    with PyTorchRunner(pt2_path, threads=1) as runner:
        assert runner.contract.input_names == ("frame0", "frame1")
        assert runner.description == "pytorch (cpu, 1 thread)"
        output = runner.infer(inputs)["frame"]
    assert np.max(np.abs(original - output)) <= TOLERANCES[("torch", "fp32")].max_abs


def test_pytorch_backend_checks_inputs_in_the_base_class(pt2_path):
    with PyTorchRunner(pt2_path) as runner:
        with pytest.raises(InputError, match="multiples of 8"):
            runner.infer(frames((1, 3, 20, 32)))
        with pytest.raises(InputError, match="takes inputs"):
            runner.infer({"frame0": frames((1, 3, 24, 32))["frame0"]})


def tiny_program():
    class Double(torch.nn.Module):
        def forward(self, x):
            return x * 2

    return torch.export.export(Double(), (torch.ones(2, 3, 8, 8),))


def test_a_pt2_without_a_contract_is_a_contract_error(tmp_path):
    program = tiny_program()
    program.example_inputs = None
    path = tmp_path / "plain.pt2"
    torch.export.save(program, path)
    with pytest.raises(ContractError, match=CONTRACT_FILE):
        PyTorchRunner(path).open()


def test_a_pt2_with_pickled_members_is_refused_before_torch_loads_it(tmp_path, pt2_path):
    path = tmp_path / "pickled.pt2"
    contract = zipfile.ZipFile(pt2_path).read(f"archive/extra/{CONTRACT_FILE}").decode()
    torch.export.save(tiny_program(), path, extra_files={CONTRACT_FILE: contract})  # keeps sample inputs
    with pytest.raises(InputError, match=r"pickled data.*sample_inputs"):
        PyTorchRunner(path).open()


def test_files_that_are_not_pt2_archives_are_input_errors(tmp_path, onnx_path):
    text = tmp_path / "notes.pt2"
    text.write_text("hello")
    with pytest.raises(InputError, match="not a zip file"):
        PyTorchRunner(text).open()
    with pytest.raises(InputError, match="not a zip file"):
        PyTorchRunner(onnx_path).open()
    other_zip = tmp_path / "other.pt2"
    with zipfile.ZipFile(other_zip, "w") as archive:
        archive.writestr("data.txt", "x")
    with pytest.raises(InputError, match=r"not a torch\.export archive"):
        PyTorchRunner(other_zip).open()
    with pytest.raises(InputError, match="does not exist"):
        PyTorchRunner(tmp_path / "missing.pt2").open()


def test_pytorch_backend_refuses_a_missing_gpu_and_bad_devices(pt2_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(BackendUnavailable, match="no CUDA device"):
        PyTorchRunner(pt2_path, device="cuda").open()
    with pytest.raises(ConfigError, match="device must be"):
        PyTorchRunner(pt2_path, device="tpu").open()


def test_the_runtime_still_imports_without_torch_and_the_pytorch_backend_names_the_extra(pt2_path):
    from tests.runtime.test_no_torch import run_without_torch

    proc = run_without_torch(
        f"""
        import corrwise.runtime, corrwise.runtime.bench, corrwise.runtime.bench_cli
        from corrwise.errors import BackendUnavailable
        from corrwise.runtime.backends import open_runner
        try:
            open_runner({str(pt2_path)!r}, "pytorch")
        except BackendUnavailable as err:
            print(err)
        assert "torch" not in sys.modules
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert "pip install 'corrwise[train]'" in proc.stdout


# ----------------------------------------------------------------------------- auto


def test_auto_candidates_follow_the_suffix_and_what_is_available(monkeypatch):
    pretend_available(monkeypatch, ALL_PROVIDERS)
    assert choose_backend("m.onnx") == [
        ("onnxruntime", {"providers": ("tensorrt", "cuda")}),
        ("onnxruntime", {"providers": ("cuda",)}),
        ("onnxruntime", {"providers": ("cpu",)}),
    ]
    pretend_available(monkeypatch, ["AzureExecutionProvider", op.CPU])
    assert choose_backend("m.onnx") == [("onnxruntime", {"providers": ("cpu",)})]
    assert choose_backend("m.engine") == choose_backend("m.PLAN") == [("tensorrt", {})]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert choose_backend("m.pt2") == [("pytorch", {"device": "cuda"}), ("pytorch", {"device": "cpu"})]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert choose_backend("m.pt2") == [("pytorch", {"device": "cpu"})]


def test_auto_candidates_on_this_machine_end_on_the_cpu():
    chosen = choose_backend("m.onnx")
    available = onnxruntime.get_available_providers()
    assert chosen[-1] == ("onnxruntime", {"providers": ("cpu",)})
    assert len(chosen) == 1 + (op.CUDA in available) + (op.TENSORRT in available)


def test_auto_opens_onnx_and_pt2_and_says_why(onnx_path, pt2_path, monkeypatch, caplog):
    pretend_available(monkeypatch, ALL_PROVIDERS)  # both GPU providers fall back here, so auto skips them
    with caplog.at_level(logging.INFO, logger="corrwise.runtime.backends.auto"):
        runner = open_runner(onnx_path, "auto", threads=1)
    with runner:
        assert isinstance(runner, OnnxRuntimeRunner) and runner.active_providers[0] == op.CPU
        assert runner.description.startswith("onnxruntime (CPUExecutionProvider, 1 thread); chosen by")
        assert "onnxruntime/tensorrt+cuda" in runner.description and "onnxruntime/cuda:" in runner.description
    assert "onnxruntime (CPUExecutionProvider, 1 thread)" in caplog.text and "skipped" in caplog.text
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with open_runner(pt2_path, "auto") as runner:
        assert isinstance(runner, PyTorchRunner) and runner.description.startswith("pytorch (cpu)")


def test_auto_lets_options_pin_the_provider(onnx_path, monkeypatch):
    pretend_available(monkeypatch, ALL_PROVIDERS)
    with open_runner(onnx_path, "auto", providers=("cpu",)) as runner:
        assert runner.providers == (op.CPU,) and "skipped" not in runner.description.split("chosen")[1]
    with pytest.raises(ConfigError, match="cuda_graph"):
        open_runner(onnx_path, "auto", cuda_graph=True)


def test_auto_and_names_refuse_what_they_cannot_run(tmp_path, onnx_path):
    with pytest.raises(InputError, match=r"\.onnx, \.pt2, \.engine"):
        open_runner(tmp_path / "model.bin", "auto")
    with pytest.raises(InputError, match="does not exist"):
        open_runner(tmp_path / "missing.onnx", "auto")
    with pytest.raises(ConfigError) as info:
        open_runner(onnx_path, "openvino")
    assert all(name in str(info.value) for name in [*BACKENDS, "auto"])
    with pytest.raises(ConfigError, match="unknown \\['devcie'\\]"):
        open_runner(onnx_path, "onnxruntime", devcie="cpu")


def test_the_default_backend_is_still_onnxruntime_on_the_cpu(onnx_path):
    with open_runner(onnx_path) as runner:
        assert isinstance(runner, OnnxRuntimeRunner) and runner.providers == (op.CPU,)
        assert runner.selection == ""


def test_pytorch_is_registered():
    assert BACKENDS["pytorch"] is PyTorchRunner


def spin_setting(options) -> str:
    """The session's allow_spinning entry, or "default" when the runner left it alone."""
    try:
        return options.get_session_config_entry("session.intra_op.allow_spinning")
    except RuntimeError:  # onnxruntime: no such entry
        return "default"


@pytest.mark.parametrize(("spinning", "entry"), [(True, "default"), (False, "0")])
def test_spinning_sets_the_session_option_and_keeps_the_results(onnx_path, monkeypatch, spinning, entry):
    seen = []
    real_session = onnxruntime.InferenceSession

    def recording_session(path, options=None, providers=None):
        seen.append(spin_setting(options))
        return real_session(path, options, providers=providers)

    monkeypatch.setattr(onnxruntime, "InferenceSession", recording_session)
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 24, 32)).astype(np.float32)
    inputs = {"frame0": x, "frame1": -x}
    with OnnxRuntimeRunner(onnx_path, spinning=spinning) as runner:
        out = runner.infer(inputs)["frame"]
    monkeypatch.undo()
    with OnnxRuntimeRunner(onnx_path) as runner:
        ref = runner.infer(inputs)["frame"]
    assert seen == [entry]
    assert compare(ref, out, "onnxruntime", "fp32").passed


class _Overlap(OnnxRuntimeRunner):
    """ONNX Runtime underneath; records the most calls of _infer that were running at once."""

    def __init__(self, path, concurrent):
        super().__init__(path, threads=1)
        self.concurrent = concurrent
        self.running = self.most = 0
        self.guard = threading.Lock()

    def _infer(self, inputs):
        with self.guard:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.2)  # long enough for other threads to enter if nothing stops them
        try:
            return super()._infer(inputs)
        finally:
            with self.guard:
                self.running -= 1


@pytest.mark.parametrize("concurrent, most", [(True, 3), (False, 1)])
def test_calls_from_several_threads_overlap_only_on_concurrent_backends(onnx_path, concurrent, most):
    x = np.zeros((1, 3, 48, 64), np.float32)
    with _Overlap(onnx_path, concurrent) as runner:
        start = threading.Barrier(3, timeout=10)

        def call() -> None:
            start.wait()
            runner.infer({"frame0": x, "frame1": x})

        threads = [threading.Thread(target=call) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert runner.most == most
