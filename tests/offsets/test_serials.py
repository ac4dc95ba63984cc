import pytest

from offsets.serials import format_serial, parse_serial


def test_the_article_serial_is_formatted_as_domain_says():
    assert (
        format_serial("2023P01", "WH-PV-0001", 2022, 1, 4269)
        == "WHCER-2023P01-WH-PV-0001-2022-000000001-000004269"
    )


def test_parsing_from_the_end_handles_the_hyphens_of_the_project_code():
    serial = parse_serial("whcer-2023P01-WH-PV-0001-2022-000000001-000004269 ")
    assert (serial.phase_code, serial.project_code, serial.vintage) == ("2023P01", "WH-PV-0001", 2022)
    assert (serial.first_unit, serial.last_unit, serial.quantity) == (1, 4269, 4269)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "WHCER-2023P01-WH-PV-0001-2022-000000001",  # one unit field
        "WHCER-2023P01-WH-PV-0001-2022-1-4269",  # units not 9 digits
        "XYZ-2023P01-WH-PV-0001-2022-000000001-000004269",
        "WHCER-2023P01-WH-PV-0001-22-000000001-000004269",  # vintage
        "WHCER-2023P01-WH-PV-0001-2022-000004269-000000001",  # reversed range
        "WHCER-2023P01-WH-PV-0001-2022-000000000-000000001",  # unit 0
        "WHCER--2022-000000001-000004269",
    ],
)
def test_malformed_serials_are_not_serials(text):
    assert parse_serial(text) is None


def test_round_trip():
    text = format_serial("2024P03", "WH-DR-0012", 2024, 123456789, 123456799)
    serial = parse_serial(text)
    assert (
        format_serial(
            serial.phase_code, serial.project_code, serial.vintage, serial.first_unit, serial.last_unit
        )
        == text
    )
