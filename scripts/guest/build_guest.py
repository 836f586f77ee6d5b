"""Build a tiny Linux guest for the kernel-level tests (uhid, USB/IP).

The guest is a Debian kernel (from Debian's own `linux-image-*-amd64` package) and a busybox
initramfs holding just the modules we need. The guest mounts the host's root read-only over
9p and runs one command, so the tests use the host's Python, venv and tools unchanged.

Usage: python scripts/guest/build_guest.py CACHE_DIR   (prints the directory holding
`vmlinuz` and `initrd.img`; reuses an existing build).
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# What the guest needs: 9p root over virtio, HID with hidraw, uhid, and the USB/IP client.
WANTED_MODULES = (
    "virtio_pci",
    "9pnet_virtio",
    "9p",
    "uhid",
    "hid-generic",
    "usbhid",
    "usbip-core",
    "vhci-hcd",
)
KERNEL_METAPACKAGE = "linux-image-amd64"
BUSYBOX = Path("/bin/busybox")
INIT_SCRIPT = Path(__file__).with_name("init.sh")
DEPENDS = re.compile(rb"(?:^|\x00)depends=([^\x00]*)\x00")


def run(*argv: str, cwd: Path | None = None) -> str:
    return subprocess.run(argv, cwd=cwd, check=True, capture_output=True, text=True).stdout


def kernel_package() -> str:
    """The versioned image package the metapackage points at, e.g. linux-image-6.1.0-57-amd64."""
    for attempt in range(2):
        if attempt:
            run("apt-get", "update", "-qq")  # a fresh machine may have no package lists yet
        try:
            listing = run("apt-cache", "depends", KERNEL_METAPACKAGE)
        except subprocess.CalledProcessError:
            continue
        for line in listing.splitlines():
            line = line.strip()
            if line.startswith("Depends: linux-image-"):
                return line.split()[1]
    raise SystemExit(f"build_guest: cannot resolve {KERNEL_METAPACKAGE}")


def fetch_kernel(package: str, work: Path) -> Path:
    run("apt-get", "download", package, cwd=work)
    deb = next(work.glob(f"{package}_*.deb"))
    root = work / "root"
    run("dpkg-deb", "-x", str(deb), str(root))
    return root


def module_index(modules_dir: Path) -> dict[str, Path]:
    """Module name (dashes and underscores alike) -> path of its .ko."""
    return {p.stem.replace("-", "_"): p for p in modules_dir.rglob("*.ko")}


def load_order(index: dict[str, Path]) -> list[Path]:
    """The wanted modules and everything they depend on, dependencies first."""
    order: list[Path] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        name = name.replace("-", "_")
        if name in seen:
            return
        seen.add(name)
        path = index.get(name)
        if path is None:
            return  # built into the kernel
        match = DEPENDS.search(path.read_bytes())
        for dep in match.group(1).decode().split(",") if match else []:
            if dep:
                visit(dep)
        order.append(path)

    for wanted in WANTED_MODULES:
        visit(wanted)
    return order


def write_initramfs(order: list[Path], out: Path) -> None:
    """A gzip'd newc cpio made with busybox's cpio: /init, busybox, the modules, their order."""
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp)
        for sub in ("bin", "proc", "sys", "dev", "newroot", "modules"):
            (staging / sub).mkdir()
        shutil.copy2(BUSYBOX, staging / "bin/busybox")
        shutil.copy2(INIT_SCRIPT, staging / "init")
        (staging / "init").chmod(0o755)
        names = []
        for path in order:
            shutil.copy2(path, staging / "modules" / path.name)
            names.append(path.name)
        (staging / "modules/order").write_text("\n".join(names) + "\n")
        files = sorted(str(p.relative_to(staging)) for p in staging.rglob("*"))
        archive = subprocess.run(
            [str(BUSYBOX), "cpio", "-o", "-H", "newc"],
            cwd=staging,
            input="\n".join(files).encode(),
            check=True,
            capture_output=True,
        ).stdout
        out.write_bytes(gzip.compress(archive, compresslevel=1))


def build(cache: Path) -> Path:
    package = kernel_package()
    target = cache / package
    stamp = target / "ready"
    if stamp.exists() and stamp.read_text() == INIT_SCRIPT.read_text():
        return target
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)  # apt-get download drops privileges to _apt
        root = fetch_kernel(package, work)
        vmlinuz = next((root / "boot").glob("vmlinuz-*"))
        shutil.copy2(vmlinuz, target / "vmlinuz")
        modules_dir = next((root / "lib/modules").iterdir())
        write_initramfs(load_order(module_index(modules_dir)), target / "initrd.img")
    stamp.write_text(INIT_SCRIPT.read_text())
    return target


def main() -> int:
    if len(sys.argv) != 2:
        sys.stderr.write("usage: build_guest.py CACHE_DIR\n")
        return 2
    print(build(Path(sys.argv[1]).resolve()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
