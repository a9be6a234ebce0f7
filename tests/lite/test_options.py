"""The device programs' shared options: one definition, one range, one line for a bad value."""

import pytest

from dfd.lite import __main__ as lite_cli
from dfd.lite import options

BAD_NUMBERS = ("nan", "inf", "-inf", "1e-300", "-1", "0", "1e300", "", "ten", "0x10",
               "9" * 5000)


def run_parser(parse, argv, capsys):
    with pytest.raises(SystemExit) as exit:
        parse(argv)
    err = capsys.readouterr().err
    return exit.value.code, err


def lite_argv(*flags):
    return ["classify", "model.tflite", "photo.jpg", *flags]


@pytest.mark.parametrize("flag", ["--threads", "--min_face", "--max_file_mb", "--threshold",
                                  "--explain_grid"])
@pytest.mark.parametrize("value", BAD_NUMBERS)
def test_dfd_lite_refuses_every_bad_number_in_one_line(flag, value, capsys, tmp_path):
    extra = ["--explain", f"--explain_dir={tmp_path}"] if flag == "--explain_grid" else []
    if flag == "--threshold" and value in ("ten", "1e-300", "0"):
        pytest.skip("a threshold may be 0 or tiny, and a word is a model.json name")
    code, err = run_parser(lite_cli.parse_args, lite_argv(f"{flag}={value}", *extra), capsys)
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"dfd-lite classify: argument {flag}: must be")


def test_help_text_names_the_range_of_each_numeric_flag():
    parser = options.Parser(prog="x")
    options.add_model_options(parser)
    options.EXPLAIN_GRID.add(parser)
    text = " ".join(parser.format_help().split())
    for number in (options.THREADS, options.MIN_FACE, options.MAX_FILE_MB,
                   options.EXPLAIN_GRID):
        assert f"({number.range_text}" in text
    assert "a number from 0 to 1 or a model.json threshold name" in text


@pytest.mark.parametrize("number,good,bad", [
    (options.THREADS, [1, "8", 64.0], [0, 65, 2.5, True, "2.5", float("nan")]),
    (options.MIN_FACE, [48, "64", 8192.0], [47.9, 32, float("inf"), 1e-300, "nan", None]),
    (options.EXPLAIN_GRID, [2, "32"], [1, 33, 128, "1e1"]),
])
def test_library_and_cli_share_one_check(number, good, bad):
    for value in good:
        assert number.low <= number.check(value) <= number.high
    for value in bad:
        with pytest.raises(ValueError, match=f"^{number.flag} must be"):
            number.check(value)


def test_threshold_is_a_number_in_range_or_a_name():
    assert options.threshold("0.25") == 0.25 and options.threshold("eer_validation") == \
        "eer_validation"
    for bad in ("nan", "inf", "-0.1", "1.5", "0.5.5", "a b"):
        with pytest.raises(Exception, match="must be a number from 0 to 1"):
            options.threshold(bad)


def test_dfd_score_refuses_bad_numbers_before_beam(capsys):
    from dfd.score import __main__ as score_cli
    for flag in ("--threads", "--batch_size", "--min_face", "--max_file_mb"):
        code, err = run_parser(score_cli.parse_args, ["--model=m", "--input=x", "--output=o",
                                                      f"{flag}=nan"], capsys)
        assert code == 2 and err.count("\n") == 1 and f"argument {flag}: must be" in err


def test_dfd_serve_names_request_threads_apart_and_keeps_old_names_as_aliases(capsys):
    from dfd.serve import __main__ as serve_cli
    args = serve_cli.parse_args(["--model=m", "--request_threads=3", "--model_threads=2"])
    assert (args.request_threads, args.threads) == (3, 2)
    assert capsys.readouterr().err == ""
    args = serve_cli.parse_args(["--model=m", "--threads=5", "--max_upload_mb=2"])
    assert args.request_threads == 5 and args.threads is None and args.max_file_mb == 2
    err = capsys.readouterr().err
    assert "--threads is deprecated" in err and "--max_upload_mb is deprecated" in err
    for flag in ("--port", "--request_threads", "--threads", "--model_threads",
                 "--max_decodes", "--max_connections", "--max_upload_mb", "--max_file_mb",
                 "--min_face"):
        code, err = run_parser(serve_cli.parse_args, ["--model=m", f"{flag}=nan"], capsys)
        assert code == 2 and err.count("\n") == 1 and f"argument {flag}: must be" in err
    code, err = run_parser(serve_cli.parse_args,
                           ["--model=m", "--threads=2", "--request_threads=3"], capsys)
    assert code == 2 and "disagree" in err
