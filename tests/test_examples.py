"""The guide's Part I, ported in examples/, run on the bundled MNIST sample."""

import os
import subprocess
import sys

import numpy as np
import pytest

from helpers import EXAMPLES

pytestmark = pytest.mark.slow


def test_getting_started_learns_and_reports_like_the_guide(capsys):
    import getting_started

    history, results, predictions = getting_started.main(epochs=3, verbose=2)
    out = capsys.readouterr().out
    assert "Epoch 3/3" in out and "test loss, test acc:" in out
    assert list(history.history) == ["loss", "sparse_categorical_accuracy", "val_loss",
                                     "val_sparse_categorical_accuracy"]
    accuracy = history.history["val_sparse_categorical_accuracy"]
    assert accuracy[-1] > accuracy[0] and accuracy[-1] > 0.85
    assert results[1] > 0.85  # 10,000 official test images
    assert predictions.shape == (3, 10)
    np.testing.assert_allclose(predictions.sum(1), 1.0, rtol=1e-5)  # softmax probabilities


def test_custom_metric_counts_true_positives():
    import custom_metric

    history = custom_metric.main(epochs=2, verbose=0)
    true_positives = history.history["categorical_true_positives"]
    # 5,000 training samples per epoch; most are right (Keras's RMSprop, whose sqrt(v + eps) takes
    # smaller first steps than torch's sqrt(v) + eps: ~3,470), and more after the second epoch.
    assert 3000 < true_positives[0] < true_positives[1] <= 5000


def test_validation_split_example():
    import validation_split

    history = validation_split.main(epochs=2, verbose=0)
    assert history.params["steps"] == 63  # 4,000 training samples / 64
    assert history.history["val_sparse_categorical_accuracy"][-1] > 0.8


def test_class_weight_equals_sample_weight():
    import sample_and_class_weights

    by_class, by_sample = sample_and_class_weights.main(epochs=2, verbose=0)
    np.testing.assert_allclose(by_class.history["loss"], by_sample.history["loss"], rtol=1e-6)


def test_losses_metrics_optimizers_all_train():
    import losses_metrics_optimizers

    results = losses_metrics_optimizers.main(epochs=1, verbose=0)
    for name, logs in results.items():
        accuracy = [v for k, v in logs.items() if k != "loss"][0]
        assert accuracy > 0.7, (name, logs)


def test_demo_script_entry_point_runs():
    script = os.path.join(EXAMPLES, "getting_started.py")
    proc = subprocess.run([sys.executable, script, "--epochs", "1", "--verbose", "1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Epoch 1/1" in proc.stdout and "test loss, test acc:" in proc.stdout


def test_datasets_example_trains_from_dataloaders():
    import dataloaders

    history, result, with_validation, weighted = dataloaders.main(epochs=2, verbose=0)
    assert history.params["steps"] == 63 and result["sparse_categorical_accuracy"] > 0.8
    assert len(with_validation.history["val_loss"]) == 2
    assert weighted.history["loss"][-1] < weighted.history["loss"][0]


def test_callbacks_example(tmp_path, capsys):
    import callbacks

    results = callbacks.main(str(tmp_path), epochs=20, verbose=2)
    out = capsys.readouterr().out
    stopped = len(results["early_stopping"].epoch)
    assert stopped < 20 and f"Epoch {stopped:05d}: early stopping" in out
    assert "val_loss improved from inf to" in out and "saving model to" in out
    assert results["checkpoints"] and all(f.endswith(".h5") for f in results["checkpoints"])
    assert len(results["loss_history"].losses) == 79  # 5,000 samples / 64
    assert results["tensorboard_runs"] == ["train", "validation"]


def test_export_example_agrees_with_predict(tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    import export

    results = export.main(str(tmp_path), epochs=1, verbose=0)
    assert "they agree" in capsys.readouterr().out
    assert results["agree"] and results["differences"]["pt2"] <= 1e-5
    assert results["differences"]["onnx"] <= 1e-4 and results["accuracy"] > 0.7
    assert sorted(os.listdir(tmp_path)) == ["mnist.onnx", "mnist.pt2", "mnist.safetensors"]
    export.get_model().module.load_state_dict(
        safetensors_torch.load_file(results["paths"]["safetensors"]))


def test_big_data_example_streams_a_memmap_and_an_hdf5_file(capsys):
    import big_data
    from torchfit.data import disk

    history, results, kind = big_data.main(epochs=1, verbose=0)
    out = capsys.readouterr().out
    assert kind == "DiskArrayAdapter" and "peak memory grew by" in out
    assert history.params["steps"] == 71  # 4,500 training samples (validation_split=0.1) / 64
    assert results[1] > 0.75  # 10,000 test images, read from HDF5
    assert disk.LOAD_FRACTION == 0.25  # restored after the example


@pytest.fixture
def one_thread():
    """Tiny models train several times faster on one thread on a shared machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_scikit_learn_example_searches_a_pipeline(one_thread, capsys):
    pytest.importorskip("sklearn")
    import scikit_learn

    search, test_accuracy, scores = scikit_learn.main(cv=2)
    assert "best parameters:" in capsys.readouterr().out
    assert search.best_params_["net__fit_kwargs"]["epochs"] == 5  # more epochs win
    assert len(search.cv_results_["params"]) == 4 and search.best_score_ > 0.9
    assert test_accuracy > 0.9 and len(scores) == 2 and min(scores) > 0.7


def test_lr_finder_example_trains_with_the_suggestion(one_thread, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    import lr_finder

    finder, history, accuracy = lr_finder.main(str(tmp_path), epochs=1, verbose=0)
    assert "suggestion:" in capsys.readouterr().out
    assert len(finder.learning_rates) == len(finder.losses) > 12
    assert 1e-6 <= finder.suggestion <= 1.0 and accuracy > 0.8
    assert sorted(os.listdir(tmp_path)) == ["history.png", "lr_finder.png"]
    assert history.history["val_accuracy"][-1] > 0.8
