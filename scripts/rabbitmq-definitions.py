#!/usr/bin/env python3
"""Writes the broker's definitions: rabbitmq/definitions.json (the topology)
plus a deployment's two accounts, with password hashes only:

- `admin`, an administrator, for operators;
- `delivertrack`, the services' account: `monitoring` (it reads queue
  depths), not an administrator.

Usage: rabbitmq-definitions.py TEMPLATE OUT ADMIN_PASSWORD SERVICE_PASSWORD
(the passwords are read from the environment variables so named, so they
never show in a process list). Used by compose-env.sh and k8s-secrets.sh.
"""

import base64
import hashlib
import json
import os
import sys


def password_hash(password: str) -> str:
    # rabbit_password_hashing_sha256: base64(salt + sha256(salt + password)).
    salt = os.urandom(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def main() -> None:
    template, out, admin_var, service_var = sys.argv[1:5]
    definitions = json.load(open(template))
    accounts = (("admin", os.environ[admin_var], ["administrator"]),
                ("delivertrack", os.environ[service_var], ["monitoring"]))
    definitions["users"] = [
        {"name": name, "password_hash": password_hash(password),
         "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": tags}
        for name, password, tags in accounts
    ]
    definitions["permissions"] = [
        {"user": name, "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}
        for name, _, _ in accounts
    ]
    with open(out, "w") as file:
        json.dump(definitions, file, indent=2)
    # Compose mounts it into the broker's container, whose user is not ours.
    os.chmod(out, 0o644)


if __name__ == "__main__":
    main()
