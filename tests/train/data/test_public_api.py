"""corrwise.train.data lists its public names, and each resolves."""

import corrwise.train.data as data

PUBLIC = {
    "FrameSequence", "FolderSequence", "ImageFiles", "VideoSequence", "open_kitti", "open_vimeo",
    "PredictionClips", "InterpolationSamples", "SyntheticInterpolation", "SyntheticPrediction",
    "SyntheticTriplets", "SourceConfig", "DataConfig", "open_sequences", "build_dataset", "set_epoch",
}  # fmt: skip


def test_public_names_are_listed_and_resolve():
    assert set(data.__all__) >= PUBLIC
    assert len(data.__all__) == len(set(data.__all__))
    for name in data.__all__:
        assert getattr(data, name) is not None
