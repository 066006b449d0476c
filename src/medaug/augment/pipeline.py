"""A sequence of ops built from a spec string, applied in order to a batch."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from medaug.augment.base import Op, Params, fresh_generator, on_host, to_params
from medaug.augment.registry import build_ops

#: Specs that build the identity pipeline (no ops).
IDENTITY_SPECS = ("", "none", "identity")


class Pipeline(nn.Module):
    """Apply ``ops`` in order to a batch ``(B, 1, H, W)``; shape and dtype are kept.

    Every op draws per-sample parameters from the one generator passed to :meth:`forward`, so a
    seed fixes the whole pipeline's output.

    Args:
        ops: the ops, applied first to last; empty is the identity.
        spec: the spec string the ops came from (shown by ``repr``); made from the op names
            when omitted.
    """

    def __init__(self, ops: Sequence[Op], spec: str | None = None) -> None:
        super().__init__()
        self.ops = nn.ModuleList(ops)
        self.spec = spec if spec is not None else "+".join(op.name for op in ops) or "none"

    def sample(self, x: Tensor, generator: torch.Generator) -> list[Params]:
        """Parameters of every op for batch ``x`` ``(B, 1, H, W)`` on its device (ops keep
        the shape, so drawing them all first draws exactly what :meth:`forward` would)."""
        return to_params(self.sample_host(x, generator), x.device)

    def sample_host(self, x: Tensor, generator: torch.Generator) -> list[dict[str, Tensor]]:
        """The parameters of :meth:`sample` on the CPU."""
        return [op.sample_host(x, generator) for op in self.ops]

    def apply(self, x: Tensor, params: Sequence[Params]) -> Tensor:
        """Apply fixed per-op ``params`` (from :meth:`sample`) to ``x`` ``(B, 1, H, W)``."""
        for op, p in zip(self.ops, params, strict=True):
            if bool(on_host(p, "apply").any()):
                x = op.apply(x, p)
        return x

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Augment ``x`` ``(B, 1, H, W)``; a ``None`` generator draws a fresh seed. The same
        as running the ops one after the other: all parameters are drawn first (one copy to a
        GPU), then applied."""
        generator = generator if generator is not None else fresh_generator()
        return self.apply(x, self.sample(x, generator))

    def __len__(self) -> int:
        return len(self.ops)

    def extra_repr(self) -> str:
        return f"spec={self.spec!r}"


#: The default ops of pretraining and of the supervised baseline's training: crops, mild
#: geometry and intensity changes (lengths scale with the image size, see
#: :mod:`medaug.augment.base`); the study's chessboard and erasing are opt-in.
DEFAULT_OPS = "crop+rotate+flip+blur+intensity"


def build_pipeline(spec: str) -> Pipeline:
    """The pipeline of a spec string such as ``"rotate+flip+blur(p=0.2)+chessboard"``.

    ``""``, ``"none"`` and ``"identity"`` build the identity pipeline (no ops), the baseline
    of a study; any other spec goes through :func:`~medaug.augment.registry.build_ops`, which
    raises :class:`~medaug.errors.AugmentError` on an unknown op or parameter.
    """
    if spec.strip().lower() in IDENTITY_SPECS:
        return Pipeline([], spec="none")
    return Pipeline(build_ops(spec), spec=spec.strip())
