"""Scripted calls and helpers shared by the analysis tests."""

from __future__ import annotations

from pathlib import Path

from analysis import CallAnalysis, CallAnalyzer, Utterance
from analysis import agent_score as agent_score_module

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
HELD_OUT_CALL = FIXTURES / "analytics" / "call.json"  # a labelled test-split call (benchmarks/analysis_data layout)
DIALOGUE_CALL = FIXTURES / "dialogue" / "call.json"  # the recorded fixture call's script
BREAKDOWN_KEYS = set(agent_score_module.COMPONENTS)


# A realistic stereo call: (start, speaker, text). The customer's internet failed twice, they are put
# on hold and transferred, the agent apologises, resets the line, offers an upgrade; customer thanks.
SUPPORT_CALL: list[tuple[float, str, str]] = [
    (0.0, "agent", "Thank you for calling Northwind Broadband, my name is Priya. How can I help you today?"),
    (
        5.0,
        "customer",
        "Hi. My internet connection has dropped out twice this week and it's still not working. "
        "I called yesterday and nothing changed.",
    ),
    (
        12.5,
        "agent",
        "I'm so sorry to hear that, I understand how frustrating that must be. "
        "Can I put you on hold for a moment while I check your line?",
    ),
    (20.0, "customer", "Okay, sure."),
    (
        41.0,
        "agent",
        "Thank you for holding. I'm going to transfer you to our technical team, they can reset the line.",
    ),
    (
        52.0,
        "agent",
        "Hi, this is Marco from technical support. I have reset your line and the connection is back up. "
        "You should receive a confirmation text shortly.",
    ),
    (60.0, "customer", "Oh, it's working now, the lights are green."),
    (
        64.0,
        "agent",
        "By the way, this month you can upgrade to our fibre plan at no extra cost. "
        "Is there anything else I can help you with?",
    ),
    (72.0, "customer", "No, that's everything. Thank you so much, that's perfect."),
]


RUDE_CALL: list[tuple[float, str, str]] = [
    (0.0, "agent", "Yeah. What do you want?"),
    (
        3.0,
        "customer",
        "My internet is still not working. This is the third time I've called about the same problem.",
    ),
    (9.0, "agent", "Calm down. That's not my problem, you should have restarted the router."),
    (14.0, "customer", "I did restart it! This is ridiculous and completely unacceptable."),
    (19.0, "agent", "Whatever. There's nothing I can do."),
    (23.0, "customer", "I'm sick of this. Worst service ever, I'm switching to Verizon."),
]


def utterance(start: float, speaker: str, text: str) -> Utterance:
    channel = {"customer": 0, "agent": 1}.get(speaker, 0)
    return Utterance(text=text, start=start, end=start + 4.0, channel=channel, speaker=speaker)


def run_call(turns: list[tuple[float, str, str]], mono: bool = False) -> tuple[CallAnalyzer, CallAnalysis]:
    analyzer = CallAnalyzer()
    for start, speaker, text in turns:
        analyzer.add(utterance(start, "unknown" if mono else speaker, text))
    result = analyzer.analysis()
    assert result is not None
    return analyzer, result


def hits_at(result: CallAnalysis, start: float) -> set[tuple[str, str]]:
    return {(h.category, h.label) for h in result.hits if h.start == start}
