"""Compare openclrs with every fixture in a folder made by dump_reference.py.

    python tests/parity/check.py /tmp/parity     # prints one line per file
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

from tests.parity.compare import differences, load_fixture, ours_for  # noqa: E402


def main(folder):
    failures = 0
    for path in sorted(pathlib.Path(folder).glob("*.npz")):
        meta, theirs = load_fixture(path)
        ours = ours_for(meta)
        bad = [(i, d) for i, (ref, trace) in enumerate(zip(theirs, ours))
               if (d := differences(meta["algorithm"], ref, trace))]
        status = "ok" if not bad else f"{len(bad)}/{len(theirs)} samples differ: {bad[0]}"
        failures += bool(bad)
        print(f"{path.stem}: {status}")
    return failures


if __name__ == "__main__":
    sys.exit(1 if main(sys.argv[1]) else 0)
