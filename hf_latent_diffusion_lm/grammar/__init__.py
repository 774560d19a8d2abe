"""The grammar records are decoded under, at run time (xgrammar): compiled grammars, each row's matcher, the batch's
token bitmask and forced text (:class:`RecordGrammar`, shared by the slot engine and ``generate``'s
:class:`SchemaLogitsProcessor`), and the grammars that keep tool calls to their record's own functions.

The grammar *text* of a schema (EBNF for tables, JSON Schema for nested records) is the schema's own
(``data/record_grammar.py``, ``schema.grammar()``); this package turns it into token masks. It imports xgrammar, so
nothing that only reads or writes records imports it.
"""

from .record_grammar_state import RecordGrammar, grammar_compiler
from .schema_logits_processor import SchemaLogitsProcessor

__all__ = ["RecordGrammar", "SchemaLogitsProcessor", "grammar_compiler"]
