"""COCO caption metrics: BLEU-1..4, METEOR, ROUGE-L and CIDEr-D, equal to pycocoevalcap.

Why a re-implementation: pycocoevalcap needs Java for its tokeniser (Stanford PTBTokenizer 3.4.1)
and is a test-only dependency here. This module reproduces, in pure Python + numpy,

- the tokenisation `COCOEvalCap` applies before scoring: PTBTokenizer with `-preserveLines
  -lowerCase`, then the tokens in `PTB_PUNCTUATIONS` dropped (`ptb_tokenize`, see docs/metrics.md
  for the rules covered and the known differences);
- `Bleu(4)`: corpus BLEU with the "closest" reference length per sentence (ties -> the shorter
  reference), clipped n-gram counts and pycocoevalcap's 1e-9 / 1e-15 smoothing constants;
- `Rouge`: ROUGE-L with beta 1.2 from the max LCS precision and the max LCS recall over references;
- `Cider`: CIDEr-D (sigma 6 length penalty, clipped tf-idf, x10, the mean over 1..4-grams) with
  document frequencies from the references of the evaluated set itself;

with the same floating-point operations in the same order, so scores agree to the last bit.
METEOR cannot be re-implemented (WordNet synonyms, paraphrase tables): it calls pycocoevalcap's
bundled meteor-1.5.jar when Java and pycocoevalcap are available, and is None with a note otherwise.
"""

from __future__ import annotations

import atexit
import functools
import importlib.util
import math
import re
import shutil
import subprocess
import tempfile
import threading
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "PTB_PUNCTUATIONS",
    "bleu",
    "caption_scores",
    "cider_d",
    "lcs_length",
    "java_ptb_tokenize",
    "meteor",
    "meteor_available",
    "ptb_tokenize",
    "ptb_tokenize_batch",
    "rouge_l",
]

# Exactly pycocoevalcap.tokenizer.ptbtokenizer.PUNCTUATIONS. The bracket names are upper case there but
# the tokeniser has already lower-cased them, so "-lrb-" & co. survive in COCO scoring (and here).
PTB_PUNCTUATIONS = frozenset(["''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-",
                              ".", "?", "!", ",", ":", "-", "--", "...", ";"])

# ---------------------------------------------------------------------------------------------------
# Tokenisation: a Python port of the PTBLexer (CoreNLP 3.4.1) rules that caption text meets.
#
# The lexer follows JFlex semantics: at each position every rule is tried, the longest match wins
# *counting its trailing context* (that is why "don't" -> "do" + "n't": SWORD/SREDAUX matches 5
# characters against WORD's 3), and ties go to the rule listed first. Trailing context may cross
# caption boundaries, as it does in the Java call, because the lexer runs over the captions joined
# by newlines ("etc." at the end of a caption becomes "etc. ." when the next caption starts with
# a capital letter).
# ---------------------------------------------------------------------------------------------------

def _caseless(pattern: str) -> str:
    """JFlex %caseless: letters outside character classes match either case; classes stay as written.

    Python's re.IGNORECASE would also fold classes ([A-Z]* before "$" is upper case only in PTBLexer)."""
    out, i, in_class = [], 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":  # an escape: \uXXXX, \xXX or one character
            width = {"u": 6, "x": 4}.get(pattern[i + 1], 2)
            out.append(pattern[i:i + width])
            i += width
            continue
        if pattern.startswith("(?P<", i):  # keep group names
            j = pattern.index(">", i)
            out.append(pattern[i:j + 1])
            i = j + 1
            continue
        if in_class:
            in_class = ch != "]" or pattern[i - 1] == "["
        elif ch == "[":
            in_class = True
        elif ch.isalpha() and ch.lower() != ch.upper():
            ch = f"[{ch.lower()}{ch.upper()}]"
        out.append(ch)
        i += 1
    return "".join(out)


def _bmp_class(categories: tuple[str, ...]) -> str:
    """A regex character class of the BMP code points in Unicode `categories`.

    Python's \\w also takes digits-like symbols such as "²" (a letter-or-digit to str.isalnum); JFlex's
    [:letter:] is Java's Character.isLetter, and the 3.4.1 lexer reads UTF-16 units, so BMP only."""
    ranges, start, prev = [], None, None
    for cp in range(0x10000):
        if 0xD800 <= cp <= 0xDFFF or unicodedata.category(chr(cp)) not in categories:
            continue
        if start is None or cp != prev + 1:
            if start is not None:
                ranges.append((start, prev))
            start = cp
        prev = cp
    ranges.append((start, prev))
    return "".join(f"\\u{a:04X}" if a == b else f"\\u{a:04X}-\\u{b:04X}" for a, b in ranges)


_LETTERS = _bmp_class(("Lu", "Ll", "Lt", "Lm", "Lo"))
_DIGITS = _bmp_class(("Nd",))
_L = f"[{_LETTERS}]"  # [:letter:]
_AD = f"[{_LETTERS}{_DIGITS}]"  # [:letter:]|[:digit:]
_NL = r"(?:\r\n|[\n\r\u2028\u2029\u000B\u000C\u0085])"
_SPNL = r"[ \t\u00A0\u2000-\u200A\u3000\n\r\u2028\u2029\u000B\u000C\u0085]"
_APOS = r"(?:['\u0092\u2019\u00B4]|&apos;)"
_APOSETC = r"(?:['\u0092\u2019\u00B4`\u0091\u2018\u201B]|&apos;)"
_LETTER = f"[{_LETTERS}\u00AD]"  # LETTER in PTBLexer also takes the soft hyphen (removed from tokens)
_WORD = rf"{_LETTER}(?:{_LETTER}|\d)*(?:[.!?]{_LETTER}(?:{_LETTER}|\d)*)*"
_NUM = r"(?:\d*(?:[.:,\u00AD\u066B\u066C]\d+)+|\d+(?:[.:,\u00AD\u066B\u066C]\d+)*)"
_NUMBER = rf"[-+]?{_NUM}"
_REDAUX = rf"{_APOS}(?:[msdMSD]|re|ve|ll)"
_SREDAUX = rf"n{_APOSETC}t"
_ACRO = r"[A-Za-z](?:\.[A-Za-z])*"
_HYPHEN = r"[-_\u058A\u2010\u2011]"
_THING = rf"(?:[dDoOlL]{_APOSETC}{_AD})?{_AD}+(?:{_HYPHEN}(?:[dDoOlL]{_APOSETC}{_AD})?{_AD}+)*"
_HTHING = r"[A-Za-z0-9][A-Za-z0-9.,\u00AD]*(?:-(?:[A-Za-z](?:\.[A-Za-z])+\.|[A-Za-z0-9\u00AD]+))+"
_QUOTES = (r"(?:[`\u2018\u2019\u201A\u201B\u201C\u201D\u0091\u0092\u0093\u0094\u201E\u201F\u2039\u203A"
           r"\u00AB\u00BB]{1,2}"
           r"|''|['\u0092\u2019]|&apos;)")
_DBLQUOT = r"(?:\"|&quot;)"
_FILENAME = (rf"{_AD}+(?:\.{_AD}+)*\.(?:bat|bmp|bz2|c|class|cgi|cpp|dll|doc|docx|exe|gif|gz|h|htm|html|jar|java"
             r"|jpeg|jpg|mov|mp3|pdf|php|pl|png|ppt|ps|py|sql|tar|txt|wav|x|xml|zip)")
_SGML = (r"<(?:[!?][A-Za-z-][^>\r\n]*|/?[A-Za-z][A-Za-z0-9:.-]*(?: +(?:[A-Za-z][A-Za-z0-9_:.-]*"
         r"(?: *= *(?:'[^'\r\n]*'|\"[^\"\r\n]*\"|[A-Za-z][A-Za-z0-9_:.-]*))?))* */?)>")

_ABBREV1 = (r"(?:Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec|Mon|Tues|Tue|Wed|Thurs|Thu|Fri"
            r"|Ala|Ariz|[A]z|[A]rk|Calif|Colo|Conn|Ct|Dak|[D]el|Fla|Ga|[I]ll|Ind|Kans|Kan|Ky|[L]a|[M]ass|Md"
            r"|Mich|Minn|[M]iss|Mo|Mont|Neb|Nev|Okla|[O]re|[P]a|Penn|Tenn|[T]ex|Va|Vt|[W]ash|Wisc|Wis|Wyo"
            r"|Inc|Cos|Co|Corp|Pp?t[ye]s?|Ltd|Plc|Rt|Bancorp|Bhd|Assn|Univ|Intl|Sys"
            r"|tel|est|ext|sq|Jr|Bros|(?:Ed|Ph)\.D|Esq|etc|al|seq|Bldg)\.")
_ABTITLE = (r"Mr|Mrs|Ms|[M]iss|Drs?|Profs?|Sens?|Reps?|Attys?|Lt|Col|Gen|Messrs|Govs?|Adm|Rev|Maj|Sgt|Cpl"
            r"|Pvt|Capt|Ste?|Ave|Pres|Lieut|Rt|Hon|Brig|Co?mdr|Pfc|Spc|Supts?|Det|Mt|Ft|Adj|Adv|Asst|Assoc"
            r"|Ens|Insp|Mlle|Mme|Msgr|Sfc|Sr")
_ABBREV2 = rf"(?:{_ABTITLE}|vs|[v]|Alex|Wm|Jos|Cie|a\.k\.a|cf|TREAS|Ph|{_ACRO}|Invt|Elec|Natl|M[ft]g|Dept|Blvd|Rd)\."
_ABBREV3 = r"(?:ca|figs?|prop|nos?|art|bldg|pp|op)\."
_ACRONYM_NEXT = (r"(?:[A]bout|[A]ccording|[A]dditionally|[A]fter|[A]n|[A]|[A]s|[A]t|[B]ut|[E]arlier|[H]e|[H]er"
                 r"|[H]ere|[H]owever|[I]f|[I]n|[I]t|[L]ast|[M]any|[M]ore|[M]r\.|[M]s\.|[N]ow|[O]nce|[O]ne|[O]ther"
                 r"|[O]ur|[S]he|[S]ince|[S]o|[S]ome|[S]uch|[T]hat|[T]he|[T]heir|[T]hen|[T]here|[T]hese|[T]hey"
                 r"|[T]his|[W]e|[W]hen|[W]hile|[W]hat|[W]ho|[W]hy|[Y]et|[Y]ou)")
_MISC = (r"[+%&~^|\\\u00A6\u00A7\u00A8\u00A9\u00AC\u00AE\u00AF\u00B0-\u00B3\u00B4-\u00BA\u00D7\u00F7\u0387"
         r"\u2016\u2017\u2020-\u2025\u2030-\u2038\u203B\u203C\u203E-\u2042\u2044\u207A-\u207F\u208A-\u208E"
         r"\u2100-\u214F\u2190-\u21FF\u2200-\u2BFF\u3001-\u3006\u3008-\u3020\uFF01-\uFF0F\uFF1A-\uFF20=]")
_IGNORED = r"[ \t\u00A0\u2000-\u200A\u3000\u0000\u200B\u200E\u200F\uFEFF]+"
_FRACTIONS = {"\u00BC": "1/4", "\u00BD": "1/2", "\u00BE": "3/4", "\u2153": "1/3", "\u2154": "2/3"}
_BRACKET_NAMES = {"(": "-LRB-", ")": "-RRB-", "[": "-LSB-", "]": "-RSB-", "{": "-LCB-", "}": "-RCB-"}


def _quotes(tok: str, probably_left: bool) -> str:
    """PTBLexer.latexQuotes: straight quotes by position, curly/CP1252 quotes by shape."""
    if probably_left:
        tok = re.sub(r"&apos;|'", "`", tok)
        tok = re.sub(r"\"|''|'`|`'|&quot;", "``", tok)
    else:
        tok = re.sub(r"&apos;|'", "'", tok)
        tok = re.sub(r"\"|''|'`|`'|&quot;", "''", tok)
    tok = re.sub("[\u0082\u008B\u0091\u2018\u201A\u201B\u2039]", "`", tok)
    tok = re.sub("[\u0092\u009B\u00B4\u2019\u203A]", "'", tok)
    tok = re.sub("[\u0084\u0093\u201C\u201E\u00AB]|[\u0091\u2018]'", "``", tok)
    return re.sub("[\u0094\u201D\u00BB]|[\u0092\u2019]'", "''", tok)


def _right_quotes(tok: str) -> str:
    return _quotes(tok, False)


def _left_quotes(tok: str) -> str:
    return _quotes(tok, True)


def _no_soft_hyphen(tok: str) -> str:
    return tok.replace("\u00AD", "")


def _amp(tok: str) -> str:
    return re.sub("&amp;", "&", tok, flags=re.IGNORECASE)


# (pattern, action), in PTBLexer's rule order (ties go to the earlier rule). Each pattern has a group
# "tok" for the token; what the pattern matches after it is trailing context (it counts for the longest
# match but is not consumed). action: None (the token as matched), a str (a fixed token), "pushback"
# (the token, then its final period again as a token of its own: "etc. ." at a sentence end) or a
# function of the token text.
_RULES_SPEC: list[tuple[str, Any]] = [
    (r"(?P<tok>c[+][+]|(?:c|f)#)", None),
    (rf"(?P<tok>{_SGML})", lambda t: re.sub("[ \r\n]", "\u00A0", t)),
    # Assimilations are split: "cannot" -> "can" "not", "gonna" -> "gon" "na".
    (r"(?P<tok>can)not", None),
    (rf"(?P<tok>{_APOS}t)was", None),
    (r"(?P<tok>du)nno", None),
    (rf"(?P<tok>{_APOS}t)is", None),
    (r"(?P<tok>gon)na", None),
    (r"(?P<tok>got)ta", None),
    (r"(?P<tok>wan)na", None),
    (r"(?P<tok>lem|gim)me", None),
    (r"(?P<tok>n)no", None),
    (r"(?P<tok>[\u0096\u0097\u2013\u2014\u2015]|&(?:MD|mdash|ndash);)", "--"),
    (r"(?P<tok>&amp;)", "&"),
    (r"(?P<tok>&(?:HT|TL|UR|LR|QC|QL|QR|odq|cdq|#[0-9]+);)", None),
    (rf"(?P<tok>{_WORD}){_REDAUX}", _no_soft_hyphen),
    (rf"(?P<tok>[A-Za-z\u00AD]*[A-MO-Za-mo-z]\u00AD*){_SREDAUX}", _no_soft_hyphen),
    (rf"(?P<tok>{_WORD})", _no_soft_hyphen),
    (rf"(?P<tok>{_APOS}n{_APOS}?|[lLdDjJ]{_APOS}|Dunkin{_APOS}|somethin{_APOS}|ol{_APOS}|{_APOS}em"
     rf"|[A-HJ-XZn]{_APOSETC}{_L}{_L}{_L}*|{_APOS}[2-9]0s|{_APOS}till?"
     rf"|{_L}{_L}*[aeiouyAEIOUY]{_APOSETC}[aeiouA-Z]{_L}*|{_APOS}cause|cont'd\.?|nor'easter|c'mon|e'er|s'mores"
     rf"|ev'ry|li'l|nat'l|O{_APOSETC}o)", None),
    (rf"(?P<tok>y{_APOS}){_L}", None),
    (r"(?P<tok>(?:ftp|svn|svn\+ssh|http|https|mailto)://[^ \t\n\f\r\"<>|(){}\[\]]+"
     r"[^ \t\n\f\r\"'<>|.!?(){},;:&\[\]-])", None),
    (r"(?P<tok>(?:www\.(?:[^ \t\n\f\r\"<>|.!?(){},]+\.)+[a-zA-Z]{2,4}|(?:[^ \t\n\f\r\"`'<>|.!?(){},-_$]+\.)+"
     r"(?:com|net|org|edu))(?:/[^ \t\n\f\r\"<>|()]+[^ \t\n\f\r\"<>|.!?(){},-])?)", None),
    (r"(?P<tok>(?:&lt;|<)?[a-zA-Z0-9][^ \t\n\f\r\"<>|()\u00A0{}]*@(?:[^ \t\n\f\r\"<>|(){}.\u00A0]+\.)*"
     r"[^ \t\n\f\r\"<>|(){}.\u00A0]+(?:&gt;|>)?)", None),
    (rf"(?P<tok>@[a-zA-Z_][a-zA-Z_0-9]*|#{_L}+)", None),
    (rf"(?P<tok>{_REDAUX})[^A-Za-z]", _right_quotes),
    (rf"(?P<tok>{_SREDAUX})", _right_quotes),
    (r"(?P<tok>\d{1,2}[-/]\d{1,2}[-/]\d{2,4})", None),
    (rf"(?P<tok>{_NUMBER})", None),
    (r"(?P<tok>(?:\d{1,4}[- \u00A0])?\d{1,4}(?:\\?/|\u2044)\d{1,4})", lambda t: t.replace(" ", "\u00A0")),
    (r"(?P<tok>[\u00BC\u00BD\u00BE\u2153-\u215E])", lambda t: _FRACTIONS.get(t, t)),
    (r"(?P<tok>-(?:RRB|LRB|RCB|LCB|RSB|LSB)-|C\.D\.s|pro-|anti-|S(?:&|&amp;)P-500|S(?:&|&amp;)Ls"
     rf"|Cap{_APOS}n|c{_APOS}est)", _amp),
    (r"(?P<tok>[A-Za-z0-9]+(?:-[A-Za-z]+){0,2}(?:\\?/[A-Za-z0-9]+(?:-[A-Za-z]+){0,2}){1,2})", None),
    (r"(?P<tok>[A-Z]*\$|#)", None),
    (rf"(?P<tok>{_ACRO}\.){_SPNL}+{_ACRONYM_NEXT}{_SPNL}", "acronym"),
    (rf"(?P<tok>{_ABBREV3}){_SPNL}?\d", None),
    (rf"(?P<tok>So\.|No\.){_SPNL}+(?:Africa|Korea|Cal)", None),
    (r"(?P<tok>(?:pt[eyEY]|co)\.)[ \t\u00A0\u2000-\u200A\u3000](?:ltd|lim)", None),
    (rf"(?P<tok>{_ABBREV1}){_SPNL}(?:{_SPNL}|[A-Z])", "pushback"),
    (rf"(?P<tok>{_ABBREV1})[\s\S][\s\S]", None),
    (rf"(?P<tok>{_ABBREV1})", "pushback"),
    (rf"(?P<tok>{_ABBREV2})", None),
    (rf"(?P<tok>'[0-9][0-9]){_SPNL}", None),
    (rf"(?P<tok>{_FILENAME})(?:{_SPNL}|[.?!,])", None),
    (rf"(?P<tok>{_WORD}\.)[,;:\u3001]", _no_soft_hyphen),
    (rf"(?P<tok>{_DBLQUOT})(?:{_AD}|\$)", _left_quotes),
    (rf"(?P<tok>{_DBLQUOT})", _right_quotes),
    (r"(?P<tok>&lt;|<)", "<"),
    (r"(?P<tok>&gt;|>)", ">"),
    (r"(?P<tok>[<>]?[:;=][-o*']?[()DPdpO\\{@|\[\]])[^A-Za-z0-9]",
     lambda t: t.replace("(", "-LRB-").replace(")", "-RRB-")),
    (r"(?P<tok>[{}\[\]()])", lambda t: _BRACKET_NAMES[t]),
    (r"(?P<tok>-+)", lambda t: "--" if 3 <= len(t) <= 4 else t),
    (r"(?P<tok>\.\.\.+|[\u0085\u2026]|\.[ \u00A0](?:\.[ \u00A0])+\.)", "..."),
    (r"(?P<tok>@+|#+|_+)", None),
    (r"(?P<tok>\*+|(?:\\\*){1,3})", None),
    (r"(?P<tok>[,;:\u3001])", None),
    (r"(?P<tok>[?!]+)", None),
    (r"(?P<tok>[.\u00A1\u00BF\u037E\u0589\u061F\u06D4\u0700-\u0702\u07FA\u3002])", None),
    (r"(?P<tok>/)", None),
    (rf"(?P<tok>{_HTHING})", _no_soft_hyphen),
    (rf"(?P<tok>{_HTHING}\.)[,;:\u3001]", _no_soft_hyphen),
    (rf"(?P<tok>{_THING}\.)[,;:\u3001]", None),
    (rf"(?P<tok>{_THING})", None),
    (r"(?P<tok>[A-Z]+(?:(?:[+&]|&amp;)[A-Z]+)+\.)[,;:\u3001]", _amp),
    (r"(?P<tok>[A-Z]+(?:(?:[+&]|&amp;)[A-Z]+)+)", _amp),
    # A straight quote before a word opens a quotation; the CoreNLP 3.4.1 jar does this for ASCII only.
    (r"(?P<tok>')[A-Za-z][^ \t\n\r\u00A0]", _left_quotes),
    (rf"(?P<tok>{_REDAUX})", _right_quotes),
    (rf"(?P<tok>{_QUOTES})", _right_quotes),
    (r"(?P<tok><<|>>)", None),
    (rf"(?P<tok>{_MISC})", None),
]


@functools.cache
def _compiled_rules() -> list[tuple[re.Pattern, Any]]:
    """Compiled on first use: the Unicode letter classes make compiling take ~0.3 s."""
    return [(re.compile(_caseless(pattern)), action) for pattern, action in _RULES_SPEC]


_IGNORED_RE = re.compile(_IGNORED)
_NEWLINE_RE = re.compile(_NL)
# Fast path (most of caption text): ASCII letters followed by a space, newline, end or ", " are
# exactly one WORD token unless the word is an assimilation ("cannot", "gonna", ...) -- no other rule
# can match longer there. Checked against the full rule set on 40k real captions (tests).
_PLAIN_WORD_RE = re.compile(r"[A-Za-z]+(?=[ \n]|,[ \n]|,?$)")
_ASSIMILATIONS = frozenset(["cannot", "dunno", "gonna", "gotta", "wanna", "lemme", "gimme", "nno"])


def _lex(text: str) -> list[list[str]]:
    """Tokens per line of `text` (lines split on newlines, as with -preserveLines)."""
    rules = _compiled_rules()
    lines: list[list[str]] = [[]]
    pos, n = 0, len(text)
    while pos < n:
        m = _IGNORED_RE.match(text, pos)
        if m:
            pos = m.end()
            continue
        m = _NEWLINE_RE.match(text, pos)
        if m:
            lines.append([])
            pos = m.end()
            continue
        m = _PLAIN_WORD_RE.match(text, pos)
        if m and m.group().lower() not in _ASSIMILATIONS:
            lines[-1].append(m.group())
            pos = m.end()
            continue
        best = None  # (total length incl. context, match, action)
        for regex, action in rules:
            m = regex.match(text, pos)
            if m and (best is None or m.end() - pos > best[0]):
                best = (m.end() - pos, m, action)
        if best is None:  # untokenizable character: PTBLexer deletes it (untokenizable=firstDelete)
            pos += 1
            continue
        _, m, action = best
        tok, end = m.group("tok"), m.end("tok")
        if action is None:
            lines[-1].append(tok)
        elif action == "pushback":  # the word with its period, then the period again
            lines[-1].append(tok)
            end -= 1
        elif action == "acronym":  # "U.S." + "." before "The ..."; a single letter gives "A" + "."
            lines[-1].append(tok[:-1] if len(tok) == 2 else tok)
            end -= 1
        elif isinstance(action, str):
            lines[-1].append(action)
        else:
            lines[-1].append(action(tok))
        pos = end
    return lines


def _finish(tokens: list[str]) -> str:
    """-lowerCase, then pycocoevalcap's punctuation filter, joined by single spaces."""
    return " ".join(t for t in (tok.lower() for tok in tokens) if t not in PTB_PUNCTUATIONS)


def ptb_tokenize_batch(texts: Sequence[str]) -> list[str]:
    """Tokenise captions as one call of pycocoevalcap's PTBTokenizer would (newlines inside a
    caption become spaces; the captions are lexed as consecutive lines of one text)."""
    texts = [str(t).replace("\n", " ") for t in texts]
    if not texts:
        return []
    lines = _lex("\n".join(texts))
    if len(lines) != len(texts):
        # A caption held another line break (\r, U+2028, ...). Java would emit extra lines and shift
        # every later caption in pycocoevalcap (a bug there); we keep captions apart instead.
        return [_finish([tok for line in _lex(t) for tok in line]) for t in texts]
    return [_finish(tokens) for tokens in lines]


def ptb_tokenize(text: str) -> str:
    """One caption, lower-cased and PTB-tokenised, punctuation removed (pycocoevalcap's output)."""
    return ptb_tokenize_batch([text])[0]


def _pycocoevalcap_dir() -> Path | None:
    spec = importlib.util.find_spec("pycocoevalcap")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def java_ptb_tokenize(texts: Sequence[str]) -> list[str]:
    """The reference: Stanford PTBTokenizer from pycocoevalcap's jar, run like pycocoevalcap runs it.

    Needs `java` on PATH and pycocoevalcap installed; raises RuntimeError otherwise. The temporary file
    lives in a temp dir rather than inside site-packages (pycocoevalcap writes next to its jar).
    """
    root = _pycocoevalcap_dir()
    jar = root / "tokenizer" / "stanford-corenlp-3.4.1.jar" if root else None
    if shutil.which("java") is None or jar is None or not jar.is_file():
        raise RuntimeError("java_ptb_tokenize needs `java` on PATH and pycocoevalcap's stanford-corenlp jar")
    texts = [str(t).replace("\n", " ") for t in texts]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "captions.txt"
        path.write_bytes("\n".join(texts).encode())
        out = subprocess.run(["java", "-cp", str(jar), "edu.stanford.nlp.process.PTBTokenizer",
                              "-preserveLines", "-lowerCase", str(path)], capture_output=True, check=True)
    lines = out.stdout.decode().split("\n")[: len(texts)]
    lines += [""] * (len(texts) - len(lines))
    return [" ".join(w for w in line.rstrip().split(" ") if w not in PTB_PUNCTUATIONS) for line in lines]


# ---------------------------------------------------------------------------------------------------
# Scorers. Inputs are tokenised strings: one candidate per item, >= 1 references per item.
# ---------------------------------------------------------------------------------------------------

def _ngram_counts(words: list[str], n: int) -> dict[tuple[str, ...], int]:
    counts: dict[tuple[str, ...], int] = defaultdict(int)
    for k in range(1, n + 1):
        for i in range(len(words) - k + 1):
            counts[tuple(words[i:i + k])] += 1
    return counts


def bleu(candidates: Sequence[str], references: Sequence[Sequence[str]],
         n: int = 4) -> tuple[list[float], list[list[float]]]:
    """pycocoevalcap `Bleu(n)`: ([BLEU-1..n] corpus scores, per-item scores per order)."""
    small, tiny = 1e-9, 1e-15
    total_guess, total_correct = [0] * n, [0] * n
    total_test, total_ref = 0, 0
    per_item: list[list[float]] = [[] for _ in range(n)]
    for cand, refs in zip(candidates, references):
        ref_lens, max_counts = [], {}
        for ref in refs:
            words = ref.split()
            ref_lens.append(len(words))
            for ngram, count in _ngram_counts(words, n).items():
                max_counts[ngram] = max(max_counts.get(ngram, 0), count)
        words = cand.split()
        test_len = len(words)
        guess = [max(0, test_len - k + 1) for k in range(1, n + 1)]
        correct = [0] * n
        for ngram, count in _ngram_counts(words, n).items():
            correct[len(ngram) - 1] += min(max_counts.get(ngram, 0), count)
        ref_len = min((abs(length - test_len), length) for length in ref_lens)[1]  # "closest"
        total_test += test_len
        total_ref += ref_len
        for k in range(n):
            total_guess[k] += guess[k]
            total_correct[k] += correct[k]
        score = 1.0
        for k in range(n):
            score *= (float(correct[k]) + tiny) / (float(guess[k]) + small)
            per_item[k].append(score ** (1.0 / (k + 1)))
        ratio = (test_len + tiny) / (ref_len + small)
        if ratio < 1:
            for k in range(n):
                per_item[k][-1] *= math.exp(1 - 1 / ratio)
    corpus, score = [], 1.0
    for k in range(n):
        score *= float(total_correct[k] + tiny) / (total_guess[k] + small)
        corpus.append(score ** (1.0 / (k + 1)))
    ratio = (total_test + tiny) / (total_ref + small)
    if ratio < 1:
        for k in range(n):
            corpus[k] *= math.exp(1 - 1 / ratio)
    return corpus, per_item


def lcs_length(a: list[str], b: list[str]) -> int:
    """Length of the longest common token subsequence (ROUGE-L's core), O(len(a) * len(b))."""
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_l(candidates: Sequence[str], references: Sequence[Sequence[str]],
            beta: float = 1.2) -> tuple[float, list[float]]:
    """pycocoevalcap `Rouge`: F_beta of the max LCS precision and max LCS recall over references.

    Tokens come from `str.split(" ")` as in pycocoevalcap (an empty caption is one empty token)."""
    scores = []
    for cand, refs in zip(candidates, references):
        tok_c = cand.split(" ")
        prec, rec = [], []
        for ref in refs:
            tok_r = ref.split(" ")
            lcs = lcs_length(tok_r, tok_c)
            prec.append(lcs / float(len(tok_c)))
            rec.append(lcs / float(len(tok_r)))
        p, r = max(prec), max(rec)
        scores.append(((1 + beta**2) * p * r) / float(r + beta**2 * p) if p != 0 and r != 0 else 0.0)
    return float(np.mean(np.array(scores))), scores


def cider_d(candidates: Sequence[str], references: Sequence[Sequence[str]], n: int = 4,
            sigma: float = 6.0) -> tuple[float, list[float]]:
    """pycocoevalcap `Cider` (which is CIDEr-D): mean over items of 10 x the mean over 1..n-grams of
    the clipped, length-penalised tf-idf cosine, averaged over the item's references."""
    crefs = [[_ngram_counts(ref.split(), n) for ref in refs] for refs in references]
    ctest = [_ngram_counts(c.split(), n) for c in candidates]
    doc_freq: dict[tuple[str, ...], float] = defaultdict(float)
    for refs in crefs:
        for ngram in {ngram for ref in refs for ngram in ref}:
            doc_freq[ngram] += 1
    ref_len = np.log(float(len(crefs)))

    def vectorise(counts):
        vec = [defaultdict(float) for _ in range(n)]
        norm = [0.0] * n
        length = 0
        for ngram, tf in counts.items():
            df = np.log(max(1.0, doc_freq.get(ngram, 0.0)))
            k = len(ngram) - 1
            vec[k][ngram] = float(tf) * (ref_len - df)
            norm[k] += pow(vec[k][ngram], 2)
            if k == 1:  # pycocoevalcap's "length" counts bigrams; kept for equality
                length += tf
        return vec, [np.sqrt(x) for x in norm], length

    def similarity(vec_h, vec_r, norm_h, norm_r, len_h, len_r):
        delta = float(len_h - len_r)
        val = np.array([0.0] * n)
        for k in range(n):
            for ngram in vec_h[k]:
                val[k] += min(vec_h[k][ngram], vec_r[k][ngram]) * vec_r[k][ngram]
            if norm_h[k] != 0 and norm_r[k] != 0:
                val[k] /= norm_h[k] * norm_r[k]
            val[k] *= np.e ** (-(delta**2) / (2 * sigma**2))
        return val

    scores = []
    for test, refs in zip(ctest, crefs):
        vec, norm, length = vectorise(test)
        score = np.array([0.0] * n)
        for ref in refs:
            vec_r, norm_r, len_r = vectorise(ref)
            score += similarity(vec, vec_r, norm, norm_r, length, len_r)
        score_avg = np.mean(score)
        score_avg /= len(refs)
        score_avg *= 10.0
        scores.append(score_avg)
    return float(np.mean(np.array(scores))), [float(s) for s in scores]


def meteor_available() -> tuple[bool, str]:
    """(available, why not): METEOR needs `java` and pycocoevalcap's meteor-1.5.jar."""
    if shutil.which("java") is None:
        return False, "METEOR skipped: no `java` on PATH (it runs pycocoevalcap's meteor-1.5.jar)"
    root = _pycocoevalcap_dir()
    if root is None:
        return False, "METEOR skipped: pycocoevalcap is not installed (pip install pycocoevalcap)"
    if not (root / "meteor" / "meteor-1.5.jar").is_file():
        return False, f"METEOR skipped: {root / 'meteor' / 'meteor-1.5.jar'} is missing"
    return True, ""


_METEOR_LOCK = threading.Lock()
_METEOR_SCORER: Any = None


def _meteor_scorer() -> Any:
    """One pycocoevalcap Meteor (a Java process) per Python process: its start-up, loading the
    paraphrase table, takes 5-30 s, so evaluation loops must not pay it on every call."""
    global _METEOR_SCORER
    with _METEOR_LOCK:
        if _METEOR_SCORER is None or _METEOR_SCORER.meteor_p.poll() is not None:
            from pycocoevalcap.meteor.meteor import Meteor

            _METEOR_SCORER = Meteor()
            atexit.register(_close_meteor)
        return _METEOR_SCORER


def _close_meteor() -> None:
    global _METEOR_SCORER
    with _METEOR_LOCK:
        scorer, _METEOR_SCORER = _METEOR_SCORER, None
    if scorer is not None and scorer.meteor_p.poll() is None:
        scorer.meteor_p.stdin.close()
        scorer.meteor_p.kill()
        scorer.meteor_p.wait()


def meteor(candidates: Sequence[str],
           references: Sequence[Sequence[str]]) -> tuple[float | None, list[float] | None, str]:
    """pycocoevalcap `Meteor` on tokenised text: (corpus score, per-item scores, note).

    (None, None, note) when Java or pycocoevalcap is missing. The corpus score is METEOR's own
    aggregate over all items (from summed statistics), not the mean of the per-item scores."""
    ok, note = meteor_available()
    if not ok:
        return None, None, note
    gts = {i: list(refs) for i, refs in enumerate(references)}
    res = {i: [cand] for i, cand in enumerate(candidates)}
    score, scores = _meteor_scorer().compute_score(gts, res)
    return float(score), [float(s) for s in scores], ""


# ---------------------------------------------------------------------------------------------------
# The entry point.
# ---------------------------------------------------------------------------------------------------

_TOKENIZERS: dict[str, Callable[[Sequence[str]], list[str]]] = {
    "ptb": ptb_tokenize_batch,
    "java": java_ptb_tokenize,
    "none": lambda texts: [str(t) for t in texts],
}


def _check_inputs(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> None:
    if isinstance(predictions, str) or isinstance(references, str):
        raise TypeError("predictions must be a sequence of captions and references a sequence of caption lists")
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} reference lists")
    if len(predictions) == 0:
        raise ValueError("no predictions to score")
    for i, refs in enumerate(references):
        if isinstance(refs, str):
            raise TypeError(f"references[{i}] is a string; give a list of reference captions")
        if len(refs) == 0:
            raise ValueError(f"references[{i}] is empty: every item needs at least one reference")


def caption_scores(predictions: Sequence[str], references: Sequence[Sequence[str]], *, tokenizer: str = "ptb",
                   with_meteor: bool = True, per_item: bool = False) -> dict[str, Any]:
    """All COCO caption metrics of `predictions[i]` against `references[i]` (one list per item).

    tokenizer: "ptb" (this module's Python port of COCO's PTB tokenisation, the default), "java"
    (pycocoevalcap's own Stanford jar; needs Java) or "none" (inputs already tokenised).
    Returns {"BLEU-1".."BLEU-4", "METEOR", "ROUGE-L", "CIDEr-D", "n", "tokenizer", "notes"} on
    pycocoevalcap's scale (0-1; CIDEr-D 0-10, papers usually print x100); METEOR is None with a
    note when Java is missing. per_item=True adds {"per_item": {metric: [score per item]}}.
    """
    _check_inputs(predictions, references)
    if tokenizer not in _TOKENIZERS:
        raise ValueError(f"tokenizer must be one of {sorted(_TOKENIZERS)}, got {tokenizer!r}")
    tokenize = _TOKENIZERS[tokenizer]
    # Two tokeniser calls, references first, exactly as COCOEvalCap.evaluate makes them.
    sizes = [len(refs) for refs in references]
    flat = tokenize([r for refs in references for r in refs])
    refs_tok, start = [], 0
    for size in sizes:
        refs_tok.append(flat[start:start + size])
        start += size
    cands_tok = tokenize(list(predictions))

    notes: list[str] = []
    bleu_corpus, bleu_items = bleu(cands_tok, refs_tok)
    rouge, rouge_items = rouge_l(cands_tok, refs_tok)
    cider, cider_items = cider_d(cands_tok, refs_tok)
    meteor_score, meteor_items = None, None
    if with_meteor:
        meteor_score, meteor_items, note = meteor(cands_tok, refs_tok)
        if note:
            notes.append(note)
    else:
        notes.append("METEOR not computed (with_meteor=False)")
    if len(predictions) < 2:
        notes.append("CIDEr-D on a single item is 0 by construction: its idf comes from the evaluated set")
    result: dict[str, Any] = {f"BLEU-{k + 1}": float(bleu_corpus[k]) for k in range(4)}
    result.update({"METEOR": meteor_score, "ROUGE-L": rouge, "CIDEr-D": cider, "n": len(predictions),
                   "tokenizer": tokenizer, "notes": notes})
    if per_item:
        items = {f"BLEU-{k + 1}": [float(x) for x in bleu_items[k]] for k in range(4)}
        items.update({"METEOR": meteor_items, "ROUGE-L": [float(x) for x in rouge_items], "CIDEr-D": cider_items})
        result["per_item"] = items
    return result
