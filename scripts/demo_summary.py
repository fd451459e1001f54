"""Print the demo's summary table from the two LFW result files and the export folder."""
import argparse
import json
import os


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--untrained", required=True)
    ap.add_argument("--trained", required=True)
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--export_dir", required=True)
    ap.add_argument("--seconds", type=int, default=0)
    a = ap.parse_args()
    u, t = (json.load(open(p)) for p in (a.untrained, a.trained))
    rows = [("10-fold accuracy", "accuracy_mean"), ("100%-EER", "100%-EER"), ("TPR@FAR=1%", "TPR@FAR=1%"),
            ("TPR@FAR=0.1%", "TPR@FAR=0.1%"), ("TPR@FAR=0%", "TPR@FAR=0%"), ("AUC", "auc")]
    print("\n" + "=" * 64)
    print(f"LightCNN-9 demo: LFW protocol, {t['pairs']} pairs of {t['images']} images of unseen synthetic identities")
    print(f"{'metric':<20}{'untrained':>14}{'trained':>14}")
    for label, key in rows:
        std = f" ±{u['accuracy_std'] * 100:.2f}" if key == "accuracy_mean" else ""
        std_t = f" ±{t['accuracy_std'] * 100:.2f}" if key == "accuracy_mean" else ""
        print(f"{label:<20}{u[key] * 100:>8.2f}{std:<6}{t[key] * 100:>8.2f}{std_t:<6}")
    print("-" * 64)
    print(f"checkpoint   {a.ckpt}")
    print(f"results      {a.untrained}\n             {a.trained} (+ *_roc.png)")
    for f in sorted(os.listdir(a.export_dir)):
        print(f"export       {os.path.join(a.export_dir, f)}")
    if a.seconds:
        print(f"demo time    {a.seconds // 60} min {a.seconds % 60} s")
    print("THE DEMO DATA IS SYNTHETIC: these numbers show the pipeline works, not real-face accuracy.")
    print("=" * 64)


if __name__ == "__main__":
    main()
