#!/usr/bin/python3
"""PyTorch-eager peer of bench/dense_cpu: the same dense networks as nerfedit's, written with torch.nn / torchvision.

Run with Debian's python3-torch / python3-torchvision (the same ATen, oneDNN and OpenBLAS as Debian's LibTorch).
Random weights, float32, best of --reps timed calls after one warm-up. Prints one `name ms` line per workload:

  clip_image_b1 / clip_image_b32   CLIP ViT-B/32 image tower, 224x224, forward (inference mode), L2-normalised embedding
  clip_text_b32                    CLIP text tower, context 77, forward (texts of 6..30 tokens as bench/clip_latency)
  clip_image_bwd                   image tower forward + backward at batch 8, frozen weights, gradient to the pixels
                                   (CLIP-NeRF's loss)
  vgg                              torchvision VGG-19 features up to relu4_1, 256x256, batch 4, forward + backward,
                                   frozen weights, gradient to the pixels (StylizedNeRF's losses)
  mlp                              NeRF's 8x256 MLP (63-d position encoding, skip at layer 4, view branch), 65536 rows,
                                   forward + backward to the weights (a NeRF training step)

The towers follow OpenAI's CLIP model.py (pre-LN residual blocks, nn.MultiheadAttention, QuickGELU), batch first so
that inference can take PyTorch's fused attention path.
"""
import argparse
import math
import time
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, width, heads, attn_mask=None):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict([("c_fc", nn.Linear(width, 4 * width)), ("gelu", QuickGELU()),
                                              ("c_proj", nn.Linear(4 * width, width))]))
        self.ln_2 = nn.LayerNorm(width)
        self.attn_mask = attn_mask

    def forward(self, x):
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False, attn_mask=self.attn_mask)[0]
        return x + self.mlp(self.ln_2(x))


class VisionTower(nn.Module):  # ViT-B/32: 224 px, 32-px patches, width 768, 12 layers, 12 heads, output 512
    def __init__(self, size=224, patch=32, width=768, layers=12, heads=12, out=512):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, patch, stride=patch, bias=False)
        scale = width ** -0.5
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn((size // patch) ** 2 + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.blocks = nn.Sequential(*[ResidualAttentionBlock(width, heads) for _ in range(layers)])
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, out))

    def forward(self, x):
        x = self.conv1(x).flatten(2).transpose(1, 2)  # [B,grid^2,width]
        cls = self.class_embedding.expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding
        x = self.blocks(self.ln_pre(x))
        return F.normalize(self.ln_post(x[:, 0]) @ self.proj, dim=-1)


class TextTower(nn.Module):  # context 77, vocabulary 49408, width 512, 12 layers, 8 heads, output 512
    def __init__(self, vocab=49408, context=77, width=512, layers=12, heads=8, out=512):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, width)
        self.positional_embedding = nn.Parameter(0.01 * torch.randn(context, width))
        mask = torch.full((context, context), float("-inf")).triu(1)
        self.blocks = nn.Sequential(*[ResidualAttentionBlock(width, heads, mask) for _ in range(layers)])
        self.ln_final = nn.LayerNorm(width)
        self.text_projection = nn.Parameter(width ** -0.5 * torch.randn(width, out))

    def forward(self, ids):
        x = self.blocks(self.token_embedding(ids) + self.positional_embedding)
        x = self.ln_final(x)
        x = x[torch.arange(x.shape[0]), ids.argmax(dim=-1)] @ self.text_projection  # the end token has the top id
        return F.normalize(x, dim=-1)


def positional_encoding(x, k):  # NeRF's embedder with sin(2^j pi x): [x, sin, cos per frequency] -> 3 + 6k
    freqs = (2.0 ** torch.arange(k, dtype=x.dtype)) * math.pi
    scaled = x.unsqueeze(1) * freqs.view(1, k, 1)
    return torch.cat([x, torch.stack([scaled.sin(), scaled.cos()], 2).reshape(x.shape[0], -1)], 1)


class NerfMlp(nn.Module):  # Mildenhall et al. 2020, Fig. 7
    def __init__(self, depth=8, width=256, skip=4, pos_freqs=10, dir_freqs=4):
        super().__init__()
        self.skip, self.pos_freqs, self.dir_freqs = skip, pos_freqs, dir_freqs
        pos_dim, dir_dim = 3 + 6 * pos_freqs, 3 + 6 * dir_freqs
        self.pts_linears = nn.ModuleList(
            [nn.Linear(pos_dim if i == 0 else (width + pos_dim if i == skip + 1 else width), width) for i in range(depth)])
        self.alpha_linear = nn.Linear(width, 1)
        self.feature_linear = nn.Linear(width, width)
        self.views_linear = nn.Linear(width + dir_dim, width // 2)
        self.rgb_linear = nn.Linear(width // 2, 3)

    def forward(self, positions, directions):
        encoded = positional_encoding(positions, self.pos_freqs)
        h = encoded
        for i, layer in enumerate(self.pts_linears):
            h = F.relu(layer(h))
            if i == self.skip:
                h = torch.cat([encoded, h], 1)
        inside = ((positions >= -1.5) & (positions <= 1.5)).all(1)
        density = F.relu(self.alpha_linear(h).squeeze(1)) * inside
        view = F.relu(self.views_linear(torch.cat([self.feature_linear(h), positional_encoding(directions, self.dir_freqs)], 1)))
        return density, torch.sigmoid(self.rgb_linear(view))


def text_ids(batch, context=77):  # start, random word ids, end, zero padding; lengths 6..30 (bench/clip_latency's texts)
    ids = torch.zeros(batch, context, dtype=torch.long)
    for b in range(batch):
        length = 6 + (b * 7) % 25
        ids[b, 0] = 49406
        ids[b, 1:length - 1] = torch.randint(1, 49406, (length - 2,))
        ids[b, length - 1] = 49407
    return ids


def frozen(module):
    for p in module.parameters():
        p.requires_grad_(False)
    return module.eval()


def best_ms(reps, fn):
    fn()  # warm-up
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(1000.0 * (time.perf_counter() - t))
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--workloads", default="clip_image_b1,clip_image_b32,clip_text_b32,clip_image_bwd,vgg,mlp")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"# peer: torch {torch.__version__}, {torch.get_num_threads()} intra-op threads, "
          f"mkldnn {torch.backends.mkldnn.is_available()}", flush=True)

    vision = text = vgg = None
    for name in args.workloads.split(","):
        if name.startswith("clip_image") and vision is None:
            vision = frozen(VisionTower())
        if name.startswith("clip_text_b") and text is None:
            text = frozen(TextTower())
        if name.startswith("clip_image_b") and name != "clip_image_bwd":  # clip_image_b1, clip_image_b32 (any batch, for the policy's table)
            batch = int(name[len("clip_image_b"):])
            x = torch.randn(batch, 3, 224, 224)
            with torch.inference_mode():
                ms = best_ms(3 * args.reps if batch == 1 else args.reps, lambda: vision(x))
        elif name.startswith("clip_text_b"):
            ids = text_ids(int(name[len("clip_text_b"):]))
            with torch.inference_mode():
                ms = best_ms(args.reps, lambda: text(ids))
        elif name == "clip_image_bwd":
            x = torch.randn(8, 3, 224, 224, requires_grad=True)
            target = F.normalize(torch.randn(8, 512), dim=-1)

            def step():
                x.grad = None
                (1.0 - (vision(x) * target).sum(-1)).sum().backward()
            ms = best_ms(args.reps, step)
        elif name == "vgg":
            import torchvision
            if vgg is None:
                vgg = frozen(torchvision.models.vgg19().features[:21])  # conv1_1 ... relu4_1
            x = torch.randn(4, 3, 256, 256, requires_grad=True)
            taps = (1, 6, 11, 20)  # relu1_1, relu2_1, relu3_1, relu4_1

            def step():
                x.grad = None
                h, loss = x, 0.0
                for i, layer in enumerate(vgg):
                    h = layer(h)
                    if i in taps:
                        loss = loss + h.mean()
                loss.backward()
            ms = best_ms(args.reps, step)
        elif name == "mlp":
            mlp = NerfMlp().train()
            positions = torch.rand(65536, 3) * 2.0 - 1.0
            directions = F.normalize(torch.randn(65536, 3), dim=-1)

            def step():
                mlp.zero_grad(set_to_none=True)
                density, rgb = mlp(positions, directions)
                (density.mean() + rgb.mean()).backward()
            ms = best_ms(args.reps, step)
        else:
            raise SystemExit(f"unknown workload {name}")
        print(f"{name} {ms:.1f}", flush=True)


if __name__ == "__main__":
    main()
