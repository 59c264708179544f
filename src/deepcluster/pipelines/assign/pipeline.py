"""Assign: the images of ``assign.folder`` through the trained run's preprocessing and network, placed in
its partition and compared with its images. It reads what the export saved, not the parameters, so a
change of conf since training cannot make new images differ from the run's own. Not in ``__default__``."""

from kedro.pipeline import Pipeline, node, pipeline

from deepcluster.pipelines.assign.nodes import assign_images, draw_new_arrivals, read_new_images

EXPORTED = ("backbone", "preprocessing", "partition", "similarity_index")


def create_pipeline(**kwargs) -> Pipeline:
    template = Pipeline(
        [
            node(
                read_new_images,
                ["params:assign", "preprocessing"],
                ["images", "skipped_images", "counts"],
                name="read_new_images",
            ),
            node(
                assign_images,
                ["images", *EXPORTED, "params:assign", "params:runtime"],
                ["assignments", "assignments_csv"],
                name="assign_images",
            ),
            node(draw_new_arrivals, ["images", "assignments", "params:assign"], "montage", name="draw_new_arrivals"),
        ]
    )
    return pipeline(
        template,
        namespace="assign",
        inputs={name: f"export.{name}" for name in EXPORTED},
        parameters={"params:assign", "params:runtime"},
    )
