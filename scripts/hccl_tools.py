#!/usr/bin/env python3
"""Ascend rank tables (hccl.json, format version 1.0): write one, or validate one before a launch.

    python scripts/hccl_tools.py write --devices 0-7 [--server_ip IP] [--device_ips IP,...] [--out hccl_8p.json]
    python scripts/hccl_tools.py validate hccl.json [--rank_size N]
    python scripts/hccl_tools.py local hccl.json --local_devices N [--server_ip IP]

``write``: device IPs come from --device_ips, else from /etc/hccn.conf (``address_<id>=<ip>`` lines, as
written by ``hccn_tool``; another file with --hccn_conf); the server IP from --server_ip, else this host's
first IPv4 address. ``validate`` checks the format, that rank ids are unique and 0..N-1, that device ids and
IPs are unique on each server, and (with --rank_size) that the table holds exactly N devices; on success it
prints the device ids of the first server in rank order (the Ascend launchers use them as DEVICE_ID).
``local`` picks this server's part of a (multi-server) table: the server is ``--server_ip`` (or $SERVER_ID), else
the table's server whose server_id is one of this host's IPv4 addresses ($FACEID_HOST_IPS, comma-separated,
replaces the detected ones: for tests); it checks that the server holds N devices and prints
``rank_size <total>`` then one ``<global rank_id> <device_id>`` line per device of that server (rank order).
Errors are one line ``error: <file>: <what is wrong>`` with exit status 1. Standard library only, so it
runs on an Ascend host without the project's environment.
"""
import argparse
import ipaddress
import json
import os
import socket
import sys

VERSION = "1.0"


class RankTableError(ValueError):
    pass


def parse_devices(text):
    """'0-7' | '0,1,2,3' | '[0,8)' (the original hccl_tools form) -> sorted list of device ids."""
    t = text.strip()
    try:
        if t.startswith("[") and t.endswith(")"):
            lo, hi = (int(v) for v in t[1:-1].split(","))
            ids = list(range(lo, hi))
        elif "-" in t:
            lo, hi = (int(v) for v in t.split("-"))
            ids = list(range(lo, hi + 1))
        else:
            ids = [int(v) for v in t.split(",") if v.strip()]
    except ValueError:
        raise RankTableError(f"--devices {text!r}: expected '0-7', '0,1,2,3' or '[0,8)'") from None
    if not ids or len(set(ids)) != len(ids) or min(ids) < 0 or max(ids) > 15:
        raise RankTableError(f"--devices {text!r}: need distinct device ids in 0..15")
    return sorted(ids)


def read_hccn_conf(path):
    """``address_<device id>=<ip>`` lines -> {device id: ip}."""
    if not os.path.isfile(path):
        raise RankTableError(f"{path}: not found (give the device IPs with --device_ips, or --hccn_conf FILE)")
    ips = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            key, _, value = line.strip().partition("=")
            if key.startswith("address_") and key[len("address_"):].isdigit():
                ips[int(key[len("address_"):])] = value.strip()
    return ips


def local_ip():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("10.255.255.255", 1))  # no packet is sent; picks the outgoing interface
        return s.getsockname()[0]
    except OSError:
        return "127.0.0.1"
    finally:
        s.close()


def host_ips(env=os.environ):
    """This host's IPv4 addresses: $FACEID_HOST_IPS if set, else the outgoing interface's, the hostname's and
    those `ip -4 -o addr` lists."""
    if env.get("FACEID_HOST_IPS"):
        return [a.strip() for a in env["FACEID_HOST_IPS"].split(",") if a.strip()]
    found = [local_ip()]
    try:
        found += [ai[4][0] for ai in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)]
    except OSError:
        pass
    try:
        import subprocess

        out = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, timeout=5).stdout
        found += [w.split("/")[0] for line in out.splitlines() for i, w in enumerate(line.split())
                  if i > 0 and line.split()[i - 1] == "inet"]
    except (OSError, subprocess.SubprocessError):
        pass
    return list(dict.fromkeys(found))


def local_part(table, ranks, local_devices, server_ip=None, env=os.environ):
    """(server_id, [(rank, device_id)]) of this server in a validated table (``ranks`` from check_table)."""
    servers = [str(srv["server_id"]) for srv in table["server_list"]]
    server_ip = server_ip or env.get("SERVER_ID")
    if not server_ip and len(servers) == 1:
        server_ip = servers[0]  # a one-server table: that is this server
    if server_ip:
        if server_ip not in servers:
            raise RankTableError(f"server {server_ip} (--server_ip / SERVER_ID) is not in the table "
                                 f"(servers: {', '.join(servers)})")
    else:
        mine = [a for a in host_ips(env) if a in servers]
        if not mine:
            raise RankTableError(f"none of this host's addresses ({', '.join(host_ips(env)) or 'none'}) is a server_id "
                                 f"of the table ({', '.join(servers)}); give SERVER_ID=<ip> or --server_ip <ip>")
        if len(set(mine)) > 1:
            raise RankTableError(f"this host has several of the table's server addresses ({', '.join(mine)}); "
                                 f"give SERVER_ID=<ip> or --server_ip <ip>")
        server_ip = mine[0]
    part = [(r, d) for r, srv, d in ranks if srv == server_ip]
    if local_devices is not None and len(part) != int(local_devices):
        raise RankTableError(f"server {server_ip} holds {len(part)} device(s) but the launch asks for {local_devices} "
                             f"on it (write a matching table with scripts/hccl_tools.py write --devices ...)")
    return server_ip, part


def make_table(devices, device_ips, server_ip):
    """One server's rank table: ranks 0..N-1 in device order. All values are strings, as HCCL expects."""
    if len(device_ips) != len(devices):
        raise RankTableError(f"{len(devices)} devices but {len(device_ips)} device IPs")
    return {
        "version": VERSION,
        "server_count": "1",
        "server_list": [{
            "server_id": server_ip,
            "device": [{"device_id": str(d), "device_ip": ip, "rank_id": str(r)}
                       for r, (d, ip) in enumerate(zip(devices, device_ips))],
            "host_nic_ip": "reserve",
        }],
        "status": "completed",
    }


def _int(value, what):
    try:
        v = int(str(value))
    except ValueError:
        raise RankTableError(f"{what} must be an integer, got {value!r}") from None
    if v < 0:
        raise RankTableError(f"{what} must be >= 0, got {v}")
    return v


def _ip(value, what):
    try:
        ipaddress.IPv4Address(str(value))
    except ValueError:
        raise RankTableError(f"{what} is not an IPv4 address: {value!r}") from None


def check_table(table, rank_size=None):
    """Validate a parsed rank table; returns [(rank, server_id, device_id)] sorted by rank."""
    if not isinstance(table, dict):
        raise RankTableError("top level must be a JSON object")
    missing = [k for k in ("version", "server_count", "server_list", "status") if k not in table]
    if missing:
        raise RankTableError(f"missing key(s) {', '.join(missing)}")
    if str(table["version"]) != VERSION:
        raise RankTableError(f"version must be \"{VERSION}\", got {table['version']!r}")
    if table["status"] != "completed":
        raise RankTableError(f"status must be \"completed\", got {table['status']!r}")
    servers = table["server_list"]
    if not isinstance(servers, list) or not servers:
        raise RankTableError("server_list must be a non-empty list")
    if _int(table["server_count"], "server_count") != len(servers):
        raise RankTableError(f"server_count is {table['server_count']} but server_list has {len(servers)} server(s)")
    ranks = []
    for s, server in enumerate(servers):
        where = f"server_list[{s}]"
        if not isinstance(server, dict) or "server_id" not in server or not isinstance(server.get("device"), list):
            raise RankTableError(f"{where} needs server_id and a device list")
        _ip(server["server_id"], f"{where}.server_id")
        if not server["device"]:
            raise RankTableError(f"{where}.device is empty")
        seen_dev, seen_ip = set(), set()
        for d, dev in enumerate(server["device"]):
            w = f"{where}.device[{d}]"
            lack = [k for k in ("device_id", "device_ip", "rank_id") if not isinstance(dev, dict) or k not in dev]
            if lack:
                raise RankTableError(f"{w} lacks {', '.join(lack)}")
            dev_id = _int(dev["device_id"], f"{w}.device_id")
            _ip(dev["device_ip"], f"{w}.device_ip")
            if dev_id in seen_dev:
                raise RankTableError(f"{w}: device_id {dev_id} appears twice on server {server['server_id']}")
            if dev["device_ip"] in seen_ip:
                raise RankTableError(f"{w}: device_ip {dev['device_ip']} appears twice on server {server['server_id']}")
            seen_dev.add(dev_id)
            seen_ip.add(dev["device_ip"])
            ranks.append((_int(dev["rank_id"], f"{w}.rank_id"), str(server["server_id"]), dev_id))
    ids = sorted(r for r, _, _ in ranks)
    dup = sorted({r for r in ids if ids.count(r) > 1})
    if dup:
        raise RankTableError(f"duplicate rank_id {', '.join(map(str, dup))}")
    if ids != list(range(len(ids))):
        gaps = sorted(set(range(len(ids))) - set(ids))
        raise RankTableError(f"rank ids must be 0..{len(ids) - 1} without gaps, missing {', '.join(map(str, gaps))}")
    if rank_size is not None and len(ranks) != int(rank_size):
        raise RankTableError(f"holds {len(ranks)} device(s) but the launch asks for {rank_size} "
                             f"(write a matching table with scripts/hccl_tools.py write --devices ...)")
    return sorted(ranks)


def load_table(path, rank_size=None):
    """Read and validate ``path``; RankTableError with 'path: ...' on any problem."""
    try:
        if not os.path.isfile(path):
            raise RankTableError("rank table file not found")
        with open(path, encoding="utf-8") as f:
            try:
                table = json.load(f)
            except json.JSONDecodeError as exc:
                raise RankTableError(f"not valid JSON ({exc.msg} at line {exc.lineno})") from None
        return table, check_table(table, rank_size)
    except RankTableError as exc:
        raise RankTableError(f"{path}: {exc}") from None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write", help="write a one-server rank table")
    w.add_argument("--devices", default="0-7", help="device ids: 0-7, 0,1,2,3 or [0,8) (default 0-7)")
    w.add_argument("--device_num", dest="devices", help="alias of --devices (the original hccl_tools option)")
    w.add_argument("--device_ips", default=None, help="comma-separated device IPs, in device order")
    w.add_argument("--hccn_conf", default="/etc/hccn.conf")
    w.add_argument("--server_ip", default=None)
    w.add_argument("--out", default=None, help="output file (default hccl_<N>p_<ids>_<server ip>.json)")
    v = sub.add_parser("validate", help="check a rank table; print its device ids in rank order")
    v.add_argument("file")
    v.add_argument("--rank_size", type=int, default=None, help="the number of processes the launch starts")
    lo = sub.add_parser("local", help="this server's ranks and devices in a (multi-server) rank table")
    lo.add_argument("file")
    lo.add_argument("--local_devices", type=int, default=None, help="devices the launch starts on this server")
    lo.add_argument("--server_ip", default=None, help="this server's server_id (default $SERVER_ID, else found "
                                                      "among this host's addresses)")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "local":
            table, ranks = load_table(args.file)
            try:
                server, part = local_part(table, ranks, args.local_devices, args.server_ip)
            except RankTableError as exc:
                raise RankTableError(f"{args.file}: {exc}") from None
            print(f"rank_size {len(ranks)} server {server}")
            for r, d in part:
                print(r, d)
            return 0
        if args.cmd == "validate":
            table, ranks = load_table(args.file, args.rank_size)
            first = table["server_list"][0]["server_id"]
            print(" ".join(str(d) for _, s, d in ranks if s == str(first)))
            return 0
        devices = parse_devices(args.devices)
        if args.device_ips:
            ips = [s.strip() for s in args.device_ips.split(",")]
        else:
            conf = read_hccn_conf(args.hccn_conf)
            lack = [d for d in devices if d not in conf]
            if lack:
                raise RankTableError(f"{args.hccn_conf}: no address_<id> line for device(s) {lack}")
            ips = [conf[d] for d in devices]
        server_ip = args.server_ip or local_ip()
        table = make_table(devices, ips, server_ip)
        check_table(table, len(devices))
        out = args.out or f"hccl_{len(devices)}p_{''.join(map(str, devices))}_{server_ip}.json"
        with open(out, "w", encoding="utf-8") as f:
            json.dump(table, f, indent=4)
            f.write("\n")
        print(f"rank table for {len(devices)} device(s) on {server_ip}: {os.path.abspath(out)}")
        return 0
    except RankTableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
