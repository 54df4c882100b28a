"""Every CPU figure of the performance anchors in one run, and the table of ratios for results.md.

    python benchmarks/anchors.py [--quick]

Runs, one after another on this machine: front_speed (front vs the per-image reference, and vs the
ResNet), train_speed (keras-all train vs a bare model.fit), pca_memory (PCA on 1,000 x 50,176) and
predict_speed (SavedModel latency and throughput); prints each one's table, then the ratios.
--quick shrinks every measurement (a smoke run; its figures are not for results.md).
"""

from __future__ import annotations

import argparse
import time

import front_speed  # benchmarks/*.py, beside this script
import pca_memory
import predict_speed
import train_speed
from machine import describe


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    quick = parser.parse_args().quick
    started = time.strftime("%Y-%m-%d %H:%M")
    front = front_speed.measure(32 if quick else 256, 64 if quick else 512, 1 if quick else 3)
    train = train_speed.measure(64 if quick else 320, 2 if quick else 3)
    pca = pca_memory.measure(100 if quick else 1000)
    serve = predict_speed.measure(2 if quick else 5)
    for report, result in ((front_speed, front), (train_speed, train), (pca_memory, pca), (predict_speed, serve)):
        print()
        report.print_report(result)
    rows, randomized = front["rows"], pca["rows"][0]
    print(f"\nRatios, {started}, {describe()}:\n")
    print("| measure | figure | goal |")
    print("|---|---|---|")
    print(f"| front img/s / per-image reference img/s (predict) | {rows['front'][0] / rows['reference'][0]:.0f}x "
          "| >= 20x |")
    print(f"| front time / ResNet forward time (compiled) | {rows['resnet'][1] / rows['front'][1]:.0%} | <= 10% |")
    print(f"| keras-all train img/s / bare model.fit img/s | {train['ratio']:.0%} | >= 85% |")
    print(f"| keras-all train peak RSS / bare peak RSS | "
          f"{train['pipeline']['peak_rss_mib'] / train['bare']['peak_rss_mib']:.2f}x | - |")
    print(f"| PCA 500 on {pca['images']} x 50,176: fit s; peak beyond the data / data size | "
          f"{randomized['seconds']:.1f} s; {randomized['extra_peak_mib'] / randomized['data_mib']:.2f}x | - |")
    print(f"| SavedModel 224x224 crops img/s / bare ResNet predict img/s | "
          f"{serve['crops_per_s'] / rows['resnet'][0]:.0%} | - |")
    print(f"| SavedModel latency, one 2592x1944 slide | {serve['slide_ms']:.0f} ms | - |")


if __name__ == "__main__":
    main()
