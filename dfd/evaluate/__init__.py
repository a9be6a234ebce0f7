"""Evaluation: the run-folder contract (`run_folder`: what a finished run holds and how to
load it), the report (`report`: metrics.json and plots) and the robustness suite
(`robustness`: degradations of the source image, shared with the export's device check).

`python -m dfd.evaluate` (`__main__.py`) is the binary.
"""
