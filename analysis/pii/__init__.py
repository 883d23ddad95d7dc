"""Personal data in transcripts, found offline: card numbers, security codes, bank details, phones,
e-mails, dates of birth, SSN/NI numbers, postcodes, street addresses and names, in the spoken forms
Whisper writes ("four one one one", "double oh seven", "j dot smith at gmail dot com").

`CallRedactor` reads one call's final utterances in order and keeps the context that spans them (the
agent's question cues the customer's answer; a number read across a pause); its `Redaction` says
where each entity is, in characters and in the words' times, and renders the text with any subset
of entities replaced. See docs/redaction.md for the rules and their measured recall and precision.
"""

from analysis.pii.entities import PAYMENT_ENTITIES, Entity, Finding, parse_entities
from analysis.pii.names import PersonNames
from analysis.pii.redactor import CallRedactor, MaskStyle, RedactedSpan, Redaction, TimedWord, word_places

__all__ = [
    "PAYMENT_ENTITIES",
    "CallRedactor",
    "Entity",
    "Finding",
    "MaskStyle",
    "PersonNames",
    "RedactedSpan",
    "Redaction",
    "TimedWord",
    "parse_entities",
    "word_places",
]
