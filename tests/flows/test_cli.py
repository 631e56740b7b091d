"""The `forecast` command's contract: exit codes, one-line reasons, no secrets printed."""

from flows.cli import main
from tests.support import free_port


def test_missing_landing_directory_exits_1_with_a_one_line_reason(tmp_path, stack, capsys):
    params = stack(tmp_path)
    code = main(
        [
            "run",
            "--landing",
            str(tmp_path / "nowhere"),
            "--lake-block",
            params.lake_block,
            "--mongo-block",
            params.mongo_block,
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 1
    # Besides the progress lines of the stages (`stage ingest: failed in 0.1 s`), one line says why.
    progress, reason = err.splitlines()[:-1], err.splitlines()[-1]
    assert all(line.startswith("stage ") for line in progress)
    assert any(line.startswith("stage ingest: failed in ") for line in progress)
    assert reason.startswith("forecast run: error: ") and "does not exist" in reason


def test_mongo_uri_password_never_reaches_stdout_or_stderr(tmp_path, stack, capsys, monkeypatch):
    from tasks.load import prepare_collections
    from tasks.transform import select_for_window

    for task in (select_for_window, prepare_collections):  # the first MongoDB reads: still
        monkeypatch.setattr(task, "retry_delay_seconds", [0, 0, 0])  # retried, without waiting
    params = stack(tmp_path)
    uri = f"mongodb://reader:hunter2@127.0.0.1:{free_port()}/?serverSelectionTimeoutMS=200"
    monkeypatch.setenv("FORECAST_MONGO_URI", uri)
    code = main(["run", "--landing", str(tmp_path), "--lake-block", params.lake_block])
    out, err = capsys.readouterr()
    assert code == 1
    assert "hunter2" not in out + err and "***" in err


def test_demo_writes_three_real_format_files(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".json", ".xlsx", ".xlsx"]


def test_a_landing_with_nothing_to_read_is_partial_and_lists_what_it_ignored(
    tmp_path, stack, capsys, monkeypatch
):
    monkeypatch.setenv("FORECAST_EMF", "stdout")
    landing = tmp_path / "landing"
    (landing / "stream").mkdir(parents=True)
    (landing / "README.txt").write_text("not data")
    (landing / "stream" / ".part-0001.jsonl").write_text("{}")
    params = stack(landing)
    code = main(
        ["run", "--landing", str(landing), "--lake-block", params.lake_block,
         "--mongo-block", params.mongo_block]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 3, out  # partial: a broken upstream sync must not look healthy
    assert '"RunSucceeded":0' in out and '"Status":"partial"' in out  # FORECAST_EMF=stdout
    assert "files: 2 (0 failed, 2 ignored)" in out
    assert "IGNORED README.txt: not a type the pipeline reads" in out
    assert "IGNORED stream/.part-0001.jsonl: a hidden or temporary file" in out
    assert "nothing to read: every landing object (2) was ignored" in out


def test_an_empty_landing_is_partial(tmp_path, stack, capsys):
    params = stack(tmp_path)
    code = main(
        ["run", "--landing", str(tmp_path), "--lake-block", params.lake_block,
         "--mongo-block", params.mongo_block]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 3, out
    assert "nothing to read: the landing held no object" in out
