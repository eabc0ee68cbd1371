"""RGB -> IR translators: the `Translator` stage interface and baselines (models arrive with their issues)."""

from fusionrs.translate.base import Translator, get_translator

__all__ = ["Translator", "get_translator"]
