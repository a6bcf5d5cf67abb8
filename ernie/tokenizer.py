"""ErnieTokenizer: BERT/ERNIE BasicTokenizer + WordPiece, ids identical to PaddleNLP's ErnieTokenizer.

Pure Python and numpy-free, so ``data_tools`` can use it on machines without paddle.

Two paths produce the token ids of a text:

* the reference path (``ernie.wordpiece``): PaddleNLP's steps in PaddleNLP's order;
* the fast path (``ernie.fast_wordpiece``), HF ``tokenizers`` (Rust), used for large corpora when it
  is installed, for the texts where it was checked to agree with the reference path.
  ``tests/core/test_tokenizer.py`` checks the two on real corpora.

Offsets are character spans ``(start, end)`` into the original text, ``(0, 0)`` for special tokens.

The API is PaddleNLP's (``tokenizer(...)``, ``encode``, ``batch_encode``, ``prepare_for_model``,
``decode``, ``batch_decode``, ``return_tensors="np" | "pd"``) and held to PaddleNLP 2.8.1's own tokenizer
test assertions (``tests/core/test_tokenizer_api.py``). ``encode`` returns the dict of model inputs as
PaddleNLP's does (HF's returns the list of ids). numpy and paddle are imported only for ``return_tensors``.
"""

from __future__ import annotations

import json
import logging
import os
import re
from typing import Any, Iterable, Optional, Sequence, Union

from .errors import TokenizerError
from .fast_wordpiece import PROBED_LIMIT, fast_backend, fast_path_unsafe_ranges
from .files import atomic_write_text
from .model_inputs import model_inputs, truncate_pair
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

logger = logging.getLogger("ernie")

VOCAB_NAME = "vocab.txt"
TOKENIZER_CONFIG_NAME = "tokenizer_config.json"
SPECIAL_TOKENS_MAP_NAME = "special_tokens_map.json"


# ---------------------------------------------------------------------------------------------- tokenizer
TextInput = Union[str, Sequence[str]]


class ErnieTokenizer:
    """WordPiece tokenizer over an ERNIE vocabulary (``token`` or ``token<TAB>id`` lines).

    ``tokenizer(text, text_pair=None, ...)`` returns ``input_ids`` and ``token_type_ids`` (``[CLS] a
    [SEP]`` type 0, ``b [SEP]`` type 1), and on request ``attention_mask``, ``position_ids``,
    ``offset_mapping``, ``special_tokens_mask`` and ``length``; a list of texts gives lists (see
    ``__call__``). ``padding_side`` and ``truncation_side`` (``"right"`` or ``"left"``) say which end is
    padded or cut, as in PaddleNLP and HF.
    """

    # The inputs the model takes, in PaddleNLP's order (attention_mask only on request, as there).
    model_input_names = ["input_ids", "token_type_ids"]
    pad_token_type_id = 0

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
        tokenize_chinese_chars: bool = True,
        padding_side: str = "right",
        truncation_side: str = "right",
    ):
        if not tokenize_chinese_chars:
            # PaddleNLP ignores the argument; ERNIE vocabularies hold CJK characters one by one.
            raise TokenizerError(
                "tokenize_chinese_chars=False is not supported: CJK characters are tokens of their own"
            )
        for name, side in (("padding_side", padding_side), ("truncation_side", truncation_side)):
            if side not in ("right", "left"):
                raise TokenizerError(f"{name}={side!r}: use 'right' or 'left'")
        self.padding_side, self.truncation_side = padding_side, truncation_side
        self._warned_too_long = False  # the too-long warning is given once per tokenizer, as in PaddleNLP
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

    def get_vocab(self) -> dict[str, int]:
        return dict(self.vocab)

    def convert_ids_to_tokens(self, ids: Union[int, Iterable[int]], skip_special_tokens: bool = False):
        if isinstance(ids, int):
            return self.ids_to_tokens.get(ids, self.unk_token)
        special = set(self.all_special_ids) if skip_special_tokens else set()
        return [self.ids_to_tokens.get(int(i), self.unk_token) for i in ids if int(i) not in special]

    def tokenize(self, text: str) -> list[str]:
        return self.convert_ids_to_tokens(self.encode_texts([text])[0])

    @staticmethod
    def convert_tokens_to_string(tokens: Sequence[str]) -> str:
        """Word pieces joined back (``##`` glued to the previous piece); CJK characters stay spaced."""
        return " ".join(tokens).replace(" ##", "").strip()

    @staticmethod
    def clean_up_tokenization(text: str) -> str:
        """No space before . ? ! , and inside English contractions: PaddleNLP's and HF's clean-up rules."""
        for spaced, joined in (
            (" .", "."),
            (" ?", "?"),
            (" !", "!"),
            (" ,", ","),
            (" ' ", "'"),
            (" n't", "n't"),
            (" 'm", "'m"),
            (" 's", "'s"),
            (" 've", "'ve"),
            (" 're", "'re"),
        ):
            text = text.replace(spaced, joined)
        return text

    def decode(
        self, token_ids: Any, skip_special_tokens: bool = False, clean_up_tokenization_spaces: bool = True
    ) -> str:
        """The text of ``token_ids`` (an id, a list, a numpy array or a paddle tensor).

        The defaults are PaddleNLP's and HF's: special tokens ([UNK] is one) are kept, and the spaces
        that tokenization puts before punctuation are removed (``clean_up_tokenization``).
        """
        if hasattr(token_ids, "tolist"):  # numpy arrays and paddle tensors, without importing either
            token_ids = token_ids.tolist()
        if isinstance(token_ids, int):
            token_ids = [token_ids]
        text = self.convert_tokens_to_string(self.convert_ids_to_tokens(token_ids, skip_special_tokens))
        return self.clean_up_tokenization(text) if clean_up_tokenization_spaces else text

    def batch_decode(
        self, sequences: Any, skip_special_tokens: bool = False, clean_up_tokenization_spaces: bool = True
    ) -> list[str]:
        """``decode`` of each row of ``sequences`` (a list of lists, a 2-D numpy array or paddle tensor)."""
        if hasattr(sequences, "tolist"):
            sequences = sequences.tolist()
        return [self.decode(ids, skip_special_tokens, clean_up_tokenization_spaces) for ids in sequences]

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

    # PaddleNLP's name: ``(len_a, len_b)`` after truncating a pair to a token budget.
    truncate_pair = staticmethod(truncate_pair)

    def __call__(
        self, text: TextInput, text_pair: Optional[TextInput] = None, **options: Any
    ) -> dict[str, Any]:
        """Model inputs of a text, a pair, or lists of them (then every value is a list, one per example).

        ``options`` are PaddleNLP's:

        * ``max_length``; ``truncation``: ``True`` / ``"longest_first"``, ``"only_first"``,
          ``"only_second"``. ``max_length`` alone truncates ``longest_first``; with ``padding`` it only
          sets the padded length (PaddleNLP and HF).
        * ``padding``: ``True`` / ``"longest"``, ``"max_length"``; ``pad_to_max_seq_len`` (PaddleNLP's
          older name) pads to ``max_length`` when it is given; ``pad_to_multiple_of``.
        * ``add_special_tokens`` (default true); ``return_token_type_ids`` (default true),
          ``return_attention_mask``, ``return_position_ids``, ``return_offsets_mapping``,
          ``return_special_tokens_mask``, ``return_length``.
        * ``return_tensors``: ``"np"`` (numpy) or ``"pd"`` (paddle); a single text gets a batch axis.
        * ``verbose``: warn (once) about a sequence longer than ``model_max_length``.

        PaddleNLP's ``is_split_into_words``, ``stride`` and ``return_overflowing_tokens`` are refused;
        other unknown keywords are ignored with a warning.
        """
        batched = not isinstance(text, str)
        texts = [text] if not batched else list(text)
        pairs = None
        if text_pair is not None:
            pairs = [text_pair] if isinstance(text_pair, str) else list(text_pair)
            if batched != (not isinstance(text_pair, str)) or len(pairs) != len(texts):
                raise ValueError("text and text_pair must both be strings or lists of the same length")
        ids_a, offsets_a = self.encode_texts(texts, return_offsets=True)
        ids_b, offsets_b = (
            self.encode_texts(pairs, return_offsets=True) if pairs is not None else (None, None)
        )
        return model_inputs(self, ids_a, offsets_a, ids_b, offsets_b, batched, **options)

    def encode(self, text: str, text_pair: Optional[str] = None, **options: Any) -> dict[str, Any]:
        """The model inputs of one text or pair (``__call__``'s options), a dict as PaddleNLP's ``encode``."""
        if not isinstance(text, str) or not (text_pair is None or isinstance(text_pair, str)):
            raise ValueError("encode takes one text (and one text_pair); use batch_encode for a list")
        return self(text, text_pair, **options)

    def batch_encode(self, batch_text_or_text_pairs: Sequence[Any], **options: Any) -> dict[str, Any]:
        """The model inputs of a list of texts or of ``(text, text_pair)`` pairs (``__call__``'s options)."""
        items = list(batch_text_or_text_pairs)
        if all(isinstance(item, str) for item in items):
            return self(items, **options)
        if all(isinstance(item, (tuple, list)) and len(item) == 2 for item in items):
            return self([a for a, _ in items], [b for _, b in items], **options)
        raise ValueError("batch_encode takes a list of texts or a list of (text, text_pair) pairs")

    def prepare_for_model(
        self, ids: Sequence[int], pair_ids: Optional[Sequence[int]] = None, **options: Any
    ) -> dict[str, Any]:
        """The model inputs of token ids without special tokens, built as ``__call__`` builds them."""
        if options.get("return_offsets_mapping"):
            raise ValueError("prepare_for_model has no text to take offsets from")
        pair = None if pair_ids is None else [list(pair_ids)]
        return model_inputs(self, [list(ids)], [[]], pair, None if pair is None else [[]], False, **options)

    def _warn_if_too_long(self, length: int) -> None:
        if length > self.model_max_length and not self._warned_too_long:
            # PaddleNLP's and HF's wording, which users' log filters may look for.
            logger.warning(
                "Token indices sequence length is longer than the specified maximum sequence length for this "
                "model (%d > %d): truncate it (truncation=True) before the model sees it",
                length,
                self.model_max_length,
            )
            self._warned_too_long = True

    # ------------------------------------------------------------------ files
    @classmethod
    def from_pretrained(cls, path: str, **kwargs: Any) -> ErnieTokenizer:
        """Load from a directory with ``vocab.txt`` (+ ``tokenizer_config.json``), ours or PaddleNLP's."""
        if os.path.isfile(path):
            return cls(path, **kwargs)
        vocab_file = os.path.join(path, VOCAB_NAME)
        if not os.path.isfile(vocab_file):
            hint = (
                " (only tokenizer.json: tools/convert_checkpoint.py --input DIR writes its vocab.txt)"
                if os.path.isfile(os.path.join(path, "tokenizer.json"))
                else ""
            )
            raise TokenizerError(f"{path}: no {VOCAB_NAME} in this directory{hint}")
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
                "padding_side",
                "truncation_side",
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
            "padding_side": self.padding_side,
            "truncation_side": self.truncation_side,
            **self.special_tokens,
        }
        atomic_write_text(
            os.path.join(path, TOKENIZER_CONFIG_NAME), json.dumps(config, indent=2, ensure_ascii=False) + "\n"
        )
        atomic_write_text(
            os.path.join(path, SPECIAL_TOKENS_MAP_NAME),
            json.dumps(self.special_tokens, indent=2, ensure_ascii=False) + "\n",
        )
