"""`fusionrs reproduce`: the paper's experiments end to end, at a preset scale.

world -> translator -> dataset build (translated IR, IR-aware captions, grouped splits) -> CLIP variants ->
retrieval evaluation -> captioner -> caption metrics -> report.md + results.json. Each stage writes its
result file when it finishes, so a rerun of the same command resumes after the last finished stage.
"""

from fusionrs.reproduce.runner import PRESETS, load_preset, run_reproduction

__all__ = ["PRESETS", "load_preset", "run_reproduction"]
