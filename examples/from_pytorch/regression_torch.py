"""pytorch/examples regression/main.py, shortened: fit a degree-4 polynomial with a Linear layer,
plain SGD written by hand, until the smooth L1 loss of a batch is under 1e-3.

    python examples/from_pytorch/regression_torch.py
"""

import torch
import torch.nn.functional as F

POLY_DEGREE = 4


def make_features(x):
    """Builds features i.e. a matrix with columns [x, x^2, x^3, x^4]."""
    x = x.unsqueeze(1)
    return torch.cat([x ** i for i in range(1, POLY_DEGREE + 1)], 1)


def make_target(seed):
    torch.manual_seed(seed)
    return torch.randn(POLY_DEGREE, 1) * 5, torch.randn(1) * 5


def get_batch(w_target, b_target, batch_size=32):
    """Builds a batch i.e. (x, f(x)) pair, from torch's global generator."""
    x = make_features(torch.randn(batch_size))
    return x, x.mm(w_target) + b_target.item()


def main(seed=1, max_batches=2000):
    """Returns (weight, bias, per-batch losses)."""
    w_target, b_target = make_target(seed)
    fc = torch.nn.Linear(POLY_DEGREE, 1)
    losses = []
    for _ in range(max_batches):
        batch_x, batch_y = get_batch(w_target, b_target)
        fc.zero_grad()
        output = F.smooth_l1_loss(fc(batch_x), batch_y)
        losses.append(output.item())
        output.backward()
        with torch.no_grad():
            for param in fc.parameters():
                # The original's param.add_(-0.1 * param.grad), written as torch.optim.SGD does
                # it (one fused multiply-add, without rounding -0.1 * grad first).
                param.add_(param.grad, alpha=-0.1)
        if losses[-1] < 1e-3:
            break
    print(f"Loss: {losses[-1]:.6f} after {len(losses)} batches")
    return fc.weight.detach().clone(), fc.bias.detach().clone(), losses


if __name__ == "__main__":
    main()
