"""Inference paths for the VAC's network pass, timed on the same packed batches in one run.

The VAC's end-to-end rate is bounded by the network (issue 16: ≥ 5,000 objects/s asked; the
bare `small` model gives ≈ 3,000/s in bfloat16 on this 2-core CPU). This bench times one
encoder + decoder pass over the same batches of Test-Real objects (every default target, the
shipped weights) by each path this machine can run, and the largest difference of its outputs
(standardised means) from eager float32:

- eager float32 and eager bfloat16 autocast (`predict`'s two precisions);
- the compiled pass of `predict(..., compiled=True)` (`ojala_core.model.compiled`: one token layout
  for every row, the attention written out for Inductor), bfloat16 and float32;
- ``torch.compile`` (Inductor, needs a C compiler) of the eager pass as it is, bfloat16;
- ONNX Runtime, float32 (only if ``onnxruntime`` and ``onnx`` are installed; they are not
  project requirements).

    python bench/bench_inference_paths.py [--objects 8192] [--batch-size 512] [--no-compile]

``ojala vac --compile`` uses the compiled pass; see README "Scaling" for the figures.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from ojala_core.model.compiled import compiled_pass
from ojala_core.model.packing import pack_tokens
from ojala_core.model.pretrained import Ojala

ROOT = Path(__file__).resolve().parent.parent


class _Pass(nn.Module):
    """encode + decode of the network as one module (what an exporter or a compiler sees)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, ids, values, errors, valid, query_ids):
        memory, embedding = self.net.encode(ids, values, errors, valid)
        mean, log_variance, logits = self.net.decode(memory, ids, valid, query_ids)
        return mean, log_variance, logits, embedding


def _batches(model, frame, batch_size, layout=None):
    """Packed batches (ids, values, errors, valid, query_ids), or with `layout` (token ids) the compiled
    pass's batches: every row's tokens in `layout`'s places, missing ones as padding (values, errors, valid)."""
    vocab = model.vocabulary
    query = torch.tensor([vocab.index(t) for t in vocab.targets])
    allowed = ~model.net.is_label.clone()
    allowed[query] = False
    tokens = model.tokenizer.encode(frame)
    out = []
    for start in range(0, len(frame), batch_size):
        sl = slice(start, start + batch_size)
        present = tokens.present[sl] & allowed[None]
        if layout is not None:
            valid = present[:, layout]
            out.append((tokens.values[sl][:, layout] * valid, tokens.errors[sl][:, layout] * valid, valid))
            continue
        packed = pack_tokens(present, tokens.values[sl], tokens.errors[sl])
        out.append((*packed, query[None].expand(len(packed[0]), -1).contiguous()))
    return out


def _timed(run, batches, repeats=3):
    """(best objects/s over `repeats` passes, every batch's standardised means) of `run(batch)`."""
    means = [run(b) for b in batches]
    n = sum(len(b[0]) for b in batches)
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        for b in batches:
            run(b)
        best = max(best, n / (time.perf_counter() - t0))
    return best, means


def _max_difference(means, reference) -> float:
    return max(float((m - r).abs().max()) for m, r in zip(means, reference))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mocks", default=str(ROOT / "data" / "mocks-default"))
    parser.add_argument("--model", default=str(ROOT / "models" / "ojala-small"))
    parser.add_argument("--objects", type=int, default=8192)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile (its first call takes ~30 s)")
    args = parser.parse_args()
    model = Ojala.from_pretrained(args.model).eval()
    frame = pd.read_parquet(Path(args.mocks) / "test_real.parquet").head(args.objects)
    batches = _batches(model, frame, args.batch_size)
    module = _Pass(model.net).eval()
    print(f"{len(frame)} Test-Real objects, batches of {args.batch_size}, {len(model.vocabulary.targets)} targets, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    def eager(bf16, fn=module):
        def run(b):
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                return fn(*b)[0].float()
        return run

    rates = {}
    rate, reference = _timed(eager(False), batches)
    rates["eager float32"] = (rate, 0.0)
    rate, mean = _timed(eager(True), batches)
    rates["eager bfloat16"] = (rate, _max_difference(mean, reference))
    if not args.no_compile:
        vocab = model.vocabulary
        query = torch.tensor([vocab.index(t) for t in vocab.targets])
        allowed = ~model.net.is_label.clone()
        allowed[query] = False
        layout = torch.nonzero(allowed & model.tokenizer.encode(frame).present.any(0)).squeeze(1)
        fixed = _batches(model, frame, args.batch_size, layout)
        for name, dtype in (("bfloat16", torch.bfloat16), ("float32", None)):
            network = compiled_pass(model.net, layout, query, args.batch_size, dtype)
            t0 = time.perf_counter()
            network(*fixed[0])
            first = time.perf_counter() - t0
            rate, mean = _timed(lambda b: network(*b)[0].float(), fixed)
            rates[f"compiled pass, {name} ({first:.0f} s to compile)"] = (rate, _max_difference(mean, reference))
        compiled = torch.compile(module, dynamic=True)
        t0 = time.perf_counter()
        rate, mean = _timed(eager(True, compiled), batches)
        rates[f"torch.compile of the eager pass, bfloat16 (first call incl. {time.perf_counter() - t0:.0f} s)"] = (
            rate, _max_difference(mean, reference))
    try:
        import onnxruntime as ort
    except ImportError:
        print("onnxruntime not installed: ONNX Runtime not timed (pip install onnxruntime onnx)")
    else:
        names = ["ids", "values", "errors", "valid", "query_ids"]
        dynamic = {n: {0: "batch", 1: "queries" if n == "query_ids" else "length"} for n in names}
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "ojala.onnx"
            torch.onnx.export(module, batches[0], str(path), input_names=names, dynamic_axes=dynamic,
                              output_names=["mean", "log_variance", "logits", "embedding"], dynamo=False)
            options = ort.SessionOptions()
            options.intra_op_num_threads = torch.get_num_threads()
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            wanted = {i.name for i in session.get_inputs()}        # constant inputs are folded away

            def run(b):
                return torch.from_numpy(session.run(["mean"], {n: t.numpy() for n, t in zip(names, b)
                                                                if n in wanted})[0])
            rate, mean = _timed(run, batches)
            rates["ONNX Runtime float32"] = (rate, _max_difference(mean, reference))
    base = rates["eager float32"][0]
    print(f"{'path':62s} {'objects/s':>10s} {'vs fp32':>8s} {'max |Δ mean|':>13s}")
    for name, (rate, diff) in rates.items():
        print(f"{name:62s} {rate:10.0f} {rate / base:7.2f}x {diff:13.2e}")


if __name__ == "__main__":
    main()
