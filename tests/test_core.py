import threading
import time

import pytest
import torch

from fusionrs.core.batching import batched, map_batches
from fusionrs.core.device import select_device, select_dtype
from fusionrs.core.model_cache import ModelCache


def test_select_device_defaults_to_best_available(monkeypatch):
    monkeypatch.delenv("FUSIONRS_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    if expected == "cpu" and torch.backends.mps.is_available():
        expected = "mps"
    assert select_device().type == expected


def test_select_device_honours_env_and_refuses_missing_cuda(monkeypatch):
    monkeypatch.setenv("FUSIONRS_DEVICE", "cpu")
    assert select_device().type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            select_device("cuda")


def test_select_dtype_policy():
    assert select_dtype(torch.device("cpu")) is torch.float32
    assert select_dtype(torch.device("cpu"), "bf16") is torch.bfloat16
    assert select_dtype(torch.device("cpu"), torch.float16) is torch.float16
    with pytest.raises(ValueError, match="unknown dtype"):
        select_dtype(torch.device("cpu"), "int3")


def test_batched_covers_every_item_in_order():
    assert list(batched(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(batched([], 3)) == []
    with pytest.raises(ValueError):
        list(batched([1], 0))


def test_map_batches_runs_without_autograd_and_keeps_order():
    seen_grad_modes = []

    def double(batch):
        seen_grad_modes.append(torch.is_inference_mode_enabled())
        return (torch.tensor(batch, dtype=torch.float32) * 2).tolist()

    assert list(map_batches(double, list(range(10)), batch_size=4, progress=False)) == [2.0 * i for i in range(10)]
    assert seen_grad_modes == [True, True, True]


def test_map_batches_rejects_a_short_batch_result():
    with pytest.raises(RuntimeError, match="2 results for 3 inputs"):
        list(map_batches(lambda b: b[:2], [1, 2, 3], batch_size=3, progress=False))


def test_model_cache_loads_once_under_concurrency():
    cache = ModelCache(max_items=2)
    calls = []

    def slow_loader():
        calls.append(1)
        time.sleep(0.2)
        return object()

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("m", slow_loader))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and cache.loads == 1
    assert all(r is results[0] for r in results)


def test_model_cache_evicts_least_recently_used():
    cache = ModelCache(max_items=2)
    cache.get("a", lambda: "A")
    cache.get("b", lambda: "B")
    cache.get("a", lambda: "never")  # touch a: b is now the oldest
    cache.get("c", lambda: "C")
    assert "a" in cache and "c" in cache and "b" not in cache
    assert cache.get("a", lambda: "reloaded") == "A"
    assert cache.loads == 3


def test_model_cache_retries_after_a_failed_load():
    cache = ModelCache()

    def broken():
        raise OSError("disk gone")

    with pytest.raises(OSError):
        cache.get("x", broken)
    assert cache.get("x", lambda: 42) == 42
