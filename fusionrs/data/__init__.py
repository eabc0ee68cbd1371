"""Records, dataset folders and loading."""

from fusionrs.data.loading import default_dataset_dir, load_dataset
from fusionrs.data.schema import FEATURES, FusionRecord, Provenance

__all__ = ["FEATURES", "FusionRecord", "Provenance", "default_dataset_dir", "load_dataset"]
