"""The shipped reference data: every file present and unchanged, and the MATLAB values the parity
tests use are those of its README (so the parity tests can neither skip nor drift)."""

from __future__ import annotations

import hashlib
import re

from conftest import MATLAB, REFERENCE_DATA


def test_every_listed_file_is_present_and_unchanged():
    notice = (REFERENCE_DATA / "NOTICE.md").read_text()
    checked = 0
    for line in notice.splitlines():
        if not line.startswith("| `"):
            continue
        name, prefixes = line.split(" | ")[:2]
        names = re.findall(r"`([^`]+)`", name)
        if "..." in name:  # `niqe_live/image1.bmp` ... `image4.bmp`
            names = [f"niqe_live/image{i}.bmp" for i in range(1, 5)]
        hashes = re.findall(r"`([0-9a-f]{12})`", prefixes)
        assert len(names) == len(hashes), name
        for n, h in zip(names, hashes, strict=True):
            data = (REFERENCE_DATA / n).read_bytes()
            assert hashlib.sha256(data).hexdigest().startswith(h), n
            checked += 1
    assert checked == 10


def test_matlab_values_are_the_readme_values():
    readme = (REFERENCE_DATA / "README.md").read_text()
    listed = {float(v) for v in re.findall(r"\| (\d+\.\d{9,}) \|", readme)}
    used = {v for values in MATLAB.values() for v in values.values()}
    assert used <= listed, sorted(used - listed)
    assert len(used) == 20
