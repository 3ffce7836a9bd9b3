#!/usr/bin/env python3
"""PyTorch reference for the training-step benchmark (bench/train-parallel.bench.ts).

One DF-GAN step as the official release does it (docs: /work/shared/reference/dfgan.md): NetG / NetD / NetC,
D update with hinge losses on real, fake and mismatched pairs plus MA-GP (k 2, p 6) through a gradient of a
gradient, then the G update; Adam betas (0, 0.9), lr G 1e-4, D+C 4e-4. DiffAugment (translation 1/8, cutout 1/2)
on real and fake images before D, as the TypeScript trainer does. Unlike tfjs, PyTorch keeps the graph of the
fake batch, so the G step reuses D's-step generator forward instead of running it again.

Prints one JSON object per line: {"nf", "threads", "step_s", "cpu_s"}: medians over --reps steps after one warm-up
of the wall time and of this process's CPU time (all threads) per step.
Usage: python3 bench/torch_step.py [--size 64] [--batch 16] [--nfs 8,16,32] [--reps 3] [--threads 1,2]
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

Z_DIM = 100
COND_DIM = 256


def schedule(size, nf):
    n = int(math.log2(size)) - 1
    return [nf * min(2 ** i, 8) for i in range(n)]


class Affine(nn.Module):
    def __init__(self, cond, c):
        super().__init__()
        self.fc_gamma = nn.Sequential(nn.Linear(cond, c), nn.ReLU(inplace=True), nn.Linear(c, c))
        self.fc_beta = nn.Sequential(nn.Linear(cond, c), nn.ReLU(inplace=True), nn.Linear(c, c))
        nn.init.zeros_(self.fc_gamma[2].weight)
        nn.init.ones_(self.fc_gamma[2].bias)
        nn.init.zeros_(self.fc_beta[2].weight)
        nn.init.zeros_(self.fc_beta[2].bias)

    def forward(self, x, y):
        w = self.fc_gamma(y)[:, :, None, None]
        b = self.fc_beta(y)[:, :, None, None]
        return w * x + b


class DFBlock(nn.Module):
    def __init__(self, cond, c):
        super().__init__()
        self.affine0 = Affine(cond, c)
        self.affine1 = Affine(cond, c)

    def forward(self, x, y):
        h = F.leaky_relu(self.affine0(x, y), 0.2)
        return F.leaky_relu(self.affine1(h, y), 0.2)


class GBlock(nn.Module):
    def __init__(self, cond, cin, cout):
        super().__init__()
        self.learnable_sc = cin != cout
        self.c1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.fuse1 = DFBlock(cond, cin)
        self.fuse2 = DFBlock(cond, cout)
        if self.learnable_sc:
            self.c_sc = nn.Conv2d(cin, cout, 1, 1, 0)

    def forward(self, x, y):
        x = F.interpolate(x, scale_factor=2)
        h = self.c2(self.fuse2(self.c1(self.fuse1(x, y)), y))
        return (self.c_sc(x) if self.learnable_sc else x) + h


class NetG(nn.Module):
    def __init__(self, size, nf):
        super().__init__()
        self.nf = nf
        self.fc = nn.Linear(Z_DIM, nf * 8 * 4 * 4)
        ch = list(reversed(schedule(size, nf)))
        self.GBlocks = nn.ModuleList(GBlock(Z_DIM + COND_DIM, a, b) for a, b in zip(ch[:-1], ch[1:]))
        self.to_rgb = nn.Sequential(nn.LeakyReLU(0.2, inplace=True), nn.Conv2d(ch[-1], 3, 3, 1, 1), nn.Tanh())

    def forward(self, z, s):
        x = self.fc(z).view(z.size(0), 8 * self.nf, 4, 4)
        cond = torch.cat((z, s), dim=1)
        for b in self.GBlocks:
            x = b(x, cond)
        return self.to_rgb(x)


class DBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.learned_shortcut = cin != cout
        self.conv_r = nn.Sequential(
            nn.Conv2d(cin, cout, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.LeakyReLU(0.2, inplace=True))
        if self.learned_shortcut:
            self.conv_s = nn.Conv2d(cin, cout, 1, 1, 0)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        res = self.conv_r(x)
        s = self.conv_s(x) if self.learned_shortcut else x
        return F.avg_pool2d(s, 2) + self.gamma * res


class NetD(nn.Module):
    def __init__(self, size, nf):
        super().__init__()
        ch = schedule(size, nf)
        self.conv_img = nn.Conv2d(3, nf, 3, 1, 1)
        self.DBlocks = nn.ModuleList(DBlock(a, b) for a, b in zip(ch[:-1], ch[1:]))

    def forward(self, x):
        x = self.conv_img(x)
        for b in self.DBlocks:
            x = b(x)
        return x


class NetC(nn.Module):
    def __init__(self, nf):
        super().__init__()
        self.joint_conv = nn.Sequential(
            nn.Conv2d(nf * 8 + COND_DIM, nf * 2, 3, 1, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(nf * 2, 1, 4, 1, 0, bias=False))

    def forward(self, feats, s):
        s = s.view(-1, COND_DIM, 1, 1).repeat(1, 1, 4, 4)
        return self.joint_conv(torch.cat((feats, s), 1)).view(-1)


def draw(batch, size, gen):
    m = int(size * 0.125 + 0.5)
    shifts = torch.randint(-m, m + 1, (batch, 2), generator=gen)
    cut = int(size * 0.5 + 0.5)
    centres = torch.randint(0, size + (1 - cut % 2), (batch, 2), generator=gen)
    mask = torch.ones(batch, 1, size, size)
    for i in range(batch):
        y0, x0 = max(0, centres[i, 0] - cut // 2), max(0, centres[i, 1] - cut // 2)
        mask[i, :, y0:min(size, centres[i, 0] - cut // 2 + cut), x0:min(size, centres[i, 1] - cut // 2 + cut)] = 0
    return shifts, mask, m


def augment(x, d):
    shifts, mask, m = d
    size = x.size(2)
    p = F.pad(x, (m, m, m, m))
    rows = [p[i:i + 1, :, m - dy:m - dy + size, m - dx:m - dx + size] for i, (dy, dx) in enumerate(shifts.tolist())]
    return torch.cat(rows, 0) * mask


def step(g, d, c, opt_g, opt_d, images, sent, z, gen):
    b, size = images.size(0), images.size(2)
    d_real, d_fake = draw(b, size, gen), draw(b, size, gen)
    x = augment(images, d_real).requires_grad_()
    s = sent.clone().requires_grad_()
    feats = d(x)
    pred_real = c(feats, s)
    err_real = F.relu(1.0 - pred_real).mean()
    mis = torch.cat((feats[1:], feats[0:1]), 0)
    err_mis = F.relu(1.0 + c(mis, s)).mean()
    fake = augment(g(z, sent), d_fake)
    err_fake = F.relu(1.0 + c(d(fake.detach()), s)).mean()
    gx, gs = torch.autograd.grad(pred_real, (x, s), torch.ones_like(pred_real), retain_graph=True, create_graph=True)
    norm = torch.sqrt(torch.sum(torch.cat((gx.view(b, -1), gs.view(b, -1)), 1) ** 2, dim=1))
    err_gp = 2.0 * torch.mean(norm ** 6)
    err_d = err_real + (err_fake + err_mis) / 2.0 + err_gp
    opt_d.zero_grad()
    err_d.backward()
    opt_d.step()
    err_g = -c(d(fake), sent).mean()
    opt_g.zero_grad()
    err_g.backward()
    opt_g.step()
    return err_d.item(), err_g.item()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--size', type=int, default=64)
    ap.add_argument('--batch', type=int, default=16)
    ap.add_argument('--nfs', default='8,16,32')
    ap.add_argument('--reps', type=int, default=3)
    ap.add_argument('--threads', default='1')
    a = ap.parse_args()
    for nf in [int(v) for v in a.nfs.split(',')]:
        for threads in [int(v) for v in a.threads.split(',')]:
            torch.set_num_threads(threads)
            torch.manual_seed(0)
            g, d, c = NetG(a.size, nf), NetD(a.size, nf), NetC(nf)
            opt_g = torch.optim.Adam(g.parameters(), lr=1e-4, betas=(0.0, 0.9))
            opt_d = torch.optim.Adam(list(d.parameters()) + list(c.parameters()), lr=4e-4, betas=(0.0, 0.9))
            images = torch.rand(a.batch, 3, a.size, a.size) * 2 - 1
            sent = torch.randn(a.batch, COND_DIM)
            z = torch.randn(a.batch, Z_DIM)
            gen = torch.Generator().manual_seed(0)
            step(g, d, c, opt_g, opt_d, images, sent, z, gen)
            times, cpu = [], []
            for _ in range(a.reps):
                t0, c0 = time.perf_counter(), time.process_time()
                step(g, d, c, opt_g, opt_d, images, sent, z, gen)
                times.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
            print(json.dumps({'nf': nf, 'threads': threads, 'step_s': statistics.median(times), 'cpu_s': statistics.median(cpu)}), flush=True)


if __name__ == '__main__':
    main()
