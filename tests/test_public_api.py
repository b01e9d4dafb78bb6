"""Each package lists its public names, and every listed name resolves."""

import importlib

import pytest

PACKAGES = {
    "corrwise": {"CorrwiseError", "InputError", "ContractError", "IOContract", "__version__"},
    "corrwise.models": {
        "EdgeFlow",
        "EdgeFlowConfig",
        "EdgeUNet",
        "EdgeUNetConfig",
        "VideoPredictor3D",
        "VideoPredictor3DConfig",
        "Pix2PixHDGlobal",
        "Pix2PixHDConfig",
        "build_model",
        "load_checkpoint",
        "save_checkpoint",
        "list_models",
    },
    "corrwise.train": {"SyntheticTriplets", "RunConfig", "train", "CorrWise", "build_flow", "build_dataset"},
    "corrwise.train.losses": {"CorrWise", "build_base_loss", "L1Loss", "SSIMLoss", "CensusLoss", "VGGLoss"},
    "corrwise.train.flow": {"FlowEstimator", "build_flow", "MatchFlow", "DISFlow", "RAFTFlow", "OracleFlow"},
    "corrwise.export": {
        "onnx_from_checkpoint",
        "OnnxOptions",
        "int8_from_onnx",
        "engine_from_onnx",
        "triton_repository",
        "verify",
        "export_bundle",
    },
    "corrwise.runtime": {
        "Interpolator",
        "Predictor",
        "PredictorStream",
        "SceneCutDetector",
        "Runner",
        "OnnxRuntimeRunner",
        "open_runner",
        "upsample_video",
    },
    "corrwise.runtime.serve": {
        "ServeConfig",
        "create_app",
        "create_server_app",
        "BackgroundServer",
        "ModelRepository",
    },
}


@pytest.mark.parametrize("name", sorted(PACKAGES))
def test_public_names_are_listed_and_resolve(name):
    module = importlib.import_module(name)
    assert PACKAGES[name] <= set(module.__all__)
    for attr in module.__all__:
        assert getattr(module, attr) is not None


def test_unknown_names_raise_attribute_error():
    import corrwise.export
    import corrwise.train

    for module in (corrwise.train, corrwise.export):
        with pytest.raises(AttributeError):
            _ = module.no_such_name
