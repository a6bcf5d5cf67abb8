"""A WordPiece vocabulary from a corpus: for the bundled demo, and for users without a released vocab.

The vocabulary is what ``ErnieTokenizer`` needs so that every character of the corpus has an id:

* the special tokens first, ``[PAD]`` at 0 (the model's ``pad_token_id``), as in the official files;
* every character the BasicTokenizer leaves (CJK characters come out one by one), and for each
  non-CJK character its ``##`` continuation, so WordPiece can spell any word of the corpus;
* then whole words by frequency (ties by first sighting), until ``max_size``.

Words not in the vocabulary are therefore split into characters, never mapped to ``[UNK]``. This is a
frequency vocabulary, not a trained WordPiece merge table: enough for demos and small corpora;
for real pre-training use the released ERNIE vocabularies.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Iterable

from ernie.errors import UsageError
from ernie.wordpiece import BasicTokenizer, is_chinese_char

SPECIAL_TOKENS = ("[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]")


def _text_lines(path: str) -> Iterable[str]:
    """Lines of a text corpus; for a TSV (IR logs) every column but the last (the label)."""
    tsv = path.endswith(".tsv")
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                raise UsageError(f"{path}:{number}: invalid UTF-8") from None
            yield from (line.split("\t")[:-1] if tsv else [line])


def build_vocab(files: Iterable[str], max_size: int = 8000, do_lower_case: bool = True) -> list[str]:
    """The tokens of a vocabulary for ``files`` (see the module docstring), in id order."""
    basic = BasicTokenizer(do_lower_case=do_lower_case)
    words: Counter = Counter()
    for path in files:
        for line in _text_lines(path):
            words.update(basic.tokenize(line))
    chars = sorted({char for word in words for char in word})
    tokens = list(SPECIAL_TOKENS) + chars
    tokens += [f"##{c}" for c in chars if not is_chinese_char(ord(c))]
    if len(tokens) > max_size:
        raise UsageError(
            f"--max-size {max_size} {max_size} is smaller than the {len(tokens)} characters and special tokens"
        )
    seen = set(tokens)
    for word, _ in words.most_common():  # most_common keeps first-sighting order among equal counts
        if len(tokens) >= max_size:
            break
        if word not in seen:
            tokens.append(word)
            seen.add(word)
    return tokens


def write_vocab(tokens: list[str], path: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("".join(f"{token}\n" for token in tokens))
    os.replace(tmp, path)
