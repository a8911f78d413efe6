"""Sanity check of the boundary-aware task: can stage two fit one fixed batch (a bug, or a hard task?).

    PYTHONPATH=python python scripts/dev/boundary_aware_overfit.py   (needs ../shared/data/train)
"""
import os

import torch
torch.set_num_threads(1)
from mfif.train import get_task, config
t = get_task('boundary-aware')
cfg = config('boundary-aware', 'x.pt', data=os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'shared', 'data', 'train'))
torch.manual_seed(0)
net = t.build(cfg)
batch = t.data(cfg).sample(4)
opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=1e-3)
for step in range(81):
    net.train()
    torch.manual_seed(1)  # the same blocks every step
    loss, st = t.loss(net, batch, torch.device('cpu'))
    opt.zero_grad(); loss.backward(); opt.step()
    if step % 20 == 0:
        print(step, round(float(loss.detach()), 4), {k: round(v, 4) for k, v in st.items()}, flush=True)
