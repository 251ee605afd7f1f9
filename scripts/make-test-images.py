#!/usr/bin/env python3
"""Builds the test images offline from Debian's busybox-static.

Writes into OUT_DIR (default: target/test-images):
  busybox-docker.tar   docker-archive (legacy `docker save` layout), tagged busybox:latest
  busybox-oci.tar      OCI image layout, tagged busybox:oci
  rootfs.tar           the bare rootfs (for `import`)
The rootfs holds /bin/busybox with every applet as a symlink, /etc/passwd with root and an
unprivileged user (uid 1000), /etc/group, /tmp, /root and /home/user; the image runs `sh`.
Output is deterministic: the same busybox binary gives the same image ids.
"""
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile

BUSYBOX = os.environ.get("BUSYBOX", "/bin/busybox")
MTIME = 1700000000
CREATED = "2023-11-14T22:13:20Z"


def add(tar, name, data=None, mode=0o644, kind=tarfile.REGTYPE, link="", uid=0, gid=0):
    ti = tarfile.TarInfo(name)
    ti.mtime, ti.mode, ti.type, ti.uid, ti.gid = MTIME, mode, kind, uid, gid
    ti.uname = ti.gname = ""
    if kind == tarfile.SYMTYPE:
        ti.linkname = link
        tar.addfile(ti)
    elif kind == tarfile.DIRTYPE:
        tar.addfile(ti)
    else:
        ti.size = len(data)
        tar.addfile(ti, io.BytesIO(data))


def rootfs_tar():
    with open(BUSYBOX, "rb") as f:
        bb = f.read()
    applets = subprocess.run([BUSYBOX, "--list"], check=True, capture_output=True, text=True).stdout.split()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for d, mode in [("bin", 0o755), ("etc", 0o755), ("tmp", 0o1777), ("root", 0o700),
                        ("home", 0o755), ("proc", 0o755), ("sys", 0o755), ("dev", 0o755)]:
            add(t, d, kind=tarfile.DIRTYPE, mode=mode)
        add(t, "home/user", kind=tarfile.DIRTYPE, mode=0o755, uid=1000, gid=1000)
        add(t, "bin/busybox", bb, mode=0o755)
        for a in sorted(set(applets)):
            if a != "busybox":
                add(t, f"bin/{a}", kind=tarfile.SYMTYPE, link="busybox", mode=0o777)
        add(t, "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n"
            b"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
        add(t, "etc/group", b"root:x:0:\nuser:x:1000:\nnogroup:x:65534:\n")
        add(t, "etc/hostname", b"busybox\n")
    return buf.getvalue()


def sha(b):
    return hashlib.sha256(b).hexdigest()


def config(diff_id, tag_comment):
    return json.dumps({
        "architecture": "amd64", "os": "linux", "created": CREATED, "author": "pouch test images",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Cmd": ["sh"], "Labels": {"org.pouch.test": "busybox"}},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff_id]},
        "history": [{"created": CREATED, "created_by": "make-test-images.py: busybox-static rootfs",
                     "comment": tag_comment}],
    }, separators=(",", ":"), sort_keys=True).encode()


def write_tar(path, files):
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        for name, data in files:
            if data is None:
                add(t, name, kind=tarfile.DIRTYPE, mode=0o755)
            else:
                add(t, name, data)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "target/test-images"
    os.makedirs(out, exist_ok=True)
    layer = rootfs_tar()
    diff = sha(layer)
    with open(os.path.join(out, "rootfs.tar"), "wb") as f:
        f.write(layer)

    # docker-archive, legacy layout
    cfg = config(diff, "docker-archive")
    cfg_hex = sha(cfg)
    layer_dir = sha((cfg_hex + diff).encode())
    manifest = [{"Config": cfg_hex + ".json", "RepoTags": ["busybox:latest"],
                 "Layers": [layer_dir + "/layer.tar"]}]
    write_tar(os.path.join(out, "busybox-docker.tar"), [
        (layer_dir, None),
        (layer_dir + "/VERSION", b"1.0"),
        (layer_dir + "/json", json.dumps({"id": layer_dir}).encode()),
        (layer_dir + "/layer.tar", layer),
        (cfg_hex + ".json", cfg),
        ("manifest.json", json.dumps(manifest).encode()),
        ("repositories", json.dumps({"busybox": {"latest": layer_dir}}).encode()),
    ])

    # OCI layout with a gzip layer
    gz = gzip.compress(layer, mtime=0)
    cfg = config(diff, "oci-layout")
    man = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": "sha256:" + sha(cfg), "size": len(cfg)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": "sha256:" + sha(gz), "size": len(gz)}],
    }).encode()
    index = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": "sha256:" + sha(man), "size": len(man),
                       "annotations": {"io.containerd.image.name": "docker.io/library/busybox:oci",
                                       "org.opencontainers.image.ref.name": "oci"}}],
    }).encode()
    write_tar(os.path.join(out, "busybox-oci.tar"), [
        ("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
        ("index.json", index),
        ("blobs", None), ("blobs/sha256", None),
        ("blobs/sha256/" + sha(cfg), cfg),
        ("blobs/sha256/" + sha(man), man),
        ("blobs/sha256/" + sha(gz), gz),
    ])
    print(f"test images written to {out}")


if __name__ == "__main__":
    main()
