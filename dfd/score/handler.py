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
was judged (`judged`) and lists every face (`faces`: box, score, p_fake, p_fake_raw,
verdict, crop); the image's p_fake is its most suspicious face's and its verdict follows
`dfd.common.verdicts` (fake, uncertain, real); no face found under auto adds a `note`
that the whole image was judged, out of the model's domain. The pipeline flattens the
lists, so a one-record-per-face output would need no pipeline change either.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Sequence

from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from dfd.imaging.gate import ImageError
from dfd.lite.detector import Detector
from dfd.lite.faces import DEFAULT_MIN_FACE
from dfd.score import bundle

Element = tuple  # (file, bytes | None, error | None)


@dataclasses.dataclass
class LoadedModel:
    """What a worker process holds: the detector and the sha256 every record names."""
    detector: Detector
    sha256: str


class DetectorHandler(ModelHandler[Element, PredictionResult, LoadedModel]):
    """Scores encoded images with an exported .tflite bundle (see the module docstring)."""

    def __init__(self, model_path: str, *, threshold: float | str | None = None,
                 kernels: str = "auto", threads: int = 1, max_batch_size: int = 64,
                 faces: str = "auto", min_face: float = DEFAULT_MIN_FACE,
                 uncertain: str | None = None):
        super().__init__(min_batch_size=1, max_batch_size=max_batch_size)
        self._model_path = model_path
        self._faces = faces
        self._min_face = min_face
        self._threshold = threshold
        self._kernels = kernels
        self._threads = threads
        self._uncertain = uncertain

    def load_model(self) -> LoadedModel:
        local = bundle.local_model(self._model_path)
        detector = Detector(local, threads=self._threads, threshold=self._threshold,
                            kernels=self._kernels, faces=self._faces, min_face=self._min_face,
                            uncertain=self._uncertain)
        return LoadedModel(detector, bundle.sha256_of(local))

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
                answer = model.detector.classify_bytes(data).as_dict()
                del answer["ms"]  # a batch job's records say what, not how fast
                return [{"file": file, **answer, "model_sha256": model.sha256}]
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
