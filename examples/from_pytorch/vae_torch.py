"""pytorch/examples vae/main.py, shortened: a variational autoencoder on MNIST; the loss is the
continuous-Bernoulli reconstruction term plus the KL divergence, summed over the batch.

    python examples/from_pytorch/vae_torch.py
"""

import torch
import torch.nn.functional as F
from torch import nn

from ported_data import loader, mnist_tensors


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return mu + eps * std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        # clamp to avoid numerical issues with the continuous Bernoulli log normalizing constant
        return torch.clamp(torch.sigmoid(self.fc4(h3)), min=1e-4, max=1.0 - 1e-4)

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 784))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def atanh(x):
    return 0.5 * (torch.log(1.0 + x) - torch.log(1.0 - x))


def cont_bern_log_norm(lam, l_lim=0.49, u_lim=0.51):
    """The log normalizing constant of a continuous Bernoulli, with a Taylor expansion near 0.5."""
    outside = torch.max(torch.le(lam, l_lim), torch.gt(lam, u_lim))
    cut_lam = torch.where(outside, lam, l_lim * torch.ones_like(lam))
    log_norm = (torch.log(torch.abs(2.0 * atanh(1 - 2.0 * cut_lam)))
                - torch.log(torch.abs(1 - 2.0 * cut_lam)))
    taylor = (torch.log(torch.tensor(2.0)) + 4.0 / 3.0 * torch.pow(lam - 0.5, 2)
              + 104.0 / 45.0 * torch.pow(lam - 0.5, 4))
    return torch.where(outside, log_norm, taylor)


def loss_function(recon_x, x, mu, logvar):
    """Reconstruction + KL divergence losses summed over all elements and batch."""
    BCE = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
    NLNC = -torch.sum(cont_bern_log_norm(recon_x))  # negative log normalizing constant
    KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return BCE + NLNC + KLD


def main(epochs=2, n=256, batch_size=64, seed=1):
    """Returns (final state_dict, per-epoch train loss, test loss), each loss the mean over
    batches of ``loss_function`` weighted by the batch size (what torchfit logs)."""
    torch.manual_seed(seed)
    x, y = mnist_tensors(n, normalize=False)  # transforms.ToTensor(): pixels in [0, 1]
    train_loader = loader(torch.utils.data.TensorDataset(x[:192], y[:192]), batch_size)
    model = VAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for epoch in range(1, epochs + 1):
        model.train()
        train_loss = 0.0
        for data, _ in train_loader:
            optimizer.zero_grad()
            recon_batch, mu, logvar = model(data)
            loss = loss_function(recon_batch, data, mu, logvar)
            loss.backward()
            train_loss += loss.item() * len(data)
            optimizer.step()
        losses.append(train_loss / 192)
        print(f"====> Epoch: {epoch} Average loss: {losses[-1]:.4f}")
    model.eval()
    with torch.no_grad():
        recon_batch, mu, logvar = model(x[192:])
        test_loss = loss_function(recon_batch, x[192:], mu, logvar).item()
    return model.state_dict(), losses, test_loss


if __name__ == "__main__":
    main()
