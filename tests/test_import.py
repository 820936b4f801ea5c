import subprocess
import sys


def test_import_torchfit_stays_light():
    """Heavy optional modules are imported only when used, never by `import torchfit`."""
    heavy = ["tensorboard", "h5py", "pandas", "pydot", "torchvision", "torchmetrics"]
    # `import torch` itself may import some of them (torch.fx tries pydot): count only ours.
    code = ("import sys, torch, numpy; before = set(sys.modules); import torchfit; "
            f"print([m for m in {heavy!r} if m in sys.modules and m not in before])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_public_surface():
    import torchfit

    for name in ("Model", "Sequential", "Layer", "callbacks", "data", "datasets", "losses",
                 "metrics", "optimizers", "schedules", "utils", "__version__"):
        assert hasattr(torchfit, name), name
    assert torchfit.optimizers.schedules is torchfit.schedules


def test_package_namespaces_hold_only_their_public_names():
    """`dir(torchfit.losses)` & co. list the public API and the submodules: no `torch`, `F`..."""
    import importlib
    import types

    for name in ("torchfit", "torchfit.losses", "torchfit.metrics", "torchfit.optimizers",
                 "torchfit.callbacks", "torchfit.data", "torchfit.utils", "torchfit.saving"):
        package = importlib.import_module(name)
        submodules = {n for n, v in vars(package).items() if isinstance(v, types.ModuleType)
                      and v.__name__ == f"{name}.{n}"}
        public = {n for n in dir(package) if not n.startswith("_")}
        assert public - set(package.__all__) - submodules == set(), name
        assert all(hasattr(package, n) for n in package.__all__), name
