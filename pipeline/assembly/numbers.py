"""By the Numbers: figures computed from the day's trending chart, each saying what it counts.

Honesty rules, each tested:

- every figure names its population: "5 of 8" trending models, "3 of the 5" that publish a
  size; a model without a task is not silently counted as general;
- a figure computed over fewer than ``MIN_VALUES`` values is left out: an "average" of one size
  or a share of two models says nothing;
- sizes are real parameter counts (``ModelItem.parameters``: packed quantised weights are
  converted in ``sources/sizes.py``, or the base model's size is used); the note says when
  some were converted or taken from the base;
- specialised vs general is ``specialism.is_specialised``, the one rule.

``by_the_numbers`` is the deterministic writer of this section; each figure is its own
function, so another writer can replace one without the others.
"""

from __future__ import annotations

from collections.abc import Sequence

from emails.issue import Figure
from pipeline.assembly.specialism import domain_of, domain_words, is_specialised
from pipeline.sources.items import ModelItem
from pipeline.sources.wording import join_words

MIN_VALUES = 3  # fewer values than this make no figure
DOMAINS_NAMED = 3  # the note names this many domains, then "and N more"


def by_the_numbers(models: Sequence[ModelItem]) -> list[Figure]:
    """The figures of ``models`` (the whole day's chart) that have enough data to be true."""
    figures = [specialised_share(models), average_size(models), domain_count(models)]
    return [figure for figure in figures if figure is not None]


def specialised_share(models: Sequence[ModelItem]) -> Figure | None:
    """The share of specialised models: "5 of 8 trending models are specialised".

    Models without a task are neither specialised nor general: left out, and the note says so.
    """
    known = [m for m in models if m.pipeline_tag]
    if len(known) < MIN_VALUES:
        return None
    count = sum(is_specialised(m) for m in known)
    unknown = len(models) - len(known)
    if not unknown:
        return Figure(label="trending models are specialised", value=f"{count} of {len(known)}")
    return Figure(
        label="trending models with a task are specialised",
        value=f"{count} of {len(known)}",
        note=f"{unknown} more {'has' if unknown == 1 else 'have'} no task on the Hub",
    )


def average_size(models: Sequence[ModelItem]) -> Figure | None:
    """The average real size of the specialised models that publish one, saying how many do."""
    specialised = [m for m in models if is_specialised(m)]
    sized = [m for m in specialised if m.parameters]
    if len(sized) < MIN_VALUES:
        return None
    mean = sum(m.parameters or 0 for m in sized) / len(sized)
    note = f"{len(sized)} of the {len(specialised)} specialised models publish a size"
    estimated = sum(m.parameters_basis in ("converted", "base") for m in sized)
    if estimated:
        note += f"; {estimated} counted from quantised weights or the base model"
    return Figure(
        label="average parameter count of a specialised model",
        value=human_parameters(mean),
        note=note,
    )


def domain_count(models: Sequence[ModelItem]) -> Figure | None:
    """How many different domains the specialised models cover, naming the first few."""
    specialised = [m for m in models if is_specialised(m)]
    if len(specialised) < MIN_VALUES:
        return None
    ranked = sorted(specialised, key=lambda m: m.trending_score, reverse=True)
    domains = list(dict.fromkeys(domain_words(domain_of(m) or "") for m in ranked))
    named = domains[:DOMAINS_NAMED]
    more = len(domains) - len(named)
    note = join_words([*named, f"{more} more"] if more else named)
    label = (
        "domain the specialised models cover"
        if len(domains) == 1
        else ("domains the specialised models cover")
    )
    return Figure(label=label, value=str(len(domains)), note=note)


def human_parameters(count: float) -> str:
    """1_543_714_304 -> '1.5B'; 350_000_000 -> '350M'."""
    for unit, size in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if count >= size:
            value = count / size
            text = f"{value:.1f}" if value < 10 else f"{value:.0f}"
            return text.removesuffix(".0") + unit
    return f"{count:.0f}"
