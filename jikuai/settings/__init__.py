from jikuai.settings.base import *  # noqa: F403
