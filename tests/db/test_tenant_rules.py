"""A new job's tenant rules come back in one query, whatever rows the tenant has."""

from __future__ import annotations

from sqlalchemy import event

from core.priority import Priority
from db.session import get_session, session_factory
from db.tenant_priorities import TenantPriorities, set_tenant_priorities
from db.tenant_rules import TenantRules, read_tenant_rules
from db.tenant_webhooks import rotate_secret, set_default_url


def test_rules_with_no_rows_with_some_and_with_all(database_url: str) -> None:
    with get_session(database_url) as session:
        set_tenant_priorities("capped", TenantPriorities(cap=Priority.NORMAL), session=session)
        rotate_secret("signs", session=session)
        set_tenant_priorities(
            "both", TenantPriorities(Priority.BULK, Priority.NORMAL), session=session
        )
        rotate_secret("both", session=session)
        set_default_url("both", "https://1.1.1.1/in", session=session)
    statements: list[str] = []
    engine = session_factory(database_url).kw["bind"]
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    with get_session(database_url) as session:
        rules = {
            t: read_tenant_rules(t, session=session) for t in ("new", "capped", "signs", "both")
        }
    assert rules == {
        "new": TenantRules(TenantPriorities()),
        "capped": TenantRules(TenantPriorities(cap=Priority.NORMAL)),
        "signs": TenantRules(TenantPriorities(), signs_webhooks=True),
        "both": TenantRules(
            TenantPriorities(Priority.BULK, Priority.NORMAL), True, "https://1.1.1.1/in"
        ),
    }
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 4
