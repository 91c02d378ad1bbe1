# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""CM3Leon for Hugging Face transformers.

Importing the package registers its classes with the Auto classes (`AutoConfig`, `AutoModel`,
`AutoModelForCausalLM`, `AutoModelForImageTextToText`, `AutoTokenizer`, `AutoImageProcessor`, `AutoProcessor`) and
its pipeline tasks ("text-to-image", "image-editing", "image-inpainting", "image-text-to-image-text") with
`transformers.pipeline`.
"""

from transformers import (
    AutoConfig,
    AutoImageProcessor,
    AutoModel,
    AutoModelForCausalLM,
    AutoProcessor,
    AutoTokenizer,
)

from .configuration_cm3leon import CM3LEON_PRESETS, CM3LEON_VQ_PRESETS, CM3LeonConfig, CM3LeonVQConfig
from .generation import (
    CM3LeonImageGenerationConfig,
    CM3LeonImageGenerationMixin,
    CM3LeonImageGenerationOutput,
    ContrastiveTopKLogitsProcessor,
    InBatchCFGLogitsProcessor,
    InBatchInstructCFGLogitsProcessor,
    text_generation_config,
)
from .hub import save_for_hub
from .image_processing_cm3leon import IMAGE_TOKENIZER_SUBFOLDER, CM3LeonImageProcessor
from .model_card import create_model_card, write_model_card
from .modeling_cm3leon import CM3LeonForCausalLM, CM3LeonModel, CM3LeonPreTrainedModel
from .modeling_cm3leon_vq import CM3LeonVQModel, CM3LeonVQModelOutput, CM3LeonVQPreTrainedModel
from .pipelines import (
    CM3LeonImageEditingPipeline,
    CM3LeonImageInpaintingPipeline,
    CM3LeonImagePipelineOutput,
    CM3LeonInterleavedGenerationPipeline,
    CM3LeonInterleavedPipelineOutput,
    CM3LeonTextToImagePipeline,
    register_pipelines,
)
from .pipelines.reranking import RerankOutput, load_clip_reranker, rerank_images
from .processing_cm3leon import CM3LeonProcessor
from .retrieval import (
    CM3LeonMemoryBank,
    CM3LeonRetrievalEncoder,
    CM3LeonRetriever,
    CM3LeonRetrieverConfig,
    FaissBackend,
    IndexBackend,
    MilvusBackend,
    RetrievedDocument,
)
from .sequence_format import SpecialTokenIds, unconditional_input_ids
from .tokenization_cm3leon import (
    CM3LeonTokenizer,
    build_cm3leon_tokenizer,
    image_token_code,
    image_token_name,
    sentinel_token_name,
    special_token_ids,
    token_layout,
)

__version__ = "0.1.0"

AutoConfig.register(CM3LeonConfig.model_type, CM3LeonConfig, exist_ok=True)
AutoConfig.register(CM3LeonVQConfig.model_type, CM3LeonVQConfig, exist_ok=True)
AutoConfig.register(CM3LeonRetrieverConfig.model_type, CM3LeonRetrieverConfig, exist_ok=True)
AutoModel.register(CM3LeonConfig, CM3LeonModel, exist_ok=True)
AutoModel.register(CM3LeonVQConfig, CM3LeonVQModel, exist_ok=True)
AutoModelForCausalLM.register(CM3LeonConfig, CM3LeonForCausalLM, exist_ok=True)
AutoTokenizer.register(CM3LeonConfig, tokenizer_class=CM3LeonTokenizer, exist_ok=True)
AutoImageProcessor.register(CM3LeonConfig, slow_image_processor_class=CM3LeonImageProcessor, exist_ok=True)
AutoProcessor.register(CM3LeonConfig, CM3LeonProcessor, exist_ok=True)
register_pipelines()  # the pipeline tasks, and AutoModelForImageTextToText for captioning / VQA

__all__ = [
    "CM3LEON_PRESETS",
    "CM3LEON_VQ_PRESETS",
    "IMAGE_TOKENIZER_SUBFOLDER",
    "CM3LeonConfig",
    "CM3LeonForCausalLM",
    "CM3LeonImageEditingPipeline",
    "CM3LeonImageGenerationConfig",
    "CM3LeonImageInpaintingPipeline",
    "CM3LeonInterleavedGenerationPipeline",
    "CM3LeonInterleavedPipelineOutput",
    "CM3LeonImageGenerationMixin",
    "CM3LeonImageGenerationOutput",
    "CM3LeonImagePipelineOutput",
    "CM3LeonImageProcessor",
    "CM3LeonMemoryBank",
    "CM3LeonModel",
    "CM3LeonPreTrainedModel",
    "CM3LeonProcessor",
    "CM3LeonRetrievalEncoder",
    "CM3LeonRetriever",
    "CM3LeonRetrieverConfig",
    "CM3LeonTextToImagePipeline",
    "CM3LeonTokenizer",
    "CM3LeonVQConfig",
    "CM3LeonVQModel",
    "CM3LeonVQModelOutput",
    "CM3LeonVQPreTrainedModel",
    "ContrastiveTopKLogitsProcessor",
    "FaissBackend",
    "InBatchCFGLogitsProcessor",
    "InBatchInstructCFGLogitsProcessor",
    "IndexBackend",
    "MilvusBackend",
    "RerankOutput",
    "RetrievedDocument",
    "SpecialTokenIds",
    "build_cm3leon_tokenizer",
    "create_model_card",
    "image_token_code",
    "image_token_name",
    "load_clip_reranker",
    "register_pipelines",
    "rerank_images",
    "save_for_hub",
    "sentinel_token_name",
    "text_generation_config",
    "special_token_ids",
    "token_layout",
    "unconditional_input_ids",
    "write_model_card",
]
