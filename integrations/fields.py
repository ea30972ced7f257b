"""The encrypted field that holds an integration's secrets, by configuration field name.

The column holds a JSON object whose values are each encrypted on their own with
django-encrypted-model-fields' Fernet (FIELD_ENCRYPTION_KEY): `{"access_token": "gAAAA…"}`.
In Python the value is a dict of `Secret`s; a value the current key cannot open becomes an
`UndecryptableSecret` that is saved back unchanged, so a key mix-up loses nothing.
Serialisation (`dumpdata`, `loaddata`) uses the encrypted form: backups stay encrypted.
"""

from __future__ import annotations

import json

import cryptography.fernet
from django.core.exceptions import ValidationError
from django.db import models
from encrypted_model_fields.fields import decrypt_str, encrypt_str

from integrations.secrets import Secret, UndecryptableSecret


def _open(ciphertext: str) -> Secret:
    try:
        return Secret(decrypt_str(ciphertext))
    except cryptography.fernet.InvalidToken:
        return UndecryptableSecret(ciphertext)


def _seal(secret: Secret) -> str:
    if isinstance(secret, UndecryptableSecret):
        return secret.ciphertext
    return encrypt_str(secret.reveal()).decode()


class EncryptedSecretsField(models.TextField):
    description = "Secrets, each encrypted at rest"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("default", dict)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def from_db_value(self, value, expression, connection):
        return self.to_python(value)

    def to_python(self, value) -> dict[str, Secret]:
        if isinstance(value, dict):
            return value
        if not value:
            return {}
        try:
            sealed = json.loads(value)
        except ValueError:
            raise ValidationError("stored secrets are not a JSON object") from None
        if not isinstance(sealed, dict) or not all(isinstance(v, str) for v in sealed.values()):
            raise ValidationError("stored secrets are not a JSON object of encrypted values")
        return {name: _open(ciphertext) for name, ciphertext in sealed.items()}

    def get_prep_value(self, value) -> str:
        value = self.to_python(value)
        if not value:
            return ""
        return json.dumps({name: _seal(secret) for name, secret in sorted(value.items())})

    def value_to_string(self, obj) -> str:
        return self.get_prep_value(self.value_from_object(obj))

    def get_lookup(self, lookup_name):
        # Nothing may filter on secrets, not even on their ciphertext.
        return None

    def get_transform(self, name):
        return None
