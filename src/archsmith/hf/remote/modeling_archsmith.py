"""transformers model class of an archsmith remote-code export (written by ``archsmith export``).

It wraps archsmith's own Transformer, whose sources travel next to this file
(archsmith_*.py, imports rewritten to be package-relative), so loading needs
transformers and torch but not archsmith.

HF ``generate`` works through the no-cache path: every step runs the whole sequence
(``prepare_inputs_for_generation`` passes all tokens), which gives the same tokens as a
cached decode, only slower. archsmith's own ``model.model.generate`` decodes with a KV cache.
"""

import torch
from transformers import GenerationMixin, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutputWithPast

from .archsmith_config import ArchConfig
from .archsmith_transformer import Transformer
from .configuration_archsmith import ArchsmithConfig


class ArchsmithForCausalLM(PreTrainedModel, GenerationMixin):
    config_class = ArchsmithConfig
    base_model_prefix = "model"
    _no_split_modules = ["Block"]
    _supports_sdpa = True

    def __init__(self, config):
        super().__init__(config)
        self.model = Transformer(ArchConfig.from_dict(config.archsmith))
        if config.tie_word_embeddings:
            self._tied_weights_keys = {"model.lm_head.weight": "model.embed_tokens.weight"}
        self.post_init()

    def _init_weights(self, module):
        # transformers builds the model on the meta device and loads only the checkpoint's
        # tensors; the RoPE tables are non-persistent buffers, recomputed here.
        if hasattr(module, "reset_tables"):
            module.reset_tables()

    def get_input_embeddings(self):
        return self.model.embed_tokens

    def set_input_embeddings(self, value):
        self.model.embed_tokens = value

    def get_output_embeddings(self):
        return self.model.lm_head

    def set_output_embeddings(self, value):
        self.model.lm_head = value

    def prepare_inputs_for_generation(self, input_ids, attention_mask=None, **kwargs):
        # No KV cache through HF: recompute the full sequence every step.
        return {"input_ids": input_ids, "attention_mask": attention_mask}

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, labels=None, **kwargs):
        if labels is None:
            return CausalLMOutputWithPast(logits=self.model(input_ids, attention_mask, position_ids))
        # archsmith's loss: the next-token cross entropy, plus the MoE load-balancing loss when configured.
        out = self.model(input_ids, attention_mask, position_ids, labels=labels)
        return CausalLMOutputWithPast(loss=out.loss, logits=out.logits)
