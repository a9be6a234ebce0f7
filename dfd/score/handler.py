"""dfd's own Beam `ModelHandler`: RunInference around the `dfd.lite` detector.

RunInference loads the model once per worker process (Beam's shared handle) and hands
`run_inference` batches of elements; each element is one file as `reading.read_file` left
it, (file, bytes, None) or (file, None, error). The interpreter takes one image per call
(dfd models are exported with batch 1), so a batch is run image by image on the process's
one interpreter: batching amortises Beam's per-element overhead, not the model's. Every
image is answered exactly as `dfd-lite classify` answers it (the same `Detector`, the same
`classify_bytes`), and whatever one file raises becomes that file's error, never a failed
bundle (a runner would retry it and then fail the job).

Each answer is a list of output records, one per file, shaped as `dfd-lite classify`'s
line for it: with faces (`faces="auto"`, the default, or `"on"`) the record also says what
was judged (`judged`) and lists every face (`faces`: box, score, p_fake, verdict, crop); the
image's p_fake and verdict are its most suspicious face's. The pipeline flattens the
lists, so a one-record-per-face output would need no pipeline change either.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Sequence

from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from dfd.imaging.gate import ImageError
from dfd.lite.detector import Detector
from dfd.common.checksums import sha256_file
from dfd.score import bundle

Element = tuple  # (file, bytes | None, error | None)


@dataclasses.dataclass
class LoadedModel:
    """What a worker process holds: the detector and the sha256 every record names."""
    detector: Detector
    sha256: str


class DetectorHandler(ModelHandler[Element, PredictionResult, LoadedModel]):
    """Scores encoded images with an exported .tflite bundle (see the module docstring)."""

    def __init__(self, model_path: str, *, max_batch_size: int = 64, **settings):
        """settings: the Detector's keyword arguments (`dfd.lite.options.detector_settings`);
        faces default to "auto" and threads to 1, as dfd-score's flags do."""
        super().__init__(min_batch_size=1, max_batch_size=max_batch_size)
        self._model_path = model_path
        self._settings = {"faces": "auto", "threads": 1, **settings}

    def load_model(self) -> LoadedModel:
        local = bundle.local_model(self._model_path)
        return LoadedModel(Detector(local, **self._settings), sha256_file(local))

    def run_inference(self, batch: Sequence[Element], model: LoadedModel,
                      inference_args: dict[str, Any] | None = None
                      ) -> Iterable[PredictionResult]:
        return [PredictionResult(element[0], self.answer(element, model), model.sha256)
                for element in batch]

    def answer(self, element: Element, model: LoadedModel) -> list[dict]:
        """The output records for one file: its verdict, or its error."""
        file, data, error = element
        if error is None:
            try:
                verdict = model.detector.classify_bytes(data)
                record = {"file": file, "p_fake": verdict.p_fake, "verdict": verdict.verdict,
                          "threshold": verdict.threshold}
                if verdict.judged is not None:
                    record.update(judged=verdict.judged,
                                  faces=[dict(face) for face in verdict.faces])
                return [{**record, "model_sha256": model.sha256}]
            except ImageError as e:
                error = str(e)
            except Exception as e:  # noqa: BLE001 - one file never fails the batch
                error = f"internal error on this file: {type(e).__name__}: {e}"
        return [{"file": file, "error": error, "model_sha256": model.sha256}]

    def get_num_bytes(self, batch: Sequence[Element]) -> int:
        return sum(len(data or b"") for _, data, _ in batch)

    def get_metrics_namespace(self) -> str:
        return "dfd_score"

    def validate_inference_args(self, inference_args: dict[str, Any] | None):
        if inference_args:
            raise ValueError(f"dfd-score's handler takes no inference arguments, got "
                             f"{sorted(inference_args)}")
