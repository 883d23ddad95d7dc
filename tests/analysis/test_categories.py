"""Phrase-list categories and the user's categories file (analysis.categories)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analysis import CallAnalyzer, CategoryHit, Utterance
from analysis.backends import load_analysis_backend
from analysis.categories import (
    CategoryMatcher,
    default_categories,
    describe,
    load_category_tables,
    utterance_counts,
)
from analysis.config import AnalysisConfig
from analysis.moments import MOMENT_LABELS
from tests.analysis.scripted_calls import run_call, utterance


def test_default_category_labels_are_the_documented_ones() -> None:
    table = default_categories()
    assert set(table) == {"process_issues", "repeated_problems", "marketing_mentions", "moments"}
    assert set(table["moments"]) == set(MOMENT_LABELS)  # the live moments' phrases (analysis.moments)
    assert set(table["process_issues"]) == {
        "hold",
        "transfer",
        "dropped_call",
        "escalation",
        "system_down",
        "callback_promised",
        "long_wait",
    }
    assert set(table["repeated_problems"]) == {"called_again", "still_not_fixed", "multiple_times", "same_issue"}
    assert set(table["marketing_mentions"]) == {
        "offer",
        "upgrade",
        "promotion",
        "new_plan",
        "discount",
        "competitor",
    }
    competitors = set(table["marketing_mentions"]["competitor"])
    assert {"verizon", "t-mobile", "comcast", "at&t"} <= competitors


def test_call_without_hits_reports_none() -> None:
    _, result = run_call(
        [
            (0.0, "agent", "Good morning, how can I help?"),
            (2.0, "customer", "I would like to check the balance on my account."),
            (5.0, "agent", "Of course, your balance is forty dollars."),
        ]
    )
    assert result.process_issues == "none"
    assert result.repeated_problems == "none"
    assert result.marketing_mentions == "none"
    assert result.hits == ()


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Let me put you on hold for a second.", "hold"),
        ("Can you hold for a moment?", "hold"),
        ("I've been ON... HOLD for ages!", "hold"),
        ("I'll transfer you to billing.", "transfer"),
        ("I was transferred to someone else.", "transfer"),
        ("The call got dropped halfway.", "dropped_call"),
        ("I want to speak to your manager.", "escalation"),
        ("Sorry, our system is down right now.", "system_down"),
        ("Someone will call you back tomorrow.", "callback_promised"),
        ("I've been waiting for two hours.", "long_wait"),
        ("I've called three times about this.", "multiple_times"),
        ("This is the third time this happened.", "multiple_times"),
        ("I called before about the same thing.", "called_again"),
        ("I called yesterday.", "called_again"),
        ("It's still not working.", "still_not_fixed"),
        ("It still hasn\u2019t been fixed.", "still_not_fixed"),
        ("It's the same issue as last month.", "same_issue"),
        ("We have a special offer for you.", "offer"),
        ("You could upgrade to fibre.", "upgrade"),
        ("There's a promotion running.", "promotion"),
        ("Would a new plan suit you better?", "new_plan"),
        ("I can give you 20% off.", "discount"),
        ("I'm thinking of switching to T-Mobile.", "competitor"),
        ("AT&T offered me a better price.", "competitor"),
        ("Comcast is cheaper.", "competitor"),
    ],
)
def test_category_phrases(text: str, label: str) -> None:
    analyzer = CallAnalyzer(min_words=1)
    analyzer.add(utterance(7.5, "customer", text))
    result = analyzer.analysis()
    assert result is not None
    labels = {h.label for h in result.hits}
    assert label in labels
    hit = next(h for h in result.hits if h.label == label)
    assert hit.start == 7.5 and hit.speaker == "customer"
    assert hit.phrase.lower() in text.lower()


@pytest.mark.parametrize(
    "text",
    [
        "I'm the account holder.",
        "The threshold is low for my household.",
        "Please hold onto the receipt.",
        "I offered to help my neighbour.",  # "offered" is not the marketing "offer"
        "I'm not sure the spectrograph works.",
        "Sprinting is fun.",
        "Thanks, that's all.",
    ],
)
def test_category_word_boundaries(text: str) -> None:
    matcher = CategoryMatcher(default_categories())
    assert matcher.match(text, 0.0, "customer") == ()


def test_category_matcher_custom_table_and_validation() -> None:
    matcher = CategoryMatcher({"process_issues": {"hold": ["on hold"]}, "custom": {"thing": ["widget*"]}})
    hits = matcher.match("On hold about my widgets, ON HOLD again.", 3.0, "agent")
    assert [(h.label, h.phrase) for h in hits] == [("hold", "On hold"), ("hold", "ON HOLD"), ("thing", "widgets")]
    with pytest.raises(ValueError):
        CategoryMatcher({"bad": {"label": [""]}})
    analyzer = CallAnalyzer(categories=matcher)
    analyzer.add(utterance(1.0, "customer", "I was on hold about my widget for ages."))
    result = analyzer.analysis()
    assert result is not None
    assert result.process_issues == 'hold (1): "on hold" @1.0s'
    assert result.marketing_mentions == "none"


def test_a_count_is_of_utterances_not_of_phrases_matched() -> None:
    matcher = CategoryMatcher({"process_issues": {"hold": ["on hold", "hold the line"]}})
    analyzer = CallAnalyzer(categories=matcher)
    analyzer.add(utterance(1.0, "customer", "I was on hold, then on hold again, so hold the line yourself."))
    analyzer.add(utterance(9.0, "agent", "Sorry you were on hold."))
    analyzer.add(utterance(14.0, "customer", "Fine, thanks."))
    result = analyzer.analysis()
    assert result is not None
    assert len([hit for hit in result.hits if hit.start == 1.0]) == 3  # three phrases matched, one utterance
    assert utterance_counts(result.hits, "process_issues") == {"hold": 2}
    assert result.process_issues == 'hold (2): "on hold" @1.0s'
    # Two speakers starting together (a stereo call) are two utterances.
    both = [
        CategoryHit("process_issues", "hold", "on hold", 5.0, speaker, text="on hold")
        for speaker in ("customer", "agent")
    ]
    assert utterance_counts(both, "process_issues") == {"hold": 2}


def test_describe_groups_counts_and_limits_length() -> None:
    hits = [
        CategoryHit("process_issues", "transfer", "transfer you", 40.0, "agent"),
        CategoryHit("process_issues", "hold", "put me on hold", 12.34, "customer"),
        CategoryHit("process_issues", "hold", "on hold", 20.0, "agent"),
        CategoryHit("marketing_mentions", "offer", "offer", 50.0, "agent"),
    ]
    assert describe(hits, "process_issues") == (
        'hold (2): "put me on hold" @12.3s; transfer (1): "transfer you" @40.0s'
    )
    assert describe(hits, "repeated_problems") == "none"
    many = [
        CategoryHit("process_issues", f"label_{i}", "a fairly long matched phrase", float(i), "agent")
        for i in range(40)
    ]
    text = describe(many, "process_issues")
    assert len(text) < 300
    assert text.startswith('label_0 (1): "a fairly long matched phrase" @0.0s')
    assert text.endswith(" more")


def test_category_strings_stay_short_on_long_calls() -> None:
    analyzer = CallAnalyzer()
    for i in range(200):
        analyzer.add(utterance(float(i), "customer", "Put me on hold, transfer me, call me back, my call dropped."))
    result = analyzer.analysis()
    assert result is not None
    for text in (result.process_issues, result.repeated_problems, result.marketing_mentions):
        assert len(text) < 300
    assert 'hold (200): "Put me on hold" @0.0s' in result.process_issues


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


def test_phrases_in_the_callers_language_match_what_was_said_beside_its_translation(tmp_path: Path) -> None:
    path = tmp_path / "categories.json"
    path.write_text(json.dumps({"process_issues": {"refund": ["rimborso"]}}))
    analyzer = CallAnalyzer(models=load_analysis_backend(AnalysisConfig.lexicon_only(categories_file=path)))
    translated = Utterance(
        "I would like a refund, please. I was put on hold twice.",
        0.0,
        3.0,
        0,
        "customer",
        language="it",
        translated=True,
        original="Vorrei un rimborso, per favore. Mi hanno messo in attesa due volte.",
    )
    result = analyzer.add(translated)
    labels = {(h.category, h.label) for h in result.hits}
    assert ("process_issues", "refund") in labels  # the Italian phrase, in what was said
    assert ("process_issues", "hold") in labels  # the English phrase, in the translation
    summary = analyzer.analysis()
    assert summary is not None
    assert summary.to_summary()["languages"] == {"customer": {"language": "it", "utterances": 1, "translated": 1}}
    assert summary.to_summary()["analysed_from_translation"] is True
