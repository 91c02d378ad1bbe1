import torch

# Tiny test models are dominated by per-op overhead: one thread is faster than two and keeps timings stable on a
# shared 2-core CI machine.
torch.set_num_threads(1)
