"""Training loop, held-out evaluation and ONNX export."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edge_agent.vision.thai_model import ThaiPlateModel, metadata, preprocess

from .data import Sample, augment, in_grey_frame, latin_negatives, load_images, load_samples, rendered
from .model import PlateNet


@dataclass
class Options:
    data: Path
    out: Path
    work: Path
    steps: int = 3000
    batch: int = 64
    lr: float = 2e-3
    seed: int = 7
    limit: int = 0  # train and evaluate on this many samples only (a smoke run)
    eval_every: int = 300
    threads: int = 2
    rendered: int = 2000  # rendered plates mixed in (a quarter of them Latin negatives)
    negatives: tuple[Path, ...] = ()  # folders of real Latin photos with bboxes.csv
    init: Path | None = None  # start from these weights (a checkpoint of an earlier run)


@dataclass(frozen=True)
class Figures:
    view: str
    plates: int
    registration: float
    with_province: float
    province: float


def evaluate(model: ThaiPlateModel, samples: list[Sample], images: np.ndarray, view: str) -> Figures:
    """Exact-match rates of the ONNX model on stored crops, through the run-time code path."""
    crops = [in_grey_frame(img) if view == "grey frame" else img for img in images]
    reads = []
    for i in range(0, len(crops), 128):
        reads += model.read(crops[i:i + 128])
    reg = [r.text == s.text for r, s in zip(reads, samples, strict=True)]
    labelled = [(r, s) for r, s in zip(reads, samples, strict=True) if s.province]
    both = [r.text == s.text and r.province == s.province for r, s in labelled]
    prov = [r.province == s.province for r, s in labelled]
    return Figures(view, len(samples), _pct(reg), _pct(both), _pct(prov))


def _pct(flags: list[bool]) -> float:
    return 100.0 * sum(flags) / max(len(flags), 1)


def _batch(images: np.ndarray, samples: list[Sample], idx: list[int], rng: random.Random):
    x = torch.from_numpy(preprocess([augment(images[i], rng) for i in idx]))
    targets = [samples[i].targets for i in idx]
    flat = torch.tensor([t for ts in targets for t in ts], dtype=torch.long)
    lengths = torch.tensor([len(ts) for ts in targets], dtype=torch.long)
    prov = torch.tensor([samples[i].province_class for i in idx], dtype=torch.long)
    return x, flat, lengths, prov


def _torch_eval(net: PlateNet, images: np.ndarray, samples: list[Sample]) -> tuple[float, float]:
    """Quick held-out figures during training (greedy decode in torch)."""
    from edge_agent.vision.thai_model import decode

    net.eval()
    reads = []
    with torch.no_grad():
        for i in range(0, len(images), 256):
            logits, prov = net(torch.from_numpy(preprocess(list(images[i:i + 256]))))
            reads += decode(logits.numpy(), prov.numpy())
    net.train()
    reg = _pct([r.text == s.text for r, s in zip(reads, samples, strict=True)])
    both = _pct([r.text == s.text and r.province == s.province
                 for r, s in zip(reads, samples, strict=True) if s.province])
    return reg, both


def export(net: PlateNet, path: Path) -> None:
    import onnx

    from edge_agent.vision.thai_model import INPUT_H, INPUT_W

    net.eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.onnx")
    torch.onnx.export(
        net, torch.zeros(1, 3, INPUT_H, INPUT_W), str(tmp), input_names=["image"],
        output_names=["chars", "province"], dynamic_axes={"image": {0: "n"}, "chars": {0: "n"}, "province": {0: "n"}},
        opset_version=17, dynamo=False,
    )
    proto = onnx.load(str(tmp))
    for key, value in metadata().items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    onnx.save(proto, str(tmp))
    tmp.replace(path)


def train(opts: Options, log=print) -> list[Figures]:
    torch.manual_seed(opts.seed)
    torch.set_num_threads(opts.threads)
    rng = random.Random(opts.seed)
    samples = load_samples(opts.data)
    if opts.limit:
        samples = random.Random(opts.seed).sample(samples, opts.limit)
    train_s = [s for s in samples if not s.held_out]
    held_s = [s for s in samples if s.held_out] or samples[:8]
    plates = len({(s.text, s.province) for s in held_s})
    log(f"{len(train_s)} training crops, {len(held_s)} held out (by plate, {plates} plates)")
    t0 = time.monotonic()
    train_x = load_images(opts.data, train_s)
    held_x = load_images(opts.data, held_s)
    extra_s, extra_x = rendered(opts.rendered, opts.seed) if opts.rendered else ([], train_x[:0])
    neg_s, neg_x = latin_negatives(list(opts.negatives))
    train_s += extra_s + neg_s
    train_x = np.concatenate([train_x, extra_x, neg_x])
    log(f"images loaded in {time.monotonic() - t0:.1f} s: + {len(extra_s)} rendered, "
        f"+ {len(neg_s)} real Latin negatives")

    net = PlateNet()
    if opts.init is not None:
        net.load_state_dict(torch.load(opts.init))
        log(f"starting from {opts.init}")
    optim = torch.optim.AdamW(net.parameters(), lr=opts.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(optim, max_lr=opts.lr, total_steps=max(opts.steps, 1), pct_start=0.15)
    ctc = nn.CTCLoss(blank=0, zero_infinity=True)
    ce = nn.CrossEntropyLoss(ignore_index=-1, label_smoothing=0.05)
    opts.work.mkdir(parents=True, exist_ok=True)
    best, best_path = -1.0, opts.work / "best.pt"
    t0 = time.monotonic()
    order: list[int] = []
    for step in range(1, opts.steps + 1):
        if len(order) < opts.batch:
            order += rng.sample(range(len(train_s)), len(train_s))
        idx, order = order[:opts.batch], order[opts.batch:]
        x, flat, lengths, prov = _batch(train_x, train_s, idx, rng)
        logits, prov_logits = net(x)
        log_probs = logits.log_softmax(2).permute(1, 0, 2)  # (T, N, C) for CTCLoss
        steps_t = torch.full((len(idx),), log_probs.shape[0], dtype=torch.long)
        loss = ctc(log_probs, flat, steps_t, lengths) + ce(prov_logits, prov)
        optim.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        optim.step()
        sched.step()
        if step % 50 == 0:
            log(f"step {step}/{opts.steps} loss {loss.item():.3f} {time.monotonic() - t0:.0f} s")
        if step % opts.eval_every == 0 or step == opts.steps:
            reg, both = _torch_eval(net, held_x, held_s)
            log(f"held-out at step {step}: registration {reg:.1f} %, registration + province {both:.1f} %")
            torch.save(net.state_dict(), opts.work / "last.pt")
            if both >= best:
                best = both
                torch.save(net.state_dict(), best_path)
                export(net, opts.out)  # the best so far is always usable, even if the run is cut short
                net.train()
    net.load_state_dict(torch.load(best_path))
    export(net, opts.out)
    model = ThaiPlateModel(opts.out, threads=opts.threads)
    return [evaluate(model, held_s, held_x, "crop"), evaluate(model, held_s, held_x, "grey frame")]
