"""Reference prompts from OpenCompass's own code (run in an environment with ``opencompass``).

    python opencompass_driver.py DATA_DIR OUT_JSON [TASK ...]   (tasks: mmlu ceval cmmlu gsm8k)

For each dataset config of the base table (``mmlu_ppl_ac766d``, ``ceval_ppl_93e5ce``,
``cmmlu_ppl_041cbf``, ``gsm8k_gen_17d0dc``), read from the installed package's ``configs/``,
this builds the dataset with OpenCompass's loader, the retriever, the templates and the PPL or Gen
inferencer as ``OpenICLInferTask`` does, with a stand-in for the ``hf_qwen1_5_7b`` model: a
``BaseModel`` (so the real ``LMTemplateParser``, no meta template, turns templates into text)
that records what it is asked to score or continue instead of running a network. It writes
``{task: [{"subject", "prompts", "stop"}...]}`` in dataset order; the prompts of a PPL question
are its candidates in label order.

Not part of the harness: the test ``test_opencompass_reference.py`` runs it and compares.
"""

from __future__ import annotations

import builtins
import copy
import importlib
import importlib.util
import json
import sys
import tempfile
import types
from pathlib import Path

CONFIGS = {  # task -> (config file under opencompass/configs/datasets, list name)
    "mmlu": ("mmlu/mmlu_ppl_ac766d.py", "mmlu_datasets"),
    "ceval": ("ceval/ceval_ppl_93e5ce.py", "ceval_datasets"),
    "cmmlu": ("cmmlu/cmmlu_ppl_041cbf.py", "cmmlu_datasets"),
    "gsm8k": ("gsm8k/gsm8k_gen_17d0dc.py", "gsm8k_datasets"),
}
DATA = {"mmlu": "mmlu", "ceval": "ceval", "cmmlu": "cmmlu", "gsm8k": "gsm8k"}


def bare_package(name: str) -> types.ModuleType:
    """Register package ``name`` without running its ``__init__``: the package ``__init__``s of
    ``openicl``, ``models`` and ``datasets`` import every evaluator, model and dataset (dozens of
    optional dependencies); the modules used here import only what they need."""
    spec = importlib.util.find_spec(name)
    module = types.ModuleType(name)
    module.__path__ = list(spec.submodule_search_locations)
    sys.modules[name] = module
    return module


def import_opencompass() -> dict[str, object]:
    import opencompass.utils  # noqa: F401  (its __init__ is light enough)

    openicl = bare_package("opencompass.openicl")
    from opencompass.openicl.icl_dataset_reader import DatasetReader
    from opencompass.openicl.icl_prompt_template import PromptTemplate

    openicl.DatasetReader, openicl.PromptTemplate = DatasetReader, PromptTemplate
    bare_package("opencompass.openicl.icl_evaluator")
    from opencompass.openicl.icl_evaluator.icl_base_evaluator import BaseEvaluator

    openicl.BaseEvaluator = BaseEvaluator
    retrievers = bare_package("opencompass.openicl.icl_retriever")
    from opencompass.openicl.icl_retriever.icl_base_retriever import BaseRetriever

    retrievers.BaseRetriever = BaseRetriever
    from opencompass.openicl.icl_retriever.icl_fix_k_retriever import FixKRetriever
    from opencompass.openicl.icl_retriever.icl_zero_retriever import ZeroRetriever

    bare_package("opencompass.openicl.icl_inferencer")
    bare_package("opencompass.models")
    from opencompass.openicl.icl_inferencer.icl_gen_inferencer import GenInferencer
    from opencompass.openicl.icl_inferencer.icl_ppl_inferencer import PPLInferencer

    bare_package("opencompass.datasets")
    from opencompass.datasets.ceval import CEvalDataset
    from opencompass.datasets.cmmlu import CMMLUDataset
    from opencompass.datasets.gsm8k import GSM8KDataset
    from opencompass.datasets.mmlu import MMLUDataset

    return {c.__name__: c for c in (PromptTemplate, FixKRetriever, ZeroRetriever, PPLInferencer,
                                    GenInferencer, CEvalDataset, CMMLUDataset, GSM8KDataset,
                                    MMLUDataset)}


def read_config(path: Path, known: dict[str, object]) -> dict[str, object]:
    """Execute a dataset config: its ``from opencompass... import X`` give the classes loaded
    above, anything else (evaluators, postprocessors) a placeholder name."""
    real_import = builtins.__import__

    def fake_import(name, globals_=None, locals_=None, fromlist=(), level=0):
        if name.startswith("opencompass"):
            return types.SimpleNamespace(**{n: known.get(n, n) for n in fromlist or ()})
        return real_import(name, globals_, locals_, fromlist, level)

    namespace: dict[str, object] = {
        "__builtins__": {**vars(builtins), "__import__": fake_import}}
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), namespace)
    return namespace


class OldBaseDataset:
    """``BaseDataset`` as of OC@2954913d (the table's code): ``load`` then a ``DatasetReader``.
    The current class also adds ``subdivision`` and ``idx`` columns to every row (later code),
    which would take part in the field filling; they did not exist then."""

    def __init__(self, cls: type, reader_cfg: dict, **kwargs: object) -> None:
        from opencompass.openicl.icl_dataset_reader import DatasetReader

        self.dataset = cls.load(**kwargs)
        self.reader = DatasetReader(self.dataset, **reader_cfg)

    @property
    def train(self):
        return self.reader.dataset["train"]

    @property
    def test(self):
        return self.reader.dataset["test"]


def recording_model():
    """The hf_qwen1_5_7b model (HuggingFaceBaseModel, no meta template), recording its inputs."""
    import numpy as np
    from opencompass.models.base import BaseModel

    class Recorder(BaseModel):
        def __init__(self) -> None:
            super().__init__(path="Qwen/Qwen1.5-7B", meta_template=None)
            self.inputs: list[str] = []
            self.stops: list[str] = []

        def get_ppl(self, inputs, mask_length=None):
            self.inputs += inputs
            return np.zeros(len(inputs))

        def generate(self, inputs, max_out_len, stopping_criteria=(), **kwargs):
            self.inputs += inputs
            self.stops = list(stopping_criteria)
            return [""] * len(inputs)

        def get_token_len(self, prompt):
            return len(prompt)

    return Recorder()


def run_dataset(cfg: dict, data_dir: Path, out_dir: Path) -> list[dict]:
    """As ``OpenICLInferTask`` at OC@2954913d: dataset, retriever, templates, inferencer."""
    cfg = copy.deepcopy(cfg)
    infer = cfg.pop("infer_cfg")
    for key in ("eval_cfg", "abbr", "local_mode"):  # local_mode: later code (2024-06)
        cfg.pop(key, None)
    cls, reader_cfg = cfg.pop("type"), cfg.pop("reader_cfg")
    cfg["path"] = str(data_dir)
    dataset = OldBaseDataset(cls, reader_cfg, **cfg)
    retriever_cfg = dict(infer["retriever"])
    retriever = retriever_cfg.pop("type")(dataset, **retriever_cfg)
    templates = {}
    for key in ("ice_template", "prompt_template"):
        if key in infer:
            spec = dict(infer[key])
            templates[key] = spec.pop("type")(**spec)
    model = recording_model()
    out_dir.mkdir(parents=True, exist_ok=True)
    inferencer_cfg = dict(infer["inferencer"])
    inferencer_cls = inferencer_cfg.pop("type")
    # max_seq_len: hf_qwen1_5_7b sets none, so no shot is ever dropped; batch_size 8 as the model
    inferencer = inferencer_cls(model=model, max_seq_len=None, batch_size=8, **inferencer_cfg)
    inferencer.inference(retriever, output_json_filepath=str(out_dir),
                         output_json_filename="predictions.json", **templates)
    count = len(dataset.test)
    labels = len(model.inputs) // count
    subject = cfg.get("name", "")
    return [{"subject": subject, "stop": model.stops,
             "prompts": [model.inputs[label * count + i] for label in range(labels)]}
            for i in range(count)]


def main() -> None:
    data_root, out = Path(sys.argv[1]), Path(sys.argv[2])
    tasks = sys.argv[3:] or list(CONFIGS)
    known = import_opencompass()
    import opencompass

    configs = Path(opencompass.__file__).parent / "configs" / "datasets"
    result: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for task in tasks:
            file, name = CONFIGS[task]
            datasets = read_config(configs / file, known)[name]
            if task == "ceval":  # the val half (the test answers are not public)
                datasets = [d for d in datasets if d["reader_cfg"]["test_split"] == "val"]
            result[task] = []
            for number, cfg in enumerate(datasets):
                result[task] += run_dataset(cfg, data_root / DATA[task], Path(tmp) / str(number))
    out.write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
