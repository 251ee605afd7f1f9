#!/usr/bin/env python3
"""A Docker volume plugin for pouch's tests: serves the volume plugin protocol on a unix socket,
keeps each volume as a directory under DATA_DIR, and appends every call to DATA_DIR/calls.log.

Usage: volume-plugin.py SOCKET DATA_DIR
"""
import json
import os
import socketserver
import sys
from http.server import BaseHTTPRequestHandler

SOCKET, DATA = sys.argv[1], sys.argv[2]
os.makedirs(DATA, exist_ok=True)
volumes = {}


def log(call, body):
    with open(os.path.join(DATA, "calls.log"), "a") as f:
        f.write(f"{call} {json.dumps(body, sort_keys=True)}\n")


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b"{}"
        body = json.loads(raw or b"{}")
        call = self.path.lstrip("/")
        log(call, body)
        name = body.get("Name", "")
        path = os.path.join(DATA, "volumes", name)
        if call == "Plugin.Activate":
            out = {"Implements": ["VolumeDriver"]}
        elif call == "VolumeDriver.Capabilities":
            out = {"Capabilities": {"Scope": "local"}}
        elif call == "VolumeDriver.Create":
            if body.get("Opts", {}) and body["Opts"].get("fail"):
                out = {"Err": "refusing to create " + name}
            else:
                os.makedirs(path, exist_ok=True)
                volumes[name] = body.get("Opts") or {}
                out = {"Err": ""}
        elif call == "VolumeDriver.Remove":
            volumes.pop(name, None)
            out = {"Err": ""}
        elif call in ("VolumeDriver.Mount", "VolumeDriver.Path"):
            out = {"Mountpoint": path, "Err": ""}
        elif call == "VolumeDriver.Unmount":
            out = {"Err": ""}
        elif call == "VolumeDriver.Get":
            if name in volumes:
                out = {"Volume": {"Name": name, "Mountpoint": path, "Status": {"plugin": "test"}}, "Err": ""}
            else:
                out = {"Err": "no such volume " + name}
        elif call == "VolumeDriver.List":
            out = {"Volumes": [{"Name": v, "Mountpoint": os.path.join(DATA, "volumes", v)} for v in volumes], "Err": ""}
        else:
            self.send_response(404)
            self.end_headers()
            return
        data = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.docker.plugins.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


if os.path.exists(SOCKET):
    os.unlink(SOCKET)
srv = Server(SOCKET, Handler)
# Tells the test the socket is ready.
open(os.path.join(DATA, "ready"), "w").close()
srv.serve_forever()
