"""AdaTosk: the PyTorch reference of the model defined in docs/model.md,
its configurations and its .safetensors model file."""

from .config import (AdatoskConfig, NAMED_CONFIGS, DEFAULT_LABELS, named_config,
                     kept_tokens)
from .model import AdaTosk, sinusoid_pe, select_tokens
from .safetensors_io import (save_model, load_model, read_safetensors,
                             write_safetensors)

__all__ = [
    "AdatoskConfig", "NAMED_CONFIGS", "DEFAULT_LABELS", "named_config", "kept_tokens",
    "AdaTosk", "sinusoid_pe", "select_tokens",
    "save_model", "load_model", "read_safetensors", "write_safetensors",
]
