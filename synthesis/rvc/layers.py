"""Building blocks of the RVC v2 synthesizer (VITS family). Parameter names match RVC's state dicts."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LRELU_SLOPE = 0.1


class WNConv1d(nn.Module):
    """Conv1d under weight normalisation with the classic ``weight_g`` / ``weight_v`` parameters (dim 0)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, *, stride: int = 1, dilation: int = 1,
                 padding: int = 0, transpose: bool = False) -> None:
        super().__init__()
        shape = (in_ch, out_ch, kernel) if transpose else (out_ch, in_ch, kernel)
        self.weight_v = nn.Parameter(torch.randn(shape) * 0.01)
        self.weight_g = nn.Parameter(torch.ones(shape[0], 1, 1))
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.stride, self.dilation, self.padding, self.transpose = stride, dilation, padding, transpose

    def weight(self) -> Tensor:
        norm = self.weight_v.float().pow(2).sum(dim=(1, 2), keepdim=True).sqrt()
        return (self.weight_g.float() * self.weight_v.float() / norm).to(self.weight_v.dtype)

    def forward(self, x: Tensor) -> Tensor:
        if self.transpose:
            return F.conv_transpose1d(x, self.weight(), self.bias, self.stride, self.padding)
        return F.conv1d(x, self.weight(), self.bias, self.stride, self.padding, self.dilation)


class ChannelLayerNorm(nn.Module):
    """Layer norm over the channel axis of ``[batch, channels, time]`` (parameters ``gamma``/``beta``)."""

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        y = F.layer_norm(x.transpose(1, -1), self.gamma.shape, self.gamma, self.beta, self.eps)
        return y.transpose(1, -1)


class RelativeSelfAttention(nn.Module):
    """Multi-head self-attention with windowed relative position embeddings shared across heads."""

    def __init__(self, channels: int, n_heads: int, window_size: int = 10) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.k_channels = channels // n_heads
        self.window_size = window_size
        self.conv_q = nn.Conv1d(channels, channels, 1)
        self.conv_k = nn.Conv1d(channels, channels, 1)
        self.conv_v = nn.Conv1d(channels, channels, 1)
        self.conv_o = nn.Conv1d(channels, channels, 1)
        std = self.k_channels ** -0.5
        self.emb_rel_k = nn.Parameter(torch.randn(1, 2 * window_size + 1, self.k_channels) * std)
        self.emb_rel_v = nn.Parameter(torch.randn(1, 2 * window_size + 1, self.k_channels) * std)

    def _offsets(self, t: int, device: torch.device) -> tuple[Tensor, Tensor]:
        """For each query i and relative offset m in [-w, w]: key index i+m (clamped) and whether it exists."""
        w = self.window_size
        idx = torch.arange(t, device=device)[:, None] + torch.arange(-w, w + 1, device=device)[None, :]
        valid = (idx >= 0) & (idx < t)
        return idx.clamp(0, t - 1), valid

    def forward(self, x: Tensor, attn_mask: Tensor) -> Tensor:
        b, c, t = x.shape
        h, k = self.n_heads, self.k_channels
        q = self.conv_q(x).view(b, h, k, t).transpose(2, 3) / (k ** 0.5)
        key = self.conv_k(x).view(b, h, k, t).transpose(2, 3)
        v = self.conv_v(x).view(b, h, k, t).transpose(2, 3)
        scores = q @ key.transpose(-2, -1)
        idx, valid = self._offsets(t, x.device)
        rel_logits = (q @ self.emb_rel_k.transpose(-2, -1)) * valid.to(q.dtype)
        scores = scores.scatter_add(-1, idx.expand(b, h, t, -1), rel_logits)
        scores = scores.masked_fill(attn_mask == 0, -1e4)
        p = F.softmax(scores, dim=-1)
        out = p @ v
        rel_weights = p.gather(-1, idx.expand(b, h, t, -1)) * valid.to(p.dtype)
        out = out + rel_weights @ self.emb_rel_v
        projected: Tensor = self.conv_o(out.transpose(2, 3).reshape(b, c, t))
        return projected


class FeedForward(nn.Module):
    def __init__(self, channels: int, filter_channels: int, kernel_size: int) -> None:
        super().__init__()
        self.conv_1 = nn.Conv1d(channels, filter_channels, kernel_size)
        self.conv_2 = nn.Conv1d(filter_channels, channels, kernel_size)
        self.pad = ((kernel_size - 1) // 2, kernel_size // 2)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        x = torch.relu(self.conv_1(F.pad(x * mask, self.pad)))
        y: Tensor = self.conv_2(F.pad(x * mask, self.pad))
        return y * mask


class AttentionEncoder(nn.Module):
    def __init__(self, hidden: int, filter_channels: int, n_heads: int, n_layers: int, kernel_size: int) -> None:
        super().__init__()
        self.attn_layers = nn.ModuleList(RelativeSelfAttention(hidden, n_heads) for _ in range(n_layers))
        self.norm_layers_1 = nn.ModuleList(ChannelLayerNorm(hidden) for _ in range(n_layers))
        self.ffn_layers = nn.ModuleList(FeedForward(hidden, filter_channels, kernel_size) for _ in range(n_layers))
        self.norm_layers_2 = nn.ModuleList(ChannelLayerNorm(hidden) for _ in range(n_layers))

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        attn_mask = mask.unsqueeze(2) * mask.unsqueeze(-1)
        x = x * mask
        for attn, n1, ffn, n2 in zip(self.attn_layers, self.norm_layers_1, self.ffn_layers, self.norm_layers_2,
                                     strict=True):
            x = n1(x + attn(x, attn_mask))
            x = n2(x + ffn(x, mask))
        return x * mask


class WaveNet(nn.Module):
    """Non-causal WaveNet with gated activations and a global condition (``WN`` in RVC)."""

    def __init__(self, hidden: int, kernel_size: int, dilation_rate: int, n_layers: int, gin_channels: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.n_layers = n_layers
        self.cond_layer = WNConv1d(gin_channels, 2 * hidden * n_layers, 1)
        self.in_layers = nn.ModuleList()
        self.res_skip_layers = nn.ModuleList()
        for i in range(n_layers):
            d = dilation_rate ** i
            pad = (kernel_size * d - d) // 2
            self.in_layers.append(WNConv1d(hidden, 2 * hidden, kernel_size, dilation=d, padding=pad))
            self.res_skip_layers.append(WNConv1d(hidden, 2 * hidden if i < n_layers - 1 else hidden, 1))

    def forward(self, x: Tensor, mask: Tensor, g: Tensor) -> Tensor:
        out = torch.zeros_like(x)
        cond = self.cond_layer(g)
        n = self.hidden
        for i, (inl, rs) in enumerate(zip(self.in_layers, self.res_skip_layers, strict=True)):
            a = inl(x) + cond[:, i * 2 * n:(i + 1) * 2 * n]
            acts = torch.tanh(a[:, :n]) * torch.sigmoid(a[:, n:])
            res = rs(acts)
            if i < self.n_layers - 1:
                x = (x + res[:, :n]) * mask
                out = out + res[:, n:]
            else:
                out = out + res
        return out * mask


class CouplingLayer(nn.Module):
    """Mean-only affine coupling (``ResidualCouplingLayer``); only the inverse is needed at inference."""

    def __init__(self, channels: int, hidden: int, kernel_size: int, dilation_rate: int, n_layers: int,
                 gin_channels: int) -> None:
        super().__init__()
        self.half_channels = channels // 2
        self.pre = nn.Conv1d(self.half_channels, hidden, 1)
        self.enc = WaveNet(hidden, kernel_size, dilation_rate, n_layers, gin_channels)
        self.post = nn.Conv1d(hidden, self.half_channels, 1)

    def inverse(self, x: Tensor, mask: Tensor, g: Tensor) -> Tensor:
        x0, x1 = x[:, :self.half_channels], x[:, self.half_channels:]
        h = self.enc(self.pre(x0) * mask, mask, g)
        m = self.post(h) * mask
        return torch.cat([x0, (x1 - m) * mask], 1)


class Flip(nn.Module):
    def inverse(self, x: Tensor, mask: Tensor, g: Tensor) -> Tensor:
        return torch.flip(x, [1])


class CouplingFlow(nn.Module):
    """Four coupling layers with flips between them (``ResidualCouplingBlock``: keys ``flows.0/2/4/6``)."""

    def __init__(self, channels: int, hidden: int, kernel_size: int, dilation_rate: int, n_layers: int,
                 gin_channels: int, n_flows: int = 4) -> None:
        super().__init__()
        mods: list[nn.Module] = []
        for _ in range(n_flows):
            mods += [CouplingLayer(channels, hidden, kernel_size, dilation_rate, n_layers, gin_channels), Flip()]
        self.flows = nn.ModuleList(mods)

    def inverse(self, x: Tensor, mask: Tensor, g: Tensor) -> Tensor:
        for flow in reversed(self.flows):
            assert isinstance(flow, CouplingLayer | Flip)
            x = flow.inverse(x, mask, g)
        return x


def _padding(kernel: int, dilation: int) -> int:
    return (kernel * dilation - dilation) // 2


class ResBlock1(nn.Module):
    def __init__(self, ch: int, kernel: int, dilations: list[int]) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(WNConv1d(ch, ch, kernel, dilation=d, padding=_padding(kernel, d))
                                    for d in dilations)
        self.convs2 = nn.ModuleList(WNConv1d(ch, ch, kernel, padding=_padding(kernel, 1)) for _ in dilations)

    def forward(self, x: Tensor) -> Tensor:
        for c1, c2 in zip(self.convs1, self.convs2, strict=True):
            x = x + c2(F.leaky_relu(c1(F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE))
        return x


class ResBlock2(nn.Module):
    def __init__(self, ch: int, kernel: int, dilations: list[int]) -> None:
        super().__init__()
        self.convs = nn.ModuleList(WNConv1d(ch, ch, kernel, dilation=d, padding=_padding(kernel, d))
                                   for d in dilations[:2])

    def forward(self, x: Tensor) -> Tensor:
        for c in self.convs:
            x = x + c(F.leaky_relu(x, LRELU_SLOPE))
        return x
