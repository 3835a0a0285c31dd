"""A checker for the part of JSON Schema (2020-12) that our documented schemas use.

newsalerts does not depend on the `jsonschema` package, and the schemas in docs/ need little:
types, required and extra keys, items, enums, minimums, patterns, date formats and local
`$ref`s. A keyword outside that set is refused rather than ignored, so a schema can never
promise a check that nothing makes.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

KEYWORDS = {
    "$schema", "$defs", "$ref", "title", "description",
    "type", "const", "enum", "minimum", "pattern", "format",
    "properties", "required", "additionalProperties", "propertyNames", "items",
}  # fmt: skip
# RFC 3339's full-date and date-time (an offset required), as JSON Schema defines them.
FORMATS = {
    "date": re.compile(r"^\d{4}-\d{2}-\d{2}$"),
    "date-time": re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"),
}


def schema_errors(instance: Any, schema: dict[str, Any], *, root: dict[str, Any] | None = None,
                  path: str = "$") -> list[str]:  # fmt: skip
    """Every way `instance` breaks `schema`, one line each naming where; [] when it fits."""
    root = schema if root is None else root
    unknown = set(schema) - KEYWORDS
    if unknown:
        raise ValueError(f"{path}: the checker does not know {sorted(unknown)}")
    if "$ref" in schema:
        return schema_errors(instance, _resolve(root, schema["$ref"]), root=root, path=path)
    if "type" in schema:
        types = [schema["type"]] if isinstance(schema["type"], str) else schema["type"]
        if not any(_is(instance, name) for name in types):
            return [f"{path}: {instance!r} is not {' or '.join(types)}"]
    errors = []
    if "const" in schema and instance != schema["const"]:
        errors.append(f"{path}: {instance!r} is not {schema['const']!r}")
    if "enum" in schema and instance not in schema["enum"]:
        errors.append(f"{path}: {instance!r} is not one of {schema['enum']}")
    if "minimum" in schema and _is(instance, "number") and instance < schema["minimum"]:
        errors.append(f"{path}: {instance!r} is below {schema['minimum']}")
    if (
        "pattern" in schema
        and isinstance(instance, str)
        and not re.search(schema["pattern"], instance)
    ):
        errors.append(f"{path}: {instance!r} does not match {schema['pattern']}")
    if "format" in schema and isinstance(instance, str):
        errors += _format_errors(instance, schema["format"], path)
    if isinstance(instance, dict):
        errors += _object_errors(instance, schema, root, path)
    if isinstance(instance, list) and "items" in schema:
        for index, item in enumerate(instance):
            errors += schema_errors(item, schema["items"], root=root, path=f"{path}[{index}]")
    return errors


def _object_errors(
    instance: dict[str, Any], schema: dict[str, Any], root: dict[str, Any], path: str
) -> list[str]:
    errors = [f"{path}: {name!r} is missing" for name in schema.get("required", ())
              if name not in instance]  # fmt: skip
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for name, value in instance.items():
        where = f"{path}.{name}"
        if "propertyNames" in schema:
            errors += schema_errors(name, schema["propertyNames"], root=root, path=f"{where} (key)")
        if name in properties:
            errors += schema_errors(value, properties[name], root=root, path=where)
        elif extra is False:
            errors.append(f"{path}: {name!r} is not in the schema")
        elif isinstance(extra, dict):
            errors += schema_errors(value, extra, root=root, path=where)
    return errors


def _is(instance: Any, name: str) -> bool:
    if name == "integer":
        return isinstance(instance, int) and not isinstance(instance, bool)
    if name == "number":
        return isinstance(instance, int | float) and not isinstance(instance, bool)
    kinds: dict[str, type | tuple[type, ...]] = {
        "string": str, "boolean": bool, "null": type(None), "array": list, "object": dict,
    }  # fmt: skip
    if name not in kinds:
        raise ValueError(f"unknown type {name!r}")
    return isinstance(instance, kinds[name])


def _format_errors(instance: str, name: str, path: str) -> list[str]:
    if name not in FORMATS:
        raise ValueError(f"{path}: the checker does not know the format {name!r}")
    try:
        valid = FORMATS[name].match(instance) is not None
        if valid:  # and a real day and time, not 2026-02-30
            (date if name == "date" else datetime).fromisoformat(instance)
    except ValueError:
        valid = False
    return [] if valid else [f"{path}: {instance!r} is not a {name}"]


def _resolve(root: dict[str, Any], reference: str) -> dict[str, Any]:
    prefix = "#/$defs/"
    if not reference.startswith(prefix):
        raise ValueError(f"only local references to $defs are supported, not {reference!r}")
    found: dict[str, Any] = root["$defs"][reference[len(prefix) :]]
    return found
