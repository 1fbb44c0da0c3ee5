"""Every encoder family the scale studies name loads from a local folder, and a whole trial runs over it.

Each family is built here as a transformers folder with random weights, the real architecture at a tiny
size, and the built-in tokenizer: XLM-R, XLM-R XL/XXL (`xlm-roberta-xl`), mT5 (saved as the whole
encoder-decoder, as the hub has it; `load_encoder` keeps only `MT5EncoderModel`), mDeBERTa-v3
(`deberta-v2` with its relative attention settings) and RemBERT. The trial trains a mixture of span QA and
multiple choice (both scored on English dev at the milestone), then fine-tunes and scores tagging,
classification and retrieval: every head over every family.
"""

from __future__ import annotations

import math

import pytest
import torch
import transformers
from transformers import AutoTokenizer

from study import results
from helpers import TEST_MLM_STEPS, small_spec

SMALL = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64}


def _config(family: str, vocab: int, pad: int, eos: int):
    if family == "xlm-roberta":
        return transformers.XLMRobertaConfig(vocab_size=vocab, pad_token_id=pad, max_position_embeddings=130, **SMALL)
    if family == "xlm-roberta-xl":
        return transformers.XLMRobertaXLConfig(vocab_size=vocab, pad_token_id=pad, max_position_embeddings=130, **SMALL)
    if family == "mt5":
        return transformers.MT5Config(vocab_size=vocab, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
                                      pad_token_id=pad, eos_token_id=eos, decoder_start_token_id=pad)
    if family == "mdeberta-v3":  # microsoft/mdeberta-v3-base's attention settings
        return transformers.DebertaV2Config(vocab_size=vocab, pad_token_id=pad, relative_attention=True,
                                            position_buckets=256, pos_att_type=["p2c", "c2p"], norm_rel_ebd="layer_norm",
                                            share_att_key=True, position_biased_input=False, max_relative_positions=-1,
                                            type_vocab_size=0, max_position_embeddings=512, **SMALL)
    if family == "rembert":
        return transformers.RemBertConfig(vocab_size=vocab, pad_token_id=pad, input_embedding_size=16,
                                          output_embedding_size=16, max_position_embeddings=128, **SMALL)
    raise ValueError(family)


FAMILIES = ["xlm-roberta", "xlm-roberta-xl", "mt5", "mdeberta-v3", "rembert"]


@pytest.fixture(scope="module")
def tokenizer():
    from study.synthetic.pretraining import TINY_SIZES, ensure_tokenizer

    return AutoTokenizer.from_pretrained(str(ensure_tokenizer(TINY_SIZES["tiny"])))


def _folder(family: str, tokenizer, root) -> str:
    torch.manual_seed(0)
    eos = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.sep_token_id
    config = _config(family, len(tokenizer), tokenizer.pad_token_id, eos)
    model = (transformers.MT5ForConditionalGeneration(config) if family == "mt5"
             else transformers.AutoModel.from_config(config))
    folder = root / family
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.mark.parametrize("family", FAMILIES)
def test_a_trial_runs_over_each_encoder_family(family, tokenizer, tmp_path):
    from study.model import load_encoder
    from study.trial import Trial

    folder = _folder(family, tokenizer, tmp_path)
    spec = small_spec(
        str(tmp_path / "results"),
        models=[{"name": "m", "source": {"path": folder}, "batch_size": 8, "max_length": 48, "steps": [0, 4]}],
        intermediate_tasks=[{"name": "qa_mc", "tasks": ["builtin_squad", "builtin_swag"]}],
        target_training={"steps": 3, "batch_size": 8, "eval_batch_size": 32},
    )
    encoder = load_encoder(spec.models[0])
    expected = "MT5EncoderModel" if family == "mt5" else None
    if expected:
        assert type(encoder.module).__name__ == expected, "only the encoder of an encoder-decoder"
    assert encoder.n_params == sum(p.numel() for p in encoder.module.parameters())
    reports = []
    Trial(spec, {"model": "m", "intermediate_task": "qa_mc", "seed": 0}, "t").run(
        lambda metrics, folder: reports.append(metrics))
    assert [r["intermediate_steps"] for r in reports] == [4]
    assert math.isfinite(reports[0]["intermediate_dev"]), "span QA and multiple choice scored on English dev"
    rows = results.collect(str(tmp_path / "results" / "t"))
    assert set(rows.target_task) == {"builtin_pos", "builtin_xnli", "builtin_tatoeba"}
    assert set(rows[rows.split == "test"].language) >= {"xa", "xb", "xc"}
    assert rows.value.between(0, 100).all() and (rows.target_tokens[rows.target_task != "builtin_tatoeba"] > 0).all()
    assert (rows.model_params == encoder.n_params).all()


def test_loading_an_encoder_from_a_masked_lm_checkpoint_logs_no_report_of_its_unused_head(caplog):
    """transformers reports the LM head an encoder leaves unused: dropped (study.model.PretrainingHeadReport),
    while a report of a missing weight is kept."""
    import logging

    from study.model import PretrainingHeadReport, load_encoder
    from study.spec import ModelSpec

    with caplog.at_level(logging.WARNING, logger="transformers.modeling_utils"):
        load_encoder(ModelSpec(name="t", source={"builtin": "tiny", "mlm_steps": TEST_MLM_STEPS}, steps=[0]))
    assert not [r for r in caplog.records if "LOAD REPORT" in r.getMessage()]
    missing = ("XLMRobertaModel LOAD REPORT from: x\nKey | Status |  |\n---+---+--+-\n"
               "lm_head.bias | UNEXPECTED |  |\nencoder.layer.0.output.dense.weight | MISSING |  |\n")
    record = logging.LogRecord("transformers.modeling_utils", logging.WARNING, "", 0, missing, None, None)
    assert PretrainingHeadReport().filter(record), "a missing weight is still reported"
