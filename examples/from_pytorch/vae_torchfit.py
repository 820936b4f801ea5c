"""pytorch/examples vae/main.py ported to torchfit.

The VAE's loss needs ``mu`` and ``logvar`` besides the reconstruction, so it is not a loss of
``(y_true, y_pred)``: override ``compute_loss`` and compile with an optimizer only. ``forward``
returns a tuple, so ``y_pred`` is ``(recon_x, mu, logvar)``; the DataLoader's labels arrive as
``y`` and are ignored. The logged ``loss`` is what ``compute_loss`` returns, averaged over the
epoch's batches weighted by their size.

    python examples/from_pytorch/vae_torchfit.py
"""

import torch

import torchfit
from ported_data import loader, mnist_tensors
from vae_torch import VAE, loss_function


class VAEModel(torchfit.Model):
    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):
        recon_x, mu, logvar = y_pred
        return loss_function(recon_x, x, mu, logvar)


def main(epochs=2, n=256, batch_size=64, seed=1, verbose=0):
    """Returns (final state_dict, per-epoch train loss, test loss)."""
    torch.manual_seed(seed)
    x, y = mnist_tensors(n, normalize=False)
    train_loader = loader(torch.utils.data.TensorDataset(x[:192], y[:192]), batch_size)
    model = VAEModel(VAE(), device="cpu")
    model.compile(optimizer=torch.optim.Adam(model.parameters(), lr=1e-3))
    history = model.fit(train_loader, epochs=epochs, verbose=verbose)
    test_loss = model.evaluate(x[192:], y[192:], batch_size=1000, verbose=verbose)
    return model.module.state_dict(), history.history["loss"], test_loss


if __name__ == "__main__":
    state, losses, test_loss = main(verbose="auto")
    print("train losses:", losses, "test loss:", test_loss)
