"""Input pipeline: TFDS records to batches of model-ready pixels, fast and reproducibly.

Order matters for speed: decoding and resizing are the expensive steps and do not change
between epochs, so they happen once, before the cache; only the cheap random augmentation
runs every epoch, after it. Preprocessing follows `dfd.common.spec` exactly (the edge runtime
re-implements it in numpy and a test keeps the two equal).

Batches are `(images, labels)`: images uint8 (B, S, S, 3), labels float32 (B,) with 1 = fake.
Pixels stay uint8 up to the model, which casts and normalises them itself: a float32 batch
is four times the bytes to copy on the host and to send to an accelerator.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from typing import Sequence

import tensorflow as tf
import tensorflow_datasets as tfds
from absl import logging

from dfd.common import spec
from dfd.train import augment as per_image
from dfd.train import face_masks

DEFAULT_DATASET = "deepfake_real_images"
AUGMENTATIONS = ("flip", "crop", "jpeg", "blur", "resize", "self_blend")
"""What `--augment` may name: horizontal flip and crop/scale jitter (whole batches), JPEG
re-compression, Gaussian blur, down-and-up resizing and self-blended fakes (per image, see
`dfd.train.augment`: why each matters for images from sources the model never saw)."""
DEFAULT_AUGMENT = ("flip", "crop", "blur", "resize", "jpeg")
"""The default recipe's (BUILD_NOTES.md, "Detection that generalizes": self_blend did not
help within a CPU budget of ten epochs)."""


def decode(encoded: tf.Tensor) -> tf.Tensor:
    """JPEG, PNG, GIF or BMP bytes to (H, W, 3) uint8, JPEG with the spec's accurate IDCT."""
    image = tf.cond(
        tf.io.is_jpeg(encoded),
        lambda: tf.io.decode_jpeg(encoded, channels=3, dct_method=spec.JPEG_DCT_METHOD),
        lambda: tf.io.decode_image(encoded, channels=3, expand_animations=False))
    image.set_shape([None, None, 3])
    return image


def center_square(image: tf.Tensor) -> tf.Tensor:
    """The largest centred square of (H, W, C) or a (N, H, W, C) batch, with the integer
    offsets `dfd.common.spec` defines (the SavedModel crops whole batches in the graph)."""
    shape = tf.shape(image)
    height, width = shape[-3], shape[-2]
    side = tf.minimum(height, width)
    top = (height - side) // 2
    left = (width - side) // 2
    return image[..., top:top + side, left:left + side, :]


def resize_to_uint8(image: tf.Tensor, size: int) -> tf.Tensor:
    """Bilinear, half-pixel centres, no antialias; then rounded and clipped to uint8."""
    resized = tf.image.resize(image, [size, size], method=spec.RESIZE_METHOD,
                              antialias=spec.ANTIALIAS)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)


def preprocess_image(image: tf.Tensor, size: int) -> tf.Tensor:
    """(H, W, 3) uint8 of any size (or a batch of them) to the (size, size, 3) model input."""
    return resize_to_uint8(center_square(image), size)


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """Everything that shapes the batches; the trainer fills it from flags."""
    image_size: int = spec.DEFAULT_IMAGE_SIZE
    batch_size: int = 64
    cache: str = "memory"
    """"memory", "none", or a file path prefix for tf.data's on-disk cache."""
    augment: Sequence[str] = DEFAULT_AUGMENT
    shuffle_buffer: int = 10_000
    seed: int = 0
    deterministic: bool = False
    crop_min_scale: float = 0.8
    augmentation: per_image.AugmentConfig = per_image.AugmentConfig()
    """Strengths and probabilities of the per-image augmentations."""
    data_service: str | None = None
    """grpc://HOST:PORT of a tf.data service dispatcher that makes the training batches
    (`through_data_service`); None: this process makes them."""
    reals_only: bool = False
    """Train on the real images alone (every fake then comes from self_blend: the SBI
    paper's setting, a detector that never sees a generator's or editor's output);
    evaluation keeps every image."""

    def __post_init__(self):
        unknown = set(self.augment) - set(AUGMENTATIONS)
        if unknown:
            raise ValueError(f"unknown augmentation(s) {sorted(unknown)}; "
                             f"choose from {AUGMENTATIONS}")
        if self.reals_only and per_image.SELF_BLEND not in self.augment:
            raise ValueError("reals_only needs self_blend in augment: without it training "
                             "would see no fake at all")
        if self.augmentation.self_blend_mask not in face_masks.CHOICES:
            raise ValueError(f"self_blend_mask must be one of {face_masks.CHOICES}, "
                             f"not {self.augmentation.self_blend_mask!r}")

    @property
    def per_image_augment(self) -> tuple[str, ...]:
        return tuple(n for n in self.augment if n in per_image.DEGRADATIONS + (per_image.SELF_BLEND,))

    @property
    def face_masks(self) -> bool:
        """Whether training examples carry a face-outline mask for the self-blend."""
        return (per_image.SELF_BLEND in self.augment
                and self.augmentation.self_blend_mask == "face_mesh")


def augment_batch(images: tf.Tensor, seed: tf.Tensor, config: PipelineConfig) -> tf.Tensor:
    """Flip and crop/scale jitter of a whole uint8 batch in a few vectorised ops.

    With both, the flip rides in the crop: `crop_and_resize` samples a box whose left edge
    is right of its right edge mirrored, so one resampling pass does both (1.3-1.4x the
    batch ops' images/s against a gather then the crop; BUILD_NOTES.md, issue 24)."""
    flip_seed, scale_seed, offset_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, 3))
    batch = tf.shape(images)[0]
    size = config.image_size
    flip = (tf.random.stateless_uniform([batch], flip_seed) < 0.5 if "flip" in config.augment
            else tf.zeros([batch], tf.bool))
    if "crop" not in config.augment:
        columns = tf.range(tf.shape(images)[2])
        order = tf.where(flip[:, None], columns[::-1][None], columns[None])
        return tf.gather(images, order, axis=2, batch_dims=1)  # 2x faster than tf.where
    scale = tf.random.stateless_uniform([batch], scale_seed, config.crop_min_scale, 1.0)
    top, left = tf.unstack(
        tf.random.stateless_uniform([batch, 2], offset_seed) * (1.0 - scale[:, None]), axis=1)
    right = left + scale
    boxes = tf.stack([top, tf.where(flip, right, left), top + scale,
                      tf.where(flip, left, right)], axis=1)
    cropped = tf.image.crop_and_resize(images, boxes, tf.range(batch), [size, size])
    return tf.cast(tf.clip_by_value(tf.round(cropped), 0.0, 255.0), tf.uint8)


def builder(data_dir: str, dataset: str = DEFAULT_DATASET):
    """The TFDS builder of a built data dir (registers dfd's own dataset first)."""
    if dataset == DEFAULT_DATASET:
        import dfd.builders.deepfake_real_images  # noqa: F401  (registers the builder)
    return tfds.builder(dataset, data_dir=data_dir)


def split_names(data_dir: str, dataset: str = DEFAULT_DATASET) -> list[str]:
    return list(builder(data_dir, dataset).info.splits.keys())


class SplitError(ValueError):
    """A flag names a split that the built data does not have."""


def require_splits(data_dir: str, dataset: str, flag: str, splits: Sequence[str]) -> None:
    """Raises SplitError naming the flag when a split it names is not in the built data, so
    a typo stops a program before it writes anything."""
    found = builder(data_dir, dataset)
    available = list(found.info.splits.keys())
    for split in splits:
        if split not in available:
            raise SplitError(
                f"--{flag}={split}: {dataset} in {data_dir} has no such split (it has "
                f"{', '.join(available) or unbuilt_reason(found)})")


def unbuilt_reason(found) -> str:
    """Why a data dir has no splits for this builder: never built, or built by another
    version of it (a version bump changes what a build holds, so TFDS will not read it)."""
    dataset_dir = os.path.dirname(os.fspath(found.data_dir))
    others = sorted(name for name in tf.io.gfile.listdir(dataset_dir)
                    if tf.io.gfile.exists(os.path.join(dataset_dir, name, "dataset_info.json"))
                    ) if tf.io.gfile.isdir(dataset_dir) else []
    if others:
        return (f"none: it was built by version {', '.join(others)} of the builder and this dfd "
                f"reads {found.info.version}; rebuild it with tfds build")
    return "none: build it with tfds build"


def split_info(data_dir: str, split: str, dataset: str = DEFAULT_DATASET) -> dict:
    """Example count and per-class counts of a split, as the builder recorded them."""
    found = builder(data_dir, dataset)
    info = {"num_examples": found.info.splits[split].num_examples}
    counts = (found.info.metadata or {}).get("class_counts", {}).get(split)
    if counts:
        info["class_counts"] = dict(counts)
    return info


def cache_identity(found, split: str, image_size: int,
                   input_context: tf.distribute.InputContext | None = None,
                   with_face_masks: bool = False, reals_only: bool = False) -> dict:
    """What a file cache of one split holds: whose data, which split, which pixels.

    A cache read under a different identity would hand a run another dataset's images
    without any error, so every input that shapes the cached tensors is in it: the builder
    and its version, the data dir resolved (a rebuilt or moved copy is another source), the
    split's example counts, the digest of its source files that dfd's builder records
    (another dataset's files: the split's TFRecord names, sizes and modification times), and
    the preprocessing contract; for one worker's share of a split, which share; whether
    the cached examples carry face masks (`dfd.train.face_masks`: another tensor per example);
    and whether it holds the real images alone (`PipelineConfig.reals_only`).
    """
    split_info = found.info.splits[split]
    recorded = ((found.info.metadata or {}).get("splits") or {}).get(split) or {}
    source = recorded.get("source_sha256")
    if not source:
        stats = [(os.fspath(path), tf.io.gfile.stat(os.fspath(path)))
                 for path in split_info.filepaths]
        source = [[os.path.basename(path), stat.length, stat.mtime_nsec]
                  for path, stat in stats]
    identity = {
        "builder": found.info.full_name,
        "data_dir": os.path.realpath(os.fspath(found.data_dir)),
        "split": split,
        "num_examples": split_info.num_examples,
        "shard_lengths": list(split_info.shard_lengths),
        "source": source,
        "preprocessing": spec.describe(image_size),
    }
    if input_context and input_context.num_input_pipelines > 1:
        identity["worker"] = [input_context.input_pipeline_id,
                              input_context.num_input_pipelines]
    if with_face_masks:
        identity["face_masks"] = "face_mesh"
    if reals_only:
        identity["reals_only"] = True
    return identity


def cache_path(prefix: str, identity: dict) -> str:
    """PREFIX-SPLIT-SIZE-KEY: readable, and KEY (12 hex digits of the identity's sha256)
    changes whenever anything the cache holds would."""
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]
    size = identity["preprocessing"]["image_size"]
    return f"{prefix}-{identity['split']}-{size}-{key}"


def read_split(found, split: str, *, training: bool, seed: int,
               input_context: tf.distribute.InputContext | None = None) -> tf.data.Dataset:
    """The split's encoded examples; with `input_context` naming several input pipelines
    (the workers of a multi-worker run), only this worker's share of them.

    The share is a set of the split's files when it has at least one per worker (TFDS's
    own sharding): a worker then reads, decodes and caches only its files. With fewer
    files it is a 1/N range of the split's examples (tfds.even_splits): a worker decodes
    and caches only its range but reads through the files before it. Taking every N-th
    example of the stream instead would not do: its order is not deterministic (parallel
    reads), and two workers then keep overlapping sets. Either way the share is cut here,
    before the cache, and tf.distribute is told not to cut it again; without
    `input_context` the dataset keeps tf.distribute's data sharding."""
    workers = input_context.num_input_pipelines if input_context else 1
    files = found.info.splits[split].num_shards
    by_file = workers > 1 and files >= workers
    read_config = tfds.ReadConfig(shuffle_seed=seed, try_autocache=False,
                                  input_context=input_context if by_file else None)
    share = split
    if workers > 1 and not by_file:
        logging.warning(
            "split %s of %s has %d file(s) for %d workers: each worker reads through all of "
            "it to decode its 1/%d; build it with at least %d shards "
            "(python -m dfd.builders.build --num_shards=%d) so that each reads only its files",
            split, found.info.full_name, files, workers, workers, workers, workers)
        share = tfds.even_splits(split, n=workers)[input_context.input_pipeline_id]
    ds = found.as_dataset(split=share, shuffle_files=training, read_config=read_config,
                          decoders={"image": tfds.decode.SkipDecoding()})
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.OFF if workers > 1
        else tf.data.experimental.AutoShardPolicy.DATA)
    return ds.with_options(options)


def examples(data_dir: str, split: str, config: PipelineConfig, *, training: bool,
             dataset: str = DEFAULT_DATASET, cache_name: str = "",
             input_context: tf.distribute.InputContext | None = None,
             blend_sources: bool = False) -> tf.data.Dataset:
    """(image, label) pairs of one split of one source, decoded, preprocessed and cached;
    training adds shuffling and the per-image augmentation after the cache. `cache_name`
    (the source's name) goes into a file cache's name so a reader sees whose it is;
    `input_context`: this worker's place among several (see `read_split`). With
    `config.face_masks` a training example is (image, label, face mask) up to the
    augmentation, the mask found once, before the cache, on the source's pixels.
    `blend_sources`: the split's reals alone, with their face masks when the config's
    self-blend wants them, whatever `training` says (`held_out_blends` blends them)."""
    found = builder(data_dir, dataset)
    ds = read_split(found, split, training=training, seed=config.seed,
                    input_context=input_context)
    reals_only = blend_sources or (training and config.reals_only)
    if reals_only:  # before the decode: fakes cost nothing
        ds = ds.filter(lambda example: example["label"] == 0)
    size = config.image_size
    deterministic = config.deterministic or not training
    with_masks = (training or blend_sources) and config.face_masks

    def load(example):
        square = center_square(decode(example["image"]))
        image = resize_to_uint8(square, size)
        label = tf.cast(example["label"], tf.float32)
        if with_masks:
            return image, label, face_masks.face_mask(square, label, size)
        return image, label

    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic or None)
    if config.cache == "memory":
        ds = ds.cache()
    elif config.cache and config.cache != "none":
        prefix = f"{config.cache}-{cache_name}" if cache_name else config.cache
        path = cache_path(prefix, cache_identity(found, split, size, input_context, with_masks,
                                                 reals_only))
        # tf.data opens the cache file only when iteration starts: without its folder, a
        # run would fail mid-fit with a NotFoundError.
        tf.io.gfile.makedirs(os.path.dirname(path) or ".")
        ds = ds.cache(path)
    if training:
        ds = ds.shuffle(config.shuffle_buffer, seed=config.seed, reshuffle_each_iteration=True)
        ds = augment_images(ds, config)
    return ds


def augment_images(ds: tf.data.Dataset, config: PipelineConfig) -> tf.data.Dataset:
    """The per-image training augmentation (`config.per_image_augment`, see
    `dfd.train.augment`) of an (image, label) or (image, label, face mask) stream, each
    element with its own seed, to (image, label); the stream unchanged when the config names
    none. `examples` applies it after the cache and the shuffle; benchmarks.input_pipeline's
    profile applies it to images it holds itself."""
    if not config.per_image_augment:
        return ds

    def one(element, seed):
        image, label, *mask = element
        return per_image.augment_example(image, label, seed, config.per_image_augment,
                                         config.augmentation, mask[0] if mask else None)
    return _with_seeds(ds, config).map(
        one, num_parallel_calls=tf.data.AUTOTUNE, deterministic=config.deterministic or None)


def _seeds(config: PipelineConfig) -> tf.data.Dataset:
    """Fresh (2,) stateless seeds every element and every epoch, reproducible from --seed."""
    return tf.data.Dataset.random(seed=config.seed, rerandomize_each_iteration=True).batch(2)


def _with_seeds(ds: tf.data.Dataset, config: PipelineConfig) -> tf.data.Dataset:
    """(element, (2,) augmentation seed) pairs of a training stream. Through tf.data
    service (`through_data_service`) the seeds come from a stateful op instead of a second
    dataset: sharding by file needs the split's files to be the pipeline's only source."""
    if config.data_service:
        return ds.map(lambda *element: (element[0] if len(element) == 1 else element,
                                        tf.random.uniform([2], 0, 2 ** 62, tf.int64)))
    return tf.data.Dataset.zip((ds, _seeds(config)))


def batched(ds: tf.data.Dataset, config: PipelineConfig, *, training: bool) -> tf.data.Dataset:
    """Batches of (image, label) pairs; training adds the whole-batch flip and crop."""
    deterministic = config.deterministic or not training
    ds = ds.batch(config.batch_size)
    if training and {"flip", "crop"} & set(config.augment):
        ds = _with_seeds(ds, config).map(
            lambda pair, seed: (augment_batch(pair[0], seed, config), pair[1]),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic or None)
    options = tf.data.Options()
    options.deterministic = deterministic
    ds = ds.with_options(options)
    if training and config.data_service:
        return through_data_service(ds, config.data_service)
    return ds.prefetch(tf.data.AUTOTUNE)


def build_dataset(data_dir: str, split: str, config: PipelineConfig, *, training: bool,
                  dataset: str = DEFAULT_DATASET,
                  input_context: tf.distribute.InputContext | None = None) -> tf.data.Dataset:
    """Batches of one split of one source. Evaluation is always in file order: reports and
    parity checks must be repeatable. `input_context`: see `read_split`."""
    return batched(examples(data_dir, split, config, training=training, dataset=dataset,
                            input_context=input_context), config, training=training)


def mixed_training_dataset(sources: Sequence[tuple[str, str]], split: str,
                           config: PipelineConfig, weights: Sequence[float],
                           dataset: str = DEFAULT_DATASET,
                           input_context: tf.distribute.InputContext | None = None
                           ) -> tf.data.Dataset:
    """Training batches drawn from several sources at once, each example from source i with
    probability weights[i] (`tf.data.Dataset.sample_from_datasets`): equal weights give every
    source the same share of each batch however many images it has, so the largest set does
    not drown the others. Each source repeats on its own (a small one is seen more often),
    so the stream never ends: the trainer sets the steps of an epoch. `sources` are
    (name, data_dir) pairs."""
    streams = [examples(data_dir, split, config, training=True, dataset=dataset,
                        cache_name=name, input_context=input_context).repeat()
               for name, data_dir in sources]
    mixed = tf.data.Dataset.sample_from_datasets(
        streams, weights=[float(w) for w in weights], seed=config.seed,
        stop_on_empty_dataset=False)
    return batched(mixed, config, training=True)


def union_dataset(sources: Sequence[tuple[str, str]], split: str, config: PipelineConfig,
                  dataset: str = DEFAULT_DATASET) -> tf.data.Dataset:
    """Evaluation batches of one split of every source, source after source in file order:
    checkpoint choice and early stopping judge the union."""
    return batched(_concatenated(sources, split, config, dataset), config, training=False)


def _concatenated(sources: Sequence[tuple[str, str]], split: str, config: PipelineConfig,
                  dataset: str, **options) -> tf.data.Dataset:
    """Every source's unbatched `examples` of `split`, source after source in file order."""
    union = None
    for name, data_dir in sources:
        ds = examples(data_dir, split, config, training=False, dataset=dataset,
                      cache_name=name, **options)
        union = ds if union is None else union.concatenate(ds)
    return union


def held_out_blends(sources: Sequence[tuple[str, str]], split: str, config: PipelineConfig,
                    dataset: str = DEFAULT_DATASET) -> tf.data.Dataset:
    """Evaluation batches of every source's real `split` images, each twice: as itself
    (label 0) and self-blended (label 1) with the config's mask, by a seed fixed per image,
    so every epoch is judged on the same pairs.

    What a run that trains on self-blends alone (`reals_only`, the SBI paper's setting)
    should choose its checkpoint on: the trained sources' own fakes come from a generator or
    an editor it is never shown, and judged on them such a run kept its first epoch (val
    AUC 0.40, falling; BUILD_NOTES.md, session 15). The blends are not degraded: the choice
    judges what the model learnt about seams, not the augmentation's noise."""
    union = _concatenated(sources, split, config, dataset, blend_sources=True)
    # Not re-randomised: every pass over the split draws the same seeds.
    seeds = tf.data.Dataset.random(seed=config.seed + 1).batch(2)

    def pair(element, seed):
        image, _, *mask = element
        blended = per_image.self_blend(image, seed, mask[0] if mask else None)
        return tf.stack([image, blended]), tf.constant([0.0, 1.0])

    ds = tf.data.Dataset.zip((union, seeds)).map(pair, num_parallel_calls=tf.data.AUTOTUNE,
                                                 deterministic=True)
    return batched(ds.unbatch(), config, training=False)


def round_robin_dataset(sources: Sequence[tuple[str, str]], split: str, config: PipelineConfig,
                        dataset: str = DEFAULT_DATASET) -> tf.data.Dataset:
    """Evaluation batches taking one image from each source in turn (deterministic), so the
    first N images (the int8 calibration set) hold every source's pixels."""
    streams = [examples(data_dir, split, config, training=False, dataset=dataset,
                        cache_name=name) for name, data_dir in sources]
    if len(streams) == 1:
        return batched(streams[0], config, training=False)
    order = tf.data.Dataset.range(len(streams)).repeat()
    mixed = tf.data.Dataset.choose_from_datasets(streams, order, stop_on_empty_dataset=False)
    return batched(mixed, config, training=False)


def reals_only_info(info: dict) -> dict:
    """`split_info` of a split as a `reals_only` run reads it: its real images alone."""
    counts = info.get("class_counts")
    if counts is None:
        raise ValueError("training on the real images alone needs the split's class counts, "
                         "which this build does not record: rebuild it with dfd's builder")
    return {"num_examples": int(counts.get("real", 0)),
            "class_counts": {"real": int(counts.get("real", 0)), "fake": 0}}


def mixed_class_shares(infos: Sequence[dict], weights: Sequence[float]) -> dict | None:
    """{"real": share, "fake": share} of the examples the mixed stream draws: each source's
    own class mix, weighted by its sampling weight (None when a source has no counts)."""
    total = sum(weights)
    shares = {"real": 0.0, "fake": 0.0}
    for info, weight in zip(infos, weights):
        counts = info.get("class_counts")
        if not counts:
            return None
        n = sum(counts.values())
        for name in shares:
            shares[name] += weight / total * counts.get(name, 0) / max(n, 1)
    return shares


class DataServiceError(ValueError):
    """--data_service names a dispatcher that cannot be reached."""


def check_dispatcher(address: str, timeout: float = 10.0) -> None:
    """Raises DataServiceError unless something listens at grpc://HOST:PORT. tf.data
    service's client retries an absent dispatcher without end: a run would hang, silent."""
    import socket
    import urllib.parse

    parsed = urllib.parse.urlsplit(address)
    try:
        host, port = parsed.hostname, parsed.port
    except ValueError:
        host = port = None
    if parsed.scheme != "grpc" or not host or not port:
        raise DataServiceError(f"--data_service={address}: expected grpc://HOST:PORT")
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as e:
        raise DataServiceError(
            f"--data_service={address}: no dispatcher answers at {host}:{port} "
            f"({e.strerror or e}); start one with python -m dfd.train.data_service "
            f"dispatcher --port={port} --workers=...") from None


_TOO_FEW_FILES = re.compile(
    r"FILE based sharding: the dataset only has (\d+) file\(s\), which is not enough for "
    r"the required (\d+) shards/workers")


def too_few_files(error: BaseException, address: str, data_dir: str) -> DataServiceError | None:
    """The one-line error for a training split with fewer files than the service has workers,
    or None for any other error. Only the workers know their number, so the client learns it
    from the first batch's failure: a TensorFlow InvalidArgumentError whose message this
    matches (tf.data service's own wording, checked by tests/training/test_data_service.py)."""
    found = isinstance(error, tf.errors.InvalidArgumentError) and _TOO_FEW_FILES.search(
        str(error))
    if not found:
        return None
    files, workers = (int(n) for n in found.groups())
    return DataServiceError(
        f"--data_service={address}: the training split of --data_dir={data_dir} has {files} "
        f"file(s), fewer than the service's {workers} workers, and each worker reads whole "
        f"files; rebuild it with python -m dfd.builders.build --num_shards={workers} "
        f"--overwrite (a multiple of {workers} shares the files evenly)")


def through_data_service(ds: tf.data.Dataset, address: str) -> tf.data.Dataset:
    """The training batches of `ds`, made by tf.data service workers (dfd.train.data_service).

    Static sharding by file (ShardingPolicy.FILE): each worker reads, decodes, augments and
    batches a fixed share of the split's files, so an epoch is every example once, and
    ends when every worker has sent its last batch. The alternatives break that here:
    OFF (parallel_epochs) has every worker produce the whole split, N epochs per epoch;
    DATA (and HINT after the read) keep every N-th element of each worker's own stream,
    whose order differs between workers, so some examples come twice and others never
    (measured: 1,025 and 1,040 distinct of 1,200); DYNAMIC (distributed_epoch) fails on
    TFDS's cardinality check and on the cache. FILE needs the files to be the pipeline's
    only source, so `_with_seeds` draws augmentation seeds from a stateful op here (not
    reproducible: tf.data service interleaves its workers' batches as they come anyway).
    A split with fewer files than workers cannot start: tf.data service refuses it at the
    first batch, and `too_few_files` turns that into the one line naming --num_shards
    (dfd.builders.build). The cache runs on the workers and, as each epoch is
    a new tf.data service job, lasts that epoch."""
    service = tf.data.experimental.service
    ds = ds.apply(service.distribute(service.ShardingPolicy.FILE, address))
    return ds.prefetch(tf.data.AUTOTUNE)
