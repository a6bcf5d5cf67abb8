"""Hand-worked examples for every label kind, sentence splitting, and the word-by-word token ids.

Expected values are worked out by hand from the rules in ``data_tools/units.py`` and
``data_tools/process.py`` (each test states the premise it relies on, e.g. jieba's segmentation).
"""

from __future__ import annotations

import os

import jieba
import numpy as np
import pytest

from data_tools import units
from data_tools.process import Chunk, Processor, Settings
from data_tools.shards import IGNORE
from data_tools.text import split_sentences

ALL_EN = (
    "knowledge_masking",
    "capitalization",
    "token_document",
    "sentence_reordering",
    "discourse_relation",
)
ALL_ZH = ("knowledge_masking", "token_document", "sentence_reordering", "discourse_relation")


@pytest.fixture(scope="module")
def en_tok(shared_data):
    from ernie.tokenizer import ErnieTokenizer

    return ErnieTokenizer(os.path.join(shared_data, "ernie_official", "vocab_en.txt"))


@pytest.fixture(scope="module")
def zh_tok(shared_data):
    from ernie.tokenizer import ErnieTokenizer

    return ErnieTokenizer(os.path.join(shared_data, "ernie_official", "vocab_zh.txt"))


def run(tok, lang, documents, tasks):
    """Process documents (lists of sentences) as one chunk of the 'lines' format."""
    texts = [s for doc in documents for s in doc]
    chunk = Chunk("lines", "test.txt", texts, list(range(1, len(texts) + 1)), [len(d) for d in documents])
    return Processor(tok, Settings(lang, tasks)).process(chunk)


def sentence_fields(result, k):
    """ids and fields of sentence k of a result."""
    corpus = result.corpus
    bounds = np.concatenate([[0], np.cumsum(corpus["lengths"])])
    a, b = bounds[k], bounds[k + 1]
    return corpus["ids"][a:b], {name: values[a:b].tolist() for name, values in corpus["fields"].items()}


# ---------------------------------------------------------------------------------------------- Chinese units
def test_zh_word_phrase_entity_boundaries(zh_tok):
    sentence = "林黛玉在北京大学学习红楼梦的故事。"
    # Premise: jieba's words and dictionary tags (nr, p, nt, v, nz, uj, n).
    assert list(jieba.cut(sentence)) == ["林黛玉", "在", "北京大学", "学习", "红楼梦", "的", "故事", "。"]
    result = run(zh_tok, "zh", [[sentence]], ("knowledge_masking",))
    ids, fields = sentence_fields(result, 0)
    assert zh_tok.convert_ids_to_tokens(ids.tolist()) == list("林黛玉在北京大学学习红楼梦的故事。")
    #            林 黛 玉 在 北 京 大 学 学 习 红 楼 梦 的 故 事 。
    word = [1, 2, 2, 1, 1, 2, 2, 2, 1, 2, 1, 2, 2, 1, 1, 2, 1]
    # Entities: 林黛玉 (nr), 北京大学 (nt), 红楼梦 (nz); 学习 (v) separates the last two.
    entity = [1, 2, 2, 0, 1, 2, 2, 2, 0, 0, 1, 2, 2, 0, 0, 0, 0]
    # Phrases: 在 (p) and 的 (uj) are function words, 。 punctuation: runs are [林黛玉] (one word: no
    # phrase), [北京大学 学习 红楼梦] (a phrase), [故事] (one word).
    phrase = [0, 0, 0, 0, 1, 2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0]
    assert fields == {"word": word, "phrase": phrase, "entity": entity}


def test_zh_token_document_and_discourse(zh_tok):
    doc = ["苏州的园林很美。", "但是园林的门票很贵。", "但愿明天是晴天。"]
    result = run(zh_tok, "zh", [doc], ("token_document", "discourse_relation"))
    _, fields = sentence_fields(result, 1)
    # 但是 (stop word) ignored; 园林 also in sentence 0 -> 1; 的, 很 stop; 门票, 贵 only here -> 0; 。 ignored.
    #                     但      是      园 林 的      门 票 很      贵 。
    assert fields["tdr"] == [IGNORE, IGNORE, 1, 1, IGNORE, 0, 0, IGNORE, 0, IGNORE]
    pairs = result.pairs["discourse_relation"]
    # One pair: sentence 2 opens with 但愿, a jieba word, so the marker 但 does not end on a word boundary.
    assert pairs["labels"].tolist() == [0]  # contrast
    first, second = np.split(pairs["ids"], [pairs["lengths"][0]])
    assert "".join(zh_tok.convert_ids_to_tokens(first.tolist())) == "苏州的园林很美。"
    assert "".join(zh_tok.convert_ids_to_tokens(second.tolist())) == "园林的门票很贵。"


# ---------------------------------------------------------------------------------------------- English units
def test_en_capitalised_entities_and_capitalization(en_tok):
    sentence = "Yesterday the Bank of England met NASA engineers in New York."
    result = run(en_tok, "en", [[sentence]], ("knowledge_masking", "capitalization"))
    ids, fields = sentence_fields(result, 0)
    tokens = en_tok.convert_ids_to_tokens(ids.tolist())
    assert tokens == "yesterday the bank of england met nasa engineers in new york .".split()
    # "Yesterday" is a single capitalised word opening the sentence: capitalised by convention, not an entity.
    assert fields["entity"] == [0, 0, 1, 2, 2, 0, 1, 0, 0, 1, 2, 0]
    assert fields["cap"] == [1, 0, 1, 0, 1, 0, 1, 0, 0, 1, 1, IGNORE]
    assert fields["word"] == [1] * 12


def test_en_sentence_initial_word_needs_a_second_sighting(en_tok):
    # "Paris" opens sentence 0 (conventional capital) but is capitalised mid-sentence in sentence 1,
    # so both are entities; "Cats" opens its sentence and never appears elsewhere: not an entity.
    docs = [["Paris is large.", "We love Paris."], ["Cats sleep.", "Dogs bark loudly."]]
    result = run(en_tok, "en", docs, ("knowledge_masking",))
    entities = [sentence_fields(result, k)[1]["entity"] for k in range(4)]
    assert entities == [[1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0], [0, 0, 0, 0]]


def test_en_titles_initials_and_quotes(en_tok):
    result = run(
        en_tok, "en", [['She said: "Come with Mr. Darcy and J. K. Rowling."']], ("knowledge_masking",)
    )
    ids, fields = sentence_fields(result, 0)
    tokens = en_tok.convert_ids_to_tokens(ids.tolist())
    assert tokens == 'she said : " come with mr . darcy and j . k . row ##ling . "'.split()
    # "Come" follows an opening quote (conventional capital, single word): not an entity.
    assert fields["entity"] == [0, 0, 0, 0, 0, 0, 1, 2, 2, 0, 1, 2, 2, 2, 2, 2, 0, 0]


def test_en_phrases_are_stop_word_delimited_runs_of_at_most_four_words(en_tok):
    # Content words: quick brown fox jumps (4: one phrase) | lazy dog (2) | old green wooden garden fence (5: 3 + 2).
    sentence = "The quick brown fox jumps over the lazy dog by the old green wooden garden fence."
    result = run(en_tok, "en", [[sentence]], ("knowledge_masking",))
    ids, fields = sentence_fields(result, 0)
    assert len(ids) == 17 and fields["word"] == [1] * 17
    #                  the quick brown fox jumps over the lazy dog by the old green wooden garden fence .
    assert fields["phrase"] == [0, 1, 2, 2, 2, 0, 0, 1, 2, 0, 0, 1, 2, 2, 1, 2, 0]


def test_en_token_document_relation(en_tok):
    doc = ["The cat sat on the mat.", "A dog chased the cat."]
    result = run(en_tok, "en", [doc], ("token_document",))
    assert sentence_fields(result, 0)[1]["tdr"] == [IGNORE, 1, 0, IGNORE, IGNORE, 0, IGNORE]
    assert sentence_fields(result, 1)[1]["tdr"] == [IGNORE, 0, 0, IGNORE, 1, IGNORE]


def test_en_word_pieces_share_their_word(en_tok):
    result = run(en_tok, "en", [["Rowling hurried."]], ("knowledge_masking", "capitalization"))
    ids, fields = sentence_fields(result, 0)
    tokens = en_tok.convert_ids_to_tokens(ids.tolist())
    pieces = len(en_tok.tokenize("Rowling"))
    assert pieces > 1 and all(t.startswith("##") for t in tokens[1:pieces])
    assert fields["word"][:pieces] == [1] + [2] * (pieces - 1)
    assert fields["cap"][:pieces] == [1] * pieces


def test_en_discourse_pairs(en_tok):
    doc = ["It rained all day.", "However, we went out.", "For example, Anna swam.", "Some people stayed."]
    result = run(en_tok, "en", [doc, ["But nothing came before this one."]], ("discourse_relation",))
    pairs = result.pairs["discourse_relation"]
    assert pairs["labels"].tolist() == [
        0,
        3,
    ]  # contrast, example; "Some" is not "so"; a document opener has no pair
    parts = np.split(pairs["ids"], np.cumsum(pairs["lengths"])[:-1])
    decoded = [en_tok.decode(p.tolist(), clean_up_tokenization_spaces=False) for p in parts]
    assert decoded == ["it rained all day .", "we went out .", "however , we went out .", "anna swam ."]
    assert result.notes["marker sentences opening a document (no pair)"] == 1


def test_en_discourse_pairs_within_sentences(en_tok):
    doc = [
        "It rained all day, but we went out.",
        "We were wet; however, nobody minded it, so we stayed.",
        "He left, though.",
        "Then, because it was late, we slept.",
    ]
    chunk = Chunk("lines", "t.txt", doc, [1, 2, 3, 4], [4])
    result = Processor(
        en_tok, Settings("en", ("discourse_relation",), discourse_within_sentences=True)
    ).process(chunk)
    pairs = result.pairs["discourse_relation"]
    parts = np.split(pairs["ids"], np.cumsum(pairs["lengths"])[:-1])
    decoded = [en_tok.decode(p.tolist(), clean_up_tokenization_spaces=False) for p in parts]
    # Sentence 3 opens with "Then": a pair with sentence 2 (temporal). Inside sentences: the first
    # separator followed by a marker only ("so" after the second comma of sentence 1 is not taken);
    # "though" with only "." after it gives nothing; "Then ," is no clause before "because".
    assert pairs["labels"].tolist() == [5, 0, 0]  # temporal, contrast, contrast
    assert decoded == [
        "he left , though .",
        "because it was late , we slept .",
        "it rained all day",
        "we went out .",
        "we were wet",
        "nobody minded it , so we stayed .",
    ]
    assert result.notes["discourse pairs within a sentence"] == 2
    assert result.notes["clause markers with nothing after the marker"] == 1
    # Off by default: the sentence-initial pair only.
    plain = Processor(en_tok, Settings("en", ("discourse_relation",))).process(chunk)
    assert plain.pairs["discourse_relation"]["labels"].tolist() == [5]


def test_zh_discourse_pairs_within_sentences(zh_tok):
    sentence = "他很累，但是他还是去了。"
    # Premise: jieba cuts 但是 as one word after the comma.
    assert list(jieba.cut(sentence))[3:5] == ["，", "但是"]
    chunk = Chunk("lines", "t.txt", [sentence], [1], [1])
    result = Processor(
        zh_tok, Settings("zh", ("discourse_relation",), discourse_within_sentences=True)
    ).process(chunk)
    pairs = result.pairs["discourse_relation"]
    first, second = np.split(pairs["ids"], [pairs["lengths"][0]])
    assert pairs["labels"].tolist() == [0]  # contrast
    assert "".join(zh_tok.convert_ids_to_tokens(first.tolist())) == "他很累"
    assert "".join(zh_tok.convert_ids_to_tokens(second.tolist())) == "他还是去了。"


def test_phrase_ids_split_long_runs_evenly():
    content = np.array([True] * 9 + [False] + [True] * 5 + [False, True])
    sentence = np.zeros(len(content), dtype=np.int64)
    phrases = units.phrase_ids(content, sentence).tolist()
    groups = [phrases[0:9], phrases[10:15]]
    assert [len(set(g)) for g in groups] == [3, 2]
    assert [sorted(np.unique(g, return_counts=True)[1].tolist()) for g in groups] == [[3, 3, 3], [2, 3]]
    assert phrases[9] == -1 and phrases[16] == -1  # a delimiter; a single content word


# ---------------------------------------------------------------------------------------------- sentence splitting
def test_split_sentences_en():
    text = 'Mr. Smith met Dr. J. K. Rowling at 5 p.m. on Monday. "Is it true?" she asked! Yes... 3 more.'
    assert split_sentences(text, "en") == [
        "Mr. Smith met Dr. J. K. Rowling at 5 p.m. on Monday.",
        '"Is it true?" she asked!',
        "Yes...",
        "3 more.",
    ]


def test_split_sentences_zh():
    text = "“你好！”他说。价格是3.5元……我们走吧？好\n第二行"
    assert split_sentences(text, "zh") == [
        "“你好！”",
        "他说。",
        "价格是3.5元……",
        "我们走吧？",
        "好",
        "第二行",
    ]


# ---------------------------------------------------------------------------------------------- token ids
@pytest.mark.parametrize(
    "lang,text",
    [
        ("zh", "XA股票涨了"),  # jieba cuts X|A股: the tokenizer keeps "xa" whole -> exact path
        ("zh", "他买了café和カタカナ的书"),
        ("zh", "这里有[MASK]和\x01控制符Ab\u0301c"),
        ("zh", "兀\uf900丽\U00020000字"),
        ("en", "Café crème and naïve Ünïcödé"),
        ("en", "e\u0301t\u00e9 and [MASK] tokens and a\x01b"),
        ("en", "Emoji 😀 and 中文 text, x²y and under_score"),
    ],
)
def test_ids_equal_the_tokenizer(lang, text, en_tok, zh_tok):
    tok = zh_tok if lang == "zh" else en_tok
    result = run(tok, lang, [[text]], ("sentence_reordering",))
    assert result.corpus["ids"].tolist() == tok.encode_texts([text])[0]
