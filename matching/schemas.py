"""The bodies of the matcher's requests (pydantic): what ``matching.app`` accepts, each field
bounded so that a request cannot make the matcher hold more than a member could mean."""

from __future__ import annotations

from pydantic import BaseModel, Field


class SpaceIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    city: str = Field(min_length=1, max_length=200)
    tags: list[str] = Field(default_factory=list, max_length=50)


class ContentIn(BaseModel):
    title: str = Field(min_length=1, max_length=500)
    tags: list[str] = Field(default_factory=list, max_length=50)
    space: str | None = None


class TextIn(BaseModel):
    text: str = Field(min_length=1, max_length=2000)
    k: int = Field(default=3, ge=1, le=20)


class AnswerIn(BaseModel):
    text: str = Field(min_length=1, max_length=4000)


class EndorseIn(BaseModel):
    subject: str = Field(max_length=200)
    attestation: str = Field(max_length=200)


class GrantIn(BaseModel):
    grant: str = Field(default="", max_length=100)


class DidIn(BaseModel):
    did: str = Field(max_length=200)


class IntroIn(BaseModel):
    target: str = Field(max_length=200)
    note: str = Field(default="", max_length=500)
    grant: str = Field(min_length=1, max_length=100)
