#!/usr/bin/env python3
"""Extract the part of the official iikoCloud OpenAPI schema that iiko-bridge uses.

Writes (relative to the repository root):

* ``tests/fixtures/iiko-schema-subset.json``: for every iikoCloud path the bridge calls, a
  ready-to-use JSON Schema (draft 2020-12) document for the request body and one for the
  200 response, each with its own ``$defs`` (the transitive closure of component schemas it
  references). No prose is kept.
* ``tests/fixtures/iiko-examples/``: the official examples attached to those operations
  (``<path-slug>.json`` for 200-response examples, ``<path-slug>.request.json`` for request
  examples, each an object keyed by example name) plus ``index.json`` listing, per path, which
  example names exist (an empty list says the snapshot has none).

OpenAPI 3.0 idioms are converted so a plain JSON Schema validator gives the right answer:

* ``nullable: true``: ``type: [t, "null"]`` (``null`` is added to an ``enum``), or
  ``anyOf: [<schema>, {"type": "null"}]`` around a ``$ref``/``allOf``/``oneOf``.
* ``$ref: #/components/schemas/X`` becomes ``$ref: #/$defs/<short X>``.
* Polymorphism: the official schema has a base ``B`` (with ``discriminator.mapping``) and
  subtypes ``S = allOf[B] + own properties``. Here each subtype is flattened (the base's
  ``properties`` and ``required`` merged into it, conflicts refused) and pins the discriminator
  with ``const``; ``B`` becomes a dispatcher: the discriminator must be one of the mapping keys,
  and ``if value == k then S_k``, so the value selects exactly one subtype and that subtype's
  required fields are enforced. (Flattening rather than ``allOf: [B]`` keeps error lists short: a
  failing ``allOf`` branch drops its annotations, so ``unevaluatedProperties`` would then also
  report every base property as unexpected.)
* Requests are strict: the ``additionalProperties: false`` that the schema puts on every object
  (bases included, which taken literally would forbid every subtype field) becomes
  ``unevaluatedProperties: false`` on every concrete object. Responses are open: it is dropped.
* Date-times ``format: "yyyy-MM-dd HH:mm:ss.fff"`` become a ``pattern`` (exactly three fraction
  digits in requests, as documented; an optional 1 to 7 digit fraction in responses). ``uuid``
  stays a format (turn format validation on). Numeric formats (int32, int64, double, float), the
  custom ``enum`` and ``date-span`` formats are dropped (they carry no checkable rule here).
* Rules the schema states only in prose are kept where they are unambiguous: a property whose
  description says it "can be null" (or similar, see NULL_IN_PROSE) accepts null, and
  PROSE_RULES adds patterns for DeliveryOrder.phone ("+" and at least 8 digits) and
  phoneExtension (1 to 10 digits). Misspelt type names of the hand-written external-menu schemas
  ("bool", "float", "int", "uuid", ...) are mapped by TYPE_FIXES.
* In responses ``oneOf`` becomes ``anyOf``: once objects are open, exclusivity is meaningless
  (an ExternalMenuV3 document would also match the open V2 schema).

Standard library only. ``--check`` exits 1 when the committed files differ from what would be
generated (for CI drift detection).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
from pathlib import Path

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

# The iikoCloud paths the bridge calls (POST).
PATHS = [
    "/api/1/access_token",
    "/api/v2/access_token",
    "/api/1/organizations",
    "/api/1/terminal_groups",
    "/api/1/terminal_groups/is_alive",
    "/api/1/payment_types",
    "/api/1/deliveries/order_types",
    "/api/1/discounts",
    "/api/1/cancel_causes",
    "/api/1/nomenclature",
    "/api/2/menu",
    "/api/2/menu/by_id",
    "/api/menu/v3/by_id",
    "/api/1/stop_lists",
    "/api/1/stop_lists/check",
    "/api/1/deliveries/create",
    "/api/1/commands/status",
    "/api/1/deliveries/by_id",
    "/api/1/deliveries/by_revision",
    "/api/1/deliveries/by_delivery_date_and_status",
    "/api/1/deliveries/by_delivery_date_and_source_key_and_filter",
    "/api/1/deliveries/by_delivery_date_and_phone",
    "/api/1/deliveries/cancel",
    "/api/1/loyalty/iiko/customer/info",
    "/api/1/loyalty/iiko/calculate",
    "/api/1/loyalty/iiko/program",
    "/api/1/webhooks/settings",
    "/api/1/webhooks/update_settings",
]

COMPONENT_PREFIX = "#/components/schemas/"
NAME_PREFIXES = ["iikoTransport.PublicApi.Contracts.", "iikoNet.Service.Contracts.Api.iikoTransport."]

# Keywords copied as they are (after recursive conversion where they hold schemas).
KEEP_SCALARS = {
    "type",
    "format",
    "required",
    "enum",
    "const",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
    "pattern",
}
# Everything else that is not handled explicitly below is dropped on purpose: prose (description,
# summary, title, example, examples), x-* extensions and annotations (default, deprecated,
# readOnly, writeOnly).
KNOWN_DROPPED = {"description", "summary", "title", "example", "examples", "default", "deprecated", "readOnly", "writeOnly"}

DATE_TIME_FORMAT = "yyyy-MM-dd HH:mm:ss.fff"
DATE_PART = r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01]) ([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
DATE_TIME_PATTERN = {
    "request": "^" + DATE_PART + r"\.[0-9]{3}$",
    "response": "^" + DATE_PART + r"(\.[0-9]{1,7})?$",
}
DROPPED_FORMATS = {"int32", "int64", "double", "float", "enum", "date-span"}

# The hand-written external-menu (and webhook) schemas use type names JSON Schema does not know.
# Each is mapped to what it plainly means; any other unknown type stops the script.
JSON_TYPES = {"string", "object", "array", "integer", "number", "boolean", "null"}
TYPE_FIXES = {
    "bool": {"type": "boolean"},
    "float": {"type": "number"},
    "int": {"type": "integer"},
    "uuid": {"type": "string", "format": "uuid"},
    # ComboDto.priceStrategy: the values are only given as prose in an example
    # ('{"BY_COMPONENT", "FIXED", "CALCULATE"}'), not even whether they are strings: no check.
    "enum": {},
    "Array of strings <uuid>": {"type": "array", "items": {"type": "string", "format": "uuid"}},
    "integer <int32>": {"type": "integer"},
    "integer <int64>": {"type": "integer"},
}
CONSTANT_STRING = re.compile(r"^constant string '([^']*)'$")

# Rules the official schema states only in a property's description. Each entry:
# (component name pattern, property, modes, change). "nullable" makes the property accept null.
PROSE_RULES = [
    # DeliveryOrder.phone: "Must begin with symbol "+" and must be at least 8 digits."
    (
        r"iikoTransport\.PublicApi\.Contracts\.Deliveries\.Request\.CreateOrder\.DeliveryOrder",
        "phone",
        ("request",),
        {"pattern": r"^\+([^0-9]*[0-9]){8}"},
    ),
    # DeliveryOrder.phoneExtension: "Must contain only digits and have length from 1 to 10 symbols."
    (
        r"iikoTransport\.PublicApi\.Contracts\.Deliveries\.Request\.CreateOrder\.DeliveryOrder",
        "phoneExtension",
        ("request",),
        {"pattern": r"^[0-9]{1,10}$"},
    ),
    # Nullability stated only in prose is handled generally: see NULL_IN_PROSE.
]

# A property whose description says it may be null ("Can be null.", "string, or null",
# "(nullable)", "if the value is null, ...", "If null - ...") but lacks `nullable: true` accepts
# null. The iikoNet (loyalty) contracts and the external-menu DTOs say so in prose only; e.g.
# ExternalMenuPriceByDepartmentsDto.price is a required float that "if the value is null, then the
# product/size is not for sale".
NULL_IN_PROSE = re.compile(r"can be null|\bor null\b|\(nullable\)|\bif (the value is )?null\b", re.IGNORECASE)


class Fail(Exception):
    pass


GENERIC = re.compile(r"^(?P<base>[^`]+)`[0-9]+\[\[(?P<arg>[^,\]]+),[^\]]*\]\]$")


def strip_prefix(name: str) -> str:
    for prefix in NAME_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def short_names(schemas: dict) -> dict:
    """Map every component name to a shorter, unique $defs key that is safe in a URI fragment.

    .NET generic names such as ``Common.RmsItemsResponseWrapper`1[[...OrderTypes.OrderType, assembly...]]``
    become ``Common.RmsItemsResponseWrapper.Of.OrderTypes.OrderType``.
    """
    out = {}
    used = set()
    for name in sorted(schemas):
        generic = GENERIC.match(name)
        if generic:
            short = strip_prefix(generic["base"]) + ".Of." + strip_prefix(generic["arg"])
        else:
            short = strip_prefix(name)
        if not re.fullmatch(r"[A-Za-z0-9._-]+", short):
            raise Fail(f"cannot make a URI-safe $defs key for {name!r}")
        if short in used:
            raise Fail(f"cannot give {name} a unique $defs key")
        used.add(short)
        out[name] = short
    return out


def ref_name(ref: str) -> str:
    if not ref.startswith(COMPONENT_PREFIX):
        raise Fail(f"unsupported $ref {ref!r}")
    return ref[len(COMPONENT_PREFIX):]


class Converter:
    def __init__(self, spec: dict):
        self.schemas = spec["components"]["schemas"]
        self.short = short_names(self.schemas)
        # discriminator bases and, for each subtype, (base name, property, value)
        self.bases = {}
        self.subtype_of = {}
        for name, schema in self.schemas.items():
            disc = schema.get("discriminator")
            if not disc:
                continue
            prop = disc["propertyName"]
            mapping = {value: ref_name(ref) for value, ref in disc.get("mapping", {}).items()}
            if not mapping:
                raise Fail(f"{name}: discriminator without mapping")
            self.bases[name] = (prop, mapping)
            for value, target in mapping.items():
                if target in self.subtype_of:
                    raise Fail(f"{target} is a subtype of two bases")
                self.subtype_of[target] = (name, prop, value)

    # ---- reachability -------------------------------------------------------------------
    def closure(self, root: dict) -> set:
        seen = set()
        stack = list(self._refs(root))
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            if name not in self.schemas:
                raise Fail(f"dangling reference to {name}")
            seen.add(name)
            stack.extend(self._refs(self.schemas[name]))
            if name in self.bases:
                stack.extend(self.bases[name][1].values())
        return seen

    def _refs(self, node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref" and isinstance(value, str):
                    yield ref_name(value)
                elif key in ("discriminator", "example", "examples"):
                    continue
                else:
                    yield from self._refs(value)
        elif isinstance(node, list):
            for item in node:
                yield from self._refs(item)

    # ---- conversion ---------------------------------------------------------------------
    def defs_ref(self, key: str) -> dict:
        return {"$ref": "#/$defs/" + key}

    def convert_component(self, name: str, mode: str) -> dict:
        """Return the $defs entries (key -> schema) for one component."""
        schema = self.schemas[name]
        key = self.short[name]
        if name in self.bases:
            prop, mapping = self.bases[name]
            dispatcher = {
                "type": "object",
                "required": [prop],
                "properties": {prop: {"enum": sorted(mapping)}},
                "allOf": [
                    {
                        "if": {"properties": {prop: {"const": value}}, "required": [prop]},
                        "then": self.defs_ref(self.short[mapping[value]]),
                    }
                    for value in sorted(mapping)
                ],
            }
            return {key: dispatcher}
        subtype = self.subtype_of.get(name)
        if subtype:
            schema = self.flatten(name, schema, subtype[0])
        converted = self.convert(schema, mode, where=name, subtype=subtype)
        for pattern, prop, modes, change in PROSE_RULES:
            if mode not in modes or not re.fullmatch(pattern, name):
                continue
            target = converted.get("properties", {}).get(prop)
            if target is None:
                raise Fail(f"prose rule for {name}.{prop}: no such property")
            target.update(change)
        return {key: converted}

    def flatten(self, name: str, schema: dict, base_name: str) -> dict:
        """Merge the discriminator base into one of its subtypes (replacing ``allOf: [base]``)."""
        base = self.schemas[base_name]
        extra = set(base) - {"type", "properties", "required", "additionalProperties", "discriminator"}
        extra -= KNOWN_DROPPED
        if extra:
            raise Fail(f"{base_name}: cannot flatten a base with {sorted(extra)}")
        if base.get("type", "object") != "object" or schema.get("type", "object") != "object":
            raise Fail(f"{name}: subtype or base is not an object")
        base_ref = {"$ref": COMPONENT_PREFIX + base_name}
        all_of = [sub for sub in schema.get("allOf", []) if sub != base_ref]
        if len(all_of) != len(schema.get("allOf", [])) - 1:
            raise Fail(f"{name}: expected exactly one allOf reference to its base {base_name}")
        merged = {k: v for k, v in schema.items() if k != "allOf"}
        if all_of:
            merged["allOf"] = all_of
        properties = dict(base.get("properties", {}))
        for prop, sub in schema.get("properties", {}).items():
            if prop in properties and properties[prop] != sub:
                raise Fail(f"{name}.{prop} redefines the property of its base {base_name}")
            properties[prop] = sub
        merged["properties"] = properties
        required = list(base.get("required", []))
        required += [prop for prop in schema.get("required", []) if prop not in required]
        if required:
            merged["required"] = required
        return merged

    def convert(self, node, mode: str, where: str, subtype=None):
        if not isinstance(node, dict):
            raise Fail(f"{where}: schema is not an object: {node!r}")
        out = {}
        nullable = node.get("nullable") is True
        for key, value in node.items():
            if key in KNOWN_DROPPED or key.startswith("x-") or key in ("nullable", "discriminator"):
                continue
            if key == "format":
                if value == DATE_TIME_FORMAT:
                    out["pattern"] = DATE_TIME_PATTERN[mode]
                elif value in DROPPED_FORMATS:
                    pass
                else:
                    out["format"] = value
            elif key == "minLength" and value == 0:
                continue
            elif key == "type" and isinstance(value, str) and value not in JSON_TYPES:
                constant = CONSTANT_STRING.match(value)
                if constant:
                    out["const"] = constant.group(1)
                elif value in TYPE_FIXES:
                    for fix_key, fix_value in TYPE_FIXES[value].items():
                        out.setdefault(fix_key, fix_value)
                else:
                    raise Fail(f"{where}: unknown type {value!r}")
            elif key in KEEP_SCALARS:
                out[key] = value
            elif key == "$ref":
                out["$ref"] = "#/$defs/" + self.short[ref_name(value)]
            elif key == "properties":
                out["properties"] = {}
                for prop, sub in value.items():
                    converted = self.convert(sub, mode, f"{where}.{prop}")
                    if not sub.get("nullable") and NULL_IN_PROSE.search(sub.get("description") or ""):
                        converted = make_nullable(converted)
                    out["properties"][prop] = converted
            elif key == "items":
                out["items"] = self.convert(value, mode, f"{where}[]")
            elif key in ("allOf", "anyOf", "oneOf"):
                subs = [self.convert(sub, mode, f"{where}/{key}/{i}") for i, sub in enumerate(value)]
                if key == "oneOf" and mode == "response":
                    key = "anyOf"
                out[key] = subs
            elif key == "additionalProperties":
                if value is False:
                    if mode == "request":
                        out["unevaluatedProperties"] = False
                elif value is True:
                    pass
                else:
                    out["additionalProperties"] = self.convert(value, mode, f"{where}{{}}")
            else:
                raise Fail(f"{where}: unsupported keyword {key!r}")
        if subtype:
            _, prop, disc_value = subtype
            out.setdefault("properties", {})[prop] = {"const": disc_value}
        # A single-branch combinator is just its branch: allOf:[{$ref}] -> $ref.
        for comb in ("allOf", "anyOf", "oneOf"):
            if comb in out and len(out[comb]) == 1:
                only = out.pop(comb)[0]
                if set(only) == {"$ref"} and "$ref" not in out:
                    out["$ref"] = only["$ref"]
                else:
                    out.setdefault("allOf", []).append(only)
        if nullable:
            out = make_nullable(out)
        return out

    def document(self, root: dict, mode: str, where: str) -> dict:
        names = self.closure(root)
        defs = {}
        for name in sorted(names):
            for key, schema in self.convert_component(name, mode).items():
                defs[key] = schema
            if name in self.subtype_of and self.subtype_of[name][0] not in names:
                raise Fail(f"{name} reached without its base")
        doc = {"$schema": SCHEMA_DIALECT}
        doc.update(self.convert(root, mode, where))
        if defs:
            doc["$defs"] = defs
        return doc


def make_nullable(schema: dict) -> dict:
    if not schema:
        return schema  # already accepts anything, null included
    t = schema.get("type")
    if t is not None and not any(k in schema for k in ("$ref", "allOf", "anyOf", "oneOf")):
        out = dict(schema)
        types = t if isinstance(t, list) else [t]
        if "null" not in types:
            out["type"] = types + ["null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = out["enum"] + [None]
        return out
    return {"anyOf": [schema, {"type": "null"}]}


def slug(path: str) -> str:
    return path.strip("/").replace("/", "-")


def operation(spec: dict, path: str):
    item = spec["paths"].get(path)
    if item is None:
        return None
    if "post" not in item:
        raise Fail(f"{path}: no POST operation")
    return item["post"]


def json_media(container: dict | None) -> dict | None:
    if not container:
        return None
    content = container.get("content") or {}
    return content.get("application/json")


def examples_of(media: dict | None) -> dict:
    if not media:
        return {}
    out = {}
    if "example" in media:
        out["example"] = media["example"]
    for name, example in (media.get("examples") or {}).items():
        if "$ref" in example:
            raise Fail(f"example {name} is a $ref; not supported")
        if "value" in example:
            out[name] = example["value"]
    return out


def dumps(value) -> str:
    return json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def generate(openapi_path: Path) -> dict:
    """Return {relative output path: text}."""
    raw = openapi_path.read_bytes()
    spec = json.loads(raw)
    conv = Converter(spec)
    requests, responses, absent = {}, {}, {}
    index = {}
    files = {}
    for path in PATHS:
        op = operation(spec, path)
        if op is None:
            absent[path] = "not in this openapi.json snapshot"
            continue
        req_media = json_media(op.get("requestBody"))
        if req_media is None:
            # e.g. /api/2/menu takes no body: the bridge sends {} (or nothing).
            requests[path] = {"$schema": SCHEMA_DIALECT, "type": "object", "maxProperties": 0}
        else:
            requests[path] = conv.document(req_media["schema"], "request", path + " request")
        resp_media = json_media(op.get("responses", {}).get("200"))
        if resp_media is None:
            raise Fail(f"{path}: no application/json 200 response")
        responses[path] = conv.document(resp_media["schema"], "response", path + " response")

        resp_examples = examples_of(resp_media)
        req_examples = examples_of(req_media)
        index[path] = {
            "requestExamples": sorted(req_examples),
            "responseExamples": sorted(resp_examples),
        }
        if resp_examples:
            files[f"tests/fixtures/iiko-examples/{slug(path)}.json"] = dumps(resp_examples)
        if req_examples:
            files[f"tests/fixtures/iiko-examples/{slug(path)}.request.json"] = dumps(req_examples)

    source = {
        "file": "shared/iikocloud/openapi.json",
        "openapi": spec.get("openapi"),
        "sha256": hashlib.sha256(raw).hexdigest(),
    }
    subset = {
        "$comment": "Generated by scripts/iiko-schema-subset.py from the official iikoCloud schema. Do not edit.",
        "absent": absent,
        "requests": requests,
        "responses": responses,
        "source": source,
    }
    files["tests/fixtures/iiko-schema-subset.json"] = dumps(subset)
    files["tests/fixtures/iiko-examples/index.json"] = dumps(
        {
            "$comment": "Official examples per path, generated by scripts/iiko-schema-subset.py. "
            "An empty list means the snapshot has none for that path.",
            "absent": absent,
            "paths": index,
            "source": source,
        }
    )
    return files


def main() -> int:
    repo = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--openapi",
        type=Path,
        default=repo.parent / "shared" / "iikocloud" / "openapi.json",
        help="official schema (default: ../shared/iikocloud/openapi.json from the repository root)",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed files are stale")
    args = parser.parse_args()
    try:
        files = generate(args.openapi)
    except (Fail, OSError, ValueError, KeyError) as err:
        print(f"iiko-schema-subset: {err}", file=sys.stderr)
        return 2

    examples_dir = repo / "tests" / "fixtures" / "iiko-examples"
    stale_extra = []
    if examples_dir.is_dir():
        for entry in sorted(examples_dir.iterdir()):
            rel = entry.relative_to(repo).as_posix()
            if rel not in files:
                stale_extra.append(rel)

    if args.check:
        bad = []
        for rel, text in sorted(files.items()):
            target = repo / rel
            if not target.is_file() or target.read_text(encoding="utf-8") != text:
                bad.append(rel)
        bad.extend(f"{rel} (not generated any more)" for rel in stale_extra)
        if bad:
            print("iiko-schema-subset: out of date, run scripts/iiko-schema-subset.py:", file=sys.stderr)
            for rel in bad:
                print(f"  {rel}", file=sys.stderr)
            return 1
        print(f"iiko-schema-subset: {len(files)} files up to date")
        return 0

    for rel in stale_extra:
        os.remove(repo / rel)
    for rel, text in sorted(files.items()):
        target = repo / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
            print(f"wrote {rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
