"""Print the demo's summary table from the LFW and IJB-C result files (untrained, trained) and the export folder,
and where the report pages and the training curves are."""
import argparse
import json
import os


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--untrained", required=True)
    ap.add_argument("--trained", required=True)
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--export_dir", required=True)
    ap.add_argument("--ijb_untrained", help="IJB-C result JSON of the untrained network")
    ap.add_argument("--ijb_trained", help="IJB-C result JSON of the trained network")
    ap.add_argument("--report", help="the trained eval's report.html")
    ap.add_argument("--compare", help="the untrained-vs-trained comparison page")
    ap.add_argument("--curves", help="the training run's logs/curves.png")
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
    if a.ijb_untrained and a.ijb_trained:
        for line in ijb_lines(*(json.load(open(p)) for p in (a.ijb_untrained, a.ijb_trained))):
            print(line)
    print("-" * 64)
    print(f"checkpoint   {a.ckpt}")
    print(f"results      {a.untrained}\n             {a.trained} (+ *_roc.png)")
    if a.ijb_trained:
        print(f"             {a.ijb_untrained}\n             {a.ijb_trained}")
    for f in sorted(os.listdir(a.export_dir)):
        print(f"export       {os.path.join(a.export_dir, f)}")
    for label, path in (("report", a.report), ("compare", a.compare), ("curves", a.curves)):
        if path:
            print(f"{label:<13}{path}" + ("" if os.path.isfile(path) else "  (NOT WRITTEN)"))
    if a.seconds:
        print(f"demo time    {a.seconds // 60} min {a.seconds % 60} s")
    print("THE DEMO DATA IS SYNTHETIC: these numbers show the pipeline works, not real-face accuracy.")
    print("=" * 64)


def ijb_far(result):
    """The FAR the IJB line reports: 1e-4 when the set's impostor pairs resolve it (at least 1 / 1e-4 of them),
    else 1e-3; (JSON key, label, note)."""
    n = result["counts"]["impostor_pairs"]
    if n * 1e-4 >= 1:
        return "0.0001", "TAR@FAR=1e-4", ""
    return "0.001", "TAR@FAR=1e-3", f" (1e-4 not resolved by {n} impostor pairs)"


def ijb_lines(u, t):
    """The IJB-C rows of the table: TAR at the resolved FAR and closed-set rank-1, untrained vs trained."""
    key, label, note = ijb_far(t)
    c = t["counts"]
    out = [f"IJB-C (synthetic): {c['templates_scored']} templates, {c['pairs_scored']} template pairs "
           f"({c['impostor_pairs']} impostor){note}"]
    for name, k in ((label, None), ("rank-1 (1:N)", "rank1")):
        vu, vt = (r["tar_at_far"][key] if k is None else r.get(k) for r in (u, t))
        cell = [f"{v * 100:>8.2f}" if v is not None else f"{'n/a':>8}" for v in (vu, vt)]
        out.append(f"{name:<20}{cell[0]:<14}{cell[1]:<14}")
    return out


if __name__ == "__main__":
    main()
