"""Heat maps of a classifier's abnormal logit with pytorch-grad-cam (Grad-CAM, Selvaraju et al.
2017; Grad-CAM++, Chattopadhyay et al. 2018; EigenCAM, Muhammad & Yeasin 2020, with its sign
fixed: :class:`OrientedEigenCAM`).

:class:`HeatMaps` is a context manager: the library's hooks are registered on the target layer
on enter and removed on exit, also when an exception leaves the block. Inputs are 1-channel
``(B, 1, S, S)`` images in [0, 1]; :func:`overlay` states its colour order (RGB).
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import cv2
import numpy as np
import torch
from pytorch_grad_cam import EigenCAM, GradCAM, GradCAMPlusPlus
from pytorch_grad_cam.base_cam import BaseCAM
from torch import Tensor, nn

from medaug.errors import ConfigError


class OrientedEigenCAM(EigenCAM):
    """EigenCAM: the layer's activations ``(C, h, w)`` projected on their first principal
    component (as pytorch-grad-cam's ``get_2d_projection``, with a thin SVD: the library's
    full one builds an ``(h*w, h*w)`` matrix), with the component's sign fixed. A singular
    vector's sign is arbitrary, so the map could come out as the complement of what the layer
    responds to; each map is flipped where needed to correlate positively with the layer's
    activation norm per location (the L2 norm over channels, whatever their sign)."""

    def get_cam_image(self, input_tensor: Tensor, target_layer: nn.Module, targets: Any,
                      activations: np.ndarray, grads: Any, eigen_smooth: bool) -> np.ndarray:
        acts = np.nan_to_num(np.asarray(activations, dtype=np.float64))  # (B, C, h, w)
        maps = np.empty((acts.shape[0], *acts.shape[2:]), dtype=np.float32)
        for k, a in enumerate(acts):
            flat = a.reshape(a.shape[0], -1).T  # (h*w, C)
            flat = flat - flat.mean(axis=0)
            _, _, vt = np.linalg.svd(flat, full_matrices=False)
            proj = flat @ vt[0]  # (h*w,)
            norm = np.linalg.norm(a, axis=0).ravel()
            if float((proj - proj.mean()) @ (norm - norm.mean())) < 0:
                proj = -proj
            maps[k] = proj.reshape(a.shape[1:])
        return maps


#: ``--method`` name -> pytorch-grad-cam class.
CAM_METHODS: dict[str, type[BaseCAM]] = {"gradcam": GradCAM, "gradcam++": GradCAMPlusPlus,
                                         "eigencam": OrientedEigenCAM}


class LogitTarget:
    """The score a heat map explains: the abnormal logit (``category=1``) or its negative, the
    normal logit (``category=0``), of a model whose output is one abnormal logit ``(B, 1)``."""

    def __init__(self, category: int) -> None:
        if category not in (0, 1):
            raise ValueError(f"category must be 0 (normal) or 1 (abnormal), got {category}")
        self.category = category

    def __call__(self, output: Tensor) -> Tensor:
        logit = output[..., 0]  # (1,) per sample -> scalar; (B, 1) -> (B,)
        return logit if self.category == 1 else -logit


class ProbabilityTarget(LogitTarget):
    """The probability of ``category`` (``sigmoid`` of :class:`LogitTarget`): what the
    faithfulness metric watches change as pixels are removed."""

    def __call__(self, output: Tensor) -> Tensor:
        return torch.sigmoid(super().__call__(output))


def check_method(method: str) -> str:
    """``method`` if it is one of :data:`CAM_METHODS`.

    Raises:
        ConfigError: an unknown method.
    """
    if method not in CAM_METHODS:
        raise ConfigError(f"unknown heat-map method {method!r}; choose one of "
                          f"{', '.join(CAM_METHODS)}")
    return method


class HeatMaps:
    """Heat maps of ``model`` at ``layer`` by ``method``, inside a ``with`` block::

        with HeatMaps(model, last_conv_block(encoder), "gradcam") as maps:
            heat = maps(x, [LogitTarget(1)] * len(x))  # (B, S, S) in [0, 1]

    The model is put in eval mode (pytorch-grad-cam does); its parameters are left as they
    are: the gradient flows to the layer's activations through an input that requires it.
    """

    def __init__(self, model: nn.Module, layer: nn.Module, method: str = "gradcam") -> None:
        self.model = model
        self.layer = layer
        self.method = check_method(method)
        self._cam: BaseCAM | None = None

    def __enter__(self) -> HeatMaps:
        self._cam = CAM_METHODS[self.method](model=self.model, target_layers=[self.layer])
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()

    def release(self) -> None:
        """Remove the hooks (idempotent)."""
        if self._cam is not None:
            self._cam.activations_and_grads.release()
            self._cam = None

    def __call__(self, x: Tensor, targets: list[Any]) -> np.ndarray:
        """Heat maps ``(B, S, S)`` float32 in [0, 1] (each scaled to its own maximum, as
        pytorch-grad-cam does) of ``x`` ``(B, 1, S, S)`` in [0, 1] for one target per image.

        Raises:
            RuntimeError: called outside the ``with`` block.
            ValueError: ``x`` that is not ``(B, 1, H, W)``, or a target count that differs.
        """
        if self._cam is None:
            raise RuntimeError("HeatMaps must be used inside a `with` block")
        if x.ndim != 4 or x.shape[1] != 1:
            raise ValueError(f"expected 1-channel images (B, 1, H, W), got {tuple(x.shape)}")
        if len(targets) != len(x):
            raise ValueError(f"{len(targets)} targets for {len(x)} images")
        device = next(self.model.parameters()).device
        x = x.detach().float().to(device).requires_grad_(True)
        with torch.enable_grad(), torch.autocast(device.type, enabled=False):
            heat = self._cam(input_tensor=x, targets=targets)
        return np.clip(np.asarray(heat, dtype=np.float32), 0.0, 1.0)  # (B, H, W)


def heat_maps(model: nn.Module, layer: nn.Module, x: Tensor, targets: list[Any],
              method: str = "gradcam", batch_size: int = 32) -> np.ndarray:
    """:class:`HeatMaps` of ``x`` ``(N, 1, S, S)`` in batches; returns ``(N, S, S)``."""
    out = []
    with HeatMaps(model, layer, method) as maps:
        for start in range(0, len(x), batch_size):
            out.append(maps(x[start:start + batch_size], targets[start:start + batch_size]))
    size = x.shape[-2:]
    return np.concatenate(out) if out else np.zeros((0, *size), dtype=np.float32)


def overlay(image: np.ndarray, heat: np.ndarray, image_weight: float = 0.5,
            colormap: int = cv2.COLORMAP_JET) -> np.ndarray:
    """The heat map ``(S, S)`` in [0, 1] coloured with ``colormap`` over a 1-channel image
    ``(S, S)`` uint8: an RGB ``(S, S, 3)`` uint8 array (OpenCV colours maps in BGR; they are
    converted, so matplotlib shows them right). ``image_weight`` is the image's share.
    Not pytorch-grad-cam's ``show_cam_on_image``: that one wants a 3-channel float image and
    divides the blend by its maximum, so the same heat would get different colours on a dark
    and on a bright radiograph."""
    if image.shape != heat.shape:
        raise ValueError(f"image {image.shape} and heat map {heat.shape} differ in shape")
    if not 0 <= image_weight <= 1:
        raise ValueError(f"image_weight must lie in [0, 1], got {image_weight}")
    colour = cv2.applyColorMap(np.uint8(np.round(255 * np.clip(heat, 0, 1))), colormap)
    colour = cv2.cvtColor(colour, cv2.COLOR_BGR2RGB).astype(np.float32) / 255  # (S, S, 3) RGB
    gray = np.repeat(image.astype(np.float32)[..., None] / 255, 3, axis=-1)  # (S, S, 3)
    mixed = image_weight * gray + (1 - image_weight) * colour
    return np.uint8(np.round(255 * np.clip(mixed, 0, 1)))
