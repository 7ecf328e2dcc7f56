"""The base every manifest model shares: camelCase on the wire, snake_case in Python, no extras.

Kubernetes manifests spell fields in camelCase; Python code reads better in snake_case. One
alias generator bridges the two, and ``extra="forbid"`` turns a misspelt field into an error
that names it instead of a silently ignored setting.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class KubeModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_enum_values=False,
    )

    def to_manifest(self) -> dict[str, Any]:
        """The camelCase form, without unset optional fields, as it would be applied."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")
