#!/usr/bin/python3
"""Side-by-side CPU baseline: the same Mamba2 LM in plain PyTorch (Debian's
python3-torch), with mamba-ssm's reference chunked scan (ssd_minimal_discrete,
written without einops) and its recurrent step. Random weights; measures
training tokens/s (forward + backward + CE, batch 1) and decode tokens/s.

  /usr/bin/python3 bench/torch_mamba2.py --tokens 2048            # config (a)
  /usr/bin/python3 bench/torch_mamba2.py --d-model 768 --n-layer 24 --d-state 128 --headdim 64 --steps 1
"""
import argparse, time, resource
import torch
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--d-model", type=int, default=256)
p.add_argument("--n-layer", type=int, default=4)
p.add_argument("--d-state", type=int, default=64)
p.add_argument("--headdim", type=int, default=32)
p.add_argument("--chunk", type=int, default=256)
p.add_argument("--vocab", type=int, default=272)
p.add_argument("--tokens", type=int, default=2048)
p.add_argument("--steps", type=int, default=3)
p.add_argument("--decode", type=int, default=200)
p.add_argument("--threads", type=int, default=2)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)

D, L, N, P, Q, V = a.d_model, a.n_layer, a.d_state, a.headdim, a.chunk, a.vocab
DI = 2 * D
H = DI // P
CD = DI + 2 * N
K = 4


def rms(x, w, eps=1e-5):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def segsum(x):
    T = x.size(-1)
    x = x.unsqueeze(-1).expand(*x.shape, T)
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool), diagonal=-1)
    x = x.masked_fill(~mask, 0)
    xs = torch.cumsum(x, dim=-2)
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool), diagonal=0)
    return xs.masked_fill(~mask, -torch.inf)


def ssd(X, A, B, C, bl):
    # X (b,l,h,p), A (b,l,h), B,C (b,l,h,n); l a multiple of bl
    b, l, h, pp = X.shape
    c = l // bl
    X = X.reshape(b, c, bl, h, pp)
    B = B.reshape(b, c, bl, h, -1)
    C = C.reshape(b, c, bl, h, -1)
    A = A.reshape(b, c, bl, h).permute(0, 3, 1, 2)  # b h c l
    Acs = torch.cumsum(A, dim=-1)
    Lm = torch.exp(segsum(A))
    # Contract in the order HF transformers' Mamba2 torch_forward does: a
    # single 4-operand einsum makes torch 1.13 build a (l, s, n) intermediate.
    G = torch.einsum("bclhn,bcshn->bclsh", C, B)
    M = G * Lm.permute(0, 2, 3, 4, 1)
    Yd = torch.einsum("bclsh,bcshp->bclhp", M, X)
    decay = torch.exp(Acs[:, :, :, -1:] - Acs)
    states = torch.einsum("bclhn,bhcl,bclhp->bchpn", B, decay, X)
    states = torch.cat([torch.zeros_like(states[:, :1]), states], dim=1)
    dchunk = torch.exp(segsum(F.pad(Acs[:, :, :, -1], (1, 0))))
    new = torch.einsum("bhzc,bchpn->bzhpn", dchunk, states)
    states = new[:, :-1]
    Yo = torch.einsum("bclhn,bchpn,bhcl->bclhp", C, states, torch.exp(Acs))
    return (Yd + Yo).reshape(b, l, h, pp)


class Layer(torch.nn.Module):
    def __init__(s):
        super().__init__()
        s.norm = torch.nn.Parameter(torch.ones(D))
        s.in_proj = torch.nn.Linear(D, 2 * DI + 2 * N + H, bias=False)
        s.conv = torch.nn.Conv1d(CD, CD, K, groups=CD, padding=K - 1)
        s.dt_bias = torch.nn.Parameter(torch.rand(H) * 0.1)
        s.A_log = torch.nn.Parameter(torch.log(torch.rand(H) * 15 + 1))
        s.D = torch.nn.Parameter(torch.ones(H))
        s.gnorm = torch.nn.Parameter(torch.ones(DI))
        s.out_proj = torch.nn.Linear(DI, D, bias=False)

    def forward(s, r):
        T = r.shape[1]
        zx = s.in_proj(rms(r, s.norm))
        z, xbc, dt = torch.split(zx, [DI, CD, H], dim=-1)
        xbc = F.silu(s.conv(xbc.transpose(1, 2))[..., :T].transpose(1, 2))
        x, B, C = torch.split(xbc, [DI, N, N], dim=-1)
        dt = F.softplus(dt + s.dt_bias)
        A = -torch.exp(s.A_log)
        pad = (-T) % Q
        xh = x.reshape(1, T, H, P)
        Xd = F.pad(xh * dt.unsqueeze(-1), (0, 0, 0, 0, 0, pad))
        Ad = F.pad(A * dt, (0, 0, 0, pad))
        Bh = F.pad(B.unsqueeze(2).expand(1, T, H, N), (0, 0, 0, 0, 0, pad))
        Ch = F.pad(C.unsqueeze(2).expand(1, T, H, N), (0, 0, 0, 0, 0, pad))
        y = ssd(Xd, Ad, Bh, Ch, Q)[:, :T] + xh * s.D.unsqueeze(-1)
        y = rms(y.reshape(1, T, DI) * F.silu(z), s.gnorm)
        return r + s.out_proj(y)

    def step(s, r, conv, st):
        zx = s.in_proj(rms(r, s.norm))
        z, xbc, dt = torch.split(zx, [DI, CD, H], dim=-1)
        conv.copy_(torch.roll(conv, -1, -1))
        conv[:, :, -1] = xbc
        xbc = F.silu((conv * s.conv.weight.squeeze(1)).sum(-1) + s.conv.bias)
        x, B, C = torch.split(xbc, [DI, N, N], dim=-1)
        dt = F.softplus(dt + s.dt_bias)
        dA = torch.exp(dt * -torch.exp(s.A_log))
        xh = x.reshape(-1, H, P)
        st.copy_(st * dA[..., None, None] + (dt[..., None] * xh)[..., None] * B[:, None, None, :])
        y = (st @ C[:, None, :, None]).squeeze(-1) + s.D[:, None] * xh
        y = rms(y.reshape(-1, DI) * F.silu(z), s.gnorm)
        return r + s.out_proj(y)


class LM(torch.nn.Module):
    def __init__(s):
        super().__init__()
        s.emb = torch.nn.Embedding(V, D)
        s.layers = torch.nn.ModuleList([Layer() for _ in range(L)])
        s.norm_f = torch.nn.Parameter(torch.ones(D))

    def forward(s, ids):
        r = s.emb(ids)
        for l in s.layers:
            r = l(r)
        return rms(r, s.norm_f) @ s.emb.weight.t()


m = LM()
ids = torch.randint(0, V, (1, a.tokens + 1))
nparams = sum(p.numel() for p in m.parameters())
times = []
for i in range(a.steps + 1):
    t0 = time.perf_counter()
    logits = m(ids[:, :-1])
    loss = F.cross_entropy(logits.reshape(-1, V), ids[0, 1:])
    m.zero_grad()
    loss.backward()
    times.append(time.perf_counter() - t0)
tr = a.tokens / min(times[1:])
print(f"torch {torch.__version__} threads {a.threads}  params {nparams}  T {a.tokens}: "
      f"training {tr:.1f} tokens/s (best of {a.steps} steps after a warm-up)")

with torch.no_grad():
    conv = [torch.zeros(1, CD, K) for _ in range(L)]
    st = [torch.zeros(1, H, P, N) for _ in range(L)]
    tok = torch.zeros(1, dtype=torch.long)
    t0 = time.perf_counter()
    for i in range(a.decode):
        r = m.emb(tok)
        for l, c, s_ in zip(m.layers, conv, st):
            r = l.step(r, c, s_)
        tok = (rms(r, m.norm_f) @ m.emb.weight.t()).argmax(-1)
    dec = a.decode / (time.perf_counter() - t0)
print(f"decode batch 1: {dec:.1f} tokens/s; peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10} MiB")
