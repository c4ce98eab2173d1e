#!/usr/bin/env python3
"""Menu sync benchmark: `iiko-bridge menu sync` and `prices sync` against the bundled simulator.

Builds the release binary, then for each menu size starts `iiko-bridge sim --products N`, runs a
full sync on an empty store, then a prices sync, and prints a table of wall time and peak RSS of
the sync process (the simulator runs in its own process and is not counted).

    python3 scripts/bench-menu.py                 # 1,000 .. 50,000 products, menu_v3
    python3 scripts/bench-menu.py --sizes 20000 --api v2
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "iiko-bridge")
EXAMPLE = os.path.join(ROOT, "config", "bridge.example.toml")
ORG = "7c1a0001-0000-4000-8000-000000000001"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"the simulator did not start on port {port}")


def run(args):
    """Runs a command to the end; returns (wall seconds, peak RSS in MiB) from wait4."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 4):  # 4: article problems found, still a complete sync
        sys.exit(f"{' '.join(args)} failed ({code}): {proc.stderr.read().decode()}")
    return seconds, usage.ru_maxrss / 1024


def menu_bytes(port, api):
    token_request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/1/access_token",
        data=json.dumps({"apiLogin": "sim-api-login"}).encode(),
        headers={"content-type": "application/json"},
    )
    token = json.load(urllib.request.urlopen(token_request))["token"]
    if api == "menu_v3":
        path, body = "/api/menu/v3/by_id", {"externalMenuId": "4821", "organizationId": ORG}
    else:
        path = "/api/2/menu/by_id"
        body = {"externalMenuId": "4821", "organizationIds": [ORG], "version": int(api[1])}
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", "authorization": f"Bearer {token}"},
    )
    return len(urllib.request.urlopen(request).read())


def run_size(products, api, workdir):
    port = free_port()
    sim = subprocess.Popen(
        [BINARY, "sim", "--listen", f"127.0.0.1:{port}", "--products", str(products)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(port)
        size = menu_bytes(port, api)  # also warms the simulator's cache, so we time the bridge
        runs = []
        for attempt in range(3):  # a fresh store each time: a full sync, then a prices sync
            config = os.path.join(workdir, f"bench-{products}-{attempt}.toml")
            with open(EXAMPLE) as f:
                text = f.read()
            with open(config, "w") as f:
                f.write(
                    text.replace("http://127.0.0.1:9900", f"http://127.0.0.1:{port}")
                    .replace("sqlite://data/bridge.db", f"sqlite://{workdir}/bench-{products}-{attempt}.db")
                    .replace('export_dir = "export"', f'export_dir = "{workdir}/export"')
                    .replace('api = "menu_v3"', f'api = "{api}"')
                )
            menu = run([BINARY, "--config", config, "menu", "sync", "--json"])
            prices = run([BINARY, "--config", config, "prices", "sync", "--json"])
            runs.append((menu, prices))
        # The best of three: the machine is shared, the slower runs measure the neighbours.
        menu = min(r[0] for r in runs)
        prices = min(r[1] for r in runs)
        return size, menu[0], menu[1], prices[0], prices[1]
    finally:
        sim.terminate()
        sim.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,5000,20000,50000")
    parser.add_argument("--api", default="menu_v3", choices=["menu_v3", "v2", "v3", "v4"])
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    print(f"menu sync against the simulator, api = {args.api}, {os.cpu_count()} cores")
    print(f"{'products':>9} {'menu JSON':>10} {'menu sync':>10} {'peak RSS':>9} {'prices sync':>12} {'peak RSS':>9}")
    with tempfile.TemporaryDirectory() as workdir:
        for products in [int(s) for s in args.sizes.split(",")]:
            size, menu_s, menu_rss, prices_s, prices_rss = run_size(products, args.api, workdir)
            print(
                f"{products:>9,} {size / 1e6:>8.1f}MB {menu_s:>9.2f}s {menu_rss:>7.0f}MB"
                f" {prices_s:>11.2f}s {prices_rss:>7.0f}MB",
                flush=True,
            )


if __name__ == "__main__":
    main()
