"""Who may act: staff accounts for the desk and the console, and the publisher API's tokens.

- `staff.py`: staff accounts (editors, operators, admins): add, sign in, change a role,
  deactivate, change one's own password, one-time reset codes; the password rules and
  their hashing cost.
- `tokens.py`: credentials of publisher systems (a CMS pushing articles): create, revoke,
  check a token and its scopes.

Each module has its own `authenticate` (a staff password, a publisher token): import that
one from its module.
"""

from alerts.access.staff import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    RESET_HOURS,
    PasswordCost,
    add_user,
    change_own_password,
    change_role,
    check_password_rules,
    deactivate,
    get_user,
    issue_password_reset,
    list_users,
    password_hasher,
    reset_password,
    reset_target,
    set_password,
    staff_email,
)
from alerts.access.tokens import SCOPES, allows, create_token, list_tokens, revoke_token

__all__ = [
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "RESET_HOURS",
    "SCOPES",
    "PasswordCost",
    "add_user",
    "allows",
    "change_own_password",
    "change_role",
    "check_password_rules",
    "create_token",
    "deactivate",
    "get_user",
    "issue_password_reset",
    "list_tokens",
    "list_users",
    "password_hasher",
    "reset_password",
    "reset_target",
    "revoke_token",
    "set_password",
    "staff_email",
]
