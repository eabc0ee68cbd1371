"""The tokeniser COCOEvalCap applies before scoring, in pure Python: a port of Stanford's PTBLexer.

Why a port: pycocoevalcap runs the PTBTokenizer (CoreNLP 3.4.1) through Java with `-preserveLines
-lowerCase`, and drops the tokens in `PTB_PUNCTUATIONS`. This module reproduces that for the rules
caption text meets (see docs/metrics.md for the rules covered and the known differences);
`java_ptb_tokenize` runs the real jar where Java and pycocoevalcap are installed, for checking.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import shutil
import subprocess
import tempfile
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["PTB_PUNCTUATIONS", "java_ptb_tokenize", "ptb_tokenize", "ptb_tokenize_batch"]

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
    caption become spaces; the captions are lexed as consecutive lines of one text).

    Args:
        texts: raw captions (each converted with `str`).

    Returns:
        One string per caption: its lower-cased PTB tokens joined by single spaces, with the tokens
        in `PTB_PUNCTUATIONS` removed ([] for no captions).
    """
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
    """One caption, lower-cased and PTB-tokenised, punctuation removed (pycocoevalcap's output).

    Args:
        text: the raw caption.

    Returns:
        The tokens joined by single spaces.
    """
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

    Args:
        texts: raw captions; newlines inside a caption become spaces.

    Returns:
        One lower-cased, punctuation-filtered token string per caption (an empty string for any
        line the tokenizer did not return).

    Raises:
        RuntimeError: `java` is not on PATH or pycocoevalcap's stanford-corenlp-3.4.1.jar is missing.
        subprocess.CalledProcessError: the Java tokenizer exits with an error.
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
