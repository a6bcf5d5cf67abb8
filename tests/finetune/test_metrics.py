"""Fine-tuning metrics against scikit-learn, scipy, seqeval and hand-worked cases."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from ernie.finetune import metrics as M

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

sklearn_metrics = pytest.importorskip("sklearn.metrics")
scipy_stats = pytest.importorskip("scipy.stats")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_classification_metrics_equal_sklearn(seed):
    rng = np.random.RandomState(seed)
    labels = rng.randint(0, 2, size=200)
    preds = np.where(rng.rand(200) < 0.7, labels, 1 - labels)
    assert M.accuracy(preds, labels) == pytest.approx(
        sklearn_metrics.accuracy_score(labels, preds), abs=1e-12
    )
    assert M.binary_f1(preds, labels) == pytest.approx(sklearn_metrics.f1_score(labels, preds), abs=1e-12)
    assert M.matthews_corrcoef(preds, labels) == pytest.approx(
        sklearn_metrics.matthews_corrcoef(labels, preds), abs=1e-12
    )
    # K classes (MNLI-sized): Matthews' multi-class form.
    labels3 = rng.randint(0, 3, size=300)
    preds3 = np.where(rng.rand(300) < 0.6, labels3, rng.randint(0, 3, size=300))
    assert M.matthews_corrcoef(preds3, labels3) == pytest.approx(
        sklearn_metrics.matthews_corrcoef(labels3, preds3), abs=1e-12
    )


def test_classification_metrics_hand_worked():
    # tp=2 fp=1 fn=1 tn=1: precision 2/3, recall 2/3, F1 2/3; MCC (2*1-1*1)/sqrt(3*3*2*2) = 1/6.
    labels = [1, 1, 1, 0, 0]
    preds = [1, 1, 0, 1, 0]
    assert M.binary_f1(preds, labels) == pytest.approx(2 / 3)
    assert M.matthews_corrcoef(preds, labels) == pytest.approx(1 / 6)
    assert M.accuracy(preds, labels) == pytest.approx(3 / 5)
    # Constant predictions: MCC is 0 by convention (sklearn agrees), F1 of no positives is 0.
    assert M.matthews_corrcoef([0, 0, 0], [0, 1, 0]) == 0.0
    assert M.binary_f1([0, 0], [1, 0]) == 0.0
    metrics = M.classification_metrics("acc_f1", preds, labels)
    assert metrics["acc_and_f1"] == pytest.approx((3 / 5 + 2 / 3) / 2)


@pytest.mark.parametrize("seed", [0, 1])
def test_correlations_equal_scipy(seed):
    rng = np.random.RandomState(seed)
    gold = np.round(rng.rand(150) * 5, 1)  # STS-B-like scores with many ties
    pred = gold + rng.randn(150)
    assert M.pearson(pred, gold) == pytest.approx(scipy_stats.pearsonr(pred, gold)[0], abs=1e-10)
    assert M.spearman(pred, gold) == pytest.approx(scipy_stats.spearmanr(pred, gold)[0], abs=1e-10)
    tied = np.round(pred)
    assert M.spearman(tied, gold) == pytest.approx(scipy_stats.spearmanr(tied, gold)[0], abs=1e-10)
    assert M.pearson([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]) == 0.0  # undefined -> 0, not NaN


def test_mrr_hand_worked():
    # q1: correct at rank 2 (1/2); q2: correct at rank 1 (1); q3: no correct candidate (0); q4: rank 3 (1/3).
    qids = ["q1", "q1", "q1", "q2", "q2", "q3", "q3", "q4", "q4", "q4"]
    scores = [0.9, 0.8, 0.1, 0.7, 0.2, 0.5, 0.4, 0.9, 0.8, 0.7]
    labels = [0, 1, 1, 1, 0, 0, 0, 0, 0, 1]
    assert M.mean_reciprocal_rank(qids, scores, labels) == pytest.approx((0.5 + 1 + 0 + 1 / 3) / 4)
    # Ties keep the file order.
    assert M.mean_reciprocal_rank(["a", "a"], [0.5, 0.5], [0, 1]) == pytest.approx(0.5)


def test_bio_entities_hand_worked():
    tags = ["B-PER", "I-PER", "O", "I-LOC", "I-LOC", "B-ORG", "B-ORG", "I-PER", "O", "B-LOC"]
    assert M.bio_entities(tags) == [
        ("PER", 0, 2),
        ("LOC", 3, 5),  # I- after O starts a chunk (conlleval)
        ("ORG", 5, 6),
        ("ORG", 6, 7),
        ("PER", 7, 8),  # I- of another type starts a new chunk
        ("LOC", 9, 10),
    ]
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "I-ORG", "I-ORG"]]
    pred = [["B-PER", "I-PER", "O", "O"], ["B-ORG", "I-ORG", "O"]]
    # gold 3 entities, predicted 2, one correct (PER 0-2): P 1/2, R 1/3.
    result = M.entity_prf(gold, pred)
    assert result["precision"] == pytest.approx(1 / 2)
    assert result["recall"] == pytest.approx(1 / 3)
    assert result["f1"] == pytest.approx(2 * (1 / 2) * (1 / 3) / (1 / 2 + 1 / 3))


def test_entity_f1_equals_seqeval():
    seqeval = pytest.importorskip("seqeval.metrics")
    rng = np.random.RandomState(3)
    tags = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
    gold = [[tags[i] for i in rng.randint(0, 7, size=rng.randint(1, 30))] for _ in range(80)]
    pred = [[t if rng.rand() < 0.7 else tags[rng.randint(0, 7)] for t in sentence] for sentence in gold]
    ours = M.entity_prf(gold, pred)
    assert ours["f1"] == pytest.approx(seqeval.f1_score(gold, pred), abs=1e-12)
    assert ours["precision"] == pytest.approx(seqeval.precision_score(gold, pred), abs=1e-12)
    assert ours["recall"] == pytest.approx(seqeval.recall_score(gold, pred), abs=1e-12)


# ---------------------------------------------------------------------------------------------- MRC
def test_mrc_segmentation_follows_the_official_rules():
    # Chinese characters one by one; English words and numbers kept whole; lower-cased.
    assert M.mixed_segmentation("我爱Paddle 2.0框架") == ["我", "爱", "paddle", "2.0", "框", "架"]
    # The official punctuation list is split off, and removed with remove_punctuation.
    assert M.mixed_segmentation("《红楼梦》，") == ["《", "红", "楼", "梦", "》", "，"]
    assert M.mixed_segmentation("《红楼梦》，", remove_punctuation=True) == ["红", "楼", "梦"]
    # A removed character does not end an English word: 'ω-force' becomes one segment.
    assert M.mixed_segmentation("光荣和ω-force", remove_punctuation=True) == ["光", "荣", "和", "ωforce"]
    # ASCII punctuation is not in the list: it stays, as separate tokens (nltk.word_tokenize's rules,
    # tested in test_official_tokenize.py).
    assert M.mixed_segmentation("5 km.") == ["5", "km", "."]
    assert M.mixed_segmentation("长46,600m²") == ["长", "46,600m²"]
    # So a prediction that drops the unit shares no segment with the gold answer: F1 0, as officially.
    assert M.mrc_f1(["46,600m²"], "46,600m") == 0.0


def test_mrc_f1_splits_a_period_inside_an_english_run_as_the_official_script_does():
    # nltk.word_tokenize splits the text into sentences first, so the period after 'beatles' is a
    # segment of its own: [the, beatles, ., in] against [the, beatles] -> P 2/4, R 1, F1 2/3.
    # (Without the sentence split, 'beatles.' would be one segment and F1 0.4.)
    assert M.mixed_segmentation("The Beatles. In") == ["the", "beatles", ".", "in"]
    assert M.mrc_f1(["The Beatles"], "The Beatles. In") == pytest.approx(2 / 3)
    # An abbreviation of nltk's English model keeps its period: [u.s., army] against [u.s., army, 的].
    assert M.mrc_f1(["U.S. Army"], "U.S. Army的") == pytest.approx(2 * 1 * (2 / 3) / (1 + 2 / 3))


def test_mrc_metrics_need_neither_nltk_nor_its_data(tmp_path):
    # Whatever is installed, the same segments: the metrics never import nltk, so nothing can be
    # downloaded at run time either (NLTK_DATA points at an empty folder).
    code = (
        "import json, sys\n"
        "from ernie.finetune import metrics as M\n"
        "out = [M.mixed_segmentation('他说The Beatles. In 1962年'), M.mrc_f1(['The Beatles'], 'The Beatles. In')]\n"
        "print(json.dumps([out, 'nltk' in sys.modules]))\n"
    )
    env = dict(os.environ, NLTK_DATA=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, timeout=120
    )
    assert done.returncode == 0, done.stderr
    (segments, f1), nltk_imported = json.loads(done.stdout)
    assert segments == ["他", "说", "the", "beatles", ".", "in", "1962", "年"]
    assert f1 == pytest.approx(2 / 3)
    assert not nltk_imported


def test_mrc_em_and_f1_hand_worked():
    # EM ignores the listed punctuation and case, not spaces or ASCII punctuation.
    assert M.mrc_em(["《红楼梦》"], "红楼梦") == 1.0
    assert M.mrc_em(["Paddle"], "paddle") == 1.0
    assert M.mrc_em(["1862年"], "1862 年") == 0.0
    # F1 over the longest common contiguous run: gold 北京大学 (4), prediction 北京的大学 (5):
    # longest common run 北京 = 2 -> P 2/5, R 2/4, F1 = 2*0.4*0.5/0.9 = 4/9.
    assert M.mrc_f1(["北京大学"], "北京的大学") == pytest.approx(4 / 9)
    # Best over the gold answers.
    assert M.mrc_f1(["上海", "北京大学"], "北京大学") == pytest.approx(1.0)
    assert M.mrc_f1(["北京"], "") == 0.0
    # Mixed: gold 'iphone 6手机' -> [iphone, 6, 手, 机]; prediction 'iphone 6' -> [iphone, 6]: P 1, R 1/2.
    assert M.mrc_f1(["iPhone 6手机"], "iPhone 6") == pytest.approx(2 * 1 * 0.5 / 1.5)
    scores = M.mrc_scores({"a": ["北京"], "b": ["上海"], "c": ["广州"]}, {"a": "北京", "b": "上海市"})
    # a: EM 1, F1 1; b: EM 0, F1 2*(2/3)*1/(5/3) = 0.8; c unanswered counts 0.
    assert scores["em"] == pytest.approx(1 / 3)
    assert scores["f1"] == pytest.approx(1.8 / 3)
    assert scores["avg"] == pytest.approx((1 / 3 + 1.8 / 3) / 2)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_correlations_refuse_a_non_finite_prediction(bad):
    # Before: spearman([nan] * n, y) was 1.0 and pearson 0.0, a score for a model that predicts nothing.
    labels = [0.0, 1.0, 2.5, 4.0]
    for metric in (M.pearson, M.spearman):
        with pytest.raises(ValueError, match="not finite"):
            metric([bad] * 4, labels)
        with pytest.raises(ValueError, match="not finite"):
            metric([0.1, 0.2, bad, 0.4], labels)
