# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""One Hub-ready folder per model: weights, processor (tokenizer + image processor + VQ model), generation config,
model card, and optionally the modelling code itself so the repository loads with `trust_remote_code=True` on a
machine without `transformers_cm3leon` installed.

Remote code uses transformers' own mechanism: the classes are registered for their Auto classes
(`register_for_auto_class`) while saving, which writes `auto_map` into `config.json` / `processor_config.json`; the
registration is undone afterwards, so later saves are unaffected. transformers loads remote code from ONE flat folder,
so the modules the classes need (and those they import relatively, subpackages such as `generation/` included) are
written next to the weights flattened: `generation/mixin.py` becomes `generation_mixin.py`, with its relative imports
rewritten to the flat names.
"""

from __future__ import annotations

import ast
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from huggingface_hub import HfApi, ModelCard
from transformers import dynamic_module_utils

from .model_card import write_model_card

PACKAGE_NAME = __package__.split(".")[0]
_MISSING = object()
# The Auto class each kind of object is registered for in a remote-code export.
MODEL_AUTO_CLASS = "AutoModelForCausalLM"
CONFIG_AUTO_CLASS = "AutoConfig"
PROCESSOR_AUTO_CLASS = "AutoProcessor"
IMAGE_PROCESSOR_AUTO_CLASS = "AutoImageProcessor"
TOKENIZER_AUTO_CLASS = "AutoTokenizer"


@contextmanager
def _registered_for_auto_classes(objects: list[tuple[object, str]]) -> Iterator[None]:
    """Register the classes of `objects` for their Auto class and drop the `auto_map` the save writes into them,
    restoring both afterwards."""
    classes = {type(obj): auto_class for obj, auto_class in objects}
    saved_classes = {cls: cls.__dict__.get("_auto_class", _MISSING) for cls in classes}
    saved_maps = {id(obj): (obj, obj.__dict__.get("auto_map", _MISSING)) for obj, _ in objects}
    try:
        for cls, auto_class in classes.items():
            cls.register_for_auto_class(auto_class)
        yield
    finally:
        for cls, previous in saved_classes.items():
            if previous is _MISSING:
                delattr(cls, "_auto_class")
            else:
                cls._auto_class = previous
        for obj, previous in saved_maps.values():
            if previous is _MISSING:
                obj.__dict__.pop("auto_map", None)
            else:
                obj.auto_map = previous


@contextmanager
def _own_module_copies() -> Iterator[None]:
    """While saving, transformers copies each registered class's module and the files it imports relatively, as if
    they were all in one folder; this package has subpackages, so the copies are made by `_write_flat_modules`."""
    original = dynamic_module_utils.get_relative_import_files
    dynamic_module_utils.get_relative_import_files = lambda module_file: []
    try:
        yield
    finally:
        dynamic_module_utils.get_relative_import_files = original


def _flat_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return "_".join(part for part in parts if part != "__init__")


def _import_target(path: Path, node: ast.ImportFrom, root: Path) -> Path:
    """The file a relative `from ... import` of the module at `path` reads."""
    base = path.parent
    for _ in range(node.level - 1):
        base = base.parent
    target = base.joinpath(*node.module.split(".")) if node.module else base
    if target.is_dir():
        return target / "__init__.py"
    target = target.with_suffix(".py")
    if not target.is_file() or root not in target.parents:
        raise RuntimeError(f"{path.relative_to(root)} imports {node.module!r}, which is not a module of the package.")
    return target


def _write_flat_modules(folder: Path, modules: list[str]) -> list[str]:
    """Write `modules` (dotted names under the package) and every module they import relatively, flattened."""
    root = Path(__file__).resolve().parent
    todo = [root.joinpath(*name.split(".")).with_suffix(".py") for name in modules]
    written = {}
    while todo:
        path = todo.pop()
        if path in written:
            continue
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        for node in ast.walk(ast.parse("".join(lines))):
            if isinstance(node, ast.ImportFrom) and node.level:
                if node.module is None:
                    raise RuntimeError(f"{path.relative_to(root)}: `from . import ...` cannot be flattened.")
                target = _import_target(path, node, root)
                todo.append(target)
                line = node.lineno - 1
                lines[line] = re.sub(
                    r"from\s+\.+[\w.]*\s+import", f"from .{_flat_name(target, root)} import", lines[line], count=1
                )
        written[path] = "".join(lines)
    for path, source in written.items():
        (folder / f"{_flat_name(path, root)}.py").write_text(source, encoding="utf-8")
    return sorted(f"{_flat_name(path, root)}.py" for path in written)


def _check_remote_code(folder: Path) -> list[str]:
    """Remote code is one flat folder: the copied modules may import each other relatively, but neither the package
    (absent where remote code runs) nor a module that was not copied, such as one of its subpackages."""
    modules = sorted(path.name for path in folder.glob("*.py"))
    for name in modules:
        tree = ast.parse((folder / name).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            problem = None
            if isinstance(node, ast.ImportFrom) and node.level:
                targets = [node.module] if node.module else [alias.name for alias in node.names]
                missing = [t for t in targets if node.level > 1 or "." in t or not (folder / f"{t}.py").is_file()]
                if missing:
                    problem = f"imports {'.' * node.level}{missing[0]}, which is not a module of the exported folder"
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                imported = [node.module] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                if any(module and module.split(".")[0] == PACKAGE_NAME for module in imported):
                    problem = f"imports {PACKAGE_NAME} absolutely"
            if problem:
                raise RuntimeError(
                    f"{name} {problem} (line {node.lineno}); the remote-code export would not load without the package."
                )
    return modules


def save_for_hub(
    save_directory: str | os.PathLike,
    model,
    processor=None,
    *,
    export_remote_code: bool = False,
    model_card: bool | ModelCard | Mapping = True,
    max_shard_size: int | str = "5GB",
) -> list[str]:
    """Write `model` (and `processor`) into one folder that `from_pretrained` and the Hub understand.

    Args:
        save_directory: Folder to write into (created if needed).
        model ([`CM3LeonForCausalLM`]): The language model; its `generation_config` is saved with it.
        processor ([`CM3LeonProcessor`], *optional*): Tokenizer, image processor and VQ model (`image_tokenizer/`).
        export_remote_code (`bool`): Also write the modelling code and `auto_map`, so that
            `AutoModelForCausalLM.from_pretrained(repo, trust_remote_code=True)` (and `AutoProcessor`) work without
            the package installed.
        model_card: `True` writes a generated `README.md` (see [`write_model_card`]); a `ModelCard` is saved as it
            is; a mapping holds keyword arguments for `write_model_card` (`repo_id`, `license`, `eval_results`, ...);
            `False` writes none.
        max_shard_size: Largest safetensors file.

    Returns:
        `list[str]`: The files written, relative to `save_directory`, sorted.
    """
    from .modeling_cm3leon import CM3LeonPreTrainedModel

    if not isinstance(model, CM3LeonPreTrainedModel):
        raise TypeError(f"`model` must be a CM3Leon model (CM3LeonPreTrainedModel), got {type(model).__name__}.")
    if not isinstance(model_card, (bool, ModelCard, Mapping)):
        raise TypeError(f"`model_card` must be a bool, a ModelCard or a mapping, got {type(model_card).__name__}.")
    folder = Path(save_directory)
    folder.mkdir(parents=True, exist_ok=True)

    objects = []
    if export_remote_code:
        objects = [(model.config, CONFIG_AUTO_CLASS), (model, MODEL_AUTO_CLASS)]
        if processor is not None:
            objects += [(processor, PROCESSOR_AUTO_CLASS), (processor.image_processor, IMAGE_PROCESSOR_AUTO_CLASS)]
            if type(processor.tokenizer).__module__.startswith(PACKAGE_NAME):
                objects.append((processor.tokenizer, TOKENIZER_AUTO_CLASS))
    with _registered_for_auto_classes(objects), _own_module_copies():
        model.save_pretrained(folder, max_shard_size=max_shard_size)
        if processor is not None:
            processor.save_pretrained(folder)
    if export_remote_code:
        _write_flat_modules(folder, sorted({type(obj).__module__.split(".", 1)[1] for obj, _ in objects}))
        _check_remote_code(folder)

    if isinstance(model_card, ModelCard):
        model_card.save(folder / "README.md")
    elif model_card:
        write_model_card(folder, **(dict(model_card) if isinstance(model_card, Mapping) else {}))
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


def push_to_hub(
    repo_id: str,
    model,
    processor=None,
    *,
    export_remote_code: bool = False,
    model_card: bool | ModelCard | Mapping = True,
    commit_message: str = "Upload CM3Leon model",
    private: bool | None = None,
    token: str | bool | None = None,
    revision: str | None = None,
    create_pr: bool = False,
    max_shard_size: int | str = "5GB",
    api: HfApi | None = None,
):
    """Upload `model` (and `processor`) to the Hub repository `repo_id` in one commit, as [`save_for_hub`] lays it
    out (the generated card's snippet loads `repo_id`).

    `api` is the `huggingface_hub.HfApi` to use (default: a new one); the other arguments are those of
    `HfApi.create_repo` / `HfApi.upload_folder`. Returns the `CommitInfo` of the upload.
    """

    def write(folder: str, repo_id: str) -> None:
        card = model_card
        if card is True:
            card = {"repo_id": repo_id}
        elif isinstance(card, Mapping):
            card = {"repo_id": repo_id, **card}
        save_for_hub(
            folder,
            model,
            processor,
            export_remote_code=export_remote_code,
            model_card=card,
            max_shard_size=max_shard_size,
        )

    return _upload_in_one_commit(
        repo_id,
        write,
        api=api,
        commit_message=commit_message,
        private=private,
        token=token,
        revision=revision,
        create_pr=create_pr,
    )


def push_retriever_to_hub(
    repo_id: str,
    retriever,
    *,
    save_encoder: bool | None = None,
    commit_message: str = "Upload CM3Leon retriever",
    private: bool | None = None,
    token: str | bool | None = None,
    revision: str | None = None,
    create_pr: bool = False,
    api: HfApi | None = None,
):
    """Upload a [`CM3LeonRetriever`] (config, memory bank with its index, and the encoder unless it is a Hub id the
    config names) to `repo_id` in one commit; `CM3LeonRetriever.from_pretrained(repo_id)` loads it back.

    A memory bank is usually large and shared by several models, so it gets a repository of its own rather than a
    folder in the model's. Returns the `CommitInfo` of the upload.
    """
    from .retrieval import CM3LeonRetriever

    if not isinstance(retriever, CM3LeonRetriever):
        raise TypeError(f"`retriever` must be a CM3LeonRetriever, got {type(retriever).__name__}.")
    return _upload_in_one_commit(
        repo_id,
        lambda folder, repo_id: retriever.save_pretrained(folder, save_encoder=save_encoder),
        api=api,
        commit_message=commit_message,
        private=private,
        token=token,
        revision=revision,
        create_pr=create_pr,
    )


def _upload_in_one_commit(
    repo_id: str,
    write: Callable[[str, str], object],
    *,
    api: HfApi | None,
    commit_message: str,
    private: bool | None,
    token: str | bool | None,
    revision: str | None,
    create_pr: bool,
):
    """Create `repo_id` (if it does not exist), let `write(folder, repo_id)` fill a temporary folder (`repo_id` as the
    Hub resolved it, e.g. with the user's namespace), and upload that folder in one commit; returns its `CommitInfo`."""
    if not isinstance(repo_id, str) or not repo_id.strip("/"):
        raise ValueError(f"`repo_id` must be a Hub id such as 'org/name', got {repo_id!r}.")
    api = api or HfApi()
    repo_id = api.create_repo(repo_id, private=private, token=token, exist_ok=True).repo_id
    with tempfile.TemporaryDirectory() as folder:
        write(folder, repo_id)
        return api.upload_folder(
            repo_id=repo_id,
            folder_path=folder,
            commit_message=commit_message,
            token=token,
            revision=revision,
            create_pr=create_pr,
        )


def store_weights_in_half_precision(folder: str | os.PathLike) -> list[str]:
    """Rewrite every `*.safetensors` under `folder` with its float32 tensors stored as float16: half the download.

    The configs keep `dtype: float32`, so `from_pretrained` loads (and computes) in float32 as before; only the stored
    values are rounded. The shipped models are stored this way. Returns the rewritten files.
    """
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise ValueError(f"`folder` must be an existing model folder, got {folder!r}.")
    rewritten = []
    for directory, _, files in os.walk(folder):
        for name in sorted(files):
            if not name.endswith(".safetensors"):
                continue
            path = os.path.join(directory, name)
            with safe_open(path, framework="pt") as handle:
                metadata = handle.metadata()
            tensors = load_file(path)
            tensors = {key: t.half() if t.dtype == torch.float32 else t for key, t in tensors.items()}
            save_file(tensors, path, metadata=metadata)
            rewritten.append(path)
    if not rewritten:
        raise ValueError(f"`folder` {folder!r} holds no `.safetensors` file to store in half precision.")
    return rewritten


__all__ = ["push_retriever_to_hub", "push_to_hub", "save_for_hub", "store_weights_in_half_precision"]
