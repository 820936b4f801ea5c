"""scripts/bench_models.py: workloads L and M compare like with like.

From the same seed, torchfit's ``fit`` and the hand-written loop of each workload (tiny sizes
here) end with the same weights and report the same losses, so that the bench times the same
computation; and ``bench.py --workloads`` takes L and M.
"""

import importlib.util
import math
import os
import sys

import pytest
import torch

SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir,
                       "scripts")
if SCRIPTS not in sys.path:
    sys.path.insert(0, SCRIPTS)  # bench.py and bench_models.py import their neighbours
import bench_models  # noqa: E402


def load_bench():
    spec = importlib.util.spec_from_file_location("bench", os.path.join(SCRIPTS, "bench.py"))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench

TINY_LM = bench_models.LMConfig(ntokens=50, emsize=8, nhid=8, bptt=5, batch_size=4,
                                eval_batch_size=2, train_chunks=4, val_chunks=2)
TINY_TICKETS = bench_models.TicketConfig(num_words=50, title_len=3, body_len=6, samples=48,
                                         val_samples=16, batch_size=16)


def assert_same_weights(module, other):
    state, other_state = module.state_dict(), other.state_dict()
    assert list(state) == list(other_state)
    for key in state:
        torch.testing.assert_close(other_state[key], state[key], rtol=0, atol=0, msg=key)


def test_lm_torchfit_matches_the_word_language_model_loop():
    # Truncated BPTT with the state carried across chunks, dropout, clip_grad_norm_ 0.25 ==
    # compile(global_clipnorm=0.25), SGD at lr 20: the same weights after 2 epochs.
    data = bench_models.lm_data(TINY_LM)
    torch.manual_seed(0)
    hand = bench_models.train_lm_hand(TINY_LM, data, epochs=2)
    torch.manual_seed(0)
    ours = bench_models.train_lm_torchfit(TINY_LM, data, epochs=2)
    assert_same_weights(hand.module, ours.module)
    assert ours.losses == pytest.approx(hand.losses, rel=1e-6)
    assert ours.val_losses == pytest.approx(hand.val_losses, rel=1e-6)
    # Nothing degenerate: the loss is the mean NLL of 50-word ids, about log(50) at the start.
    assert hand.losses[0] == pytest.approx(math.log(50), rel=0.2)


def test_lm_data_is_whole_chunks_in_columns():
    train, val = bench_models.lm_data(TINY_LM)
    assert train.shape == (4 * 5 + 1, 4) and val.shape == (2 * 5 + 1, 2)
    assert len(bench_models.Chunks(train, 5)) == 4


def test_ticket_torchfit_matches_the_hand_written_loop():
    # Dict inputs routed by name, dict outputs, loss dict with loss_weights 1.0 / 0.2 == the
    # weighted sum of binary_cross_entropy_with_logits and cross_entropy with probability
    # targets. Unshuffled (each side shuffles with its own generator in the bench) and the same
    # optimizer class on both sides, so the weights must agree to float32 rounding.
    data = bench_models.ticket_data(TINY_TICKETS)
    torch.manual_seed(0)
    hand = bench_models.train_ticket_hand(TINY_TICKETS, data, epochs=2, shuffle=False)
    torch.manual_seed(0)
    ours = bench_models.train_ticket_torchfit(TINY_TICKETS, data, epochs=2, shuffle=False,
                                              make_optimizer=bench_models.keras_rmsprop)
    state, ours_state = hand.module.state_dict(), ours.module.state_dict()
    for key in state:
        torch.testing.assert_close(ours_state[key], state[key], rtol=1e-5, atol=1e-6, msg=key)
    assert ours.losses == pytest.approx(hand.losses, rel=1e-5)
    assert ours.val_losses == pytest.approx(hand.val_losses, rel=1e-5)


def test_ticket_loss_is_the_guides_weighted_sum():
    # Checked against the formulas: BCE from logits and CCE from logits with multi-hot targets.
    torch.manual_seed(0)
    outputs = {"priority": torch.randn(6, 1), "department": torch.randn(6, 4)}
    priority, department = torch.rand(6, 1), torch.randint(2, (6, 4)).float()
    logit = outputs["priority"]
    bce = (torch.clamp(logit, min=0) - logit * priority
           + torch.log1p(torch.exp(-logit.abs()))).mean()
    cce = -(department * torch.log_softmax(outputs["department"], dim=1)).sum(1).mean()
    loss = bench_models.ticket_loss(TINY_TICKETS, outputs, priority, department)
    torch.testing.assert_close(loss, bce + 0.2 * cce)


@pytest.mark.parametrize("spec,expected", [("L,m", {"L", "M"}), ("a,L", {"A", "L"})])
def test_workloads_option_takes_l_and_m(monkeypatch, spec, expected):
    bench = load_bench()
    monkeypatch.setattr(sys, "argv", ["bench.py", "--workloads", spec, "--quick"])
    args = bench.parse_args()
    assert args.workloads == expected
    assert bench.TABLES["L"][0] == "L:raw" and bench.TABLES["M"][0] == "M:raw"
    loaded = bench_models.load(args.workloads, args.quick)
    table = bench.contenders(None, None, 2, 1, loaded)
    assert {"L:raw", "L:torchfit", "L:lightning", "L:poutyne"} <= set(table)
    assert ("M:raw" in table) == ("M" in expected)


def test_workloads_option_refuses_unknown_names(monkeypatch, capsys):
    bench = load_bench()
    monkeypatch.setattr(sys, "argv", ["bench.py", "--workloads", "L,X"])
    with pytest.raises(SystemExit):
        bench.parse_args()
    assert "--workloads takes A, B, C, L, M and/or DDP" in capsys.readouterr().err
