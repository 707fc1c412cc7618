"""Loading a model file from a screen: asks before running code from the file, never uses a half-loaded model."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from textual import work

from core.errors import WorkbenchError
from core.use.inference import Classifier, load_model, needs_trust
from screens.base import WorkbenchScreen
from screens.dialogs import AskText, Confirm

WHOLE_MODEL = "a whole pickled model"  # how needs_trust starts when the file is torch.save(model)
USER_CODE_HINT = "--allow-user-code"  # in the refusal of a checkpoint whose model is the user's module


@dataclass(frozen=True)
class Trust:
    """What the user agreed to for one file, and what a whole pickled model needs besides."""

    pickle: bool = False
    user_code: bool = False
    classes: list[str] | None = None
    image_size: tuple[int, int] | None = None


class LoadsModels(WorkbenchScreen):
    """The base of a screen that loads model files.

    `load_model_file(path)` loads in a thread. A file whose loading would run code (a whole-model pickle,
    a checkpoint of a model that is the user's own `module:` code) is loaded only after a dialog naming
    the risk is confirmed. The screen gets `model_loaded(path, classifier)` with a complete model, or
    `model_refused(path, message)`; `model_status(text)` tells what is going on.
    """

    def load_model_file(self, path: Path) -> None:
        self.model_status(f"loading {path}…")
        self._load_model(path, None)

    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def _load_model(self, path: Path, trust: Trust | None) -> None:
        asked, trust = trust is not None, trust or Trust()
        try:
            if not asked:
                risk = needs_trust(path)
                if risk is not None:
                    self.app.call_from_thread(self._ask_trust, path, risk, Trust(pickle=True))
                    return
            classifier = load_model(path, trust_pickle=trust.pickle, allow_user_code=trust.user_code,
                                    classes=trust.classes, image_size=trust.image_size)
        except WorkbenchError as exc:
            if USER_CODE_HINT in str(exc) and not trust.user_code:
                own_code = str(exc).split(": ", 1)[-1].split(";")[0]  # "this model is your own code (pkg.mod:Net)"
                self.app.call_from_thread(self._ask_trust, path, f"{own_code}: loading it imports and runs that code",
                                          replace(trust, user_code=True))
            else:
                self.app.call_from_thread(self.model_refused, path, str(exc))
        except Exception as exc:  # a trusted pickle or a user's module can raise anything
            self.app.call_from_thread(self.model_refused, path,
                                      f"{path} could not be loaded ({type(exc).__name__}: {exc})")
        else:
            self.app.call_from_thread(self.model_loaded, path, classifier)

    def _ask_trust(self, path: Path, risk: str, trust: Trust) -> None:
        def answered(trusted: bool | None) -> None:
            if not trusted:
                self.model_refused(path, f"{path} was not loaded: loading it would run code you did not trust")
            elif trust.pickle and risk.startswith(WHOLE_MODEL) and trust.classes is None:
                self._ask_classes(path, trust)
            else:
                self.model_status(f"loading {path} (trusted)…")
                self._load_model(path, trust)

        self.model_status(f"{path}: asking before running its code")
        self.app.push_screen(Confirm(f"Load {path.name}? It runs code", [risk, "load it only if you trust where it "
                                     "came from"], "Trust and load"), answered)

    def _ask_classes(self, path: Path, trust: Trust) -> None:
        """A whole pickled model names neither its classes nor its image size: ask for both."""
        def got_classes(text: str | None) -> None:
            classes = [name.strip() for name in (text or "").split(",") if name.strip()]
            if not classes:
                self.model_refused(path, f"{path} was not loaded: it needs its class names")
                return
            self.app.push_screen(AskText("Image size it was trained at (height,width)", "32,32"),
                                 lambda size: got_size(classes, size))

        def got_size(classes: list[str], text: str | None) -> None:
            try:
                height, width = (int(part) for part in (text or "").replace("x", ",").split(","))
            except ValueError:
                self.model_refused(path, f"{path} was not loaded: give the image size as height,width (e.g. 32,32)")
                return
            self.model_status(f"loading {path} (trusted)…")
            self._load_model(path, replace(trust, classes=classes, image_size=(height, width)))

        self.app.push_screen(AskText("Class names of the model, in output order, comma-separated",
                                     placeholder="plane, car, bird, cat, deer, dog, frog, horse, ship, truck"),
                             got_classes)

    # what the screen implements

    def model_status(self, text: str) -> None:
        raise NotImplementedError

    def model_loaded(self, path: Path, classifier: Classifier) -> None:
        raise NotImplementedError

    def model_refused(self, path: Path, message: str) -> None:
        raise NotImplementedError
