"""``nltk.word_tokenize`` on lower-cased text, as the official CMRC 2018 evaluation calls it, without nltk.

The official script (cmrc2018_evaluate.py, which ERNIE also uses for DRCD) lower-cases each text and hands every
run of non-Chinese characters to ``nltk.word_tokenize``: Punkt splits the run into sentences with NLTK's English
model (the ``punkt_tab`` data package), then NLTK's improved Treebank rules split each sentence into words. A
score must not depend on whether nltk or that package is installed (the data cannot be downloaded at run
time), so this module does both by itself:

- ``treebank_words``: the Treebank rules, regular substitutions that need no data.
- ``sentences``: Punkt with the part of the English model that lower-cased text reaches: the abbreviations
  (ABBREVIATIONS) and, after a number or an initial, the words seen lower-case at a sentence start and never
  capitalised (LOWER_CASE_STARTERS). The model's collocations, frequent sentence starters and other
  orthographic data decide only before a capitalised word, or agree with what a lower-case word decides.
  ``_ends_sentence`` spells out the resulting rule.

Lower-cased text is the precondition of that reduction, so ``word_tokenize`` lower-cases first.

The rules are nltk 3.10.4's. Older releases split a few inputs differently (a single quote before a word; en
and em dashes): 407 of the 197,655 dev runs compared for nltk 3.10.0, 1,366 for 3.8.1 and 3.9.1. Where the
``regex`` engine that nltk 3.10 runs its patterns on disagrees with Python's ``re`` on what is a word character
or a space (combining marks, superscript digits, U+001C-U+001F), this follows ``re``, as nltk did up to 3.9.
tests/finetune/test_official_tokenize.py compares the result with nltk on the runs of every CMRC 2018 and DRCD
dev answer and of spans of their contexts.
"""

from __future__ import annotations

import re
from typing import Iterator, Optional

# ---------------------------------------------------------------------------------------------- the English model
# The abbreviation types of NLTK's English Punkt model (punkt_tab/english/abbrev_types.txt), lower-case,
# without their final period. '. . ' is how the model stores the spaced ellipsis '. . .'.
ABBREVIATIONS = frozenset(
    """
    a.a a.c a.d a.g a.h a.m a.m.e a.s a.t adm ala ariz aug ave b.f b.v bros c c.i.t c.o.m.b c.v calif chg
    cie co col colo conn corp cos ct d d.c d.h d.w dec dr e e.f e.h e.l e.m f f.g f.j feb fla fri ft g g.d
    g.f g.k ga gen h h.c h.f h.m i.m.s ill inc j.b j.c j.j j.k j.p j.r jan jr k kan ky l l.a l.f l.p lt ltd
    m m.b.a m.d.c m.j maj messrs mg mich minn mr mrs ms n n.c n.d n.h n.j n.m n.v n.y nev nov oct ok okla
    ore p p.a.m p.m pa ph.d prof r r.a r.h r.i r.j r.k r.t rep reps s s.a s.a.y s.c s.g s.p.a s.s sen sep
    sept sr st sw t t.j tenn tues u.k u.n u.s u.s.a u.s.s.r v va vs vt w w.c w.r w.va w.w wash wed wis yr
    """.split()
    + [". . "]
)
# The words whose orthographic context in the model is "seen lower-case at a sentence start, never
# capitalised": after a number or an initial with a period, Punkt cannot tell, and keeps the break.
LOWER_CASE_STARTERS = frozenset(["administrators", "b-week", "r-revised", "z-holiday"])

# ---------------------------------------------------------------------------------------------- Punkt
# Characters that end a word for Punkt (besides whitespace): closing and opening brackets and quotes, and
# the sentence ends other than '.'.
_NOT_IN_WORD = "[)\";}\\]*:@'({\\[\u2018\u2019\u201c\u201d\xab\xbb?!]"
_MULTI_CHAR = r"(?:-{2,}|\.{2,}|(?:\.\s){2,}\.)"  # dashes and ellipses
# Punkt's own word split, used only to judge a possible sentence end: a dash run or an ellipsis; a word, with
# its final period and the commas inside it but not one that ends it; any other character.
_WORD_END = rf"\s|$|{_NOT_IN_WORD}|{_MULTI_CHAR}"
_PUNKT_WORD = re.compile(
    rf"{_MULTI_CHAR}|(?=[^(\"`{{\[:;&#*@)}}\]\-,])\S+?(?={_WORD_END}|,(?={_WORD_END}))|\S"
)
# A possible sentence end: '.', '?' or '!' followed by one of those characters, or by whitespace and a token.
_POSSIBLE_END = re.compile(rf"[.?!](?=(?P<after>{_NOT_IN_WORD}|\s+(?P<next>\S+)))")
# Closing quotes and brackets at the start of the next sentence belong to the previous one.
_CLOSING = re.compile("[\"')\\]}\u2018\u2019\u201c\u201d\xab\xbb]+?(?:\\s+|(?=--)|$)", re.MULTILINE)
_NUMBER = re.compile(r"^-?[.,]?\d[\d,.-]*\.?$")
_INITIAL = re.compile(r"[^\W\d]\.$")
_ASCII_WHITESPACE = " \t\n\r\x0b\x0c"  # what Punkt looks back to for the word before a possible end


def _marked_as_end(word: str) -> bool:
    """Punkt's first look at a word: a sentence end mark, or a period-final word that is no abbreviation."""
    if word in (".", "?", "!"):
        return True
    if not word.endswith(".") or word.endswith(".."):
        return False
    stem = word[:-1]
    return stem not in ABBREVIATIONS and stem.split("-")[-1] not in ABBREVIATIONS


def _ends_sentence(word: str, following: str) -> bool:
    """Whether Punkt ends a sentence after ``word`` when ``following`` comes next (lower-cased text)."""
    if not _marked_as_end(word):
        return False  # an abbreviation stays one: only a capitalised next word could make it an end
    kind = _NUMBER.sub("##number##", word)
    if kind.endswith(".") and len(kind) > 1:
        kind = kind[:-1]
    initial = _INITIAL.match(word) is not None
    if not initial and kind != "##number##":
        return True
    # After a number or an initial the next token decides: no sentence starts with punctuation, nor with
    # a lower-case word the model has seen capitalised or never saw lower-case at a sentence start.
    if following in (";", ":", ",", ".", "!", "?"):
        return False
    if following[0].islower():
        following_kind = following[:-1] if _marked_as_end(following) and len(following) > 1 else following
        return following_kind in LOWER_CASE_STARTERS
    # A letter that stays upper-case after lower() (say U+211D): a word the model never saw, which after an
    # initial reads as a name; before anything else the model cannot tell, and the break stays.
    if following[0].isupper():
        return not initial
    return True


def _has_sentence_end(context: str) -> bool:
    """Whether some word of ``context`` ends a sentence and another word follows it."""
    words = [word for line in context.split("\n") for word in _PUNKT_WORD.findall(line)]
    return any(_ends_sentence(word, following) for word, following in zip(words, words[1:]))


def _possible_ends(text: str) -> Iterator[tuple[re.Match, str]]:
    """Each possible sentence end with the text Punkt judges it by: the word before it, itself, what follows.

    Ends that share their word before (as in 'what?!') count once, as the last of them.
    """
    pending: Optional[re.Match] = None
    word_start = word_stop = 0
    for match in _POSSIBLE_END.finditer(text):
        before = text[word_stop : match.start()]
        space = max(before.rfind(char) for char in _ASCII_WHITESPACE)
        # Punkt takes a space at position 0 of `before` for no space at all.
        start = word_stop + space + 1 if space > 0 else word_start
        if pending is not None and word_stop <= start:
            yield pending, text[word_start:word_stop] + pending.group() + pending.group("after")
        pending, word_start, word_stop = match, start, match.start()
    if pending is not None:
        yield pending, text[word_start:word_stop] + pending.group() + pending.group("after")


def sentences(text: str) -> list[str]:
    """Punkt's sentences of lower-cased ``text`` with NLTK's English model."""
    spans = []
    start = 0
    for match, context in _possible_ends(text):
        if _has_sentence_end(context):
            spans.append((start, match.end()))
            start = match.start("next") if match.group("next") else match.end()
    spans.append((start, len(text.rstrip())))
    out = []
    moved = 0  # closing characters already given to the previous sentence
    for (start, stop), following in zip(spans, spans[1:] + [None]):
        start += moved
        closing = _CLOSING.match(text[following[0] : following[1]]) if following else None
        if closing:
            out.append(text[start : following[0] + len(closing.group().rstrip())])
            moved = closing.end()
        else:
            moved = 0
            if text[start:stop]:
                out.append(text[start:stop])
    return out


# ---------------------------------------------------------------------------------------------- Treebank
# NLTK's improved Treebank rules (NLTKWordTokenizer), in its order: each pads the characters it splits off
# with spaces, and the words are what lies between spaces at the end.
_TREEBANK = [
    (re.compile(rule), replacement)
    for rule, replacement in [
        # Opening quotes: guillemets, curly and low quotes and backticks stand alone; a double quote at the
        # start or after a space or an opening bracket becomes ``.
        ("([«“‘„]|`+)", r" \1 "),
        ('^"', "``"),
        ("(``)", r" \1 "),
        ("([ ([{<])(\"|'')", r"\1 `` "),
        # A single quote before a word, unless it starts a clitic ('re, 've, 'll, 'm, 't, 's, 'd, 'n).
        (r"(?i)(?<!\w)(')(?!(?:re|ve|ll|m|t|s|d|n)\b)(?=\w)", r"\1 "),
        # The final period of the sentence, before closing quotes and brackets.
        ("([^.])(\\.)([\\])}>\"'»”’ ]*)\\s*$", r"\1 \2 \3 "),
        # Commas and colons, except inside numbers.
        (r"([:,])([^\d])", r" \1 \2"),
        (r"([:,])$", r" \1 "),
        (r"\.{2,}", r" \g<0> "),
        (r"[;@#$%&]", r" \g<0> "),
        ("[\u2012-\u2015]", r" \g<0> "),  # figure dash, en and em dashes, horizontal bar
        ("([^.])(\\.)([\\])}>\"']*)\\s*$", r"\1 \2\3 "),  # NLTK's older final-period rule, still applied
        (r"[?!]", r" \g<0> "),
        (r"([^'])' ", r"\1 ' "),
        (r"[*]", r" \g<0> "),
        (r"[\][(){}<>]", r" \g<0> "),
        (r"--", r" -- "),
    ]
]
# Applied to the text padded with a space at both ends: closing quotes, then clitics.
_TREEBANK_PADDED = [
    (re.compile(rule), replacement)
    for rule, replacement in [
        ("([»”’])", r" \1 "),
        ("''", " '' "),
        ('"', " '' "),
        (r"\s+", " "),
        (r"([^' ])('[sS]|'[mM]|'[dD]|') ", r"\1 \2 "),
        (r"([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) ", r"\1 \2 "),
        # Words written together: cannot, d'ye, gimme, gonna, gotta, lemme, more'n, wanna, 'tis, 'twas.
        (r"(?i)\b(can)(not)\b", r" \1 \2 "),
        (r"(?i)\b(d)('ye)\b", r" \1 \2 "),
        (r"(?i)\b(gim)(me)\b", r" \1 \2 "),
        (r"(?i)\b(gon)(na)\b", r" \1 \2 "),
        (r"(?i)\b(got)(ta)\b", r" \1 \2 "),
        (r"(?i)\b(lem)(me)\b", r" \1 \2 "),
        (r"(?i)\b(more)('n)\b", r" \1 \2 "),
        (r"(?i)\b(wan)(na)(?=\s)", r" \1 \2 "),
        (r"(?i) ('t)(is)\b", r" \1 \2 "),
        (r"(?i) ('t)(was)\b", r" \1 \2 "),
    ]
]


def treebank_words(sentence: str) -> list[str]:
    """The words of one sentence by NLTK's improved Treebank rules."""
    for rule, replacement in _TREEBANK:
        sentence = rule.sub(replacement, sentence)
    sentence = f" {sentence} "
    for rule, replacement in _TREEBANK_PADDED:
        sentence = rule.sub(replacement, sentence)
    return sentence.split()


def word_tokenize(text: str) -> list[str]:
    """``nltk.word_tokenize(text.lower())`` with NLTK's English Punkt model, as the official script has it."""
    return [word for sentence in sentences(text.lower()) for word in treebank_words(sentence)]
