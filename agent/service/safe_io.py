"""Request and response types that keep hostile input from turning into a 500: ids that fit
the database, text made of whole characters, JSON that always encodes."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import AfterValidator

from config.yamlpos import SURROGATE

#: a stored row's id in a path: what the databases' 64-bit integer keys hold (a larger number
#: is a 422, not an OverflowError from the driver)
RowId = Annotated[int, PathParam(ge=1, le=2**63 - 1)]

def _whole_characters(value: str) -> str:
    if SURROGATE.search(value):
        raise ValueError("holds half of a UTF-16 surrogate pair (a lone \\ud800-\\udfff "
                         "escape), which is not a character")
    return value


#: request text: JSON may escape half a character ("\ud800"), which no response, database or
#: log can encode - a 422 here instead of a 500 later
Text = Annotated[str, AfterValidator(_whole_characters)]


class SafeJSONResponse(JSONResponse):
    """A JSON response that always encodes: text holding half a surrogate pair (a request's
    input echoed in an error) is written as a ``\\ud800`` escape instead of failing."""

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            return json.dumps(content, ensure_ascii=True, allow_nan=False,
                              separators=(",", ":")).encode("ascii")
