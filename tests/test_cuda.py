"""The GPU path: the same functions with the device as a parameter give what the CPU gives.

Skipped without CUDA (CI); run on a GPU machine.
"""

import numpy as np
import pytest
import torch

from deepcluster.clustering.kmeans import torch_kmeans
from deepcluster.features import extract_features
from deepcluster.models import build_model
from deepcluster.runtime import Execution
from tests.methods.test_deepcluster import body_sgd, deepcluster_round

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
CUDA = torch.device("cuda")


def test_features_on_the_gpu_match_the_cpu(planted):
    model = build_model("small_convnet", 1, seed=0, width=8, feature_dim=16).eval()
    on_cpu = extract_features(model, planted, 16, Execution(), crop_size=8)
    gpu = Execution(device=CUDA, channels_last=True)
    on_gpu = extract_features(gpu.place_model(model), planted, 16, gpu, crop_size=8)
    torch.testing.assert_close(on_gpu.cpu(), on_cpu, atol=1e-3, rtol=1e-3)


def test_mixed_precision_training_on_the_gpu_learns(planted):
    model = build_model("small_convnet", 1, seed=0, width=8, feature_dim=16)
    execution = Execution(device=CUDA, mixed_precision=True, channels_last=True)
    execution.place_model(model)
    optimizer = body_sgd(model, lr=0.2)
    losses = []
    for seed in range(15):
        log = deepcluster_round(model, optimizer, planted, seed, lr=0.2, execution=execution)
        losses.append(log["loss"])
    assert np.mean(losses[-3:]) < 0.75 * losses[0]


def test_torch_kmeans_on_the_gpu_matches_the_cpu():
    points = torch.nn.functional.normalize(torch.randn(5000, 32, generator=torch.Generator().manual_seed(0)), dim=1)
    init = points[:40].clone()
    on_cpu = torch_kmeans(points, 40, n_iter=10, init_centroids=init)
    on_gpu = torch_kmeans(points.to(CUDA), 40, n_iter=10, init_centroids=init.to(CUDA))
    assert on_gpu.objective == pytest.approx(on_cpu.objective, rel=1e-3)
