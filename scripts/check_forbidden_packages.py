"""django-fsm-2 is imported as django_fsm; the distributions django-fsm and django-fsm-rx write the same
module and must never be installed next to it."""

import sys
from importlib import metadata

FORBIDDEN = {"django-fsm", "django-fsm-rx"}
installed = {dist.metadata["Name"].lower() for dist in metadata.distributions()}
found = sorted(FORBIDDEN & installed)
if found:
    sys.exit(f"forbidden distributions installed: {', '.join(found)} (use django-fsm-2)")
if "django-fsm-2" not in installed:
    sys.exit("django-fsm-2 is not installed")
print("ok: django-fsm-2 installed; django-fsm and django-fsm-rx absent")
