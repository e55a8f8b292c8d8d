"""Bodies of the web app's account endpoints: strict, bounded, and free of NUL/control characters."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from realtime.validation import Email, Label, check_line

PASSWORD_MIN_CHARS = 8
# Checked before hashing: argon2 would hash a megabyte too, but nobody types one.
PASSWORD_MAX_CHARS = 256

# Passwords are taken as typed (never trimmed), but like every other field hold no control characters.
Password = Annotated[str, Field(min_length=PASSWORD_MIN_CHARS, max_length=PASSWORD_MAX_CHARS),
                     AfterValidator(check_line)]
AnyPassword = Annotated[str, Field(min_length=1, max_length=PASSWORD_MAX_CHARS), AfterValidator(check_line)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class SignUp(_Strict):
    email: Email
    password: Password


class LogIn(_Strict):
    email: Email
    password: AnyPassword


class KeyLogIn(_Strict):
    api_key: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(check_line)]


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
