"""Unified Social Credit Codes (GB 32100-2015) and resident identity numbers (GB 11643-1999)."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone, translation

from registry.identifiers import (
    CREDIT_CODE_ALPHABET,
    DIGITS,
    credit_code_check_character,
    identity_check_character,
    make_credit_code,
    make_identity_number,
    normalise,
    validate_credit_code,
    validate_identity_number,
)

# The worked example printed in GB 32100-2015 and widely reproduced. Checked by hand below.
PUBLISHED_CREDIT_CODE = "91350100M000100Y43"
# The example of GB 11643-1999 (a woman born 1949-12-31 in Chaoyang district, Beijing).
PUBLISHED_IDENTITY_NUMBER = "11010519491231002X"

# Built with make_* from arbitrary bodies; their check characters come from the module itself.
CREDIT_BODY = "91420100MA4K12345"
IDENTITY_BODY = "42010619850317123"


def error_code(validator, value: str) -> str:
    with pytest.raises(ValidationError) as caught:
        validator(value)
    return caught.value.code


def english_message(validator, value: str) -> str:
    with translation.override("en"), pytest.raises(ValidationError) as caught:
        validator(value)
    return caught.value.messages[0]


# --- check characters computed independently --------------------------------------------------------


def test_published_credit_code_check_character_by_hand():
    # Values in the alphabet: 9 1 3 5 0 1 0 0 M=21 0 0 0 1 0 0 Y=30 4
    # times weights:          1 3 9 27 19 26 16 17 20 29 25 13 8 24 10 30 28
    # products: 9 + 3 + 27 + 135 + 0 + 26 + 0 + 0 + 420 + 0 + 0 + 0 + 8 + 0 + 0 + 900 + 112 = 1640
    # 1640 = 52 * 31 + 28, so the check value is 31 - 28 = 3 and the check character is "3".
    products = [9 * 1, 1 * 3, 3 * 9, 5 * 27, 0, 1 * 26, 0, 0, 21 * 20, 0, 0, 0, 1 * 8, 0, 0, 30 * 30, 4 * 28]
    assert sum(products) == 1640
    assert 1640 % 31 == 28
    assert CREDIT_CODE_ALPHABET[31 - 28] == "3"
    assert credit_code_check_character(PUBLISHED_CREDIT_CODE[:17]) == "3"
    assert validate_credit_code(PUBLISHED_CREDIT_CODE) == PUBLISHED_CREDIT_CODE


def test_published_identity_number_check_character_by_hand():
    # digits:  1 1 0 1 0 5 1 9 4 9 1 2 3 1 0 0 2
    # weights: 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2
    # products: 7 + 9 + 0 + 5 + 0 + 20 + 2 + 9 + 24 + 27 + 7 + 18 + 30 + 5 + 0 + 0 + 4 = 167
    # 167 mod 11 = 2, and "10X98765432"[2] is "X".
    products = [7, 9, 0, 5, 0, 20, 2, 9, 24, 27, 7, 18, 30, 5, 0, 0, 4]
    assert sum(products) == 167
    assert 167 % 11 == 2
    assert identity_check_character(PUBLISHED_IDENTITY_NUMBER[:17]) == "X"
    assert validate_identity_number(PUBLISHED_IDENTITY_NUMBER) == PUBLISHED_IDENTITY_NUMBER


def test_credit_code_check_value_31_becomes_0():
    # "10000000000000000" sums to 1; 31 - 1 = 30 -> "Y". "0" * 17 sums to 0; 31 - 0 = 31 -> 0 -> "0".
    assert credit_code_check_character("1" + "0" * 16) == "Y"
    assert credit_code_check_character("0" * 17) == "0"


def test_identity_check_character_for_sum_zero_is_1():
    assert identity_check_character("0" * 17) == "1"


# --- make_* and validators accept what they make -----------------------------------------------------


def test_make_credit_code_round_trips():
    code = make_credit_code(CREDIT_BODY)
    assert code[:17] == CREDIT_BODY
    assert len(code) == 18
    assert validate_credit_code(code) == code


def test_make_identity_number_round_trips():
    number = make_identity_number(IDENTITY_BODY)
    assert number[:17] == IDENTITY_BODY
    assert validate_identity_number(number) == number


@pytest.mark.parametrize("authority", ["1", "3", "5", "8", "9", "A", "N", "Y"])
def test_every_registration_authority_is_accepted(authority):
    code = make_credit_code(authority + CREDIT_BODY[1:])
    assert validate_credit_code(code) == code


def test_check_character_functions_refuse_malformed_input():
    for bad in ["", "1" * 16, "1" * 18, "9142010OMA4K12345"]:
        with pytest.raises(ValueError):
            credit_code_check_character(bad)
    for bad in ["", "1" * 16, "1" * 18, "4201061985031712X"]:
        with pytest.raises(ValueError):
            identity_check_character(bad)


# --- normalisation ------------------------------------------------------------------------------------


def test_normalise_strips_removes_inner_whitespace_and_upper_cases():
    assert normalise("  9135 0100 m000 100y 43\n") == PUBLISHED_CREDIT_CODE
    assert normalise("\t110105 19491231 002x ") == PUBLISHED_IDENTITY_NUMBER
    assert normalise("1101\u300005") == "110105"  # the ideographic space of Chinese input methods


def test_validators_return_the_normalised_value():
    assert validate_credit_code(" 91350100m000100y43 ") == PUBLISHED_CREDIT_CODE
    assert validate_credit_code("9135 0100 M000 100Y 43") == PUBLISHED_CREDIT_CODE
    assert validate_identity_number("11010519491231002x") == PUBLISHED_IDENTITY_NUMBER
    assert validate_identity_number(" 110105 19491231 002X\n") == PUBLISHED_IDENTITY_NUMBER


# --- credit code errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("", "length"),
        (PUBLISHED_CREDIT_CODE[:17], "length"),
        (PUBLISHED_CREDIT_CODE + "0", "length"),
        ("91350100M000100I43", "character"),  # I
        ("91350100O000100Y43", "character"),  # O
        ("91350100M000100Z43", "character"),  # Z
        ("91350100S000100Y43", "character"),  # S
        ("91350100V000100Y43", "character"),  # V
        ("9135-100M000100Y43", "character"),
        ("91350100M000100Y4中", "character"),
        ("01350100M000100Y43", "authority"),
        ("B1350100M000100Y43", "authority"),
        ("9135A100M000100Y43", "division"),
        ("91350100M000100Y44", "checksum"),
        ("91350100M000100Y34", "checksum"),  # two neighbours swapped
    ],
)
def test_invalid_credit_codes_give_specific_codes(value, code):
    assert error_code(validate_credit_code, value) == code


def test_credit_code_errors_that_would_be_masked_are_reported_specifically():
    # A wrong authority or division with a correct check character is still reported as such.
    assert error_code(validate_credit_code, make_credit_code("0" + CREDIT_BODY[1:])) == "authority"
    assert error_code(validate_credit_code, make_credit_code("91A2" + CREDIT_BODY[4:])) == "division"


def test_credit_code_messages_say_what_is_wrong():
    assert english_message(validate_credit_code, "9135 0100 M000") == (
        "A Unified Social Credit Code has 18 characters; this one has 12."
    )
    assert english_message(validate_credit_code, "91350100M000100I43") == (
        "The character “I” at position 16 is not used in Unified Social Credit Codes "
        "(the letters I, O, Z, S and V never appear)."
    )
    assert english_message(validate_credit_code, "01350100M000100Y43") == (
        "The first character (registration authority) must be a digit from 1 to 9, A, N or Y."
    )
    message = english_message(validate_credit_code, "91350100M000100Y44")
    assert message.startswith("The check character (the last one) does not match")
    assert "“3”" not in message and " 3" not in message  # the correct check character is not revealed


# --- identity number errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("", "length"),
        ("110105194912310", "length"),  # the old 15-digit numbers are not accepted
        (PUBLISHED_IDENTITY_NUMBER + "1", "length"),
        ("1101051949123100XX", "character"),
        ("11010519491231002A", "character"),
        ("1101051949I231002X", "character"),
        ("11010519491231002Y", "character"),
        ("11010519491231002-", "character"),
        ("１1010519491231002X", "character"),  # a full-width digit is not an ASCII digit
        ("110105194912310021", "checksum"),
        ("11010519491231020X", "checksum"),  # two neighbours swapped
    ],
)
def test_invalid_identity_numbers_give_specific_codes(value, code):
    assert error_code(validate_identity_number, value) == code


@pytest.mark.parametrize(
    "birth",
    [
        "19491331",  # month 13
        "19490230",  # 30 February
        "19000229",  # 1900 was not a leap year
        "18991231",  # before 1900
        "00000000",
        "29990101",  # in the future
    ],
)
def test_impossible_birth_dates_are_refused_even_with_a_correct_check_character(birth):
    number = make_identity_number("110105" + birth + "002")
    assert error_code(validate_identity_number, number) == "birth_date"


@pytest.mark.parametrize("birth", ["19000101", "20000229", "19491231"])
def test_possible_birth_dates_are_accepted(birth):
    number = make_identity_number("110105" + birth + "002")
    assert validate_identity_number(number) == number


def test_born_today_is_accepted_and_tomorrow_is_not():
    today = timezone.localdate()
    tomorrow = today + datetime.timedelta(days=1)
    assert validate_identity_number(make_identity_number(f"110105{today:%Y%m%d}002"))
    number = make_identity_number(f"110105{tomorrow:%Y%m%d}002")
    assert error_code(validate_identity_number, number) == "birth_date"


def test_identity_messages_say_what_is_wrong():
    assert english_message(validate_identity_number, "1101 0519 4912") == (
        "A resident identity number has 18 characters; this one has 12."
    )
    assert english_message(validate_identity_number, "1101051949123100XX") == (
        "A resident identity number has digits in its first 17 positions, and a digit or X in the last."
    )
    assert english_message(validate_identity_number, make_identity_number("11010519491331002")) == (
        "Positions 7 to 14 must be a real date of birth (YYYYMMDD)."
    )
    assert english_message(validate_identity_number, "110105194912310021") == (
        "The check character (the last one) does not match the first 17 characters: "
        "please look for a typing error."
    )


# --- any single substitution in the first 17 characters is detected ----------------------------------
#
# Changing position i from a to b changes the weighted sum by (b - a) * w_i. For credit codes
# 0 < |b - a| < 31 and w_i = 3^(i-1) is not 0 mod 31; for identity numbers 0 < |b - a| <= 9 and
# w_i = 2^(18-i) is not 0 mod 11. Both moduli are prime, so the sum mod the modulus always changes, and
# the map from the sum mod the modulus to the check character is one-to-one in both schemes.


@pytest.mark.parametrize("code", [PUBLISHED_CREDIT_CODE, make_credit_code(CREDIT_BODY)])
def test_any_single_substitution_breaks_the_credit_code_check(code):
    for index in range(17):
        for char in CREDIT_CODE_ALPHABET:
            if char == code[index]:
                continue
            changed = code[:index] + char + code[index + 1 :]
            assert credit_code_check_character(changed[:17]) != code[17], (index, char)
            expected = {"checksum"}
            if index == 0:
                expected.add("authority")
            if 2 <= index <= 7:
                expected.add("division")
            assert error_code(validate_credit_code, changed) in expected, (index, char)


@pytest.mark.parametrize("number", [PUBLISHED_IDENTITY_NUMBER, make_identity_number(IDENTITY_BODY)])
def test_any_single_substitution_breaks_the_identity_check(number):
    for index in range(17):
        for digit in DIGITS:
            if digit == number[index]:
                continue
            changed = number[:index] + digit + number[index + 1 :]
            assert identity_check_character(changed[:17]) != number[17], (index, digit)
            # A change inside the birth date may make the date impossible, which is reported first.
            expected = {"checksum", "birth_date"} if 6 <= index <= 13 else {"checksum"}
            assert error_code(validate_identity_number, changed) in expected, (index, digit)
