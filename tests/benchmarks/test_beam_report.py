"""The Beam report benchmark measures what issue 24 asks of the build: a combined report
whose size does not grow with the files listed, only with the bad ones."""

from benchmarks import beam_report


def test_combined_report_is_flat_in_good_files_and_gathering_is_not():
    small, large = beam_report.measure(2000, 0.0), beam_report.measure(20000, 0.0)
    assert small["bad_files"] == large["bad_files"] == 0
    assert large["combined_pickled_kb"] == small["combined_pickled_kb"]
    assert large["gathered_mb"] > 8 * small["gathered_mb"]
    assert large["combined_peak_mb"] < large["gathered_mb"] / 100


def test_bad_files_are_the_only_entries_the_report_keeps():
    row = beam_report.measure(5000, 0.01)
    assert row["bad_files"] == 50
    empty = beam_report.measure(5000, 0.0)
    assert row["combined_pickled_kb"] > empty["combined_pickled_kb"]
