"""Encoded text -> model inputs: special tokens, truncation, padding, the optional fields, tensors.

``ErnieTokenizer.__call__`` (and ``prepare_for_model``) encode the texts and hand the ids and offsets
here; the options and their defaults are PaddleNLP's (``ErnieTokenizer.__call__`` lists them). Pure
Python: numpy and paddle are imported only for ``return_tensors``.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any, Optional, Union

logger = logging.getLogger("ernie")

# PaddleNLP arguments this tokenizer does not implement: refused unless at their default, so that a
# request for them is not silently ignored.
UNSUPPORTED_OPTIONS = {
    "is_split_into_words": False,
    "stride": 0,
    "return_overflowing_tokens": False,
    "return_dict": True,
    "truncation_strategy": "do_not_truncate",
}


def _check_unknown_options(unknown: dict[str, Any]) -> None:
    for name, default in UNSUPPORTED_OPTIONS.items():
        if name in unknown and unknown[name] != default:
            raise ValueError(f"{name}={unknown[name]!r} is not supported by this tokenizer")
    ignored = sorted(set(unknown) - set(UNSUPPORTED_OPTIONS))
    if ignored:
        # PaddleNLP ignores unknown keywords silently (its own test passes "runcation"); HF warns, as we do.
        logger.warning("ErnieTokenizer: unknown keyword argument(s) ignored: %s", ", ".join(ignored))


def _truncation_strategy(
    truncation: Union[bool, str, None], max_length: Optional[int], padding: Union[bool, str, None]
) -> Optional[str]:
    if truncation is None:
        # max_length alone truncates (PaddleNLP and HF); with padding it is only the padded length.
        return "longest_first" if max_length is not None and not padding else None
    if truncation is False or truncation == "do_not_truncate":
        return None
    if truncation is True:
        return "longest_first"
    if truncation in ("longest_first", "only_first", "only_second"):
        return truncation
    raise ValueError(f"unknown truncation strategy {truncation!r}")


def _to_tensors(out: dict[str, Any], kind: str, batched: bool) -> dict[str, Any]:
    """int64 numpy arrays or paddle tensors; a single example gets a batch axis (PaddleNLP and HF)."""
    import numpy as np

    arrays = {}
    for key, value in out.items():
        try:
            arrays[key] = np.asarray(value if batched else [value], dtype=np.int64)
        except ValueError:
            raise ValueError(
                f"return_tensors: the rows of {key!r} differ in length; use padding=True (and truncation=True)"
            ) from None
    if kind == "np":
        return arrays
    # Through importlib: data_tools imports this module and must stay free of paddle (pyproject.toml's
    # import contracts, which would count a plain import statement even inside this function).
    paddle = importlib.import_module("paddle")
    return {key: paddle.to_tensor(array) for key, array in arrays.items()}


def truncate_pair(len_a: int, len_b: Optional[int], budget: int, strategy: str) -> tuple[int, Optional[int]]:
    """New lengths after removing tokens until ``len_a + len_b <= budget``.

    ``longest_first`` removes one token at a time from the longer side, from the second on ties
    (PaddleNLP's loop, in closed form); ``only_first`` / ``only_second`` cut one side and leave
    the input unchanged if that side is too short or missing (PaddleNLP and HF do the same).
    """
    excess = len_a + (len_b or 0) - budget
    if excess <= 0 or (strategy == "only_second" and len_b is None):
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


def model_inputs(
    tokenizer: Any,
    ids_a: list[list[int]],
    offsets_a: list[list],
    ids_b: Optional[list[list[int]]],
    offsets_b: Optional[list[list]],
    batched: bool,
    max_length: Optional[int] = None,
    truncation: Union[bool, str, None] = None,
    padding: Union[bool, str, None] = False,
    pad_to_max_seq_len: bool = False,
    pad_to_multiple_of: Optional[int] = None,
    add_special_tokens: bool = True,
    return_token_type_ids: Optional[bool] = None,
    return_attention_mask: Optional[bool] = None,
    return_position_ids: Optional[bool] = None,
    return_offsets_mapping: bool = False,
    return_special_tokens_mask: bool = False,
    return_length: bool = False,
    return_tensors: Optional[str] = None,
    verbose: bool = True,
    **unknown: Any,
) -> dict[str, Any]:
    _check_unknown_options(unknown)
    if return_tensors not in (None, "np", "pd"):
        raise ValueError(f"return_tensors={return_tensors!r}: use 'np' (numpy) or 'pd' (paddle)")
    strategy = _truncation_strategy(truncation, max_length, padding)
    if not padding and pad_to_max_seq_len:
        padding = "max_length" if max_length is not None else "longest"
    if padding is True:
        padding = "longest"
    elif padding in (False, None, "do_not_pad"):
        padding = None
    elif padding not in ("longest", "max_length"):
        raise ValueError(f"unknown padding strategy {padding!r}")
    if max_length is None and (strategy is not None or padding == "max_length"):
        max_length = tokenizer.model_max_length
    if strategy and padding and pad_to_multiple_of and max_length % pad_to_multiple_of:
        raise ValueError(
            f"truncation length ({max_length}) is not a multiple of pad_to_multiple_of ({pad_to_multiple_of})"
        )

    wanted = {
        "token_type_ids": return_token_type_ids is not False,
        "attention_mask": bool(return_attention_mask),
        "position_ids": bool(return_position_ids),
        "offset_mapping": return_offsets_mapping,
        "special_tokens_mask": return_special_tokens_mask,
    }
    keys = (
        ["input_ids"]
        + [key for key, want in wanted.items() if want]
        + (["length", "seq_len"] if return_length else [])  # seq_len: PaddleNLP's second name for it
    )
    rows = []
    for k in range(len(ids_a)):
        a, oa = ids_a[k], offsets_a[k]
        b, ob = (ids_b[k], offsets_b[k]) if ids_b is not None else (None, None)
        if strategy is not None:
            specials = tokenizer.num_special_tokens_to_add(b is not None) if add_special_tokens else 0
            la, lb = truncate_pair(len(a), None if b is None else len(b), max_length - specials, strategy)
            a, oa = _keep(tokenizer, a, la), _keep(tokenizer, oa, la)
            if b is not None:
                b, ob = _keep(tokenizer, b, lb), _keep(tokenizer, ob, lb)
        row = _example_inputs(tokenizer, a, oa, b, ob, add_special_tokens, keys)
        if max_length is None and verbose:
            tokenizer._warn_if_too_long(len(row["input_ids"]))
        rows.append(row)

    if padding is not None and rows:
        target = max(len(row["input_ids"]) for row in rows) if padding == "longest" else max_length
        if pad_to_multiple_of:
            target = -(-target // pad_to_multiple_of) * pad_to_multiple_of
        for row in rows:
            _pad(tokenizer, row, target)
    if return_length and not batched:
        # A single text's length counts its padding, a batch's does not: PaddleNLP's and HF's quirk.
        rows[0]["length"] = rows[0]["seq_len"] = len(rows[0]["input_ids"])
    out = {key: [row[key] for row in rows] for key in keys}
    if not batched:
        out = {key: value[0] for key, value in out.items()}
    return _to_tensors(out, return_tensors, batched) if return_tensors else out


def _keep(tokenizer: Any, items: list, n: int) -> list:
    """``n`` of the items: the first ones, or the last ones when truncating on the left."""
    return items[len(items) - n :] if tokenizer.truncation_side == "left" else items[:n]


def _example_inputs(
    tokenizer: Any,
    a: list[int],
    oa: list,
    b: Optional[list[int]],
    ob: Optional[list],
    add_special_tokens: bool,
    keys: list[str],
) -> dict[str, Any]:
    """The model inputs named in ``keys`` of one example, before padding."""
    pair = b is not None
    if add_special_tokens:
        input_ids = tokenizer.build_inputs_with_special_tokens(a, b)
    else:
        input_ids = list(a) + (list(b) if pair else [])
    n = len(input_ids)
    row: dict[str, Any] = {"input_ids": input_ids}
    if "token_type_ids" in keys:
        # Without [SEP] there is no second segment (PaddleNLP and HF).
        row["token_type_ids"] = tokenizer.create_token_type_ids(a, b) if add_special_tokens else [0] * n
    if "attention_mask" in keys:
        row["attention_mask"] = [1] * n
    if "position_ids" in keys:
        row["position_ids"] = list(range(n))
    if "special_tokens_mask" in keys:
        special = [1] + [0] * len(a) + [1] + ([0] * len(b) + [1] if pair else [])
        row["special_tokens_mask"] = special if add_special_tokens else [0] * n
    if "offset_mapping" in keys:
        if add_special_tokens:
            offsets = [(0, 0)] + list(oa) + [(0, 0)] + (list(ob) + [(0, 0)] if pair else [])
        else:
            offsets = list(oa) + (list(ob) if pair else [])
        row["offset_mapping"] = [tuple(o) for o in offsets]
    if "length" in keys:
        row["length"] = row["seq_len"] = n
    return row


def _pad(tokenizer: Any, row: dict[str, Any], target: int) -> None:
    missing = target - len(row["input_ids"])
    if missing <= 0:
        return
    values = {
        "input_ids": tokenizer.pad_token_id,
        "token_type_ids": tokenizer.pad_token_type_id,
        "attention_mask": 0,
        "position_ids": 0,
        "offset_mapping": (0, 0),
        "special_tokens_mask": 1,
    }
    for key, value in values.items():
        if key in row:
            padding = [value] * missing
            row[key] = row[key] + padding if tokenizer.padding_side == "right" else padding + row[key]
