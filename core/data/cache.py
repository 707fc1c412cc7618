"""The decoded dataset saved to disk (data.cache_dir) and reused while its files are unchanged.

The key covers the data config, every listed file's path, size and modification time, so an
edited, added or removed file means a fresh decode. Loaded with `weights_only=True`.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch

from core.config import DataConfig
from core.data.samples import Listing, SkippedFile
from core.files import atomic_write

FORMAT = 1


def cache_key(config: DataConfig, listing: Listing) -> str | None:
    """A digest of everything the decoded tensors depend on; None when a sample is no file or cannot be stat'ed."""
    files = []
    try:
        for sample in listing.train + listing.val:
            if sample.path is None:
                return None
            stat = os.stat(sample.path)
            files.append([str(sample.path), sample.label, stat.st_size, stat.st_mtime_ns])
    except OSError:
        return None
    what = {"format": FORMAT, "classes": listing.classes, "image_size": config.image_size, "channels": config.channels,
            "resize": config.resize, "on_error": config.on_error, "files": files, "split": len(listing.train)}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()


def cache_file(folder: Path, key: str) -> Path:
    return folder / f"decoded-{key[:24]}.pt"


def load_cached(path: Path, key: str) -> dict | None:
    """The saved tensors for `key`, or None (missing, stale or damaged: decode again)."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # a damaged cache file is only a reason to decode again
        return None
    if not isinstance(saved, dict) or saved.get("key") != key:
        return None
    saved["skipped"] = [SkippedFile(Path(p), reason) for p, reason in saved["skipped"]]
    return saved


def save_cached(path: Path, key: str, tensors: dict[str, torch.Tensor], skipped: list[SkippedFile]) -> None:
    """Write atomically; a cache that cannot be written is not an error (it only costs time)."""
    saved = {"key": key, **tensors, "skipped": [[str(s.path), s.reason] for s in skipped]}
    try:
        atomic_write(path, lambda f: torch.save(saved, f))
    except OSError:
        pass
