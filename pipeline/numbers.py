"""By the Numbers: figures computed from the day's models. Missing data means no figure."""

from __future__ import annotations

from collections.abc import Sequence

from emails.issue import Figure
from pipeline.sources.items import ModelItem

# Tasks a general-purpose model is published under; anything else is a specialised domain.
GENERAL_TASKS = frozenset({"text-generation", "image-text-to-text", "any-to-any"})


def by_the_numbers(models: Sequence[ModelItem]) -> list[Figure]:
    figures = [_specialised(models), _average_size(models), _domains(models)]
    return [figure for figure in figures if figure is not None]


def is_specialised(model: ModelItem) -> bool:
    return model.pipeline_tag is not None and model.pipeline_tag not in GENERAL_TASKS


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
    domains = {m.pipeline_tag for m in models if is_specialised(m)}
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
