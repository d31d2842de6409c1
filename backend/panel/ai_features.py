"""The model alias each CMS AI feature asks the registry for, by default.

Plain data with no imports, so both settings (which lets `PANEL_AI_ALIAS_<FEATURE>` override each
one) and `backend.cms_ai` read the same table. docs/cms-ai.md describes the features.
"""

from typing import Final

DEFAULT_FEATURE_ALIASES: Final = {
    "meta_description": "fast",
    "summary": "fast",
    "draft": "smart",
    "long_draft": "smart",
    "translate": "smart",
    "rewrite": "fast",
    "titles": "fast",
    "prompt": "default",
}
