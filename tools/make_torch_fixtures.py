#!/usr/bin/env python3
"""Writes the PyTorch fixtures of test/fixtures/torch/ (committed; CI never runs this script).

The networks are DF-GAN's NetG / NetD / NetC and AttnGAN's DAMSM RNN_ENCODER as described in
shared/reference/dfgan.md (official release of 2022-09), with small dimensions so the files stay small:
nf 2, noise 12, sentence 20 (LSTM 10 units per direction), word embedding 24. Every weight is random (the
official identity start of the affine layers and the zero D gammas are perturbed, so that every weight shows in
the outputs); to_rgb is scaled so that tanh does not saturate.

Files (see index.json, written last, for shapes, inputs and expected outputs):
  netG_256_module.pth     zip layout, a 256x256 generator state_dict saved through DataParallel (`module.`)
  state_epoch_064.pth     zip layout, the release's training state {model: {netG, netD, netC}, optimizers, epoch}
                          at 64x64; fc.weight is saved as a non-contiguous (transposed) view, fc.bias as a view
                          with a storage offset, netD's conv_img.bias as float16
  text_encoder.pth        legacy single-stream layout (_use_new_zipfile_serialization=False), RNN_ENCODER
  text_encoder_py2.pth    the same weights in the layout of 2018-era files written by Python 2 and PyTorch 0.3:
                          str as Python 2 str, torch._utils._rebuild_tensor (v1), the LSTM weights as views into
                          one flat storage, one of them through legacy storage view metadata
  captions_DAMSM.pickle   [train_captions, test_captions, ixtoword, wordtoix], protocol 2, Python 2 str
  tensors.pth / tensors_legacy.pth   dtype and stride cases for the reader (float32/16/64, int64, 0-d, views)
  evil_zip.pth / evil_legacy.pth     a pickle that calls os.system (must be refused, never run)
  whole_module.pth        torch.save of an nn.Module (not a state_dict; must be refused with a hint)
  *.npy                   inputs and expected outputs (float32)

Run: /usr/bin/python3 tools/make_torch_fixtures.py [--out test/fixtures/torch]
"""
import argparse
import collections
import io
import json
import os
import pickle
import struct
import sys
import zipfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

NF = 2
Z_DIM = 12
HIDDEN = 10  # per direction; sentence = 2 * HIDDEN
COND_DIM = 2 * HIDDEN
EMB = 24


# ---------------------------------------------------------------------------------------------------------------
# DF-GAN (official model code, as specified in the reference)

def get_G_in_out_chs(nf, imsize):
    layer_num = int(np.log2(imsize)) - 1
    channel_nums = [nf * min(2 ** idx, 8) for idx in range(layer_num)]
    channel_nums = channel_nums[::-1]
    return list(zip(channel_nums[:-1], channel_nums[1:]))


def get_D_in_out_chs(nf, imsize):
    layer_num = int(np.log2(imsize)) - 1
    channel_nums = [nf * min(2 ** idx, 8) for idx in range(layer_num)]
    return list(zip(channel_nums[:-1], channel_nums[1:]))


class Affine(nn.Module):
    def __init__(self, cond_dim, num_features):
        super().__init__()
        self.fc_gamma = nn.Sequential(collections.OrderedDict([
            ('linear1', nn.Linear(cond_dim, num_features)),
            ('relu1', nn.ReLU(inplace=True)),
            ('linear2', nn.Linear(num_features, num_features)),
        ]))
        self.fc_beta = nn.Sequential(collections.OrderedDict([
            ('linear1', nn.Linear(cond_dim, num_features)),
            ('relu1', nn.ReLU(inplace=True)),
            ('linear2', nn.Linear(num_features, num_features)),
        ]))
        nn.init.zeros_(self.fc_gamma.linear2.weight.data)
        nn.init.ones_(self.fc_gamma.linear2.bias.data)
        nn.init.zeros_(self.fc_beta.linear2.weight.data)
        nn.init.zeros_(self.fc_beta.linear2.bias.data)

    def forward(self, x, y):
        weight = self.fc_gamma(y)
        bias = self.fc_beta(y)
        size = x.size()
        weight = weight.unsqueeze(-1).unsqueeze(-1).expand(size)
        bias = bias.unsqueeze(-1).unsqueeze(-1).expand(size)
        return weight * x + bias


class DFBLK(nn.Module):
    def __init__(self, cond_dim, in_ch):
        super().__init__()
        self.affine0 = Affine(cond_dim, in_ch)
        self.affine1 = Affine(cond_dim, in_ch)

    def forward(self, x, y):
        h = F.leaky_relu(self.affine0(x, y), 0.2)
        return F.leaky_relu(self.affine1(h, y), 0.2)


class G_Block(nn.Module):
    def __init__(self, cond_dim, in_ch, out_ch):
        super().__init__()
        self.learnable_sc = in_ch != out_ch
        self.c1 = nn.Conv2d(in_ch, out_ch, 3, 1, 1)
        self.c2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1)
        self.fuse1 = DFBLK(cond_dim, in_ch)
        self.fuse2 = DFBLK(cond_dim, out_ch)
        if self.learnable_sc:
            self.c_sc = nn.Conv2d(in_ch, out_ch, 1, stride=1, padding=0)

    def forward(self, x, y):
        x = F.interpolate(x, scale_factor=2)
        sc = self.c_sc(x) if self.learnable_sc else x
        h = self.c2(self.fuse2(self.c1(self.fuse1(x, y)), y))
        return sc + h


class NetG(nn.Module):
    def __init__(self, ngf, nz, cond_dim, imsize, ch_size=3):
        super().__init__()
        self.ngf = ngf
        self.fc = nn.Linear(nz, ngf * 8 * 4 * 4)
        self.GBlocks = nn.ModuleList([])
        for in_ch, out_ch in get_G_in_out_chs(ngf, imsize):
            self.GBlocks.append(G_Block(cond_dim + nz, in_ch, out_ch))
        self.to_rgb = nn.Sequential(nn.LeakyReLU(0.2, inplace=True), nn.Conv2d(out_ch, ch_size, 3, 1, 1), nn.Tanh())

    def pre_tanh(self, noise, c):
        out = self.fc(noise).view(noise.size(0), 8 * self.ngf, 4, 4)
        cond = torch.cat((noise, c), dim=1)
        for block in self.GBlocks:
            out = block(out, cond)
        return self.to_rgb[1](self.to_rgb[0](out))

    def forward(self, noise, c):
        return torch.tanh(self.pre_tanh(noise, c))


class D_Block(nn.Module):
    def __init__(self, fin, fout):
        super().__init__()
        self.learned_shortcut = fin != fout
        self.conv_r = nn.Sequential(
            nn.Conv2d(fin, fout, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(fout, fout, 3, 1, 1, bias=False), nn.LeakyReLU(0.2, inplace=True))
        # Built even when fin == fout and then never used (as in the release).
        self.conv_s = nn.Conv2d(fin, fout, 1, stride=1, padding=0)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        res = self.conv_r(x)
        if self.learned_shortcut:
            x = self.conv_s(x)
        return F.avg_pool2d(x, 2) + self.gamma * res


class NetD(nn.Module):
    def __init__(self, ndf, imsize):
        super().__init__()
        self.conv_img = nn.Conv2d(3, ndf, 3, 1, 1)
        self.DBlocks = nn.ModuleList([D_Block(i, o) for i, o in get_D_in_out_chs(ndf, imsize)])

    def forward(self, x):
        out = self.conv_img(x)
        for block in self.DBlocks:
            out = block(out)
        return out


class NetC(nn.Module):
    def __init__(self, ndf, cond_dim):
        super().__init__()
        self.cond_dim = cond_dim
        self.joint_conv = nn.Sequential(
            nn.Conv2d(ndf * 8 + cond_dim, ndf * 2, 3, 1, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, 1, 4, 1, 0, bias=False))

    def forward(self, out, y):
        y = y.view(-1, self.cond_dim, 1, 1).repeat(1, 1, 4, 4)
        return self.joint_conv(torch.cat((out, y), 1))


# AttnGAN's DAMSM text encoder (inference: dropout off).
class RNN_ENCODER(nn.Module):
    def __init__(self, ntoken, ninput, nhidden):
        super().__init__()
        self.nhidden = nhidden // 2
        self.encoder = nn.Embedding(ntoken, ninput)
        self.rnn = nn.LSTM(ninput, self.nhidden, 1, batch_first=True, bidirectional=True)
        self.encoder.weight.data.uniform_(-0.1, 0.1)

    def forward(self, captions, cap_lens):
        b = captions.size(0)
        hidden = (torch.zeros(2, b, self.nhidden), torch.zeros(2, b, self.nhidden))
        emb = self.encoder(captions)
        packed = pack_padded_sequence(emb, cap_lens.tolist(), batch_first=True)
        output, hidden = self.rnn(packed, hidden)
        output = pad_packed_sequence(output, batch_first=True)[0]
        words_emb = output.transpose(1, 2)
        sent_emb = hidden[0].transpose(0, 1).contiguous().view(-1, self.nhidden * 2)
        return words_emb, sent_emb


# ---------------------------------------------------------------------------------------------------------------

def perturb(module, gen, scale=0.1):
    """Moves the parameters that start as constants (affine identity, D gamma) off their initial values."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if 'linear2' in name or name.endswith('gamma'):
                p.add_(torch.randn(p.shape, generator=gen) * scale)


def calibrate_to_rgb(g, z, s):
    """Centres and scales to_rgb so the pre-tanh output has mean 0 and std 0.6 per channel: the images use
    tanh's whole curve without saturating."""
    with torch.no_grad():
        y = g.pre_tanh(z, s)
        g.to_rgb[1].bias.sub_(y.mean(dim=(0, 2, 3)))
        scale = 0.6 / y.std(dim=(0, 2, 3))
        g.to_rgb[1].weight.mul_(scale.view(-1, 1, 1, 1))
        g.to_rgb[1].bias.mul_(scale)


def npy(out, name, arr):
    np.save(os.path.join(out, name), np.ascontiguousarray(arr, dtype=np.float32))
    return name


def prefixed(sd, prefix):
    return collections.OrderedDict((prefix + k, v) for k, v in sd.items())


class Py2Pickler(pickle._Pickler):
    """Protocol-2 pickler that writes str as Python 2 str (SHORT_BINSTRING / BINSTRING), like Python 2.7."""
    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2str(self, obj):
        b = obj.encode('latin-1')
        if len(b) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(b)]) + b)
        else:
            self.write(pickle.BINSTRING + struct.pack('<i', len(b)) + b)
        self.memoize(obj)

    dispatch[str] = save_py2str


def dump_py2(obj, f, persistent_id=None, reducer_override=None):
    p = Py2Pickler(f, protocol=2)
    if persistent_id is not None:
        p.persistent_id = persistent_id
    if reducer_override is not None:
        p.reducer_override = reducer_override
    p.dump(obj)


MAGIC_NUMBER = 0x1950a86a20f9469cfc6c
PROTOCOL_VERSION = 1001


class FlatStorage:
    """A stand-in for a PyTorch 0.3 storage: a key, float32 data, and optionally a view into a root storage."""

    def __init__(self, key, data, root=None, offset=0):
        self.key, self.data, self.root, self.offset = key, data, root, offset


class OldTensor:
    """A stand-in for a PyTorch 0.3 tensor: pickled as torch._utils._rebuild_tensor(storage, offset, size, stride)."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride


def save_py2_legacy(path, state):
    """The single-stream layout as PyTorch 0.3 under Python 2 wrote it (str keys as Python 2 str, v1 rebuild,
    persistent ids with view metadata), built by hand since no such PyTorch is at hand."""
    roots = {}

    def persistent_id(obj):
        if isinstance(obj, FlatStorage):
            root = obj.root or obj
            roots[root.key] = root
            view = None if obj.root is None else (obj.key, obj.offset, len(obj.data))
            return ('storage', torch.FloatStorage, root.key, 'cuda:0', len(root.data), view)
        return None

    def reducer_override(obj):
        if isinstance(obj, OldTensor):
            return (torch._utils._rebuild_tensor, (obj.storage, obj.offset, tuple(obj.size), tuple(obj.stride)))
        if type(obj) is collections.OrderedDict:  # Python 2.7's OrderedDict.__reduce__: (cls, ([[k, v], ...],))
            return (collections.OrderedDict, ([[k, v] for k, v in obj.items()],))
        return NotImplemented

    f = io.BytesIO()
    for head in (MAGIC_NUMBER, PROTOCOL_VERSION,
                 {'protocol_version': PROTOCOL_VERSION, 'little_endian': True,
                  'type_sizes': {'short': 2, 'int': 4, 'long': 8}}):
        dump_py2(head, f)
    dump_py2(state, f, persistent_id, reducer_override)
    keys = sorted(roots)
    dump_py2(keys, f)
    for k in keys:
        data = np.ascontiguousarray(roots[k].data, dtype='<f4')
        f.write(struct.pack('<q', data.size))
        f.write(data.tobytes())
    with open(path, 'wb') as fh:
        fh.write(f.getvalue())


class Evil:
    def __reduce__(self):
        return (os.system, ('touch /tmp/dfgan-torch-fixture-pwned',))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', default=os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'torch'))
    out = os.path.abspath(ap.parse_args().out)
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(20220901)
    gen = torch.Generator().manual_seed(7)
    index = {'torch': torch.__version__, 'nf': NF, 'zDim': Z_DIM, 'condDim': COND_DIM, 'embeddingDim': EMB,
             'hiddenPerDirection': HIDDEN}

    # --- vocabulary and captions (DAMSM's captions_DAMSM.pickle) ---
    words = ['this', 'bird', 'has', 'a', 'red', 'crown', 'and', 'blue', 'wings', 'small', 'yellow', 'belly',
             'with', 'black', 'white', 'beak', 'long', 'tail', 'is', 'brown', 'green', 'short']
    ixtoword = {0: '<end>'}
    wordtoix = {'<end>': 0}
    for i, w in enumerate(words, start=1):
        ixtoword[i] = w
        wordtoix[w] = i
    enc_cap = lambda s: [wordtoix[w] for w in s.split()]
    train_caps = [enc_cap('this bird has a red crown and blue wings'), enc_cap('a small yellow bird with a black beak')]
    test_caps = [enc_cap('this bird is brown with a long tail')]
    with open(os.path.join(out, 'captions_DAMSM.pickle'), 'wb') as f:
        dump_py2([train_caps, test_caps, ixtoword, wordtoix], f)
    ntoken = len(ixtoword)

    # --- text encoder ---
    text = RNN_ENCODER(ntoken, EMB, 2 * HIDDEN).eval()
    with torch.no_grad():
        for p in text.rnn.parameters():  # wider than PyTorch's default so the LSTM is far from linear
            p.uniform_(-0.5, 0.5, generator=gen)
    torch.save(text.state_dict(), os.path.join(out, 'text_encoder.pth'), _use_new_zipfile_serialization=False)

    # The same weights as a Python 2 / PyTorch 0.3 file: cuDNN-style flat weights, views with offsets.
    sd = text.state_dict()
    lstm_names = ['rnn.weight_ih_l0', 'rnn.weight_hh_l0', 'rnn.bias_ih_l0', 'rnn.bias_hh_l0',
                  'rnn.weight_ih_l0_reverse', 'rnn.weight_hh_l0_reverse', 'rnn.bias_ih_l0_reverse',
                  'rnn.bias_hh_l0_reverse']
    flat = np.concatenate([sd[n].numpy().ravel() for n in lstm_names])
    root = FlatStorage('140230', flat)
    old = collections.OrderedDict()
    emb_w = sd['encoder.weight'].numpy()
    old['encoder.weight'] = OldTensor(FlatStorage('140100', emb_w.ravel()), 0, emb_w.shape, (emb_w.shape[1], 1))
    pos = 0
    for i, n in enumerate(lstm_names):
        t = sd[n].numpy()
        shape, stride = t.shape, ((t.shape[1], 1) if t.ndim == 2 else (1,))
        if i == 5:  # this one through a storage view (legacy view metadata), offset 0 inside the view
            view = FlatStorage('140555', flat[pos:pos + t.size], root=root, offset=pos)
            old[n] = OldTensor(view, 0, shape, stride)
        else:
            old[n] = OldTensor(root, pos, shape, stride)
        pos += t.size
    save_py2_legacy(os.path.join(out, 'text_encoder_py2.pth'), old)

    ids = [[1, 2, 3, 4, 5, 6, 7, 8, 9], [4, 10, 11, 2, 13, 4], [2, 19]]  # lengths sorted (pack_padded_sequence)
    lens = [len(r) for r in ids]
    padded = torch.zeros(len(ids), max(lens), dtype=torch.long)
    for b, r in enumerate(ids):
        padded[b, :len(r)] = torch.tensor(r)
    with torch.no_grad():
        words_emb, sent_emb = text(padded, torch.tensor(lens))
    index['textEncoder'] = {
        'vocabSize': ntoken, 'ids': ids,
        'sentence': npy(out, 'text_sentence.npy', sent_emb.numpy()),
        'words': npy(out, 'text_words.npy', words_emb.numpy()),  # [B, 2H, T], zero where padded
    }

    # --- generators ---
    def make_g(size, seed_z, batch):
        g = NetG(NF, Z_DIM, COND_DIM, size).eval()
        perturb(g, gen)
        z = torch.randn(batch, Z_DIM, generator=gen)
        s = torch.randn(batch, COND_DIM, generator=gen)
        calibrate_to_rgb(g, z, s)
        return g, z, s

    # 64: the full training state, fc.weight non-contiguous, fc.bias with a storage offset, one float16 tensor.
    g64, z64, s64 = make_g(64, 1, 2)
    d64 = NetD(NF, 64).eval()
    c64 = NetC(NF, COND_DIM).eval()
    perturb(d64, gen, 0.5)
    with torch.no_grad():
        # float16 in the file: keep the exactly representable values in the network too.
        d64.conv_img.bias.copy_(d64.conv_img.bias.half().float())
        x64 = g64(z64, s64)
    # One Adam step on NetC, so the saved optimizer state holds tensors (a 0-d step counter in recent PyTorch).
    opt_c = torch.optim.Adam(c64.parameters(), lr=4e-4, betas=(0.0, 0.9))
    c64(d64(x64), s64).mean().backward()
    opt_c.step()
    c64.zero_grad()
    with torch.no_grad():
        features = d64(x64)
        logits = c64(features, s64).view(-1)
    # A caption through the text encoder, then the generator (the CLI's `generate --text ... --z`).
    caption = 'This bird has a RED crown, and blue wings!'
    cap_ids = enc_cap('this bird has a red crown and blue wings')
    with torch.no_grad():
        _, cap_sent = text(torch.tensor([cap_ids]), torch.tensor([len(cap_ids)]))
        x_cap = g64(z64[:1], cap_sent)
    gsd = g64.state_dict()
    gsd['fc.weight'] = gsd['fc.weight'].t().contiguous().t()  # same values, stride (1, out): not contiguous
    assert not gsd['fc.weight'].is_contiguous()
    bias = gsd['fc.bias']
    big = torch.cat([torch.full((5,), 99.0), bias, torch.full((3,), -99.0)])
    gsd['fc.bias'] = big[5:5 + bias.numel()]  # storage offset 5 inside a larger storage
    dsd = d64.state_dict()
    dsd['conv_img.bias'] = dsd['conv_img.bias'].half()
    state = {
        'model': {'netG': gsd, 'netD': dsd, 'netC': c64.state_dict()},
        'optimizers': {'optimizer_G': torch.optim.Adam(g64.parameters(), lr=1e-4, betas=(0.0, 0.9)).state_dict(),
                       'optimizer_D': opt_c.state_dict()},
        'epoch': 7,
    }
    torch.save(state, os.path.join(out, 'state_epoch_064.pth'))
    index['g64'] = {
        'file': 'state_epoch_064.pth', 'size': 64, 'epoch': 7,
        'z': npy(out, 'g64_z.npy', z64.numpy()), 'sentence': npy(out, 'g64_sentence.npy', s64.numpy()),
        'image': npy(out, 'g64_image.npy', x64.numpy()),  # NCHW, full
        'features': npy(out, 'g64_features.npy', features.numpy()),  # NetD(image), NCHW
        'logits': npy(out, 'g64_logits.npy', logits.numpy()),  # NetC(NetD(image), sentence)
        'caption': caption, 'captionIds': cap_ids,
        'captionImage': npy(out, 'g64_caption_image.npy', x_cap.numpy()),  # G(z[0], text(caption))
    }

    # 256: generator only, saved through DataParallel (`module.` prefix).
    g256, z256, s256 = make_g(256, 2, 1)
    with torch.no_grad():
        x256 = g256(z256, s256)
    torch.save(prefixed(g256.state_dict(), 'module.'), os.path.join(out, 'netG_256_module.pth'))
    sub = sorted(set(range(0, 256, 5)) | {1, 254, 255})
    idx = torch.tensor(sub)
    index['g256'] = {
        'file': 'netG_256_module.pth', 'size': 256,
        'z': npy(out, 'g256_z.npy', z256.numpy()), 'sentence': npy(out, 'g256_sentence.npy', s256.numpy()),
        # The full image is 768 KB: rows and columns `subsample` of it, and per-channel means of the whole.
        'subsample': sub,
        'imageSubsample': npy(out, 'g256_image_sub.npy', x256[:, :, idx][:, :, :, idx].numpy()),
        'channelMeans': [float(v) for v in x256.double().mean(dim=(0, 2, 3))],
    }

    # --- reader cases ---
    base = torch.arange(24, dtype=torch.float32).view(4, 6) / 8 - 1
    shared = torch.linspace(-2, 2, 10)
    tensors = collections.OrderedDict([
        ('f32', base),
        ('f16', base.half()),
        ('f64', base.double() / 3),
        ('i64', torch.tensor([0, -1, 2 ** 40, -(2 ** 40), 7], dtype=torch.int64)),
        ('transposed', base.t()),                # stride (1, 6)
        ('sliced', base[1:3, ::2]),              # offset 6, stride (6, 2)
        ('scalar', torch.tensor(3.25)),          # 0-d
        ('shared_a', shared[2:5]),               # two views of one storage
        ('shared_b', shared[4:]),
        ('empty', torch.zeros(0, 3)),
    ])
    torch.save(tensors, os.path.join(out, 'tensors.pth'))
    torch.save(tensors, os.path.join(out, 'tensors_legacy.pth'), _use_new_zipfile_serialization=False)
    index['tensors'] = {'files': ['tensors.pth', 'tensors_legacy.pth']}

    # --- hostile and wrong files ---
    with zipfile.ZipFile(os.path.join(out, 'evil_zip.pth'), 'w', zipfile.ZIP_STORED) as zf:
        zf.writestr('evil_zip/data.pkl', pickle.dumps(Evil(), protocol=2))
        zf.writestr('evil_zip/version', '3\n')
    with open(os.path.join(out, 'evil_legacy.pth'), 'wb') as f:
        for head in (MAGIC_NUMBER, PROTOCOL_VERSION,
                     {'protocol_version': PROTOCOL_VERSION, 'little_endian': True,
                      'type_sizes': {'short': 2, 'int': 4, 'long': 8}}):
            pickle.dump(head, f, protocol=2)
        pickle.dump(Evil(), f, protocol=2)
    torch.save(nn.Linear(2, 2), os.path.join(out, 'whole_module.pth'))
    index['evil'] = {'marker': '/tmp/dfgan-torch-fixture-pwned'}

    with open(os.path.join(out, 'index.json'), 'w') as f:
        json.dump(index, f)
        f.write('\n')
    total = sum(os.path.getsize(os.path.join(out, n)) for n in os.listdir(out))
    print(f'wrote {len(os.listdir(out))} files, {total} bytes, to {out}', file=sys.stderr)


if __name__ == '__main__':
    main()
