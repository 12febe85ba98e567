"""Reading `send --csv` people files: the columns, the delimiter, the encodings, and each
bad row reported at its own line while the others go on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from closedloop.daemon.triggers.people_csv import (
    PeopleFileError,
    PersonRow,
    RowError,
    open_people,
    read_people,
)

SEGMENTS = ("region", "plan")


def _read(text: str, segments: tuple[str, ...] = SEGMENTS) -> list[PersonRow | RowError]:
    return list(read_people(text.splitlines(keepends=True), segments))


def test_every_column_and_segment_is_read() -> None:
    """A full row gives a PersonRow with each value; the language is the shipped code."""
    rows = _read("email,name,language,time zone,region\n"
                 "ada@example.com,Ada,fr-CA,Europe/Paris,north\n")
    assert [PersonRow(line=2, email="ada@example.com", name="Ada", language="fr",
                   timezone="Europe/Paris", segments={"region": "north"})] == rows


def test_semicolon_delimiter_is_sniffed_from_the_header() -> None:
    """A ';' file (what spreadsheets in many locales save) reads like a ',' file."""
    rows = _read("E-mail;Name;Timezone\nbo@example.com;Bo, Jr;America/New_York\n")
    assert [PersonRow(line=2, email="bo@example.com", name="Bo, Jr",
                   timezone="America/New_York")] == rows


def test_byte_order_mark_is_dropped(tmp_path: Path) -> None:
    """Excel's "CSV UTF-8" starts with a BOM; the header still names 'email'."""
    path = tmp_path / "p.csv"
    path.write_bytes("\ufeffemail,name\r\nzoë@example.com,Zoë\r\n".encode())
    with open_people(path) as handle:
        rows = list(read_people(handle))
    assert [PersonRow(line=2, email="zoë@example.com", name="Zoë")] == rows


def test_bad_rows_carry_their_line_numbers_and_the_rest_go_on() -> None:
    """Each kind of malformed row is one RowError at its line; good rows after it are read;
    blank lines count as lines but give nothing."""
    rows = _read("email,language,time zone\n"
                 "good1@example.com,,\n"
                 "not-an-address,,\n"
                 "\n"
                 "x@example.com,klingon,\n"
                 "y@example.com,,Mars/Olympus\n"
                 "z@example.com,en\n"
                 ",en,\n"
                 "good2@example.com,EN,UTC\n")
    assert [
        PersonRow(line=2, email="good1@example.com"),
        RowError(3, "not an e-mail address: 'not-an-address'"),
        RowError(5, rows[2].problem if isinstance(rows[2], RowError) else "?"),
        RowError(6, "unknown time zone 'Mars/Olympus' (expected an IANA name such as "
                    "Europe/Oslo)"),
        RowError(7, "expected 3 values, found 2 (separated by ',')"),
        RowError(8, "the e-mail address is empty"),
        PersonRow(line=9, email="good2@example.com", language="en", timezone="UTC"),
    ] == rows
    assert isinstance(rows[2], RowError)
    assert rows[2].problem.startswith("unknown language 'klingon' (available: ")


def test_a_quoted_line_break_is_reported_at_the_row_s_first_line() -> None:
    """A value spanning two lines is one row; the next row's number counts both lines."""
    rows = _read('email,name\na@example.com,"two\nlines"\nbad,x\n')
    assert [PersonRow(line=2, email="a@example.com", name="two\nlines"),
            RowError(4, "not an e-mail address: 'bad'")] == rows


def test_bytes_that_are_not_utf8_reject_their_row_only(tmp_path: Path) -> None:
    """A Latin-1 row in a UTF-8 file is rejected at its line; the file is still read."""
    path = tmp_path / "p.csv"
    path.write_bytes(b"email,name\nzoe@example.com,Zo\xeb\nok@example.com,Ok\n")
    with open_people(path) as handle:
        rows = list(read_people(handle))
    assert [RowError(2, "not UTF-8 text (save the file as UTF-8)"),
            PersonRow(line=3, email="ok@example.com", name="Ok")] == rows


@pytest.mark.parametrize(("text", "message"), [
    ("", "the file is empty: expected a header row naming an 'email' column"),
    ("name,language\n", "line 1: the header has no 'email' column (found: 'name,language'; "
                        "values are separated by ',' or ';')"),
    ("email,shoe size\n", "line 1: unknown column(s) 'shoe_size'; expected some of: email, "
                          "name, language, time zone, plan, region (segment columns are the "
                          "names in [reporting.segments])"),
    ("email,Email\n", "line 1: column 'email' appears twice"),
])
def test_a_bad_header_stops_the_whole_file(text: str, message: str) -> None:
    """Column mistakes are the file's, not a row's: one clear error, nothing read."""
    with pytest.raises(PeopleFileError) as caught:
        _read(text)
    assert message == str(caught.value)


def test_a_segment_column_needs_the_segment_configured() -> None:
    """'region' is a column only when [reporting.segments] declares it."""
    with pytest.raises(PeopleFileError):
        _read("email,region\na@example.com,north\n", segments=())


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PeopleFileError) as caught:
        open_people(tmp_path / "nope.csv")
    assert str(caught.value).startswith("cannot read ")


def test_reading_is_lazy() -> None:
    """Rows come as they are read: the first is yielded before a later line is produced,
    so a file of any size takes the memory of one row."""
    produced: list[int] = []

    def lines() -> Iterator[str]:
        yield "email\n"
        for n in range(1_000_000):
            produced.append(n)
            yield f"p{n}@example.com\n"

    first = next(read_people(lines()))
    assert PersonRow(line=2, email="p0@example.com") == first
    assert len(produced) < 10
