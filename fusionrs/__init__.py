"""fusionrs: RGB / infrared-style / caption data and dual-modal vision-language models (FusionRS).

Importing fusionrs makes `datasets.load_dataset("fusionrs")` resolve to the embedded default
dataset (or `data_dir=FOLDER` to a built one); `fusionrs.load_dataset` does the same through
public datasets API only. It also registers fusionrs' tasks with `transformers.pipeline`. Both
happen lazily, when datasets / transformers' pipelines are imported, so `import fusionrs` itself
imports none of torch, transformers, datasets, diffusers or gradio.
"""

from fusionrs.core.import_hooks import when_imported
from fusionrs.pipelines.registry import install_pipeline_hook
from fusionrs.version import __version__

__all__ = ["FusionRSEncoder", "__version__", "load_dataset"]


def _install_datasets_hook() -> None:
    from fusionrs.data.loading import install_datasets_hook

    install_datasets_hook()


def __getattr__(name: str):
    if name == "load_dataset":
        from fusionrs.data.loading import load_dataset

        return load_dataset
    if name == "FusionRSEncoder":  # the authors' `fusionrs-clip` import, so their scripts run unchanged
        from fusionrs.clip.encoder import FusionRSEncoder

        return FusionRSEncoder
    raise AttributeError(f"module 'fusionrs' has no attribute {name!r}")


when_imported("datasets", _install_datasets_hook)
install_pipeline_hook()  # registers the tasks once transformers loads its pipelines
