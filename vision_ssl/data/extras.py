"""Optional dependencies, imported where they are used: PyAV (`[video]` extra) decodes video files, LitData
(`[shards]` extra) writes and reads image shards. `import vision_ssl.data` and training on images need neither."""

from __future__ import annotations

import importlib
from types import ModuleType

# top-level module -> (package name on PyPI, extra of vision-ssl that installs it)
EXTRAS = {"av": ("PyAV", "video"), "litdata": ("LitData", "shards")}


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message names the extra that installs it."""


def require(module: str, purpose: str) -> ModuleType:
    """Imports `module` (e.g. `litdata.streaming.downloader`), or raises one line naming the extra to install.

    Args:
        module: dotted module name; its top-level package must be a key of EXTRAS.
        purpose: what needs it, as the start of the message (e.g. "reading videos").

    Raises:
        MissingExtraError: the package is not installed, e.g. "reading videos needs PyAV: pip install
            'vision-ssl[video]'".
        KeyError: `module` is not an optional dependency listed in EXTRAS.
    """
    package, extra = EXTRAS[module.partition(".")[0]]
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingExtraError(f"{purpose} needs {package}: pip install 'vision-ssl[{extra}]'") from err
