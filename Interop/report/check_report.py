#!/usr/bin/env python3
"""Renders alexconv's HTML reports in headless Chromium and checks them (see run.sh)."""
import argparse
import html.parser
import json
import os
import shutil
import subprocess
import sys

import numpy as np
from PIL import Image

p = argparse.ArgumentParser()
p.add_argument("--alexconv", required=True)
p.add_argument("--chromium", required=True)
p.add_argument("--fixtures", required=True)
p.add_argument("--out", required=True)
args = p.parse_args()
fx = os.path.join(args.fixtures, "evaluate")
out = args.out
failures = []


def alexconv(*argv, ok=(0,)):
    r = subprocess.run([args.alexconv, *argv, "--quiet"], capture_output=True, text=True)
    if r.returncode not in ok:
        sys.exit(f"FAIL: alexconv {' '.join(argv)} exited {r.returncode}: {r.stderr.strip()}")
    return r.stdout


# A folder whose class and file names are HTML: they must come out as text.
hostile = os.path.join(out, "hostile images")
names = ['0<svg onload=alert(0)>', '1&amp;<b>bold', '2"quoted\'', '3<script>alert(3)<', '4 plain', '5<img src=x onerror=alert(5)>',
         '6<!--', '7]]>', '8<style>body{display:none}', '9\u202eevil']
for c, name in enumerate(names):
    os.makedirs(os.path.join(hostile, name))
    for i, f in enumerate(sorted(os.listdir(os.path.join(fx, "digits", str(c))))[:6]):
        suffix = ["<script>alert(1)<script>", "\" onmouseover=\"alert(2)", "'><iframe src=javascript:alert(3)>", "&lt;x&gt;", "", "`${x}`"][i]
        shutil.copy(os.path.join(fx, "digits", str(c), f), os.path.join(hostile, name, f"{f[:-4]}{suffix}.png"))
with open(os.path.join(hostile, names[0], "broken<b>.png"), "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n<not a png>")

# A model told the wrong channel order (same weights): compare and diff have something to show.
spec = json.loads(alexconv("inspect", os.path.join(fx, "digits_torch.pth"), "--json"))["spec"]
spec["input"]["channelOrder"] = "rgb"
spec["input"]["mean"] = spec["input"]["mean"][::-1]
with open(os.path.join(out, "rgb_spec.json"), "w") as f:
    json.dump(spec, f)
wrong = os.path.join(out, "wrong.alexnet.safetensors")
alexconv("import", os.path.join(fx, "digits_torch.pth"), "--arch", os.path.join(out, "rgb_spec.json"), "-o", wrong)
x = np.random.default_rng(3).uniform(-120, 130, size=(2, 3, 227, 227)).astype(np.float32)
np.save(os.path.join(out, "x.npy"), x)
converted = os.path.join(out, "converted.h5")
alexconv("convert", os.path.join(fx, "digits_torch.pth"), converted)

reports = {
    "evaluate": os.path.join(out, "evaluate.html"),
    "compare": os.path.join(out, "compare.html"),
    "diff": os.path.join(out, "diff.html"),
    "diff-agree": os.path.join(out, "diff-agree.html"),
}
alexconv("evaluate", os.path.join(fx, "digits_torch.pth"), "--images", hostile, "--expect-top1", "99", "--report", reports["evaluate"], ok=(1,))
alexconv("compare", os.path.join(fx, "digits_torch.pth"), wrong, "--images", os.path.join(fx, "digits"), "--report", reports["compare"], ok=(1,))
alexconv("diff", os.path.join(fx, "digits_torch.pth"), wrong, "--input", os.path.join(out, "x.npy"), "--report", reports["diff"], ok=(1,))
alexconv("diff", os.path.join(fx, "digits_torch.pth"), converted, "--input", os.path.join(out, "x.npy"), "--report", reports["diff-agree"])


class Walker(html.parser.HTMLParser):
    """Every element and attribute of the rendered DOM; text kept for the escaping check."""
    def __init__(self):
        super().__init__()
        self.tags, self.bad, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag in ("script", "iframe", "object", "embed", "link", "base", "form"):
            self.bad.append(f"<{tag}> element")
        for name, value in attrs:
            if name.startswith("on"):
                self.bad.append(f"{name}= attribute on <{tag}>")
            if name in ("src", "href", "xlink:href") and value is not None and not value.startswith("data:") and not value.startswith("#"):
                self.bad.append(f"{name}={value[:40]!r} on <{tag}> (not a data: URI)")

    def handle_data(self, data):
        self.text.append(data)


for kind, path in reports.items():
    size = os.path.getsize(path)
    shot = path[:-5] + ".png"
    run = subprocess.run([args.chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                          "--enable-logging=stderr", "--v=0", f"--screenshot={shot}", "--window-size=1280,2000", "file://" + path],
                         capture_output=True, text=True, timeout=120)
    console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
    if run.returncode != 0 or not os.path.exists(shot):
        failures.append(f"{kind}: chromium exited {run.returncode}: {run.stderr[-400:]}")
        continue
    if console:
        failures.append(f"{kind}: console messages: {console[:3]}")
    image = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3)
    colours, counts = np.unique(image, axis=0, return_counts=True)
    background = counts.max() / len(image)
    if len(colours) < 50 or background > 0.9:
        failures.append(f"{kind}: the screenshot looks blank ({len(colours)} colours, {background:.0%} one colour)")
    dom = subprocess.run([args.chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", "file://" + path],
                         capture_output=True, text=True, timeout=120).stdout
    walker = Walker()
    walker.feed(dom)
    if walker.bad:
        failures.append(f"{kind}: {sorted(set(walker.bad))[:5]}")
    text = "".join(walker.text)
    if kind == "evaluate":
        for name in names[:6] + ["<script>alert(1)<script>", "broken<b>.png"]:
            if name not in text:
                failures.append(f"evaluate: the name {name!r} is not shown as text")
        for needed in ("Expectation missed", "Misclassified images", "Per class", "Unreadable images (1"):
            if needed not in text:
                failures.append(f"evaluate: no {needed!r}")
    if kind == "compare" and "Images whose top-1 differs" not in text:
        failures.append("compare: no flipped-image section")
    if kind == "diff" and "first divergent" not in text:
        failures.append("diff: the chart does not mark the first divergent layer")
    if kind == "diff-agree" and "The models agree within tolerance" not in text:
        failures.append("diff-agree: not reported as agreeing")
    print(f"{kind}: {size} bytes, {len(walker.tags)} elements, screenshot {len(colours)} colours, {len(console)} console messages")

if failures:
    for f in failures:
        print("FAIL:", f)
    sys.exit(1)
print("report interop: every report renders in Chromium with no console message, escaped names and only data: URIs")
