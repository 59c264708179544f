import numpy as np
import pandas as pd

from deepcluster.data.collection import collection_from_arrays
from deepcluster.report.duplicates import (
    FEATURE_SIMILARITY,
    PIXEL_SIMILARITY,
    SIDE,
    duplicate_groups,
    near_copies,
    pixel_descriptors,
)


def smooth_images(n: int, seed: int = 0) -> np.ndarray:
    """n colour images of 32 pixels: random 4 x 4 patterns blown up (so that shrinking keeps them apart)."""
    coarse = np.random.default_rng(seed).integers(0, 256, (n, 3, 4, 4))
    return np.kron(coarse, np.ones((1, 1, 8, 8))).astype(np.uint8)


def test_descriptors_are_the_grey_images_shrunk_by_area_centred_and_of_length_one():
    pixels = np.random.default_rng(0).integers(0, 256, (5, 3, 32, 32), dtype=np.uint8)
    descriptors = pixel_descriptors(collection_from_arrays(pixels, None, [], None, "npz"))
    grey = pixels.astype(np.float64).mean(axis=1)
    blocks = grey.reshape(5, SIDE, 32 // SIDE, SIDE, 32 // SIDE).mean(axis=(2, 4)).reshape(5, -1)
    blocks -= blocks.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(descriptors, blocks / np.linalg.norm(blocks, axis=1, keepdims=True), atol=1e-5)


def test_altered_and_mirrored_copies_are_found_and_look_alikes_the_network_tells_apart_are_not():
    """Copies of images 3 (brighter, and mirrored), 10 (lower contrast, with noise) and 20 (mirrored)."""
    rng = np.random.default_rng(1)
    originals = smooth_images(200)
    copies = np.stack(
        [
            np.clip(originals[3].astype(int) + 30, 0, 255),
            originals[3][:, :, ::-1],
            np.clip(originals[10] * 0.7 + rng.normal(0, 3, originals[10].shape), 0, 255),
            originals[20][:, :, ::-1],
            originals[40],  # a pixel copy of 40 whose features differ: not a near-copy
        ]
    ).astype(np.uint8)
    images = collection_from_arrays(np.concatenate([originals, copies]), None, [], None, "npz")
    features = rng.normal(size=(200, 32))
    features = np.concatenate([features, features[[3, 3, 10, 20]] + 0.01 * rng.normal(size=(4, 32)), -features[[40]]])
    pairs = near_copies(pixel_descriptors(images), features.astype(np.float32))
    assert (pairs["pixel_similarity"] >= PIXEL_SIMILARITY).all() and (
        pairs["feature_similarity"] >= FEATURE_SIMILARITY
    ).all()
    groups = duplicate_groups(pairs, [f"image{i}" for i in range(205)])
    assert [sorted(g["row"]) for _, g in groups.groupby("group")] == [[3, 200, 201], [10, 202], [20, 203]]
    assert groups.loc[groups["row"] == 203, "image_id"].item() == "image203"


def test_where_every_image_has_a_look_alike_only_a_much_closer_pair_is_a_copy():
    """100 pairs of images alike above PIXEL_SIMILARITY (as two handwritten ones in 8 x 8 pixels are), and one
    exact copy: only the copy is flagged."""
    rng = np.random.default_rng(4)
    halves = np.stack([rng.permutation([60.0] * 8 + [190.0] * 8) for _ in range(100)]).reshape(100, 1, 4, 4)
    base = np.kron(np.repeat(halves, 3, axis=1), np.ones((1, 1, 8, 8)))  # half dark, half light: one contrast
    alike = base + rng.normal(0, 12, base.shape)
    pixels = np.concatenate([base, alike, base[:1]]).astype(np.uint8)
    descriptors = pixel_descriptors(collection_from_arrays(pixels, None, [], None, "npz"))
    look_alike = np.einsum("ij,ij->i", descriptors[:100], descriptors[100:200])
    assert np.median(look_alike) > PIXEL_SIMILARITY  # each would be flagged by the similarity alone
    features = np.tile(rng.normal(size=(1, 16)), (201, 1)).astype(np.float32)  # the network sees all alike
    pairs = near_copies(descriptors, features)
    assert list(zip(pairs["first"], pairs["second"])) == [(0, 200)]


def test_groups_join_every_pair_that_shares_an_image():
    """Against merging sets by hand."""
    rng = np.random.default_rng(2)
    first = rng.integers(0, 50, 40)
    second = rng.integers(0, 50, 40)
    keep = first < second
    pairs = pd.DataFrame(
        {"first": first[keep], "second": second[keep], "pixel_similarity": 0.99, "feature_similarity": 0.99}
    )
    sets = []
    for a, b in zip(pairs["first"], pairs["second"], strict=True):
        touching = [s for s in sets if a in s or b in s]
        merged = {a, b}.union(*touching)
        sets = [s for s in sets if s not in touching] + [merged]
    table = duplicate_groups(pairs, [str(i) for i in range(50)])
    assert sorted(sorted(g["row"]) for _, g in table.groupby("group")) == sorted(sorted(s) for s in sets)
    sizes = table.groupby("group").size().to_numpy()
    assert (np.diff(sizes) <= 0).all()  # the largest group first


def test_distinct_images_make_no_groups():
    images = collection_from_arrays(smooth_images(100, seed=3), None, [], None, "npz")
    features = np.random.default_rng(3).normal(size=(100, 16)).astype(np.float32)
    pairs = near_copies(pixel_descriptors(images), features)
    assert pairs.empty and duplicate_groups(pairs, [str(i) for i in range(100)]).empty
