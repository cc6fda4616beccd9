"""The weights fingerprint that saved interventions and activation stores must match."""

from __future__ import annotations

import torch

from intervene.learned.das import fingerprint


def test_fingerprint_ignores_threads_and_sees_one_changed_weight(tiny_en):
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = fingerprint(tiny_en)
        torch.set_num_threads(max(2, threads))
        assert fingerprint(tiny_en) == one
    finally:
        torch.set_num_threads(threads)
    p = next(tiny_en.model.parameters())
    with torch.no_grad():
        old = p.view(-1)[0].item()
        p.view(-1)[0] += 1.0
        try:
            assert fingerprint(tiny_en) != one
        finally:
            p.view(-1)[0] = old
    assert fingerprint(tiny_en) == one
