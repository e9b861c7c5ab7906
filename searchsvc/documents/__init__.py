"""Documents: the model, and files and folders (txt, json, jsonl, md, html) turned into Documents.

Loaders never raise on one bad document: they yield LoadError entries so a batch reports each failure by name
and indexes the rest. Problems that did not stop a document from loading (invalid UTF-8 that was replaced) are
yielded as LoadWarning just before the document they concern.
"""

from searchsvc.documents.files import iter_documents, load_path, size_of_inputs
from searchsvc.documents.model import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_DOCUMENT_BYTES,
    FIELD_ALIASES,
    SIDECAR_SUFFIX,
    SUPPORTED_SUFFIXES,
    Document,
    DocumentError,
    DocumentSchema,
    LoadError,
    LoadItem,
    LoadWarning,
    derive_title,
    document_from_mapping,
    json_type_name,
    parse_published,
)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_DOCUMENT_BYTES",
    "FIELD_ALIASES",
    "SIDECAR_SUFFIX",
    "SUPPORTED_SUFFIXES",
    "Document",
    "DocumentError",
    "DocumentSchema",
    "LoadError",
    "LoadItem",
    "LoadWarning",
    "derive_title",
    "document_from_mapping",
    "iter_documents",
    "json_type_name",
    "load_path",
    "parse_published",
    "size_of_inputs",
]
