"""A secret field that never hands ciphertext to the code as if it were the secret.

django-encrypted-model-fields silently returns the stored ciphertext when the value cannot be
decrypted (FIELD_ENCRYPTION_KEY changed). We return it wrapped in `UndecryptableSecret`, so the
connector refuses to send it, and saving the row again keeps the stored value untouched.
"""

import cryptography.fernet
from encrypted_model_fields.fields import EncryptedCharField, decrypt_str


class UndecryptableSecret(str):
    """Ciphertext that the current FIELD_ENCRYPTION_KEY cannot open."""


class EncryptedSecretField(EncryptedCharField):
    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        try:
            return decrypt_str(value)
        except cryptography.fernet.InvalidToken:
            return UndecryptableSecret(value)

    def get_db_prep_save(self, value, connection):
        if isinstance(value, UndecryptableSecret):
            return str(value)
        if value == "":
            return value
        return super().get_db_prep_save(value, connection)
