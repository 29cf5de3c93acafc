"""Shared helpers of the method contract: the FIFO feature queue, weight-decay groups, all_reduce_mean."""

from __future__ import annotations

import torch
from torch import nn

from vision_ssl.methods import MAE, SimCLR
from vision_ssl.utils import distributed
from vision_ssl.utils.optim import decay_groups
from vision_ssl.utils.queue import FeatureQueue


def test_queue_is_fifo_with_labels_and_counts():
    q = FeatureQueue(5, 2, init="zeros", with_labels=True)
    q.push(torch.ones(3, 2), torch.tensor([0, 1, 2]))
    assert int(q.count) == 3 and q.labels.tolist() == [0, 1, 2, -1, -1]
    q.push(2 * torch.ones(4, 2), torch.tensor([3, 4, 5, 6]))  # wraps: rows 3, 4, then 0, 1
    assert q.labels.tolist() == [5, 6, 2, 3, 4] and int(q.ptr) == 2 and int(q.count) == 5
    assert q.features[2].tolist() == [1.0, 1.0] and q.features[0].tolist() == [2.0, 2.0]
    q.push(torch.arange(14.0).view(7, 2), torch.arange(7))  # more than the queue: only the newest 5 stay
    assert sorted(q.labels.tolist()) == [2, 3, 4, 5, 6]


def test_decay_groups_exclude_norms_and_biases_only_when_asked():
    net = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4), nn.Linear(4, 2))
    (everything,) = decay_groups(net)
    assert len(everything["params"]) == 6
    decay, no_decay = decay_groups(net, decay_norm_and_bias=False)
    assert [p.shape for p in decay["params"]] == [(4, 4), (2, 4)]
    assert len(no_decay["params"]) == 4 and no_decay["weight_decay"] == 0.0 and no_decay["lars"] is False


def test_methods_use_the_groups_and_keep_the_probe_apart():
    opt = SimCLR(backbone="tiny", backbone_kwargs={"width": 4}, image_size=16)
    mae = MAE(image_size=16, backbone_kwargs={"patch_size": 4, "depth": 1, "embed_dim": 32, "num_heads": 2})
    both = ["backbone", "backbone_no_decay", "heads", "heads_no_decay", "probe"]  # MAE: no decay on norms, biases
    for model, names in ((opt, ["backbone", "heads", "probe"]), (mae, both)):
        model.trainer = type("T", (), {"estimated_stepping_batches": 10, "max_epochs": 1})()  # type: ignore[assignment]
        optimizer = model.configure_optimizers()["optimizer"]
        assert [g["name"] for g in optimizer.param_groups] == names
        backbone = {id(p) for g in optimizer.param_groups if g["name"].startswith("backbone") for p in g["params"]}
        assert backbone == {id(p) for p in model.backbone.parameters()}
        probe = optimizer.param_groups[-1]
        assert probe["weight_decay"] == 0.0 and {id(p) for p in probe["params"]} == {id(p) for p in model.probe.parameters()}
        seen = [id(p) for g in optimizer.param_groups for p in g["params"]]
        assert len(seen) == len(set(seen)) == sum(p.requires_grad for p in model.parameters())


def test_all_reduce_mean_is_the_identity_in_one_process():
    x = torch.randn(3, requires_grad=True)
    assert torch.equal(distributed.all_reduce_mean(x), x) and distributed.gather(x) is x
