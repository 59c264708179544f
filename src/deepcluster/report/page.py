"""The run's report: one self-contained HTML page (thumbnails and figures embedded) that opens anywhere.

Its size is bounded whatever the collection's: at most ``SHOWN_CLUSTERS`` clusters in full (the largest; the
rest in an index of sizes), ``SHOWN_OUTLIERS`` outliers, ``SHOWN_GROUPS`` near-duplicate groups of at most
``SHOWN_MEMBERS`` images each and ``SHOWN_SKIPPED`` skipped files, each thumbnail at most ``THUMBNAIL`` pixels a side.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from deepcluster.clustering.partition import Partition
from deepcluster.data.collection import ImageCollection, as_picture, iterate_pixel_batches
from deepcluster.report.outliers import NEIGHBOURS

SHOWN_CLUSTERS = 100
TYPICAL = 8
ATYPICAL = 4
SHOWN_OUTLIERS = 48
SHOWN_GROUPS = 100
SHOWN_MEMBERS = 8
SHOWN_SKIPPED = 200
THUMBNAIL = 64
LOSSLESS_UP_TO = 32  # thumbnails this small are PNG (exact and small); larger ones JPEG

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.5em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ccc; }
section.cluster, section.group { margin: 0.6em 0; }
.strip { display: flex; flex-wrap: wrap; gap: 3px; align-items: flex-end; }
.strip img { width: 64px; height: 64px; object-fit: contain; image-rendering: pixelated; background: #eee; }
.atypical img { outline: 2px solid #d88; }
figure { display: inline-block; margin: 2px; font-size: 0.7em; text-align: center; }
table { border-collapse: collapse; font-size: 0.85em; display: block; overflow-x: auto; }
td, th { padding: 2px 8px; border-bottom: 1px solid #eee; }
th { text-align: left; } .note { color: #666; font-size: 0.85em; } nav a { margin-right: 1em; }
"""


@dataclass
class RunSummary:
    """What the report says of the run beside its images."""

    title: str
    counts: dict[str, int]  # images found, used, skipped
    settings: dict[str, Any]  # every setting, flattened with dots, `auto` ones as resolved
    subjects: pd.DataFrame  # one row per evaluation subject: label-free figures, and scores where labelled
    figures: dict[str, bytes]  # PNG pictures: the metric curves, the confusion matrix where labelled
    skipped: pd.DataFrame  # files not used, and why


def thumbnails(images: ImageCollection, rows: np.ndarray) -> dict[int, str]:
    """Each of ``rows`` as a data URI of its pixels (as the network saw them), at most ``THUMBNAIL`` a side."""
    rows = np.unique(np.asarray(rows, dtype=np.int64))
    uris = {}
    position = 0
    for batch in iterate_pixel_batches(images, rows, 256, torch.device("cpu")):
        for pixels in batch.numpy():
            picture = as_picture(pixels)
            picture.thumbnail((THUMBNAIL, THUMBNAIL))
            encoded = io.BytesIO()
            lossless = max(picture.size) <= LOSSLESS_UP_TO
            picture.save(encoded, format="PNG" if lossless else "JPEG", quality=85)
            kind = "png" if lossless else "jpeg"
            uris[int(rows[position])] = f"data:image/{kind};base64,{base64.b64encode(encoded.getvalue()).decode()}"
            position += 1
    return uris


def cluster_members(partition: Partition) -> list[tuple[int, np.ndarray]]:
    """(cluster, its members most typical first) for every non-empty cluster, the largest first. Typical:
    nearest the centroid, or placed most confidently."""
    closeness = partition.scores if partition.score_name == "distance" else -partition.scores
    order = np.lexsort((closeness, partition.assignments))
    sizes = np.bincount(partition.assignments, minlength=partition.k)
    members = np.split(order, np.cumsum(sizes)[:-1])
    largest = np.argsort(-sizes, kind="stable")
    return [(int(cluster), members[cluster]) for cluster in largest if sizes[cluster]]


def _escape(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _image(uri: str, image_id: str, caption: str = "") -> str:
    picture = f'<img src="{uri}" alt="{_escape(image_id)}" title="{_escape(image_id)}">'
    return f"<figure>{picture}<figcaption>{_escape(caption)}</figcaption></figure>" if caption else picture


def _table(frame: pd.DataFrame, float_format: str = "{:.3f}") -> str:
    def cell(value: Any) -> str:
        return float_format.format(value) if isinstance(value, float | np.floating) else _escape(value)

    head = "".join(f"<th>{_escape(column)}</th>" for column in frame.columns)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in frame.itertuples(False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figure(name: str, png: bytes) -> str:
    return f'<img class="figure" alt="{_escape(name)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def render_report(
    images: ImageCollection,
    image_ids: list[str],
    partition: Partition,
    outliers: pd.DataFrame,
    duplicates: pd.DataFrame,
    summary: RunSummary,
) -> str:
    """The report as one HTML document: the run at a glance, each cluster, the outliers, the near-duplicate
    groups and the skipped files (sections ``run``, ``clusters``, ``cluster-<id>``, ``outliers``,
    ``duplicates``, ``group-<id>``, ``skipped``)."""
    clusters = cluster_members(partition)
    shown = clusters[:SHOWN_CLUSTERS]
    strips = [(c, len(m), m[:TYPICAL], m[TYPICAL:][-ATYPICAL:]) for c, m in shown]
    top_outliers = outliers.nsmallest(SHOWN_OUTLIERS, "rank")
    largest = duplicates[duplicates["group"] < SHOWN_GROUPS]  # groups are numbered the largest first
    groups = [group.head(SHOWN_MEMBERS) for _, group in largest.groupby("group", sort=True)]
    needed = [np.concatenate([t, a]) for _, _, t, a in strips] + [top_outliers["row"].to_numpy()]
    uris = thumbnails(images, np.concatenate(needed + [g["row"].to_numpy() for g in groups]))

    def strip(rows: np.ndarray, css: str = "strip") -> str:
        return f'<div class="{css}">' + "".join(_image(uris[r], image_ids[r]) for r in rows) + "</div>"

    typical = "nearest the centre" if partition.score_name == "distance" else "placed most confidently"
    parts = [
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{_escape(summary.title)}</title>",
        f"<style>{STYLE}</style></head><body><h1>{_escape(summary.title)}</h1>",
        "<nav><a href='#run'>The run</a><a href='#clusters'>Clusters</a><a href='#outliers'>Outliers</a>"
        "<a href='#duplicates'>Near-duplicates</a><a href='#skipped'>Skipped files</a></nav>",
        "<section id='run'><h2>The run at a glance</h2><p>",
        ", ".join(f"{_escape(name.replace('_', ' '))}: {value}" for name, value in summary.counts.items()),
        f"; {partition.k} clusters by {_escape(partition.clusterer)}.</p>",
        _table(summary.subjects),
        "".join(_figure(name, png) for name, png in summary.figures.items()),
        "<details><summary>Every setting</summary>",
        _table(pd.DataFrame({"setting": list(summary.settings), "value": list(map(str, summary.settings.values()))})),
        "</details></section>",
        f"<section id='clusters'><h2>Clusters</h2><p class='note'>The {len(shown)} largest of {len(clusters)} "
        f"clusters: the {TYPICAL} most typical images ({typical}), then, outlined, the {ATYPICAL} least typical. "
        "Hover an image for its file.</p>",
    ]
    for cluster, size, most, least in strips:
        parts.append(f"<section class='cluster' id='cluster-{cluster}'><h3>Cluster {cluster} · {size} images</h3>")
        parts.append(f"<div class='strip'>{strip(most)}{strip(least, 'strip atypical') if len(least) else ''}</div>")
        parts.append("</section>")
    if len(clusters) > len(shown):
        rest = pd.DataFrame(
            {"cluster": [c for c, _ in clusters[len(shown) :]], "images": [len(m) for _, m in clusters[len(shown) :]]}
        )
        parts.append(f"<section id='cluster-index'><h3>The other {len(rest)} clusters</h3>{_table(rest)}</section>")
    parts.append("</section><section id='outliers'><h2>Outliers</h2>")
    parts.append(
        f"<p class='note'>The {len(top_outliers)} images farthest from their {NEIGHBOURS} most similar images, in the "
        "learned features and in the pixels (the outlier score, under each image: 1 is typical, 3 three times "
        "farther than typical). Every image's score is in data/08_reporting/report/outliers.parquet.</p>"
    )
    parts.append("<div class='strip'>")
    parts.extend(
        _image(uris[row.row], row.image_id, f"{row.outlier_score:.1f} · cluster {row.cluster}")
        for row in top_outliers.itertuples()
    )
    parts.append("</div></section><section id='duplicates'><h2>Near-duplicates</h2>")
    total_groups = int(duplicates["group"].nunique())
    parts.append(
        f"<p class='note'>{total_groups} groups of near-copies ({len(duplicates)} images)"
        + (f", the {len(groups)} largest shown" if total_groups > len(groups) else "")
        + ". All are in data/08_reporting/report/duplicates.parquet.</p>"
    )
    for group in groups:
        number = int(group["group"].iloc[0])
        parts.append(f"<section class='group' id='group-{number}'><h3>Group {number}</h3><div class='strip'>")
        parts.extend(_image(uris[row.row], row.image_id, f"{row.similarity:.3f}") for row in group.itertuples())
        parts.append("</div></section>")
    skipped = summary.skipped
    parts.append(f"</section><section id='skipped'><h2>Skipped files</h2><p class='note'>{len(skipped)} files")
    parts.append(" could not be used." if len(skipped) else " were skipped.")
    if len(skipped) > SHOWN_SKIPPED:
        parts.append(f" The first {SHOWN_SKIPPED}; all are in data/08_reporting/ingest/skipped_images.csv.")
    parts.append(f"</p>{_table(skipped.head(SHOWN_SKIPPED)) if len(skipped) else ''}</section></body></html>")
    return "".join(parts)
