#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""bench/model/report.py: the cost model's results (bench/model/run).

  report.py build DIR... --json OUT [--cpi X] [--latency L] [--info K=V]...
      DIR: one guest run each (meta.json, raw.jsonl from bench/measure.sh
      --model, phases.jsonl from the plugin); joins every measurement with
      its phase and writes the figures per connection.
  report.py render JSON [--md FILE] [--png FILE] [--readme README.md] [--text]
  report.py check JSON   what bench/model/run --smoke asserts

Per connection: instructions (kernel, user), cache-line transfers between
vCPUs (kernel, user), and a modelled cost in cycles = instructions x CPI +
transfers x L, each with its ratio to (1) stock-shared of the same server,
client and vCPU count (for the proxy scenario, bench/run --model --proxy:
to RFD off). Documentation/cost-model.md describes the model.
"""
import argparse
import bisect
import json
import os
import statistics
import subprocess
import sys
import tempfile

CONFIG_ORDER = ["stock-shared", "stock-reuseport", "shim", "shim+kmod",
                "stock-shared+kmod", "rfd-off", "rfd-blocks", "rfd-steer"]
SHORT = {"stock-shared": "(1) stock shared", "stock-reuseport": "(2) stock reuseport",
         "shim": "(3) shim", "shim+kmod": "(4) shim+module",
         "stock-shared+kmod": "(h) (1)+module",
         "rfd-off": "RFD off", "rfd-blocks": "RFD blocks", "rfd-steer": "RFD steer"}
FIELDS = ["insns_kernel", "insns_user", "transfers_kernel", "transfers_user"]
README_START = "<!-- model-results:start -->"
README_END = "<!-- model-results:end -->"
SPREAD_MAX = 0.03


def fail(msg):
    print("report.py: " + msg, file=sys.stderr)
    sys.exit(1)


def read_jsonl(path):
    out = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                out.append(json.loads(line))
            except ValueError as e:
                fail(f"{path}:{n}: {e}")
    return out


class Symbols:
    """Guest text symbols (kallsyms lines: ADDR TYPE NAME [MODULE])."""

    def __init__(self, paths):
        syms = []
        for path in paths:
            if not os.path.isfile(path):
                continue
            with open(path) as f:
                for line in f:
                    w = line.split()
                    if len(w) >= 3 and w[1] in "tT":
                        mod = w[3].strip("[]") if len(w) > 3 else ""
                        syms.append((int(w[0], 16), w[2], mod))
        syms.sort()
        self.addrs = [a for a, _, _ in syms]
        self.names = [n for _, n, _ in syms]
        self.mods = [m for _, _, m in syms]

    def name(self, pc):
        if not pc >> 63:
            return "(user space)"
        i = bisect.bisect_right(self.addrs, pc) - 1
        if i < 0 or not self.addrs[i]:
            return "(unknown kernel)"
        return self.names[i] + (f" [{self.mods[i]}]" if self.mods[i] else "")


def load_run(d):
    for name in ("meta.json", "raw.jsonl", "phases.jsonl"):
        if not os.path.isfile(os.path.join(d, name)):
            fail(f"{d}: no {name}")
    with open(os.path.join(d, "meta.json")) as f:
        meta = json.load(f)
    raw = read_jsonl(os.path.join(d, "raw.jsonl"))
    phases = {}
    for p in read_jsonl(os.path.join(d, "phases.jsonl")):
        if p.get("complete"):
            phases[(p["id"], p["phase"])] = p
    out = []
    for r in raw:
        p = phases.get((r["phase_id"], r["phase"]))
        if p is None:
            fail(f"{d}: no complete plugin record for phase {r['phase_id']} ({r['phase']})")
        if r["errors"] or r["ok"] != r["conns"]:
            fail(f"{d}: phase {r['phase']}: {r['errors']} failed connections")
        t = p["total"]
        rec = dict(r)
        # Segments received by both ends, each through the module's hook
        # (registered in every netns): on loopback both ends are in the
        # server's netns; over veth the client's are what the server sent.
        rec["segs"] = r["in_segs"] + (r["out_segs"] if r["client"] == "veth" else 0)
        rec["ncpu"] = meta["ncpu"]
        rec["kernel"] = meta["kernel"]
        for k in FIELDS + ["loads", "stores", "invalidations", "untracked"]:
            rec[k] = t[k]
        files = [os.path.join(d, "kallsyms")]
        if r.get("mod_seq"):
            files.append(os.path.join(d, f"kallsyms-fastsocket.{r['mod_seq']}"))
        syms = Symbols(files) if "sites" in p or "modsites" in p else None
        for key in ("sites", "modsites"):
            by = {}
            for site in p.get(key, []):
                n = syms.name(int(site["pc"], 16))
                by[n] = by.get(n, 0) + site["n"]
            if key in p:
                rec[key] = by
        if "modsites" in p:
            rec["fastsocket_insns"] = sum(v for n, v in rec["modsites"].items()
                                          if n.endswith(" [fastsocket]"))
        out.append(rec)
    return meta, out


def cost(row, cpi, lat):
    return (row["insns_kernel"] + row["insns_user"]) * cpi + \
        (row["transfers_kernel"] + row["transfers_user"]) * lat


def build(args):
    phases = []
    kernels = set()
    for d in args.dirs:
        meta, recs = load_run(d)
        kernels.add(meta["kernel"])
        phases.extend(recs)
    if not phases:
        fail("no phases")
    groups = {}
    for r in phases:
        key = (r["ncpu"], r["server"], r["client"], r["config"])
        groups.setdefault(key, []).append(r)
    rows = []
    for key in sorted(groups, key=lambda k: (k[0], k[1], k[2], CONFIG_ORDER.index(k[3]))):
        g = groups[key]
        row = {"ncpu": key[0], "server": key[1], "client": key[2], "config": key[3],
               "reps": len(g), "conns": g[0]["conns"], "spread": {}}
        for f in FIELDS + ["segs"]:
            vals = [x[f] / x["conns"] for x in g]
            row[f] = statistics.mean(vals)
            if f in FIELDS:
                m = row[f]
                row["spread"][f] = (max(vals) - min(vals)) / m if m else 0.0
        for key, name in (("sites", "top_transfers"), ("modsites", "module_insns")):
            sym = {}
            for x in g:
                for n, v in x.get(key, {}).items():
                    sym[n] = sym.get(n, 0) + v / x["conns"] / len(g)
            if sym:
                row[name] = sorted(sym.items(), key=lambda kv: -kv[1])[:12]
        if all("fastsocket_insns" in x for x in g):
            row["fastsocket_insns"] = statistics.mean(x["fastsocket_insns"] / x["conns"] for x in g)
        steered = [x["kmod"].get("steered") for x in g if x["kmod"].get("loaded")]
        if steered:
            row["steered"] = sum(steered) / sum(x["conns"] for x in g)
        rfd = [x["kmod"]["rfd"] for x in g if x["kmod"].get("rfd")]
        if rfd:
            row["rfd"] = {k: sum(f[k] for f in rfd) for k in rfd[0]}
            seen = row["rfd"]["owner"] + row["rfd"]["foreign"]
            if seen:
                row["rfd_owner"] = row["rfd"]["owner"] / seen
        rows.append(row)
    res = {"kind": "model", "kernels": sorted(kernels), "cpi": args.cpi,
           "latency": args.latency, "info": dict(kv.split("=", 1) for kv in args.info),
           "rows": rows, "phases": phases}
    with open(args.json, "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")


def ratio(v, base):
    return f"x{v / base:.2f}" if base else "-"


def fmt_k(v):
    return f"{v / 1000:.1f}k" if v >= 1000 else f"{v:.0f}"


def tables(res):
    """The markdown tables as a list of lines."""
    cpi, lat = res["cpi"], res["latency"]
    rows = res["rows"]
    base = {(r["ncpu"], r["server"], r["client"], r["config"]): r for r in rows
            if r["config"] in ("stock-shared", "rfd-off")}
    has_rfd = any(r["config"].startswith("rfd-") for r in rows)
    out = [f"Modelled per connection: instructions x {cpi:g} + cache-line transfers between "
           f"vCPUs x {lat:g} cycles, counted by a QEMU plugin in the emulated guest "
           "(Documentation/cost-model.md); counts of one machine model, not times, and "
           "no capacity misses, prefetch or SMT. (xN): ratio to (1) of the same server, "
           "client and vCPU count" + (" (for the proxy: to RFD off; a proxied connection "
                                      "is two connections, client's and backend's, and "
                                      "the backend's work is counted too)" if has_rfd else "")
           + ".", ""]
    out.append("| vCPUs | server | client | configuration | kernel insns | user insns "
               "| kernel xfers | user xfers | modelled cycles | vs base "
               f"| L={lat / 2:g} | L={lat * 2:g} | steered |"
               + (" reply segments on owner CPU |" if has_rfd else ""))
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|" + ("---|" if has_rfd else ""))
    for r in rows:
        bcfg = "rfd-off" if r["config"].startswith("rfd-") else "stock-shared"
        b = base.get((r["ncpu"], r["server"], r["client"], bcfg))
        c = cost(r, cpi, lat)
        def rel(f, text):
            if not b or r is b or not b[f]:
                return text
            return f"{text} (x{r[f] / b[f]:.2f})"
        cells = [str(r["ncpu"]), r["server"], r["client"], SHORT.get(r["config"], r["config"]),
                 rel("insns_kernel", fmt_k(r["insns_kernel"])),
                 rel("insns_user", fmt_k(r["insns_user"])),
                 rel("transfers_kernel", f"{r['transfers_kernel']:.0f}"),
                 rel("transfers_user", f"{r['transfers_user']:.0f}"),
                 fmt_k(c)]
        if b:
            cells += [ratio(c, cost(b, cpi, lat)), ratio(cost(r, cpi, lat / 2), cost(b, cpi, lat / 2)),
                      ratio(cost(r, cpi, lat * 2), cost(b, cpi, lat * 2))]
        else:
            cells += ["-", "-", "-"]
        cells.append(f"{100 * r['steered']:.0f}%" if "steered" in r else "")
        if has_rfd:
            cells.append(f"{100 * r['rfd_owner']:.1f}%" if "rfd_owner" in r else "–")
        out.append("| " + " | ".join(cells) + " |")
    mod = [r for r in rows if "fastsocket_insns" in r and r["config"] in
           ("stock-shared+kmod", "shim+kmod", "rfd-off", "rfd-blocks", "rfd-steer")]
    if mod:
        out += ["", "Instructions executed in the module's own code (counted per translation "
                "block in the module area, named with the guest's /proc/kallsyms), per "
                "connection and per TCP segment received (by both ends: the hook runs in every netns); "
                "(h) is its hook where no local listener is, nginx:"]
        for r in mod:
            segs = r["segs"]
            out.append(f"- {r['ncpu']} vCPUs {r['server']} {r['client']} "
                       f"{SHORT.get(r['config'], r['config'])}: {r['fastsocket_insns']:.0f} "
                       f"per connection, {r['fastsocket_insns'] / segs:.1f} per segment "
                       f"({segs:.1f} segments)" if segs else "")
    hook = [r for r in rows if r["config"] == "stock-shared+kmod"]
    if hook:
        out += ["", "All kernel instructions, (h) against (1), nginx (includes the "
                "run-to-run variation of the whole connection):"]
        for r in hook:
            b = base.get((r["ncpu"], r["server"], r["client"], "stock-shared"))
            if b:
                d = r["insns_kernel"] - b["insns_kernel"]
                out.append(f"- {r['ncpu']} vCPUs, {r['client']}: {d:+.0f} per connection "
                           f"({100 * d / b['insns_kernel']:+.1f}%)")
    top = [r for r in rows if r.get("top_transfers")
           and r["config"] in ("stock-shared", "shim+kmod", "rfd-off", "rfd-steer")]
    if top:
        out += ["", "Where the transfers happen: the guest kernel functions (and user space) "
                "whose instructions caused the most transfers, per connection "
                "(the plugin's 40 busiest instructions, summed by function):"]
        for r in top:
            out.append(f"- {r['ncpu']} vCPUs {r['server']} {r['client']} "
                       f"{SHORT.get(r['config'], r['config'])}: " +
                       ", ".join(f"{n} {v:.1f}" for n, v in r["top_transfers"][:6]))
    bad = [(r, f, v) for r in rows for f, v in r["spread"].items()
           if v > SPREAD_MAX and r["reps"] > 1]
    out += ["", f"Repetitions: {min(r['reps'] for r in rows)} per figure; "
            f"{len(bad)} of {sum(len(r['spread']) for r in rows)} figures differ by more "
            f"than {100 * SPREAD_MAX:.0f}% between repetitions"
            + (":" if bad else ".")]
    for r, f, v in bad:
        out.append(f"- {r['ncpu']} vCPUs {r['server']} {r['client']} "
                   f"{SHORT.get(r['config'], r['config'])}: {f} {100 * v:.1f}%")
    return out


def compact(res, src):
    """README's block: one line per server, client and vCPU count."""
    cpi, lat = res["cpi"], res["latency"]
    by = {}
    for r in res["rows"]:
        if r["server"] != "proxy":
            by.setdefault((r["ncpu"], r["server"], r["client"]), {})[r["config"]] = r
    cfgs = ["stock-shared", "stock-reuseport", "shim", "shim+kmod"]
    out = [f"Modelled cycles per connection (instructions x {cpi:g} + transfers between vCPUs "
           f"x {lat:g}; counts of one machine model, not times) and, in brackets, kernel "
           "cache-line transfers per connection; xN = ratio to (1):", "",
           "| vCPUs | server, client | (1) stock shared | (2) stock reuseport | (3) shim "
           "| (4) shim+module |", "|---|---|---:|---:|---:|---:|"]
    for key in sorted(by):
        row = by[key]
        b = row.get("stock-shared")
        cells = [str(key[0]), f"{key[1]}, {'veth+RPS' if key[2] == 'veth' else 'loopback'}"]
        for c in cfgs:
            r = row.get(c)
            if not r:
                cells.append("–")
                continue
            v = cost(r, cpi, lat)
            rel = f" (x{v / cost(b, cpi, lat):.2f})" if b and c != "stock-shared" else ""
            cells.append(f"{fmt_k(v)}{rel} [{r['transfers_kernel']:.0f}]")
        out.append("| " + " | ".join(cells) + " |")
    hook = [r for r in res["rows"] if r["config"] == "stock-shared+kmod" and "fastsocket_insns" in r]
    if hook:
        per_seg = [r["fastsocket_insns"] / r["segs"] for r in hook if r["segs"]]
        out += ["", f"The module's hook on a port without local listeners: "
                f"{min(per_seg):.0f}-{max(per_seg):.0f} instructions of module code per TCP "
                "segment received, counted in its own code."]
    def spread(f):
        v = sorted(r["spread"][f] for r in res["rows"] if r["reps"] > 1)
        return (100 * v[len(v) // 2], 100 * v[-1]) if v else None
    si, st = spread("insns_kernel"), spread("transfers_kernel")
    if si and st:
        out += ["", f"Between repetitions kernel instructions differ by {si[0]:.1f}% "
                f"(median; at most {si[1]:.0f}%), kernel transfers by {st[0]:.1f}% (at most "
                f"{st[1]:.0f}%): transfers depend on the scheduler's choices and on time "
                "(Documentation/cost-model.md)."]
    out += ["", f"All figures, transfer sites and the module's own instructions: "
            f"[bench/results/{src[:-5]}.md](bench/results/{src[:-5]}.md); chart: "
            f"[bench/results/{src[:-5]}.png](bench/results/{src[:-5]}.png)."]
    return out


def png(res, path):
    """Two gnuplot panels, kernel transfers and modelled cycles per
    connection: one group per vCPU count, server and client, one bar per
    configuration."""
    # Only configurations that were measured: gnuplot warns about an
    # empty series.
    cfgs = [c for c in CONFIG_ORDER if c != "stock-shared+kmod"
            and any(r["config"] == c for r in res["rows"])]
    by = {}
    for r in res["rows"]:
        by.setdefault((r["ncpu"], r["server"], r["client"]), {})[r["config"]] = r
    with tempfile.TemporaryDirectory() as tmp:
        dat = os.path.join(tmp, "model.dat")
        with open(dat, "w") as f:
            for key in sorted(by):
                vals = []
                for c in cfgs:
                    r = by[key].get(c)
                    vals += ([f"{r['transfers_kernel']:.1f}",
                              f"{cost(r, res['cpi'], res['latency']) / 1000:.1f}"]
                             if r else ["-", "-"])
                f.write(f'"{key[1]} {key[2]} {key[0]}cpu" ' + " ".join(vals) + "\n")
        gp = os.path.join(tmp, "model.gp")
        with open(gp, "w") as f:
            f.write('set terminal pngcairo size 1150,760 font "Sans,9"\n')
            f.write(f'set output "{path}"\n')
            f.write('set multiplot layout 2,1 title "fastsocket cost model: per connection, '
                    f'{", ".join(res["kernels"])} (counts, not times)"\n')
            f.write("set style data histograms\nset style histogram clustered gap 1\n"
                    "set style fill solid 0.8 border -1\nset key top left\n"
                    "set grid ytics\nset xtics rotate by -30 nomirror\nset yrange [0:*]\n"
                    'set datafile missing "-"\n')
            for title, first in (("kernel cache-line transfers between vCPUs", 2),
                                 (f"modelled kcycles (insns x {res['cpi']:g} + transfers x "
                                  f"{res['latency']:g})", 3)):
                f.write(f'set title "{title}"\n')
                plots = [f'"{dat}" using {first + 2 * i}:xtic(1) title "{SHORT[c]}"'
                         for i, c in enumerate(cfgs)]
                f.write("plot " + ", ".join(plots) + "\n")
            f.write("unset multiplot\n")
        subprocess.run(["gnuplot", gp], check=True)


def render(args):
    with open(args.json) as f:
        res = json.load(f)
    if res.get("kind") != "model":
        fail(f"{args.json}: not a cost-model result")
    lines = tables(res)
    info = res.get("info", {})
    head = [f"# Cost model: {', '.join(res['kernels'])}", ""]
    if info.get("command"):
        head += [f"`{info['command'].strip()}`" +
                 (f", {int(info['wall_s']) // 60} min" if info.get("wall_s") else ""), ""]
    if args.md:
        with open(args.md, "w") as f:
            f.write("\n".join(head + lines) + "\n")
    if args.png:
        png(res, args.png)
    if args.readme:
        with open(args.readme) as f:
            text = f.read()
        if README_START not in text or README_END not in text:
            fail(f"{args.readme}: no {README_START} ... {README_END} block")
        pre, rest = text.split(README_START, 1)
        _, post = rest.split(README_END, 1)
        src = os.path.basename(args.json)
        block = [README_START, f"From `bench/results/{src}`:", ""] + compact(res, src) + [README_END]
        with open(args.readme, "w") as f:
            f.write(pre + "\n".join(block) + post)
    if args.text:
        print("\n".join(lines))


def check(args):
    """The pipeline worked: what --smoke asserts (counts, never times)."""
    with open(args.json) as f:
        res = json.load(f)
    bad = 0

    def expect(ok, what):
        nonlocal bad
        print(("PASS: " if ok else "FAIL: ") + what)
        bad += not ok

    expect(res["rows"], f"{len(res['phases'])} phases joined with the plugin's records")
    for r in res["rows"]:
        name = f"{r['ncpu']} vCPUs {r['server']} {r['client']} {r['config']}"
        expect(r["insns_kernel"] > 0 and r["insns_user"] > 0,
               f"{name}: instructions counted ({r['insns_kernel']:.0f} kernel, "
               f"{r['insns_user']:.0f} user per connection)")
        expect(r.get("top_transfers"), f"{name}: transfer sites named")
        if r["config"] == "rfd-steer":
            expect(r.get("rfd_owner", 0) >= 0.999,
                   f"{name}: {100 * r.get('rfd_owner', 0):.1f}% of the reply segments on "
                   "their owner CPU")
        if r["config"] in ("shim+kmod", "rfd-off", "rfd-blocks", "rfd-steer"):
            expect(r.get("steered", 0) >= 0.9,
                   f"{name}: {100 * r.get('steered', 0):.0f}% of SYNs steered")
        if r["config"] in ("stock-shared", "stock-reuseport", "shim"):
            expect(r.get("fastsocket_insns", 0) == 0,
                   f"{name}: no module instructions without the module "
                   f"({r.get('fastsocket_insns', 0):.0f} per connection)")
        if r["config"] in ("shim+kmod", "stock-shared+kmod", "rfd-off", "rfd-blocks", "rfd-steer"):
            expect(r.get("fastsocket_insns", 0) > 0,
                   f"{name}: the module's own instructions seen "
                   f"({r.get('fastsocket_insns', 0):.0f} per connection)")
    sys.exit(1 if bad else 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("dirs", nargs="+")
    b.add_argument("--json", required=True)
    b.add_argument("--cpi", type=float, default=1.0)
    b.add_argument("--latency", type=float, default=100.0)
    b.add_argument("--info", action="append", default=[])
    r = sub.add_parser("render")
    r.add_argument("json")
    r.add_argument("--md")
    r.add_argument("--png")
    r.add_argument("--readme")
    r.add_argument("--text", action="store_true")
    c = sub.add_parser("check")
    c.add_argument("json")
    args = ap.parse_args()
    {"build": build, "render": render, "check": check}[args.cmd](args)


if __name__ == "__main__":
    main()
