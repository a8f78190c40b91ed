"""`sendwatch import MAPPING DIR`: a council's CSV and Excel exports become events through a
mapping file (docs/mapping.md), pseudonymised at the door and idempotent on re-import."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import orjson
import pytest
from typer.testing import CliRunner

from exchange.mapping import MappingError, parse_mapping
from exchange.pseudonym import Pseudonyms
from sendwatch.cli import app
from streams.log import EventLog

SECRET = "a-council-secret-of-some-length"
UPNS = ("A123456789012", "B987654321098", "C555555555555")

MAPPING = """\
source: casefile
dates: ["%Y-%b-%d %H:%M:%S", "%d/%m/%Y", iso]
tables:
  person:
    file: "person*.csv"
    key: person_id
    columns:
      person_id: [persontableid, Person ID]
      upn: [upn, UPN]
  requests:
    file: "requests.xlsx"
    sheet: Requests
    key: request_id
    parent: {table: person, column: person_id}
    columns:
      request_id: [requeststableid, Request ID]
      person_id: [persontableid, Person ID]
      received: [receiveddate, Date Request Was Received]
      outcome: [requestoutcome]
      outcome_date: [requestoutcomedate, Request Outcome Date]
      issued: [Plan Issued]
case: {table: person, column: upn}
events:
  - table: requests
    type: request.received
    date: received
    data:
      requested_by: parent
  - table: requests
    type:
      column: outcome
      map: {A: assessment.decided, R: assessment.decided, W: request.withdrawn}
    date: outcome_date
    data:
      decision: {column: outcome, map: {A: assess, R: refuse, W: null}}
  - table: requests
    type: plan.issued
    date: issued
"""


def write_export(folder: Path, *, bad_date: bool = False) -> None:
    """A person CSV (with a name, birth date and postcode the mapping never reads) and an
    Excel workbook of requests: a date per stage, Blade and dd/mm/yyyy text and a date cell."""
    folder.mkdir(exist_ok=True)
    (folder / "person.csv").write_text(
        "\ufeffpersontableid;upn;forename;dob;postcode\n"
        f"1;{UPNS[0]};Ann;2014-03-01;CT1 1AA\n"
        f"2;{UPNS[1].lower()} ;Bob;2015-05-02;ME14 1XX\n"
        f"3;{UPNS[2]};Cat;2016-07-03;TN1 2BB\n",
        encoding="utf-8",
    )
    book = openpyxl.Workbook()
    book.active.title = "Notes"
    sheet = book.create_sheet("Requests")
    sheet.append(["Request ID", "Person ID", "Date Request Was Received", "requestoutcome",
                  "Request Outcome Date", "Plan Issued", "Child Name"])  # fmt: skip
    import datetime as dt

    sheet.append([10, 1, "2023-Sep-28 00:00:00", "A", "15/11/2023", dt.datetime(2024, 2, 9), "Ann"])
    sheet.append([11, 2, "01/02/2024", "W", "2024-03-01", None, "Bob"])
    sheet.append([12, 3, "31/02/2024" if bad_date else "05/03/2024", "R", "20/04/2024", None, "C"])
    book.save(folder / "requests.xlsx")


def run(tmp: Path, *args: str, secret: str | None = SECRET) -> tuple[int, str]:
    env = {"SENDWATCH_IMPORT_SECRET": secret}
    result = CliRunner().invoke(app, ["import", *args], env=env)
    return result.exit_code, result.output


@pytest.fixture(autouse=True)
def _here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the project's is read
    (tmp_path / "casefile.yml").write_text(MAPPING, encoding="utf-8")


def events(db: Path) -> list[dict[str, object]]:
    with EventLog.open_existing(db) as log:
        return [dict(record) for _, record in log.read()]


def test_a_csv_and_an_excel_workbook_become_the_events_the_mapping_describes(
    tmp_path: Path,
) -> None:
    write_export(tmp_path / "export")
    code, output = run(tmp_path, "casefile.yml", "export", "--db", "s.db")
    assert code == 0, output
    made = {
        (e["case_id"], e["type"], e["occurred_at"]): e["data"] for e in events(tmp_path / "s.db")
    }
    case = Pseudonyms(SECRET).case_id
    ann, bob, cat = (case(u) for u in UPNS)
    assert made == {
        # row 2: Blade's "2023-Sep-28 00:00:00" is a date; the decision dd/mm/yyyy; the plan
        # issued date an Excel date cell
        (ann, "request.received", "2023-09-28"): {"requested_by": "parent"},
        (ann, "assessment.decided", "2023-11-15"): {"decision": "assess"},
        (ann, "plan.issued", "2024-02-09"): {},
        # row 3: W maps to a withdrawal, whose decision field maps to null (left out)
        (bob, "request.received", "2024-02-01"): {"requested_by": "parent"},
        (bob, "request.withdrawn", "2024-03-01"): {},
        (cat, "request.received", "2024-03-05"): {"requested_by": "parent"},
        (cat, "assessment.decided", "2024-04-20"): {"decision": "refuse"},
    }
    assert case(UPNS[1].lower() + " ") == bob  # stripped and upper-cased before the hash
    assert {e["source"] for e in events(tmp_path / "s.db")} == {"casefile"}
    assert "events: accepted 7, duplicates 0, rejected 0" in output
    assert "table requests: 3 rows (requests.xlsx)" in output
    assert "dates covered: 2023-09-28 to 2024-04-20" in output


def test_importing_the_same_files_twice_changes_nothing(tmp_path: Path) -> None:
    write_export(tmp_path / "export")
    run(tmp_path, "casefile.yml", "export", "--db", "s.db")
    first = events(tmp_path / "s.db")
    code, output = run(tmp_path, "casefile.yml", "export", "--db", "s.db")
    assert code == 0, output
    assert "events: accepted 0, duplicates 7, rejected 0" in output
    assert events(tmp_path / "s.db") == first


def test_a_bad_row_is_a_dead_letter_naming_file_row_and_column(tmp_path: Path) -> None:
    write_export(tmp_path / "export", bad_date=True)  # 31/02/2024 on row 4
    code, output = run(tmp_path, "casefile.yml", "export", "--db", "s.db")
    assert code == 0, output
    assert "rows rejected: 1" in output
    assert "requests.xlsx row 4 column received: '31/02/2024' is not a date" in output
    with EventLog.open_existing(tmp_path / "s.db") as log:
        (letter,) = log.dead_letters()
    assert letter.origin == "requests.xlsx row 4 column received"
    assert "is not a date" in letter.reason
    kept = orjson.loads(letter.raw)
    assert kept["received"] == "31/02/2024" and "upn" not in kept
    # the rest of that row still makes its events: the decision of 20/04/2024
    assert any(e["occurred_at"] == "2024-04-20" for e in events(tmp_path / "s.db"))


def test_an_event_the_contract_refuses_is_a_dead_letter_named_by_its_row(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    write_export(folder)
    book = openpyxl.load_workbook(folder / "requests.xlsx")
    book["Requests"]["C3"] = "01/02/1994"  # Bob's request: before 2000, not plausible
    book.save(folder / "requests.xlsx")
    code, output = run(tmp_path, "casefile.yml", "export", "--db", "s.db")
    assert code == 0, output
    assert "events: accepted 6, duplicates 0, rejected 1" in output
    with EventLog.open_existing(tmp_path / "s.db") as log:
        (letter,) = log.dead_letters()
    assert letter.origin == "requests.xlsx row 3"
    assert "2000" in letter.reason
    assert "rejected requests.xlsx row 3: " in output  # the summary names the row too


def test_a_row_without_its_key_is_rejected_not_given_a_shared_id(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    write_export(folder)
    book = openpyxl.load_workbook(folder / "requests.xlsx")
    book["Requests"]["A3"] = None  # Bob's request (row 3) has no Request ID
    book.save(folder / "requests.xlsx")
    code, output = run(tmp_path, "casefile.yml", "export", "--check")
    assert code == 0, output
    assert "requests.xlsx row 3 column request_id: the row's key is empty" in output
    assert "would be accepted 5, duplicates 0" in output  # Bob's 2 events are not made


def test_no_raw_identifier_is_kept_anywhere(tmp_path: Path) -> None:
    write_export(tmp_path / "export", bad_date=True)
    run(tmp_path, "casefile.yml", "export", "--db", "s.db")
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("s.db*"))  # the WAL too
    assert stored
    for upn in UPNS:
        assert upn.encode() not in stored and upn.lower().encode() not in stored
    for private in (b"Ann", b"CT1 1AA", b"2014-03-01"):  # name, postcode, birth date
        assert private not in stored


def test_a_bad_mapping_is_refused_naming_its_line(tmp_path: Path) -> None:
    wrong = MAPPING.replace("    date: received\n", "    date: recieved\n")
    (tmp_path / "wrong.yml").write_text(wrong, encoding="utf-8")
    line = wrong.splitlines().index("    date: recieved") + 1
    code, output = run(tmp_path, "wrong.yml", ".", "--db", "s.db")
    assert code == 2
    assert f"wrong.yml line {line}: events[0].date: no column 'recieved' in table requests" in (
        output
    )
    assert not (tmp_path / "s.db").exists()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("source: casefile", "source: case file"), "line 1: source: String should match"),
        (("    type: plan.issued", "    type: plan.isued"), "'plan.isued' is not an event type"),
        (("    key: request_id", "    key: request"), "no column 'request' in table requests"),
        (("    type: plan.issued", "    type: request.received"), "give each rule an id"),
        (("dates:", "dates: [\n"), "not valid YAML"),
        (("column: upn}", "column: upn, fallback: [uln]}"), "case.fallback[0]: no column 'uln'"),
        (("requested_by: parent", "requested_by: {table: nosuch, column: x}"), "no table 'nosuch'"),
        (("requested_by: parent", "requested_by: {table: person, column: x}"),
         "no column 'x' in table person"),
        (("requested_by: parent", "requested_by: {table: person, column: upn}"),
         "holds the identifier"),
    ],
)  # fmt: skip
def test_mapping_errors_name_the_line(change: tuple[str, str], expected: str) -> None:
    with pytest.raises(MappingError) as error:
        parse_mapping(MAPPING.replace(*change), name="m.yml")
    assert expected in str(error.value)
    assert str(error.value).startswith("m.yml line ")


def test_the_identifier_may_not_be_read_into_an_event_through_a_parent_key() -> None:
    # when the person's key is the identifier itself, a child's parent column holds it too
    text = MAPPING.replace("    key: person_id\n", "    key: upn\n")
    text = text.replace("      requested_by: parent", "      requested_by: {column: person_id}")
    with pytest.raises(MappingError, match="holds the identifier"):
        parse_mapping(text, name="m.yml")


def test_no_secret_no_import(tmp_path: Path) -> None:
    write_export(tmp_path / "export")
    code, output = run(tmp_path, "casefile.yml", "export", "--db", "s.db", secret=None)
    assert code == 2
    assert "SENDWATCH_IMPORT_SECRET is not set" in output
    assert not (tmp_path / "s.db").exists()
    code, output = run(tmp_path, "casefile.yml", "export", secret="too short")
    assert code == 2 and "at least 16 characters" in output and "too short" not in output


def test_check_reports_and_writes_nothing(tmp_path: Path) -> None:
    write_export(tmp_path / "export", bad_date=True)
    code, output = run(tmp_path, "casefile.yml", "export", "--db", "s.db", "--check")
    assert code == 0, output
    assert "would be accepted 6" in output and "nothing written" in output
    assert "requests.xlsx row 4 column received" in output
    assert not (tmp_path / "s.db").exists()


def test_case_ids_fit_the_contract_and_depend_on_the_secret() -> None:
    one, other = Pseudonyms(SECRET), Pseudonyms(SECRET + "!")
    case = one.case_id(UPNS[0])
    assert len(case) <= 64 and case.isalnum()
    assert case == one.case_id(f" {UPNS[0].lower()}\t")
    assert case != other.case_id(UPNS[0])
    with pytest.raises(ValueError):
        Pseudonyms("short")
