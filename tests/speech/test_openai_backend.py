"""openai-whisper as a second backend: the CTranslate2 → openai-whisper converter and the transcriber.

- The converter is checked on small random Whisper models written by CTranslate2's own `WhisperSpec`
  (float32, float16, bfloat16, int8, int16): CTranslate2's runtime and openai-whisper must compute
  the same encoder output and decoder logits from them.
- On the real tiny.en (from its package), openai-whisper must give the same transcripts as
  faster-whisper on the LibriVox fixtures. Against faster-whisper in float32 (the same weights and
  the same decoding: beam 5, the same temperature fallback) the normalized text must be identical
  and the word timings within 0.1 s. Against the production int8 faster-whisper, whose weights are
  quantized and so not the same numbers, up to one word per clip may differ (none did when this was
  written).
"""

from __future__ import annotations

import shutil
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("whisper", reason="openai-whisper is not installed")

import torch

from audiohook_server.audio.resampling import to_whisper_audio
from audiohook_server.speech import openai_backend
from audiohook_server.speech.ct2_checkpoint import ConversionError, convert, read_ct2_model
from audiohook_server.speech.model_files import ModelNotFoundError, resolve_whisper_model
from audiohook_server.speech.openai_backend import (
    OpenAIWhisperTranscriber,
    resolve_openai_checkpoint,
)
from audiohook_server.speech.transcriber import FasterWhisperTranscriber, Transcription
from benchmarks.wer import normalize_text, word_error_rate
from scripts import convert_ct2
from tests.speech_fixtures import librivox_clips

TINY_EN_HEADS = [[1, 0], [2, 0], [2, 5], [3, 0], [3, 1], [3, 2], [3, 3], [3, 4]]


def _word_distance(a: str, b: str) -> int:
    """Word-level Levenshtein distance."""
    x, y = a.split(), b.split()
    row = list(range(len(y) + 1))
    for i, word in enumerate(x, 1):
        prev, row[0] = row[0], i
        for j, other in enumerate(y, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (word != other))
    return row[-1]


# --- the converter on synthetic models -----------------------------------------------------------


def _random_openai_model() -> tuple[Any, dict[str, np.ndarray]]:
    from whisper.model import ModelDimensions, Whisper

    dims = ModelDimensions(
        n_mels=80,
        n_audio_ctx=1500,
        n_audio_state=64,
        n_audio_head=2,
        n_audio_layer=2,
        n_vocab=51864,  # tiny.en's vocabulary, which the converter checks against openai-whisper's tokenizer
        n_text_ctx=448,
        n_text_state=64,
        n_text_head=2,
        n_text_layer=2,
    )
    torch.manual_seed(0)
    model = Whisper(dims)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith(("ln.weight", "ln_post.weight")):  # layer norm scales
                param.normal_(1.0, 0.1)
            else:
                param.normal_(0.0, 0.5 if "embedding" in name else 0.2)
    return model, {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


def _write_ct2_model(state: dict[str, np.ndarray], dims: Any, out: Path, quantization: str | None) -> None:
    """The inverse mapping, through CTranslate2's own spec classes and writer (copies: it quantizes in place)."""
    from ctranslate2.specs.whisper_spec import WhisperSpec

    def w(name: str) -> np.ndarray:
        return state[name].copy()

    def linear(spec: Any, prefix: str) -> None:
        spec.weight, spec.bias = w(f"{prefix}.weight"), w(f"{prefix}.bias")

    def norm(spec: Any, prefix: str) -> None:
        spec.gamma, spec.beta = w(f"{prefix}.weight"), w(f"{prefix}.bias")

    def self_attention(spec: Any, p: str) -> None:
        norm(spec.layer_norm, f"{p}_ln")
        spec.linear[0].weight = np.concatenate([w(f"{p}.query.weight"), w(f"{p}.key.weight"), w(f"{p}.value.weight")])
        zeros = np.zeros_like(state[f"{p}.query.bias"])
        spec.linear[0].bias = np.concatenate([w(f"{p}.query.bias"), zeros, w(f"{p}.value.bias")])
        linear(spec.linear[1], f"{p}.out")

    def cross_attention(spec: Any, p: str) -> None:
        norm(spec.layer_norm, f"{p}_ln")
        linear(spec.linear[0], f"{p}.query")
        spec.linear[1].weight = np.concatenate([w(f"{p}.key.weight"), w(f"{p}.value.weight")])
        spec.linear[1].bias = np.concatenate([np.zeros_like(state[f"{p}.value.bias"]), w(f"{p}.value.bias")])
        linear(spec.linear[2], f"{p}.out")

    def ffn(spec: Any, p: str) -> None:
        norm(spec.layer_norm, f"{p}_ln")
        linear(spec.linear_0, f"{p}.0")
        linear(spec.linear_1, f"{p}.2")

    spec = WhisperSpec(dims.n_audio_layer, dims.n_audio_head, dims.n_text_layer, dims.n_text_head)
    enc, dec = spec.encoder, spec.decoder
    linear(enc.conv1, "encoder.conv1")
    linear(enc.conv2, "encoder.conv2")
    enc.position_encodings.encodings = w("encoder.positional_embedding")
    norm(enc.layer_norm, "encoder.ln_post")
    for i, layer in enumerate(enc.layer):
        self_attention(layer.self_attention, f"encoder.blocks.{i}.attn")
        ffn(layer.ffn, f"encoder.blocks.{i}.mlp")
    dec.embeddings.weight = w("decoder.token_embedding.weight")
    dec.projection.weight = w("decoder.token_embedding.weight")  # tied: saved as an alias
    dec.position_encodings.encodings = w("decoder.positional_embedding")
    norm(dec.layer_norm, "decoder.ln")
    for i, layer in enumerate(dec.layer):
        self_attention(layer.self_attention, f"decoder.blocks.{i}.attn")
        cross_attention(layer.attention, f"decoder.blocks.{i}.cross_attn")
        ffn(layer.ffn, f"decoder.blocks.{i}.mlp")
    vocabulary = (resolve_whisper_model("tiny.en") / "vocabulary.txt").read_text(encoding="utf-8").split("\n")[:-1]
    spec.register_vocabulary(vocabulary)
    spec.config.alignment_heads = [(1, 0), (1, 1)]
    spec.config.suppress_ids = [1]
    spec.config.suppress_ids_begin = [220, 50256]
    spec.config.lang_ids = list(range(50259, 50358))
    spec.validate()
    spec.optimize(quantization=quantization)
    out.mkdir(parents=True)
    spec.save(str(out))


@pytest.mark.parametrize("quantization", [None, "float16", "bfloat16", "int8", "int8_float16", "int16"])
def test_converted_model_computes_what_ctranslate2_computes(tmp_path: Path, quantization: str | None) -> None:
    import ctranslate2
    from whisper.model import ModelDimensions, Whisper

    original, state = _random_openai_model()
    src = tmp_path / "ct2"
    _write_ct2_model(state, original.dims, src, quantization)
    out = tmp_path / "model.pt"
    assert convert_ct2.main([str(src), str(out)]) == 0  # the command line

    checkpoint = torch.load(out, weights_only=True)
    assert checkpoint["dims"] == vars(original.dims)
    assert checkpoint["alignment_heads"] == [[1, 0], [1, 1]]
    model = Whisper(ModelDimensions(**checkpoint["dims"]))
    model.load_state_dict(checkpoint["model_state_dict"], strict=True)

    # The weights come back (exactly, or within the precision of the stored type).
    tolerance = {None: 0.0, "float16": 2e-3, "bfloat16": 1e-2, "int8": 1 / 127, "int8_float16": 1 / 127}
    for name, expected in state.items():
        got = model.state_dict()[name].numpy()
        atol = tolerance.get(quantization, 1 / 1024) * float(np.abs(expected).max())
        np.testing.assert_allclose(got, expected, rtol=0, atol=atol + 1e-7, err_msg=name)

    # And the converted model computes what CTranslate2's runtime computes from the same files.
    runtime = ctranslate2.models.Whisper(str(src), device="cpu", compute_type="float32")
    mel = torch.randn(1, 80, 3000, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = model.encoder(mel).numpy()
    theirs = np.array(runtime.encode(ctranslate2.StorageView.from_array(mel.numpy())))
    np.testing.assert_allclose(ours, theirs, atol=1e-4 * float(np.abs(theirs).max()))

    prompt = [50257, 50362]  # <|startoftranscript|> <|notimestamps|>
    result = runtime.generate(
        ctranslate2.StorageView.from_array(theirs),
        [prompt],
        beam_size=1,
        max_length=6,
        return_logits_vocab=True,
        suppress_blank=False,
        suppress_tokens=[],
    )[0]
    runtime_logits = np.concatenate([np.array(step).reshape(-1, 51864) for step in result.logits])
    assert len(runtime_logits) >= 2
    tokens = torch.tensor([prompt + result.sequences_ids[0]])
    with torch.no_grad():
        logits = model.decoder(tokens, torch.from_numpy(theirs))[0].numpy()
    ours_logits = logits[len(prompt) - 1 : len(prompt) - 1 + len(runtime_logits)]
    np.testing.assert_allclose(ours_logits, runtime_logits, atol=1e-4 * float(np.abs(runtime_logits).max()))


def test_the_converter_refuses_what_is_not_a_whisper_model(tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match="is not a directory"):
        convert(tmp_path / "nowhere", tmp_path / "out.pt")

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConversionError, match=r"not a CTranslate2 Whisper model: model\.bin and config\.json missing"):
        convert(empty, tmp_path / "out.pt")

    tiny = resolve_whisper_model("tiny.en")
    no_config = tmp_path / "no_config"
    no_config.mkdir()
    (no_config / "model.bin").symlink_to(tiny / "model.bin")
    with pytest.raises(ConversionError, match=r"config\.json missing"):
        convert(no_config, tmp_path / "out.pt")

    no_vocabulary = tmp_path / "no_vocabulary"
    no_vocabulary.mkdir()
    (no_vocabulary / "model.bin").symlink_to(tiny / "model.bin")
    shutil.copy(tiny / "config.json", no_vocabulary)
    with pytest.raises(ConversionError, match="no vocabulary"):
        convert(no_vocabulary, tmp_path / "out.pt")

    def model_dir(name: str, model_bin: bytes) -> Path:
        path = tmp_path / name
        path.mkdir()
        (path / "model.bin").write_bytes(model_bin)
        shutil.copy(tiny / "config.json", path)
        shutil.copy(tiny / "vocabulary.txt", path)
        return path

    with pytest.raises(ConversionError, match="unsupported CTranslate2 binary version 1 "):
        convert(model_dir("garbage", b"\x01\x00\x00\x00binary"), tmp_path / "out.pt")
    with pytest.raises(ConversionError, match="is truncated"):
        convert(model_dir("truncated", (tiny / "model.bin").read_bytes()[:4096]), tmp_path / "out.pt")

    def spec_name(name: str) -> bytes:
        return struct.pack("<H", len(name) + 1) + name.encode() + b"\0"

    translator = struct.pack("<I", 6) + spec_name("TransformerSpec") + struct.pack("<III", 1, 0, 0)
    with pytest.raises(ConversionError, match=r"not a Whisper model: model\.bin holds a TransformerSpec spec"):
        convert(model_dir("translator", translator), tmp_path / "out.pt")
    assert not (tmp_path / "out.pt").exists()
    assert not list(tmp_path.glob(".out.pt.*")), "no staging file is left behind"


def test_the_command_line_reports_errors_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert convert_ct2.main([str(tmp_path), str(tmp_path / "out.pt")]) == 1
    assert capsys.readouterr().err.startswith(f"error: {tmp_path} is not a CTranslate2 Whisper model")
    assert convert_ct2.main(["large-v3", str(tmp_path / "out.pt")]) == 1
    assert "unknown Whisper model 'large-v3'" in capsys.readouterr().err


def test_default_threads_leave_a_core_unless_openmp_waits_passively(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert openai_backend.default_threads() == 3
    monkeypatch.setenv("OMP_WAIT_POLICY", "passive")
    assert openai_backend.default_threads() == 4
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0})
    monkeypatch.delenv("OMP_WAIT_POLICY")
    assert openai_backend.default_threads() == 1


def test_the_ct2_reader_reads_the_packaged_model() -> None:
    model = read_ct2_model(resolve_whisper_model("tiny.en") / "model.bin")
    assert (model.spec, model.binary_version) == ("WhisperSpec", 6)
    assert model.variables["decoder/embeddings/weight"].shape == (51864, 384)
    assert model.variables["decoder/projection/weight"] is model.variables["decoder/embeddings/weight"]  # alias


# --- the backend on tiny.en ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return resolve_openai_checkpoint(resolve_whisper_model("tiny.en"), tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def openai_transcriber(checkpoint: Path) -> OpenAIWhisperTranscriber:
    return OpenAIWhisperTranscriber(checkpoint)  # default threads: one fewer than the CPUs


@pytest.fixture(scope="module")
def clips() -> list[tuple[str, np.ndarray, str]]:
    return [(name, to_whisper_audio(samples, 16000), text) for name, samples, text in librivox_clips()]


def _run(transcriber: Any, clips: list[tuple[str, np.ndarray, str]], final: bool) -> list[Transcription]:
    return [transcriber.transcribe(audio, language="en-US", final=final) for _, audio, _ in clips]


@pytest.fixture(scope="module")
def openai_finals(
    openai_transcriber: OpenAIWhisperTranscriber, clips: list[tuple[str, np.ndarray, str]]
) -> list[Transcription]:
    return _run(openai_transcriber, clips, final=True)


def test_the_checkpoint_loads_with_whisper_load_model(checkpoint: Path) -> None:
    import whisper

    model = whisper.load_model(str(checkpoint), device="cpu")
    assert (model.dims.n_vocab, model.dims.n_text_layer, model.dims.n_audio_state) == (51864, 4, 384)
    assert not model.is_multilingual
    saved = torch.load(checkpoint, weights_only=True)
    assert saved["alignment_heads"] == TINY_EN_HEADS and saved["alignment_heads_source"] == "config.json"


def test_alignment_heads_agree_with_openai_whisper_tables() -> None:
    """config.json's heads (what the converter uses) are openai-whisper's own for tiny.en and base."""
    from audiohook_server.speech.ct2_checkpoint import _official_heads

    tiny = {"n_mels": 80, "n_vocab": 51864, "n_audio_state": 384, "n_audio_layer": 4, "n_text_layer": 4}
    base = {"n_mels": 80, "n_vocab": 51865, "n_audio_state": 512, "n_audio_layer": 6, "n_text_layer": 6}
    assert _official_heads({**tiny, "n_text_head": 6}) == ("tiny.en", TINY_EN_HEADS)
    official_base = _official_heads({**base, "n_text_head": 8})
    assert official_base is not None and official_base[0] == "base"
    assert official_base[1] == [[3, 1], [4, 2], [4, 3], [4, 7], [5, 1], [5, 2], [5, 4], [5, 6]]
    large = {**base, "n_audio_state": 1280, "n_audio_layer": 32, "n_text_layer": 32, "n_text_head": 20}
    assert _official_heads(large) is None, "large-v1 and -v2 share their dimensions: no guess"


def test_the_conversion_is_cached(checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_conversion(*args: object) -> Path:
        raise AssertionError("converted again")

    monkeypatch.setattr(openai_backend, "convert", no_conversion)
    assert resolve_openai_checkpoint(resolve_whisper_model("tiny.en"), checkpoint.parent.parent) == checkpoint
    with pytest.raises(ModelNotFoundError, match=r"has no model\.bin"):
        resolve_openai_checkpoint(checkpoint.parent, checkpoint.parent.parent)


def test_a_bad_checkpoint_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelNotFoundError, match="not a loadable openai-whisper checkpoint"):
        OpenAIWhisperTranscriber(tmp_path / "bad.pt", warmup=False)


def test_finals_match_faster_whisper_float32(
    openai_finals: list[Transcription], clips: list[tuple[str, np.ndarray, str]]
) -> None:
    faster = FasterWhisperTranscriber(resolve_whisper_model("tiny.en"), compute_type="float32", cpu_threads=2)
    for (name, _, _), ours, theirs in zip(clips, openai_finals, _run(faster, clips, final=True), strict=True):
        assert normalize_text(ours.text) == normalize_text(theirs.text), name
        assert [w.text for w in ours.words] == [w.text for w in theirs.words], name
        assert (
            max(abs(a.start - b.start) + abs(a.end - b.end) for a, b in zip(ours.words, theirs.words, strict=True))
            <= 0.1
        )
        assert abs(ours.confidence - theirs.confidence) < 0.05, name


def test_finals_match_the_production_int8_backend(
    openai_finals: list[Transcription], clips: list[tuple[str, np.ndarray, str]]
) -> None:
    faster = FasterWhisperTranscriber(resolve_whisper_model("tiny.en"), cpu_threads=2)  # int8, as served
    for (name, _, _), ours, theirs in zip(clips, openai_finals, _run(faster, clips, final=True), strict=True):
        assert _word_distance(normalize_text(ours.text), normalize_text(theirs.text)) <= 1, name


def test_finals_have_word_timings_and_read_speech_is_recognised(
    openai_finals: list[Transcription], clips: list[tuple[str, np.ndarray, str]]
) -> None:
    for (name, audio, _), result in zip(clips, openai_finals, strict=True):
        assert result.words, name
        assert result.language == "en"
        assert 0.3 < result.confidence <= 1.0
        starts = [w.start for w in result.words]
        assert starts == sorted(starts), name
        assert all(0 <= w.start <= w.end <= len(audio) / 16000 + 0.5 for w in result.words), name
        assert all(a.end <= b.start + 1e-6 for a, b in zip(result.words, result.words[1:], strict=False)), name
        assert normalize_text(" ".join(w.text for w in result.words)) == normalize_text(result.text)
    assert word_error_rate([text for _, _, text in clips], [r.text for r in openai_finals]) <= 0.10


def test_partials_are_greedy_without_word_timings_and_match_faster_whisper(
    openai_transcriber: OpenAIWhisperTranscriber, clips: list[tuple[str, np.ndarray, str]]
) -> None:
    faster = FasterWhisperTranscriber(resolve_whisper_model("tiny.en"), compute_type="float32", cpu_threads=2)
    ours, theirs = _run(openai_transcriber, clips[:2], final=False), _run(faster, clips[:2], final=False)
    for (name, _, reference), a, b in zip(clips, ours, theirs, strict=False):
        assert a.words == ()
        assert normalize_text(a.text) == normalize_text(b.text), name
        assert word_error_rate([reference], [a.text]) <= 0.25


def test_silence_gives_no_text_worth_sending(openai_transcriber: OpenAIWhisperTranscriber) -> None:
    result = openai_transcriber.transcribe(np.zeros(16000 * 2, np.float32), language="en", final=True)
    assert len(result.text.split()) <= 2


def test_concurrent_calls_are_serialised_and_keep_torch_threads(
    openai_transcriber: OpenAIWhisperTranscriber, clips: list[tuple[str, np.ndarray, str]]
) -> None:
    expected = [r.text for r in _run(openai_transcriber, clips[:2], final=False)]
    results: dict[int, str] = {}
    threads_after: dict[int, int] = {}

    def work(i: int) -> Callable[[], None]:
        def run() -> None:
            torch.set_num_threads(3)  # whatever the caller had (the analysis backend sets 1)
            results[i] = openai_transcriber.transcribe(clips[i][1], language="en", final=False).text
            threads_after[i] = torch.get_num_threads()

        return run

    workers = [threading.Thread(target=work(i)) for i in range(2)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(120)
    assert [results[0], results[1]] == expected
    assert threads_after == {0: 3, 1: 3}, "the caller's torch thread count is put back"


def test_the_fitted_window_reaches_the_encoder_and_the_full_window_reads_the_same(
    openai_transcriber: OpenAIWhisperTranscriber, checkpoint: Path, clips: list[tuple[str, np.ndarray, str]]
) -> None:
    """openai-whisper pads each segment to 3000 mel frames and its encoder insists on them; the fitted
    forward reads only the window, and the words and their alignment match the full window's."""
    from audiohook_server.speech.encoder_window import EncoderWindow

    seen: list[int] = []
    hook = openai_transcriber._model.encoder.conv1.register_forward_hook(
        lambda module, inputs, output: seen.append(inputs[0].shape[-1])
    )
    try:
        name, audio, _ = clips[0]
        fitted = openai_transcriber.transcribe(audio, language="en", final=True)
    finally:
        hook.remove()
    frames = openai_transcriber.window.frames(len(audio) / 16000)
    assert frames is not None and frames < 3000
    assert fitted.window == "fit"
    assert seen and set(seen) == {frames}, "every encoder pass (decode and word alignment) saw the fitted window"

    full = OpenAIWhisperTranscriber(checkpoint, window=EncoderWindow("full"), warmup=False)
    reference = full.transcribe(audio, language="en", final=True)
    assert reference.window == "full"
    assert _word_distance(normalize_text(fitted.text), normalize_text(reference.text)) <= 1, name
    assert all(0 <= w.start <= w.end <= len(audio) / 16000 + 0.5 for w in fitted.words)
