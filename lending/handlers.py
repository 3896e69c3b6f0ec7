"""Bus handlers of lending (auto-discovered by ``jikuai.core.bus.autodiscover_handlers``)."""

from lending import handlers_lines  # noqa: F401  credit lines and drawdowns
