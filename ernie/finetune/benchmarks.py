"""The benchmark tasks: what each file looks like, what its labels are, how it is scored and submitted.

A ``BenchmarkSpec`` is data, not code: the reader, metric and submission writer look the task up here.
Label lists are the benchmark's own label strings in the order of the official ERNIE label ids
(``label_map.json`` of the ERNIE task data, the MNLI/QNLI/RTE conversion scripts), so a checkpoint
fine-tuned here and one fine-tuned with the official scripts agree on what class 0 means.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..errors import ConfigError

# Kinds of task, each with its own head, features and metrics.
CLASSIFICATION = "classification"
REGRESSION = "regression"
NER = "ner"
MRC = "mrc"

# Reader formats.
TSV = "tsv"  # tab-separated, QUOTE_NONE; a header names the columns, or a per-task headerless layout
CLUE_JSON = "clue_json"  # one JSON object per line (CLUE, FewCLUE)
NER_TSV = "ner_tsv"  # ``text_a<TAB>label`` with units joined by \x02 (ERNIE) or spaces (UER/CLUE copies)
SQUAD_JSON = "squad_json"  # SQuAD v1 (CMRC2018, DRCD)


@dataclass(frozen=True)
class BenchmarkSpec:
    name: str
    suite: str  # glue | chinese | clue
    kind: str
    format: str
    labels: tuple = ()  # label strings, index = label id
    label_aliases: dict = field(default_factory=dict)  # other spellings found in the files -> label
    no_gold_labels: tuple = ()  # label values that mean "annotators did not agree": skipped, counted
    # TSV: column names per role (first match wins) and the layouts of headerless files by column count.
    columns: dict = field(default_factory=dict)
    headerless: dict = field(default_factory=dict)
    # CLUE JSON: role -> key; a list value is joined with spaces (CSL keywords).
    json_fields: dict = field(default_factory=dict)
    metrics: str = "acc"  # acc | acc_f1 | mcc | corr | mrr_f1 | ner | mrc
    selection_metric: str = "acc"
    # Test predictions: "glue" (index<TAB>prediction TSV), "clue" (JSON lines id/label), "squad" ({qid: answer}).
    submission: Optional[str] = None
    submission_files: dict = field(default_factory=dict)  # test split name -> file name
    pair: bool = False

    @property
    def num_labels(self) -> int:
        return 1 if self.kind == REGRESSION else len(self.labels)

    def label_id(self, value: str) -> Optional[int]:
        value = self.label_aliases.get(value, value)
        try:
            return self.labels.index(value)
        except ValueError:
            return None


_GLUE_INDEX = ("index",)
_NLI3 = (
    "contradiction",
    "neutral",
    "entailment",
)  # ERNIE's MNLI conversion: contradiction 0, neutral 1, entailment 2
_QNLI = ("not_entailment", "entailment")  # ERNIE's QNLI/RTE conversion: entailment 1, not_entailment 0
_BINARY = ("0", "1")
_XNLI = ("contradiction", "entailment", "neutral")  # ERNIE task_data xnli/label_map.json
_MSRA = ("B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "O")  # ERNIE task_data msra_ner/label_map.json
# TNEWS: 15 classes 100..116 without 105 and 111 (CLUE labels.json / FewCLUE label_index2en2zh.json).
_TNEWS = tuple(str(i) for i in range(100, 117) if i not in (105, 111))
_IFLYTEK = tuple(str(i) for i in range(119))  # 119 app categories, ids 0..118

# Chinese TSVs of the ERNIE task data name their columns text_a/text_b/label (qid for DBQA).
_ERNIE_COLUMNS = {"text_a": ("text_a",), "text_b": ("text_b",), "label": ("label",), "qid": ("qid",)}


def _glue(name: str, **kw) -> BenchmarkSpec:
    return BenchmarkSpec(name=name, suite="glue", format=TSV, submission="glue", **kw)


def _zh(name: str, **kw) -> BenchmarkSpec:
    kw.setdefault("format", TSV)
    kw.setdefault("columns", _ERNIE_COLUMNS)
    return BenchmarkSpec(name=name, suite="chinese", **kw)


def _clue(name: str, **kw) -> BenchmarkSpec:
    return BenchmarkSpec(name=name, suite="clue", format=CLUE_JSON, submission="clue", **kw)


BENCHMARKS: dict[str, BenchmarkSpec] = {
    t.name: t
    for t in [
        # ------------------------------------------------------------------ GLUE (official TSVs)
        _glue(
            "cola",
            kind=CLASSIFICATION,
            labels=_BINARY,
            # train/dev: no header, source / label / original author's mark / sentence; test has a header.
            columns={"text_a": ("sentence",), "label": ("label",), "index": _GLUE_INDEX},
            headerless={4: ("source", "label", "author_label", "text_a")},
            metrics="mcc",
            selection_metric="mcc",
            submission_files={"test": "CoLA.tsv"},
        ),
        _glue(
            "sst2",
            kind=CLASSIFICATION,
            labels=_BINARY,
            columns={"text_a": ("sentence",), "label": ("label",), "index": _GLUE_INDEX},
            submission_files={"test": "SST-2.tsv"},
        ),
        _glue(
            "mrpc",
            kind=CLASSIFICATION,
            labels=_BINARY,
            pair=True,
            columns={
                "text_a": ("#1 String",),
                "text_b": ("#2 String",),
                "label": ("Quality",),
                "index": _GLUE_INDEX,
            },
            metrics="acc_f1",
            selection_metric="acc_and_f1",
            submission_files={"test": "MRPC.tsv"},
        ),
        _glue(
            "stsb",
            kind=REGRESSION,
            pair=True,
            columns={
                "text_a": ("sentence1",),
                "text_b": ("sentence2",),
                "label": ("score",),
                "index": _GLUE_INDEX,
            },
            metrics="corr",
            selection_metric="corr",
            submission_files={"test": "STS-B.tsv"},
        ),
        _glue(
            "qqp",
            kind=CLASSIFICATION,
            labels=_BINARY,
            pair=True,
            columns={
                "text_a": ("question1",),
                "text_b": ("question2",),
                "label": ("is_duplicate",),
                "index": ("id",),
            },
            metrics="acc_f1",
            selection_metric="acc_and_f1",
            submission_files={"test": "QQP.tsv"},
        ),
        _glue(
            "mnli",
            kind=CLASSIFICATION,
            labels=_NLI3,
            pair=True,
            no_gold_labels=("-",),
            columns={
                "text_a": ("sentence1",),
                "text_b": ("sentence2",),
                "label": ("gold_label",),
                "index": _GLUE_INDEX,
            },
            # The MNLI model also predicts the diagnostic set (AX).
            submission_files={"matched": "MNLI-m.tsv", "mismatched": "MNLI-mm.tsv", "ax": "AX.tsv"},
        ),
        _glue(
            "qnli",
            kind=CLASSIFICATION,
            labels=_QNLI,
            pair=True,
            columns={
                "text_a": ("question",),
                "text_b": ("sentence",),
                "label": ("label",),
                "index": _GLUE_INDEX,
            },
            submission_files={"test": "QNLI.tsv"},
        ),
        _glue(
            "rte",
            kind=CLASSIFICATION,
            labels=_QNLI,
            pair=True,
            columns={
                "text_a": ("sentence1",),
                "text_b": ("sentence2",),
                "label": ("label",),
                "index": _GLUE_INDEX,
            },
            submission_files={"test": "RTE.tsv"},
        ),
        _glue(
            "wnli",
            kind=CLASSIFICATION,
            labels=_BINARY,
            pair=True,
            columns={
                "text_a": ("sentence1",),
                "text_b": ("sentence2",),
                "label": ("label",),
                "index": _GLUE_INDEX,
            },
            submission_files={"test": "WNLI.tsv"},
        ),
        # ------------------------------------------------------------------ Chinese (ERNIE task data)
        _zh(
            "xnli",
            kind=CLASSIFICATION,
            labels=_XNLI,
            label_aliases={"contradictory": "contradiction"},
            no_gold_labels=("-",),
            pair=True,
            columns={
                "text_a": ("text_a", "sentence1", "premise"),
                "text_b": ("text_b", "sentence2", "hypothesis", "hypo"),  # hypo: XNLI-MT
                "label": ("label", "gold_label"),
            },
            headerless={3: ("text_a", "text_b", "label"), 2: ("text_a", "text_b")},
        ),
        _zh(
            "lcqmc",
            kind=CLASSIFICATION,
            labels=_BINARY,
            pair=True,
            headerless={3: ("text_a", "text_b", "label"), 2: ("text_a", "text_b")},
        ),
        _zh(
            "bq",
            kind=CLASSIFICATION,
            labels=_BINARY,
            pair=True,
            headerless={3: ("text_a", "text_b", "label"), 2: ("text_a", "text_b")},
        ),
        _zh(
            "chnsenticorp",
            kind=CLASSIFICATION,
            labels=_BINARY,
            # The ERNIE files have a header (label<TAB>text_a, or qid first); ERNIE-kit's have none.
            headerless={2: ("text_a", "label"), 1: ("text_a",)},
        ),
        _zh(
            "nlpcc_dbqa",
            kind=CLASSIFICATION,
            labels=_BINARY,
            pair=True,
            # ERNIE: header qid/text_a/text_b/label. The NLPCC 2016 release: question<TAB>sentence<TAB>label
            # without header; its questions are grouped by consecutive identical question text.
            headerless={3: ("text_a", "text_b", "label"), 2: ("text_a", "text_b")},
            metrics="mrr_f1",
            selection_metric="mrr",
        ),
        _zh(
            "msra_ner",
            kind=NER,
            format=NER_TSV,
            labels=_MSRA,
            columns={"text_a": ("text_a",), "label": ("label",)},
            headerless={2: ("text_a", "label"), 1: ("text_a",)},
            metrics="ner",
            selection_metric="f1",
        ),
        _zh(
            "cmrc2018", kind=MRC, format=SQUAD_JSON, metrics="mrc", selection_metric="f1", submission="squad"
        ),
        _zh("drcd", kind=MRC, format=SQUAD_JSON, metrics="mrc", selection_metric="f1", submission="squad"),
        # ------------------------------------------------------------------ CLUE classification (JSON lines)
        _clue(
            "afqmc",
            kind=CLASSIFICATION,
            labels=_BINARY,
            pair=True,
            json_fields={"text_a": "sentence1", "text_b": "sentence2", "label": "label", "index": "id"},
            submission_files={"test": "afqmc_predict.json"},
        ),
        _clue(
            "tnews",
            kind=CLASSIFICATION,
            labels=_TNEWS,
            json_fields={"text_a": "sentence", "label": "label", "index": "id"},
            submission_files={"test": "tnews11_predict.json"},
        ),
        _clue(
            "iflytek",
            kind=CLASSIFICATION,
            labels=_IFLYTEK,
            json_fields={"text_a": "sentence", "label": "label", "index": "id"},
            submission_files={"test": "iflytek_predict.json"},
        ),
        _clue(
            "cmnli",
            kind=CLASSIFICATION,
            labels=_XNLI,
            no_gold_labels=("-",),
            pair=True,
            json_fields={"text_a": "sentence1", "text_b": "sentence2", "label": "label", "index": "id"},
            submission_files={"test": "cmnli_predict.json"},
        ),
        _clue(
            "ocnli",
            kind=CLASSIFICATION,
            labels=_XNLI,
            no_gold_labels=("-",),
            pair=True,
            json_fields={"text_a": "sentence1", "text_b": "sentence2", "label": "label", "index": "id"},
            submission_files={"test": "ocnli_50k_predict.json"},
        ),
        _clue(
            "csl",
            kind=CLASSIFICATION,
            labels=_BINARY,
            pair=True,
            # As the CLUE baseline: the keywords joined by spaces, then the abstract.
            json_fields={"text_a": "keyword", "text_b": "abst", "label": "label", "index": "id"},
            submission_files={"test": "csl_predict.json"},
        ),
    ]
}


def get_benchmark(name: str) -> BenchmarkSpec:
    key = str(name).lower().replace("-", "").replace(" ", "")
    key = {
        "sst": "sst2",
        "stsb": "stsb",
        "nlpccdbqa": "nlpcc_dbqa",
        "dbqa": "nlpcc_dbqa",
        "msraner": "msra_ner",
    }.get(key, key)
    if key not in BENCHMARKS:
        raise ConfigError(f"key 'task': unknown task {name!r}; known: {', '.join(sorted(BENCHMARKS))}")
    return BENCHMARKS[key]
