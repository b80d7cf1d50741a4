"""A model's real parameter count, from what the Hub publishes about its weights.

The Hub's ``safetensors.parameters`` counts tensor *elements* per dtype, e.g.
``{"BF16": 96241664, "U32": 384368640}``, and ``total`` is their plain sum. That is the
parameter count only when every element is one parameter. Quantised checkpoints pack several
weights into one integer element and add bookkeeping tensors beside them:

- MLX: ``U32`` elements hold 32/bits weights each; every ``group_size`` weights add a
  ``scales`` and a ``biases`` float. Config: ``quantization: {bits, group_size}``.
- GPTQ and AWQ: ``I32`` ``qweight`` holds 32/bits weights per element; ``qzeros`` (``I32``,
  packed the same way) and ``scales`` (a float) come once per group; GPTQ's ``g_idx`` (``I32``,
  one per input row) cannot be told apart in per-dtype counts. Config:
  ``quantization_config: {quant_method, bits, group_size}``.
- bitsandbytes 4-bit: ``U8`` holds two weights; ``absmax`` is one ``F32`` per 64 weights, or
  one ``U8`` with double quantisation. Config: ``quantization_config: {load_in_4bit, ...}``.

So with ``W`` the number of quantised weights, ``E`` the packed elements and ``R`` every other
element: ``W = E * (container bits / bits) / (1 + packed overhead)`` and the real count is
``W + R - W * float overhead``. For MLX this is exact; for GPTQ it over-counts by ``g_idx``
(about 8 / the mean output width, under 0.3% for 7B-class models); for bitsandbytes it ignores
the small per-layer quant-state blobs. 8-bit bitsandbytes stores ``I8``, one weight per element,
so its total needs no conversion; nor do FP8 checkpoints.

When a checkpoint is a quantisation of a base model whose size is known (the base is in the
same listing), that exact figure wins (``huggingface.with_base_sizes``). When packed integers
are there but the layout is unknown (a method we do not model, or no ``bits``), the size is
``None``: blank, never a wrong number.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Basis = Literal["reported", "converted", "base", "gguf"]

# Integer dtypes that hold packed sub-byte weights, with their width in bits.
_WORD_CONTAINERS: Mapping[str, int] = {"U32": 32, "I32": 32}
_BYTE_CONTAINERS: Mapping[str, int] = {"U8": 8}
# Integer elements beyond this share of the total mean packed weights (a few I64 buffers such
# as BERT's position_ids are real elements of an unquantised model, and they are tiny).
_PACKED_SHARE = 0.05
# Defaults of the tools that write these formats, used when the config omits the group size:
# mlx_lm.convert q_group_size=64; AutoGPTQ and AutoAWQ group_size/q_group_size=128.
_DEFAULT_GROUP = {"mlx": 64, "gptq": 128, "awq": 128}
_BNB_BLOCK = 64  # bitsandbytes 4-bit: one absmax per 64 weights
PER_CHANNEL = -1  # GPTQ's group_size -1: one scale (and zero) per output column
_BITS_TAG = re.compile(r"^(\d{1,2})-bit$")
_TAG_METHODS = ("gptq", "awq", "bitsandbytes")


@dataclass(frozen=True)
class Quantization:
    """How a checkpoint's weights are quantised, as far as its config or tags say."""

    method: str  # "mlx", "gptq", "awq", "bitsandbytes", or another quant_method as written
    bits: int | None
    group_size: int | None = None  # None: not stated; PER_CHANNEL: one scale per column
    double_quant: bool = False  # bitsandbytes' bnb_4bit_use_double_quant

    @property
    def label(self) -> str:
        """'4-bit MLX', '4-bit GPTQ', '8-bit bitsandbytes', 'FP8'..."""
        name = {"mlx": "MLX", "gptq": "GPTQ", "awq": "AWQ"}.get(self.method, self.method)
        return f"{self.bits}-bit {name}" if self.bits else name


@dataclass(frozen=True)
class Size:
    """A parameter count and where it came from; ``parameters`` None means unknown."""

    parameters: int | None
    basis: Basis | None


UNKNOWN = Size(None, None)


def quantization_of(
    config: Mapping[str, Any] | None,
    tags: Sequence[str] = (),
    library_name: str | None = None,
) -> Quantization | None:
    """The quantisation a repo declares: its config first, else its Hub tags; None if none."""
    config = config or {}
    text_config = config.get("text_config")
    mlx = config.get("quantization")
    if isinstance(mlx, Mapping):
        # mlx_lm also copies this into quantization_config (without a quant_method).
        return Quantization("mlx", _int(mlx.get("bits")), _int(mlx.get("group_size")))
    declared = config.get("quantization_config")
    if not isinstance(declared, Mapping) and isinstance(text_config, Mapping):
        declared = text_config.get("quantization_config")  # multimodal configs nest it
    if isinstance(declared, Mapping):
        return _from_quantization_config(declared, library_name)
    return _from_tags(tags, library_name)


def _from_quantization_config(
    declared: Mapping[str, Any], library_name: str | None
) -> Quantization:
    method = str(declared.get("quant_method") or ("mlx" if library_name == "mlx" else "unknown"))
    method = method.lower()
    if method == "bitsandbytes":
        four = declared.get("load_in_4bit") or declared.get("_load_in_4bit")
        eight = declared.get("load_in_8bit") or declared.get("_load_in_8bit")
        bits = 4 if four else 8 if eight else None
        return Quantization(method, bits, None, bool(declared.get("bnb_4bit_use_double_quant")))
    group = declared.get("group_size", declared.get("q_group_size"))
    group_size = PER_CHANNEL if group == PER_CHANNEL else _int(group)
    return Quantization(method, _int(declared.get("bits", declared.get("w_bit"))), group_size)


def _from_tags(tags: Sequence[str], library_name: str | None) -> Quantization | None:
    bits = next((int(m.group(1)) for m in map(_BITS_TAG.match, tags) if m), None)
    lowered = {tag.lower() for tag in tags}
    method = next((name for name in _TAG_METHODS if name in lowered), None)
    if method is None and library_name == "mlx" and bits is not None:
        method = "mlx"
    if method is None:
        return None
    return Quantization(method, bits)


def _int(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if value > 0 else None


def real_parameters(
    parameters: Mapping[str, int] | None,
    *,
    quantization: Quantization | None = None,
    gguf_total: int | None = None,
) -> Size:
    """The real parameter count from the per-dtype element counts (``safetensors.parameters``).

    GGUF totals are already real counts (the Hub reads them from the GGUF metadata). The base
    model's size, when a listing knows it, is applied by the caller (``huggingface.py``'s
    ``with_base_sizes``): it wins over a conversion.
    """
    counts = {dtype: n for dtype, n in (parameters or {}).items() if isinstance(n, int) and n > 0}
    total = sum(counts.values())
    if total == 0:
        return Size(gguf_total, "gguf") if gguf_total and gguf_total > 0 else UNKNOWN
    if not _looks_packed(counts, quantization):
        return Size(total, "reported")
    converted = _unpacked(counts, quantization)
    return Size(converted, "converted") if converted else UNKNOWN


def _looks_packed(counts: Mapping[str, int], quantization: Quantization | None) -> bool:
    if _is_int8_bitsandbytes(quantization):
        return False  # LLM.int8() stores I8: one weight per element
    integers = sum(n for dtype, n in counts.items() if dtype in _containers(quantization))
    return integers > _PACKED_SHARE * sum(counts.values())


def _is_int8_bitsandbytes(quantization: Quantization | None) -> bool:
    if quantization is None or quantization.method != "bitsandbytes":
        return False
    return quantization.bits is not None and quantization.bits >= 8


def _containers(quantization: Quantization | None) -> Mapping[str, int]:
    method = quantization.method if quantization is not None else None
    if method == "bitsandbytes":
        return _BYTE_CONTAINERS
    if method in _DEFAULT_GROUP:
        return _WORD_CONTAINERS
    # Nothing declared, or a method we do not model (HQQ, MXFP4 blocks...): any packed-looking
    # integer dtype makes the total suspect.
    return {**_WORD_CONTAINERS, **_BYTE_CONTAINERS}


def _unpacked(counts: Mapping[str, int], quantization: Quantization | None) -> int | None:
    layout = _layout(quantization)
    if layout is None or quantization is None or quantization.bits is None:
        return None
    packed_overhead, float_overhead = layout
    containers = _containers(quantization)
    packed = sum(counts.get(dtype, 0) * width for dtype, width in containers.items())
    weights = packed / quantization.bits / (1 + packed_overhead)
    rest = sum(n for dtype, n in counts.items() if dtype not in containers)
    unquantised = rest - weights * float_overhead
    if unquantised < 0:
        return None  # the counts do not fit the declared layout: better blank than wrong
    return round(weights + unquantised)


def _layout(quantization: Quantization | None) -> tuple[float, float] | None:
    """(packed overhead per packed weight element, float elements per weight), or None."""
    if quantization is None:
        return None
    method = quantization.method
    if method in _DEFAULT_GROUP:
        if quantization.group_size == PER_CHANNEL:
            return 0.0, 0.0  # a row of scales per layer: negligible beside the weights
        group = quantization.group_size or _DEFAULT_GROUP[method]
        if method == "mlx":
            return 0.0, 2 / group  # a scale and a bias per group
        # qzeros pack like qweight, one zero per group; one scale per group.
        return 1 / group, 1 / group
    if method == "bitsandbytes":
        if quantization.double_quant:
            # absmax quantised to one U8 per block, beside two weights per U8.
            return (1 / _BNB_BLOCK) / (1 / 2), 0.0
        return 0.0, 1 / _BNB_BLOCK
    return None
