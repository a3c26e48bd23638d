"""ConvNeXt image classifier for MindSpore, laid out for layer-wise lr decay rules.

With the ConvNeXt-Base configuration, parameters_and_names() yields the names,
shapes and order listed in examples/convnext_base_params.txt, a parameter dump
of a MindSpore ConvNeXt-Base. The names follow this scheme::

    backbone.start_cell.{0.weight, 1.gamma, 1.beta}
    backbone.block1.<b>.{gamma, dwconv.weight, layer_norm.*, pwconv1.*, pwconv2.*}
    backbone.down_sample_blocks.<2k>.{layer_norm.*, conv.weight}    # downsample
    backbone.down_sample_blocks.<2k+1>.<b>.{...block params...}     # stage k + 2
    neck.layer_norm.{gamma, beta}
    head.dense.{weight, bias}

Every LayerNorm inside the backbone normalizes over (C, H, W) of an NCHW tensor,
so its gamma and beta have shape (C, H, W) and the network accepts only the
image size it was built for. Stochastic depth is left out. It has no
parameters, so the layout is the same without it.

Example:
    >>> import numpy as np
    >>> import mindspore as ms
    >>> from examples.convnext import convnext_small_cpu
    >>> net = convnext_small_cpu(num_classes=10, image_size=32)
    >>> net(ms.Tensor(np.zeros((2, 3, 32, 32), np.float32))).shape
    (2, 10)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from mindspore import Parameter, Tensor, nn, ops
from mindspore.common.initializer import TruncatedNormal

__all__ = ["ConvNeXt", "convnext_base", "convnext_small_cpu", "convnext_tiny"]

# LayerNorm epsilon and weight init follow the ConvNeXt of mindcv 0.3.0: eps 1e-6
# (MindSpore's default is 1e-7), and every Conv2d and Dense weight drawn from a
# truncated normal with std 0.02, with zero biases.
_LAYER_NORM_EPSILON = 1e-6
_WEIGHT_INIT_STD = 0.02
_STEM_STRIDE = 4
_DOWNSAMPLE_STRIDE = 2
_BLOCK_KERNEL_SIZE = 7
_MLP_RATIO = 4


def _spatial_layer_norm(channels: int, size: int) -> nn.LayerNorm:
    """Build a LayerNorm over (C, H, W) of an NCHW tensor with square H = W = size."""
    return nn.LayerNorm(
        (channels, size, size),
        begin_norm_axis=1,
        begin_params_axis=1,
        epsilon=_LAYER_NORM_EPSILON,
    )


def _dense(in_features: int, out_features: int) -> nn.Dense:
    return nn.Dense(
        in_features,
        out_features,
        weight_init=TruncatedNormal(sigma=_WEIGHT_INIT_STD),
        bias_init="zeros",
    )


class Block(nn.Cell):
    """ConvNeXt block: depthwise 7x7 conv, LayerNorm, inverted MLP and layer scale.

    Args:
        channels: Number of input and output channels C.
        size: Height and width of the NCHW input, which fix the LayerNorm shape.
        layer_scale_init: Initial value of every element of the layer scale `gamma`.
    """

    def __init__(self, channels: int, size: int, layer_scale_init: float) -> None:
        super().__init__()
        # parameters_and_names() yields a cell's own parameters before those of
        # its sub-cells, so this comes out as "<block>.gamma" ahead of dwconv.
        self.gamma = Parameter(
            Tensor(np.full((channels,), layer_scale_init, dtype=np.float32)),
            name="gamma",
        )
        self.dwconv = nn.Conv2d(
            channels,
            channels,
            _BLOCK_KERNEL_SIZE,
            pad_mode="pad",
            padding=_BLOCK_KERNEL_SIZE // 2,
            group=channels,
            has_bias=False,
            weight_init=TruncatedNormal(sigma=_WEIGHT_INIT_STD),
        )
        self.layer_norm = _spatial_layer_norm(channels, size)
        self.pwconv1 = _dense(channels, _MLP_RATIO * channels)
        self.gelu = nn.GELU(approximate=False)
        self.pwconv2 = _dense(_MLP_RATIO * channels, channels)

    def construct(self, x: Tensor) -> Tensor:
        """Apply the block to an NCHW tensor and add the residual."""
        shortcut = x
        x = self.dwconv(x)
        x = self.layer_norm(x)

        # The pointwise Dense layers act on the last axis, so move C there.
        x = ops.transpose(x, (0, 2, 3, 1))
        x = self.pwconv1(x)
        x = self.gelu(x)
        x = self.pwconv2(x)
        x = self.gamma * x
        x = ops.transpose(x, (0, 3, 1, 2))

        return shortcut + x


class DownSample(nn.Cell):
    """LayerNorm over (C, H, W), then a 2x2 stride-2 conv from in_channels to out_channels.

    Args:
        in_channels: Channels of the input.
        out_channels: Channels of the output.
        size: Height and width of the input, which fix the LayerNorm shape.
    """

    def __init__(self, in_channels: int, out_channels: int, size: int) -> None:
        super().__init__()
        self.layer_norm = _spatial_layer_norm(in_channels, size)
        self.conv = nn.Conv2d(
            in_channels,
            out_channels,
            _DOWNSAMPLE_STRIDE,
            stride=_DOWNSAMPLE_STRIDE,
            pad_mode="valid",
            has_bias=False,
            weight_init=TruncatedNormal(sigma=_WEIGHT_INIT_STD),
        )

    def construct(self, x: Tensor) -> Tensor:
        """Normalize, then halve the height and width of an NCHW tensor."""
        return self.conv(self.layer_norm(x))


def _stage(depth: int, channels: int, size: int, layer_scale_init: float) -> nn.SequentialCell:
    return nn.SequentialCell([Block(channels, size, layer_scale_init) for _ in range(depth)])


class Backbone(nn.Cell):
    """Stem, the first stage, then a downsample and a stage for each later stage.

    Args:
        depths: Number of blocks in each stage.
        dims: Channels of each stage.
        image_size: Height and width of the input images.
        in_channels: Channels of the input images.
        layer_scale_init: Initial value of the layer scale of every block.
    """

    def __init__(
        self,
        depths: Sequence[int],
        dims: Sequence[int],
        image_size: int,
        in_channels: int,
        layer_scale_init: float,
    ) -> None:
        super().__init__()
        size = image_size // _STEM_STRIDE
        self.start_cell = nn.SequentialCell(
            [
                nn.Conv2d(
                    in_channels,
                    dims[0],
                    _STEM_STRIDE,
                    stride=_STEM_STRIDE,
                    pad_mode="valid",
                    has_bias=False,
                    weight_init=TruncatedNormal(sigma=_WEIGHT_INIT_STD),
                ),
                _spatial_layer_norm(dims[0], size),
            ]
        )
        self.block1 = _stage(depths[0], dims[0], size, layer_scale_init)

        # Downsamples sit at the even indices and stages 2, 3, ... at the odd ones.
        later_cells: list[nn.Cell] = []
        for stage in range(1, len(depths)):
            later_cells.append(DownSample(dims[stage - 1], dims[stage], size))
            size //= _DOWNSAMPLE_STRIDE
            later_cells.append(_stage(depths[stage], dims[stage], size, layer_scale_init))
        self.down_sample_blocks = nn.SequentialCell(later_cells)

    def construct(self, x: Tensor) -> Tensor:
        """Map images (N, in_channels, S, S) to features (N, dims[-1], S', S')."""
        x = self.start_cell(x)
        x = self.block1(x)
        return self.down_sample_blocks(x)


class Neck(nn.Cell):
    """Global average pooling over H and W, then a LayerNorm over the channels.

    Args:
        channels: Channels of the backbone output.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.layer_norm = nn.LayerNorm((channels,), epsilon=_LAYER_NORM_EPSILON)

    def construct(self, x: Tensor) -> Tensor:
        """Reduce features (N, C, H, W) to normalized vectors (N, C)."""
        return self.layer_norm(ops.mean(x, axis=(2, 3)))


class Head(nn.Cell):
    """Linear classifier.

    Args:
        in_features: Length of the feature vector.
        num_classes: Number of output logits.
    """

    def __init__(self, in_features: int, num_classes: int) -> None:
        super().__init__()
        self.dense = _dense(in_features, num_classes)

    def construct(self, x: Tensor) -> Tensor:
        """Map features (N, in_features) to logits (N, num_classes)."""
        return self.dense(x)


class ConvNeXt(nn.Cell):
    """ConvNeXt image classifier: backbone, pooling neck and linear head.

    The stem divides the image size by 4 and each later stage halves it, so
    `image_size` must be a multiple of 4 * 2 ** (len(depths) - 1). The network
    accepts only inputs of shape (N, in_channels, image_size, image_size),
    because the backbone LayerNorms have per-position gamma and beta.

    Args:
        depths: Number of blocks in each stage.
        dims: Channels of each stage, one per entry of `depths`.
        image_size: Height and width of the input images, in pixels.
        in_channels: Channels of the input images.
        num_classes: Number of output logits.
        layer_scale_init: Initial value of the layer scale `gamma` of every block.

    Raises:
        ValueError: If `depths` and `dims` are empty or differ in length, if a
            depth, dim, `in_channels` or `num_classes` is not positive, or if
            `image_size` is not a positive multiple of the total stride.

    Example:
        >>> net = ConvNeXt(depths=(1, 1), dims=(8, 16), image_size=8, num_classes=3)
        >>> for name, param in list(net.parameters_and_names())[:3]:
        ...     print(name, param.shape)
        backbone.start_cell.0.weight (8, 3, 4, 4)
        backbone.start_cell.1.gamma (8, 2, 2)
        backbone.start_cell.1.beta (8, 2, 2)
    """

    def __init__(
        self,
        depths: Sequence[int] = (3, 3, 27, 3),
        dims: Sequence[int] = (128, 256, 512, 1024),
        image_size: int = 224,
        in_channels: int = 3,
        num_classes: int = 1000,
        layer_scale_init: float = 1e-6,
    ) -> None:
        super().__init__()
        _validate_config(depths, dims, image_size, in_channels, num_classes)

        self.backbone = Backbone(depths, dims, image_size, in_channels, layer_scale_init)
        self.neck = Neck(dims[-1])
        self.head = Head(dims[-1], num_classes)

    def construct(self, x: Tensor) -> Tensor:
        """Map images (N, in_channels, image_size, image_size) to logits (N, num_classes)."""
        return self.head(self.neck(self.backbone(x)))


def _validate_config(
    depths: Sequence[int],
    dims: Sequence[int],
    image_size: int,
    in_channels: int,
    num_classes: int,
) -> None:
    if len(depths) == 0 or len(depths) != len(dims):
        raise ValueError(
            f"depths and dims must be non-empty and of equal length, one entry per stage; "
            f"got depths={tuple(depths)}, dims={tuple(dims)}"
        )
    for label, values in (("depths", depths), ("dims", dims)):
        if any(value < 1 for value in values):
            raise ValueError(f"every entry of {label} must be >= 1; got {label}={tuple(values)}")
    if in_channels < 1:
        raise ValueError(f"in_channels must be >= 1; got {in_channels}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1; got {num_classes}")

    total_stride = _STEM_STRIDE * _DOWNSAMPLE_STRIDE ** (len(depths) - 1)
    if image_size < total_stride or image_size % total_stride != 0:
        raise ValueError(
            f"image_size must be a positive multiple of {total_stride} for {len(depths)} "
            f"stages (stem stride {_STEM_STRIDE}, then stride {_DOWNSAMPLE_STRIDE} per "
            f"downsample); got {image_size}"
        )


def convnext_base(num_classes: int = 1000) -> ConvNeXt:
    """Build ConvNeXt-Base for 224x224 images: depths 3-3-27-3, dims 128-256-512-1024.

    With the 1000-class head the network has 100.07M parameters. That is 11.50M
    more than the same layout with per-channel LayerNorms, because the backbone
    LayerNorms have one gamma and beta per (C, H, W) position.

    Args:
        num_classes: Number of output logits.

    Returns:
        A freshly initialized ConvNeXt-Base.

    Example:
        >>> net = convnext_base()
        >>> len(list(net.get_parameters()))
        304
    """
    return ConvNeXt(
        depths=(3, 3, 27, 3),
        dims=(128, 256, 512, 1024),
        image_size=224,
        num_classes=num_classes,
    )


def convnext_tiny(num_classes: int = 1000) -> ConvNeXt:
    """Build ConvNeXt-Tiny for 224x224 images: depths 3-3-9-3, dims 96-192-384-768.

    Args:
        num_classes: Number of output logits.

    Returns:
        A freshly initialized ConvNeXt-Tiny.

    Example:
        >>> net = convnext_tiny(num_classes=10)
        >>> [p.shape for p in net.get_parameters()][-2:]
        [(10, 768), (10,)]
    """
    return ConvNeXt(
        depths=(3, 3, 9, 3),
        dims=(96, 192, 384, 768),
        image_size=224,
        num_classes=num_classes,
    )


def convnext_small_cpu(num_classes: int = 10, image_size: int = 32) -> ConvNeXt:
    """Build a small ConvNeXt for CPU training: depths 1-1-3-1, dims 16-32-64-128.

    It keeps the ConvNeXt-Base parameter names, so the same rule files apply.
    With the default image_size of 32 the feature maps are 8, 4, 2 and 1 pixels
    wide in the four stages, so 8x8 digit images must be upsampled to 32x32 first.

    Args:
        num_classes: Number of output logits.
        image_size: Height and width of the input images, a multiple of 32.

    Returns:
        A freshly initialized small ConvNeXt.

    Raises:
        ValueError: If `image_size` is not a positive multiple of 32.

    Example:
        >>> import numpy as np
        >>> import mindspore as ms
        >>> net = convnext_small_cpu()
        >>> net(ms.Tensor(np.zeros((2, 3, 32, 32), np.float32))).shape
        (2, 10)
    """
    return ConvNeXt(
        depths=(1, 1, 3, 1),
        dims=(16, 32, 64, 128),
        image_size=image_size,
        num_classes=num_classes,
    )
