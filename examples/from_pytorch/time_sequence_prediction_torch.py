"""pytorch/examples time_sequence_prediction/train.py, shortened: two LSTMCells learn sine waves
in float64 with LBFGS (whose step takes a closure), then predict the future.

The data is the original's generate_sine_wave.py, smaller (8 waves of 30 points, not 100 of
1000), generated in memory.

    python examples/from_pytorch/time_sequence_prediction_torch.py
"""

import numpy as np
import torch
from torch import nn


def sine_waves(n=8, length=30, period=20, seed=2):
    """generate_sine_wave.py: ``n`` shifted sine waves, float64, shape (n, length)."""
    rng = np.random.RandomState(seed)
    x = np.array(range(length)) + rng.randint(-4 * period, 4 * period, n).reshape(n, 1)
    return torch.from_numpy(np.sin(x / 1.0 / period).astype("float64"))


class Sequence(nn.Module):
    def __init__(self, hidden=51):
        super().__init__()
        self.hidden = hidden
        self.lstm1 = nn.LSTMCell(1, hidden)
        self.lstm2 = nn.LSTMCell(hidden, hidden)
        self.linear = nn.Linear(hidden, 1)

    def forward(self, input, future=0):
        outputs = []
        h_t = torch.zeros(input.size(0), self.hidden, dtype=torch.double)
        c_t = torch.zeros(input.size(0), self.hidden, dtype=torch.double)
        h_t2 = torch.zeros(input.size(0), self.hidden, dtype=torch.double)
        c_t2 = torch.zeros(input.size(0), self.hidden, dtype=torch.double)
        for input_t in input.split(1, dim=1):
            h_t, c_t = self.lstm1(input_t, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        for _ in range(future):  # if we should predict the future
            h_t, c_t = self.lstm1(output, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        return torch.cat(outputs, dim=1)


def main(steps=2, future=20, seed=0):
    """Returns (final state_dict, training loss at each step's first evaluation, test loss,
    the predicted future)."""
    np.random.seed(seed)
    torch.manual_seed(seed)
    data = sine_waves()
    input, target = data[3:, :-1], data[3:, 1:]
    test_input, test_target = data[:3, :-1], data[:3, 1:]
    seq = Sequence().double()
    criterion = nn.MSELoss()
    # use LBFGS as optimizer since we can load the whole data to train
    optimizer = torch.optim.LBFGS(seq.parameters(), lr=0.8)
    losses = []
    for i in range(steps):
        evaluations = []

        def closure():
            optimizer.zero_grad()
            out = seq(input)
            loss = criterion(out, target)
            evaluations.append(loss.item())
            loss.backward()
            return loss

        optimizer.step(closure)
        losses.append(evaluations[0])
        with torch.no_grad():  # begin to predict, no need to track gradient here
            pred = seq(test_input, future=future)
            test_loss = criterion(pred[:, :-future], test_target).item()
        print(f"STEP {i}: loss {losses[-1]:.6f}, test loss {test_loss:.6f}")
    return seq.state_dict(), losses, test_loss, pred[:, -future:]


if __name__ == "__main__":
    main()
