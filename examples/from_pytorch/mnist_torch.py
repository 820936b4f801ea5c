"""pytorch/examples mnist/main.py, shortened: the hand-written loop (Adadelta, StepLR, NLL).

    python examples/from_pytorch/mnist_torch.py
"""

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.lr_scheduler import StepLR

from ported_data import loader, mnist_tensors


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = self.dropout2(x)
        return F.log_softmax(self.fc2(x), dim=1)


def main(epochs=2, n=256, batch_size=64, seed=1):
    """Returns (final state_dict, per-epoch mean train loss, test loss)."""
    torch.manual_seed(seed)
    x, y = mnist_tensors(n)
    train_loader = loader(torch.utils.data.TensorDataset(x[:192], y[:192]), batch_size)
    x_test, y_test = x[192:], y[192:]
    model = Net()
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = StepLR(optimizer, step_size=1, gamma=0.7)
    losses = []
    for epoch in range(1, epochs + 1):
        model.train()
        total, seen = 0.0, 0
        for data, target in train_loader:
            optimizer.zero_grad()
            output = model(data)
            loss = F.nll_loss(output, target)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(data)
            seen += len(data)
        losses.append(total / seen)
        model.eval()
        with torch.no_grad():
            test_loss = F.nll_loss(model(x_test), y_test).item()
        print(f"epoch {epoch}: loss {losses[-1]:.4f}, test loss {test_loss:.4f}")
        scheduler.step()
    return model.state_dict(), losses, test_loss


if __name__ == "__main__":
    main()
