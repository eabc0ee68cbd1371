"""The one inference core: device + dtype policy, batching, model cache, image I/O and tiling."""

from fusionrs.core.batching import batched, map_batches
from fusionrs.core.device import select_device, select_dtype
from fusionrs.core.image_io import load_image, scan_images
from fusionrs.core.model_cache import ModelCache, default_cache
from fusionrs.core.tiling import blend_tiles, iter_tiles, tile_boxes

__all__ = [
    "ModelCache",
    "batched",
    "blend_tiles",
    "default_cache",
    "iter_tiles",
    "load_image",
    "map_batches",
    "scan_images",
    "select_device",
    "select_dtype",
    "tile_boxes",
]
