"""Offline-aware repo resolution lives in `fusionrs.core.resolve` (every stage may need a hub folder);
these names stay importable from here."""

from fusionrs.core.resolve import (
    DATASET_PATTERNS,
    REPO_TYPES,
    HubOfflineError,
    HubRepoNotFoundError,
    is_offline,
    looks_like_repo_id,
    resolve_dataset_source,
    resolve_repo,
)

__all__ = ["DATASET_PATTERNS", "REPO_TYPES", "HubOfflineError", "HubRepoNotFoundError", "is_offline", "looks_like_repo_id",
           "resolve_dataset_source", "resolve_repo"]
