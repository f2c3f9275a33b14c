"""The two database roles: an owner that owns every table and runs migrations, and the app's runtime role.

The runtime role owns nothing (so it can neither drop nor disable a trigger, nor ALTER a table) and may
only SELECT and INSERT on the audit tables (compliance_auditevent, compliance_compliancereport): no UPDATE,
DELETE or TRUNCATE, whatever a session sets. Every other table it may read and write, never TRUNCATE.
Default privileges make tables created later by the owner (new migrations) follow the same rules; the
audit tables' revocation is repeated by `roles_sql` after migrations (run `manage.py db_roles` again).
Months of samples (partitions) are reached only through their parent table: the runtime role has no
privilege on them, so a DELETE cannot go around the parent's audit trigger.

`manage.py db_roles` applies this to the configured database (as a superuser or the database's owner);
`manage.py db_roles --print-sql` prints it for a container's init script (docker/).
"""

from __future__ import annotations

import re

AUDIT_TABLES = ("compliance_auditevent", "compliance_compliancereport")
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def roles_sql(*, owner: str, runtime: str, runtime_password: str | None = None,
              owner_password: str | None = None) -> str:
    """SQL that creates both roles (when missing), hands every object in schema public to `owner`, and grants
    `runtime` its least privileges. Idempotent; role names must be plain identifiers."""
    for name in (owner, runtime):
        if not _NAME.match(name):
            raise ValueError(f"role name {name!r} must match {_NAME.pattern}")
    if owner == runtime:
        raise ValueError("the owner and the runtime role must differ")

    def password(value: str | None) -> str:
        return "" if value is None else " PASSWORD " + "'" + value.replace("'", "''") + "'"

    audit = ", ".join(AUDIT_TABLES)
    return f"""
DO $roles$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{owner}') THEN
    CREATE ROLE {owner} LOGIN NOSUPERUSER NOCREATEROLE CREATEDB{password(owner_password)};
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{runtime}') THEN
    CREATE ROLE {runtime} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT{password(runtime_password)};
  END IF;
END
$roles$;

DO $own$
DECLARE r record;
BEGIN
  FOR r IN SELECT c.oid::regclass::text AS name, c.relkind FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
             AND pg_get_userbyid(c.relowner) <> '{owner}'
             -- Partitions depend on their parent automatically, but ALTER TABLE ... OWNER does not recurse.
             AND (c.relispartition
                  OR NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i', 'e')))
  LOOP
    EXECUTE format('ALTER %s %s OWNER TO {owner}',
                   CASE r.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                   ELSE 'TABLE' END, r.name);
  END LOOP;
  FOR r IN SELECT p.oid::regprocedure::text AS name FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = 'public' AND p.proname LIKE 'driftdesk\\_%' AND pg_get_userbyid(p.proowner) <> '{owner}'
  LOOP
    EXECUTE format('ALTER FUNCTION %s OWNER TO {owner}', r.name);
  END LOOP;
END
$own$;

GRANT USAGE ON SCHEMA public TO {runtime};
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
REVOKE CREATE ON SCHEMA public FROM {runtime};
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {runtime};
REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA public FROM {runtime};
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {runtime};
REVOKE UPDATE, DELETE, TRUNCATE ON {audit} FROM {runtime};
ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {runtime};
ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {runtime};

-- Partitions (months of samples) only through their parent, whose statement-level trigger audits every
-- deletion (compliance 0009); a query on the parent needs only the parent's privileges.
DO $parts$
DECLARE r record;
BEGIN
  FOR r IN SELECT c.oid::regclass::text AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relispartition AND c.relkind = 'r'
  LOOP
    EXECUTE format('REVOKE ALL ON %s FROM {runtime}', r.name);
  END LOOP;
END
$parts$;

-- The functions that run with the owner's rights (month partitions made and dropped): the runtime role may
-- call them, nobody else (PostgreSQL grants EXECUTE to PUBLIC by default).
DO $definer$
DECLARE r record;
BEGIN
  FOR r IN SELECT p.oid::regprocedure::text AS name FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = 'public' AND p.prosecdef
  LOOP
    EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', r.name);
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO {runtime}', r.name);
  END LOOP;
END
$definer$;
"""
