"""Parts of the next-frame predictors of SVG-LP (Denton & Fergus 2018, "Stochastic Video Generation with a
Learned Prior", Sec. 3 and App. A): a DCGAN-style frame encoder, a decoder with skip connections from the
encoder, an LSTM stack over frame embeddings and a Gaussian LSTM giving the posterior or prior of z_t.

The encoder and decoder work on any power-of-two frame side >= 8: `log2(size / 4)` stride-2 conv levels bring
the frame to 4x4, a 4x4 conv to a `g_dim` vector. The LSTMs are functional: they take and return their state
(a list of (h, c) per layer) instead of keeping it on the module, so a rollout can branch and batch freely.
"""

from __future__ import annotations

import math

import torch
from kornia.geometry import create_meshgrid
from kornia.geometry.transform import remap
from torch import nn

State = list[tuple[torch.Tensor, torch.Tensor]]


def _down(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, inplace=True))


def _up(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, inplace=True)
    )


def _widths(image_size: int, width: int) -> list[int]:
    levels = math.log2(image_size / 4)
    if image_size < 8 or levels != int(levels):
        raise ValueError(f"image_size must be a power of two >= 8, got {image_size}")
    return [width * min(2**i, 8) for i in range(int(levels))]


class FrameEncoder(nn.Module):
    """Frame (B, C, S, S) in [0, 1] -> embedding (B, g_dim) (in [-1, 1]) and the feature map of every level.

    Args:
        in_chans: frame channels.
        image_size: frame side (power of two >= 8).
        g_dim: embedding width (paper: 128).
        width: channels of the first level (doubling per level, at most 8x).
        squash: end with BatchNorm and tanh as SVG (embeddings in [-1, 1]); False: the 4x4 conv's linear output
            (the video JEPA's representation, whose scale its variance regulariser sets).
    """

    def __init__(self, in_chans: int = 1, image_size: int = 64, g_dim: int = 128, width: int = 64,
                 squash: bool = True) -> None:  # fmt: skip
        super().__init__()
        widths = _widths(image_size, width)
        self.levels = nn.ModuleList(_down(c_in, c_out) for c_in, c_out in zip([in_chans, *widths[:-1]], widths, strict=True))
        head = [nn.Conv2d(widths[-1], g_dim, 4)] + ([nn.BatchNorm2d(g_dim), nn.Tanh()] if squash else [])
        self.head = nn.Sequential(*head)
        self.num_features = g_dim

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        skips = []
        for level in self.levels:
            x = level(x)
            skips.append(x)  # (B, w_i, S / 2^(i+1), S / 2^(i+1))
        return self.head(x).flatten(1), skips  # (B, g_dim), skips


class FrameDecoder(nn.Module):
    """Embedding (B, g_dim) and encoder skips -> frame (B, C, S, S) in [0, 1] (DCGAN-style, sigmoid output).

    Each level concatenates the encoder's feature map of the same resolution (U-Net style), so the static
    background and appearance can be copied from the last observed frame and the embedding carries the motion.

    With `warp_shift > 0` the decoder also moves pixels of a given frame instead of only drawing new ones
    (the compositing of Finn et al. 2016, "Unsupervised Learning for Physical Interaction through Video
    Prediction", and Liu et al. 2017, "Video Frame Synthesis using Deep Voxel Flow"): it outputs a drawn frame, a
    flow of at most `warp_shift` pixels per axis and a mask, and `forward(g, skips, source)` returns
    mask * warp(source, flow) + (1 - mask) * drawn, `source` being a frame (the skips' own). Moved pixels stay as
    sharp as the frame they come from.
    """

    def __init__(self, in_chans: int = 1, image_size: int = 64, g_dim: int = 128, width: int = 64,
                 warp_shift: float = 0.0) -> None:  # fmt: skip
        super().__init__()
        if warp_shift < 0:
            raise ValueError(f"warp_shift must be >= 0 pixels (0: draw every pixel), got {warp_shift}")
        self.warp_shift, self.in_chans = warp_shift, in_chans
        widths = _widths(image_size, width)
        self.head = nn.Sequential(
            nn.ConvTranspose2d(g_dim, widths[-1], 4, bias=False), nn.BatchNorm2d(widths[-1]), nn.LeakyReLU(0.2, inplace=True)
        )
        ins = widths[::-1]
        self.levels = nn.ModuleList(_up(2 * c_in, c_out) for c_in, c_out in zip(ins[:-1], ins[1:], strict=True))
        out = in_chans + (3 if warp_shift else 0)  # drawn frame (+ flow x, flow y, mask)
        self.levels.append(nn.ConvTranspose2d(2 * widths[0], out, 4, 2, 1))

    def forward(self, g: torch.Tensor, skips: list[torch.Tensor], source: torch.Tensor | None = None) -> torch.Tensor:
        x = self.head(g[:, :, None, None])  # (B, w_last, 4, 4)
        for level, skip in zip(self.levels, skips[::-1], strict=True):
            x = level(torch.cat([x, skip], 1))
        drawn = torch.sigmoid(x[:, : self.in_chans])
        if not self.warp_shift:
            return drawn
        if source is None:
            raise ValueError("a warping decoder (warp_shift > 0) needs the frame to warp (source)")
        flow = self.warp_shift * torch.tanh(x[:, self.in_chans : self.in_chans + 2])  # (B, 2, S, S) pixels
        mask = torch.sigmoid(x[:, -1:])
        return mask * warp(source, flow) + (1 - mask) * drawn


def warp(frames: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward warp: output pixel (y, x) reads `frames` (B, C, H, W) at (y + flow_y, x + flow_x), bilinearly, with
    zeros outside the frame (kornia's `remap`). `flow` (B, 2, H, W) is in pixels, x first."""
    h, w = frames.shape[-2:]
    grid = create_meshgrid(h, w, normalized_coordinates=False, device=frames.device, dtype=frames.dtype)
    return remap(frames, grid[..., 0] + flow[:, 0], grid[..., 1] + flow[:, 1], align_corners=True)  # (1, H, W) + (B, H, W)


class LSTMStack(nn.Module):
    """Linear embedding -> `layers` LSTM cells -> linear output (SVG's frame predictor, with tanh output).

    Args:
        in_dim: input width.
        out_dim: output width.
        hidden: LSTM width (paper: 256).
        layers: stacked LSTM cells (paper: 2 for the predictor, 1 for posterior and prior).
        tanh_out: squash the output to [-1, 1] like the encoder's embeddings.
    """

    def __init__(self, in_dim: int, out_dim: int, hidden: int = 256, layers: int = 2, tanh_out: bool = True) -> None:
        super().__init__()
        self.embed = nn.Linear(in_dim, hidden)
        self.cells = nn.ModuleList(nn.LSTMCell(hidden, hidden) for _ in range(layers))
        self.out = nn.Sequential(nn.Linear(hidden, out_dim), nn.Tanh() if tanh_out else nn.Identity())
        self.hidden = hidden

    def init_state(self, batch: int, device: torch.device) -> State:
        zeros = torch.zeros(batch, self.hidden, device=device)
        return [(zeros, zeros) for _ in self.cells]

    def step(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """One time step: input (B, in_dim) -> output (B, out_dim) and the new state."""
        state = state or self.init_state(x.shape[0], x.device)
        h, new_state = self.embed(x), []
        for cell, hc in zip(self.cells, state, strict=True):
            hc = cell(h, hc)
            new_state.append(hc)
            h = hc[0]
        return self.out(h), new_state


class GaussianLSTM(nn.Module):
    """LSTM stack whose output parameterises a diagonal Gaussian over z_t: returns (mu, logvar) (B, z_dim).

    Used twice in SVG-LP: the posterior q(z_t | x_<=t) reads the embedding of the target frame x_t, the learned
    prior p(z_t | x_<t) the embedding of the previous frame.
    """

    def __init__(self, in_dim: int, z_dim: int, hidden: int = 256, layers: int = 1) -> None:
        super().__init__()
        self.lstm = LSTMStack(in_dim, 2 * z_dim, hidden, layers, tanh_out=False)

    def step(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, torch.Tensor, State]:
        out, state = self.lstm.step(x, state)
        mu, logvar = out.chunk(2, dim=1)
        return mu, logvar, state


def sample_gaussian(mu: torch.Tensor, logvar: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
    """Reparameterised sample mu + exp(logvar / 2) * noise; fresh standard-normal noise if none is given."""
    if noise is None:
        noise = torch.randn_like(mu)
    return mu + (0.5 * logvar).exp() * noise
