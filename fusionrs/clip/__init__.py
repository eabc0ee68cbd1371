"""Dual-modal CLIP: composition, tri-modal losses, training, retrieval and zero-shot evaluation.

Submodules (imported on demand; this package imports nothing heavy):
- `compose`: build/compose/load/save stock `CLIPModel` / `VisionTextDualEncoderModel` folders;
- `losses`: symmetric InfoNCE over (RGB, text), (IR, text), (RGB, IR);
- `views`: training variants (loss pairs, IR views, caption policy);
- `features`: frozen lower blocks and their on-disk cache;
- `train`: the training loop (`fusionrs train clip`);
- `embed`, `evaluate`, `zeroshot`: embedding and evaluation;
- `encoder`: `FusionRSEncoder`, the encoder calls of the authors' `fusionrs-clip` wheel.
"""
