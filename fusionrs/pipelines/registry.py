"""Registers fusionrs' transformers pipelines the moment `transformers.pipelines` is imported.

`import fusionrs` must stay free of torch (the CLI's `--help` is timed), yet
`transformers.pipeline("rgb-ir-captioning", ...)` must work right after it. So instead of importing
transformers eagerly, a one-shot import hook registers our tasks when transformers loads its
pipelines module (or at once, if it is already loaded).
"""

from __future__ import annotations

import importlib
import sys
import warnings

from fusionrs.core.import_hooks import when_imported

__all__ = ["PIPELINE_TASKS", "install_pipeline_hook", "register_own_task", "register_pipelines"]

# task -> (module, pipeline class, transformers auto-model class name, task type)
# One line per task; the modules import transformers at module level, which is fine: they load only here.
PIPELINE_TASKS: dict[str, tuple[str, str, str, str]] = {
    "rgb-ir-captioning": ("fusionrs.pipelines.captioning", "RGBIRCaptioningPipeline", "AutoModelForImageTextToText", "multimodal"),
    "rgb-ir-feature-extraction": ("fusionrs.pipelines.clip_features", "RGBIRFeatureExtractionPipeline", "AutoModel", "multimodal"),
    "zero-shot-rgb-ir-classification": ("fusionrs.pipelines.zero_shot", "ZeroShotRGBIRClassificationPipeline", "AutoModel", "multimodal"),
}

_TARGET = "transformers.pipelines"


def register_pipelines() -> None:
    """Register every task of PIPELINE_TASKS with transformers' PIPELINE_REGISTRY (idempotent)."""
    import transformers
    from transformers.pipelines import PIPELINE_REGISTRY

    for task, (module_name, class_name, auto_class, task_type) in PIPELINE_TASKS.items():
        if task in PIPELINE_REGISTRY.supported_tasks:
            continue
        module = sys.modules.get(module_name)
        if module is not None and getattr(getattr(module, "__spec__", None), "_initializing", False):
            continue  # that module is importing transformers right now; it registers itself when done
        try:
            pipeline_class = getattr(importlib.import_module(module_name), class_name)
        except Exception as exc:  # a broken task must never break `import transformers`
            if any(getattr(getattr(sys.modules.get(m), "__spec__", None), "_initializing", False)
                   for m, *_ in PIPELINE_TASKS.values()):
                continue  # it needs a task module still mid-import; that module retries when done
            warnings.warn(f"fusionrs: pipeline task {task!r} not registered: {exc}", stacklevel=2)
            continue
        if task in PIPELINE_REGISTRY.supported_tasks:  # its module registered itself while importing
            continue
        PIPELINE_REGISTRY.register_pipeline(
            task, pipeline_class=pipeline_class, pt_model=getattr(transformers, auto_class), type=task_type
        )


def register_own_task(pipeline_class: type) -> None:
    """Called at the end of a task's module: register its class if the hook skipped it mid-import.

    Args:
        pipeline_class: the pipeline class just defined; it is registered for every task of
            `PIPELINE_TASKS` naming its module and class name, unless that task is registered
            already. Nothing happens before `transformers.pipelines` is imported.
    """
    if "transformers.pipelines" not in sys.modules:
        return  # the hook registers it when transformers loads its pipelines
    import transformers
    from transformers.pipelines import PIPELINE_REGISTRY

    for task, (module_name, class_name, auto_class, task_type) in PIPELINE_TASKS.items():
        if module_name == pipeline_class.__module__ and class_name == pipeline_class.__name__:
            if task not in PIPELINE_REGISTRY.supported_tasks:
                PIPELINE_REGISTRY.register_pipeline(
                    task, pipeline_class=pipeline_class, pt_model=getattr(transformers, auto_class), type=task_type
                )
    register_pipelines()  # the tasks that were skipped because they needed this module


def install_pipeline_hook() -> None:
    """Make our tasks available to `transformers.pipeline` without importing transformers now."""
    when_imported(_TARGET, register_pipelines)
