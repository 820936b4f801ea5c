"""pytorch/examples siamese_network/main.py, shortened: are two MNIST digits the same class?

The original's ResNet-18 feature extractor is replaced by a two-layer CNN so that a few epochs
run in seconds; the pair sampling (even index: same class, odd: different), the concatenated
features, the sigmoid, BCELoss, Adadelta and StepLR are the original's. Two epochs on 192 images
teach it little (the loss stays near log 2): the point is that the port gives the same numbers.

    python examples/from_pytorch/siamese_network_torch.py
"""

import random

import numpy as np
import torch
from torch import nn
from torch.optim.lr_scheduler import StepLR

from ported_data import mnist_tensors


class SiameseNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(  # stands for resnet18 without its last layer
            nn.Conv2d(1, 8, 5, 2), nn.ReLU(), nn.Conv2d(8, 16, 5, 2), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1))
        self.fc = nn.Sequential(nn.Linear(16 * 2, 32), nn.ReLU(inplace=True), nn.Linear(32, 1))
        self.sigmoid = nn.Sigmoid()
        self.fc.apply(self.init_weights)

    def init_weights(self, m):
        if isinstance(m, nn.Linear):
            torch.nn.init.xavier_uniform_(m.weight)
            m.bias.data.fill_(0.01)

    def forward_once(self, x):
        output = self.features(x)
        return output.view(output.size()[0], -1)

    def forward(self, input1, input2):
        output = torch.cat((self.forward_once(input1), self.forward_once(input2)), 1)
        return self.sigmoid(self.fc(output))


class APP_MATCHER(torch.utils.data.Dataset):
    """Pairs of images with target 1 (same class) or 0, drawn with Python's ``random``."""

    def __init__(self, images, labels):
        self.data = images
        labels = labels.numpy()
        self.grouped_examples = {i: np.where(labels == i)[0] for i in range(10)}

    def __len__(self):
        return self.data.shape[0]

    def __getitem__(self, index):
        selected_class = random.randint(0, 9)
        group = self.grouped_examples[selected_class]
        random_index_1 = random.randint(0, group.shape[0] - 1)
        image_1 = self.data[group[random_index_1]].clone().float()
        if index % 2 == 0:  # same class, another image
            random_index_2 = random.randint(0, group.shape[0] - 1)
            while random_index_2 == random_index_1:
                random_index_2 = random.randint(0, group.shape[0] - 1)
            image_2 = self.data[group[random_index_2]].clone().float()
            target = torch.tensor(1, dtype=torch.float)
        else:  # a different class
            other_selected_class = random.randint(0, 9)
            while other_selected_class == selected_class:
                other_selected_class = random.randint(0, 9)
            other = self.grouped_examples[other_selected_class]
            image_2 = self.data[other[random.randint(0, other.shape[0] - 1)]].clone().float()
            target = torch.tensor(0, dtype=torch.float)
        return image_1, image_2, target


def datasets(n=256):
    x, y = mnist_tensors(n, normalize=False)
    return APP_MATCHER(x[:192], y[:192]), APP_MATCHER(x[192:], y[192:])


def main(epochs=2, batch_size=64, seed=1):
    """Returns (final state_dict, per-epoch mean train loss, test loss)."""
    torch.manual_seed(seed)
    random.seed(seed)
    train_dataset, test_dataset = datasets()
    train_loader = torch.utils.data.DataLoader(train_dataset, batch_size=batch_size)
    test_loader = torch.utils.data.DataLoader(test_dataset, batch_size=1000)
    model = SiameseNetwork()
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = StepLR(optimizer, step_size=1, gamma=0.7)
    criterion = nn.BCELoss()
    losses = []
    for epoch in range(1, epochs + 1):
        model.train()
        total, seen = 0.0, 0
        for images_1, images_2, targets in train_loader:
            optimizer.zero_grad()
            outputs = model(images_1, images_2).squeeze()
            loss = criterion(outputs, targets)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(images_1)
            seen += len(images_1)
        losses.append(total / seen)
        scheduler.step()
    model.eval()
    with torch.no_grad():
        test_loss = sum(criterion(model(a, b).squeeze(), t).item() * len(t)
                        for a, b, t in test_loader) / len(test_dataset)
    print(f"train losses {losses}, test loss {test_loss:.4f}")
    return model.state_dict(), losses, test_loss


if __name__ == "__main__":
    main()
