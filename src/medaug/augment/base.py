"""The contract every augmentation op follows: sample parameters, then apply them.

An op works on a batch ``x`` of shape ``(B, 1, H, W)`` (float, values in ``[0, 1]``), on CPU or
GPU. :meth:`Op.sample` draws one set of parameters *per sample* from an explicit CPU
``torch.Generator`` (so the same seed gives the same parameters on every device) and returns
them as a dict of tensors on ``x``'s device; it always contains ``"apply"``, a ``(B,)`` bool
tensor that is true where the op acts (probability ``p``). :meth:`Op.apply` is deterministic:
the same parameters replay exactly, on the image or on a second image (kornia's parameter
generators, MONAI's ``Rand*`` ops).

Lengths (blur sigma, chessboard cell and shift) are given in pixels **at a reference size of
224 px** and scaled by ``H / 224`` at run time, so one setting means the same at 64 px and at
512 px: a blur sigma of 2 px at 224 px is 0.57 px at 64 px.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import torch
from torch import Tensor, nn

from medaug.errors import AugmentError

REF_SIZE = 224


class Params(dict[str, Tensor]):
    """An op's per-sample parameters on the batch's device, with their CPU originals in
    :attr:`host`, so that decisions such as "does any sample apply?" are taken on the CPU and
    never make the host wait for a GPU (a plain ``dict`` works too; see :func:`on_host`)."""

    host: dict[str, Tensor]


def on_host(params: dict[str, Tensor], key: str) -> Tensor:
    """``params[key]`` on the CPU: the original kept by :meth:`Op.sample` when there is one
    (no device synchronisation), else a copy."""
    host = getattr(params, "host", None)
    if host is not None and key in host:
        return host[key]
    return params[key].cpu()


def to_device(t: Tensor, device: torch.device) -> Tensor:
    """Copy a CPU tensor to ``device``; to a GPU through pinned memory without blocking (a
    copy from pageable memory would wait for the GPU to finish its queued work)."""
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def to_params(hosts: list[dict[str, Tensor]], device: torch.device) -> list[Params]:
    """:class:`Params` on ``device`` of several ops' CPU parameters, each keeping its CPU
    originals in ``host``.

    To a GPU they travel in one packed copy (float64 holds every bool, integer and float32
    value exactly), not one small copy per tensor, which is what a step's CPU time went to.
    """
    if device.type != "cuda":
        return [_params({k: v.to(device) for k, v in h.items()}, h) for h in hosts]
    flat = [v for h in hosts for v in h.values()]
    if not flat:
        return [_params({}, h) for h in hosts]
    packed = to_device(torch.cat([v.reshape(-1).to(torch.float64) for v in flat]), device)
    pieces = iter(packed.split([v.numel() for v in flat]))
    return [_params({k: next(pieces).view(v.shape).to(v.dtype) for k, v in h.items()}, h)
            for h in hosts]


def _params(values: dict[str, Tensor], host: dict[str, Tensor]) -> Params:
    params = Params(values)
    params.host = host
    return params


def scaled(px_at_ref: float, size: int) -> float:
    """A length given in pixels at :data:`REF_SIZE` expressed in pixels at ``size``."""
    return px_at_ref * size / REF_SIZE


def check_range(name: str, value: tuple[float, float], low: float, high: float) -> None:
    """Raise :class:`AugmentError` unless ``low <= value[0] <= value[1] <= high``."""
    if len(value) != 2 or not (low <= value[0] <= value[1] <= high):
        raise AugmentError(f"{name} must be a range (lo, hi) with {low} <= lo <= hi <= {high}, "
                           f"got {value}")


def box_ranges(op: str, names: tuple[str, str], size: float | tuple[float, float],
               aspect: float | tuple[float, float]) -> tuple[tuple[float, float],
                                                           tuple[float, float]]:
    """A random box's ranges: ``size`` (a fraction of the image area, in ``(0, 1]``) and
    ``aspect`` (``0 < lo <= hi``), named ``names`` in the messages of op ``op``.

    Raises:
        AugmentError: either range is invalid (the message quotes the value as given).
    """
    size_range, aspect_range = as_range(size), as_range(aspect)
    check_range(f"{op}: {names[0]}", size_range, 0.0, 1.0)
    if size_range[0] <= 0.0:
        raise AugmentError(f"{op}: {names[0]} must be above 0, got {size}")
    if not 0.0 < aspect_range[0] <= aspect_range[1]:
        raise AugmentError(f"{op}: {names[1]} must be a range 0 < lo <= hi, got {aspect}")
    return size_range, aspect_range


def as_range(value: float | tuple[float, float] | list[float], symmetric: bool = False
             ) -> tuple[float, float]:
    """``0.2 -> (-0.2, 0.2)`` when ``symmetric`` else ``(0.2, 0.2)``; pairs pass through."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise AugmentError(f"expected a number or a range (lo, hi), got {value!r}")
        return float(value[0]), float(value[1])
    v = float(value)
    return (-abs(v), abs(v)) if symmetric else (v, v)


def uniform(generator: torch.Generator, shape: tuple[int, ...], low: float, high: float
            ) -> Tensor:
    """Uniform samples in ``[low, high)`` drawn on the CPU from ``generator``."""
    return low + (high - low) * torch.rand(shape, generator=generator)


def fresh_generator() -> torch.Generator:
    """A CPU generator seeded from torch's global RNG (for calls that pass none)."""
    return torch.Generator().manual_seed(int(torch.randint(0, 2**62, (1,))))


class Op(nn.Module):
    """Base class of a batched, per-sample random augmentation.

    Subclasses set ``name``, validate their arguments in ``__init__`` (raising
    :class:`AugmentError`), and implement :meth:`sample_params` and :meth:`apply`.

    Args:
        p: probability that the op acts on each sample, in ``[0, 1]``.
    """

    name: ClassVar[str] = ""

    def __init__(self, p: float = 1.0) -> None:
        super().__init__()
        if not 0.0 <= float(p) <= 1.0:
            raise AugmentError(f"{self.name or type(self).__name__}: p must be in [0, 1], got {p}")
        self.p = float(p)

    def sample(self, x: Tensor, generator: torch.Generator) -> Params:
        """Per-sample parameters for batch ``x`` ``(B, 1, H, W)``, on ``x``'s device."""
        return to_params([self.sample_host(x, generator)], x.device)[0]

    def sample_host(self, x: Tensor, generator: torch.Generator) -> dict[str, Tensor]:
        """The parameters of :meth:`sample` on the CPU, ``"apply"`` included."""
        _check_batch(x, self.name)
        b = x.shape[0]
        apply = torch.rand((b,), generator=generator) < self.p  # (B,)
        host = self.sample_params(b, x.shape[-2], x.shape[-1], generator)
        host["apply"] = apply
        return host

    def sample_params(self, batch: int, height: int, width: int, generator: torch.Generator
                      ) -> dict[str, Tensor]:
        """Draw the op's own parameters on the CPU (everything but ``apply``)."""
        raise NotImplementedError

    def apply(self, x: Tensor, params: Params) -> Tensor:
        """Apply fixed ``params`` to ``x`` ``(B, 1, H, W)``; samples with ``apply`` false are
        returned unchanged."""
        raise NotImplementedError

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        generator = generator if generator is not None else fresh_generator()
        params = self.sample(x, generator)
        if not bool(on_host(params, "apply").any()):
            return x
        return self.apply(x, params)

    def at_size(self, size: int) -> str:
        """What the op's lengths (given at 224 px) become at ``size`` px, for humans; ``""``
        for ops without lengths."""
        return ""

    def extra_repr(self) -> str:
        return f"p={self.p}"


def _check_batch(x: Tensor, name: str) -> None:
    if x.ndim != 4 or x.shape[1] != 1:
        raise AugmentError(f"{name}: expected a batch of shape (B, 1, H, W), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise AugmentError(f"{name}: expected a float tensor, got {x.dtype}")


def on_applied(x: Tensor, apply: Tensor, fn: Callable[[Tensor, Tensor | slice], Tensor]
               ) -> Tensor:
    """Run ``fn`` only on the samples of ``x`` ``(B, C, H, W)`` where ``apply`` ``(B,)`` is true.

    ``fn(x_sub, sel)`` gets those samples and the selector ``sel`` (an index tensor on ``x``'s
    device, or ``slice(None)`` when every sample is applied) to pick their rows out of the
    parameters; the other samples are returned unchanged. Costly ops (resampling, convolution)
    use this so that a small ``p`` costs little. Pass ``apply`` on the CPU
    (:func:`on_host`) and nothing here waits for a GPU.
    """
    apply = apply.cpu()
    if bool(apply.all()):
        return fn(x, slice(None))
    idx = apply.nonzero().squeeze(1)  # (K,)
    out = x.clone()
    if idx.numel():
        sel = to_device(idx, x.device)
        out[sel] = fn(x[sel], sel)
    return out
