"""Converting checkpoints: official ERNIE or HF transformers into our (PaddleNLP) layout, ours into HF's.

Each writes a new folder under a temporary name beside the output and renames it when complete, with
the tokenizer files found beside the weights (official ``vocab.txt``, transformers' tokenizer files).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Callable, Optional

from .checkpoint import (
    BASE_PREFIX,
    HF_STYLE,
    WEIGHTS_NAME,
    is_encoder_key,
    is_hf_checkpoint,
    load_state_into,
    read_raw_weights,
    read_state_dict,
    to_our_names,
)
from .errors import CheckpointError
from .files import atomic_write_text
from .hf_format import (
    ARCHITECTURES_TO_HF,
    HF_SAFETENSORS_NAME,
    HF_TOKENIZER_JSON,
    config_to_hf,
    ours_to_hf,
    tokenizer_config_to_hf,
    tokenizer_settings_from_hf,
    vocab_from_tokenizer_json,
)
from .official_format import (
    HEAD_ARCHITECTURES,
    TASK_EMBEDDING_KEY,
    convert_official_state_dict,
    official_naming_style,
)
from .weight_files import write_safetensors

VOCAB_NAME = "vocab.txt"


def _write_new_folder(output: str, write: Callable[[str], None]) -> None:
    """Run ``write(folder)`` on a temporary folder beside ``output``, then rename it to ``output``, which
    must not exist; nothing is left behind when ``write`` fails."""
    if os.path.exists(output):
        raise CheckpointError(f"{output}: exists; choose a new output directory")
    parent = os.path.dirname(os.path.abspath(output)) or "."
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".convert-", dir=parent)
    try:
        write(tmp)
        if os.path.exists(output):
            raise CheckpointError(f"{output}: exists; choose a new output directory")
        os.replace(tmp, output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def convert_official_checkpoint(
    source: str,
    output: str,
    config_path: Optional[str] = None,
    vocab_file: Optional[str] = None,
    use_task_id: str = "auto",
    do_lower_case: bool = True,
    head: str = "auto",
) -> dict:
    """Write an official ERNIE checkpoint (static ``params/`` dir or dygraph ``saved_weights.pdparams``)
    as a checkpoint directory in our (PaddleNLP) layout. Returns a summary dict.

    ``use_task_id``: ``auto`` follows the config (the released configs have no ``use_task_id``, so the
    official fine-tuning ran without the task embedding, and it is dropped), ``yes`` keeps the task
    embedding and turns it on, ``no`` drops it.

    ``head``: which model the ``classifier`` weights belong to. ``auto`` reads it from the static names
    (``cls_mrc*`` question answering, ``cls_seq_label_out*`` tagging, else sequence classification); the
    dygraph demos call every head ``classifier``, so a dygraph QA or tagging checkpoint needs
    ``qa`` or ``token``.
    """
    import paddle

    from .config import ErnieConfig
    from .tokenizer import ErnieTokenizer

    raw, weights = read_raw_weights(source)
    style = official_naming_style(raw)
    if style is None:
        raise CheckpointError(
            f"{weights}: no official ERNIE parameter names (word_embedding / word_emb.weight)"
        )
    try:
        state, skipped = convert_official_state_dict(raw)
    except CheckpointError as exc:
        raise CheckpointError(f"{weights}: {exc}") from None

    # The released folders hold params/ with ernie_config.json and vocab.txt beside it.
    search = [source if os.path.isdir(source) else os.path.dirname(source)]
    search.append(os.path.dirname(os.path.abspath(search[0])))
    if config_path is None:
        config_path = _find_file(search, "ernie_config.json")
        if config_path is None:
            raise CheckpointError(f"{source}: no ernie_config.json beside the weights; pass --config")
    config = ErnieConfig.from_json_file(config_path)
    if vocab_file is None:
        vocab_file = _find_file([*search, os.path.dirname(os.path.abspath(config_path))], VOCAB_NAME)

    has_task = TASK_EMBEDDING_KEY in state
    if head != "auto" and head not in HEAD_ARCHITECTURES:
        raise CheckpointError(f"head must be auto, {', '.join(HEAD_ARCHITECTURES)}; got {head!r}")
    if use_task_id not in ("auto", "yes", "no"):
        raise CheckpointError(f"use_task_id must be auto, yes or no, got {use_task_id!r}")
    keep_task = has_task and (use_task_id == "yes" or (use_task_id == "auto" and config.use_task_id))
    if use_task_id == "yes" and not has_task:
        raise CheckpointError(f"{weights}: use_task_id=yes but the checkpoint has no task_embedding")
    if keep_task:
        rows = state[TASK_EMBEDDING_KEY].shape[0]
        config = config.replace(use_task_id=True, task_type_vocab_size=rows)
    elif has_task:
        state.pop(TASK_EMBEDDING_KEY)
        skipped.append("task_embedding (use_task_id is off)")
        config = config.replace(use_task_id=False)

    head_keys = [k for k in state if not is_encoder_key(k)]
    saved = {(BASE_PREFIX + k if head_keys and is_encoder_key(k) else k): v for k, v in state.items()}
    architecture = "ErnieModel"
    if any(k.startswith("cls.predictions.") for k in head_keys):
        architecture = "ErnieForPretraining"
    elif "classifier.weight" in state:
        classes = state["classifier.weight"].shape[1]
        if head == "auto":
            head = (
                "qa"
                if any(k.startswith("cls_mrc") for k in raw)
                else "token"
                if any(k.startswith("cls_seq_label_out") for k in raw)
                else "sequence"
            )
        if head == "qa" and classes != 2:
            raise CheckpointError(
                f"{weights}: a question-answering head has 2 outputs, classifier has {classes}"
            )
        if head != "qa":
            config = config.replace(num_labels=classes)
        architecture = HEAD_ARCHITECTURES[head]
    elif head != "auto":
        raise CheckpointError(f"{weights}: head={head} but the checkpoint has no classifier weights")

    # Shapes must agree with the config before anything is written.
    expected = {
        "embeddings.word_embeddings.weight": [config.vocab_size, config.hidden_size],
        "embeddings.position_embeddings.weight": [config.max_position_embeddings, config.hidden_size],
        "embeddings.token_type_embeddings.weight": [config.type_vocab_size, config.hidden_size],
        "encoder.layers.0.linear1.weight": [config.hidden_size, config.intermediate_size],
    }
    for key, shape in expected.items():
        if key in state and list(state[key].shape) != shape:
            raise CheckpointError(
                f"{config_path}: config gives {key} the shape {shape}, the weights have {list(state[key].shape)}"
            )
    layers = {int(k.split(".")[2]) for k in state if k.startswith("encoder.layers.")}
    if layers != set(range(config.num_hidden_layers)):
        raise CheckpointError(
            f"{config_path}: key 'num_hidden_layers' is {config.num_hidden_layers}, the weights have {len(layers)} layers"
        )

    def write(folder: str) -> None:
        config.replace(architectures=[architecture]).save(os.path.join(folder, "config.json"))
        paddle.save({k: paddle.to_tensor(v) for k, v in saved.items()}, os.path.join(folder, WEIGHTS_NAME))
        if vocab_file:
            tokenizer = ErnieTokenizer(
                vocab_file, do_lower_case=do_lower_case, model_max_length=config.max_position_embeddings
            )
            tokenizer.save_pretrained(folder)

    _write_new_folder(output, write)
    return {
        "source": weights,
        "style": style,
        "output": output,
        "architecture": architecture,
        "tensors": len(saved),
        "skipped": skipped,
        "use_task_id": config.use_task_id,
        "vocab": vocab_file,
    }


def _find_file(folders: list[str], name: str) -> Optional[str]:
    for folder in folders:
        candidate = os.path.join(folder, name)
        if os.path.isfile(candidate):
            return candidate
    return None


# ---------------------------------------------------------------------------------------------- HF in
def _hf_architecture(config, hf_keys) -> str:
    """Our model class for an HF folder: told by its head weights, token vs sequence by its config."""
    keys = set(hf_keys)
    if "qa_outputs.weight" in keys:
        return "ErnieForQuestionAnswering"
    if "classifier.weight" in keys:
        named = (config.extra.get("architectures") or [None])[0]
        return named if named == "ErnieForTokenClassification" else "ErnieForSequenceClassification"
    if any(key.startswith("cls.predictions.") for key in keys):
        return "ErnieForPretraining"
    return "ErnieModel"


def convert_hf_checkpoint(source: str, output: str) -> dict:
    """Write an HF transformers ERNIE folder (``config.json`` + ``model.safetensors`` or
    ``pytorch_model.bin``) as a checkpoint folder in our layout, with its tokenizer. Returns a summary."""
    from . import modeling
    from .config import ErnieConfig
    from .tokenizer import ErnieTokenizer

    if not is_hf_checkpoint(source):
        raise CheckpointError(
            f"{source}: not an HF transformers ERNIE folder (config.json with {HF_SAFETENSORS_NAME} "
            "in transformers' names, or pytorch_model.bin)"
        )
    config = ErnieConfig.from_pretrained(source)
    raw, weights = read_raw_weights(source)
    state, _, skipped = to_our_names(raw, weights)
    architecture = _hf_architecture(config, raw)
    model = getattr(modeling, architecture)(config)
    report = load_state_into(model, state, weights, converted_from=HF_STYLE, verbose=False)
    skipped += report.dropped_keys
    if report.new_head_keys:  # the head is chosen by the weights, so never; but never save a random head
        raise CheckpointError(f"{weights}: no {', '.join(report.new_head_keys)} for {architecture}")

    vocab = os.path.join(source, VOCAB_NAME)
    tokenizer_json = os.path.join(source, HF_TOKENIZER_JSON)

    def write(folder: str) -> None:
        model.save_pretrained(folder)
        vocab_file = vocab
        if not os.path.isfile(vocab_file) and os.path.isfile(tokenizer_json):
            vocab_file = os.path.join(folder, VOCAB_NAME)
            atomic_write_text(vocab_file, "\n".join(vocab_from_tokenizer_json(tokenizer_json)) + "\n")
        if os.path.isfile(vocab_file):
            settings = tokenizer_settings_from_hf(source)
            settings["model_max_length"] = min(
                settings.get("model_max_length", config.max_position_embeddings),
                config.max_position_embeddings,
            )
            ErnieTokenizer(vocab_file, **settings).save_pretrained(folder)

    _write_new_folder(output, write)
    has_tokenizer = os.path.isfile(os.path.join(output, VOCAB_NAME))
    return {
        "source": weights,
        "style": HF_STYLE,
        "output": output,
        "architecture": architecture,
        "tensors": len(report.loaded),
        "skipped": skipped,
        "use_task_id": config.use_task_id,
        "tokenizer": has_tokenizer,
    }


# ---------------------------------------------------------------------------------------------- HF out
def _our_architecture(config, state) -> str:
    """Our model class for a checkpoint: its config's ``architectures``, else told by its head weights."""
    named = (config.extra.get("architectures") or [None])[0]
    if named in ARCHITECTURES_TO_HF:
        return named
    if any(key.startswith("cls.predictions.") for key in state):
        return "ErnieForPretraining"
    return "ErnieForSequenceClassification" if "classifier.weight" in state else "ErnieModel"


def export_hf_checkpoint(source: str, output: str) -> dict:
    """Write a checkpoint that ``from_pretrained`` reads (ours, PaddleNLP's, official) as an HF transformers
    folder: ``model.safetensors``, ``config.json`` and BERT tokenizer files. Returns a summary."""
    from . import modeling
    from .config import ErnieConfig
    from .tokenizer import ErnieTokenizer

    config = ErnieConfig.from_pretrained(source)
    state, weights, converted_from = read_state_dict(source)
    architecture = _our_architecture(config, state)
    model = getattr(modeling, architecture)(config)
    report = load_state_into(model, state, weights, converted_from=converted_from, verbose=False)
    if report.new_head_keys:
        raise CheckpointError(
            f"{weights}: no {', '.join(report.new_head_keys)} for the {architecture} its config.json names"
        )
    hf_state, skipped = ours_to_hf({k: v.numpy() for k, v in model.state_dict().items()}, architecture)
    skipped += report.dropped_keys
    hf_config = config_to_hf(config.to_dict(), architecture)
    tokenizer = (
        ErnieTokenizer.from_pretrained(source) if os.path.isfile(os.path.join(source, VOCAB_NAME)) else None
    )

    def write(folder: str) -> None:
        write_safetensors(hf_state, os.path.join(folder, HF_SAFETENSORS_NAME))
        atomic_write_text(os.path.join(folder, "config.json"), json.dumps(hf_config, indent=2) + "\n")
        if tokenizer is not None:
            tokenizer.save_pretrained(folder)  # vocab.txt and special_tokens_map.json as BERT's
            hf_tokenizer = tokenizer_config_to_hf(
                tokenizer.do_lower_case, tokenizer.special_tokens, tokenizer.model_max_length
            )
            atomic_write_text(
                os.path.join(folder, "tokenizer_config.json"), json.dumps(hf_tokenizer, indent=2) + "\n"
            )

    _write_new_folder(output, write)
    return {
        "source": weights,
        "output": output,
        "format": "HF transformers",
        "architecture": hf_config["architectures"][0],
        "tensors": len(hf_state),
        "skipped": skipped,
        "use_task_id": config.use_task_id,
        "tokenizer": tokenizer is not None,
    }
