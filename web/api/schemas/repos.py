"""Request bodies and API-only answers for repositories, forks, collaborators and topics.

The repository itself is ``forge.wire.repos.RepositoryOut`` (shared with webhook payloads). Lengths mirror the
services' limits so an oversized field is a 422 from validation, never a database error.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from forge.wire.users import UserBrief


class RepoCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="Letters, digits, “-”, “_” and “.”.")
    description: str = Field(default="", max_length=1024)
    private: bool = False
    auto_init: bool = Field(default=False, description="Create an initial commit with a README.")
    gitignore_template: str = Field(default="", max_length=100,
                                    description="Name of a .gitignore template for the initial commit.")
    license_template: str = Field(default="", max_length=100,
                                  description="Identifier of a licence for the initial commit (e.g. MIT).")
    default_branch: str = Field(default="main", min_length=1, max_length=255)


class RepoUpdate(BaseModel):
    """Only the fields sent change. ``name`` renames the repository (its old URL then answers 404)."""

    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=1024)
    website: str | None = Field(default=None, max_length=256)
    private: bool | None = None
    default_branch: str | None = Field(default=None, min_length=1, max_length=255)


class ForkCreate(BaseModel):
    organization: str | None = Field(default=None, min_length=1, max_length=39,
                                     description="Fork into this organisation instead of the caller's account.")
    name: str | None = Field(default=None, min_length=1, max_length=100,
                             description="Name of the fork; the source's name by default.")


Permission = Literal["read", "write", "admin"]


class Collaborator(UserBrief):
    permission: Permission


class CollaboratorPut(BaseModel):
    permission: Permission = "write"


class CollaboratorPermission(BaseModel):
    """A user's effective access to the repository (through ownership, collaboration or teams)."""

    permission: Literal["admin", "write", "read", "none"]
    user: UserBrief


class Topics(BaseModel):
    topics: list[Annotated[str, Field(max_length=100)]] = Field(
        max_length=100, description="Lower-case letters, digits and “-”, up to 35 long; at most 20 topics.")
