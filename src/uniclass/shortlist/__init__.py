"""Label shortlisting for large label sets: retrieve k candidate labels per text, let the model score only those.

* :mod:`.encoders`: the retriever (the classifier's embedding prior, the model's own backbone, or MiniLM sentence
  embeddings), mean-pooled vectors;
* :mod:`.index`: ``LabelIndex``, the label vectors computed once, searched with one matrix product, saved as
  plain files;
* :mod:`.tuning`: ``default_k``, ``fit_k`` (k for a target recall), ``recall_at_k``.

``Classifier`` drives it (``classify(..., shortlist=k | "auto")``, ``labels=LabelIndex``, ``fit_shortlist``);
nothing here imports the classifier.
"""

from __future__ import annotations

from .encoders import (
    DEFAULT_RETRIEVER,
    DEFAULT_TEXT_TOKENS,
    RETRIEVERS,
    PriorRetriever,
    TextEncoder,
    minilm_encoder,
    model_encoder,
)
from .index import LabelIndex, check_k, check_labels
from .tuning import DEFAULT_RECALL, default_k, fit_k, recall_at_k

__all__ = [
    "DEFAULT_RECALL",
    "DEFAULT_RETRIEVER",
    "DEFAULT_TEXT_TOKENS",
    "RETRIEVERS",
    "LabelIndex",
    "PriorRetriever",
    "TextEncoder",
    "check_k",
    "check_labels",
    "default_k",
    "fit_k",
    "minilm_encoder",
    "model_encoder",
    "recall_at_k",
]
