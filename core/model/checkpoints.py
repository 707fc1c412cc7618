"""Self-describing checkpoints, saved atomically; model files read without running code from them.

A checkpoint is a dict of plain values and tensors:
  format      {"name": "workbench.checkpoint", "version": 1}
  model       the plain model spec (core/model/build.py): {"layers": [resolved layer entries],
              "input_shape": [C, H, W]}, or {"torchvision": {...}} or {"module": ...} in place of layers
  state_dict  the model's weights
  classes     class names, index = label
  preprocess  {"image_size": [H, W], "channels": C, "resize": ..., "mean": [...], "std": [...]}
  config      the resolved run config (plain data)
  epoch       epochs completed;  metrics  the last epoch's metrics
  optimizer   optimizer state (last.pt only, for resuming)
Rebuilding goes through the layer registry or the torchvision allowlist, never through pickle.

Reading any model file starts with `inspect_model_file`, which looks at the bytes without loading
them: an empty, truncated, corrupt or foreign file gets its own message, and the pickle inside a
torch file is walked by an unpickler that builds nothing and imports nothing, listing every global
it names. Only a file whose globals are all on torch's weights-only allowlist reaches
`torch.load(weights_only=True)`, so a malicious pickle is refused before torch sees it, whatever
TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD says. `read_pickled_model` is the one explicit opt-in that unpickles.
"""
from __future__ import annotations

import _compat_pickle
import io
import json
import math
import pickle
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from core.errors import WorkbenchError
from core.files import atomic_write
from core.runs.rundir import RunDir, run_dirs

FORMAT = {"name": "workbench.checkpoint", "version": 1}
REQUIRED_KEYS = ("format", "model", "state_dict", "classes", "preprocess", "config", "epoch", "metrics")
SAFETENSORS_FORMAT = "workbench.safetensors"

MAX_PICKLE_BYTES = 64 * 2**20  # a checkpoint's pickle (without its tensors) is kilobytes
MAX_CLASSES = 100_000
MAX_IMAGE_SIDE = 4096  # the config's limits (core/config.py DataConfig)
MAX_RESIZE_SIDE = 8192
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # torch.save(..., _use_new_zipfile_serialization=False)
_STATE_DICT_KEYS = ("state_dict", "model_state_dict", "model")  # {"state_dict": {...}, "epoch": ...} files
TRUST_HINT = ("If you trust where it came from, pass --trust-pickle (in the app, confirm the dialog); "
              "safer, load it once where you trust it and save model.state_dict() instead.")


class CheckpointError(WorkbenchError):
    """A file that is not a usable model file; the message says why in plain text (`detail`: without the path)."""

    def __init__(self, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.detail = detail or message


@dataclass(frozen=True)
class ModelFile:
    """What a model file is, found without loading it."""

    path: Path
    kind: str  # "torch" (torch.save, zip or legacy) or "safetensors"
    unsafe: tuple[str, ...] = ()  # pickle globals outside torch's weights-only allowlist
    top: str | None = None  # the global that builds the pickle's top object (a whole model's class)

    @property
    def trust_reason(self) -> str | None:
        """Why loading it would run code from the file; None when it loads with weights_only=True."""
        if not self.unsafe:
            return None
        if self.top in self.unsafe and self.top.rsplit(".", 1)[-1][:1].isupper():  # a class, not a function
            return f"a whole pickled model ({self.top}), saved with torch.save(model): loading it runs code from the file"
        names = ", ".join(self.unsafe[:4]) + (", ..." if len(self.unsafe) > 4 else "")
        return f"a pickle that calls {names}: loading it runs code from the file"


def save_checkpoint(path: Path, checkpoint: dict[str, Any]) -> None:
    """Write a checkpoint atomically (temp file, fsync, os.replace)."""
    atomic_write(path, lambda handle: torch.save(checkpoint, handle))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load and check a checkpoint without running any code from the file."""
    path = Path(path)
    try:
        found = inspect_model_file(path)
    except CheckpointError as exc:
        if not path.exists():
            raise
        raise CheckpointError(f"{path} is not a workbench checkpoint: {exc.detail}") from exc
    if found.kind != "torch":
        raise CheckpointError(f"{path} is not a workbench checkpoint: a safetensors file (load it with load_model)")
    if found.unsafe:
        raise CheckpointError(f"{path} is not a workbench checkpoint: it is {found.trust_reason}. "
                              f"It is not loaded. {TRUST_HINT}")
    checkpoint = _torch_load(path)
    check_format(path, checkpoint)
    return checkpoint


def needs_trust(path: str | Path) -> str | None:
    """None when the file loads with weights_only=True (or trust would not help: corrupt, foreign,
    missing); otherwise why loading it runs code, e.g. 'a whole pickled model (...): loading it runs
    code from the file'. A run directory means its best checkpoint."""
    try:
        return inspect_model_file(model_file(path)).trust_reason
    except CheckpointError:
        return None


def model_file(path: str | Path) -> Path:
    """`path` itself when it is a file; for a run directory its checkpoints/best.pt (last.pt when the run
    saved no best); for a folder of runs, the newest run's."""
    path = Path(path)
    if not path.is_dir():
        return path
    for run in (RunDir(path), *run_dirs(path)):
        found = run.checkpoints()
        if found:
            return found[0]
    raise CheckpointError(f"{path} is a folder with no checkpoints/best.pt or last.pt, and no run in it has one: "
                          "give a run directory that saved a checkpoint, or a model file")


def run_dir_of(path: str | Path) -> Path | None:
    """The run directory a model file or folder belongs to (it has a config.yaml), or None."""
    path = Path(path)
    for folder in (path, path.parent.parent) if not path.is_dir() else (path,):
        if RunDir(folder).looks_like_run:
            return folder
    return None


# What a file is, from its bytes

def inspect_model_file(path: Path) -> ModelFile:
    """Classify a model file without loading it; CheckpointError for missing, empty, truncated,
    corrupt and foreign files (its `detail` is the reason without the path)."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(64)
    except FileNotFoundError:
        raise _error(path, "no such file") from None
    except IsADirectoryError:
        raise _error(path, "a folder, not a model file") from None
    except OSError as exc:
        raise _error(path, f"cannot be read ({exc.strerror or exc})") from None
    if size == 0:
        raise _error(path, "the file is empty (0 bytes); was it saved or copied completely?")
    if head.startswith(b"PK"):
        return _inspect_zip(path, size)
    if _is_safetensors(head, size):
        return ModelFile(path, "safetensors")
    if head[:1] == b"\x80":  # a pickle, protocol 2 or later: torch's legacy format, or a bare pickle
        return _inspect_legacy(path, size)
    raise _error(path, _foreign(head))


def _inspect_zip(path: Path, size: int) -> ModelFile:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise _error(path, f"truncated or corrupt: a zip archive whose end is missing ({size:,} bytes); "
                           "save or copy it again") from None
    with archive:
        infos = archive.infolist()
        names = [info.filename for info in infos]
        if any("/code/" in name or name.endswith("constants.pkl") for name in names):
            raise _error(path, "a TorchScript archive (torch.jit.save); workbench loads its checkpoints, "
                               "state dicts and safetensors files, not TorchScript")
        if not any(name == "data.pkl" or name.endswith("/data.pkl") for name in names):
            raise _error(path, "a zip archive, but not one written by torch.save (no data.pkl inside)")
        if sum(info.file_size for info in infos) > 2 * size + 2**20:
            raise _error(path, "corrupt: its archive claims far more data than the file holds")
        pickles = [info for info in infos if info.filename.endswith(".pkl")]  # every one: torch picks by its own rules
        if sum(info.file_size for info in pickles) > MAX_PICKLE_BYTES:
            raise _error(path, f"its pickles are {sum(i.file_size for i in pickles):,} bytes, more than a model file needs")
        try:
            broken = archive.testzip()  # every record's checksum, read in chunks
            if broken is not None:
                raise zipfile.BadZipFile(f"{broken} fails its checksum")
            data = {info.filename: archive.read(info) for info in pickles}
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
            raise _error(path, f"corrupt: {exc}; save or copy it again") from None
    named: list[str] = []
    tops = {name: _scan_pickle(path, io.BytesIO(content), named) for name, content in data.items()}
    main = next((name for name in data if name == "data.pkl" or name.endswith("/data.pkl")), None)
    origin = getattr(tops[main], "origin", None) if main is not None else None
    return ModelFile(path, "torch", _unsafe(named), origin)


def _inspect_legacy(path: Path, size: int) -> ModelFile:
    with path.open("rb") as handle:
        stream = io.BytesIO(handle.read(MAX_PICKLE_BYTES))
    named: list[str] = []
    first = _scan_pickle(path, stream, named)
    if first != _LEGACY_MAGIC:  # a bare pickle: torch.load cannot read it, so say what it is
        unsafe = _unsafe(named)
        if unsafe:
            return ModelFile(path, "torch", unsafe, getattr(first, "origin", None))
        raise _error(path, "a Python pickle, not a file written by torch.save")
    # then the protocol version, sys info, the object, its storage keys; then raw tensor bytes
    _scan_pickle(path, stream, named)
    _scan_pickle(path, stream, named)
    top = _scan_pickle(path, stream, named)
    _scan_pickle(path, stream, named)
    return ModelFile(path, "torch", _unsafe(named), getattr(top, "origin", None))


def _scan_pickle(path: Path, stream: io.BytesIO, named: list[str]) -> Any:
    """Walk one pickle without building or importing anything, adding the globals it names to `named`;
    its top object (an inert stand-in whose `origin` is the global that built it, if any)."""
    try:
        return _Scanner(stream, named).load()
    except EOFError:
        raise _error(path, "truncated: the file ends inside its pickle; save or copy it again") from None
    except Exception as exc:  # every malformed pickle ends up here; nothing was run
        raise _error(path, f"corrupt: its pickle cannot be read ({type(exc).__name__}: "
                           f"{str(exc)[:80]}); save or copy it again") from None


def _unsafe(named: list[str]) -> tuple[str, ...]:
    allowed = _allowed_globals()
    return tuple(dict.fromkeys(name for name in named if name not in allowed))


class _Opaque:
    """Stands in for every object a scanned pickle would build: creating, calling or filling one does nothing."""

    origin: str = ""

    def __new__(cls, *args: Any, **kwargs: Any) -> "_Opaque":
        return object.__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def append(self, item: Any) -> None:
        pass

    def extend(self, items: Any) -> None:
        pass


class _Scanner(pickle.Unpickler):
    """An unpickler that records the globals a pickle names and returns inert stand-ins for them."""

    def __init__(self, stream: io.BytesIO, named: list[str]) -> None:
        super().__init__(stream, encoding="latin1")
        self.named = named

    def find_class(self, module: str, name: str) -> type:
        if (module, name) in _compat_pickle.NAME_MAPPING:  # Python 2 names, as pickle's own find_class maps them
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        qualified = f"{module}.{name}"
        self.named.append(qualified)
        return type("Opaque", (_Opaque,), {"origin": qualified})

    def persistent_load(self, pid: Any) -> type:
        # torch's legacy format saves a module's class as ("module", class, file, source): return the class
        if isinstance(pid, tuple) and len(pid) > 1 and pid[0] == "module" and isinstance(pid[1], type):
            return pid[1]
        return type("Opaque", (_Opaque,), {"origin": ""})


def _allowed_globals() -> frozenset[str]:
    """The globals torch.load(weights_only=True) accepts by default (tensors, storages, dtypes, ...)."""
    try:
        from torch import _weights_only_unpickler

        return frozenset(_weights_only_unpickler._get_allowed_globals())
    except Exception:  # torch moved it: fall back to what plain checkpoints use
        return frozenset({"collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter",
                          "torch.FloatStorage", "torch.LongStorage", "torch.Size", "builtins.set"})


def _is_safetensors(head: bytes, size: int) -> bool:
    if len(head) < 10:
        return False
    (length,) = struct.unpack("<Q", head[:8])
    return 2 <= length <= min(size - 8, 100 * 2**20) and head[8:9] == b"{"


_MAGIC = ((b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
          (b"\x89HDF", "an HDF5 file (Keras?)"), (b"\x1f\x8b", "a gzip archive"), (b"%PDF", "a PDF document"),
          (b"BM", "a BMP image"), (b"\x7fELF", "a program"), (b"PK", "a zip archive"))


def _foreign(head: bytes) -> str:
    what = next((name for magic, name in _MAGIC if head.startswith(magic)), None)
    if what is None and head[:1] in (b"{", b"["):
        what = "JSON text"
    if what is None:
        try:
            head.decode("utf-8")
            what = "a text file"
        except UnicodeDecodeError:
            what = "an unknown binary format"
    return (f"not a model file workbench can read ({what}); it reads workbench checkpoints, "
            "torch.save(model.state_dict()) files and safetensors files")


def _error(path: Path, detail: str) -> CheckpointError:
    return CheckpointError(f"{path}: {detail}", detail)


# Loading

def _torch_load(path: Path) -> Any:
    """torch.load with weights_only=True, after inspect_model_file found only allowlisted globals."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a storage record missing, a bad checksum, ...
        raise CheckpointError(f"{path} is corrupt ({first_line(exc)}); save or copy it again") from exc


def read_torch_file(path: Path) -> Any:
    """The contents of a torch.save file whose pickle calls nothing outside torch's allowlist."""
    found = inspect_model_file(path)
    if found.kind != "torch":
        raise CheckpointError(f"{path} is a {found.kind} file, not a torch.save file")
    if found.unsafe:
        raise CheckpointError(f"{path} is {found.trust_reason}. It is not loaded. {TRUST_HINT}")
    return _torch_load(path)


def read_pickled_model(path: Path) -> Any:
    """Unpickle a file fully, running whatever code it names: only for a user's explicit --trust-pickle."""
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except (AttributeError, ModuleNotFoundError, ImportError) as exc:
        raise CheckpointError(
            f"{path} is a pickled model whose code cannot be found here ({first_line(exc)}). A whole-model "
            "pickle needs the module that defined its class importable (run from its folder or set PYTHONPATH); "
            "better, save model.state_dict() and load it with a layer-stack file") from exc
    except Exception as exc:
        raise CheckpointError(f"{path} could not be unpickled ({type(exc).__name__}: {first_line(exc)})") from exc


def state_dict_of(value: Any) -> dict[str, torch.Tensor] | None:
    """The tensors of a plain state dict, also one nested as {"state_dict": ...} or {"model_state_dict": ...}."""
    if isinstance(value, dict) and value and all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                 for k, v in value.items()):
        return dict(value)
    if isinstance(value, dict):
        for key in _STATE_DICT_KEYS:
            nested = state_dict_of(value.get(key))
            if nested is not None:
                return nested
    return None


def is_checkpoint(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("format"), dict) and value["format"].get("name") == FORMAT["name"]


def check_format(path: Path, checkpoint: Any) -> None:
    if not is_checkpoint(checkpoint):
        raise CheckpointError(f"{path} is not a workbench checkpoint (no workbench format marker)")
    if checkpoint["format"].get("version", 0) > FORMAT["version"]:
        raise CheckpointError(f"{path} was written by a newer workbench (format version {checkpoint['format']['version']})")
    missing = [key for key in REQUIRED_KEYS if key not in checkpoint]
    if missing:
        raise CheckpointError(f"{path} is missing {', '.join(missing)}")


def read_safetensors(path: Path) -> dict[str, Any]:
    """A safetensors file written by `workbench export` as a checkpoint-like dict (model, state_dict,
    classes, preprocess). Its header is checked against the architecture before any tensor is read."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            if metadata.get("format") != SAFETENSORS_FORMAT:
                raise CheckpointError(f"{path} is a safetensors file without workbench's metadata (architecture, "
                                      "classes, preprocessing); only files written by `workbench export` load")
            try:
                checkpoint = {key: json.loads(metadata[key]) for key in ("model", "classes", "preprocess")}
            except (KeyError, ValueError) as exc:
                raise CheckpointError(f"{path} has broken workbench metadata ({exc})") from exc
            _check_classes(path, checkpoint["classes"])
            if isinstance(checkpoint["model"], dict) and "module" not in checkpoint["model"]:
                found = {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}
                _check_shapes(path, planned_shapes(checkpoint, allow_user_code=False, path=path), found)
            checkpoint["state_dict"] = {key: handle.get_tensor(key) for key in handle.keys()}
    except SafetensorError as exc:
        raise CheckpointError(f"{path} is a truncated or corrupt safetensors file ({first_line(exc)})") from exc
    return checkpoint


# Rebuilding

def rebuild_model(checkpoint: dict[str, Any], *, allow_user_code: bool = False, path: Path | None = None) -> nn.Module:
    """The checkpoint's model with its weights, in eval mode, on the CPU.

    A layer stack or torchvision model is rebuilt through an allowlist; a `module:` model imports
    and runs the user's own code, so it is only rebuilt with allow_user_code=True. The weights'
    names and shapes are compared with the architecture (built on the meta device, nothing
    allocated) before anything is built; a state dict whose names differ but whose shapes match
    in order (the tutorial's conv1.weight for a stack's 0.weight) is loaded by position.
    """
    from core.model.build import rebuild

    where = path or "the checkpoint"
    spec = checkpoint["model"]
    if isinstance(spec, dict) and "module" in spec and not allow_user_code:
        raise CheckpointError(f"{where}: this model is your own code ({spec['module']}); rebuilding it imports and "
                              "runs that code, so it loads only with --allow-user-code (in the app, confirm the dialog)")
    _check_classes(where, checkpoint["classes"])
    state = state_dict_of(checkpoint["state_dict"]) or {}
    expected = planned_shapes(checkpoint, allow_user_code=allow_user_code, path=where)
    state = _check_shapes(where, expected, {key: tuple(value.shape) for key, value in state.items()}, state)
    try:
        model = rebuild(spec, len(checkpoint["classes"]), allow_user_code=allow_user_code)
        model.load_state_dict(state)
    except WorkbenchError:
        raise
    except Exception as exc:
        raise CheckpointError(f"{where}: the weights do not load into the model ({first_line(exc)})") from exc
    return model.eval()


def planned_shapes(checkpoint: dict[str, Any], *, allow_user_code: bool, path: Any) -> dict[str, tuple[int, ...]]:
    """The state-dict shapes the checkpoint's architecture has, from a build on the meta device, once its
    activations on one image at its input size are known to fit the budget a training batch gets."""
    from core.model import build
    from core.model.probe import probe_module
    from core.model.registry import build_layer, parse_stack
    from core.model.stack import check_stack
    from core.model.user import construct_user

    spec, classes = checkpoint["model"], len(checkpoint["classes"])
    model: nn.Module
    try:
        if not isinstance(spec, dict):
            raise WorkbenchError("the model spec is not a mapping")
        if "layers" in spec:
            report = check_stack(parse_stack(spec["layers"]), _input_shape(spec), classes)
            if report.error:
                raise report.error
            with torch.device("meta"):
                model = nn.Sequential(*(build_layer(row.spec) for row in report.rows))
        elif "torchvision" in spec:
            with torch.device("meta"):
                model = build._torchvision_model(spec["torchvision"], classes, "none")
        elif "module" in spec and allow_user_code:
            with torch.device("meta"):
                model = construct_user(spec["module"], spec.get("module_args", {}), classes)
        else:
            raise WorkbenchError("the model spec names no layers, torchvision model or module")
        if "layers" not in spec:
            report = probe_module(model, _input_shape(spec), classes)
        _check_activations(report.total_activation_bytes, _input_shape(spec))
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from exc
    except WorkbenchError as exc:
        raise CheckpointError(f"{path}: its architecture does not build ({exc})") from exc
    except Exception as exc:
        raise CheckpointError(f"{path}: its architecture does not build ({type(exc).__name__}: {first_line(exc)})") from exc
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


def _check_activations(activation_bytes: int, input_shape: tuple[int, ...]) -> None:
    """Small weights can still make huge activations (a ConvTranspose, a 4096-channel conv): a model from a file
    runs only within model.budget.max_activation_mb's default, what training allows a batch."""
    from core.config import BudgetConfig

    limit = BudgetConfig().max_activation_mb * 2**20
    if activation_bytes > limit:
        raise CheckpointError(f"one image at its input size {_shape(input_shape)} makes {activation_bytes / 2**20:,.0f} "
                              f"MB of activations, over the {limit / 2**20:,.0f} MB a training batch may keep; "
                              "it is not run")


def _input_shape(spec: dict[str, Any]) -> tuple[int, ...]:
    shape = spec.get("input_shape")
    if not (isinstance(shape, (list, tuple)) and len(shape) == 3 and all(isinstance(n, int) for n in shape)
            and shape[0] in (1, 3) and all(1 <= n <= MAX_IMAGE_SIDE for n in shape[1:])):
        raise WorkbenchError(f"input_shape {shape!r} is not [channels (1 or 3), height, width] within 1..{MAX_IMAGE_SIDE}")
    return tuple(shape)


def _check_shapes(where: Any, expected: dict[str, tuple[int, ...]], found: dict[str, tuple[int, ...]],
                  state: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """`state` renamed to the model's keys (by name, or by position when only names differ);
    CheckpointError naming the mismatching keys and shapes otherwise."""
    state = state or {}
    if list(found) and set(found) == set(expected) and all(found[k] == expected[k] for k in expected):
        return state
    if len(found) == len(expected) and [*found.values()] == [*expected.values()] and set(found) != set(expected):
        return {model_key: state[file_key] for model_key, file_key in zip(expected, found)} if state else {}
    missing = [key for key in expected if key not in found]
    unexpected = [key for key in found if key not in expected]
    different = [key for key in expected if key in found and found[key] != expected[key]]
    lines = [f"{where}: the weights do not fit the architecture"]
    if different:
        lines.append("  shapes differ: " + "; ".join(f"{key} is {_shape(found[key])} in the file, "
                                                     f"{_shape(expected[key])} in the model" for key in different[:8]))
    if missing:
        lines.append("  missing from the file: " + ", ".join(f"{k} {_shape(expected[k])}" for k in missing[:8])
                     + (f" (and {len(missing) - 8} more)" if len(missing) > 8 else ""))
    if unexpected:
        lines.append("  not in the model: " + ", ".join(f"{k} {_shape(found[k])}" for k in unexpected[:8])
                     + (f" (and {len(unexpected) - 8} more)" if len(unexpected) > 8 else ""))
    if not found:
        lines.append("  the file holds no weights")
    raise CheckpointError("\n".join(lines))


def _shape(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


def _check_classes(where: Any, classes: Any) -> None:
    if not (isinstance(classes, (list, tuple)) and 1 <= len(classes) <= MAX_CLASSES
            and all(isinstance(name, str) and len(name) <= 1000 for name in classes)):
        raise CheckpointError(f"{where}: its class names are not a list of 1 to {MAX_CLASSES:,} names")
    if len(set(classes)) != len(classes):
        raise CheckpointError(f"{where}: its class names repeat")


def check_preprocess(where: Any, preprocess: Any) -> dict[str, Any]:
    """The preprocessing with every size within the config's limits (so a file cannot make us allocate
    huge images); CheckpointError otherwise."""
    def bad(what: str) -> CheckpointError:
        return CheckpointError(f"{where}: its preprocessing is unusable ({what})")

    if not isinstance(preprocess, dict):
        raise bad("not a mapping")
    size = preprocess.get("image_size")
    if not (isinstance(size, (list, tuple)) and len(size) == 2 and all(isinstance(n, int) for n in size)
            and all(1 <= n <= MAX_IMAGE_SIDE for n in size)):
        raise bad(f"image_size {size!r} is not [height, width] within 1..{MAX_IMAGE_SIDE}")
    channels = preprocess.get("channels")
    if channels not in (1, 3):
        raise bad(f"channels {channels!r} is not 1 or 3")
    resize = preprocess.get("resize")
    sides = resize if isinstance(resize, (list, tuple)) else [resize] if resize is not None else []
    if not (len(sides) in (0, 1, 2) and all(isinstance(n, int) and 1 <= n <= MAX_RESIZE_SIDE for n in sides)):
        raise bad(f"resize {resize!r} is not a side or [height, width] within 1..{MAX_RESIZE_SIDE}")
    stats: list[Any] = [preprocess.get("mean"), preprocess.get("std")]  # checked just below
    for name, values in zip(("mean", "std"), stats):
        if not (isinstance(values, (list, tuple)) and len(values) in (1, channels)
                and all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)):
            raise bad(f"{name} {values!r} is not {channels} numbers")
    if any(v <= 0 for v in stats[1]):
        raise bad("std has a value that is not positive")
    return {"image_size": list(size), "channels": channels,
            "resize": list(resize) if isinstance(resize, (list, tuple)) else resize,
            "mean": [float(v) for v in stats[0]], "std": [float(v) for v in stats[1]]}


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
