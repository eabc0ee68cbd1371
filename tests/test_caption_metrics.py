"""COCO caption metrics equal pycocoevalcap; the paper's lexical F1 / ROUGE-L with bootstrap CIs.

pycocoevalcap is a test-only dependency. Its scorers are pure Python; its tokeniser and METEOR need
Java, so the tests that run them skip (with a reason) where Java is absent.
"""

from __future__ import annotations

import json
import random
import shutil

import pytest

from fusionrs.metrics import captioning as cap
from fusionrs.metrics.lexical import lexical_f1, lexical_scores, lexical_tokens, mean_ci, rouge_l_f1
from tests.data.make_caption_fixture import make_caption_fixture

pytest.importorskip("pycocoevalcap", reason="pycocoevalcap (test extra) is not installed")
from pycocoevalcap.bleu.bleu import Bleu  # noqa: E402
from pycocoevalcap.cider.cider import Cider  # noqa: E402
from pycocoevalcap.rouge.rouge import Rouge  # noqa: E402
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer  # noqa: E402

HAVE_JAVA = shutil.which("java") is not None
needs_java = pytest.mark.skipif(not HAVE_JAVA, reason="Java is not installed (pycocoevalcap's PTB tokenizer/METEOR)")


@pytest.fixture(scope="module")
def fixture_items():
    return make_caption_fixture()


def _coco_tokenize(texts_per_item: list[list[str]]) -> list[list[str]]:
    """pycocoevalcap's own tokenisation (Java), in the dict format COCOEvalCap gives it."""
    tokenized = PTBTokenizer().tokenize({i: [{"caption": t} for t in texts] for i, texts in enumerate(texts_per_item)})
    return [tokenized[i] for i in range(len(texts_per_item))]


def _coco_scores(cands: list[str], refs: list[list[str]]) -> dict:
    """pycocoevalcap's Bleu(4), Rouge and Cider on already tokenised text."""
    gts = {i: list(r) for i, r in enumerate(refs)}
    res = {i: [c] for i, c in enumerate(cands)}
    bleu, bleu_items = Bleu(4).compute_score(gts, res, verbose=0)
    rouge, rouge_items = Rouge().compute_score(gts, res)
    cider, cider_items = Cider().compute_score(gts, res)
    return {"bleu": bleu, "bleu_items": bleu_items, "rouge": rouge, "rouge_items": list(rouge_items),
            "cider": cider, "cider_items": list(cider_items)}


def _our_scores(cands: list[str], refs: list[list[str]]) -> dict:
    bleu, bleu_items = cap.bleu(cands, refs)
    rouge, rouge_items = cap.rouge_l(cands, refs)
    cider, cider_items = cap.cider_d(cands, refs)
    return {"bleu": bleu, "bleu_items": bleu_items, "rouge": rouge, "rouge_items": rouge_items,
            "cider": cider, "cider_items": cider_items}


def _assert_identical(ours: dict, theirs: dict) -> None:
    # Same floating-point operations in the same order: equal to the last bit, not just close.
    assert ours["bleu"] == theirs["bleu"]
    assert ours["bleu_items"] == theirs["bleu_items"]
    assert ours["rouge"] == theirs["rouge"]
    assert [float(x) for x in theirs["rouge_items"]] == ours["rouge_items"]
    assert ours["cider"] == theirs["cider"]
    assert [float(x) for x in theirs["cider_items"]] == ours["cider_items"]


def test_fixture_is_deterministic_and_big_enough(fixture_items):
    assert len(fixture_items) >= 50
    assert all(len(item["references"]) == 5 for item in fixture_items)
    assert make_caption_fixture() == fixture_items
    text = json.dumps(fixture_items)
    for feature in ("n't", "'s", "(", '"', "e.g.", "1,200", "%", "...", "--", "THE "):
        assert feature in text, feature


def test_scores_equal_pycocoevalcap_on_the_same_tokens(fixture_items):
    """The scorers alone, fed identical tokenised text (Java PTB output where Java exists)."""
    refs = [item["references"] for item in fixture_items]
    cands = [item["candidate"] for item in fixture_items]
    if HAVE_JAVA:
        refs_tok = _coco_tokenize(refs)
        cands_tok = [c[0] for c in _coco_tokenize([[c] for c in cands])]
    else:
        refs_tok = [cap.ptb_tokenize_batch(r) for r in refs]
        cands_tok = cap.ptb_tokenize_batch(cands)
    _assert_identical(_our_scores(cands_tok, refs_tok), _coco_scores(cands_tok, refs_tok))


def test_scores_on_our_tokeniser_output_equal_pycocoevalcap(fixture_items):
    """Our tokeniser's output through pycocoevalcap's scorers = our caption_scores (no Java needed)."""
    refs = [item["references"] for item in fixture_items]
    cands = [item["candidate"] for item in fixture_items]
    flat = cap.ptb_tokenize_batch([r for rs in refs for r in rs])
    refs_tok = [flat[5 * i:5 * i + 5] for i in range(len(refs))]
    cands_tok = cap.ptb_tokenize_batch(cands)
    theirs = _coco_scores(cands_tok, refs_tok)
    ours = cap.caption_scores(cands, refs, with_meteor=False, per_item=True)
    assert [ours[f"BLEU-{k}"] for k in (1, 2, 3, 4)] == theirs["bleu"]
    assert ours["ROUGE-L"] == theirs["rouge"] and ours["CIDEr-D"] == theirs["cider"]
    assert ours["per_item"]["CIDEr-D"] == [float(x) for x in theirs["cider_items"]]
    assert 0 < ours["BLEU-4"] < ours["BLEU-1"] < 1 and ours["CIDEr-D"] > 0


@needs_java
def test_caption_scores_equal_the_cocoevalcap_pipeline(fixture_items):
    """Raw captions: pycocoevalcap's Java tokeniser + scorers vs caption_scores' pure-Python path."""
    refs = [item["references"] for item in fixture_items]
    cands = [item["candidate"] for item in fixture_items]
    theirs = _coco_scores([c[0] for c in _coco_tokenize([[c] for c in cands])], _coco_tokenize(refs))
    ours = cap.caption_scores(cands, refs, with_meteor=False)
    assert [ours[f"BLEU-{k}"] for k in (1, 2, 3, 4)] == theirs["bleu"]
    assert ours["ROUGE-L"] == theirs["rouge"]
    assert ours["CIDEr-D"] == theirs["cider"]
    assert ours["METEOR"] is None and ours["notes"]
    java = cap.caption_scores(cands, refs, tokenizer="java", with_meteor=False)
    keys = ("BLEU-4", "ROUGE-L", "CIDEr-D")
    assert {k: java[k] for k in keys} == {k: ours[k] for k in keys}


# Pieces that stress the PTB lexer: contractions, abbreviations, acronyms at sentence ends, numbers,
# hyphen/slash words, brackets, quotes (straight, curly, back-ticks), dashes, ellipses, URLs, symbols.
_PIECES = ["the", "The", "a", "A", "building", "trees", "It", "is", "There", "This", "many", "green", "3", "3.5",
           "1,000", "10%", "2km", "5-storey", "well-known", "don't", "can't", "it's", "they're", "we've", "I'm",
           "won't", "cannot", "gonna", "e.g.", "i.e.", "etc.", "U.S.", "Mr.", "St.", "vs.", "No.", "approx.", "(",
           ")", "[", "]", "{", "}", '"', "'", "`", "--", "---", "...", "!", "?", ";", ":", ",", ".", "a/b", "#3",
           "$5", "&", "'s", "B.", "x.", "-", "2-3", "1/2", "o'clock", "people's", "\u201c", "\u201d", "\u2018",
           "\u2019", "\u2014", "\u2013", "\u2026", "\u00b0", "\u00d7", "+", "=", "*", "_", "@", "a.m.", "km\u00b2",
           "caf\u00e9", "ROOF", "N.", "area.It", "'90s", "3rd", "10:30", "5.", "sq.", "Co.", "al.", ":)", "c++",
           "www.x.com", "a@b.com", "AT&T", "rock'n'roll", "y'all", "'til", "ain't", "3.5-m", "U.S.-made", "x-ray",
           "co-op", "-5", "\u2019s", "\u2018em", "1,000-strong"]


def _fuzz_lines(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        parts = [rng.choice(_PIECES) for _ in range(rng.randint(1, 12))]
        lines.append("".join(p if i == 0 else rng.choice([" ", " ", " ", "", "  "]) + p for i, p in enumerate(parts)))
    return lines


@needs_java
def test_tokeniser_matches_stanford_ptb_on_fixture_and_fuzz(fixture_items):
    texts = [r for item in fixture_items for r in item["references"]] + [i["candidate"] for i in fixture_items]
    texts += _fuzz_lines(3000, seed=1)
    ours = cap.ptb_tokenize_batch(texts)
    java = cap.java_ptb_tokenize(texts)
    diffs = [(t, o, j) for t, o, j in zip(texts, ours, java) if o != j]
    assert not diffs, diffs[:5]
    # and java_ptb_tokenize itself is pycocoevalcap's tokenisation
    assert java[:50] == [c[0] for c in _coco_tokenize([[t] for t in texts[:50]])]


@needs_java
def test_tokeniser_matches_stanford_ptb_on_real_captions(shared_data):
    """Every distinct caption of RSICD (train+val), Sydney, UCM and RSITMD val/test (26,244 lines)."""
    texts = set()
    for image in json.loads((shared_data / "rsicd_aid" / "dataset_rsicd.json").read_text())["images"]:
        texts.update(s["raw"] for s in image["sentences"])
    for image in json.loads((shared_data / "captions" / "sydney" / "dataset_sydney.json").read_text())["images"]:
        texts.update(s["raw"] for s in image["sentences"])
    ucm = json.loads((shared_data / "captions" / "ucm" / "ucm_test_coco_format.json").read_text())
    texts.update(a["caption"] for a in ucm["annotations"])
    for split in ("val", "test"):
        for entry in json.loads((shared_data / "captions" / "rsitmd" / f"rsitmd_{split}.json").read_text()):
            texts.update([entry["caption"]] if isinstance(entry["caption"], str) else entry["caption"])
    texts = sorted(texts)
    ours = cap.ptb_tokenize_batch(texts)
    java = cap.java_ptb_tokenize(texts)
    diffs = [(t, o, j) for t, o, j in zip(texts, ours, java) if o != j]
    assert len(texts) > 20_000 and not diffs, diffs[:5]


def test_tokeniser_known_cases():
    assert cap.ptb_tokenize("There's a plane (white) near the U.S. airport, isn't it?") == \
        "there 's a plane -lrb- white -rrb- near the u.s. airport is n't it"
    assert cap.ptb_tokenize_batch(["Trees, grass etc.", "The end."]) == ["trees grass etc.", "the end"]
    assert cap.ptb_tokenize_batch(["Trees, grass etc.", "the end."]) == ["trees grass etc.", "the end"]
    assert cap.ptb_tokenize("“Bright” 10% of 1,000 tree-lined roads... can't") == \
        "bright 10 % of 1,000 tree-lined roads ca n't"
    assert cap.ptb_tokenize("") == "" and cap.ptb_tokenize_batch([]) == []
    assert cap.ptb_tokenize("line\nbreak") == "line break"


@needs_java
@pytest.mark.slow
def test_meteor_equals_pycocoevalcap(fixture_items):
    refs = [item["references"] for item in fixture_items[:20]]
    cands = [item["candidate"] for item in fixture_items[:20]]
    ours = cap.caption_scores(cands, refs, per_item=True)
    refs_tok = _coco_tokenize(refs)
    cands_tok = [c[0] for c in _coco_tokenize([[c] for c in cands])]
    # One Java METEOR process serves both (its start-up costs ~20 s); the inputs are built the COCO way.
    score, scores = cap._meteor_scorer().compute_score({i: r for i, r in enumerate(refs_tok)},
                                                       {i: [c] for i, c in enumerate(cands_tok)})
    assert ours["METEOR"] == score and ours["per_item"]["METEOR"] == scores
    assert 0 < ours["METEOR"] < 1 and not ours["notes"]


def test_meteor_is_none_with_a_note_without_java(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH with no java on it
    result = cap.caption_scores(["a plane"], [["a plane on the runway"]])
    assert result["METEOR"] is None
    assert any("java" in note.lower() for note in result["notes"])


def test_hand_checked_values_and_edge_cases():
    refs = [["a plane is parked at the airport"], ["two ships in the harbour"]]
    same = cap.caption_scores(["a plane is parked at the airport", "two ships in the harbour"], refs, with_meteor=False)
    assert same["BLEU-1"] == pytest.approx(1.0) and same["BLEU-4"] == pytest.approx(1.0)
    assert same["ROUGE-L"] == pytest.approx(1.0)
    # hand: "a plane" vs "a plane is parked at the airport": 2/2 unigrams right, brevity exp(1 - 7/2)
    bleu, _ = cap.bleu(["a plane"], [["a plane is parked at the airport"]])
    assert bleu[0] == pytest.approx(2 / (2 + 1e-9) * 2.718281828459045 ** (1 - 7 / 2), rel=1e-9)
    # ROUGE-L (beta 1.2): LCS 2, P = 1, R = 2/7
    rouge, _ = cap.rouge_l(["a plane"], [["a plane is parked at the airport"]])
    assert rouge == pytest.approx((1 + 1.44) * 1 * (2 / 7) / (2 / 7 + 1.44 * 1))
    empty = cap.caption_scores(["", "..."], refs, with_meteor=False)
    assert empty["BLEU-1"] == pytest.approx(0, abs=1e-6) and empty["CIDEr-D"] == 0
    one = cap.caption_scores(["a plane"], [["a plane"]], with_meteor=False)
    assert one["CIDEr-D"] == 0 and any("single item" in n for n in one["notes"])
    with pytest.raises(ValueError, match="2 predictions but 1"):
        cap.caption_scores(["a", "b"], [["a"]])
    with pytest.raises(ValueError, match="references\\[0\\] is empty"):
        cap.caption_scores(["a"], [[]])
    with pytest.raises(TypeError, match="references\\[0\\] is a string"):
        cap.caption_scores(["a"], ["a plane"])
    with pytest.raises(ValueError, match="tokenizer"):
        cap.caption_scores(["a"], [["a"]], tokenizer="spacy")


def test_lexical_scores_by_hand():
    assert lexical_tokens("Bright, low-texture ROOFS.") == ["bright", "low", "texture", "roofs"]
    # pred {a, bright, roof}, ref {a, dark, roof, area}: overlap 2, P 2/3, R 2/4 -> F1 4/7
    assert lexical_f1("A bright roof", "a dark roof area") == pytest.approx(4 / 7)
    assert lexical_f1("A bright roof", ["nothing here", "a dark roof area"]) == pytest.approx(4 / 7)
    # LCS("a bright roof", "a roof is bright") = 2 ("a roof" or "a bright"): P 2/3, R 2/4
    assert rouge_l_f1("a bright roof", "a roof is bright") == pytest.approx(4 / 7)
    assert lexical_f1("", "") == 1.0 and lexical_f1("x", "") == 0.0
    result = lexical_scores(["a bright roof", "dark water", "a road"], ["a dark roof area", "dark water", "fields"],
                            resamples=2000)
    assert result["n"] == 3
    assert result["lexical_f1"]["mean"] == pytest.approx((4 / 7 + 1 + 0) / 3)
    assert result["lexical_f1"]["low"] <= result["lexical_f1"]["mean"] <= result["lexical_f1"]["high"]
    assert result["per_item"]["rouge_l"][1] == 1.0
    assert lexical_scores(["a"], ["a"], resamples=100)["rouge_l"] == {"mean": 1.0, "low": 1.0, "high": 1.0}
    ci = mean_ci([0.0, 1.0] * 50, resamples=2000)
    assert ci["mean"] == 0.5 and 0.38 < ci["low"] < 0.5 < ci["high"] < 0.62
    with pytest.raises(ValueError, match="2 predictions but 1"):
        lexical_scores(["a", "b"], ["a"])


def test_metrics_modules_stay_light():
    """Evaluation code imports these in CLI paths: no torch/transformers at import (`import fusionrs`
    itself loads datasets, which is not ours to change here)."""
    import subprocess
    import sys

    code = ("import sys, fusionrs.metrics.captioning, fusionrs.metrics.lexical, fusionrs.metrics.vqa; "
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
