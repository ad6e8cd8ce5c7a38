"""Loss curves and validation recall of a training run, as one PNG (train.py writes it with every
checkpoint)."""

import numpy as np


def plot_curves(history, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    steps = np.array([h["step"] for h in history["train"]])
    if len(steps) == 0:
        return

    def smooth(v, k=25):
        v = np.asarray(v, dtype=np.float64)
        if len(v) < k:
            return v
        c = np.cumsum(np.insert(v, 0, 0.0))
        s = (c[k:] - c[:-k]) / k
        head = c[1:k] / np.arange(1, k)               # expanding mean before the window fills
        return np.concatenate([head, s])

    keys = [("loss", "L (total)"), ("loss_cls", "L_cls"), ("loss_rec", "L_rec"), ("loss_sem", "L_sem")]
    nval = len(history.get("val", []))
    fig, axes = plt.subplots(1, 5 if nval else 4, figsize=(20 if nval else 16, 3.6))
    for ax, (k, title) in zip(axes, keys):
        v = [h[k] for h in history["train"]]
        ax.plot(steps, v, color="0.8", lw=0.6, label="per step")
        ax.plot(steps, smooth(v), color="C0", lw=1.5, label="moving mean (25)")
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    if nval:
        ax = axes[4]
        vs = [h["step"] for h in history["val"]]
        for key in sorted({k for h in history["val"] for k in h["recall"]}):
            ax.plot(vs, [h["recall"].get(key, np.nan) for h in history["val"]], marker="o", ms=3,
                    label=f"recall {key}")
        for key in sorted({k for h in history["val"] for k in h.get("auc", {})}):
            ax.plot(vs, [h.get("auc", {}).get(key, np.nan) for h in history["val"]], marker="s", ms=3,
                    ls="--", label=f"AUC {key}")
        if history.get("val_ema"):
            ve = [h["step"] for h in history["val_ema"]]
            for key in sorted({k for h in history["val_ema"] for k in h["recall"]}):
                ax.plot(ve, [h["recall"].get(key, np.nan) for h in history["val_ema"]], ls=":",
                        marker=".", label=f"recall {key} (EMA)")
            for key in sorted({k for h in history["val_ema"] for k in h.get("auc", {})}):
                ax.plot(ve, [h.get("auc", {}).get(key, np.nan) for h in history["val_ema"]], ls="-.",
                        label=f"AUC {key} (EMA)")
        ax.set_ylim(0, 1.02)
        ax.set_title("validation (teacher clip labels)")
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
