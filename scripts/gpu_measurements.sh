#!/usr/bin/env bash
# Every GPU figure of docs/benchmarks/, in one go, on a CUDA machine with PyTorch (no Kedro
# needed). Results go to $OUT (default ./gpu_results): log.txt holds everything printed.
#   CIFAR10_NPZ=cifar10_test.npz scripts/gpu_measurements.sh
# CIFAR10_NPZ: the CIFAR-10 test split as arrays (pixels N,3,32,32 uint8; labels), e.g. made with
#   python -c "from deepcluster.data.sources import load_folder; import numpy as np; \
#     c = load_folder('cifar10/test', 32, labels='subfolders').collection; \
#     np.savez('cifar10_test.npz', pixels=c.pixels, labels=c.labels)"
# DEADLINE (seconds, default 540) stops starting new quality runs once passed.
set -u
OUT=${OUT:-gpu_results}
mkdir -p "$OUT"
export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
CIFAR10_NPZ=${CIFAR10_NPZ:-.device/cifar10_test.npz}
DEADLINE=${DEADLINE:-540}
start=$SECONDS
exec > >(tee -a "$OUT/log.txt") 2>&1

step() { echo; echo "=== $* (t=$((SECONDS - start)) s)"; }

step environment
python3 -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__, torch.cuda.get_device_name())"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader

step "library tests (no Kedro on this machine), CUDA tests included"
timeout 200 python3 -m pytest -q -p no:cacheprovider tests --ignore=tests/test_run.py --ignore=tests/test_viz.py \
  --ignore=tests/pipelines --ignore=tests/io 2>&1 | tail -n 15

step "k-means: torch on the GPU, distance step against the matrix product"
timeout 150 python3 scripts/benchmark_kmeans.py --device cuda --n 10000 100000 1000000 --k 100 1000 10000 \
  --iterations 5 --max-flop 1e14 --json "$OUT/kmeans.json"

step "a CIFAR-10-sized round: 50k 32x32 RGB, ResNet-18 (CIFAR stem)"
timeout 150 python3 scripts/benchmark_speed.py --synthetic 50000 3 32 --rounds 4 --set runtime.device=cuda \
  --set model.name=resnet18 --set kmeans.k=100 --set pca.dim=128 --set training.batch_size=256 \
  --json "$OUT/speed_cifar.json"

step "an ImageNet-shaped round: 10k 224x224 RGB, AlexNet-BN"
timeout 150 python3 scripts/benchmark_speed.py --synthetic 10000 3 224 --rounds 3 --set runtime.device=cuda \
  --set model.name=alexnet_bn --set kmeans.k=1000 --set pca.dim=256 \
  --set training.batch_size=256 --json "$OUT/speed_imagenet.json"

step "memory: one feature pass over 1M images with 4096-d features"
timeout 120 python3 scripts/benchmark_feature_memory.py --n 1000000 --device cuda

step "quality on the CIFAR-10 test split (10k images): the cifar10 configuration"
for seed in 0 1 2; do
  for env in cifar10; do
    if (( SECONDS - start > DEADLINE )); then echo "deadline: skipping $env seed $seed"; continue; fi
    echo "--- $env seed $seed"
    timeout 150 python3 scripts/run_without_kedro.py --env "$env" --set data.source=npz \
      --set "data.path=$CIFAR10_NPZ" --set runtime.device=cuda --set "runtime.seed=$seed" \
      --out /tmp/quality.json > /tmp/quality.log 2>&1
    tail -n 4 /tmp/quality.log
    python3 -c "import json, sys; r = json.load(open('/tmp/quality.json')); r.pop('parameters'); \
      r.update(env=sys.argv[1], seed=int(sys.argv[2])); print(json.dumps(r))" "$env" "$seed" >> "$OUT/quality.jsonl" \
      && python3 -c "import json; r = [json.loads(l) for l in open('$OUT/quality.jsonl')][-1]; \
      print({k: round(v, 4) for k, v in r['report']['trained'].items()}, r['timings'])"
  done
done
step done
