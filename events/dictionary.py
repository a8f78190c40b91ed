"""The data dictionary: the event contract's envelope and every type's ``data`` as Markdown
tables, made from the JSON Schema that ``sendwatch schema`` prints (the models' own
descriptions), so the documentation cannot drift from the code.

``python -m events.dictionary`` prints it; docs/contract.md holds that text (a test checks).
"""

from __future__ import annotations

from typing import Any

from events.envelope import Envelope, json_schema
from events.types import EVENT_TYPES

# The contract's groups of types, in its order (CONTRACT.md section 1).
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "Assessment and plans",
        (
            "request.received",
            "assessment.decided",
            "plan.decided",
            "plan.draft_issued",
            "plan.issued",
            "exception.applied",
            "request.withdrawn",
            "plan.ceased",
        ),
    ),
    (
        "Reviews, amendments, phase transfer",
        (
            "review.meeting_held",
            "review.decided",
            "amendment.proposed",
            "plan.amended",
            "review.compliance_checked",
            "transfer.due",
            "transfer.setting_named",
        ),
    ),
    (
        "Appeals and tribunal",
        (
            "appeal.registered",
            "appeal.concluded",
            "tribunal.order_made",
            "tribunal.order_step_done",
        ),
    ),
    (
        "Education, EOTAS, contact, caseworkers, quality, SEN support",
        (
            "education.lost",
            "education.resumed",
            "eotas.requested",
            "eotas.agreed",
            "eotas.started",
            "eotas.ended",
            "contact.received",
            "contact.responded",
            "caseworker.assigned",
            "plan.audited",
            "sen_support.started",
            "sen_support.ended",
        ),
    ),
    ("Corrections", ("event.retracted",)),
)
ENVELOPE_ORDER = (
    "event_id",
    "type",
    "schema",
    "case_id",
    "occurred_at",
    "recorded_at",
    "source",
    "council",
    "data",
)

DATA = (
    "The facts of the event: exactly the fields its type lists below, none other. It may be "
    "left out when its type has no required field (it is then `{}`)."
)


def _words(text: str) -> str:
    """A description on one line, safe in a table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    return node if ref is None else schema["$defs"][ref.rsplit("/", 1)[1]]


def _form(field: dict[str, Any]) -> str:
    """What a field's value looks like, from its JSON Schema."""
    options = [item for item in field.get("anyOf", [field]) if item.get("type") != "null"]
    item = options[0] if options else field
    if "enum" in item:
        return "one of " + ", ".join(f"`{value}`" for value in item["enum"])
    if "const" in item:
        return f"`{item['const']}`"
    kind = item.get("type")
    if kind == "boolean":
        return "`true` or `false`"
    if kind == "array":
        return "list of text"
    if kind in ("integer", "number"):
        whole = "whole number" if kind == "integer" else "number"
        low, high = item.get("minimum"), item.get("maximum")
        if low is not None and high is not None and high < 2**40:
            return f"{whole}, {low:g} to {high:g}"
        if low is not None:
            return f"{whole}, at least {low:g}"
        return whole
    if kind == "string":
        if item.get("format") == "date":
            return "date, `YYYY-MM-DD`"
        if field.get("examples") or "[T ]" in item.get("pattern", ""):
            return "date or date and time (ISO 8601)"
        if "maxLength" in item:
            return f"text, {item.get('minLength', 0)} to {item['maxLength']} characters"
        if "pattern" in item and "{1,64}" in item["pattern"]:
            return "text, 1 to 64 of `A-Za-z0-9._:-`"
        if item.get("minLength"):
            return "text, not empty"
        return "text"
    if "$ref" in field:
        return "object"
    return "any"


def _table(
    properties: dict[str, Any],
    required: set[str],
    order: tuple[str, ...] = (),
    forms: dict[str, str] | None = None,
) -> str:
    rows = ["| field | required | form | what it holds |", "|---|---|---|---|"]
    for name in order or tuple(properties):
        field = properties[name]
        needed = "yes" if name in required else "no"
        form = (forms or {}).get(name) or _form(field)
        rows.append(f"| `{name}` | {needed} | {form} | {_words(field['description'])} |")
    return "\n".join(rows)


def markdown() -> str:
    """The envelope table and a section per type, grouped as the contract groups them."""
    schema = json_schema()
    mapping = schema["discriminator"]["mapping"]
    events = {kind: _resolve(schema, {"$ref": ref}) for kind, ref in mapping.items()}
    envelope = events[EVENT_TYPES[0]]
    fields = dict(envelope["properties"])
    # a type's own schema says which type and which data: the envelope table says of any
    fields["type"] = {"description": Envelope.model_fields["type"].description}
    fields["data"] = {"description": DATA}
    forms = {"type": "an event type (below)", "data": "object"}
    lines = [
        "<!-- made by `python -m events.dictionary`: edit the models in events/, not this -->",
        "",
        "### The envelope: fields of every event",
        "",
        _table(fields, set(envelope["required"]), ENVELOPE_ORDER, forms),
    ]
    for title, kinds in GROUPS:
        lines += ["", f"### {title}"]
        for kind in kinds:
            event = events[kind]
            data = _resolve(schema, event["properties"]["data"])
            lines += ["", f"#### `{kind}`", "", _words(event["description"])]
            if data.get("properties"):  # else its description says it has none
                lines += ["", _table(data["properties"], set(data.get("required", [])))]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
