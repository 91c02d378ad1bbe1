"""The `cm3leon` command: an instant `--help`, `generate` through pipeline("text-to-image"), clear errors."""

import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from cm3leon_cli import main
from transformers_cm3leon.cli import TINY_RANDOM_WARNING
from transformers_cm3leon.testing_utils import get_tiny_cm3leon


def read(path):
    return np.asarray(Image.open(path))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    model, processor = get_tiny_cm3leon()
    folder = tmp_path_factory.mktemp("cli-model")
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.mark.parametrize(
    "command, recipes", [("train", "{pretrain,sft,vq}"), ("eval", "{text-to-image,captioning,vqa}")]
)
def test_train_and_eval_help_list_their_recipes(command, recipes, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: cm3leon {command} [-h] {recipes}" in capsys.readouterr().out


def test_help_answers_without_importing_torch():
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", "import sys, cm3leon_cli; cm3leon_cli.build_parser(); print('torch' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "False"  # nothing heavy is imported to answer --help
    assert time.perf_counter() - started < 5  # a fresh interpreter; the parse itself takes milliseconds


def test_generate_without_model_or_weights_uses_the_labelled_tiny_random_model(tmp_path, caplog, monkeypatch, capsys):
    from transformers_cm3leon import default_model

    monkeypatch.setattr(default_model, "has_default_model", lambda: False)
    out = tmp_path / "apple.png"
    assert main(["generate", "red apple", "-o", str(out), "--seed", "3"]) == 0
    assert TINY_RANDOM_WARNING in caplog.text
    assert Image.open(out).size == (16, 16)
    assert "s per image" in capsys.readouterr().out
    again = tmp_path / "again.png"
    main(["generate", "red apple", "-o", str(again), "--seed", "3"])
    assert np.array_equal(read(out), read(again))  # same seed, same image


def test_generate_from_a_saved_model_writes_one_upscaled_file_per_image(tmp_path, model_dir):
    out = tmp_path / "cat.png"
    argv = ["generate", "a cat", "-o", str(out), "--model", str(model_dir), "--num-images-per-prompt", "2"]
    assert main(argv + ["--top-k", "5", "--guidance-scale", "2", "--size", "64"]) == 0
    assert [p.name for p in sorted(tmp_path.glob("cat-*.png"))] == ["cat-0.png", "cat-1.png"]
    big = read(tmp_path / "cat-0.png")
    assert big.shape == (64, 64, 3)
    assert np.array_equal(big[::4, ::4], big[1::4, 1::4])  # nearest: each pixel became a 4x4 block


@pytest.mark.parametrize(
    "argv, message",
    [
        (["generate", "a cat", "-o", "out.jpg"], "`--output` must be a .png path"),
        (["generate", "a cat", "--num-images-per-prompt", "0"], "`--num-images-per-prompt` must be at least 1"),
        (["generate", "   "], "The prompt is empty"),
        (["generate", "a cat", "--seed", str(2**70)], "`--seed` must be in [0, 2**63 - 1]"),
        (["generate", "a cat", "--size", "0"], "`--size` must be in [1, 4096]"),
        (["generate", "a cat", "--model", "/nonexistent/folder"], "`--model` '/nonexistent/folder' is not a folder"),
        (["generate", "a cat", "--device", "bogus"], "`--device` 'bogus' is not a torch device"),
        (["generate", "a cat", "-o", "/proc/cannot/write.png"], "`--output` '/proc/cannot/write.png'"),
    ],
)
def test_generate_bad_arguments_exit_with_a_clear_message(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_generate_without_model_uses_the_default_model(tmp_path, caplog):
    from transformers_cm3leon import default_model

    if not default_model.has_default_model():
        pytest.skip("this checkout has no default model weights")
    out = tmp_path / "apple.png"
    assert main(["generate", "red apple", "-o", str(out), "--size", "256"]) == 0
    assert TINY_RANDOM_WARNING not in caplog.text
    assert Image.open(out).size == (256, 256)
