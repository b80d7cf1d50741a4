"""By the Numbers: figures computed from the day's models. Missing data means no figure."""

from __future__ import annotations

from collections.abc import Sequence

from emails.issue import Figure
from pipeline.sources.items import ModelItem

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


def by_the_numbers(models: Sequence[ModelItem]) -> list[Figure]:
    figures = [_specialised(models), _average_size(models), _domains(models)]
    return [figure for figure in figures if figure is not None]


def domain_of(model: ModelItem) -> str | None:
    """The model's domain: a domain tag if it has one, else a specialised task, else None.

    None means general-purpose (a general task and no domain tag) or unknown (no task).
    """
    for tag in model.tags:
        domain = DOMAIN_TAGS.get(tag.lower())
        if domain is not None and model.pipeline_tag is not None:
            return domain
    if model.pipeline_tag is not None and model.pipeline_tag not in GENERAL_TASKS:
        return model.pipeline_tag
    return None


def is_specialised(model: ModelItem) -> bool:
    return domain_of(model) is not None


def _specialised(models: Sequence[ModelItem]) -> Figure | None:
    tagged = [m for m in models if m.pipeline_tag is not None]
    if not tagged:
        return None
    count = sum(is_specialised(m) for m in tagged)
    return Figure(label="Specialized Models Trending", value=f"{count}/{len(tagged)}")


def _average_size(models: Sequence[ModelItem]) -> Figure | None:
    sizes = [m.parameters for m in models if is_specialised(m) and m.parameters]
    if not sizes:
        return None
    return Figure(
        label="Average Model Size", value=f"{human_parameters(sum(sizes) / len(sizes))} params"
    )


def _domains(models: Sequence[ModelItem]) -> Figure | None:
    domains = {domain_of(m) for m in models} - {None}
    if not domains:
        return None
    return Figure(label="Domain Focus Areas", value=str(len(domains)))


def human_parameters(count: float) -> str:
    """1_543_714_304 -> '1.5B'; 350_000_000 -> '350M'."""
    for unit, size in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if count >= size:
            value = count / size
            text = f"{value:.1f}" if value < 10 else f"{value:.0f}"
            return text.removesuffix(".0") + unit
    return f"{count:.0f}"
