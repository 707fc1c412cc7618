"""Evaluation: numbers against a hand-computed confusion matrix, labels from folders and configs, files."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from core.errors import DataError
from core.use.evaluation import confusion_image, evaluate_model, save_evaluation, summarize
from core.use.inference import Classifier, load_model
from core.runs.rundir import RunDir
from tests.core.model_files import train_tiny

COLOURS = {"red": (230, 20, 20), "green": (20, 230, 20), "blue": (20, 20, 230)}


def colour_classifier() -> Classifier:
    """Predicts the strongest channel of the mean colour: red, green or blue."""
    model = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 3, bias=False))
    with torch.no_grad():
        model[2].weight.copy_(torch.eye(3) * 10)
    preprocess = {"image_size": [8, 8], "channels": 3, "mean": [0.0], "std": [1.0]}
    return Classifier.from_module(model, list(COLOURS), preprocess)


def test_summarize_matches_a_hand_computed_confusion_matrix() -> None:
    classes = ["a", "b", "c"]
    true = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
    predicted = [0, 0, 1, 2, 1, 1, 0, 2, 2, 1]
    # every sample: probability 0.8 on its predicted class, 0.1 on the others
    logits = torch.full((10, 3), math.log(0.1))
    logits[range(10), predicted] = math.log(0.8)
    evaluation = summarize(classes, torch.tensor(true), logits, [f"f{i}.png" for i in range(10)], top_losses=2)
    assert evaluation.confusion == [[2, 1, 1], [1, 2, 0], [0, 1, 2]]
    assert evaluation.accuracy == pytest.approx(6 / 10) and evaluation.top5_accuracy is None  # 3 classes: always 100%
    expected = {"a": (2 / 3, 2 / 4, 4 / 7, 4), "b": (2 / 4, 2 / 3, 4 / 7, 3), "c": (2 / 3, 2 / 3, 2 / 3, 3)}
    for report in evaluation.per_class:
        assert (report.precision, report.recall, report.f1, report.support) == pytest.approx(expected[report.name])
    assert evaluation.confused_pairs == [("a", "b", 1), ("a", "c", 1), ("b", "a", 1), ("c", "b", 1)]
    assert [(t.path, t.true, t.predicted) for t in evaluation.top_losses] == [("f2.png", "a", "b"), ("f3.png", "a", "c")]
    assert evaluation.top_losses[0].loss == pytest.approx(-math.log(0.1)) and evaluation.top_losses[0].confidence == pytest.approx(0.8)


def test_top5_accuracy_counts_the_true_class_among_the_five_most_likely() -> None:
    classes = [str(i) for i in range(7)]
    logits = torch.tensor([[7.0, 6, 5, 4, 3, 2, 1]] * 2)  # the true class ranks 5th, then 6th
    evaluation = summarize(classes, torch.tensor([4, 5]), logits, ["x", "y"])
    assert evaluation.accuracy == 0.0 and evaluation.top5_accuracy == 0.5
    assert evaluation.per_class[0].precision == 0.0 and evaluation.per_class[0].support == 0


def test_top5_accuracy_is_left_out_where_the_top_5_hold_every_class() -> None:
    logits = torch.tensor([[5.0, 4, 3, 2, 1]])  # the true class ranks last: top-5 would say 100%
    evaluation = summarize([str(i) for i in range(5)], torch.tensor([4]), logits, ["x"])
    assert evaluation.top5_accuracy is None and evaluation.to_dict()["top5_accuracy"] is None
    six = summarize([str(i) for i in range(6)], torch.tensor([5]), torch.tensor([[6.0, 5, 4, 3, 2, 1]]), ["x"])
    assert six.top5_accuracy == 0.0


def test_a_folder_gives_labels_by_name_and_reports_unknown_folders(write_images, tmp_path: Path) -> None:
    data = tmp_path / "val"
    write_images(data / "red", 3, colour=COLOURS["red"])
    [mislabelled] = write_images(data / "red" / "more", 1, colour=COLOURS["blue"], suffix=".ppm")
    write_images(data / "green", 2, colour=COLOURS["green"], suffix=".jpg")
    write_images(data / "blue", 2, colour=COLOURS["blue"])
    write_images(data / "purple", 2, colour=(200, 20, 200))
    (data / "red" / "notes.txt").write_text("not an image, not counted")
    (data / "blue" / "broken.png").write_bytes(b"")
    progress: list[tuple[int, int]] = []
    evaluation = evaluate_model(colour_classifier(), data, batch_size=4, progress=lambda *p: progress.append(p))
    assert evaluation.confusion == [[3, 0, 1], [0, 2, 0], [0, 0, 2]]
    assert evaluation.accuracy == pytest.approx(7 / 8) and evaluation.count == 8
    assert evaluation.unknown_folders == ["purple"]
    assert [(f.path.name, f.reason) for f in evaluation.skipped] == [("broken.png", "empty file")]
    assert (evaluation.top_losses[0].path, evaluation.top_losses[0].true, evaluation.top_losses[0].predicted) == \
        (str(mislabelled), "red", "blue")
    assert evaluation.confused_pairs == [("red", "blue", 1)] and progress[-1] == (9, 9)


def test_a_folder_without_the_models_classes_is_an_error_naming_them(write_images, tmp_path: Path) -> None:
    write_images(tmp_path / "train" / "red", 1)
    with pytest.raises(DataError, match="(?s)no images of the model's classes.*folders not among the model's "
                                        "classes: train.*hint: the model's classes are red, green, blue"):
        evaluate_model(colour_classifier(), tmp_path)
    write_images(tmp_path / "val" / "red", 1)
    with pytest.raises(DataError, match="for a train/val layout, give the val folder"):
        evaluate_model(colour_classifier(), tmp_path)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, shapes_root: Path) -> RunDir:
    return train_tiny(tmp_path_factory.mktemp("runs"), shapes_root)


def test_the_runs_own_validation_split_reproduces_its_val_accuracy(run: RunDir) -> None:
    classifier = load_model(run.path)
    evaluation = evaluate_model(classifier)  # run_dir/config.yaml's validation split
    assert evaluation.count == 5 * 8 and evaluation.unknown_folders == [] and evaluation.skipped == []
    assert evaluation.accuracy == pytest.approx(classifier.metrics["val_accuracy"])
    assert "config.yaml" in evaluation.data
    same = evaluate_model(classifier, run.path / "config.yaml", top_losses=3)
    assert same.confusion == evaluation.confusion and len(same.top_losses) == 3


def test_the_runs_tta_reproduces_its_val_accuracy(tmp_path: Path, shapes_root: Path) -> None:
    classifier = load_model(train_tiny(tmp_path, shapes_root, "train.tta=flip_shift").path)
    averaged, plain = evaluate_model(classifier, tta="flip_shift"), evaluate_model(classifier)
    assert averaged.accuracy == pytest.approx(classifier.metrics["val_accuracy"])
    assert [loss.loss for loss in averaged.top_losses] != [loss.loss for loss in plain.top_losses]


def test_save_evaluation_writes_json_and_csv(run: RunDir, tmp_path: Path) -> None:
    evaluation = evaluate_model(load_model(run.path), top_losses=2)
    save_evaluation(evaluation, tmp_path)
    saved = json.loads((tmp_path / "evaluation.json").read_text())
    assert saved == json.loads(json.dumps(evaluation.to_dict()))
    assert {"classes", "accuracy", "top5_accuracy", "per_class", "confusion", "confused_pairs", "top_losses",
            "unknown_folders", "skipped"} <= set(saved)
    assert set(saved["per_class"][0]) == {"class", "precision", "recall", "f1", "support"}
    rows = list(csv.reader((tmp_path / "confusion.csv").open()))
    assert rows[0] == ["true \\ predicted", *evaluation.classes]
    assert [[int(n) for n in row[1:]] for row in rows[1:]] == evaluation.confusion
    image = confusion_image(evaluation)
    assert image.dtype == torch.uint8 and image.shape[0] == 3 and image.shape[1] > 5 * 24
