"""Stage one inside `leaf train` reports its errors through the progress contract's error event."""

import json

from leaf_core.cli.main import main


def test_a_failing_stage_one_gives_the_error_event_and_exit_code_2(tmp_path, capsys):
    missing = tmp_path / "no-such-dataset"
    code = main(["train", "--data", str(missing), "--out", str(tmp_path / "run"), "--autoencoder", "stage-one",
                 "--progress-jsonl"])
    captured = capsys.readouterr()
    events = [json.loads(line) for line in captured.out.splitlines()]  # stdout: JSON lines only
    assert code == 2
    assert [e["event"] for e in events] == ["notice", "error"]
    assert str(missing) in events[1]["message"]
    assert len([line for line in captured.err.splitlines() if str(missing) in line]) == 1
