"""transformers config class of an archsmith remote-code export (written by ``archsmith export``).

The complete architecture is the ``archsmith`` dict (an archsmith ArchConfig). The
attributes transformers itself reads (vocabulary, layer count, tying) are copied from it.
"""

from transformers import PretrainedConfig


class ArchsmithConfig(PretrainedConfig):
    model_type = "archsmith"

    def __init__(self, archsmith=None, **kwargs):
        self.archsmith = dict(archsmith or {})
        for key in (
            "vocab_size",
            "hidden_size",
            "num_hidden_layers",
            "num_attention_heads",
            "num_key_value_heads",
            "head_dim",
            "max_position_embeddings",
        ):
            kwargs[key] = self.archsmith.get(key, kwargs.get(key))
        kwargs["tie_word_embeddings"] = self.archsmith.get("tie_word_embeddings", kwargs.get("tie_word_embeddings", True))
        super().__init__(**kwargs)
