"""The A/B table (`python3 -m benchmarks.ab`, behind scripts/bench-ab.sh) puts each revision's
rounds in its own column, in order, from records named PART-REVISION-ROUND.json: read here from
the A/B records kept in the repository."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RECORDS = REPO / "benchmarks" / "results" / "ab-issue11" / "58d4773-a66393f"


def table(*args):
    # As scripts/bench.sh and bench-ab.sh run the drivers: the repository and Tests/ on the path.
    env = dict(os.environ, PYTHONPATH="%s:%s" % (REPO, REPO / "Tests"))
    done = subprocess.run([sys.executable, "-m", "benchmarks.ab", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60, env=env)
    return done.returncode, done.stdout, done.stderr


def test_each_revisions_rounds_go_in_its_column_in_order():
    code, out, err = table("--a", "58d4773", "--b", "a66393f", *sorted(str(p) for p in RECORDS.glob("*.json")))
    assert code == 0, err
    rows = out.splitlines()
    assert rows[0] == "| part | figure | 58d4773 | a66393f |"
    assert "| invocation | native QoS 0 saturation: answers/s | 6472 / 6389 | 8529 / 10896 |" in rows, out
    assert "| invocation | native QoS 0 5000/s: errors + missing | 2231 / 2578 | 0 / 0 |" in rows, out
    assert "| deployment | cached: ms median | 18.95 / 18.57 | 10.42 / 14.30 |" in rows, out


def test_a_record_not_named_part_revision_round_is_refused():
    code, _, err = table("--a", "x", "--b", "y", str(REPO / "benchmarks" / "results" / "suite-latest.json"))
    assert code != 0
    assert "is not named PART-REV-ROUND.json" in err


def test_a_revision_may_be_named_in_words_and_rounds_sort_as_numbers(tmp_path):
    # Issue 11's third step was measured before its commit existed: its records say "layout".
    records = sorted((RECORDS.parent / "9f07589-layout").glob("*.json"))
    code, out, err = table("--a", "9f07589", "--b", "layout", *map(str, records))
    assert code == 0, err
    assert "| footprint | withFunctions.vmRssKB | 12468 / 12468 | 9252 / 9164 |" in out.splitlines(), out
    # Ten rounds: round 10 comes after round 9, not after round 1.
    source = RECORDS / "deployment-a66393f-1.json"
    for n in range(1, 11):
        (tmp_path / ("deployment-x-%d.json" % n)).write_text(source.read_text())
    code, out, err = table("--a", "x", "--b", "y", *sorted(str(p) for p in tmp_path.glob("*.json")))
    assert code == 0, err
    row = [line for line in out.splitlines() if line.startswith("| deployment | cached: ms median |")][0]
    assert row.split("|")[3].strip() == " / ".join(["10.42"] * 10), row
