# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""CM3Leon for Hugging Face transformers.

Importing the package registers its classes with the Auto classes and its pipeline tasks with
`transformers.pipeline`.
"""

__version__ = "0.1.0"

from .configuration_cm3leon import CM3LEON_PRESETS, CM3LEON_VQ_PRESETS, CM3LeonConfig, CM3LeonVQConfig

from .image_processing_cm3leon import IMAGE_TOKENIZER_SUBFOLDER, CM3LeonImageProcessor
from .modeling_cm3leon import CM3LeonForCausalLM, CM3LeonModel, CM3LeonPreTrainedModel
from .modeling_cm3leon_vq import CM3LeonVQModel, CM3LeonVQModelOutput, CM3LeonVQPreTrainedModel
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
from .tokenization_cm3leon import (
    build_cm3leon_tokenizer,
    image_token_code,
    image_token_name,
    sentinel_token_name,
    token_layout,
)

# [registration] -- the foundation's public classes and their Auto registration live below.
from transformers import (  # noqa: E402
    AutoConfig,
    AutoImageProcessor,
    AutoModel,
    AutoModelForCausalLM,
    AutoProcessor,
    AutoTokenizer,
    PreTrainedTokenizerFast,
)

AutoConfig.register(CM3LeonConfig.model_type, CM3LeonConfig, exist_ok=True)
AutoConfig.register(CM3LeonVQConfig.model_type, CM3LeonVQConfig, exist_ok=True)
AutoConfig.register(CM3LeonRetrieverConfig.model_type, CM3LeonRetrieverConfig, exist_ok=True)
AutoModel.register(CM3LeonConfig, CM3LeonModel, exist_ok=True)
AutoModelForCausalLM.register(CM3LeonConfig, CM3LeonForCausalLM, exist_ok=True)
AutoModel.register(CM3LeonVQConfig, CM3LeonVQModel, exist_ok=True)
AutoImageProcessor.register(CM3LeonConfig, slow_image_processor_class=CM3LeonImageProcessor, exist_ok=True)
AutoProcessor.register(CM3LeonConfig, CM3LeonProcessor, exist_ok=True)
AutoTokenizer.register(CM3LeonConfig, tokenizer_class=PreTrainedTokenizerFast, exist_ok=True)

from .pipelines import (  # noqa: E402
    CM3LeonImageEditingPipeline,
    CM3LeonImagePipelineOutput,
    CM3LeonTextToImagePipeline,
    register_pipelines,
)

register_pipelines()
# [end registration]
