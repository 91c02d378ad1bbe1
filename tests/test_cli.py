import numpy as np
import pytest
from PIL import Image

from transformers_cm3leon.cli import TINY_RANDOM_WARNING, main
from transformers_cm3leon.testing_utils import get_tiny_cm3leon


def read(path):
    return np.asarray(Image.open(path))


def test_generate_without_model_or_weights_uses_the_labelled_tiny_random_model(tmp_path, caplog, monkeypatch):
    from transformers_cm3leon import mini

    monkeypatch.setattr(mini, "has_default_model", lambda: False)
    out = tmp_path / "digit.png"
    assert main(["generate", "a handwritten digit seven", "-o", str(out), "--seed", "3"]) == 0
    assert TINY_RANDOM_WARNING in caplog.text
    assert Image.open(out).size == (16, 16)
    again = tmp_path / "again.png"
    main(["generate", "a handwritten digit seven", "-o", str(again), "--seed", "3"])
    assert np.array_equal(read(out), read(again))  # same seed, same image


def test_generate_from_a_saved_model_writes_one_file_per_image(tmp_path):
    model, processor = get_tiny_cm3leon()
    model.save_pretrained(tmp_path / "model")
    processor.save_pretrained(tmp_path / "model")
    out = tmp_path / "cat.png"
    argv = ["generate", "a cat", "-o", str(out), "--model", str(tmp_path / "model"), "--num-images", "2"]
    assert main(argv + ["--top-k", "5", "--guidance-scale", "2"]) == 0
    assert [p.name for p in sorted(tmp_path.glob("cat-*.png"))] == ["cat-0.png", "cat-1.png"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["generate", "a cat", "-o", "out.jpg"], "`--output` must be a .png path"),
        (["generate", "a cat", "--num-images", "0"], "`--num-images` must be at least 1"),
    ],
)
def test_generate_bad_arguments_exit_with_a_clear_message(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_generate_without_model_uses_the_shipped_cm3leon_mini(tmp_path, caplog):
    from transformers_cm3leon import mini

    if not mini.has_default_model():
        pytest.skip("this checkout has no CM3Leon-Mini weights")
    out = tmp_path / "seven.png"
    assert main(["generate", "a handwritten digit seven", "-o", str(out)]) == 0
    assert TINY_RANDOM_WARNING not in caplog.text
    assert Image.open(out).size == (16, 16)
