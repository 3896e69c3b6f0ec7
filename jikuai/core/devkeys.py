"""Development keys, generated on first run into an ignored folder (never committed).

Production sets every key through the environment (see ``jikuai.settings.production``).
"""

import json
import os
import secrets
from pathlib import Path


def ensure_development_keys(folder: Path) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "dev-keys.json"
    if path.exists():
        return json.loads(path.read_text())
    keys = {
        "django_secret_key": secrets.token_urlsafe(50),
        "pii_keys": f"dev1:{secrets.token_hex(16)}",
        "blind_index_key": secrets.token_hex(32),
        "token_signing_key": secrets.token_hex(32),
    }
    tmp = folder / f".dev-keys.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(keys, indent=2))
    os.chmod(tmp, 0o600)
    try:
        # first writer wins, so parallel processes agree on the same keys
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return json.loads(path.read_text())
