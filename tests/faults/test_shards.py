"""Damaged shards: caught where they are read (ids against the vocabulary, fields against their values,
the index at open) and by ``verify``, with one line naming the file; never a crash or a silent run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from data_tools.inspect import inspect
from data_tools.shards import MANIFEST_NAME, ShardError, open_task, read_manifest, verify, write_manifest
from tests.fixtures.pretrain.toy_shards import build_toy_shards

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return build_toy_shards(str(tmp_path_factory.mktemp("toy")), num_docs=8, num_pairs=12)


@pytest.fixture
def shards(toy, tmp_path):
    """A private copy of the toy shards, free to damage."""
    import shutil

    root, vocab = toy
    copy = str(tmp_path / "shards")
    shutil.copytree(root, copy)
    return copy, vocab


def rehash(root: str) -> None:
    """Make the manifest agree with the (damaged) files: a foreign shard that only reading can catch."""
    manifest = read_manifest(root)
    write_manifest(root, {k: v for k, v in manifest.items() if k not in ("files", "format_version")})


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "data_tools", *args], cwd=ROOT, capture_output=True, text=True
    )


def one_line_error(result: subprocess.CompletedProcess) -> str:
    """The error line; other lines may be warnings, never a traceback."""
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr and lines[-1].startswith("error: "), result.stderr[-2000:]
    assert sum(line.startswith("error: ") for line in lines) == 1
    return lines[-1]


# ---------------------------------------------------------------------------------------------- ids
def put_id(root: str, task: str, sequence: int, value: int) -> None:
    ds = open_task(root, task).ids
    offset = int(ds.sequence_pointers[sequence])
    path = os.path.join(root, task, "ids.bin")
    data = bytearray(open(path, "rb").read())
    data[offset : offset + ds.dtype.itemsize] = np.asarray([value], dtype=ds.dtype).tobytes()
    open(path, "wb").write(bytes(data))
    rehash(root)


def test_an_id_outside_the_vocabulary_is_named_with_file_and_sequence_when_read(shards):
    root, _ = shards
    limit = read_manifest(root)["vocab"]["id_limit"]
    put_id(root, "knowledge_masking", 5, limit)  # the first id that does not exist
    task = open_task(root, "knowledge_masking")  # opening stays cheap: no pass over the data
    task.span(0, 5)  # sequences before the damage read fine
    with pytest.raises(ShardError, match=rf"knowledge_masking/ids.bin: sequence 5 .*token id {limit}"):
        task.span(3, 7)
    with pytest.raises(ShardError, match="sequence 5"):
        task.sentence(5)
    with pytest.raises(ShardError, match=f"token id {limit} outside the vocabulary"):
        verify(root)


def test_the_model_vocabulary_bounds_the_ids_too(shards):
    root, _ = shards
    whole = open_task(root, "capitalization")
    top = int(whole.span(0, len(whole.ids))[0].max())
    # open_task's id_limit is the model's: a model with fewer embeddings cannot take these shards' ids.
    task = open_task(root, "capitalization", id_limit=top)
    with pytest.raises(ShardError, match=rf"token id {top} outside the vocabulary \({top} ids\)"):
        task.span(0, len(task.ids))


def test_pair_ids_and_labels_are_checked(shards):
    root, _ = shards
    put_id(root, "discourse_relation", 3, 65000)
    task = open_task(root, "discourse_relation")
    task.pair(0)
    with pytest.raises(ShardError, match="discourse_relation/ids.bin: sequence 3"):
        task.pair(1)  # pair 1 is sequences 2 and 3


def test_field_values_are_checked_when_read(shards):
    root, _ = shards
    path = os.path.join(root, "capitalization", "cap.bin")
    data = bytearray(open(path, "rb").read())
    data[0] = 7
    open(path, "wb").write(bytes(data))
    rehash(root)
    with pytest.raises(ShardError, match="capitalization/cap.bin: sequence 0: value 7 is not a cap label"):
        open_task(root, "capitalization").span(0, 2)


def test_pair_labels_outside_the_classes_are_caught_at_open(shards):
    root, _ = shards
    path = os.path.join(root, "discourse_relation", "labels.npy")
    labels = np.load(path)
    labels[4] = 9
    np.save(path, labels)
    rehash(root)
    with pytest.raises(ShardError, match=r"labels.npy: pair 4 has label 9, outside 0..3"):
        open_task(root, "discourse_relation")


def test_an_inconsistent_index_is_caught_at_open(shards):
    root, _ = shards
    path = os.path.join(root, "sentence_reordering", "ids.idx")
    data = bytearray(open(path, "rb").read())
    count = int(np.frombuffer(bytes(data[18:26]), dtype="<u8")[0])
    pointers = 34 + 4 * count
    data[pointers + 8 : pointers + 16] = np.asarray([2], dtype="<i8").tobytes()  # sequence 1 overlaps 0
    open(path, "wb").write(bytes(data))
    rehash(root)
    with pytest.raises(ShardError, match="sentence_reordering/ids.idx: sequence pointers"):
        open_task(root, "sentence_reordering")


def test_the_manifest_counts_must_match_the_index(shards):
    root, _ = shards
    manifest = read_manifest(root)
    manifest["tasks"]["token_document"]["documents"] += 1
    write_manifest(root, {k: v for k, v in manifest.items() if k not in ("files", "format_version")})
    with pytest.raises(ShardError, match=r"key 'tasks.token_document.documents' is 9, the index holds 8"):
        open_task(root, "token_document")


def test_pretraining_on_an_out_of_range_id_stops_on_the_first_batch(tmp_path):
    """Every tenth id of the demo shards made foreign: the run stops with the file named, writes no checkpoint."""
    from data_tools.build import build_shards, demo_corpus

    vocab = os.path.join(ROOT, "data_tools", "demo_corpus", "vocab_en.txt")
    root = str(tmp_path / "shards")
    inputs, _ = demo_corpus("en")
    build_shards(inputs, vocab, root, "en", ["knowledge_masking"])
    path = os.path.join(root, "knowledge_masking", "ids.bin")
    ids = np.fromfile(path, dtype="<u2")
    ids[::10] = 60000
    ids.tofile(path)
    rehash(root)
    output = tmp_path / "run"
    result = subprocess.run(
        [
            sys.executable, os.path.join(ROOT, "tools", "pretrain.py"), "--quiet",
            "--config", os.path.join(ROOT, "configs", "pretrain", "demo_en.yaml"),
            "--set", f"output_dir={output}", "--set", f"data.dir={root}",
            "--set", "stages=[{name: s1, tasks: {knowledge_masking: 4}}]",
            "--set", "trainer.save_steps=1", "--set", "trainer.visualdl=false",
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    line = one_line_error(result)
    assert f"{path}: sequence" in line and "token id 60000 outside the vocabulary" in line
    assert not os.path.isdir(output / "checkpoints") or not os.listdir(output / "checkpoints")


# ---------------------------------------------------------------------------------------------- manifest
def test_an_edited_manifest_value_fails_its_checksum(shards):
    root, _ = shards
    path = os.path.join(root, MANIFEST_NAME)
    text = open(path, encoding="utf-8").read()
    edited = text.replace('"id_limit": ', '"id_limit": 1', 1)
    assert edited != text
    open(path, "w", encoding="utf-8").write(edited)
    with pytest.raises(ShardError, match=rf"{path}: .*checksum"):
        read_manifest(root)
    line = one_line_error(cli("verify", root))
    assert path in line and "checksum" in line


def test_a_renamed_key_is_one_line_in_verify_and_inspect(shards):
    root, vocab = shards
    path = os.path.join(root, MANIFEST_NAME)
    manifest = json.load(open(path, encoding="utf-8"))
    entry = manifest["files"]["capitalization/cap.bin"]
    entry["size"] = entry.pop("bytes")
    manifest.pop("manifest_sha256", None)  # an older, unprotected manifest: the structure is checked too
    manifest["format_version"] = 1
    json.dump(manifest, open(path, "w", encoding="utf-8"))
    for command in (("verify", root), ("inspect", root, "--vocab", vocab)):
        line = one_line_error(cli(*command))
        assert path in line and "files.capitalization/cap.bin.bytes" in line


def test_verify_and_inspect_given_a_file_or_nothing(shards, tmp_path):
    root, vocab = shards
    manifest = os.path.join(root, MANIFEST_NAME)
    for command in (("verify", manifest), ("inspect", manifest, "--vocab", vocab)):
        line = one_line_error(cli(*command))
        assert f"{manifest}: not a directory" in line
    line = one_line_error(cli("verify", str(tmp_path / "nothing")))
    assert "nothing" in line


def flips(data: bytes):
    """Every byte with one bit flipped, for two bits: (position, damaged bytes)."""
    for position in range(len(data)):
        for bit in (0x01, 0x20):
            damaged = bytearray(data)
            damaged[position] ^= bit
            yield position, bytes(damaged)


@pytest.mark.slow
def test_flipped_bytes_in_the_manifest_are_caught_or_harmless(shards):
    """Each flip: ``verify`` and ``inspect`` raise ShardError, or the manifest reads as the same object
    (harmless by construction: a flip inside JSON whitespace that leaves the data unchanged)."""
    root, vocab = shards
    path = os.path.join(root, MANIFEST_NAME)
    original = open(path, "rb").read()
    expected = json.loads(original)
    caught = harmless = 0
    for position, damaged in flips(original):
        open(path, "wb").write(damaged)
        try:
            verify(root)
            inspect(root, samples=1, vocab=vocab)
        except ShardError:
            caught += 1
            continue
        assert json.loads(damaged) == expected, f"byte {position}: a change passed verify"
        harmless += 1
    open(path, "wb").write(original)
    assert caught + harmless == 2 * len(original) and caught > 0.9 * 2 * len(original)


@pytest.mark.slow
def test_flipped_bytes_in_small_shard_files_are_caught_by_verify(shards):
    root, _ = shards
    names = ["capitalization/cap.idx", "capitalization/ids.idx", "discourse_relation/labels.npy"]
    checked = 0
    for name in names:
        path = os.path.join(root, name)
        original = open(path, "rb").read()
        for _, damaged in flips(original):
            open(path, "wb").write(damaged)
            with pytest.raises(ShardError, match=name):
                verify(root)
            checked += 1
        open(path, "wb").write(original)
    verify(root)
    assert checked > 500
