"""Bodies of the web app's account endpoints: strict, bounded, and free of NUL/control characters."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from realtime.api.accounts import EMAIL_PATTERN

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
PASSWORD_MIN_CHARS = 8
# Checked before hashing: argon2 would hash a megabyte too, but nobody types one.
PASSWORD_MAX_CHARS = 256


def _printable(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


Email = Annotated[str, Field(min_length=3, max_length=320, pattern=EMAIL_PATTERN), AfterValidator(_printable)]
Password = Annotated[str, Field(min_length=PASSWORD_MIN_CHARS, max_length=PASSWORD_MAX_CHARS),
                     AfterValidator(_printable)]
AnyPassword = Annotated[str, Field(min_length=1, max_length=PASSWORD_MAX_CHARS), AfterValidator(_printable)]
Label = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_printable)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class SignUp(_Strict):
    email: Email
    password: Password


class LogIn(_Strict):
    email: Email
    password: AnyPassword


class KeyLogIn(_Strict):
    api_key: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_printable)]


class SetPassword(_Strict):
    password: Password
    current_password: AnyPassword | None = None


class SessionView(BaseModel):
    account_id: str
    email: str
    plan: str
    has_password: bool
    csrf_token: str


class CreateKey(_Strict):
    label: Label | None = None
