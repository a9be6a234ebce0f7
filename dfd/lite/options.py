"""The options the three device programs share (`dfd-lite`, `dfd-serve`, `dfd-score`), each
defined once: its name, its one meaning, its range and its help.

Every number a user types is checked here, once, as a finite number inside a stated range,
and the range is printed in `--help`. "nan" passes a `<= 0` test and "1e-300" passes a
"positive" one, so a check spelled per program let both through to the face search (issue
25); here a value outside the range, or not a number at all, is one line naming the flag and
exit status 2 (`Parser.error`). The library side uses the same `Number.check` (the face
search refuses what the CLI refuses), so a range is never written twice.

Plain argparse, not absl: the device installs numpy, pillow and the interpreter, nothing
else. One meaning per name: `--threads` is interpreter threads in every program. In
`dfd-serve` it used to mean request threads; for this release it still does there, as a
deprecated alias of `--request_threads` (said on stderr when used), and the interpreter's
threads are `--model_threads` there until the alias goes. `--max_upload_mb` (dfd-serve) is
the same limit as `--max_file_mb` and kept as its deprecated alias.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
import sys

from dfd.common import verdicts
from dfd.imaging.gate import MAX_FILE_BYTES


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: `prog: --flag: what is wrong`, exit status 2 (argparse
    prints its whole usage first, which buries the line that matters)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


@dataclasses.dataclass(frozen=True)
class Number:
    """A numeric option: whole or real, within [low, high] (both inclusive)."""
    flag: str
    low: float
    high: float
    default: float | None
    help: str
    whole: bool = False
    unit: str = ""

    @property
    def range_text(self) -> str:
        kind = "a whole number" if self.whole else "a number"
        unit = f" {self.unit}" if self.unit else ""
        return f"{kind} from {self.low:g} to {self.high:g}{unit}"

    def check(self, value) -> float | int:
        """The value as a number of this option, or ValueError saying what is wrong."""
        text = str(value).strip()
        try:
            if self.whole:
                if isinstance(value, bool):
                    number = None
                elif isinstance(value, int):
                    number = value
                elif isinstance(value, float):
                    number = int(value) if value.is_integer() else None
                else:
                    number = int(text, 10)
            else:
                number = float(value if isinstance(value, (int, float))
                               and not isinstance(value, bool) else text)
        except (TypeError, ValueError, OverflowError):
            number = None
        if number is None or not math.isfinite(number) or not self.low <= number <= self.high:
            raise ValueError(f"{self.flag} must be {self.range_text}, not {text[:40]!r}")
        return number

    def argparse_type(self, text: str):
        try:
            return self.check(text)
        except ValueError as e:  # argparse names the flag itself
            raise argparse.ArgumentTypeError(str(e).removeprefix(self.flag + " ")) from None

    def add(self, parser: argparse.ArgumentParser, flag: str | None = None,
            default=..., help: str | None = None, dest: str | None = None) -> None:
        """Adds this option to `parser` (under `flag` where a program must name it
        otherwise for now, see the module docstring). `default=None` leaves it unset, to
        tell "not given" apart; the help still shows this option's own default."""
        default = self.default if default is ... else default
        shown = "" if self.default is None else f"; default {self.default:g}"
        kwargs = {"dest": dest} if dest else {}
        parser.add_argument(flag or self.flag, type=self.argparse_type, default=default,
                            metavar="N",
                            help=f"{help or self.help} ({self.range_text}{shown})", **kwargs)


MIN_FACE_LOW = 48
"""Smallest --min_face allowed. Below it the classifier judges an upscaled blur (the model
takes 128 px or more), and the windows a photo needs grow as 1/min_face^2. At 48 px the
finest windows are 400 px, so the face search's reduced copy is at least 2x smaller than
the photo for both detector inputs (128 and 192 px): below ~46 px the factor became 1 and
the search held a full-resolution RGB copy beside the decoded photo, 305 MB over idle on a
40 MP RGBA PNG against the CLI's 300 MB budget (issue 25). The largest photo the gate
accepts then needs under 700 windows (`dfd.lite.faces.search.MAX_WINDOWS`: 1536)."""

THREADS = Number("--threads", 1, 64, None, whole=True,
                 help="interpreter threads per inference (default: the cores this process "
                      "may use)")
MIN_FACE = Number("--min_face", MIN_FACE_LOW, 8192, 64, unit="px",
                  help="smallest face searched for, in photo pixels (smaller is slower on "
                       "large photos)")
MAX_FILE_MB = Number("--max_file_mb", 0.001, 64, MAX_FILE_BYTES / (1024 * 1024), unit="MB",
                     help="larger files (uploads) are refused unread")
EXPLAIN_GRID = Number("--explain_grid", 2, 32, 8, whole=True,
                      help="cells per side of --explain's grid over the model's input "
                           "(grid^2 + 1 model runs per crop; at most the model's input size)")
BATCH_SIZE = Number("--batch_size", 1, 4096, 64, whole=True,
                    help="largest batch RunInference hands one interpreter")
PORT = Number("--port", 1, 65535, 8000, whole=True, help="TCP port")
REQUEST_THREADS = Number("--request_threads", 1, 256, 4, whole=True,
                         help="request threads of the web server")
MAX_DECODES = Number("--max_decodes", 1, 64, 2, whole=True,
                     help="images decoded at once (bounds the server's memory)")
MAX_CONNECTIONS = Number("--max_connections", 1, 10000, 32, whole=True,
                         help="connections at once (each may hold one upload in memory)")

THRESHOLD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def threshold(text: str) -> float | str:
    """--threshold: a number in [0, 1], or the name of a threshold in model.json (the name
    is looked up in the card once the model is open)."""
    text = str(text).strip()
    if THRESHOLD_NAME.fullmatch(text) and text.lower() not in ("nan", "inf", "infinity"):
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a number from 0 to 1 or a model.json threshold name, not "
            f"{text[:40]!r}") from None
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(
            f"must be a number from 0 to 1 or a model.json threshold name, not "
            f"{text[:40]!r}")
    return value


UNCERTAIN_OFF = verdicts.BAND_OFF[0]


def uncertain(text: str) -> verdicts.Band | str:
    """--uncertain: "LOW,HIGH" with 0 <= LOW <= HIGH <= 1, a Band, or off (no band, two-way
    verdicts); not given, the artifact's band from model.json applies."""
    try:
        band = verdicts.parse_band(str(text))
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return UNCERTAIN_OFF if band is None else band


def add_model_options(parser: argparse.ArgumentParser, *, threads_flag: str = "--threads",
                      threads_default: int | None = None, threads_help: str | None = None,
                      kernels_help: str | None = None) -> None:
    """--threshold, --uncertain, --kernels, --faces, --min_face, --allow_failed_gate,
    --max_file_mb and the interpreter threads: how a Detector is opened, the same in every
    program."""
    from dfd.lite.detector import FACES
    from dfd.lite.interpreter import KERNELS
    THREADS.add(parser, threads_flag, default=threads_default, help=threads_help,
                dest="threads")
    parser.add_argument("--threshold", type=threshold, default=None,
                        help='P(fake) at or above which the verdict is fake: a number from 0 '
                             'to 1 or a model.json threshold name: "eer_validation" or '
                             '"fpr_1pct" (at most 1%% of validation reals called fake; '
                             "default: the card's default, else 0.5)")
    parser.add_argument("--uncertain", type=uncertain, default=None, metavar="LOW,HIGH",
                        help="verdict uncertain when LOW < P(fake) < HIGH, whatever the "
                             "threshold; off for two-way verdicts (default: the band "
                             "model.json chose on validation, else none)")
    parser.add_argument("--kernels", choices=KERNELS, default="auto",
                        help=kernels_help or
                        "CPU kernels: auto = XNNPACK if it reproduces the bundle's golden "
                        "vectors on this device, else TFLite's builtin kernels (the reason "
                        "is printed); xnnpack or builtin force one")
    parser.add_argument("--faces", choices=FACES, default="auto",
                        help="judge each face the bundle's face detector finds: auto = faces "
                             "when any is found, else the whole image; on = faces only (no "
                             "face, no verdict); off = the whole image")
    MIN_FACE.add(parser)
    parser.add_argument("--allow_failed_gate", action="store_true",
                        help="run a model whose export gate failed or never ran (model.json "
                             "records it per artifact) anyway; said on stderr, in /healthz "
                             "and the page footer")
    MAX_FILE_MB.add(parser)


def detector_settings(args: argparse.Namespace) -> dict:
    """The Detector's keyword arguments from `add_model_options`' flags."""
    return {"threads": args.threads, "threshold": args.threshold,
            "uncertain": args.uncertain, "kernels": args.kernels,
            "faces": args.faces, "min_face": args.min_face,
            "allow_failed_gate": args.allow_failed_gate}


def open_detector(prog: str, model_path: str, args: argparse.Namespace):
    """The Detector these flags ask for, or None after one line on stderr saying why the
    model cannot be used (the caller exits 2)."""
    from dfd.lite.detector import Detector, ModelError
    from dfd.lite.interpreter import NoInterpreterError
    try:
        detector = Detector(model_path, **detector_settings(args))
    except (ModelError, NoInterpreterError, OSError) as e:
        print(f"{prog}: {e}", file=sys.stderr, flush=True)
        return None
    if detector.gate_note:
        print(f"{prog}: running anyway (--allow_failed_gate): {detector.gate_note}",
              file=sys.stderr, flush=True)
    return detector


def deprecated(prog: str, old: str, new: str, note: str = "") -> None:
    print(f"{prog}: {old} is deprecated and will be removed in the next release: use {new}"
          f"{note}", file=sys.stderr, flush=True)


def max_bytes(args: argparse.Namespace) -> int:
    return int(args.max_file_mb * 1024 * 1024)
