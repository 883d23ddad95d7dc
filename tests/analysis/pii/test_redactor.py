"""The call redactor on the spoken forms Whisper writes, with the context a call gives.

Each case is a short exchange; the entities found in the last utterance are checked, and the clean
cases (prices, order numbers, times, dates of orders) must come out untouched. Names use spaCy's
real model (`en_core_web_sm`, installed by the set-up as a package)."""

from __future__ import annotations

import pytest

from analysis.pii import CallRedactor, Entity, MaskStyle, TimedWord, parse_entities
from analysis.pii.numbers import luhn_valid, valid_phone

ALL = list(Entity)


def last(*turns: tuple[str, str]) -> tuple[str, list[Entity]]:
    redactor = CallRedactor()
    found = None
    for t, (speaker, text) in enumerate(turns):
        found = redactor.redact(text, speaker=speaker, start=t * 3.0, end=t * 3.0 + 2.5)
    assert found is not None
    return found.text_for(ALL), [span.entity for span in found.spans]


@pytest.mark.parametrize(
    ("turns", "expected"),
    [
        # a Luhn-valid card anywhere, written or spoken
        ([("customer", "It's 4539 1488 0343 6467.")], [Entity.CARD_NUMBER]),
        (
            [("customer", "four five three nine one four eight eight oh three four three six four six seven")],
            [Entity.CARD_NUMBER],
        ),
        # the agent's question cues the answer; the rest follows after a pause
        (
            [("agent", "Can I take the long number on the card?"), ("customer", "Yes, it is 4, 5, 3, 2, 7, 1, 5, 9.")],
            [Entity.CARD_NUMBER],
        ),
        (
            [
                ("agent", "Can I take the long number on the card?"),
                ("customer", "Yes, it is 4, 5, 3, 2, 7, 1, 5, 9."),
                ("customer", "0 8 3 6 1 2 4 1"),
            ],
            [Entity.CARD_NUMBER],
        ),
        ([("agent", "And the three digits on the back?"), ("customer", "five, eight, two.")], [Entity.SECURITY_CODE]),
        (
            [("customer", "Sort code twenty oh four fifteen, account number 12345678.")],
            [Entity.SORT_CODE, Entity.BANK_ACCOUNT],
        ),
        (
            [("customer", "You can call me on oh seven seven double oh nine double oh one two three.")],
            [Entity.PHONE_NUMBER],
        ),
        ([("customer", "It's 555-867-5309 if you need me.")], [Entity.PHONE_NUMBER]),
        ([("customer", "My email is j dot smith at gmail dot com.")], [Entity.EMAIL_ADDRESS]),
        ([("customer", "It's priya_r85@outlook.co.uk")], [Entity.EMAIL_ADDRESS]),
        (
            [("agent", "Could I have your date of birth?"), ("customer", "The fourth of March, 1982.")],
            [Entity.DATE_OF_BIRTH],
        ),
        ([("customer", "My social security number is 123-45-6789.")], [Entity.US_SSN]),
        ([("customer", "My national insurance number is Q Q one two three four five six C.")], [Entity.UK_NINO]),
        ([("customer", "The postcode is S W 1 A 1 A A.")], [Entity.POSTCODE]),
        ([("customer", "I live at 22 Baker Street.")], [Entity.STREET_ADDRESS]),
        ([("customer", "My name is Priya Raman.")], [Entity.PERSON]),
    ],
)
def test_finds(turns: list[tuple[str, str]], expected: list[Entity]) -> None:
    _, found = last(*turns)
    assert found == expected


@pytest.mark.parametrize(
    "text",
    [
        "That comes to forty nine ninety nine.",
        "Your order number is 5 5 2 1 8.",
        "It was delivered on the fourth of March at nine thirty.",
        "I ordered three of them and paid 129 pounds.",
        "Press one for billing, or two for anything else.",
        "The model number is X 200, version 3.2.",
        "Your reference is 4 4 7 1 9 2 0 3.",
    ],
)
def test_leaves_numbers_that_are_not_personal_data(text: str) -> None:
    redacted, found = last(("agent", "Can I take the long number on the card?"), ("customer", "Sure."), ("agent", text))
    assert found == [] and redacted == text


def test_an_order_number_after_a_card_is_still_an_order_number() -> None:
    redacted, found = last(
        ("agent", "Can I take the long number on the card?"),
        ("customer", "It's 4539 1488 0343 6467."),
        ("agent", "Thanks. Your order number is 6 2 7 5 3."),
    )
    assert found == [] and "6 2 7 5 3" in redacted


def test_the_text_keeps_everything_but_the_entities_the_policy_names() -> None:
    redactor = CallRedactor(names=None)
    found = redactor.redact("Card 4539 1488 0343 6467, mail me at jo@example.com.")
    assert found.text_for([Entity.CARD_NUMBER]) == "Card [CARD_NUMBER], mail me at jo@example.com."
    assert found.text_for([Entity.CARD_NUMBER], MaskStyle.LAST4) == "Card ************6467, mail me at jo@example.com."
    assert found.text_for([]) == found.text


def test_spans_carry_the_words_times() -> None:
    words = [
        TimedWord(" It's", 0.0, 0.3),
        TimedWord(" 5,", 0.4, 0.6),
        TimedWord(" 8,", 0.7, 0.9),
        TimedWord(" 2.", 1.0, 1.2),
    ]
    redactor = CallRedactor(names=None)
    redactor.redact("And the security code on the back?", speaker="agent", end=2.0)
    found = redactor.redact("It's 5, 8, 2.", words, speaker="customer", start=3.0, end=4.5)
    (span,) = found.spans
    assert span.entity is Entity.SECURITY_CODE and (span.start_s, span.end_s) == (0.4, 1.2)


def test_peek_does_not_change_the_calls_context() -> None:
    redactor = CallRedactor(names=None)
    redactor.peek("Can I take the card number?", speaker="agent")
    assert redactor.redact("4 5 3 2 7 1 5 9", speaker="customer").spans == ()


def test_checksums_and_phone_rules() -> None:
    assert luhn_valid("4532715908361241") and not luhn_valid("4532715908361242")
    assert valid_phone("07700900123", plus=False) and valid_phone("2025550143", plus=False)
    assert not valid_phone("1234567890", plus=False) and not valid_phone("0012345678", plus=False)


def test_entity_names_parse_with_a_readable_error() -> None:
    assert parse_entities("payment") == {
        Entity.CARD_NUMBER,
        Entity.SECURITY_CODE,
        Entity.BANK_ACCOUNT,
        Entity.SORT_CODE,
    }
    assert parse_entities("card-number, person") == {Entity.CARD_NUMBER, Entity.PERSON}
    assert parse_entities("none") == frozenset()
    with pytest.raises(ValueError, match="unknown entity type 'cards'"):
        parse_entities("cards")


@pytest.mark.parametrize(
    ("turns", "expected"),
    [
        # Whisper's hyphenated groups with "double" inside, and an "oh" written as the letter O
        ([("customer", "The number on the front is 6-01-1, 3-6-5-1, 6-9-double-6, 8-double-1-9.")], ["CARD_NUMBER"]),
        ([("customer", "It's a Master Card 497O 5-double 4-3")], ["CARD_NUMBER"]),
        # "double 3" before written digits repeats the digit
        ([("customer", "Call me on 415, triple 5, 1 9, double 3.")], ["PHONE_NUMBER"]),
        # "plus" is a country code, even when Luhn would call the digits a card
        ([("customer", "It should be plus 4, 4, 7, 4, 4, 4, 6, 4, 1, 5, 0, 6, 2, 1, 5")], ["PHONE_NUMBER"]),
        # homophones stand when the whole number checks out ("a" for "oh", "to" for "two")
        ([("customer", "My mobile is a 7 9 4 8 6 7 9 4 8 2")], ["PHONE_NUMBER"]),
        # a cue after the number
        ([("agent", "Thanks."), ("customer", "It's 540, the last three digits on the back.")], ["SECURITY_CODE"]),
        # a card going on, then the security code: the cue decides
        (
            [
                ("agent", "Can I take the long number on the card?"),
                ("customer", "4, 5, 3, 2, 7, 1, 5, 9"),
                ("customer", "Security Code 879, expiry 948."),
            ],
            ["SECURITY_CODE"],
        ),
        ([("customer", "My work number is 0, 7, 4, 6, 4, 4, 6, 8, 9, 7, 6, 6, extension, 4.")], ["PHONE_NUMBER"]),
        ([("customer", "My card number is 6-01-1-0-4-7-4-3-4-3-3-7-Tripple-9")], ["CARD_NUMBER"]),
        # payment data fails closed: two digits answering "the security code?" are part of it
        (
            [("agent", "and the three-digit security code on the back of the card."), ("customer", "five, eight.")],
            ["SECURITY_CODE"],
        ),
        # a number that is part of a cue, or a length, is neither
        ([("customer", "The three digits on the back are, 228.")], ["SECURITY_CODE"]),
        ([("customer", "The 8 digit account number is 8 5 4 9 6 double 8 6.")], ["BANK_ACCOUNT"]),
        # Whisper's "W" for a spoken double, a cue glued to the digits, "MX" for Amex
        ([("customer", "discover card 6 5 7 6 4 6 3 2 W 0 3 8 2 7 6 1")], ["CARD_NUMBER"]),
        ([("customer", "CVV-235, I think.")], ["SECURITY_CODE"]),
        ([("customer", "It's the MX-3713-19381835011")], ["CARD_NUMBER"]),
        # a number after "in case" or before "extension" is still what it is
        ([("customer", "At work I'm on 0, 1 6 1 8 5 2 6 2 7 3 Extension 2 1 4")], ["PHONE_NUMBER"]),
        ([("customer", "in case you can't get me a 0 7 4 5 8 1 0 3 4 9 4")], ["PHONE_NUMBER"]),
        # words Whisper garbled with letters hold a card's digits where a card is expected, not elsewhere
        ([("customer", "The Visa debit is 4G1HE727G, 43960160275")], ["CARD_NUMBER"]),
        ([("customer", "The model number on the back says XR250.")], []),
        # a cue after the number decides over the card going on, unless a later number is its own
        (
            [("customer", "Number on the card is 4, 5, 3, 2, 7, 1, 5, 9"), ("customer", "and then 3 5 9 for the code")],
            ["SECURITY_CODE"],
        ),
        (
            [
                ("customer", "The card number is 4, 5, 3, 2, 7, 1, 5, 9"),
                ("customer", "0 8 3 6, 1 2 4 1, and the code on the back, 9-1-3."),
            ],
            ["CARD_NUMBER", "SECURITY_CODE"],
        ),
        # a product code is not a postcode
        ([("customer", "The TV is a 55-inch Model U E 55-CU 7-1-1-1")], []),
        # an amount after a currency sign, whatever cue came before it
        ([("agent", "Okay, I've applied a credit of £12.50 to the account.")], []),
    ],
)
def test_whisper_forms(turns: list[tuple[str, str]], expected: list[str]) -> None:
    _, found = last(*turns)
    assert [e.value for e in found] == expected


@pytest.mark.parametrize(
    ("first", "second", "entity"),
    [
        ("Okay, it is 49046088.", "and then 3-254-4398.", Entity.CARD_NUMBER),  # Luhn-valid whole
        ("It's 4 2 8 1 2 4 3 5", "Sorry, and then 1, 4, 3, 4, 9, O, double, 9.", Entity.CARD_NUMBER),
        ("It's 617 509.", "and then 0 to 8, 6.", Entity.PHONE_NUMBER),  # a possible US number, "to" for two
        ("The number is to 12, 8 7 5", "two three nine six did you get that", Entity.PHONE_NUMBER),
    ],
)
def test_a_number_read_across_a_pause_revises_the_first_half(first: str, second: str, entity: Entity) -> None:
    redactor = CallRedactor(names=None)
    held = redactor.redact(first, speaker="customer", start=0.0, end=3.0)
    assert held.open_number
    then = redactor.redact(second, speaker="customer", start=4.5, end=7.0)
    assert then.revises is not None
    assert [s.entity for s in then.spans] == [entity]
    assert [s.entity for s in then.revises.spans] == [entity]
    assert not any(c.isdigit() for c in then.revises.text_for([entity]))
    assert not any(c.isdigit() for c in then.text_for([entity]))


def test_digits_that_stay_open_are_left_when_nothing_says_what_they_were() -> None:
    redactor = CallRedactor(names=None)
    held = redactor.redact("It's 4 2 8 1 7.", speaker="customer", start=0.0, end=2.0)
    assert held.open_number and held.spans == ()
    then = redactor.redact("Yes, that's 12 boxes.", speaker="customer", start=3.0, end=5.0)
    assert then.revises is None and then.spans == ()
    # an order number is claimed by its cue: nothing to hold
    assert not redactor.redact("The order number is 5 5 2 1 8.", speaker="agent", start=6.0, end=8.0).open_number


@pytest.mark.parametrize(
    ("turns", "expected"),
    [
        # a comma inside a spelled local part is Whisper's pause, not the end of the address
        ([("customer", "So that's day underscore K, A-U-R at Yahoo.com.")], ["EMAIL_ADDRESS"]),
        ([("customer", "Please update it to accounts at Harper & Sons.co.uk")], ["EMAIL_ADDRESS"]),
        ([("customer", "My mail is vx.h, and our mail.co.uk")], ["EMAIL_ADDRESS"]),  # the "at" misheard
        # spelled again right after it was said
        ([("customer", "a merry underscore q at yahu.com"), ("customer", "M-A-R-Y underscore Q.")], ["EMAIL_ADDRESS"]),
        ([("customer", "It's Pete.w at FastMail.com"), ("customer", "P-E-T-E-D-W-E-T-E-D")], ["EMAIL_ADDRESS"]),
        (
            [
                ("customer", "You see they underscore March 99 at hotmail.com"),
                ("customer", "DJ underscore M-A-R-S-H-9-9"),
            ],
            ["EMAIL_ADDRESS"],
        ),
        ([("customer", "My mail showbond.co. at mail.com")], ["EMAIL_ADDRESS"]),
        # a whole date in the 1900s is a birthday; letters said as words inside an NI number
        ([("customer", "the 23rd of January 1968")], ["DATE_OF_BIRTH"]),
        ([("customer", "It's HR, 87, 37, 4, 5, be I think.")], ["UK_NINO"]),
    ],
)
def test_spoken_addresses_dates_and_codes(turns: list[tuple[str, str]], expected: list[str]) -> None:
    _, found = last(*turns)
    assert [e.value for e in found] == expected


@pytest.mark.parametrize(
    "text",
    [
        "It's July the 3rd, we spoke then.",
        "It's Model TV 50 5",
        "Your zip code please?",
        "It's HR who deals with that.",
        "I ordered it on the 3rd of March 2026.",
    ],
)
def test_not_names_not_birthdays(text: str) -> None:
    _, found = last(("customer", text))
    assert found == []


def test_a_partial_that_goes_on_with_an_open_number_is_redacted_too() -> None:
    redactor = CallRedactor(names=None)
    redactor.redact("It's 4 2 8 1 2 4 3 5", speaker="customer", start=0.0, end=3.0)
    partial = redactor.peek("Sorry, and then 1, 4, 3, 4, 9, O, double, 9", speaker="customer", start=4.0)
    assert [s.entity for s in partial.spans] == [Entity.CARD_NUMBER]
    final = redactor.redact("Sorry, and then 1, 4, 3, 4, 9, O, double, 9.", speaker="customer", start=4.0, end=7.0)
    assert final.revises is not None  # peek left the open number for the final


def test_a_cue_whose_number_was_given_is_spent() -> None:
    redacted, found = last(
        ("customer", "my card number is 4539 1488 0343 6467 thanks"), ("customer", "it took 2 goes, sorry")
    )
    assert found == [] and redacted == "it took 2 goes, sorry"


@pytest.mark.parametrize(
    ("turns", "expected"),
    [
        # a number whose first part was claimed goes on a few words into the next utterance
        (
            [("customer", "The long number 45509432"), ("customer", "Sorry my son's shouting, 77259518")],
            ["CARD_NUMBER"],
        ),
        (
            [("customer", "I'm in Spain, so plus 4, 4, double 7, 9, 4."), ("customer", "897, 814, that's it.")],
            ["PHONE_NUMBER"],
        ),
        # but not into an amount
        ([("customer", "The card number is 4, 5, 3, 2"), ("customer", "it was 40 pounds")], []),
        # sixteen digits in groups, no cue, not Luhn-valid (a digit misheard)
        ([("customer", "I think it's 4259 8747 1742 92433")], ["CARD_NUMBER"]),
        ([("customer", "The card number is 4 6 2 0 9 doubles 6 5 4 2 8 7 0 7 2")], ["CARD_NUMBER"]),
        # the cue before went with the number before; the one just after is this number's
        (
            [("customer", "428 5 6 2 5 0 1 6 double 3 7 4 1 4 expiry 0 3 28 and 7 0 2 on the back")],
            ["CARD_NUMBER", "SECURITY_CODE"],
        ),
        (
            [("customer", "The card is 1, 4, 1, 2, 7, 6, double 8 and the number on the back by itself 4, 9, 0.")],
            ["CARD_NUMBER", "SECURITY_CODE"],
        ),
    ],
)
def test_numbers_across_and_around(turns: list[tuple[str, str]], expected: list[str]) -> None:
    _, found = last(*turns)
    assert [e.value for e in found] == expected


@pytest.mark.parametrize(
    ("turns", "expected"),
    [
        # the caller said it is a phone: Luhn does not make it a card
        ([("customer", "The cell number is 415-819-9-1-9-1-9-1-1-5-7. I keep it on me.")], ["PHONE_NUMBER"]),
        # couriers', parcels' and bookings' numbers are not phones; "valid till" is an expiry
        ([("customer", "The courier gave me 4-4-2-1-9-8-7-7-3-065 to track it.")], []),
        ([("customer", "My parcel number is 3-1-1-4-4-9-2-2-0-5.")], []),
        ([("customer", "I've got Booking 6 737-332-091 for two nights.")], []),
        ([("agent", "And the expiry?"), ("customer", "valid till 09 27")], []),
        # Whisper's "secure key" for security, and "4O" for forty
        ([("customer", "The secure key code is 1, 2, 3.")], ["SECURITY_CODE"]),
        ([("customer", "and the three digits on the back, 4O 7.")], ["SECURITY_CODE"]),
    ],
)
def test_cues_seen_on_the_fourth_set(turns: list[tuple[str, str]], expected: list[str]) -> None:
    _, found = last(*turns)
    assert [e.value for e in found] == expected


def test_digits_before_a_question_stay_open() -> None:
    redactor = CallRedactor(names=None)
    held = redactor.redact("4 8 4 8 0 9 7 8. Are you getting them all?", speaker="customer", start=0.0, end=3.0)
    assert held.open_number


@pytest.mark.parametrize(
    ("turns", "expected"),
    [
        # three or four digits said as an answer, with no cue anywhere: a code, failing closed
        ([("customer", "Yes, 491.")], ["SECURITY_CODE"]),
        ([("customer", "8 9 3 8, that's the one.")], ["SECURITY_CODE"]),
        ([("customer", "2 7 0 2 yep")], ["SECURITY_CODE"]),
        ([("customer", "You have for 90.")], ["SECURITY_CODE"]),  # "four nine oh"
        # ... but not a year, an amount, a version, a time, a count, a model or a number a sentence goes on from
        ([("customer", "I bought it in 2019.")], []),
        ([("customer", "um, the kids tickets were 12.58.")], []),
        ([("customer", "the firmware is 1.0.3.")], []),
        ([("customer", "We close at 6 30 tonight.")], []),
        ([("customer", "I rang at 10 past 9 and again at quarter to 12.")], []),
        ([("customer", "So, 1, 2, 3, 4, all four lights are flashing.")], []),
        ([("customer", "It says step three of five.")], []),
        ([("customer", "The washing machine is a WM-1408.")], []),
        ([("customer", "I paid 249 for the phone and 40 for the case.")], []),
        ([("customer", "We've had a 40% increase in calls today.")], []),
        # ... nor part of a longer number: digits among others, or after an open one
        ([("customer", "the numbers 4 8 3 6, the 1 double 7, 9 double 3 9")], []),
        ([("customer", "My card number is 4 4 5 1"), ("customer", "And then 9 1 8 7")], ["CARD_NUMBER"]),
        ([("customer", "It's 4 4 5 1 8"), ("customer", "And then 9 1 8 7")], []),
        # a card named only as where the code is printed is not a card cue
        (
            [("agent", "And the four digit code on the front of the amex?"), ("customer", "Yep, 1 triple 6.")],
            ["SECURITY_CODE"],
        ),
        ([("customer", "and the small code printed over the long number 7950.")], ["SECURITY_CODE"]),
        ([("customer", "The flip side of the card says 814, that's the security one.")], ["SECURITY_CODE"]),
        ([("customer", "The parcel reference on the card they left is 1 6 0 0 4 2 9 8 3 1 5")], []),
        # fewer digits than a code right after its cue: part of one
        ([("customer", "The code on the back is 02.")], ["SECURITY_CODE"]),
        ([("customer", "My complaint case is 07, 14482690.")], []),
    ],
)
def test_bare_codes_fail_closed_and_what_is_not_one(turns: list[tuple[str, str]], expected: list[str]) -> None:
    _, found = last(*turns)
    assert [e.value for e in found] == expected


@pytest.mark.parametrize(
    ("turns", "expected"),
    [
        # Whisper's "(to) repul" and "pulse" for triple, inside a number
        ([("customer", "I want to use my Discover Card, the number is 6011 5169 6659 0 to repul 7.")], ["CARD_NUMBER"]),
        ([("customer", "I need to pulse it a few times.")], []),
        # "Discover" names a card: ten digits after it are not a phone
        ([("customer", "The Discover One, please 6 5 3 4 4 8 7 1 8 6")], ["CARD_NUMBER"]),
        # a card cut short stays unfinished even when the speaker says something else after it
        (
            [
                ("customer", "The card number 5 4 6 8 2 0 1 3 hang on there's someone at the door."),
                ("customer", "Sorry about that, 7-2-1-7, 1-8-double-3."),
            ],
            ["CARD_NUMBER"],
        ),
        # an account named as where the phone number is kept is not a bank cue
        (
            [
                ("agent", "And a phone number for the account."),
                ("customer", "Yeah, 919, 4 double 5, double 8, double 8."),
            ],
            ["PHONE_NUMBER"],
        ),
        ([("customer", "Best numbers myself, 404-676-76")], ["PHONE_NUMBER"]),
        # the first part of a phone number right after its cue, and the rest in the next utterance
        ([("customer", "The area code is 316"), ("customer", "and the number is 92 0 double 4.")], ["PHONE_NUMBER"]),
        ([("customer", "My work line is 0-1-7.")], ["PHONE_NUMBER"]),
        # card-length digits read one by one count their "double"s as digits read one by one too
        ([("customer", "From left to right, 6-0-1-double, 9-7-2-6-4-6-4, double-2-9-0.")], ["CARD_NUMBER"]),
        # a homophone between two pieces of one card: one span
        ([("customer", "The card number is 232, a 4-2-1, 3-6-3, 8-3-1-4.")], ["CARD_NUMBER"]),
    ],
)
def test_cards_and_phones_seen_on_the_fifth_set(turns: list[tuple[str, str]], expected: list[str]) -> None:
    _, found = last(*turns)
    assert [e.value for e in found] == expected


@pytest.mark.parametrize(
    ("turns", "expected"),
    [
        # Whisper's comma before the "at" of a written domain, and any country's two-letter domain
        ([("customer", "use my work address, please f.o say, at herocleaning.co.uk.")], ["EMAIL_ADDRESS"]),
        ([("customer", "It's hell at wexforddesign.ba.")], ["EMAIL_ADDRESS"]),
        # "add" and "had" for "at", where a domain follows
        ([("customer", "patrick dot o do you add outlet dot com")], ["EMAIL_ADDRESS"]),
        ([("customer", "I had lunch at noon.")], []),
        ([("customer", "We had sky for years.")], []),
        # a three-letter spelling right after the address was said
        (
            [("customer", "It's hell at wexforddesign.ba."), ("customer", "H-A-L and the rest as I said.")],
            ["EMAIL_ADDRESS"],
        ),
    ],
)
def test_emails_seen_on_the_fourth_set(turns: list[tuple[str, str]], expected: list[str]) -> None:
    _, found = last(*turns)
    assert [e.value for e in found] == expected
