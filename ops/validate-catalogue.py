#!/usr/bin/env python3
"""Checks the topic catalogue: JSON Schemas, the AsyncAPI document and sample records.

    ops/validate-catalogue.py --schemas schemas/ [--asyncapi asyncapi.yaml] [--samples DIR]

--schemas DIR    every DIR/*.schema.json must be a valid JSON Schema draft 2020-12 document.
--asyncapi FILE  FILE must be an AsyncAPI 3.x document that the asyncapi3 object model accepts;
                 every `$ref` must resolve: `#/...` inside FILE, anything else to a file (relative
                 to FILE's folder) that is one of the schema files of --schemas.
--samples DIR    DIR/<stem>/*.json are records (one per file), each validated against
                 <schemas>/<stem>.schema.json with format checking (date-time included).

Prints one line per problem (`file: path.to.field: message`), then a summary line; exits 1 when
there was any problem, 0 otherwise.

Needs jsonschema 4.x and rfc3339-validator (date-time checks); --asyncapi also needs PyYAML and
asyncapi3==0.0.2. ops/install-deps installs them into .venv/.
"""

import argparse
import json
import re
import sys
import warnings
from decimal import Decimal
from pathlib import Path
from urllib.parse import unquote

DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_SUFFIX = ".schema.json"
ASYNCAPI3_PIN = "asyncapi3==0.0.2"
MAX_MESSAGE = 300

try:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError, best_match
except ImportError as exc:  # nothing can be checked without it
    print(f"validate-catalogue: cannot import jsonschema ({exc}); install it: pip install 'jsonschema>=4,<5'",
          file=sys.stderr)
    sys.exit(1)


# ------------------------------------------------------------------------------------------ output

class Report:
    def __init__(self) -> None:
        self.problems = 0

    def problem(self, where: object, path: str, message: str) -> None:
        message = " ".join(str(message).split())
        if len(message) > MAX_MESSAGE:
            message = message[: MAX_MESSAGE - 1] + "…"
        print(f"{where}: {path or '(root)'}: {message}")
        self.problems += 1


def dotted(parts) -> str:
    """`items[0].hs_code` from ['items', 0, 'hs_code']."""
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out or "(root)"


# ------------------------------------------------------------------------------------ strict JSON

class _Pairs(list):
    """An object's key/value pairs as parsed, so that duplicate keys can be reported with a path."""


def _no_constants(name: str):
    raise ValueError(f"{name} is not valid JSON")


def load_json(path: Path, report: Report, *, exact_numbers: bool):
    """Parses one JSON file; reports and returns None when it can't. With exact_numbers, every
    non-integer literal becomes a Decimal, so `412.0` is not an integer (the Swift decoder
    rejects it too) and money amounts keep their digits."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        report.problem(path, "", f"cannot read: {exc}")
        return None
    try:
        raw = json.loads(text, object_pairs_hook=_Pairs, parse_constant=_no_constants,
                         parse_float=Decimal if exact_numbers else float)
    except ValueError as exc:
        report.problem(path, "", f"not valid JSON: {exc}")
        return None

    def build(node, parts):
        if isinstance(node, _Pairs):
            obj = {}
            for key, value in node:
                if key in obj:
                    report.problem(path, dotted(parts + [key]), "duplicate key (which value counts is undefined)")
                obj[key] = build(value, parts + [key])
            return obj
        if isinstance(node, list):
            return [build(v, parts + [i]) for i, v in enumerate(node)]
        return node

    return build(raw, [])


def resolve_pointer(doc, fragment: str):
    """Resolves a JSON Pointer fragment (the part after `#`); raises LookupError when it can't."""
    if fragment == "":
        return doc
    if not fragment.startswith("/"):
        raise LookupError(f"'{fragment}' is not a JSON Pointer (anchors are not supported here)")
    node = doc
    for token in unquote(fragment)[1:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            raise LookupError(f"nothing at '{token}'")
    return node


# ---------------------------------------------------------------------------------------- schemas

def check_schemas(schema_dir: Path, report: Report):
    """Returns {stem: path} for every schema file and {stem: validator} for the valid ones."""
    files: dict[str, Path] = {}
    validators: dict[str, Draft202012Validator] = {}
    if not schema_dir.is_dir():
        report.problem(schema_dir, "", "--schemas is not a directory")
        return files, validators
    for path in sorted(schema_dir.glob("*" + SCHEMA_SUFFIX)):
        stem = path.name[: -len(SCHEMA_SUFFIX)]
        files[stem] = path
        doc = load_json(path, report, exact_numbers=False)
        if doc is None:
            continue
        if not isinstance(doc, dict):
            report.problem(path, "", "a schema file must hold a JSON object")
            continue
        if doc.get("$schema") != DRAFT_2020_12:
            report.problem(path, "$schema", f"must be \"{DRAFT_2020_12}\", got {json.dumps(doc.get('$schema'))}")
            continue
        schema_id = doc.get("$id")
        if isinstance(schema_id, str) and schema_id.rstrip("/").rsplit("/", 1)[-1] != path.name:
            report.problem(path, "$id", f"\"{schema_id}\" does not end in the file's name \"{path.name}\"")
        try:
            Draft202012Validator.check_schema(doc)
        except SchemaError:
            # check_schema stops at one error; list them all, the same way it finds them.
            meta = Draft202012Validator(Draft202012Validator.META_SCHEMA,
                                        format_checker=Draft202012Validator.FORMAT_CHECKER)
            for err in sorted(meta.iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path]):
                report.problem(path, dotted(err.absolute_path), f"not a valid 2020-12 schema: {err.message}")
            continue
        validators[stem] = Draft202012Validator(doc, format_checker=Draft202012Validator.FORMAT_CHECKER)
    if not files:
        report.problem(schema_dir, "", f"no *{SCHEMA_SUFFIX} files")
    return files, validators


# ---------------------------------------------------------------------------------------- samples

_DECIMAL_REPR = re.compile(r"Decimal\('([^']*)'\)")
_REQUIRED = re.compile(r"^'(.+)' is a required property$")


def explain(err):
    """(error, message) pairs that say what is wrong. An anyOf/oneOf error ("is not valid under any
    of the given schemas") is replaced by the errors of the branch whose type the value has (for
    a nullable money object, the money object's own errors), or by one "is not of type" listing
    every branch's type when the value has none of them."""
    if not err.context or err.validator not in ("anyOf", "oneOf"):
        return [(err, err.message)]
    branches: dict = {}
    for sub in err.context:
        branches.setdefault(sub.relative_schema_path[0] if sub.relative_schema_path else None, []).append(sub)
    wrong_type = {b for b, subs in branches.items()
                  if any(s.validator == "type" and not s.relative_path for s in subs)}
    fitting = [subs for b, subs in branches.items() if b not in wrong_type]
    if fitting:
        return [pair for sub in min(fitting, key=len) for pair in explain(sub)]
    expected = []
    for subs in branches.values():
        for s in subs:
            if s.validator == "type" and not s.relative_path:
                for t in s.validator_value if isinstance(s.validator_value, list) else [s.validator_value]:
                    if t not in expected:
                        expected.append(t)
    if expected:
        return [(err, f"{err.instance!r} is not of type " + " or ".join(repr(t) for t in expected))]
    return [(best, best.message) for best in [best_match([err])]]


def check_samples(sample_dir: Path, schema_dir: Path, files: dict, validators: dict, report: Report) -> int:
    if not sample_dir.is_dir():
        report.problem(sample_dir, "", "--samples is not a directory")
        return 0
    if "date-time" not in Draft202012Validator.FORMAT_CHECKER.checkers:
        report.problem(sample_dir, "", "date-time format checking is unavailable because the rfc3339-validator "
                       "package cannot be imported; install it (pip install rfc3339-validator) so that "
                       "timestamps are checked")
    checked = 0
    for entry in sorted(sample_dir.iterdir()):
        if entry.name.startswith("."):
            continue
        if not entry.is_dir():
            if entry.suffix == ".json":
                report.problem(entry, "", "samples belong in a subdirectory named after a schema, "
                               f"e.g. {sample_dir / 'parcel.event'}/")
            continue
        stem = entry.name
        if stem not in files:
            report.problem(entry, "", f"no schema {schema_dir / (stem + SCHEMA_SUFFIX)} for this sample directory")
            continue
        validator = validators.get(stem)
        if validator is None:
            report.problem(entry, "", f"samples not checked: {files[stem]} is not a usable schema (see above)")
            continue
        for path in sorted(entry.glob("*.json")):
            checked += 1
            record = load_json(path, report, exact_numbers=True)
            if record is None:
                continue
            try:
                errors = list(validator.iter_errors(record))
            except Exception as exc:  # e.g. an unresolvable $ref inside the schema
                report.problem(path, "", f"validation could not run against {files[stem]}: {exc}")
                continue
            explained = [e for err in errors for e in explain(err)]
            for err, message in sorted(explained, key=lambda em: [str(p) for p in em[0].absolute_path]):
                parts = list(err.absolute_path)
                message = _DECIMAL_REPR.sub(r"\1", message)
                missing = _REQUIRED.match(message) if err.validator == "required" else None
                if missing:
                    parts.append(missing.group(1))
                    message = "missing required field"
                report.problem(path, dotted(parts), message)
    return checked


# --------------------------------------------------------------------------------------- asyncapi

_ASYNCAPI_VERSION = re.compile(r"^3\.\d+\.\d+(-[\w.\-]+)?$")
_URI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
# How pydantic names union branches and validator wrappers in an error location (not document keys).
_PYDANTIC_TAG = re.compile(r"[\[\]()]|^(str|int|float|bool|none|list|dict|any)$")


def import_asyncapi3():
    with warnings.catch_warnings():
        # asyncapi3 0.0.2 warns that its `schema` fields shadow a BaseModel attribute: harmless.
        warnings.simplefilter("ignore")
        from asyncapi3 import AsyncAPI3
        from pydantic import BaseModel, ValidationError
    model_names = set()
    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("asyncapi3."):
            for name, value in vars(module).items():
                if isinstance(value, type) and issubclass(value, BaseModel):
                    model_names.add(name)
    return AsyncAPI3, ValidationError, model_names


def readable_pydantic_errors(errors: list, doc, model_names: set):
    """(path, message) pairs for pydantic errors: the location is walked against the document so
    that union-branch and validator names drop out, and the `$ref` branch of an
    `Object | Reference` union is not reported when the object branch explains the error."""
    digested = []
    for err in errors:
        loc = err.get("loc", ())
        node, parts, tags = doc, [], []
        for i, seg in enumerate(loc):
            if isinstance(node, dict) and isinstance(seg, str) and seg in node:
                parts.append(seg)
                node = node[seg]
            elif isinstance(node, list) and isinstance(seg, int) and 0 <= seg < len(node):
                parts.append(seg)
                node = node[seg]
            elif isinstance(seg, str) and (seg in model_names or _PYDANTIC_TAG.search(seg)):
                tags.append((len(parts), seg))
            elif i == len(loc) - 1:
                parts.append(seg)  # a missing or unexpected field
                node = None
            else:
                tags.append((len(parts), str(seg)))
        message = err.get("msg", "invalid")
        message = re.sub(r"^(Value|Assertion) error, ", "", message)
        if err.get("type") not in ("missing", "extra_forbidden") and "input" in err:
            shown = err["input"]
            if not isinstance(shown, (dict, list)):
                message += f" (got {shown!r:.60})"
        digested.append((parts, tags, message))

    kept, seen = [], set()
    for parts, tags, message in digested:
        ref_at = next((pos for pos, tag in tags if tag == "Reference"), None)
        if ref_at is not None:
            prefix = parts[:ref_at]
            other_branch = any(
                o_parts[:ref_at] == prefix and any(pos == ref_at for pos, _ in o_tags)
                and not any(pos == ref_at and tag == "Reference" for pos, tag in o_tags)
                for o_parts, o_tags, _ in digested)
            if other_branch:
                continue
        line = (dotted(parts), message)
        if line not in seen:
            seen.add(line)
            kept.append(line)
    return kept


def collect_refs(node, parts, out):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                out.append((parts + [key], value))
            else:
                collect_refs(value, parts + [key], out)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            collect_refs(value, parts + [i], out)


def check_asyncapi(path: Path, schema_files: dict, report: Report) -> None:
    try:
        import yaml
    except ImportError as exc:
        report.problem(path, "", f"cannot import PyYAML ({exc}); install it: pip install pyyaml")
        return
    try:
        with open(path, encoding="utf-8") as stream:
            doc = yaml.safe_load(stream)
    except (OSError, UnicodeDecodeError) as exc:
        report.problem(path, "", f"cannot read: {exc}")
        return
    except yaml.YAMLError as exc:
        report.problem(path, "", f"not valid YAML: {exc}")
        return
    if not isinstance(doc, dict):
        report.problem(path, "", "an AsyncAPI document must be a mapping at the top level")
        return

    version = doc.get("asyncapi")
    version_ok = False
    if not isinstance(version, str):
        hint = " (quote it in YAML: asyncapi: \"3.0.0\")" if isinstance(version, (int, float)) else ""
        report.problem(path, "asyncapi", f"must be a version string such as \"3.0.0\", got {version!r}{hint}")
    elif not _ASYNCAPI_VERSION.match(version):
        report.problem(path, "asyncapi", f"must be an AsyncAPI 3.x version (major.minor.patch), got \"{version}\"")
    else:
        version_ok = True

    try:
        AsyncAPI3, ValidationError, model_names = import_asyncapi3()
    except Exception as exc:  # ImportError, or a pydantic that asyncapi3 cannot work with
        report.problem(path, "", f"object-model validation skipped: cannot import asyncapi3 ({type(exc).__name__}: "
                       f"{exc}); install it: pip install {ASYNCAPI3_PIN}")
    else:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                AsyncAPI3.model_validate(doc)
        except ValidationError as exc:
            for where, message in readable_pydantic_errors(exc.errors(include_url=False), doc, model_names):
                if where == "asyncapi" and not version_ok:
                    continue  # already said above
                report.problem(path, where, message)
        except Exception as exc:  # a bug or limit of asyncapi3 itself: say so instead of a traceback
            report.problem(path, "", f"asyncapi3 failed on this document: {type(exc).__name__}: {exc}")

    known = {p.resolve(): stem for stem, p in schema_files.items()}
    refs = []
    collect_refs(doc, [], refs)
    loaded: dict[Path, object] = {}
    for parts, ref in refs:
        where = dotted(parts)
        if not isinstance(ref, str):
            report.problem(path, where, f"$ref must be a string, got {ref!r:.60}")
            continue
        if ref.startswith("#"):
            try:
                resolve_pointer(doc, ref[1:])
            except LookupError as exc:
                report.problem(path, where, f"\"{ref}\" does not resolve in this document: {exc}")
            continue
        if _URI_SCHEME.match(ref) and not ref.lower().startswith("file:"):
            continue  # a remote reference: not ours to check
        target_text, _, fragment = ref.partition("#")
        if target_text.lower().startswith("file:"):
            target_text = re.sub(r"^file:(//)?", "", target_text, flags=re.I)
        target = (path.parent / unquote(target_text)).resolve()
        if not target.is_file():
            report.problem(path, where, f"\"{ref}\" points to a file that does not exist ({target})")
            continue
        if target not in known:
            report.problem(path, where, f"\"{ref}\" is not one of the schema files in --schemas "
                           f"({', '.join(sorted(p.name for p in schema_files.values())) or 'none'})")
            continue
        if fragment:
            if target not in loaded:
                try:
                    loaded[target] = json.loads(target.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    loaded[target] = None  # already reported by the schema check
            if loaded[target] is not None:
                try:
                    resolve_pointer(loaded[target], fragment)
                except LookupError as exc:
                    report.problem(path, where, f"\"{ref}\": fragment does not resolve in {target.name}: {exc}")


# ------------------------------------------------------------------------------------------- main

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description="Validate the topic catalogue: JSON Schemas, the AsyncAPI document and sample records.")
    parser.add_argument("--schemas", required=True, type=Path, metavar="DIR",
                        help="directory of *.schema.json files (JSON Schema draft 2020-12)")
    parser.add_argument("--asyncapi", type=Path, metavar="FILE", help="AsyncAPI 3.x document (YAML or JSON)")
    parser.add_argument("--samples", type=Path, metavar="DIR",
                        help="directory of <schema stem>/*.json sample records")
    args = parser.parse_args(argv)

    report = Report()
    files, validators = check_schemas(args.schemas, report)
    checked = 0
    if args.asyncapi is not None:
        check_asyncapi(args.asyncapi, files, report)
    if args.samples is not None:
        checked = check_samples(args.samples, args.schemas, files, validators, report)

    summary = f"validate-catalogue: {len(files)} schema file(s)"
    if args.asyncapi is not None:
        summary += f", asyncapi {args.asyncapi}"
    if args.samples is not None:
        summary += f", {checked} sample(s)"
    summary += f": {report.problems} problem(s)" if report.problems else ": ok"
    print(summary)
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
