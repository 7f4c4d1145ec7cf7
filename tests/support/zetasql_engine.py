"""Google's ZetaSQL, the SQL front end BigQuery is built on, as the check of the BigQuery side.

The `zetasql` package runs ZetaSQL's local service as WebAssembly (through wasmtime), with no
network and no native build. Its analyzer resolves a statement against a catalog: names, types,
function signatures, parameters. Its reference engine evaluates a query over given table contents.
The language is every released feature in BigQuery's product mode (external: no INT32, UINT or
PROTO types). One service per process: loading it compiles the WebAssembly module (about 10 s).
"""

from __future__ import annotations

import ctypes
import dataclasses
import datetime as dt
import decimal
import functools
from typing import Any

from google.protobuf import empty_pb2, timestamp_pb2
from zetasql.core.exceptions import ServerError
from zetasql.core.local_service import ZetaSqlLocalService
from zetasql.wasi._pb2.zetasql.local_service import local_service_pb2 as service_pb2
from zetasql.wasi._pb2.zetasql.proto import options_pb2, simple_catalog_pb2
from zetasql.wasi._pb2.zetasql.public import options_pb2 as public_options_pb2
from zetasql.wasi._pb2.zetasql.public import type_pb2, value_pb2

EPOCH = dt.date(1970, 1, 1)
Path = tuple[str, ...]  # a table's name as catalog path: ("attribution", "sync_ledger")
Columns = list[tuple[str, type_pb2.TypeProto]]


class ZetaSQLRejected(Exception):
    """ZetaSQL refused a statement: its message, and the statement."""


@functools.lru_cache(maxsize=1)
def engine() -> ZetaSQL:
    return ZetaSQL()


@dataclasses.dataclass
class Catalog:
    """Tables by path, each with its columns in order."""

    tables: dict[Path, Columns] = dataclasses.field(default_factory=dict)
    registered: tuple[bytes, int] | None = dataclasses.field(default=None, compare=False)

    def nested(self, language: options_pb2.LanguageOptionsProto) -> simple_catalog_pb2.SimpleCatalogProto:
        """As BigQuery resolves names: a dataset is a catalog inside the root (a project one more)."""
        root = _catalog("", language)
        for path, columns in self.tables.items():
            parent = root
            for part in path[:-1]:
                parent = next((c for c in parent.catalog if c.name == part), None) or parent.catalog.add(name=part)
            _add_table(parent, path[-1], columns).full_name = ".".join(path)
        return root

    def flat(self, language: options_pb2.LanguageOptionsProto, paths: list[Path],
             keys: dict[Path, list[str]] | None = None) -> simple_catalog_pb2.SimpleCatalogProto:
        """The given tables at the root under `flat_name`s: the reference engine only gives
        content to tables of the root catalog. `keys` names primary key columns."""
        root = _catalog("", language)
        for path in paths:
            table = _add_table(root, flat_name(path), self.tables[path])
            names = [c for c, _ in self.tables[path]]
            table.primary_key_column_index.extend(names.index(c) for c in (keys or {}).get(path, []))
        return root


def flat_name(path: Path) -> str:
    return "__".join(path)


def _catalog(name: str, language) -> simple_catalog_pb2.SimpleCatalogProto:
    catalog = simple_catalog_pb2.SimpleCatalogProto(name=name)
    catalog.builtin_function_options.language_options.CopyFrom(language)
    return catalog


def _add_table(parent, name: str, columns: Columns):
    table = parent.table.add(name=name)
    for column, kind in columns:
        table.column.add(name=column, type=kind)
    return table


class ZetaSQL:
    def __init__(self) -> None:
        client = ZetaSqlLocalService.get_instance().wasm_client
        _copy_memory_in_one_go(client)
        self._call = client.call_grpc_func
        language = self._rpc("GetLanguageOptions", service_pb2.LanguageOptionsRequest(maximum_features=True),
                             options_pb2.LanguageOptionsProto)
        language.product_mode = public_options_pb2.PRODUCT_EXTERNAL
        language.name_resolution_mode = public_options_pb2.NAME_RESOLUTION_DEFAULT
        del language.supported_statement_kinds[:]  # empty: every statement kind (the default is queries only)
        self.language = language
        self._analysed: dict[tuple, Any] = {}

    def _rpc(self, method: str, request, response_type):
        try:
            return self._call(f"ZetaSqlLocalService_{method}", request, response_type)
        except ServerError as error:
            raise ZetaSQLRejected(str(error)) from None

    def options(self, params: dict[str, type_pb2.TypeProto]) -> options_pb2.AnalyzerOptionsProto:
        """Exactly the given parameters are declared; any other is an error."""
        options = options_pb2.AnalyzerOptionsProto(language_options=self.language)
        options.allow_undeclared_parameters = False
        options.error_message_mode = public_options_pb2.ERROR_MESSAGE_ONE_LINE
        options.default_timezone = "UTC"  # BigQuery's; ZetaSQL's own default is America/Los_Angeles
        for name, kind in sorted(params.items()):
            options.query_parameters.add(name=name, type=kind)
        return options

    @functools.lru_cache(maxsize=64)  # noqa: B019 - one engine per process
    def type_named(self, bigquery_type: str) -> type_pb2.TypeProto:
        """A type from BigQuery's own spelling (`INT64`, `ARRAY<STRING>`), resolved by ZetaSQL."""
        statement = self.analyze(f"SELECT CAST(NULL AS {bigquery_type}) AS v", Catalog(), {})
        return statement.resolved_query_stmt_node.output_column_list[0].column.type

    def analyze(self, sql: str, catalog: Catalog, params: dict[str, type_pb2.TypeProto]):
        """The resolved statement. Runs render the same statements against the same tables over and
        over: each distinct (statement, catalog, parameter types) is analysed once."""
        registered = self._registered(catalog)
        key = (sql, catalog.registered[0], tuple(sorted((k, v.SerializeToString()) for k, v in params.items())))
        if key not in self._analysed:
            request = service_pb2.AnalyzeRequest(sql_statement=sql, options=self.options(params),
                                                 registered_catalog_id=registered)
            self._analysed[key] = self._rpc("Analyze", request, service_pb2.AnalyzeResponse).resolved_statement
        return self._analysed[key]

    def _registered(self, catalog: Catalog) -> int:
        """The catalog registered with the service, so its built-in functions are set up once
        per version of the catalog rather than on every call (about 10 ms each)."""
        nested = catalog.nested(self.language)
        key = nested.SerializeToString(deterministic=True)
        if catalog.registered is None or catalog.registered[0] != key:
            if catalog.registered is not None:
                self._rpc("UnregisterCatalog", service_pb2.UnregisterRequest(registered_id=catalog.registered[1]),
                          empty_pb2.Empty)
            found = self._rpc("RegisterCatalog", service_pb2.RegisterCatalogRequest(simple_catalog=nested),
                              service_pb2.RegisterResponse)
            catalog.registered = (key, found.registered_id)
        return catalog.registered[1]

    @functools.lru_cache(maxsize=256)  # noqa: B019 - one engine per process
    def parse(self, sql: str):
        request = service_pb2.ParseRequest(sql_statement=sql, options=self.language)
        return self._rpc("Parse", request, service_pb2.ParseResponse).parsed_statement

    @functools.lru_cache(maxsize=256)  # noqa: B019 - one engine per process
    def table_paths(self, sql: str) -> list[Path]:
        request = service_pb2.ExtractTableNamesFromStatementRequest(sql_statement=sql, options=self.language)
        found = self._rpc("ExtractTableNamesFromStatement", request, service_pb2.ExtractTableNamesFromStatementResponse)
        return [tuple(name.table_name_segment) for name in found.table_name]

    def evaluate(self, sql: str, catalog: Catalog, paths: list[Path], contents: dict[Path, list[list[Any]]],
                 params: dict[str, tuple[type_pb2.TypeProto, Any]]) -> tuple[Columns, list[tuple]]:
        """Run a query whose tables are named by `flat_name` on the reference engine."""
        request = self._with_inputs(service_pb2.EvaluateQueryRequest(sql=sql), catalog, paths, contents, params)
        answer = self._rpc("EvaluateQuery", request, service_pb2.EvaluateQueryResponse)
        columns = [(c.name, c.type) for c in answer.prepared.columns]
        rows = [tuple(from_value(cell, kind) for cell, (_, kind) in zip(row.cell, columns))
                for row in answer.content.table_data.row]
        return columns, rows

    def modify(self, sql: str, catalog: Catalog, paths: list[Path], contents: dict[Path, list[list[Any]]],
               params: dict[str, tuple[type_pb2.TypeProto, Any]], target: Path,
               key: list[str]) -> list[tuple[str, tuple, tuple]]:
        """Run an INSERT, UPDATE or DELETE on the reference engine. Returns each change to
        `target` as (INSERT | UPDATE | DELETE, the row's new values, the old row's key)."""
        request = self._with_inputs(service_pb2.EvaluateModifyRequest(sql=sql), catalog, paths, contents, params,
                                    keys={target: key})
        answer = self._rpc("EvaluateModify", request, service_pb2.EvaluateModifyResponse)
        kinds = [kind for _, kind in catalog.tables[target]]
        key_kinds = [dict(catalog.tables[target])[c] for c in key]
        operation = service_pb2.EvaluateModifyResponse.Row.Operation.Name
        return [(operation(row.operation), tuple(from_value(c, k) for c, k in zip(row.cell, kinds)),
                 tuple(from_value(c, k) for c, k in zip(row.old_primary_key, key_kinds)))
                for row in answer.content]

    def _with_inputs(self, request, catalog: Catalog, paths: list[Path], contents: dict[Path, list[list[Any]]],
                     params: dict[str, tuple[type_pb2.TypeProto, Any]], keys: dict[Path, list[str]] | None = None):
        request.options.CopyFrom(self.options({name: kind for name, (kind, _) in params.items()}))
        request.simple_catalog.CopyFrom(catalog.flat(self.language, paths, keys))
        for path in paths:
            kinds = [kind for _, kind in catalog.tables[path]]
            data = request.table_content[flat_name(path)].table_data
            data.SetInParent()  # an empty table still has content: no rows
            for row in contents[path]:
                data.row.add(cell=[to_value(v, kind) for v, kind in zip(row, kinds)])
        for name, (kind, value) in sorted(params.items()):
            request.params.add(name=name, value=to_value(value, kind))
        return request


def _copy_memory_in_one_go(client) -> None:
    """The package copies requests and responses into and out of WebAssembly memory one byte at a
    time in Python; a table's content is tens of kilobytes. Copy each in one call instead."""
    def base() -> int:
        return ctypes.addressof(client.memory.data_ptr().contents)

    client.write_bytes = lambda ptr, data: ctypes.memmove(base() + ptr, data, len(data))
    client.read_bytes = lambda ptr, size: ctypes.string_at(base() + ptr, size)


def type_name(kind: type_pb2.TypeProto) -> str:
    """BigQuery's name of a type, for messages and comparisons."""
    if kind.type_kind == type_pb2.TYPE_ARRAY:
        return f"ARRAY<{type_name(kind.array_type.element_type)}>"
    return {type_pb2.TYPE_DOUBLE: "FLOAT64"}.get(kind.type_kind, type_pb2.TypeKind.Name(kind.type_kind)[len("TYPE_"):])


_NUMERIC_SCALES = {type_pb2.TYPE_NUMERIC: 9, type_pb2.TYPE_BIGNUMERIC: 38}


def to_value(value: Any, kind: type_pb2.TypeProto) -> value_pb2.ValueProto:
    if value is None:
        return value_pb2.ValueProto()  # no field set: NULL
    k = kind.type_kind
    if k == type_pb2.TYPE_INT64 and isinstance(value, int) and not isinstance(value, bool):
        return value_pb2.ValueProto(int64_value=value)
    if k == type_pb2.TYPE_STRING and isinstance(value, str):
        return value_pb2.ValueProto(string_value=value)
    if k == type_pb2.TYPE_BOOL and isinstance(value, bool):
        return value_pb2.ValueProto(bool_value=value)
    if k == type_pb2.TYPE_DOUBLE and isinstance(value, (int, float)) and not isinstance(value, bool):
        return value_pb2.ValueProto(double_value=float(value))
    if k == type_pb2.TYPE_DATE and isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value_pb2.ValueProto(date_value=(value - EPOCH).days)
    if k == type_pb2.TYPE_TIMESTAMP and isinstance(value, dt.datetime) and value.tzinfo is not None:
        micros = round(value.timestamp() * 1_000_000)
        return value_pb2.ValueProto(timestamp_value=timestamp_pb2.Timestamp(
            seconds=micros // 1_000_000, nanos=(micros % 1_000_000) * 1000))
    if k == type_pb2.TYPE_DATETIME and isinstance(value, dt.datetime) and value.tzinfo is None:
        # ZetaSQL packs a civil date and time into bits: |year:14|month:4|day:5|hour:5|minute:6|second:6|.
        packed = (((((value.year << 4 | value.month) << 5 | value.day) << 5 | value.hour) << 6 | value.minute) << 6
                  | value.second)
        return value_pb2.ValueProto(datetime_value=value_pb2.ValueProto.Datetime(
            bit_field_datetime_seconds=packed, nanos=value.microsecond * 1000))
    if k in _NUMERIC_SCALES and isinstance(value, (int, decimal.Decimal)) and not isinstance(value, bool):
        # ZetaSQL's NUMERIC and BIGNUMERIC: the value times 10^scale, in the fewest little-endian
        # two's complement bytes.
        scaled = int(decimal.Decimal(value).scaleb(_NUMERIC_SCALES[k]))
        field = "numeric_value" if k == type_pb2.TYPE_NUMERIC else "bignumeric_value"
        return value_pb2.ValueProto(**{field: scaled.to_bytes(scaled.bit_length() // 8 + 1, "little", signed=True)})
    if k == type_pb2.TYPE_JSON and isinstance(value, str):
        return value_pb2.ValueProto(json_value=value)
    if k == type_pb2.TYPE_ARRAY and isinstance(value, (list, tuple)):
        element = kind.array_type.element_type
        return value_pb2.ValueProto(array_value=value_pb2.ValueProto.Array(element=[to_value(v, element) for v in value]))
    raise TypeError(f"{value!r} ({type(value).__name__}) is not a {type_name(kind)} value")


def from_value(value: value_pb2.ValueProto, kind: type_pb2.TypeProto) -> Any:
    """As BigQuery's Python client returns it: INT64 int, FLOAT64 float, DATE date, TIMESTAMP an
    aware datetime in UTC, STRING str, BOOL bool, NULL None."""
    field = value.WhichOneof("value")
    if field is None:
        return None
    if field == "timestamp_value":
        ts = value.timestamp_value
        return dt.datetime.fromtimestamp(ts.seconds, dt.timezone.utc) + dt.timedelta(microseconds=ts.nanos // 1000)
    if field == "date_value":
        return EPOCH + dt.timedelta(days=value.date_value)
    if field == "array_value":
        return tuple(from_value(v, kind.array_type.element_type) for v in value.array_value.element)
    if field in ("int64_value", "string_value", "bool_value", "double_value"):
        return getattr(value, field)
    raise TypeError(f"no Python value for a ZetaSQL {field} ({type_name(kind)})")
