"""ErnieTokenizer: BERT/ERNIE BasicTokenizer + WordPiece, ids identical to PaddleNLP's ErnieTokenizer.

Pure Python and numpy-free, so ``data_tools`` can use it on machines without paddle.

Two paths produce the token ids of a text:

* the reference path (``ernie.wordpiece``): PaddleNLP's steps in PaddleNLP's order;
* the fast path (``ernie.fast_wordpiece``), HF ``tokenizers`` (Rust), used for large corpora when it
  is installed, for the texts where it was checked to agree with the reference path.
  ``tests/core/test_tokenizer.py`` checks the two on real corpora.

Offsets are character spans ``(start, end)`` into the original text, ``(0, 0)`` for special tokens.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, Iterable, Optional, Sequence, Union

from .errors import TokenizerError
from .fast_wordpiece import PROBED_LIMIT, fast_backend, fast_path_unsafe_ranges
from .files import atomic_write_text
from .wordpiece import (  # noqa: F401  (the reference path's classes and helpers are part of this API)
    MAX_CHARS_PER_WORD,
    BasicTokenizer,
    WordpieceTokenizer,
    is_chinese_char,
    is_control,
    is_punctuation,
    is_symbol,
    is_whitespace,
    load_vocab,
    read_vocab,
)

VOCAB_NAME = "vocab.txt"
TOKENIZER_CONFIG_NAME = "tokenizer_config.json"
SPECIAL_TOKENS_MAP_NAME = "special_tokens_map.json"


# ---------------------------------------------------------------------------------------------- tokenizer
TextInput = Union[str, Sequence[str]]


class ErnieTokenizer:
    """WordPiece tokenizer over an ERNIE vocabulary (``token`` or ``token<TAB>id`` lines).

    ``tokenizer(text, text_pair=None, max_length=None, truncation=None, padding=False, ...)`` returns
    ``input_ids`` and ``token_type_ids`` (``[CLS] a [SEP]`` type 0, ``b [SEP]`` type 1), and on
    request ``attention_mask``, ``offset_mapping``, ``special_tokens_mask`` and ``length``. A list of
    texts gives lists. ``max_length`` without ``truncation`` truncates ``longest_first`` (as
    PaddleNLP does); ``padding`` is ``True``/``"longest"`` or ``"max_length"``.
    """

    def __init__(
        self,
        vocab_file: str,
        do_lower_case: bool = True,
        unk_token: str = "[UNK]",
        sep_token: str = "[SEP]",
        pad_token: str = "[PAD]",
        cls_token: str = "[CLS]",
        mask_token: str = "[MASK]",
        model_max_length: int = 512,
        use_fast: Optional[bool] = None,
    ):
        self.vocab_file = vocab_file
        self.vocab, self._overridden = read_vocab(vocab_file)
        # The ids of lines overridden by a later duplicate name no token, as in PaddleNLP.
        self.ids_to_tokens = {i: t for t, i in self.vocab.items()}
        self.id_limit = max(self.vocab.values()) + 1
        self.do_lower_case = do_lower_case
        self.model_max_length = model_max_length
        self.special_tokens = {
            "unk_token": unk_token,
            "sep_token": sep_token,
            "pad_token": pad_token,
            "cls_token": cls_token,
            "mask_token": mask_token,
        }
        for name, token in self.special_tokens.items():
            if token not in self.vocab:
                raise TokenizerError(f"{vocab_file}: the vocabulary has no {token} ({name})")
        self.unk_token, self.sep_token, self.pad_token = unk_token, sep_token, pad_token
        self.cls_token, self.mask_token = cls_token, mask_token
        self.unk_token_id = self.vocab[unk_token]
        self.sep_token_id = self.vocab[sep_token]
        self.pad_token_id = self.vocab[pad_token]
        self.cls_token_id = self.vocab[cls_token]
        self.mask_token_id = self.vocab[mask_token]
        self.all_special_ids = sorted({self.vocab[t] for t in self.special_tokens.values()})

        self.basic_tokenizer = BasicTokenizer(do_lower_case)
        self.wordpiece_tokenizer = WordpieceTokenizer(self.vocab, unk_token)
        # Special tokens written in the text stay whole (PaddleNLP keeps them too).
        specials = sorted(set(self.special_tokens.values()), key=len, reverse=True)
        self._special_split = re.compile("(" + "|".join(re.escape(t) for t in specials) + ")")

        self._fast = None
        self._unsafe_chars: frozenset = frozenset()
        if use_fast is not False:
            self._fast = fast_backend(self.vocab, unk_token, do_lower_case)
            if self._fast is None and use_fast:
                raise TokenizerError("use_fast=True needs the 'tokenizers' package (pip install tokenizers)")
            if self._fast is not None:
                ranges = fast_path_unsafe_ranges(do_lower_case)
                self._unsafe_chars = frozenset(
                    chr(cp) for low, high in ranges if high < PROBED_LIMIT for cp in range(low, high + 1)
                )
                self._specials_re = re.compile(
                    "|".join(re.escape(t) for t in sorted(set(self.special_tokens.values())))
                )

    # ------------------------------------------------------------------ basics
    @property
    def vocab_size(self) -> int:
        """The largest id + 1: what an embedding table needs. PaddleNLP returns the count of distinct
        tokens, which is smaller when a token is on two lines (its ids then reach past it)."""
        return self.id_limit

    def __len__(self) -> int:
        return self.id_limit

    @property
    def uses_fast_path(self) -> bool:
        return self._fast is not None

    def convert_tokens_to_ids(self, tokens: Union[str, Iterable[str]]):
        if isinstance(tokens, str):
            return self.vocab.get(tokens, self.unk_token_id)
        return [self.vocab.get(t, self.unk_token_id) for t in tokens]

    def convert_ids_to_tokens(self, ids: Union[int, Iterable[int]]):
        if isinstance(ids, int):
            return self.ids_to_tokens.get(ids, self.unk_token)
        return [self.ids_to_tokens.get(int(i), self.unk_token) for i in ids]

    def tokenize(self, text: str) -> list[str]:
        return self.convert_ids_to_tokens(self.encode_texts([text])[0])

    def decode(self, ids: Iterable[int], skip_special_tokens: bool = True) -> str:
        """Word pieces joined back (``##`` glued to the previous piece); CJK characters stay spaced."""
        special = set(self.all_special_ids) if skip_special_tokens else set()
        tokens = [self.ids_to_tokens.get(int(i), self.unk_token) for i in ids if int(i) not in special]
        return " ".join(tokens).replace(" ##", "").strip()

    # ------------------------------------------------------------------ text -> ids
    def _fast_path_safe(self, text: str) -> bool:
        if "[" in text and self._specials_re.search(text):
            return False
        if text.isascii():
            return True  # no ASCII character is unsafe (tests/test_tokenizer.py checks it)
        if not self._unsafe_chars.isdisjoint(text):
            return False
        if max(text) < "\U00020000":
            return True
        # Beyond plane 1 nothing was probed: only CJK ideographs go the fast way there.
        return all(is_chinese_char(ord(c)) for c in text if ord(c) >= PROBED_LIMIT)

    def _reference_encode(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        ids: list[int] = []
        offsets: list[tuple[int, int]] = []
        position = 0
        for part in self._special_split.split(text):
            if part in self.vocab and part in self.special_tokens.values():
                ids.append(self.vocab[part])
                offsets.append((position, position + len(part)))
            elif part:
                for word, spans in self.basic_tokenizer.tokenize_with_spans(part):
                    for piece, start, end in self.wordpiece_tokenizer.tokenize_with_spans(word):
                        ids.append(self.vocab[piece])
                        offsets.append((position + spans[start], position + spans[end - 1] + 1))
            position += len(part)
        return ids, offsets

    def encode_texts(
        self, texts: Sequence[str], return_offsets: bool = False, use_fast: Optional[bool] = None
    ) -> Any:
        """Token ids (no special tokens) of each text; with ``return_offsets`` also their spans.

        This is the bulk entry point for corpora: texts that are safe for the fast path go to it in
        one batch, the rest through the reference path.
        """
        results: list[Optional[tuple[list[int], list[tuple[int, int]]]]] = [None] * len(texts)
        fast_indices = []
        fast = self._fast if use_fast is not False else None
        for k, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"text {k} is {type(text).__name__}, not str")
            if fast is not None and self._fast_path_safe(text):
                fast_indices.append(k)
            else:
                results[k] = self._reference_encode(text)
        if fast_indices:
            encodings = fast.encode_batch([texts[k] for k in fast_indices], add_special_tokens=False)
            for k, encoding in zip(fast_indices, encodings):
                results[k] = (encoding.ids, encoding.offsets if return_offsets else [])
        if return_offsets:
            return [r[0] for r in results], [r[1] for r in results]
        return [r[0] for r in results]

    # ------------------------------------------------------------------ model inputs
    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        return 3 if pair else 2

    def build_inputs_with_special_tokens(
        self, ids_a: list[int], ids_b: Optional[list[int]] = None
    ) -> list[int]:
        if ids_b is None:
            return [self.cls_token_id] + list(ids_a) + [self.sep_token_id]
        return [self.cls_token_id] + list(ids_a) + [self.sep_token_id] + list(ids_b) + [self.sep_token_id]

    def create_token_type_ids(self, ids_a: list[int], ids_b: Optional[list[int]] = None) -> list[int]:
        if ids_b is None:
            return [0] * (len(ids_a) + 2)
        return [0] * (len(ids_a) + 2) + [1] * (len(ids_b) + 1)

    @staticmethod
    def truncate_pair(
        len_a: int, len_b: Optional[int], budget: int, strategy: str
    ) -> tuple[int, Optional[int]]:
        """New lengths after removing tokens until ``len_a + len_b <= budget``.

        ``longest_first`` removes one token at a time from the longer side, from the second on ties
        (PaddleNLP's loop, in closed form); ``only_first`` / ``only_second`` cut one side and leave
        the input unchanged if that side is too short (PaddleNLP logs and does the same).
        """
        excess = len_a + (len_b or 0) - budget
        if excess <= 0:
            return len_a, len_b
        if len_b is None or strategy == "only_first":
            return (len_a - excess, len_b) if len_a > excess else (len_a, len_b)
        if strategy == "only_second":
            return (len_a, len_b - excess) if len_b > excess else (len_a, len_b)
        # longest_first: first level the longer side down to the shorter one, then alternate b, a, b, ...
        diff = abs(len_a - len_b)
        take = min(excess, diff)
        if len_a > len_b:
            len_a -= take
        else:
            len_b -= take
        excess -= take
        len_b -= (excess + 1) // 2
        len_a -= excess // 2
        return max(len_a, 0), max(len_b, 0)

    def __call__(
        self,
        text: TextInput,
        text_pair: Optional[TextInput] = None,
        max_length: Optional[int] = None,
        truncation: Union[bool, str, None] = None,
        padding: Union[bool, str] = False,
        return_attention_mask: bool = False,
        return_offsets_mapping: bool = False,
        return_special_tokens_mask: bool = False,
        return_length: bool = False,
        pad_to_multiple_of: Optional[int] = None,
    ) -> dict[str, list]:
        batched = not isinstance(text, str)
        texts = [text] if not batched else list(text)
        if text_pair is None:
            pairs = None
        else:
            pairs = [text_pair] if isinstance(text_pair, str) else list(text_pair)
            if batched != (not isinstance(text_pair, str)) or len(pairs) != len(texts):
                raise ValueError("text and text_pair must both be strings or lists of the same length")

        if truncation is None or truncation is False:
            strategy = "longest_first" if (max_length is not None and truncation is None) else None
        elif truncation is True:
            strategy = "longest_first"
        elif truncation in ("longest_first", "only_first", "only_second"):
            strategy = truncation
        elif truncation == "do_not_truncate":
            strategy = None
        else:
            raise ValueError(f"unknown truncation strategy {truncation!r}")
        if strategy is not None and max_length is None:
            max_length = self.model_max_length

        want_offsets = return_offsets_mapping
        ids_a, offs_a = self.encode_texts(texts, return_offsets=True)
        if pairs is not None:
            ids_b, offs_b = self.encode_texts(pairs, return_offsets=True)
        if not want_offsets:
            offs_a = offs_b = [[]] * len(texts)

        out: dict[str, list] = {"input_ids": [], "token_type_ids": []}
        extras = {
            "attention_mask": return_attention_mask,
            "offset_mapping": want_offsets,
            "special_tokens_mask": return_special_tokens_mask,
            "length": return_length,
        }
        for key, wanted in extras.items():
            if wanted:
                out[key] = []

        for k in range(len(texts)):
            a, oa = ids_a[k], offs_a[k]
            b, ob = (ids_b[k], offs_b[k]) if pairs is not None else (None, None)
            if strategy is not None:
                budget = max_length - self.num_special_tokens_to_add(b is not None)
                la, lb = self.truncate_pair(len(a), None if b is None else len(b), budget, strategy)
                a, oa = a[:la], oa[:la]
                if b is not None:
                    b, ob = b[:lb], ob[:lb]
            input_ids = self.build_inputs_with_special_tokens(a, b)
            out["input_ids"].append(input_ids)
            out["token_type_ids"].append(self.create_token_type_ids(a, b))
            if return_attention_mask:
                out["attention_mask"].append([1] * len(input_ids))
            if want_offsets:
                offsets = [(0, 0)] + [tuple(o) for o in oa] + [(0, 0)]
                if b is not None:
                    offsets += [tuple(o) for o in ob] + [(0, 0)]
                out["offset_mapping"].append(offsets)
            if return_special_tokens_mask:
                mask = [1] + [0] * len(a) + [1]
                if b is not None:
                    mask += [0] * len(b) + [1]
                out["special_tokens_mask"].append(mask)
            if return_length:
                out["length"].append(len(input_ids))

        if padding:
            if padding is True or padding == "longest":
                target = max(len(x) for x in out["input_ids"])
            elif padding == "max_length":
                target = max_length if max_length is not None else self.model_max_length
            else:
                raise ValueError(f"unknown padding strategy {padding!r}")
            if pad_to_multiple_of:
                target = -(-target // pad_to_multiple_of) * pad_to_multiple_of
            pad_values = {
                "input_ids": self.pad_token_id,
                "token_type_ids": 0,
                "attention_mask": 0,
                "offset_mapping": (0, 0),
                "special_tokens_mask": 1,
            }
            for key, value in pad_values.items():
                if key in out:
                    out[key] = [row + [value] * (target - len(row)) for row in out[key]]

        if not batched:
            return {key: value[0] for key, value in out.items()}
        return out

    # ------------------------------------------------------------------ files
    @classmethod
    def from_pretrained(cls, path: str, **kwargs: Any) -> ErnieTokenizer:
        """Load from a directory with ``vocab.txt`` (+ ``tokenizer_config.json``), ours or PaddleNLP's."""
        if os.path.isfile(path):
            return cls(path, **kwargs)
        vocab_file = os.path.join(path, VOCAB_NAME)
        if not os.path.isfile(vocab_file):
            raise TokenizerError(f"{path}: no {VOCAB_NAME} in this directory")
        settings: dict[str, Any] = {}
        config_file = os.path.join(path, TOKENIZER_CONFIG_NAME)
        if os.path.isfile(config_file):
            try:
                with open(config_file, encoding="utf-8") as f:
                    stored = json.load(f)
            except json.JSONDecodeError as exc:
                raise TokenizerError(f"{config_file}: line {exc.lineno}: invalid JSON ({exc.msg})") from None
            for key in (
                "do_lower_case",
                "unk_token",
                "sep_token",
                "pad_token",
                "cls_token",
                "mask_token",
                "model_max_length",
            ):
                if key in stored and stored[key] is not None:
                    value = stored[key]
                    if isinstance(value, dict) and "content" in value:  # AddedToken form
                        value = value["content"]
                    settings[key] = value
        settings.update(kwargs)
        return cls(vocab_file, **settings)

    def save_pretrained(self, path: str) -> None:
        """Write ``vocab.txt`` (one token per line, as PaddleNLP reads it) and the two JSON files."""
        os.makedirs(path, exist_ok=True)
        # Overridden lines are written back in place: the later line of the same token still wins, so a
        # vocabulary with duplicates keeps its ids in one-token-per-line form (PaddleNLP copies the file).
        entries = [(index, token) for token, index in self.vocab.items()]
        entries += [
            (index, token) for index, token in self._overridden.items() if index not in self.ids_to_tokens
        ]
        entries.sort(key=lambda item: item[0])
        if all(index == k for k, (index, _) in enumerate(entries)):
            lines = [token for _, token in entries]
        else:
            lines = [
                f"{token}\t{index}" for token, index in sorted(self.vocab.items(), key=lambda item: item[1])
            ]
        atomic_write_text(os.path.join(path, VOCAB_NAME), "\n".join(lines) + "\n")
        config = {
            "tokenizer_class": "ErnieTokenizer",
            "do_lower_case": self.do_lower_case,
            "model_max_length": self.model_max_length,
            **self.special_tokens,
        }
        atomic_write_text(
            os.path.join(path, TOKENIZER_CONFIG_NAME), json.dumps(config, indent=2, ensure_ascii=False) + "\n"
        )
        atomic_write_text(
            os.path.join(path, SPECIAL_TOKENS_MAP_NAME),
            json.dumps(self.special_tokens, indent=2, ensure_ascii=False) + "\n",
        )
