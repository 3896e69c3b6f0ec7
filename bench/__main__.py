"""Run every benchmark in this folder at its default size, one process each: ``python -m bench``.

Pass ``--size N`` to forward a size to all of them. Each benchmark prints one JSON object and writes it
to ``bench/results/<name>.json``.
"""

import subprocess
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    folder = Path(__file__).resolve().parent
    names = sorted(path.stem for path in folder.glob("*.py") if not path.stem.startswith("_"))
    failed = []
    for name in names:
        print(f"== bench.{name}", file=sys.stderr, flush=True)
        if subprocess.run([sys.executable, "-m", f"bench.{name}", *argv], check=False).returncode != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
