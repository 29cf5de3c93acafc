"""`StreamingImageDataModule`: images from LitData shards (`vision-ssl prepare-data`), local or in a bucket.

    data:
      class_path: vision_ssl.data.StreamingImageDataModule
      init_args: {root: s3://bucket/shards/mine, image_size: 96, batch_size: 256, num_workers: 8}

The loader workers read chunks (downloading them from a URL into `cache_dir`), decode each image as the folder modules
do (`vision_ssl.data.image_files`), resize its shorter side to `image_size` and centre-crop, so batches are uint8
(B, C, S, S) as from the other data modules and augmentation stays on the device. Under DDP, LitData gives each rank
its own part of the shuffled shards. The loader's position is part of every checkpoint: a resumed run (one process
or several) continues the interrupted epoch without repeating or skipping a sample.

Validation images are carved from `train/` (seeded, `val_fraction` of them, as in the other modules); `val/` is the test split.
Shards of a folder without class folders are unlabelled: `num_classes` is 0 and labels are -1. Each training epoch
draws a new order from (seed, epoch).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from typing import Any

import torch

from vision_ssl.data.base import ImageDataModule
from vision_ssl.data.extras import require
from vision_ssl.data.shards import FORMAT, META_FILE


def is_url(path: str) -> bool:
    """A location LitData downloads from: `s3://`, `gs://`, ... or `local:/path` (a folder read as if remote)."""
    return "://" in path or path.startswith("local:")


def _rewrite_hint(root: str) -> str:
    return f"write them again with `vision-ssl prepare-data SRC {root} --overwrite`"


def read_meta(root: str, cache_dir: str | None = None, storage_options: dict | None = None) -> dict[str, Any]:
    """The `vision_ssl_shards.json` of the shards at `root` (a folder or a URL), with clear errors."""
    if is_url(root):
        get_downloader = require("litdata.streaming.downloader", "reading shards from a URL").get_downloader
        local_dir = os.path.join(cache_dir or tempfile.gettempdir(), "vision_ssl_meta",
                                 hashlib.sha1(root.encode()).hexdigest()[:16])
        os.makedirs(local_dir, exist_ok=True)
        path = os.path.join(local_dir, META_FILE)
        try:
            get_downloader(root, local_dir, [], storage_options or {}).download_file(f"{root.rstrip('/')}/{META_FILE}", path)
        except Exception as err:  # noqa: BLE001 - each provider raises its own types
            raise FileNotFoundError(f"cannot fetch '{root.rstrip('/')}/{META_FILE}' ({type(err).__name__}: {err}); "
                                    "check the URL and data.init_args.storage_options") from err
    else:
        if not os.path.exists(root):
            raise FileNotFoundError(f"shards folder '{root}' does not exist; write it with "
                                    f"`vision-ssl prepare-data SRC {root}`")
        path = os.path.join(root, META_FILE)
        if not os.path.isfile(path):
            if os.path.isdir(os.path.join(root, "train")):
                raise ValueError(f"the shards in '{root}' are incomplete (no {META_FILE}): run the same "
                                 "`vision-ssl prepare-data` command again to finish them")
            raise ValueError(f"'{root}' holds no shards (no {META_FILE}); write them with "
                             f"`vision-ssl prepare-data SRC {root}`")
    try:
        with open(path) as f:
            meta = json.load(f)
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"'{path}' is unreadable ({err}); {_rewrite_hint(root)}") from err
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"'{path}' is not a {FORMAT} file; {_rewrite_hint(root)}")
    return meta


def check_chunks(folder: str, root: str) -> None:
    """Every chunk listed in a local split's index.json exists with its recorded size (a truncated chunk would make
    LitData wait for the rest of it forever)."""
    index = os.path.join(folder, "index.json")
    try:
        with open(index) as f:
            spec = json.load(f)
        chunks, compressed = spec["chunks"], spec["config"].get("compression")
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"shard index '{index}' is missing or corrupt ({err}); {_rewrite_hint(root)}") from err
    for chunk in chunks:
        path = os.path.join(folder, chunk["filename"])
        size = os.path.getsize(path) if os.path.isfile(path) else None
        if size is None or (not compressed and size != chunk["chunk_bytes"]):
            state = "missing" if size is None else f"{size} bytes instead of {chunk['chunk_bytes']}"
            raise ValueError(f"shard '{path}' is damaged ({state}); {_rewrite_hint(root)}")


class StreamingImageDataModule(ImageDataModule):
    """Shards written by `vision-ssl prepare-data`, at a local path or any URL LitData reads (s3://, gs://, ...).

    Args:
        cache_dir: where chunks downloaded from a URL are kept (default: LitData's cache).
        storage_options: credentials and options for the object store, passed to LitData.
        *args: `ImageDataModule` positional arguments.
        **kwargs: `ImageDataModule` arguments (`root` is the shards folder or URL).
    """

    name = "shards"

    def __init__(self, *args: Any, cache_dir: str | None = None, storage_options: dict | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cache_dir, self.storage_options = cache_dir, storage_options or {}
        self.meta = read_meta(self.root, cache_dir, storage_options)
        self.classes: list[str] = list(self.meta["classes"])
        self.num_classes = len(self.classes)
        self._train_loader: Any = None
        self._loader_state: dict[str, Any] | None = None  # from a checkpoint, for the next training loader

    def _split_dir(self, split: str) -> str:
        return f"{self.root.rstrip('/')}/{split}" if is_url(self.root) else os.path.join(self.root, split)

    def shards(self, split: str, shuffle: bool = False, ids: bool = False) -> Any:
        """The shards of `split` ('train' or 'val') as a `ShardImageDataset`; `ids` adds index and name per image."""
        from vision_ssl.data.shard_reader import ShardImageDataset

        if split not in self.meta["splits"]:
            raise ValueError(f"the shards in '{self.root}' have no '{split}' split (they have: "
                             f"{', '.join(self.meta['splits'])})")
        folder = self._split_dir(split)
        if not is_url(folder):
            check_chunks(folder, self.root)
        return ShardImageDataset(folder, self.image_size, self.channels, ids=ids, shuffle=shuffle, seed=self.seed,
                                 cache_dir=self.cache_dir, storage_options=self.storage_options)

    def setup(self, stage: str | None = None) -> None:
        from vision_ssl.data.shard_reader import carve

        if self.train_set is None:
            total = int(self.meta["splits"]["train"])
            n_val = max(1, round(self.val_fraction * total))
            if total - n_val < 2:
                raise ValueError(f"the shards in '{self.root}' hold {total} training images, too few to carve "
                                 f"val_fraction={self.val_fraction} from")
            val, train = carve(self.shards("train", shuffle=True), [n_val, total - n_val], self.seed)
            if self.max_train_samples is not None and self.max_train_samples < total - n_val:
                train = carve(train, [self.max_train_samples], self.seed)[0]
                val = carve(val, [min(n_val, max(1, self.max_train_samples // 4))], self.seed)[0]  # as base.py
            self.train_set, self.val_set = train, val
        if stage in (None, "test") and self.test_set is None and "val" in self.meta["splits"]:
            self.test_set = self.shards("val")

    def _stream(self, dataset: Any, train: bool) -> Any:
        from vision_ssl.data.shard_reader import ShardLoader, len_of

        if dataset is None:
            raise RuntimeError("call setup() before asking for data loaders")
        world = self.trainer.world_size if self.trainer is not None else 1
        if train and len_of(dataset) < self.batch_size * world:
            raise ValueError(f"the training split has {len_of(dataset)} images, fewer than batch_size={self.batch_size} "
                             f"x {world} process(es); lower data.batch_size or raise data.max_train_samples")
        # drop_last: contrastive losses and BatchNorm want full batches (as in the other modules)
        return ShardLoader(dataset, batch_size=self.batch_size, num_workers=self.num_workers, shuffle=train,
                           drop_last=train, pin_memory=torch.cuda.is_available())

    def train_dataloader(self) -> Any:
        self._train_loader = self._stream(self.train_set, train=True)
        if self.trainer is not None:
            # LitData shuffles by (seed, its own epoch counter), which counts the loader's passes and starts at 0 in a
            # new loader; Lightning calls no set_epoch on it. A loader built at epoch e (reload_dataloaders_every_n_epochs)
            # would repeat epoch 0's order, so its counter starts at the trainer's epoch (its next pass: e + 1).
            self._train_loader.current_epoch = self.trainer.current_epoch
        if self._loader_state is not None:
            self._train_loader.load_state_dict(self._loader_state)
        return self._train_loader

    def state_dict(self) -> dict[str, Any]:
        """The training loader's position, saved in every checkpoint.

        Lightning restores a loader's state only when it builds the loader after reading the checkpoint, but the
        methods' `trainer.estimated_stepping_batches` builds it before; the data module's own state is restored
        either way.
        """
        return {} if self._train_loader is None else {"train_loader": self._train_loader.state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._loader_state = state_dict.get("train_loader")
        if self._loader_state is not None and self._train_loader is not None:
            self._train_loader.load_state_dict(self._loader_state)

    def val_dataloader(self) -> Any:
        return self._stream(self.val_set, train=False)

    def test_dataloader(self) -> Any:
        if self.test_set is None and "val" in self.meta["splits"]:
            self.test_set = self.shards("val")
        if self.test_set is None:
            raise ValueError(f"the shards in '{self.root}' have no test split (prepare-data writes one from a "
                             "source with a val/ folder or a test set)")
        return self._stream(self.test_set, train=False)
