"""Bad input text: counted and skipped with its reason in a build, one line naming the file and line
in fine-tuning and prediction, never a traceback."""

from __future__ import annotations

import json
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_a_lone_surrogate_in_jsonl_is_skipped_with_its_line(tmp_path):
    """JSON may escape half a surrogate pair, which no tokenizer takes: counted, not a traceback."""
    from data_tools.build import build_shards

    corpus = tmp_path / "c.jsonl"
    good = json.dumps({"text": "A first sentence here. And a second one follows."})
    corpus.write_text(good + '\n{"text": "broken \\ud800 text. More words here."}\n' + good + "\n")
    vocab = os.path.join(ROOT, "data_tools", "demo_corpus", "vocab_en.txt")
    manifest = build_shards([str(corpus)], vocab, str(tmp_path / "out"), "en", ["sentence_reordering"])
    skipped = manifest["counts"]["skipped"]["invalid JSON"]
    assert skipped["count"] == 1 and skipped["examples"] == [
        f"{corpus}:2 (a lone surrogate escape (invalid Unicode))"
    ]
    assert manifest["tasks"]["sentence_reordering"]["documents"] == 2


def test_a_lone_surrogate_in_fine_tuning_and_prediction_input_names_the_line(tmp_path):
    from ernie.errors import UsageError
    from ernie.finetune.benchmarks import get_benchmark
    from ernie.finetune.readers import read_squad
    from ernie.serving import ServingError, read_examples

    lines = tmp_path / "in.jsonl"
    lines.write_text('{"text_a": "fine"}\n{"text_a": "bad \\udc00"}\n', encoding="utf-8")
    with pytest.raises(ServingError, match=rf"{lines}: line 2: a lone surrogate"):
        read_examples(str(lines), qa=False)
    squad = tmp_path / "dev.json"
    squad.write_text('{"data": [{"title": "\\ud800", "paragraphs": []}]}', encoding="utf-8")
    with pytest.raises(UsageError, match=rf"{squad}: a lone surrogate"):
        read_squad(get_benchmark("cmrc2018"), str(squad))


def test_a_window_too_small_for_the_question_is_a_config_error():
    from ernie.errors import ConfigError
    from ernie.finetune.mrc import build_mrc_features
    from ernie.finetune.readers import MrcExample
    from ernie.tokenizer import ErnieTokenizer

    tokenizer = ErnieTokenizer(os.path.join(ROOT, "data_tools", "demo_corpus", "vocab_en.txt"))
    example = MrcExample(qid="q", question="the the the the the the", context="the name is here", answers=[])
    with pytest.raises(ConfigError, match=r"key 'data.max_seq_len' \(8\) leaves no room .* 6 tokens"):
        build_mrc_features(
            [example], tokenizer, max_seq_len=8, doc_stride=4, max_query_len=16, training=False
        )
