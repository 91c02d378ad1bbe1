"""Hub round trips: save_for_hub / push_to_hub (against a local stand-in for the Hub API), transformers' own
push_to_hub of model and processor, offline loading of "org/name" from a pre-populated Hugging Face cache, the
trust_remote_code export loaded where transformers_cm3leon cannot be imported, and the model cards."""

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from huggingface_hub import EvalResult, ModelCard
from PIL import Image
from transformers import AutoModelForCausalLM, AutoProcessor, GenerationConfig

import transformers_cm3leon  # noqa: F401  (registers the Auto classes)
from transformers_cm3leon import processing_cm3leon
from transformers_cm3leon.hub import push_retriever_to_hub, push_to_hub, save_for_hub
from transformers_cm3leon.model_card import create_model_card, write_model_card
from transformers_cm3leon.testing_utils import get_tiny_cm3leon

REPO_ID = "org/tiny-cm3leon"
SNAPSHOT = "0123456789abcdef0123456789abcdef01234567"
PROCESSOR_FILES = {
    "processor_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "image_tokenizer/config.json",
    "image_tokenizer/model.safetensors",
    # The chat templates of the CM3Leon format.
    "chat_template.jinja",
    "additional_chat_templates/image_editing.jinja",
    "additional_chat_templates/text_to_image.jinja",
}
MODEL_FILES = {"config.json", "generation_config.json", "model.safetensors"}
EVAL_RESULTS = [
    {
        "task_type": "text-to-image",
        "dataset_type": "mscoco",
        "dataset_name": "MS-COCO",
        "dataset_split": "validation",
        "metric_type": "fid",
        "metric_name": "zero-shot FID-30K",
        "metric_value": 4.88,
    }
]


@pytest.fixture(scope="module")
def tiny():
    model, processor = get_tiny_cm3leon(block_type="chameleon", num_sentinel_tokens=0, seed=3)
    model.generation_config = GenerationConfig(max_new_tokens=4, do_sample=False, pad_token_id=1, eos_token_id=2)
    input_ids = torch.tensor([[0, 40, 41, 42, model.config.break_token_id, 5, 6, 7, 2]])
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (20, 24, 3), dtype=np.uint8))
    with torch.no_grad():
        logits = model(input_ids).logits
    codes = processor.image_processor.encode(image)
    return SimpleNamespace(
        model=model, processor=processor, input_ids=input_ids, image=image, logits=logits, codes=codes
    )


def assert_same_model(model, processor, tiny):
    with torch.no_grad():
        torch.testing.assert_close(model(tiny.input_ids).logits, tiny.logits, atol=0, rtol=0)
    assert torch.equal(processor.image_processor.encode(tiny.image), tiny.codes)
    assert processor.tokenizer.get_vocab() == tiny.processor.tokenizer.get_vocab()


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown, flags=re.DOTALL)


class FakeHubApi:
    """Stands in for `huggingface_hub.HfApi`: records the calls and 'uploads' into a local folder."""

    def __init__(self, remote: Path):
        self.remote = remote
        self.calls = []

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", repo_id, kwargs))
        return SimpleNamespace(repo_id=repo_id)

    def upload_folder(self, *, repo_id, folder_path, **kwargs):
        self.calls.append(("upload_folder", repo_id, kwargs))
        shutil.copytree(folder_path, self.remote, dirs_exist_ok=True)
        return SimpleNamespace(commit_url=f"https://huggingface.co/{repo_id}/commit/{SNAPSHOT}")

    def create_commit(self, *, repo_id, operations, **kwargs):  # transformers' PushToHubMixin path
        self.calls.append(("create_commit", repo_id, kwargs))
        for operation in operations:
            target = self.remote / operation.path_in_repo
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(operation.path_or_fileobj, target)
        return SimpleNamespace(commit_url=f"https://huggingface.co/{repo_id}/commit/{SNAPSHOT}")


def files_under(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file()}


# -- save_for_hub / push_to_hub -----------------------------------------------------------------------------------------
def test_save_for_hub_writes_one_loadable_folder(tiny, tmp_path):
    files = save_for_hub(tmp_path, tiny.model, tiny.processor, model_card={"eval_results": EVAL_RESULTS})
    assert set(files) == MODEL_FILES | PROCESSOR_FILES | {"README.md"}
    assert "auto_map" not in json.loads((tmp_path / "config.json").read_text())
    model = AutoModelForCausalLM.from_pretrained(tmp_path)
    processor = AutoProcessor.from_pretrained(tmp_path)
    assert_same_model(model, processor, tiny)


def test_push_to_hub_uploads_the_saved_folder_in_one_commit(tiny, tmp_path):
    api = FakeHubApi(tmp_path / "remote")
    push_to_hub(REPO_ID, tiny.model, tiny.processor, api=api, private=True, commit_message="Add weights")
    assert [call[0] for call in api.calls] == ["create_repo", "upload_folder"]
    assert api.calls[0][2]["private"] is True and api.calls[1][2]["commit_message"] == "Add weights"
    assert files_under(api.remote) == MODEL_FILES | PROCESSOR_FILES | {"README.md"}
    card = ModelCard.load(api.remote / "README.md")
    assert f'from_pretrained("{REPO_ID}")' in card.text  # the snippet loads the repository it was pushed to
    model = AutoModelForCausalLM.from_pretrained(api.remote)
    processor = AutoProcessor.from_pretrained(api.remote)
    assert_same_model(model, processor, tiny)


def test_transformers_push_to_hub_of_model_and_processor(tiny, tmp_path, monkeypatch):
    """`model.push_to_hub` / `processor.push_to_hub` (transformers' PushToHubMixin) upload complete folders."""
    import transformers.utils.hub as transformers_hub

    api = FakeHubApi(tmp_path / "remote")
    monkeypatch.setattr(transformers_hub, "hf_api", lambda: api)
    monkeypatch.setattr(processing_cm3leon, "hf_api", lambda: api)
    monkeypatch.setattr(
        transformers_hub, "create_and_tag_model_card", lambda repo_id, tags=None, token=None: ModelCard("---\n---\n")
    )
    tiny.model.push_to_hub(REPO_ID)
    tiny.processor.push_to_hub(REPO_ID)
    assert files_under(api.remote) >= MODEL_FILES | PROCESSOR_FILES
    assert {call[0] for call in api.calls} == {"create_repo", "create_commit"}
    model = AutoModelForCausalLM.from_pretrained(api.remote)
    processor = AutoProcessor.from_pretrained(api.remote)
    assert_same_model(model, processor, tiny)


def test_save_for_hub_rejects_bad_arguments(tiny, tmp_path):
    with pytest.raises(TypeError, match="`model` must be a CM3Leon model"):
        save_for_hub(tmp_path, tiny.processor)
    with pytest.raises(TypeError, match="`model_card` must be a bool, a ModelCard or a mapping"):
        save_for_hub(tmp_path, tiny.model, model_card="README.md")
    with pytest.raises(ValueError, match="`repo_id` must be a Hub id"):
        push_to_hub("", tiny.model, api=FakeHubApi(tmp_path))


# -- remote code and the offline cache ----------------------------------------------------------------------------------
def test_remote_code_export_writes_auto_map_and_flat_modules(tiny, tmp_path):
    save_for_hub(tmp_path, tiny.model, tiny.processor, export_remote_code=True, model_card=False)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["auto_map"] == {
        "AutoConfig": "configuration_cm3leon.CM3LeonConfig",
        "AutoModelForCausalLM": "modeling_cm3leon.CM3LeonForCausalLM",
    }
    processor_config = json.loads((tmp_path / "processor_config.json").read_text())
    assert processor_config["auto_map"]["AutoProcessor"] == "processing_cm3leon.CM3LeonProcessor"
    assert processor_config["image_processor"]["auto_map"]["AutoImageProcessor"] == (
        "image_processing_cm3leon.CM3LeonImageProcessor"
    )
    assert {path.name for path in tmp_path.glob("*.py")} >= {
        "configuration_cm3leon.py",
        "modeling_cm3leon.py",
        "modeling_cm3leon_vq.py",
        "image_processing_cm3leon.py",
        "processing_cm3leon.py",
        "tokenization_cm3leon.py",
    }
    # The export does not leak: the classes and objects are as before, and a plain save has no auto_map.
    assert type(tiny.model)._auto_class is None and type(tiny.processor)._auto_class is None
    assert getattr(tiny.model.config, "auto_map", None) is None
    tiny.model.save_pretrained(tmp_path / "plain")
    assert "auto_map" not in json.loads((tmp_path / "plain" / "config.json").read_text())


def test_remote_code_export_refuses_modules_that_need_the_package(tmp_path):
    from transformers_cm3leon.hub import _check_remote_code

    (tmp_path / "modeling_x.py").write_text("from .configuration_x import XConfig\n")
    (tmp_path / "configuration_x.py").write_text("def f():\n    from .data.masking import mask\n")
    with pytest.raises(RuntimeError, match=r"configuration_x.py imports .data.masking, which is not a module"):
        _check_remote_code(tmp_path)
    (tmp_path / "configuration_x.py").write_text("from transformers_cm3leon import CM3LeonConfig\n")
    with pytest.raises(RuntimeError, match="configuration_x.py imports transformers_cm3leon absolutely"):
        _check_remote_code(tmp_path)
    (tmp_path / "configuration_x.py").write_text("XConfig = dict\n")
    assert _check_remote_code(tmp_path) == ["configuration_x.py", "modeling_x.py"]


REMOTE_SCRIPT = textwrap.dedent(
    """
    import importlib.abc, json, sys
    import torch
    from PIL import Image

    class BlockPackage(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "transformers_cm3leon":
                raise ModuleNotFoundError(f"{name} is hidden for this test", name=name)

    blocker = BlockPackage()
    sys.meta_path.insert(0, blocker)
    try:
        import transformers_cm3leon  # noqa: F401
        raise SystemExit("transformers_cm3leon is importable; the remote-code check would prove nothing")
    except ModuleNotFoundError:
        pass

    from transformers import AutoModelForCausalLM, AutoProcessor

    repo, input_ids, image_path, snippets = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
    input_ids, image, result = torch.tensor(input_ids), Image.open(image_path), {}

    def run(model, processor, name):
        with torch.no_grad():
            logits = model(input_ids).logits
        result[name] = {
            "model_module": type(model).__module__,
            "processor_module": type(processor).__module__,
            "vq_module": type(processor.image_processor.vq_model).__module__,
            "logits": logits.flatten().tolist(),
            "codes": processor.image_processor.encode(image).flatten().tolist(),
        }

    # Without the package: the code comes from the repository (trust_remote_code), the files from the offline cache.
    run(
        AutoModelForCausalLM.from_pretrained(repo, trust_remote_code=True),
        AutoProcessor.from_pretrained(repo, trust_remote_code=True),
        "remote_code",
    )
    exec(snippets["remote_code"], {})
    assert "transformers_cm3leon" not in sys.modules

    # With the package: the same repository id, offline, through the registered classes.
    sys.meta_path.remove(blocker)
    import transformers_cm3leon  # noqa: F401

    run(AutoModelForCausalLM.from_pretrained(repo), AutoProcessor.from_pretrained(repo), "package")
    for snippet in snippets["package"]:
        exec(snippet, {})
    result["image_size"] = Image.open("image.png").size
    print("RESULT" + json.dumps(result))
    """
)


def test_offline_cache_and_remote_code_without_the_package(tiny, tmp_path):
    """Save with remote code and a card for "org/tiny-cm3leon", lay it out as a Hugging Face cache, then in a fresh
    interpreter with HF_HUB_OFFLINE=1: load it by id with trust_remote_code while transformers_cm3leon cannot be
    imported, run the card's remote-code snippet, then import the package and load it by id again."""
    cache = tmp_path / "hub"
    save_for_hub(
        tmp_path / "repo", tiny.model, tiny.processor, export_remote_code=True, model_card={"repo_id": REPO_ID}
    )
    snapshot = populate_cache(cache, REPO_ID, tmp_path / "repo")
    card = (snapshot / "README.md").read_text()
    text_snippet, image_snippet, remote_snippet = python_blocks(card)
    assert "import transformers_cm3leon" in text_snippet and 'pipeline("text-to-image"' in image_snippet
    assert "trust_remote_code=True" in remote_snippet and "transformers_cm3leon" not in remote_snippet
    tiny.image.save(tmp_path / "image.png")

    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("HF_", "HUGGINGFACE_", "TRANSFORMERS_")) and key != "PYTHONPATH"
    }
    env.update(
        HF_HUB_OFFLINE="1",
        HF_HOME=str(tmp_path / "home"),
        HF_HUB_CACHE=str(cache),
        HF_MODULES_CACHE=str(tmp_path / "modules"),
        HF_HUB_DISABLE_TELEMETRY="1",
    )
    snippets = json.dumps({"package": [text_snippet, image_snippet], "remote_code": remote_snippet})
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            REMOTE_SCRIPT,
            REPO_ID,
            json.dumps(tiny.input_ids.tolist()),
            str(tmp_path / "image.png"),
            snippets,
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    result = json.loads(completed.stdout.split("RESULT", 1)[1])

    assert result["image_size"] == [16, 16]  # the card's text-to-image snippet ran and saved its image
    remote, package = result["remote_code"], result["package"]
    for module in (remote["model_module"], remote["processor_module"], remote["vq_module"]):
        assert module.startswith("transformers_modules."), module
    assert package["model_module"] == "transformers_cm3leon.modeling_cm3leon"
    assert package["processor_module"] == "transformers_cm3leon.processing_cm3leon"
    expected_logits = tiny.logits.flatten().tolist()
    expected_codes = tiny.codes.flatten().tolist()
    for loaded in (remote, package):
        np.testing.assert_allclose(loaded["logits"], expected_logits, atol=1e-6, rtol=0)
        assert loaded["codes"] == expected_codes


def populate_cache(cache: Path, repo_id: str, files: Path) -> Path:
    """The Hugging Face cache layout of one revision: models--org--name/snapshots/<sha>/..., refs/main = <sha>."""
    repo_folder = cache / f"models--{repo_id.replace('/', '--')}"
    shutil.copytree(files, repo_folder / "snapshots" / SNAPSHOT)
    (repo_folder / "refs").mkdir()
    (repo_folder / "refs" / "main").write_text(SNAPSHOT)
    return repo_folder / "snapshots" / SNAPSHOT


def test_retriever_push_to_hub_and_offline_load_by_id(tmp_path, monkeypatch):
    pytest.importorskip("faiss", reason="the retriever's default index needs faiss (pip install faiss-cpu)")
    import huggingface_hub.constants

    from transformers_cm3leon.retrieval import CM3LeonRetriever, CM3LeonRetrieverConfig

    vectors = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    retriever = CM3LeonRetriever(CM3LeonRetrieverConfig(encoder_name_or_path=None, embedding_dim=4))
    retriever.add_documents(texts=[f"doc {i}" for i in range(6)], embeddings=vectors, show_progress=False)
    api = FakeHubApi(tmp_path / "remote")
    push_retriever_to_hub("org/tiny-bank", retriever, api=api)
    assert [call[0] for call in api.calls] == ["create_repo", "upload_folder"]
    assert "config.json" in files_under(api.remote) and any(
        name.startswith("memory_bank/") for name in files_under(api.remote)
    )

    populate_cache(tmp_path / "hub", "org/tiny-bank", api.remote)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    loaded = CM3LeonRetriever.from_pretrained("org/tiny-bank", load_encoder=False)
    queries = vectors[[1, 4]] + 0.01
    expected = [[(d.index, d.text) for d in docs] for docs in retriever.retrieve(query_embeddings=queries, k=2)]
    assert [[(d.index, d.text) for d in docs] for docs in loaded.retrieve(query_embeddings=queries, k=2)] == expected
    assert [len(docs) for docs in expected] == [2, 2]


# -- model cards --------------------------------------------------------------------------------------------------------
def test_model_card_metadata_and_sections(tiny, tmp_path):
    card = create_model_card(
        tiny.model.config,
        REPO_ID,
        base_model="facebook/chameleon-7b",
        license="other",
        license_name="chameleon-research-license",
        license_link="https://ai.meta.com/resources/models-and-libraries/chameleon-license/",
        tags=["anole"],
        datasets=["laion/laion2B-en"],
        eval_results=EVAL_RESULTS,
        vq_config=tiny.processor.image_processor.vq_model.config,
        generation_config=GenerationConfig(
            do_sample=True,
            temperature=0.7,
            top_p=0.9,
            image_generation_defaults={"text-to-image": {"guidance_scale": 3.0}},
        ),
    )
    card.save(tmp_path / "README.md")
    loaded = ModelCard.load(tmp_path / "README.md")
    data = loaded.data
    assert data.library_name == "transformers" and data.pipeline_tag == "text-to-image"
    assert data.license == "other" and data.license_name == "chameleon-research-license"
    assert data.base_model == "facebook/chameleon-7b" and data.datasets == ["laion/laion2B-en"]
    assert data.tags[:2] == ["transformers-cm3leon", "cm3leon"] and "anole" in data.tags and "chameleon" in data.tags
    assert data.model_name == "tiny-cm3leon"
    (result,) = data.eval_results
    assert isinstance(result, EvalResult)
    assert (result.task_type, result.dataset_name, result.metric_type, result.metric_value) == (
        "text-to-image",
        "MS-COCO",
        "fid",
        4.88,
    )
    text = loaded.text
    assert "| text-to-image | MS-COCO (validation) | zero-shot FID-30K | 4.88 |" in text
    assert "| Layers | 2 |" in text and "| Hidden size | 32 |" in text
    assert "| Codes per image | 4 x 4 = 16 |" in text and "| Codebook | 32 codes of dimension 8 |" in text
    assert "`temperature=0.7`, `top_p=0.9`, text-to-image `guidance_scale=3.0`" in text
    assert "[chameleon-research-license](https://ai.meta.com" in text and "arXiv:2309.02591" in text
    assert "trust_remote_code" not in text  # no remote code was exported


def test_model_card_snippets_run_against_the_folder(tiny, tmp_path, monkeypatch):
    folder = tmp_path / "model"
    save_for_hub(folder, tiny.model, tiny.processor, model_card=False)
    card = write_model_card(folder)  # repo_id defaults to the folder itself
    text_snippet, image_snippet = python_blocks(card.text)
    assert f'from_pretrained("{folder}")' in text_snippet and f'model="{folder}"' in image_snippet
    printed = []
    exec(text_snippet, {"print": printed.append})
    assert len(printed) == 1 and isinstance(printed[0], str)
    monkeypatch.chdir(tmp_path)
    exec(image_snippet, {})
    assert Image.open(tmp_path / "image.png").size == (16, 16)


def test_model_card_of_a_text_only_folder(tiny, tmp_path):
    tiny.model.save_pretrained(tmp_path)
    tiny.processor.tokenizer.save_pretrained(tmp_path)
    card = write_model_card(tmp_path)
    (snippet,) = python_blocks(card.text)
    assert "No image tokenizer" in card.text and "AutoTokenizer" in snippet and "image_tokenizer" not in snippet
    printed = []
    exec(snippet, {"print": printed.append})
    assert len(printed) == 1 and isinstance(printed[0], str)


def test_model_card_argument_errors(tiny):
    config = tiny.model.config
    with pytest.raises(ValueError, match="`license='other'` needs `license_name` and `license_link`"):
        create_model_card(config, REPO_ID, license="other")
    with pytest.raises(ValueError, match=r"`eval_results\[0\]` lacks \['metric_value'\]"):
        create_model_card(
            config, REPO_ID, eval_results=[{k: v for k, v in EVAL_RESULTS[0].items() if k != "metric_value"}]
        )
    with pytest.raises(TypeError, match="`config` must be a CM3LeonConfig"):
        create_model_card(tiny.processor, REPO_ID)
    with pytest.raises(TypeError, match="`tags` must be an iterable of strings"):
        create_model_card(config, REPO_ID, tags="anole")


def test_generate_model_card_cli(tiny, tmp_path, capsys):
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "model_cards" / "generate_model_card.py"
    spec = importlib.util.spec_from_file_location("generate_model_card", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    save_for_hub(tmp_path, tiny.model, tiny.processor, model_card=False)
    (tmp_path / "results.json").write_text(json.dumps(EVAL_RESULTS))
    argv = [str(tmp_path), "--repo-id", REPO_ID, "--tag", "anole", "--base-model", "leloy/Anole-7b-v0.1-hf"]
    assert script.main([*argv, "--eval-results", str(tmp_path / "results.json")]) == 0
    assert "README.md" in capsys.readouterr().out
    data = ModelCard.load(tmp_path / "README.md").data
    assert data.base_model == "leloy/Anole-7b-v0.1-hf" and "anole" in data.tags and data.license == "apache-2.0"
    assert data.eval_results[0].metric_value == 4.88 and data.model_name == "tiny-cm3leon"
