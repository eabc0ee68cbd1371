"""The Gradio Space behind `fusionrs space` and spaces/fusionrs/app.py.

`SpaceConfig` and `SpaceModels` (the inference core every tab calls) import without gradio;
`build_demo` / `launch` import gradio on first use, so `import fusionrs.space` stays cheap.
"""

from fusionrs.space.config import SpaceConfig, SpaceConfigError, default_translator_spec

__all__ = ["SpaceConfig", "SpaceConfigError", "SpaceModels", "build_demo", "default_translator_spec", "launch"]


def __getattr__(name: str):
    if name in ("build_demo", "launch"):
        from fusionrs.space import app

        return getattr(app, name)
    if name == "SpaceModels":
        from fusionrs.space.models import SpaceModels

        return SpaceModels
    raise AttributeError(f"module 'fusionrs.space' has no attribute {name!r}")
