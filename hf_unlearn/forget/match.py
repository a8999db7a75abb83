"""Rows named by column values (`forget_where`), by a filter over the columns (`forget_filter`), or listed in a
forget-spec file (`forget_file`): read without decoding a single image, and every value or filter that matches
nothing is an error naming it (never silently skipped)."""

from __future__ import annotations

import ast
import csv
import datetime as dt
import difflib
import io
import json
import operator
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ForgetSetError


@dataclass
class Resolved:
    """A request resolved against the training set: its rows (sorted), its groups (one per id value of a
    person-level request, in the order given) and what matched (counts only)."""

    rows: np.ndarray
    groups: list[tuple[str, np.ndarray]] = field(default_factory=list)
    matched: dict[str, Any] = field(default_factory=dict)


def parse_where(where: dict[str, Any] | str) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    """`{"column": [values]}` (or its JSON text) as sorted (column, values) pairs; a lone value is a list of one."""
    if isinstance(where, str):
        try:
            where = json.loads(where)
        except json.JSONDecodeError as err:
            raise ForgetSetError(f"forget_where = {where!r} is not JSON ({err.msg}): give a mapping of column to "
                                 "values, e.g. --forget_where '{\"user_id\": [\"u17\", \"u42\"]}'.") from None
    if not isinstance(where, dict) or not where:
        raise ForgetSetError(f"forget_where = {where!r} must be a non-empty mapping of column to values, e.g. "
                             "{\"user_id\": [\"u17\", \"u42\"]}.")
    pairs = []
    for column, values in where.items():
        values = list(values) if isinstance(values, (list, tuple)) else [values]
        if not values:
            raise ForgetSetError(f"forget_where[{column!r}] lists no value: give the ids to forget, e.g. "
                                 f"{{{column!r}: [\"u17\"]}}, or drop the column.")
        for value in values:
            if isinstance(value, (dict, list, tuple)) or value is None:
                raise ForgetSetError(f"forget_where[{column!r}] holds {value!r}: give plain values (ids, names, "
                                     "numbers); for ranges or conditions use forget_filter.")
        if len(set(map(repr, values))) != len(values):
            raise ForgetSetError(f"forget_where[{column!r}] lists a value twice: list each value once.")
        pairs.append((str(column), tuple(values)))
    return tuple(sorted(pairs))


def _column(dataset: Any, column: str, option: str) -> tuple[np.ndarray, Any]:
    """The values of `column` (an object array, no image decoded) and its feature; unknown or image columns
    are refused."""
    from datasets import ClassLabel, Image, Value

    features = dataset.features
    if column not in features:
        close = difflib.get_close_matches(column, list(features), n=1)
        raise ForgetSetError(f"{option}: the training set has no column {column!r} (columns: {list(features)})"
                             + (f"; did you mean {close[0]!r}?" if close else "") + ".")
    feature = features[column]
    if isinstance(feature, Image):
        raise ForgetSetError(f"{option}: {column!r} is the image column: to forget given images use forget_images.")
    if not isinstance(feature, (Value, ClassLabel)):
        raise ForgetSetError(f"{option}: column {column!r} holds {type(feature).__name__} values, not single values "
                             "(ids, names, numbers, dates): name a plain column.")
    values = np.empty(len(dataset), dtype=object)
    values[:] = dataset.select_columns([column])[column]
    return values, feature


def _as_column_type(value: Any, feature: Any, column: str) -> Any:
    """A requested value as the column holds it (ids read from a text file are text; a ClassLabel holds ids)."""
    from datasets import ClassLabel

    if isinstance(feature, ClassLabel):
        if isinstance(value, str) and value in feature.names:
            return feature.names.index(value)
        value_type = "int64"
    else:
        value_type = str(feature.dtype)
    try:
        if value_type.startswith(("int", "uint")):
            number = float(value)
            if not number.is_integer():
                raise ValueError
            return int(number)
        if value_type.startswith("float"):
            return float(value)
        if value_type == "bool":
            return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
        if "string" in value_type:
            return str(value)
    except (TypeError, ValueError):
        raise ForgetSetError(f"forget_where[{column!r}] value {value!r} cannot be a value of that column, which "
                             f"holds {value_type}.") from None
    return value


def resolve_where(dataset: Any, where: tuple[tuple[str, tuple[Any, ...]], ...]) -> Resolved:
    """Rows whose value in one of the columns is one of its values; one group per value (in the order given).
    A value that matches no row is an error listing every such value."""
    groups, missing = [], []
    for column, values in where:
        data, feature = _column(dataset, column, "forget_where")
        for value in values:
            wanted = _as_column_type(value, feature, column)
            rows = np.flatnonzero(data == wanted).astype(np.int64)
            if len(rows) == 0:
                present = sorted({str(v) for v in data if v is not None})
                close = difflib.get_close_matches(str(value), present, n=3)
                missing.append(f"{column}={value!r}" + (f" (close: {close})" if close else ""))
            groups.append((f"{column}={value}", rows))
    if missing:
        raise ForgetSetError(f"forget_where: {len(missing)} value(s) match no training row: {', '.join(missing[:20])}. "
                             "Check the ids (and that this is the dataset the model was trained on); remove values "
                             "that are not in it. Nothing was changed.")
    rows = np.unique(np.concatenate([g[1] for g in groups])).astype(np.int64)
    return Resolved(rows, groups, {"values": sum(len(v) for _, v in where), "rows_per_value": [len(g[1]) for g in groups]})


# ---------------------------------------------------------------------------------------------- filters
_COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
            ast.Gt: operator.gt, ast.GtE: operator.ge}
_HELP = ("a filter is comparisons of columns with values (==, !=, <, <=, >, >=, in, not in) joined by and / or / "
         "not, e.g. 'source == \"scraped\" and year < 2020'")


def parse_filter(expression: Any) -> ast.Expression:
    """The filter's syntax tree; anything but comparisons, `in`, `and`/`or`/`not`, column names and literal
    values is refused (the filter is never run as code)."""
    if not isinstance(expression, str) or not expression.strip():
        raise ForgetSetError(f"forget_filter = {expression!r} is empty: {_HELP}.")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as err:
        raise ForgetSetError(f"forget_filter = {expression!r} is not a valid filter ({err.msg}): {_HELP}.") from None
    allowed = (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.Compare, ast.Name,
               ast.Load, ast.Constant, ast.List, ast.Tuple, ast.In, ast.NotIn, *_COMPARE)
    for node in ast.walk(tree):
        if not isinstance(node, allowed):
            raise ForgetSetError(f"forget_filter = {expression!r} uses {type(node).__name__}, which a filter may not: "
                                 f"{_HELP}.")
    return tree


def _literal(node: ast.AST) -> Any:
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_literal(n) for n in node.elts]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_literal(node.operand)
    if isinstance(node, ast.Constant):
        return node.value
    raise ForgetSetError(f"forget_filter: {ast.unparse(node)!r} is not a column name or a literal value ({_HELP}).")


def _like(value: Any, sample: Any) -> Any:
    """A filter's literal as the column holds it: ISO text compared with a date column becomes a date."""
    if isinstance(value, str) and isinstance(sample, (dt.datetime, dt.date)):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ForgetSetError(f"forget_filter: {value!r} is compared with a date column but is not an ISO date "
                                 "(e.g. '2024-01-31').") from None
        return parsed if isinstance(sample, dt.datetime) else parsed.date()
    if isinstance(value, list):
        return [_like(v, sample) for v in value]
    return value


def resolve_filter(dataset: Any, expression: str) -> Resolved:
    """The rows the filter selects (an error when none)."""
    columns: dict[str, np.ndarray] = {}

    def operand(node: ast.AST) -> tuple[np.ndarray | None, Any]:
        if isinstance(node, ast.Name):
            if node.id not in columns:
                columns[node.id] = _column(dataset, node.id, "forget_filter")[0]
            return columns[node.id], None
        return None, _literal(node)

    def compare(left: ast.AST, op: ast.cmpop, right: ast.AST) -> np.ndarray:
        (lcol, lval), (rcol, rval) = operand(left), operand(right)
        if lcol is None and rcol is None:
            raise ForgetSetError(f"forget_filter: {ast.unparse(left)} {ast.unparse(right)} compares no column.")
        col, flipped = (lcol, False) if lcol is not None else (rcol, True)
        other = rcol if not flipped else lcol
        sample = next((v for v in col if v is not None), None)
        value = _like(rval if not flipped else lval, sample)
        if isinstance(op, (ast.In, ast.NotIn)):
            if flipped or other is not None or not isinstance(value, list):
                raise ForgetSetError(f"forget_filter: write `column in [values]` ({_HELP}).")
            wanted = set(value)
            out = np.fromiter((v in wanted for v in col), bool, len(col))
            return ~out if isinstance(op, ast.NotIn) else out
        fn = _COMPARE[type(op)]

        def safe(a: Any, b: Any) -> bool:
            try:
                return bool(fn(a, b))
            except TypeError:  # a missing value or a type the literal does not compare with
                return False

        if other is not None:
            return np.fromiter((safe(a, b) for a, b in zip(lcol, rcol, strict=True)), bool, len(col))
        return np.fromiter(((safe(v, value) if not flipped else safe(value, v)) for v in col), bool, len(col))

    def evaluate(node: ast.AST) -> np.ndarray:
        if isinstance(node, ast.Expression):
            return evaluate(node.body)
        if isinstance(node, ast.BoolOp):
            parts = [evaluate(v) for v in node.values]
            return np.logical_and.reduce(parts) if isinstance(node.op, ast.And) else np.logical_or.reduce(parts)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return ~evaluate(node.operand)
        if isinstance(node, ast.Compare):
            mask, left = np.ones(len(dataset), dtype=bool), node.left
            for op, right in zip(node.ops, node.comparators, strict=True):
                mask &= compare(left, op, right)
                left = right
            return mask
        raise ForgetSetError(f"forget_filter: {ast.unparse(node)!r} is not a condition ({_HELP}).")

    rows = np.flatnonzero(evaluate(parse_filter(expression))).astype(np.int64)
    if len(rows) == 0:
        raise ForgetSetError(f"forget_filter = {expression!r} selects no training row: nothing to forget. Check the "
                             "column names and values (text values need quotes).")
    return Resolved(rows, [], {"columns": sorted(columns)})


# ---------------------------------------------------------------------------------------------- files
def read_forget_file(path: str, column: str | None = None) -> tuple[str, list[Any]]:
    """(column, values) of a forget-spec file: `.json` (a list, or `{column: [values]}`), `.csv` (a header row;
    `column` picks one of several columns) or text (one value per line; `#` starts a comment). The column is
    `index` (row numbers) unless the file or `column` names another."""
    if not os.path.isfile(path):
        raise ForgetSetError(f"forget_file = {path!r} does not exist: give a .txt, .csv or .json file of ids or row "
                             "indices.")
    suffix = os.path.splitext(path)[1].lower()
    try:  # as people's tools write them: a UTF-8 byte-order mark (Excel, Windows) and CRLF line ends are read alike
        with open(path, encoding="utf-8-sig", newline="") as f:
            text = f.read()
    except UnicodeDecodeError as err:
        raise ForgetSetError(f"forget_file = {path!r} is not UTF-8 text (byte {err.start}: {err.reason}): give a .txt, "
                             ".csv or .json file of ids or row numbers, saved as UTF-8 (e.g. Excel's 'CSV UTF-8').") from None
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ForgetSetError(f"forget_file = {path!r} is not valid JSON ({err.msg}, line {err.lineno}).") from None
        if isinstance(data, dict):
            if len(data) != 1:
                raise ForgetSetError(f"forget_file = {path!r} names {len(data)} columns ({list(data)}): one column per "
                                     "file; for several use forget_where.")
            (named, values), = data.items()
            column = "index" if named in ("index", "indices", "rows") else named
        elif isinstance(data, list):
            values = data
        else:
            raise ForgetSetError(f"forget_file = {path!r} holds a JSON {type(data).__name__}: give a list of ids, or "
                                 "{\"user_id\": [...]}.")
    elif suffix == ".csv":
        table = [row for row in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in row)]
        if len(table) < 2:
            raise ForgetSetError(f"forget_file = {path!r} needs a header row naming the column and at least one value.")
        header = [h.strip() for h in table[0]]
        if column is None and len(header) > 1:
            raise ForgetSetError(f"forget_file = {path!r} has columns {header}: name the one holding the ids with "
                                 "--forget_file_column.")
        pick = column if column is not None else header[0]
        if pick not in header:
            raise ForgetSetError(f"forget_file_column = {pick!r} is not a column of {path!r} (columns: {header}).")
        values = [row[header.index(pick)].strip() for row in table[1:] if len(row) > header.index(pick)]
        values = [v for v in values if v]
        column = "index" if pick in ("index", "row") else pick
    else:
        values = [line.split("#", 1)[0].strip() for line in text.splitlines()]
        values = [v for v in values if v]
    column = column or "index"
    if not values:
        raise ForgetSetError(f"forget_file = {path!r} lists no id: nothing to forget.")
    if column == "index":
        rows = []
        for number, value in enumerate(values, start=1):
            try:
                rows.append(int(str(value)))
            except ValueError:
                raise ForgetSetError(f"forget_file = {path!r}: value {number} ({value!r}) is not a row index. If the "
                                     "file lists ids, name their column: --forget_file_column user_id.") from None
        return "index", rows
    return column, list(values)
