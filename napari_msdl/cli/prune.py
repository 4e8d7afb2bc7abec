"""``napari-msdl prune``: more rounds of Algorithm 1 on a trained model, into a new model."""

from __future__ import annotations

import argparse

from napari_msdl.cli import OUTPUTS


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "prune", epilog=OUTPUTS,
        help="make a trained model sparser (Algorithm 1 rounds), into a new model",
        description="Run further rounds of Algorithm 1 on every sparse network of MODEL "
        "(each stage's cascade levels and main classifier) until each first-layer filter "
        "reads (1 - SPARSITY) * 5832 inputs, write the whole bundle (boundary model "
        "included) to OUT atomically (the input model is never touched), and print "
        "before/after: active inputs per network, inference time per 100k hypotheses and, "
        "with --data, the validation errors. The report is kept in the new bundle's card. "
        "With --data DIR, the fine-tuning samples are drawn with the training configuration "
        "the model's card records, "
        "every round is followed by fine-tuning on the dataset and the cascade thresholds "
        "are re-chosen; without it, weights are only removed and rescaled.")
    p.add_argument("--model", default=None, help="model folder (default: the bundled model)")
    p.add_argument("--out", required=True, help="folder for the pruned model (must not be "
                   "the input model)")
    p.add_argument("--sparsity", type=float, required=True,
                   help="target share of zero weights per filter, e.g. 0.998 (~12 inputs)")
    p.add_argument("--rounds", type=int, default=3, help="Algorithm 1 rounds (default 3)")
    p.add_argument("--data", default=None, help="annotated dataset to fine-tune and validate on")
    p.add_argument("--epochs", type=int, default=1, help="fine-tuning epochs per round")
    p.add_argument("--seed", type=int, default=0, help="seed of the split and the training")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import shlex
    from pathlib import Path

    from napari_msdl._progress import tqdm_progress
    from napari_msdl.training import PruneConfig, prune_bundle
    from napari_msdl.training.prune import format_report

    config = PruneConfig(sparsity=args.sparsity, rounds=args.rounds,
                         epochs_per_round=args.epochs, seed=args.seed)
    out = Path(args.out)
    _, report = prune_bundle(args.model, out, config, args.data,
                             progress=tqdm_progress(disable=args.quiet),
                             command="napari-msdl " + shlex.join(args.argv))
    print(format_report(report))
    print(f"wrote {out} (the report is in its card's history)")
    return 0
