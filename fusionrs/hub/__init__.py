"""Cards from model_cards/, push/pull and offline-aware resolution of hub repo ids.

- `fusionrs.hub.cards`: every card name in one place (re-exported from where it lives: the licence
  rule, templates, model cards and `model-index` in `core`, the dataset card in `data.card`);
- `fusionrs.hub.validation`: local validation of card metadata against the hub's rules;
- `fusionrs.hub.push`: `push_folder(kind, folder, repo_id)` (check, card, create_repo + upload_folder);
- `fusionrs.hub.resolve`: `resolve_repo` / `resolve_dataset_source` (folder or repo id -> local folder,
  failing at once with a helpful message when offline and uncached).

Submodules import huggingface_hub lazily where they can; import them directly.
"""

__all__ = ["cards", "push", "resolve", "validation"]
