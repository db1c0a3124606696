"""Pydantic helpers for response bodies: entries whose absent fields are left out of the JSON."""

from __future__ import annotations

from typing import Any, cast

from pydantic import BaseModel, GetJsonSchemaHandler, SerializerFunctionWrapHandler, model_serializer
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema


class OmitNone(BaseModel):
    """A response entry whose None fields are left out of the JSON (entries of several kinds share one
    model: each kind sends the fields it has). The OpenAPI schema still lists every field."""

    @model_serializer(mode="wrap")
    def _omit_none(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {key: value for key, value in handler(self).items() if value is not None}

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        # Document the fields, not the serializer's return type (a plain dict).
        fields_only = {key: value for key, value in core_schema.items() if key != "serialization"}
        return handler(cast(CoreSchema, fields_only))
