"""The fast path of the tokenizer: HF ``tokenizers`` (Rust) WordPiece, and where it may not be trusted.

Its normaliser orders lower-casing and accent stripping differently from the reference path
(``ernie.wordpiece``) and its Unicode tables may be a different version, so a text takes the fast
path only when none of its characters is in the set where the two paths were seen to disagree
(``fast_path_unsafe_ranges``, computed by comparing both paths on every code point).
"""

from __future__ import annotations

import json
import os
import unicodedata

from .wordpiece import CJK_RANGES, EXTRA_SYMBOLS, MAX_CHARS_PER_WORD, BasicTokenizer


def fast_backend(vocab: dict[str, int], unk_token: str, do_lower_case: bool):
    """An HF ``tokenizers.Tokenizer`` doing what the reference path does, or None if not installed.

    It takes the reference path's ``vocab`` itself, so a duplicated token has the same (last-line) id on
    both paths; WordPiece looks ids up by token and does not mind the ids that name no token."""
    try:
        from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers
    except ImportError:
        return None
    backend = Tokenizer(
        models.WordPiece(vocab=dict(vocab), unk_token=unk_token, max_input_chars_per_word=MAX_CHARS_PER_WORD)
    )
    backend.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=do_lower_case, lowercase=do_lower_case
    )
    symbols = "".join(f"\\x{{{cp:04X}}}" for cp in sorted(EXTRA_SYMBOLS))
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(f"[\\p{{S}}{symbols}]"), behavior="isolated"),
            pre_tokenizers.BertPreTokenizer(),
        ]
    )
    return backend


_UNSAFE_CACHE: dict[bool, list] = {}
PROBED_LIMIT = 0x20000  # planes 0 and 1 are probed; beyond them only CJK ideographs go the fast way


def _probe_unsafe_code_points(do_lower_case: bool) -> list[int]:
    candidates = [cp for cp in range(1, PROBED_LIMIT) if not 0xD800 <= cp <= 0xDFFF]
    basic = BasicTokenizer(do_lower_case)
    contexts = ("{}", "a{}a", "A{}", "{}A")
    texts: list[str] = []
    reference: list[list[str]] = []
    probe_vocab = {"[UNK]": 0}
    for cp in candidates:
        for ctx in contexts:
            text = ctx.format(chr(cp))
            words = basic.tokenize(text)
            texts.append(text)
            # With a vocabulary of all single characters, words become one piece per character.
            pieces = [("##" + c if i else c) for w in words for i, c in enumerate(w)]
            for piece in pieces:
                probe_vocab.setdefault(piece, len(probe_vocab))
            reference.append(pieces)
    backend = fast_backend(probe_vocab, "[UNK]", do_lower_case)
    unsafe = set()
    for k, encoding in enumerate(backend.encode_batch(texts, add_special_tokens=False)):
        if encoding.tokens != reference[k]:
            unsafe.add(candidates[k // len(contexts)])
    return sorted(unsafe)


def _to_ranges(code_points: list[int]) -> list[list[int]]:
    ranges: list[list[int]] = []
    for cp in code_points:
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    return ranges


def fast_path_unsafe_ranges(do_lower_case: bool = True) -> list[list[int]]:
    """Code-point ranges on which the fast path may differ from the reference path.

    Found by running both paths on every code point of planes 0 and 1, alone, between letters and
    beside a capital, with a vocabulary of all single characters (the differences seen are
    characters that the two Unicode tables date differently). Everything beyond plane 1 except the
    CJK ideograph blocks is added unprobed. Probing takes seconds, so the result is cached under
    ``$ERNIE_CACHE`` (default ``~/.cache/ernie``), keyed by the Unicode and ``tokenizers`` versions.
    """
    if do_lower_case in _UNSAFE_CACHE:
        return _UNSAFE_CACHE[do_lower_case]
    import tokenizers

    key = f"fast-path-unsafe-v1-{unicodedata.unidata_version}-{tokenizers.__version__}-{int(do_lower_case)}.json"
    cache_dir = os.environ.get("ERNIE_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "ernie"))
    cache_file = os.path.join(cache_dir, key)
    ranges = None
    try:
        with open(cache_file, encoding="utf-8") as f:
            ranges = json.load(f)
    except (OSError, ValueError):
        pass
    if ranges is None:
        ranges = _to_ranges(_probe_unsafe_code_points(do_lower_case))
        cjk_beyond = sorted(r for r in CJK_RANGES if r[0] >= PROBED_LIMIT)
        start = PROBED_LIMIT
        for low, high in cjk_beyond:
            if start < low:
                ranges.append([start, low - 1])
            start = high + 1
        ranges.append([start, 0x10FFFF])
        try:
            os.makedirs(cache_dir, exist_ok=True)
            tmp = f"{cache_file}.{os.getpid()}.tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(ranges, f)
            os.replace(tmp, cache_file)
        except OSError:
            pass  # a read-only home only costs the probe again next time
    _UNSAFE_CACHE[do_lower_case] = ranges
    return ranges
