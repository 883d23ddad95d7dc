"""Category matches by meaning (analysis.semantic_categories), with the real encoder."""

from __future__ import annotations

from analysis import CallAnalyzer, Utterance
from analysis.backends import AnalysisModels


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
