"""Converting an official ERNIE checkpoint into a checkpoint folder in our (PaddleNLP) layout."""

from __future__ import annotations

import os
from typing import Optional

from .checkpoint import BASE_PREFIX, WEIGHTS_NAME, is_encoder_key, read_raw_weights
from .errors import CheckpointError
from .official_format import (
    HEAD_ARCHITECTURES,
    TASK_EMBEDDING_KEY,
    convert_official_state_dict,
    official_naming_style,
)


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
    import shutil
    import tempfile

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

    if config_path is None:
        search = [source if os.path.isdir(source) else os.path.dirname(source)]
        search.append(os.path.dirname(os.path.abspath(search[0])))
        for folder in search:
            candidate = os.path.join(folder, "ernie_config.json")
            if os.path.isfile(candidate):
                config_path = candidate
                break
        else:
            raise CheckpointError(f"{source}: no ernie_config.json beside the weights; pass --config")
    config = ErnieConfig.from_json_file(config_path)

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

    parent = os.path.dirname(os.path.abspath(output)) or "."
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".convert-", dir=parent)
    try:
        config.replace(architectures=[architecture]).save(os.path.join(tmp, "config.json"))
        paddle.save({k: paddle.to_tensor(v) for k, v in saved.items()}, os.path.join(tmp, WEIGHTS_NAME))
        if vocab_file:
            tokenizer = ErnieTokenizer(
                vocab_file, do_lower_case=do_lower_case, model_max_length=config.max_position_embeddings
            )
            tokenizer.save_pretrained(tmp)
        if os.path.exists(output):
            raise CheckpointError(f"{output}: exists; choose a new output directory")
        os.replace(tmp, output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {
        "source": weights,
        "style": style,
        "output": output,
        "architecture": architecture,
        "tensors": len(saved),
        "skipped": skipped,
        "use_task_id": config.use_task_id,
    }
