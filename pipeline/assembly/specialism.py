"""The one rule that splits *specialised* models from *general* ones.

A trending model is **specialised** when either

1. its Hub task (``pipeline_tag``) is anything but a general-purpose task
   (``GENERAL_TASKS``: text generation, image-text-to-text, any-to-any): speech recognition,
   object detection, sentence similarity, text-to-image ... are each one job; or
2. its task is general but one of its Hub tags names a narrow domain (``DOMAIN_TAGS``: a
   text-generation model tagged ``math`` is a maths model).

A model with a general task and no domain tag is **general**. A model without a task is
**unknown**: it is neither, and figures that count specialised models leave it out of the count
(and say so). Its *domain* is the domain tag's domain, else its task.

By the Numbers (``numbers.py``) counts with ``is_specialised``; the lead (``lead.py``) calls a
cluster specialised only when ``domain_of`` gives its models a domain, so a general model is
never cited as evidence of specialisation. The README states this rule; change both together.
"""

from __future__ import annotations

from pipeline.sources.items import ModelItem
from pipeline.sources.vocabulary import task_words

# Tasks a general-purpose model is published under; anything else is a specialised domain.
GENERAL_TASKS = frozenset({"text-generation", "image-text-to-text", "any-to-any"})

# Hub tags that put a model published under a general task into a narrow domain anyway: a
# text-generation model tagged "math" is a maths model. Lower-case, matched exactly.
DOMAIN_TAGS: dict[str, str] = {
    "math": "math",
    "mathematics": "math",
    "code": "code",
    "coding": "code",
    "medical": "medical",
    "biomedical": "medical",
    "clinical": "medical",
    "biology": "biology",
    "chemistry": "chemistry",
    "legal": "legal",
    "law": "legal",
    "finance": "finance",
    "financial": "finance",
}

# Domains in readers' words where the Hub's task words would not do.
_DOMAIN_WORDS = {"math": "maths", "code": "code", "medical": "medicine"}


def domain_of(model: ModelItem) -> str | None:
    """The model's domain: a domain tag if it has one, else a specialised task, else None.

    None means general-purpose (a general task and no domain tag) or unknown (no task).
    """
    if model.pipeline_tag is None:
        return None
    for tag in model.tags:
        domain = DOMAIN_TAGS.get(tag.lower())
        if domain is not None:
            return domain
    if model.pipeline_tag not in GENERAL_TASKS:
        return model.pipeline_tag
    return None


def is_specialised(model: ModelItem) -> bool:
    """True for a specialised model (see the module docstring); False for general or unknown."""
    return domain_of(model) is not None


def domain_words(domain: str) -> str:
    """A domain or task in lower-case words: "math" -> "maths", "object-detection" -> "object
    detection"."""
    return _DOMAIN_WORDS.get(domain) or (task_words(domain) or domain.replace("-", " ")).lower()
