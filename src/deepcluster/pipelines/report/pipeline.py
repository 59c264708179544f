"""Report: what a user looks at after a run (outliers, near-duplicate groups, the HTML report).

It reads the export's features and partition, so it follows the export; it names no round.
"""

from kedro.pipeline import Pipeline, node, pipeline

from deepcluster.pipelines import round_name
from deepcluster.pipelines.report.nodes import (
    describe_pixels,
    find_duplicates,
    find_outliers,
    write_report,
)


def create_pipeline(rounds: int = 1, **kwargs) -> Pipeline:
    template = Pipeline(
        [
            node(describe_pixels, "images", ["descriptors", "descriptor_index"], name="describe_pixels"),
            node(
                find_outliers,
                ["features", "descriptors", "descriptor_index", "image_index", "partition"],
                "outliers",
                name="find_outliers",
            ),
            node(
                find_duplicates,
                ["descriptors", "descriptor_index", "features", "image_index"],
                ["duplicate_pairs", "duplicates"],
                name="find_duplicates",
            ),
            node(
                write_report,
                [
                    "images",
                    "image_index",
                    "partition",
                    "outliers",
                    "duplicates",
                    "skipped_images",
                    "ingest_counts",
                    "evaluation",
                    "run_context",
                    *(f"{round_name(r)}.round_metrics" for r in range(1, rounds + 1)),
                ],
                "html",
                name="write_report",
            ),
        ]
    )
    return pipeline(
        template,
        namespace="report",
        inputs={
            "features": "export.features",
            "image_index": "image_index",
            "partition": "export.partition",
            "images": "images",
            "skipped_images": "skipped_images",
            "ingest_counts": "ingest_counts",
            "evaluation": "evaluation.report",
            "run_context": "run_context",
            **{f"{round_name(r)}.round_metrics": f"{round_name(r)}.round_metrics" for r in range(1, rounds + 1)},
        },
    )
