"""fusionrs: RGB / infrared-style / caption data and dual-modal vision-language models (FusionRS).

Importing fusionrs makes `datasets.load_dataset("fusionrs")` resolve to the embedded default
dataset (or `data_dir=FOLDER` to a built one); `fusionrs.load_dataset` does the same through
public datasets API only. It also registers fusionrs' tasks with `transformers.pipeline` (lazily,
when transformers loads its pipelines).
"""

__version__ = "0.1.0"

from fusionrs.data.loading import install_datasets_hook, load_dataset
from fusionrs.pipelines.registry import install_pipeline_hook

__all__ = ["__version__", "load_dataset"]

install_datasets_hook()
install_pipeline_hook()
