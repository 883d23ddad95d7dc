"""The transformers sentiment backend (analysis.hf_sentiment), with a tiny model built here."""

from __future__ import annotations

from pathlib import Path

import pytest

from analysis import CallAnalyzer, Utterance
from analysis.backends import load_analysis_backend
from analysis.config import AnalysisConfig
from analysis.embeddings import ModelUnavailableError
from analysis.heads import training_examples
from analysis.hf_sentiment import map_label


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
