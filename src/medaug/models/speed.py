"""How a training step runs fast on its device without changing what it computes:
``torch.compile`` of the backbone, channels-last memory, and the choice of each for ``auto``.

Both are switches a user can turn off (``--compile off``, ``--channels-last off``): compile
costs a minute of start-up and a C++ compiler, channels-last only pays on GPUs with tensor
cores. ``auto`` turns each on for CUDA devices and off elsewhere (on a 2-core CPU compile's
start-up outweighs a short run's gain).

``nn.Module.compile`` compiles in place, so the module's ``state_dict`` keys, checkpoints and
exported encoders are the same as without it.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

from medaug.errors import ConfigError

#: The values of ``--compile`` and ``--channels-last``.
SWITCHES = ("auto", "on", "off")


def check_switch(name: str, value: str) -> None:
    """Raise :class:`ConfigError` unless ``value`` is one of :data:`SWITCHES`."""
    if value not in SWITCHES:
        raise ConfigError(f"pretrain: {name} must be one of {', '.join(SWITCHES)}, got "
                          f"{value!r}")


def resolve_switch(value: str, device: torch.device) -> bool:
    """``on`` -> True, ``off`` -> False, ``auto`` -> whether ``device`` is a CUDA device."""
    check_switch("the switch", value)
    return value == "on" or (value == "auto" and device.type == "cuda")


def compile_modules(modules: Iterable[nn.Module]) -> None:
    """Compile each module in place (``nn.Module.compile``; the first forward compiles).
    The same module listed twice is compiled once."""
    seen: set[int] = set()
    for module in modules:
        if id(module) not in seen:
            seen.add(id(module))
            module.compile()


def to_channels_last(module: nn.Module) -> nn.Module:
    """``module`` with its 4-d parameters and buffers in channels-last memory (in place)."""
    return module.to(memory_format=torch.channels_last)


def channels_last_views(views: list[Tensor]) -> list[Tensor]:
    """Views ``(B, C, S, S)`` as channels-last tensors (same values, other strides)."""
    return [v.contiguous(memory_format=torch.channels_last) for v in views]
