"""Feed: the cached and the streaming path give the same batches; augmentation; bad files; the disk cache."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from core.config import AugmentConfig, DataConfig
from core.data.augment import Augmenter, _hue, random_crop, rotate
from core.data.batches import Feed
from core.data.cache import cache_file
from core.data.images import UnreadableImage
from core.train.distributed import World
from core.train.resume import restore_rng, rng_state

CPU = torch.device("cpu")


def _folder(tmp_path, count=6):
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (tmp_path / "d" / name).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(rng.integers(0, 256, (10 + i, 12, 3), dtype=np.uint8)).save(tmp_path / "d" / name / f"{i}.png")
    return tmp_path / "d"


def _config(root, **options):
    options["loader"] = {"shuffle": False, "num_workers": 0} | options.get("loader", {})
    return DataConfig(**{"source": "folder", "path": str(root), "image_size": 8, "batch_size": 3} | options)


def _all(batches):
    images, labels = zip(*batches)
    return torch.cat(images), torch.cat(labels)


def test_cache_and_streaming_give_the_same_tensors(tmp_path):
    root = _folder(tmp_path)
    cached = Feed(_config(root, cache="on"), 0, CPU)
    streamed = Feed(_config(root, cache="off", loader={"num_workers": 2}), 0, CPU)
    assert cached.cached and not streamed.cached
    assert cached.mean == pytest.approx(streamed.mean) and cached.std == pytest.approx(streamed.std)
    for a, b in ((cached.train_batches(), streamed.train_batches()), (cached.val_batches(), streamed.val_batches())):
        (x1, y1), (x2, y2) = _all(a), _all(b)
        assert torch.equal(x1, x2) and torch.equal(y1, y2)
    # 10 training images in batches of 3: the last image alone would be a batch batch norm cannot train on
    assert x1.dtype == torch.float32 and cached.batches_per_epoch == 3 == len(list(streamed.train_batches()))
    assert cached.train_left_out == 1 == streamed.train_left_out
    assert torch.equal(cached.sample_images(4), streamed.sample_images(4))


def test_over_budget_streams_and_options_apply(tmp_path):
    root = _folder(tmp_path)
    assert not Feed(_config(root, memory_budget_mb=1, image_size=1024), 0, CPU).cached
    feed = Feed(_config(root, loader={"drop_last": True, "shuffle": True}), 0, CPU)
    assert feed.cached and feed.batches_per_epoch == 3
    first, second = _all(feed.train_batches())[0], _all(feed.train_batches())[0]
    assert len(first) == 9 and not torch.equal(first, second)


def test_streaming_skips_bad_files_or_fails(tmp_path):
    root = _folder(tmp_path)
    (root / "a" / "bad.jpg").write_text("not an image")
    feed = Feed(_config(root, cache="off"), 0, CPU)
    assert feed.train_count + feed.val_count == 13
    assert len(_all(feed.train_batches())[1]) + len(_all(feed.val_batches())[1]) == 12
    assert [(s.path.name, s.reason) for s in feed.take_skipped()] == [("bad.jpg", "not an image")]
    assert feed.take_skipped() == []
    failing = Feed(_config(root, cache="off", on_error="fail"), 0, CPU)
    with pytest.raises(UnreadableImage, match="bad.jpg"):
        _all(failing.train_batches())
        _all(failing.val_batches())


def test_disk_cache_is_reused_until_a_file_changes(tmp_path, monkeypatch):
    root = _folder(tmp_path)
    config = _config(root, cache_dir=str(tmp_path / "cache"))
    first = Feed(config, 0, CPU)
    assert len(list((tmp_path / "cache").glob("decoded-*.pt"))) == 1
    import core.data.loading as loading

    monkeypatch.setattr(loading, "decode_samples", lambda *a, **k: pytest.fail("decoded again"))
    again = Feed(config, 0, CPU)
    assert torch.equal(_all(first.train_batches())[0], _all(again.train_batches())[0])
    monkeypatch.undo()
    Image.new("RGB", (5, 5), (1, 2, 3)).save(root / "a" / "0.png")
    changed = Feed(config, 0, CPU)
    both = [torch.cat([_all(f.train_batches())[0], _all(f.val_batches())[0]]) for f in (first, changed)]
    assert not torch.equal(*both)
    assert len(list((tmp_path / "cache").glob("decoded-*.pt"))) == 2


def test_augmentation_is_seeded_and_train_only(tmp_path):
    root = _folder(tmp_path)
    config = _config(root, augment={"random_crop_padding": 2, "horizontal_flip": True, "rotation": 15,
                                    "color_jitter": {"brightness": 0.3, "contrast": 0.3, "saturation": 0.3},
                                    "grayscale": 0.3})
    plain = Feed(_config(root), 0, CPU)
    a, b = Feed(config, 0, CPU), Feed(config, 0, CPU)
    xa, xb = _all(a.train_batches())[0], _all(b.train_batches())[0]
    assert torch.equal(xa, xb) and not torch.equal(xa, _all(plain.train_batches())[0])
    assert torch.equal(_all(a.val_batches())[0], _all(plain.val_batches())[0])


def test_crop_flip_and_rotation_ops():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    assert torch.equal(random_crop(x, 1, torch.tensor([[0.0, 0.99]]))[0, 0, 0], torch.tensor([0.0, 0, 0, 0]))
    assert torch.equal(random_crop(x, 1, torch.tensor([[0.5, 0.5]])), x)
    assert torch.equal(rotate(x, torch.tensor([90.0]))[0, 0, 0], torch.tensor([3.0, 7, 11, 15]))
    flip = Augmenter(AugmentConfig(horizontal_flip=True), 0)
    outs = {tuple(flip(x)[0, 0, 0].tolist()) for _ in range(10)}
    assert outs == {(0.0, 1, 2, 3), (3.0, 2, 1, 0)}


def test_hue_turns_colours_around_the_grey_axis():
    red, grey = torch.tensor([255.0, 0, 0]), torch.tensor([128.0, 128, 128])
    images = torch.stack([red, grey]).view(2, 3, 1, 1).expand(2, 3, 2, 2).clone()
    turned = _hue(images, torch.tensor([1 / 3, 1 / 3]))
    r, g, b = turned[0, :, 0, 0]
    assert g > r and g > b, "a third of a turn takes red towards green"
    assert torch.allclose(turned[1], images[1], atol=1e-3), "grey has no hue to turn"
    assert torch.allclose(_hue(images, torch.zeros(2)), images, atol=1e-3)


def test_hue_jitter_is_seeded():
    config = AugmentConfig(color_jitter={"hue": 0.2})
    images = torch.rand(4, 3, 8, 8) * 255
    assert config.enabled
    assert torch.equal(Augmenter(config, 7)(images), Augmenter(config, 7)(images))
    assert not torch.equal(Augmenter(config, 7)(images), images)


def test_random_crop_matches_a_per_image_pad_and_crop():
    images = torch.randint(0, 256, (40, 3, 6, 5), dtype=torch.uint8)
    where = torch.rand(40, 2, generator=torch.Generator().manual_seed(1))
    cropped = random_crop(images, 2, where)
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    for i, (top, left) in enumerate((where * 5).long().tolist()):
        assert torch.equal(cropped[i], padded[i, :, top:top + 6, left:left + 5])


@pytest.mark.parametrize("mode, torch_mode", [("edge", "replicate"), ("reflect", "reflect")])
def test_random_crop_pads_as_its_padding_mode_says(mode, torch_mode):
    images = torch.randint(1, 256, (40, 3, 6, 5), dtype=torch.uint8)  # no black pixel: a black border is padding
    cropped = Augmenter(AugmentConfig(random_crop_padding=2, random_crop_padding_mode=mode), 0)(images)
    where = torch.rand(40, 2, generator=torch.Generator().manual_seed(0))  # the augmenter's draw for seed 0
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2), mode=torch_mode)
    for i, (top, left) in enumerate((where * 5).long().tolist()):
        assert torch.equal(cropped[i], padded[i, :, top:top + 6, left:left + 5].float())
    assert cropped.ne(0).all() and (where * 5).long().min() == 0, "crops reached the border, and it is not black"


def test_reflect_padding_as_wide_as_the_image_names_the_key():
    from core.errors import ConfigError
    from core.config import parse_config

    with pytest.raises(ConfigError, match=r"random_crop_padding 4 cannot reflect an image of 4 pixels.*use edge"):
        parse_config("data: {image_size: 4, augment: {random_crop_padding: 4, random_crop_padding_mode: reflect}}\n"
                     "model: {layers: [flatten, {linear: {out_features: auto}}]}")


def test_random_crop_size_takes_smaller_windows_anywhere_in_the_padded_image():
    images = torch.randint(0, 256, (400, 3, 6, 5), dtype=torch.uint8)
    where = torch.rand(400, 2, generator=torch.Generator().manual_seed(1))
    cropped = random_crop(images, 1, where, (4, 3))
    padded = torch.nn.functional.pad(images, (1, 1, 1, 1))
    spans = torch.tensor([8 - 4 + 1, 7 - 3 + 1])
    offsets = (where * spans).long()
    assert cropped.shape == (400, 3, 4, 3) and {tuple(o) for o in offsets.tolist()} == {
        (top, left) for top in range(5) for left in range(5)}  # every window of the padded 8 x 7 image
    for i, (top, left) in enumerate(offsets.tolist()):
        assert torch.equal(cropped[i], padded[i, :, top:top + 4, left:left + 3])
    assert torch.equal(random_crop(images, 0, where, (6, 5)), images)


def test_a_crop_larger_than_the_padded_image_names_the_key():
    from core.errors import ConfigError
    from core.config import parse_config

    with pytest.raises(ConfigError) as raised:
        parse_config("data: {image_size: 32, augment: {random_crop_padding: 2, random_crop_size: 37}}\n"
                     "model: {layers: [flatten, {linear: {out_features: auto}}]}")
    assert "random_crop_size [37, 37] is larger than the padded image [36, 36]" in str(raised.value)
    config = parse_config("data: {image_size: 32, augment: {random_crop_padding: 2, random_crop_size: 36}}\n"
                          "model: {layers: [flatten, {linear: {out_features: auto}}]}")
    assert config.data.augment.random_crop_size == (36, 36)


def test_whole_images_from_needs_the_crops_it_ends():
    from core.errors import ConfigError
    from core.config import parse_config

    with pytest.raises(ConfigError, match="whole_images_from switches random_crop_size's crops.*set random_crop_size"):
        parse_config("data: {image_size: 32, augment: {whole_images_from: 0.9}}\n"
                     "model: {layers: [flatten, {linear: {out_features: auto}}]}")


def _mirrored(root, seed, epoch, world=World(), **options):
    """Per training image, in order: whether horizontal_flip: alternate mirrors it in `epoch`."""
    plain = _all(Feed(_config(root, **options), seed, CPU, world).train_batches())[0]
    alternate = _config(root, augment={"horizontal_flip": "alternate"}, **options)
    x = _all(Feed(alternate, seed, CPU, world).train_batches(epoch))[0]
    same, mirrored = ((x == view).flatten(1).all(1) for view in (plain, plain.flip(3)))
    assert bool((same ^ mirrored).all()), "each image is either itself or its mirror"
    return mirrored


def test_alternate_flips_show_every_image_both_ways_over_two_epochs(tmp_path):
    root = _folder(tmp_path)
    first, second, third = (_mirrored(root, 0, epoch) for epoch in (1, 2, 3))
    assert bool((first ^ second).all()) and torch.equal(first, third)
    assert 0 < int(first.sum()) < len(first), "the first orientation is a coin per image"
    assert torch.equal(_mirrored(root, 0, 1), first), "seeded"
    assert not torch.equal(_mirrored(root, 5, 1), first)
    assert torch.equal(_mirrored(root, 0, 1, cache="off"), first), "streaming flips the same"


def test_alternate_flips_follow_each_image_on_every_rank(tmp_path):
    root = _folder(tmp_path)  # 10 training images; one process trains on 9, each of two ranks on 5
    one = _mirrored(root, 0, 2)
    rank0, rank1 = (_mirrored(root, 0, 2, World(rank=rank, size=2)) for rank in (0, 1))
    assert rank0.tolist() == one[0::2].tolist() and rank1[:4].tolist() == one[1::2].tolist()


def test_a_resumed_epoch_continues_with_the_same_flips(tmp_path):
    config = _config(_folder(tmp_path, count=12), loader={"shuffle": True},
                     augment={"horizontal_flip": "alternate", "random_crop_padding": 1})
    feed = Feed(config, 3, CPU)
    list(feed.train_batches(1))
    batches = feed.train_batches(2)
    seen = [next(batches), next(batches)]
    state = rng_state(feed, mid_epoch=True)
    rest = list(batches)
    resumed = Feed(config, 3, CPU)
    restore_rng(state, resumed)
    for (x, y), (again, labels) in zip(rest, resumed.train_batches(2, skip=len(seen)), strict=True):
        assert torch.equal(x, again) and torch.equal(y, labels)
