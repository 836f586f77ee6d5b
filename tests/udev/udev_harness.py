"""Run `udevadm test` on a umockdev-described device, in a private mount namespace.

Nothing on the machine changes: `unshare --mount` gives the run its own mounts, in which
  - /etc/udev/rules.d is a bind mount of a directory holding the rules under test (and, to
    simulate another system, `/dev/null` symlinks that mask system rules of the same name);
  - /etc/group is a copy with the groups the rules name (e.g. `tokenbench`);
  - /run and /dev are fresh tmpfs: udevadm's database lands there, and the device nodes are
    real character nodes (mknod) so udev's MODE/GROUP are applied and can be stat()ed;
  - umockdev-run provides the fake /sys (and the device's attributes, including binary ones
    such as the HID report descriptor) through its LD_PRELOAD library.

One adaptation, because of how udev spawns helpers: udevadm runs `fido_id` (from
60-fido-id.rules) with only the device's properties as environment, so umockdev's preload is
lost and fido_id's own device lookup from $DEVPATH walks the real /sys. The harness therefore
bind-mounts a two-line wrapper over /usr/lib/udev/fido_id (inside the namespace only) that runs
the real fido_id binary under the preload with the device's syspath as argument, the form
fido_id also accepts. The decision (FIDO usage page or not) is still the real fido_id's.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

UDEV_RULES = Path(__file__).resolve().parents[2] / "udev"
FIDO_ID = Path("/usr/lib/udev/fido_id")
TOOLS = ("unshare", "umockdev-run", "udevadm", "mknod")


@dataclass
class Node:
    path: str  # /dev/...
    major: int
    minor: int


@dataclass
class UdevResult:
    properties: dict[str, str]
    tags: set[str]
    mode: str
    group: str
    output: str = field(repr=False)


def missing_tools() -> list[str]:
    return [t for t in TOOLS if shutil.which(t) is None] + (
        [] if FIDO_ID.exists() else [str(FIDO_ID)]
    )


def udevadm_test(
    workdir: Path,
    description: Path,
    syspath: str,
    node: Node,
    *,
    rules: list[Path] | None = None,
    mask: tuple[str, ...] = (),
    groups: tuple[str, ...] = ("tokenbench",),
) -> UdevResult:
    """udevadm test for one device; `rules` default: every file in udev/."""
    workdir.mkdir(parents=True, exist_ok=True)
    rules_dir = workdir / "rules"
    rules_dir.mkdir()
    for rule in UDEV_RULES.glob("*.rules") if rules is None else rules:
        shutil.copy(rule, rules_dir / rule.name)
    for name in mask:
        (rules_dir / name).symlink_to("/dev/null")
    group_file = workdir / "group"
    existing = Path("/etc/group").read_text()
    extra = "".join(
        f"{g}:x:{990 - i}:\n" for i, g in enumerate(groups) if f"\n{g}:" not in existing
    )
    group_file.write_text(existing + extra)
    shutil.copy(FIDO_ID, workdir / "fido_id.real")
    w = shlex.quote(str(workdir))
    inner = workdir / "inner.sh"
    inner.write_text(
        "set -e\n"
        f'printf \'#!/bin/sh\\nexec env LD_PRELOAD="%s" UMOCKDEV_DIR="%s" {w}/fido_id.real '
        f'"/sys$DEVPATH"\\n\' "$LD_PRELOAD" "$UMOCKDEV_DIR" > {w}/fido_id\n'
        f"chmod 755 {w}/fido_id\n"
        f"mount --bind {w}/fido_id {FIDO_ID}\n"
        f"udevadm test --action=add {shlex.quote(syspath)} > {w}/udevadm.out 2>&1\n"
    )
    node_dir = shlex.quote(os.path.dirname(node.path))
    outer = workdir / "outer.sh"
    outer.write_text(
        "set -e\n"
        "mount -t tmpfs tmpfs /run\n"
        "mount -t tmpfs tmpfs /dev\n"
        "mknod -m 666 /dev/null c 1 3\n"
        f"mkdir -p {node_dir}\n"
        f"mknod -m 600 {shlex.quote(node.path)} c {node.major} {node.minor}\n"
        f"mount --bind {w}/group /etc/group\n"
        f"mount --bind {w}/rules /etc/udev/rules.d\n"
        f"TMPDIR={w} umockdev-run -d {shlex.quote(str(description))} -- sh {w}/inner.sh\n"
        f"stat -c '%a %G' {shlex.quote(node.path)} > {w}/stat.txt\n"
        f"cat /run/udev/data/c{node.major}:{node.minor} > {w}/db.txt\n"
    )
    run = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", str(outer)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = (workdir / "udevadm.out").read_text() if (workdir / "udevadm.out").exists() else ""
    if run.returncode != 0:
        raise AssertionError(f"udevadm test failed ({run.returncode}): {run.stderr}\n{output}")
    properties: dict[str, str] = {}
    tags: set[str] = set()
    for line in (workdir / "db.txt").read_text().splitlines():
        kind, _, value = line.partition(":")
        if kind == "E":
            name, _, prop = value.partition("=")
            properties[name] = prop
        elif kind == "G":
            tags.add(value)
    mode, group = (workdir / "stat.txt").read_text().split()
    return UdevResult(properties, tags, mode, group, output)
