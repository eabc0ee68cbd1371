"""IR-aware captions: the `IRCaptioner` stage interface and the no-caption baseline."""

from fusionrs.captions.base import CaptionResult, IRCaptioner, get_captioner

__all__ = ["CaptionResult", "IRCaptioner", "get_captioner"]
