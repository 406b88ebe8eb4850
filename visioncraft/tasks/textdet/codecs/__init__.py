"""Codecs of the text-detection task: one class encodes training targets and decodes predictions."""
from .db import DBCodec

__all__ = ['DBCodec']
