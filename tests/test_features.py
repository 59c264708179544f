import numpy as np
import torch

from deepcluster.features import extract_features, extract_reduced_features
from deepcluster.models import build_model
from deepcluster.runtime import Execution

CPU_RUN = Execution()


def _model():
    return build_model("small_convnet", 1, seed=0, width=4, feature_dim=16)


def test_features_follow_the_index_order_and_ignore_batching(planted):
    model = _model()
    everything = extract_features(model, planted, batch_size=7, execution=CPU_RUN, crop_size=8)
    assert everything.shape == (len(planted), 16)
    order = np.random.default_rng(0).permutation(len(planted))
    shuffled = extract_features(model, planted, batch_size=32, execution=CPU_RUN, crop_size=8, indices=order)
    torch.testing.assert_close(shuffled, everything[order], atol=1e-5, rtol=1e-4)


def test_extraction_runs_in_eval_mode(planted):
    model = _model().train()
    one = extract_features(model, planted, batch_size=60, execution=CPU_RUN, crop_size=8)
    two = extract_features(model, planted, batch_size=5, execution=CPU_RUN, crop_size=8)
    torch.testing.assert_close(one, two, atol=1e-5, rtol=1e-4)  # batch statistics would differ
    assert not model.training


def test_reduction_on_all_images_and_on_a_sample(planted):
    model = _model()
    settings = dict(pca_dim=8, batch_size=16, execution=CPU_RUN, crop_size=8)
    full = extract_reduced_features(model, planted, **settings)
    sampled = extract_reduced_features(model, planted, pca_fit_size=40, seed=3, **settings)
    for reduced in (full, sampled):
        assert reduced.features.shape == (len(planted), 8)
        torch.testing.assert_close(reduced.features.norm(dim=1), torch.ones(len(planted)))
    assert full.pca_fit_size == len(planted) and sampled.pca_fit_size == 40
    assert 0 < full.collapse_std < 1


def test_channels_last_gives_the_same_features(planted):
    model = _model()
    plain = extract_features(model, planted, batch_size=16, execution=CPU_RUN, crop_size=8)
    fancy = Execution(channels_last=True)
    fancy.place_model(model)
    torch.testing.assert_close(
        extract_features(model, planted, batch_size=16, execution=fancy, crop_size=8), plain, atol=1e-4, rtol=1e-4
    )
