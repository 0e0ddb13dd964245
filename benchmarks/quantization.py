"""Issue 17's int8 acceptance on trained models: test Dice of OpenVINO int8 against fp32.

    python benchmarks/quantization.py --pair MODEL_DIR DATASET [--pair MODEL_DIR DATASET ...]

For each trained model folder and its dataset folder: `leaf quantize` (calibrate on the val split,
keep int8 graphs only where val Dice moves by at most 0.005), then test Dice with OpenVINO fp32
and with the Predictor's int8 path, through leaf_core.evaluation (the app's path). Accepted when
|test Dice int8 - fp32| <= 0.005. Results: results/quantization.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, command_line, machine, write_json  # noqa: E402

MAX_TEST_DICE_CHANGE = 0.005


def check_pair(model_dir: Path, data: Path) -> dict:
    from leaf_core.evaluation import evaluate_images, load_labelled_images
    from leaf_core.inference.engines.quantization import calibrate
    from leaf_core.io.dataset_folder import DatasetFolder
    from leaf_core.model import LeafModel

    dataset = DatasetFolder(data)
    val, _ = load_labelled_images(dataset, "val")
    test, _ = load_labelled_images(dataset, "test")
    report = calibrate(model_dir, [im.rgb for im in val], [im.mask for im in val])
    model = LeafModel.from_pretrained(model_dir)
    fp32 = evaluate_images(model, test, precision="fp32", engine="openvino", model_dir=model_dir)
    int8 = (evaluate_images(model, test, precision="int8", engine="openvino", model_dir=model_dir)
            if report.int8_graphs else fp32)
    change = int8.dice - fp32.dice
    return {"model": str(model_dir), "data": str(data), "int8_graphs": report.int8_graphs,
            "val": report.as_json(), "test_dice_fp32": fp32.dice, "test_dice_int8": int8.dice,
            "test_dice_change": change, "accepted": abs(change) <= MAX_TEST_DICE_CHANGE and bool(report.int8_graphs)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pair", nargs=2, action="append", type=Path, required=True, metavar=("MODEL_DIR", "DATASET"))
    parser.add_argument("--out", type=Path, default=RESULTS / "quantization.json")
    args = parser.parse_args(argv)
    results = {"machine": machine(), "command": command_line(__file__, argv), "pairs": []}
    for model_dir, data in args.pair:
        entry = check_pair(model_dir, data)
        results["pairs"].append(entry)
        print(f"{model_dir.name} on {data.name}: test Dice fp32 {entry['test_dice_fp32']:.4f}, int8 "
              f"{entry['test_dice_int8']:.4f} ({entry['test_dice_change']:+.4f}; int8 {entry['int8_graphs']}): "
              f"{'accepted' if entry['accepted'] else 'not accepted'}", flush=True)
        write_json(args.out, results)
    return results


if __name__ == "__main__":
    main()
